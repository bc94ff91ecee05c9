import numpy as np
import pytest
import torch

from sidrec_lib.baselines import MostPopular, valid_ndcg
from sidrec_lib.peers import CornacSASRec, CornacSASRecConfig, CornacTIGER, CornacTIGERConfig, sweep
from sidrec_lib.prepare import item_index
from tests.unit.test_baselines import N_ITEMS, cyclic_users, next_item_accuracy, prepared_from

FAST = CornacSASRecConfig(
    embedding_dim=32, num_blocks=1, n_sample=64,
    max_len=12, batch_size=64, learning_rate=1e-2, max_epochs=10, eval_every=1, patience=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def cyclic():
    return prepared_from(cyclic_users(240, seed=0))


@pytest.fixture(scope="module")
def peer(cyclic) -> CornacSASRec:
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    return CornacSASRec.fit(cyclic, FAST, progress=False, device="cpu")


def test_cornac_sasrec_learns_the_next_item_in_catalog_order(cyclic, peer):
    accuracy, popular = next_item_accuracy(peer, cyclic)
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


# -- TIGER ------------------------------------------------------------------------------------

FAST_TIGER = CornacTIGERConfig(
    rqvae_num_levels=2, rqvae_codebook_size=8, rqvae_latent_dim=8, rqvae_hidden_dims=(32,),
    rqvae_n_epochs=20, rqvae_batch_size=64,
    d_model=32, d_ff=64, num_heads=2, d_kv=16, num_enc_layers=1, num_dec_layers=1,
    max_len=12, batch_size=64, learning_rate=3e-3, max_epochs=3, patience=2,
)  # fmt: skip


def cycle_features(prepared) -> np.ndarray:
    """Item vectors that place each item on the cycle (two dimensions) plus a little noise."""
    angle = 2 * np.pi * np.array([int(i[1:]) for i in prepared.items.item_id]) / N_ITEMS
    noise = np.random.default_rng(0).normal(0, 0.1, (len(angle), 14))
    return np.c_[np.cos(angle), np.sin(angle), noise].astype(np.float32)


@pytest.fixture(scope="module")
def tiger(cyclic) -> CornacTIGER:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a network this small gains nothing from more, and loses much on a busy machine
    try:
        return CornacTIGER.fit(cyclic, cycle_features(cyclic), FAST_TIGER, progress=False, device="cpu")
    finally:
        torch.set_num_threads(threads)


def test_cornac_tiger_recommends_k_catalog_items_outside_the_history(cyclic, tiger):
    held_out = cyclic_users(100, seed=1, prefix="new")
    histories = [seq[:-1] for seq in held_out.values()]
    lists = tiger.recommend(histories, k=10)
    catalog = set(cyclic.items.item_id)
    for history, items in zip(histories, lists):
        assert len(items) == 10 and len(set(items)) == 10
        assert set(items) <= catalog and not set(items) & set(history)
    hits = np.mean([seq[-1] in items for seq, items in zip(held_out.values(), lists)])
    assert hits > 0.5, hits  # popularity finds about 10 / N_ITEMS


def test_cornac_tiger_records_valid_ndcg_and_keeps_the_best_evaluation(cyclic, tiger):
    assert [row["epoch"] for row in tiger.history] == list(range(1, len(tiger.history) + 1))
    ndcg = [row["valid_ndcg10"] for row in tiger.history]
    assert tiger.best_epoch == tiger.history[int(np.argmax(ndcg))]["epoch"]
    assert tiger.best_valid_ndcg == max(ndcg)
    index = item_index(cyclic)
    valid = cyclic.examples("valid")
    histories = [[index[i] for i in h] for h in valid.history]
    targets = [index[t] for t in valid.target]
    popular = MostPopular.fit(cyclic)
    pop_ndcg, _ = valid_ndcg(lambda h: torch.as_tensor(popular.scores(h)), histories, targets)
    assert tiger.best_valid_ndcg > pop_ndcg + 0.2, (tiger.best_valid_ndcg, pop_ndcg)
    assert not tiger.network.training
    sids = tiger.semantic_ids
    assert sids.shape == (N_ITEMS, FAST_TIGER.rqvae_num_levels + 1)
    assert len({tuple(row) for row in sids}) == N_ITEMS  # the last level makes every ID unique


def test_cornac_tiger_beam_search_is_cornacs_for_each_user(cyclic, tiger):
    index = item_index(cyclic)
    histories = [[index[i] for i in seq[:-1]] for seq in cyclic_users(12, seed=2).values()]
    widths = [FAST_TIGER.n_beams + len(set(h)) for h in histories]
    items, logp = tiger._beam_search(histories, widths)
    rec, length = tiger.recommender, FAST_TIGER.max_len
    for history, width, mine, mine_lp in zip(histories, widths, items, logp):
        rows = [rec.pad_idx] * (length - len(history[-length:])) + history[-length:]
        tokens = torch.as_tensor(rec.enc_token_table[rows].reshape(1, -1))
        beams, lps = tiger.network.generate_beam(tokens, (tokens != 0).float(), width, rec.prefix_children)
        assert mine[:width].tolist() == [rec.sid_to_item[sid] for sid in beams]
        np.testing.assert_allclose(mine_lp[:width].numpy(), lps, atol=1e-4)


def test_cornac_tiger_scores_only_the_beam(tiger):
    history = ["I03", "I04", "I04"]
    scores = tiger.scores([history, []])
    assert scores.shape == (2, N_ITEMS) and scores.dtype == np.float32
    assert np.isfinite(scores[0]).sum() == FAST_TIGER.n_beams + 2  # two distinct history items
    assert (scores[0][np.isfinite(scores[0])] <= 0).all()  # log-probabilities
    assert (scores[1] == 0).all()  # no history: every item alike, as in Cornac
    assert np.isfinite(tiger.scores([history], n_beams=N_ITEMS)).all()
    with pytest.raises(ValueError, match="not in the catalog"):
        tiger.scores([["nope"]])


def test_cornac_tiger_checks_the_item_features(cyclic):
    with pytest.raises(ValueError, match="one row per catalog item"):
        CornacTIGER.fit(cyclic, np.zeros((N_ITEMS - 1, 4)), FAST_TIGER, progress=False, device="cpu")


def test_tiger_config_label_names_what_differs():
    assert CornacTIGERConfig().label() == "defaults"
    assert CornacTIGERConfig(d_model=128, num_enc_layers=4).label() == "d=128 enc=4"
