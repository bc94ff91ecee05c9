"""The generated game store: layout, determinism, and the behaviour it promises (small sizes, seconds)."""

import gzip
import json
import shutil
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from sidrec_lib.builtin import (
    CATEGORY,
    DEFAULT_VOCAB_DIR,
    META_FILENAME,
    REVIEWS_FILENAME,
    generate_store,
    load_vocab,
    store_folder_name,
    write_store,
)
from sidrec_lib.presets import BuiltinConfig, get_preset

CONFIG = BuiltinConfig(n_items=400, n_users=500, seed=3)
META_KEYS = {
    "parent_asin", "title", "description", "features", "store", "main_category", "categories", "details",
    "average_rating", "rating_number", "price",
}  # fmt: skip
REVIEW_KEYS = {"user_id", "parent_asin", "rating", "timestamp", "title", "text", "verified_purchase"}
GAME_KEYS = {
    "Item Type", "Platform", "Platform Family", "Genre", "Studio", "Price Tier", "Multiplayer", "Player Mode",
    "Release Date",
}  # fmt: skip
ACCESSORY_KEYS = {"Item Type", "Platform", "Platform Family", "Price Tier", "Release Date", "Accessory Type"}


@pytest.fixture(scope="module")
def store() -> tuple[list[dict], list[dict]]:
    return generate_store(CONFIG)


@pytest.fixture(scope="module")
def items(store) -> dict[str, dict]:
    return {m["parent_asin"]: m for m in store[0]}


@pytest.fixture(scope="module")
def histories(store) -> dict[str, list[dict]]:
    by_user = defaultdict(list)
    for r in store[1]:
        by_user[r["user_id"]].append(r)
    return by_user


def _generation_windows() -> dict[str, tuple[str, str]]:
    """Platform name -> (first, last) release date, clipped to the default 2008-2024 timeline."""
    windows = {}
    for fam in load_vocab()["platforms"]["families"]:
        for gen in fam["generations"]:
            windows[gen["name"]] = (
                max(gen["start"], "2008-01-01"),
                min(gen["end"] or "2024-12-31", "2024-12-31"),
            )
    return windows


def test_same_seed_same_records_and_other_seed_differs(store):
    assert generate_store(CONFIG) == store
    other = generate_store(replace(CONFIG, seed=4))
    assert [m["title"] for m in other[0]] != [m["title"] for m in store[0]]


def test_catalog_does_not_depend_on_the_number_of_users(store):
    fewer = generate_store(replace(CONFIG, n_users=50))
    strip = ("average_rating", "rating_number")
    assert [{k: v for k, v in m.items() if k not in strip} for m in fewer[0]] == [
        {k: v for k, v in m.items() if k not in strip} for m in store[0]
    ]


def test_layout_keys_and_types(store):
    meta, reviews = store
    assert len(meta) == CONFIG.n_items
    assert len({m["parent_asin"] for m in meta}) == len(meta)
    for m in meta:
        assert set(m) == META_KEYS
        assert m["parent_asin"].startswith("B0G") and len(m["parent_asin"]) == 8
        assert m["main_category"] == "Video Games"
        assert (
            isinstance(m["description"], list)
            and m["description"]
            and all(isinstance(s, str) for s in m["description"])
        )
        assert isinstance(m["features"], list) and len(m["features"]) >= 3
        assert isinstance(m["price"], float) and m["price"] > 0
        assert isinstance(m["average_rating"], float) and 1.0 <= m["average_rating"] <= 5.0
        assert isinstance(m["rating_number"], int)
        d = m["details"]
        assert all(isinstance(v, str) for v in d.values())
        if d["Item Type"] == "Game":
            assert GAME_KEYS <= set(d) <= GAME_KEYS | {"Franchise", "Franchise Entry"}
            assert ("Franchise" in d) == ("Franchise Entry" in d)
            assert m["categories"] == ["Video Games", d["Platform"], "Games", d["Genre"]]
            assert m["store"] == d["Studio"]
            assert (d["Multiplayer"] == "No") == (d["Player Mode"] == "Single-player")
        else:
            assert d["Item Type"] == "Accessory" and set(d) == ACCESSORY_KEYS
            assert m["categories"] == ["Video Games", d["Platform"], "Accessories", d["Accessory Type"]]
        assert d["Price Tier"] in {"Budget", "Standard", "Premium"}
        date.fromisoformat(d["Release Date"])
    for r in reviews:
        assert set(r) == REVIEW_KEYS
        assert r["rating"] in {1.0, 2.0, 3.0, 4.0, 5.0}
        assert isinstance(r["timestamp"], int) and isinstance(r["verified_purchase"], bool)
        assert r["title"] and r["text"] and "{" not in r["text"]


