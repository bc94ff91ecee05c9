import numpy as np
import pandas as pd
import pytest

from sidrec_lib.prepare import attribute_table, kcore, prepare
from sidrec_lib.presets import PrepareConfig
from sidrec_lib.sources import SourceData


def random_source(seed=0, n_users=300, n_items=120, n=3000) -> SourceData:
    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.2, n_items) + 1
    items = pd.DataFrame(
        {
            "item_id": [f"I{i:03d}" for i in range(n_items)],
            "title": [f"Item {i}" if i % 17 else "" for i in range(n_items)],  # some without a title
            "description": "",
            "features": "",
            "store": "Acme",
            "main_category": "Toys",
            "categories": [["Toys", f"Sub{i % 3}"] for i in range(n_items)],
            "details": '{"Colour": "red"}',
            "price": 1.0,
            "average_rating": None,
            "rating_number": None,
        }
    )
    inter = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in rng.integers(0, n_users, n)],
            "item_id": [f"I{i:03d}" for i in rng.choice(n_items, n, p=popularity / popularity.sum())],
            "timestamp": rng.integers(0, 50, n) * 1000,  # many ties
            "rating": 5.0,
        }
    )
    inter = pd.concat([inter, inter.iloc[:50]], ignore_index=True)  # exact duplicates
    return SourceData("test", "Toys", None, items, inter, [])


def test_kcore_reaches_a_fixed_point():
    inter = random_source().interactions.drop_duplicates(["user_id", "item_id"])
    users, items = pd.factorize(inter.user_id)[0], pd.factorize(inter.item_id)[0]
    rows, passes = kcore(users, items, 5, 4)
    assert passes > 1 and 0 < len(rows) < len(inter) and (np.diff(rows) > 0).all()
    core = inter.iloc[rows]
    assert core.groupby("user_id").size().min() >= 5
    assert core.groupby("item_id").size().min() >= 4
    again, passes_again = kcore(users[rows], items[rows], 5, 4)
    assert passes_again == 1 and len(again) == len(rows)
    # a missing id (code -1) never survives, even with k = 1
    assert kcore(np.array([0, -1, 0]), np.array([0, 0, -1]), 1, 1)[0].tolist() == [0]


def test_prepare_filters_and_splits_leave_last_out():
    source = random_source()
    data = prepare(source, PrepareConfig(kcore=5, max_user_interactions=20))
    inter = data.interactions
    assert (data.items.title != "").all()
    assert not inter.duplicated(["user_id", "item_id"]).any()
    assert inter.groupby("user_id").size().between(5, 20).all()
    assert inter.groupby("item_id").size().min() >= 5
    assert set(inter.item_id) == set(data.items.item_id)
    assert list(data.items.item_id) == sorted(data.items.item_id)
    assert list(data.filter_counts.stage)[0] == "read"
    assert data.filter_counts.interactions.is_monotonic_decreasing

    for _, group in inter.groupby("user_id"):
        group = group.sort_values("position")
        assert group.timestamp.is_monotonic_increasing
        assert list(group.split) == ["train"] * (len(group) - 2) + ["valid", "test"]

    # Each user's test target is their last interaction, valid the second last; neither is in train.
    test = data.examples("test").set_index("user_id")
    valid = data.examples("valid").set_index("user_id")
    train = data.examples("train").set_index("user_id")
    last = inter.sort_values("timestamp", kind="stable").groupby("user_id").item_id.last()
    assert (test.target == last.reindex(test.index)).all()
    for user in test.index:
        assert test.target[user] not in train.history[user]
        assert valid.target[user] not in train.history[user]
        assert test.history[user] == train.history[user] + [valid.target[user]]
    train_pairs = set(zip(inter[inter.split == "train"].user_id, inter[inter.split == "train"].item_id))
    held_out = inter[inter.split != "train"]
    assert not any(pair in train_pairs for pair in zip(held_out.user_id, held_out.item_id))


def test_ties_keep_file_order():
    items = random_source().items
    inter = pd.DataFrame(
        {
            "user_id": ["u"] * 4,
            "item_id": ["I001", "I002", "I003", "I004"],
            "timestamp": [5, 5, 5, 1],
            "rating": 5.0,
        }
    )
    data = prepare(
        SourceData("t", "Toys", None, items, inter, []), PrepareConfig(kcore=1, max_user_interactions=10)
    )
    assert data.sequences.item_ids[0] == ["I004", "I001", "I002", "I003"]


def test_users_need_three_interactions_even_with_small_k():
    items = random_source().items
    inter = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "b"],
            "item_id": ["I001", "I002"] + ["I001", "I002", "I003"],
            "timestamp": range(5),
            "rating": 5.0,
        }
    )
    data = prepare(
        SourceData("t", "Toys", None, items, inter, []), PrepareConfig(kcore=1, max_user_interactions=10)
    )
    assert data.sequences.user_id.tolist() == ["b"]


def test_nothing_left_is_a_clear_error():
    with pytest.raises(ValueError, match="lower prepare.kcore"):
        prepare(random_source(n=200), PrepareConfig(kcore=50, max_user_interactions=100))
    items = random_source().items
    short = pd.DataFrame(
        {"user_id": ["a", "a", "b"], "item_id": ["I001", "I002", "I001"], "timestamp": range(3)}
    )
    with pytest.raises(ValueError, match="each user needs 3 interactions") as raised:  # k is 1 already
        prepare(SourceData("t", "Toys", None, items, short.assign(rating=5.0), []), PrepareConfig(kcore=1))
    assert "lower prepare.kcore" not in str(raised.value)


def test_attribute_table_from_store_details_categories():
    items = random_source().items.head(2)
    table = attribute_table(items)
    rows = set(map(tuple, table[table.item_id == "I001"][["attribute", "value"]].to_numpy()))
    assert rows == {("brand", "Acme"), ("colour", "red"), ("category", "Sub1")}


def test_save_load_round_trip(tmp_path):
    data = prepare(random_source(), PrepareConfig(kcore=5, max_user_interactions=20))
    data.save(lambda name: tmp_path / name)
    loaded = type(data).load(tmp_path)
    pd.testing.assert_frame_equal(loaded.interactions, data.interactions)
    assert loaded.sequences.item_ids.map(list).tolist() == data.sequences.item_ids.tolist()
