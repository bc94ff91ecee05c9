import numpy as np
import pandas as pd
import pytest
import torch

from sidrec_lib.baselines import MostPopular, Recommender, SASRec, SASRecConfig, top_k
from sidrec_lib.prepare import PreparedData, item_index, prepare
from sidrec_lib.presets import PrepareConfig
from sidrec_lib.sources import SourceData

N_ITEMS = 60
# Small and quick: the synthetic pattern needs little capacity.
FAST = SASRecConfig(max_len=20, hidden=32, layers=1, heads=1, dropout=0.1, learning_rate=1e-2, patience=2)


@pytest.fixture(autouse=True)
def _two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    yield
    torch.set_num_threads(threads)


def prepared_from(sequences: dict[str, list[str]]) -> PreparedData:
    """Run ``prepare`` (no k-core) on users whose interactions follow ``sequences`` in time order."""
    item_ids = sorted({i for seq in sequences.values() for i in seq})
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": [f"Game {i}" for i in item_ids],
            "description": "",
            "features": "",
            "store": "Acme",
            "main_category": "Video Games",
            "categories": [["Video Games", "PC"] for _ in item_ids],
            "details": "{}",
            "price": 1.0,
            "average_rating": None,
            "rating_number": None,
        }
    )
    rows = [(user, item, t * 1000, 5.0) for user, seq in sequences.items() for t, item in enumerate(seq)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    source = SourceData("synthetic", "Video_Games", None, items, interactions, [])
    return prepare(source, PrepareConfig(kcore=1, max_user_interactions=50))


def item(i: int) -> str:
    return f"I{i % N_ITEMS:02d}"


def cyclic_users(n_users: int, seed: int, prefix: str = "u") -> dict[str, list[str]]:
    """Users who buy item i, then i+1, i+2, … (mod N_ITEMS) from a random start."""
    rng = np.random.default_rng(seed)
    starts, lengths = rng.integers(0, N_ITEMS, n_users), rng.integers(5, 13, n_users)
    return {f"{prefix}{u}": [item(s + t) for t in range(n)] for u, (s, n) in enumerate(zip(starts, lengths))}


@pytest.fixture(scope="module")
def cyclic() -> PreparedData:
    return prepared_from(cyclic_users(240, seed=0))


@pytest.fixture(scope="module")
def sasrec(cyclic) -> SASRec:
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    return SASRec.fit(cyclic, FAST, progress=False, device="cpu")


# -- top_k ------------------------------------------------------------------------------------


def test_top_k_orders_by_score_ties_by_index():
    scores = np.array([[0.1, 0.5, 0.3, 0.5], [4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]
    assert top_k(scores, 1).shape == (2, 1)


def test_top_k_excludes_and_restricts():
    scores = np.array([[0.1, 0.5, 0.3, 0.5], [4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    assert top_k(scores, 2, exclude=[[1], []]).tolist() == [[3, 2], [0, 1]]
    allowed = np.array([True, False, True, True])
    assert top_k(scores, 2, allowed=allowed).tolist() == [[3, 2], [0, 2]]
    per_row = np.array([[True, True, False, False], [False, False, True, True]])
    assert top_k(scores, 2, exclude=[[3], [2]], allowed=per_row).tolist() == [[1, 0], [3, -1]]


def test_top_k_pads_with_minus_one():
    scores = np.array([[0.1, 0.5, 0.3, 0.5]], dtype=np.float32)
    assert top_k(scores, 6, exclude=[[0, 1]]).tolist() == [[3, 2, -1, -1, -1, -1]]
    assert top_k(scores, 2, allowed=np.zeros(4, dtype=bool)).tolist() == [[-1, -1]]
    # A genuinely -inf score is still a candidate; only excluded or disallowed items are padding.
    scores[0, 2] = -np.inf
    assert top_k(scores, 4, exclude=[[0]]).tolist() == [[1, 3, 2, -1]]


# -- MostPopular ------------------------------------------------------------------------------


def test_most_popular_counts_train_interactions_only():
    # Every user's last two items (valid, test) are C and D: the most frequent items overall,
    # but they never occur in train, so they must rank last.
    users = {
        f"u{u}": ["A"] + (["B"] if u % 2 else []) + (["E"] if u == 0 else []) + ["C", "D"] for u in range(10)
    }
    data = prepared_from(users)
    assert list(data.items.item_id) == ["A", "B", "C", "D", "E"]
    model = MostPopular.fit(data)
    scores = model.scores([["A"], [], ["B", "E"]])
    assert scores.shape == (3, 5) and scores.dtype == np.float32
    assert scores[0].tolist() == [10, 5, 0, 0, 1]
    assert (scores == scores[0]).all()
    assert top_k(scores[:1], 3).tolist() == [[0, 1, 4]]


# -- SASRec -----------------------------------------------------------------------------------


def next_item_accuracy(model: Recommender, prepared: PreparedData) -> tuple[float, float]:
    """Top-1 accuracy, history items left out, of ``model`` and of most-popular on the next item of 200
    new cyclic users; ``model``'s scores are checked to be (200, N_ITEMS) float32 on the way."""
    held_out = cyclic_users(200, seed=1, prefix="new")
    histories = [seq[:-1] for seq in held_out.values()]
    index = item_index(prepared)
    targets = np.array([index[seq[-1]] for seq in held_out.values()])
    exclude = [[index[i] for i in h] for h in histories]

    def accuracy(scores: np.ndarray) -> float:
        return (top_k(scores, 1, exclude=exclude)[:, 0] == targets).mean()

    scores = model.scores(histories)
    assert scores.shape == (200, N_ITEMS) and scores.dtype == np.float32
    return accuracy(scores), accuracy(MostPopular.fit(prepared).scores(histories))


def test_sasrec_learns_the_next_item(cyclic, sasrec):
    accuracy, popular = next_item_accuracy(sasrec, cyclic)
    assert accuracy > 0.8, accuracy
    assert accuracy > popular + 0.5, (accuracy, popular)


def test_sasrec_stops_early_and_keeps_the_best_epoch(sasrec):
    epochs = [row["epoch"] for row in sasrec.history]
    assert epochs == list(range(1, len(epochs) + 1))
    assert epochs[-1] < FAST.max_epochs
    ndcg = [row["valid_ndcg10"] for row in sasrec.history]
    assert sasrec.best_epoch == epochs[int(np.argmax(ndcg))]
    assert epochs[-1] - sasrec.best_epoch == FAST.patience
    assert set(sasrec.history[0]) == {"epoch", "train_loss", "valid_ndcg10", "valid_recall10", "seconds"}
    assert not sasrec.training


def test_sasrec_save_load_round_trip(cyclic, sasrec, tmp_path):
    sasrec.save(tmp_path / "sasrec")
    loaded = SASRec.load(tmp_path / "sasrec", device="cpu")
    histories = [["I03", "I04"], [], ["I59"] * 30]  # an empty and an over-long history too
    assert np.array_equal(loaded.scores(histories), sasrec.scores(histories))
    assert loaded.history == sasrec.history and loaded.best_epoch == sasrec.best_epoch
    assert loaded.config == sasrec.config and loaded.item_ids == list(cyclic.items.item_id)


def test_sasrec_is_deterministic_by_seed(cyclic):
    config = SASRecConfig(**{**FAST.__dict__, "max_epochs": 2})
    first, second = (SASRec.fit(cyclic, config, progress=False, device="cpu") for _ in range(2))
    other = SASRec.fit(cyclic, SASRecConfig(**{**config.__dict__, "seed": 1}), progress=False, device="cpu")
    histories = [["I10", "I11", "I12"]]
    assert np.array_equal(first.scores(histories), second.scores(histories))
    assert first.history[-1]["train_loss"] == second.history[-1]["train_loss"]
    assert not np.array_equal(first.scores(histories), other.scores(histories))


def test_sasrec_rejects_unknown_items(sasrec):
    with pytest.raises(ValueError, match="not in the model's catalog"):
        sasrec.scores([["nope"]])