def test_ratings_summary_matches_reviews(store):
    meta, reviews = store
    stars = defaultdict(list)
    for r in reviews:
        stars[r["parent_asin"]].append(r["rating"])
    for m in meta:
        assert m["rating_number"] == len(stars[m["parent_asin"]])
        if stars[m["parent_asin"]]:
            assert m["average_rating"] == round(float(np.mean(stars[m["parent_asin"]])), 1)


def test_about_a_tenth_are_accessories_and_game_prices_follow_tiers(store):
    meta, _ = store
    kinds = Counter(m["details"]["Item Type"] for m in meta)
    assert kinds["Accessory"] == round(CONFIG.n_items * CONFIG.accessory_share)
    tiers = defaultdict(list)
    for m in meta:
        if m["details"]["Item Type"] == "Game":
            tiers[m["details"]["Price Tier"]].append(m["price"])
    assert max(tiers["Budget"]) < min(tiers["Standard"]) and max(tiers["Standard"]) < min(tiers["Premium"])


def test_items_are_released_while_their_platform_generation_is_active(store):
    windows = _generation_windows()
    for m in store[0]:
        first, last = windows[m["details"]["Platform"]]
        assert first <= m["details"]["Release Date"] <= last, m["title"]


def test_franchise_entries_come_out_in_order_from_one_studio(store):
    franchises = defaultdict(list)
    for m in store[0]:
        d = m["details"]
        if "Franchise" in d:
            franchises[d["Franchise"]].append(
                (int(d["Franchise Entry"]), d["Release Date"], d["Studio"], d["Genre"])
            )
    assert len(franchises) >= 5
    assert any(max(e for e, *_ in v) >= 3 for v in franchises.values())
    for entries in franchises.values():
        assert len({(s, g) for _, _, s, g in entries}) == 1
        dates = {}
        for entry, day, *_ in entries:
            assert dates.setdefault(entry, day) == day  # one release date per entry, on every platform
        ordered = [dates[e] for e in sorted(dates)]
        assert sorted(dates) == list(range(1, len(dates) + 1))
        assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)


def test_titles_are_unique_and_texts_vary(store):
    meta, reviews = store
    games = [m for m in meta if m["details"]["Item Type"] == "Game"]
    assert len({m["title"] for m in games}) == len(games)
    # A release's items (one per platform) may share a description; different releases should not.
    releases = defaultdict(set)
    for m in games:
        d = m["details"]
        releases[(d["Studio"], d["Release Date"], d["Genre"])].add(" ".join(m["description"]))
    descriptions = set().union(*releases.values())
    assert len(descriptions) >= 0.95 * len(releases)
    assert len({r["text"] for r in reviews}) >= 0.5 * len(reviews)


def test_histories_are_in_time_order_without_repeats(items, histories):
    end = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp() * 1000
    for history in histories.values():
        stamps = [r["timestamp"] for r in history]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert len({r["parent_asin"] for r in history}) == len(history)
        for r in history:
            released = date.fromisoformat(items[r["parent_asin"]]["details"]["Release Date"])
            bought = datetime.fromtimestamp(r["timestamp"] / 1000, tz=timezone.utc).date()
            assert released <= bought and r["timestamp"] < end


def test_most_users_have_five_purchases(histories):
    lengths = np.array([len(h) for h in histories.values()])
    assert len(histories) >= 0.95 * CONFIG.n_users
    assert (lengths >= 5).mean() >= 0.95


def test_sequels_are_bought_after_their_predecessors(items, histories):
    in_order = pairs = 0
    for history in histories.values():
        bought = defaultdict(list)
        for r in history:
            d = items[r["parent_asin"]]["details"]
            if "Franchise" in d:
                bought[d["Franchise"]].append((int(d["Franchise Entry"]), r["timestamp"]))
        for entries in bought.values():
            for e1, t1 in entries:
                for e2, t2 in entries:
                    if e1 < e2:
                        pairs += 1
                        in_order += t1 < t2
    assert pairs >= 50
    assert in_order / pairs >= 0.9


