import numpy as np
import pytest
import torch

from sidrec_lib.baselines import MostPopular, item_index, top_k
from sidrec_lib.peers import CornacSASRec, CornacSASRecConfig, sweep
from tests.unit.test_baselines import N_ITEMS, cyclic_users, prepared_from

FAST = CornacSASRecConfig(
    embedding_dim=32,
    num_blocks=1,
    batch_size=64,
    n_sample=64,
    learning_rate=1e-2,
    max_len=12,
    max_epochs=10,
    eval_every=1,
    patience=2,
)


@pytest.fixture(scope="module")
def cyclic():
    return prepared_from(cyclic_users(240, seed=0))


@pytest.fixture(scope="module")
def peer(cyclic) -> CornacSASRec:
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    return CornacSASRec.fit(cyclic, FAST, progress=False, device="cpu")


def test_cornac_sasrec_learns_the_next_item_in_catalog_order(cyclic, peer):
    held_out = cyclic_users(200, seed=1, prefix="new")
    histories = [seq[:-1] for seq in held_out.values()]
    index = item_index(cyclic)
    targets = np.array([index[seq[-1]] for seq in held_out.values()])

    scores = peer.scores(histories)
    assert scores.shape == (200, N_ITEMS) and scores.dtype == np.float32
    exclude = [[index[i] for i in h] for h in histories]
    accuracy = (top_k(scores, 1, exclude=exclude)[:, 0] == targets).mean()
    popular = (top_k(MostPopular.fit(cyclic).scores(histories), 1, exclude=exclude)[:, 0] == targets).mean()
    assert accuracy > 0.8, accuracy  # only if column j of the scores is row j of prepared.items
    assert accuracy > popular + 0.5, (accuracy, popular)


def test_cornac_sasrec_stops_early_on_valid_ndcg(peer):
    epochs = [row["epoch"] for row in peer.history]
    assert epochs == list(range(1, len(epochs) + 1))
    ndcg = [row["valid_ndcg10"] for row in peer.history]
    assert peer.best_epoch == epochs[int(np.argmax(ndcg))]
    assert peer.best_valid_ndcg == max(ndcg)
    stopped_early = epochs[-1] < FAST.max_epochs
    assert not stopped_early or epochs[-1] - peer.best_epoch == FAST.patience
    assert not peer.network.training


def test_cornac_sasrec_scores_short_empty_and_long_histories(peer):
    scores = peer.scores([["I03"], [], ["I05"] * 40])
    assert scores.shape == (3, N_ITEMS) and np.isfinite(scores).all()
    with pytest.raises(ValueError, match="not in the catalog"):
        peer.scores([["nope"]])


def test_sweep_keeps_the_best_setting_on_valid(cyclic):
    weak = CornacSASRecConfig(**{**FAST.__dict__, "max_epochs": 1, "learning_rate": 1e-4})
    strong = CornacSASRecConfig(**{**FAST.__dict__, "max_epochs": 3})
    best, rows = sweep(cyclic, [weak, strong], progress=False)
    assert [row["setting"] for row in rows] == [weak.label(), strong.label()]
    assert rows[1]["valid ndcg@10"] > rows[0]["valid ndcg@10"]
    assert best.config == strong
    with pytest.raises(ValueError, match="at least one"):
        sweep(cyclic, [])


def test_config_label_names_what_differs():
    assert CornacSASRecConfig().label() == "defaults"
    assert CornacSASRecConfig(embedding_dim=64, dropout=0.5).label() == "dim=64 dropout=0.5"