def test_popularity_has_a_long_tail():
    # A catalog large for its shoppers, as in real data: tiny catalogs saturate and flatten the tail.
    meta, reviews = generate_store(BuiltinConfig(n_items=1500, n_users=400, seed=3))
    counts = Counter(r["parent_asin"] for r in reviews)
    per_item = np.sort([counts.get(m["parent_asin"], 0) for m in meta])[::-1]
    assert per_item[: len(per_item) // 10].sum() >= 0.35 * per_item.sum()
    assert np.median(per_item) < per_item.mean()


def test_users_stick_to_one_or_two_platform_families(items, histories):
    shares = []
    for history in histories.values():
        families = Counter(items[r["parent_asin"]]["details"]["Platform Family"] for r in history)
        shares.append(sum(n for _, n in families.most_common(2)) / len(history))
    shares = np.array(shares)
    assert shares.mean() >= 0.9
    assert (shares >= 0.8).mean() >= 0.9


def test_write_store_round_trip_is_byte_identical(tmp_path, store):
    small = BuiltinConfig(n_items=120, n_users=80, seed=1)
    first = write_store(small, tmp_path / "a" / "nested")
    second = write_store(small, tmp_path / "b")
    assert first == tmp_path / "a" / "nested"
    assert sorted(p.name for p in first.iterdir()) == sorted([META_FILENAME, REVIEWS_FILENAME])
    assert (f"meta_{CATEGORY}.jsonl.gz", f"{CATEGORY}.jsonl.gz") == (META_FILENAME, REVIEWS_FILENAME)
    for name in (META_FILENAME, REVIEWS_FILENAME):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    meta, reviews = generate_store(small)
    with gzip.open(first / META_FILENAME, "rt", encoding="utf-8") as f:
        assert [json.loads(line) for line in f] == meta
    with gzip.open(first / REVIEWS_FILENAME, "rt", encoding="utf-8") as f:
        assert [json.loads(line) for line in f] == reviews
    write_store(small, first)  # rewriting in place leaves no temporary file behind
    assert len(list(first.iterdir())) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"n_items": 0}, {"n_users": 0}, {"n_items": 2.5}, {"seed": -1}, {"noise_share": 1.5},
        {"start_year": 2024, "end_year": 2008}, {"min_purchases": 0}, {"mean_purchases": 1000.0},
    ],
)  # fmt: skip
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="|".join(f"builtin.{name}" for name in bad)):
        generate_store(replace(CONFIG, **bad))
    with pytest.raises(ValueError, match="|".join(f"builtin.{name}" for name in bad)):
        get_preset("ci", {f"builtin.{name}": value for name, value in bad.items()})


def test_folder_name_changes_only_with_non_default_knobs():
    assert store_folder_name(CONFIG) == "builtin-400items-500users-seed3"
    tweaked = store_folder_name(replace(CONFIG, accessory_share=0.2))
    assert tweaked.startswith("builtin-400items-500users-seed3-")
    assert tweaked == store_folder_name(replace(CONFIG, accessory_share=0.2))
    assert tweaked != store_folder_name(replace(CONFIG, two_family_share=0.2))
    assert store_folder_name(replace(CONFIG, start_year=2010)) == store_folder_name(
        replace(CONFIG, start_year=2010)
    )


def test_vocabulary_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        generate_store(BuiltinConfig(n_items=10, n_users=10), tmp_path / "nowhere")
    vocab = tmp_path / "vocab"
    shutil.copytree(DEFAULT_VOCAB_DIR, vocab)
    assert load_vocab(vocab) == load_vocab()
    (vocab / "genres.json").write_text("{not json")
    with pytest.raises(ValueError, match="genres.json"):
        load_vocab(vocab)
    (vocab / "genres.json").write_text(json.dumps({"genres": [{"name": "Action"}]}))
    with pytest.raises(ValueError, match=r"genres\.json.*missing key"):
        load_vocab(vocab)
    (vocab / "reviews.json").unlink()
    with pytest.raises(FileNotFoundError, match="reviews.json"):
        load_vocab(vocab)


def test_generation_accepts_a_vocab_dir(tmp_path):
    vocab = Path(shutil.copytree(DEFAULT_VOCAB_DIR, tmp_path / "vocab"))
    config = BuiltinConfig(n_items=60, n_users=30)
    assert generate_store(config, vocab) == generate_store(config)
