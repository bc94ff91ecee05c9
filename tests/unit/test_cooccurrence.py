"""Co-occurrence item vectors: counts by hand, PPMI, train split only, and the mix with text vectors."""

import numpy as np
import pandas as pd
import pytest

from sidrec_lib.builtin import write_store
from sidrec_lib.cooccurrence import cooccurrence_counts, cooccurrence_vectors, mix_vectors, ppmi
from sidrec_lib.prepare import PreparedData, item_labels, prepare
from sidrec_lib.presets import BuiltinConfig, PrepareConfig
from sidrec_lib.sources import read_amazon_layout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> PreparedData:
    folder = write_store(BuiltinConfig(n_items=300, n_users=600, seed=2), tmp_path_factory.mktemp("s"))
    return prepare(read_amazon_layout(folder), PrepareConfig(kcore=3, max_user_interactions=30))


def test_counts_pairs_within_the_window_both_ways():
    counts = cooccurrence_counts([[0, 1, 2, 3], [2, 0]], n_items=5, window=2).toarray()
    expected = np.zeros((5, 5))
    for a, b in [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 0)]:
        expected[a, b] += 1
        expected[b, a] += 1
    np.testing.assert_array_equal(counts, expected)
    assert cooccurrence_counts([[4]], 5, 3).nnz == 0
    with pytest.raises(ValueError, match="window"):
        cooccurrence_counts([[0, 1]], 2, 0)


def test_ppmi_keeps_only_pairs_seen_more_than_chance():
    counts = cooccurrence_counts([[0, 1]] * 5 + [[2, 3]] * 5 + [[0, 3]], 4, 1)
    weights = ppmi(counts).toarray()
    total, margins = counts.sum(), np.asarray(counts.sum(1)).ravel()
    assert weights[0, 1] == pytest.approx(np.log(5 * total / (margins[0] * margins[1])))
    assert weights[0, 3] == 0.0  # rarer together than apart
    assert (weights >= 0).all() and np.allclose(weights, weights.T)


def test_vectors_see_the_train_split_only(prepared):
    vectors = cooccurrence_vectors(prepared, dim=8, window=3)
    assert vectors.shape == (len(prepared.items), 8) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)
    # Moving every user's valid and test items changes nothing: they are never counted.
    shuffled = prepared.sequences.copy()
    rng = np.random.default_rng(0)
    items = prepared.items.item_id.to_numpy()
    shuffled["item_ids"] = [list(s[:-2]) + list(rng.choice(items, 2)) for s in prepared.sequences.item_ids]
    other = PreparedData(**{**prepared.__dict__, "sequences": shuffled})
    np.testing.assert_allclose(cooccurrence_vectors(other, dim=8, window=3), vectors, atol=1e-6)


def test_vectors_group_items_bought_by_the_same_people(prepared):
    """Users play on one or two platform families, so co-purchase neighbours share the family."""
    vectors = cooccurrence_vectors(prepared, dim=16, window=3)
    family = item_labels(prepared, "platform_family").to_numpy()
    has = np.linalg.norm(vectors, axis=1) > 0
    sims = vectors[has] @ vectors[has].T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argmax(sims, axis=1)
    agreement = np.mean(family[has][nearest] == family[has])
    chance = (pd.Series(family[has]).value_counts(normalize=True) ** 2).sum()
    assert agreement > chance + 0.3


def test_mix_weights_the_two_halves():
    rng = np.random.default_rng(0)
    text = rng.standard_normal((6, 4))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    behaviour = np.eye(6, 3)  # rows 3..5 have no co-occurrence
    np.testing.assert_array_equal(mix_vectors(text, behaviour, 0.0), text.astype(np.float32))
    mixed = mix_vectors(text, behaviour, 0.25)
    assert mixed.shape == (6, 7)
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(mixed[0, 4:] ** 2, [0.25, 0, 0], atol=1e-6)  # its share of the norm
    np.testing.assert_allclose(mixed[4, :4], text[4], atol=1e-6)  # no behaviour: text alone
    with pytest.raises(ValueError, match="weight"):
        mix_vectors(text, behaviour, 1.5)
    with pytest.raises(ValueError, match="behaviour vectors"):
        mix_vectors(text, behaviour[:5], 0.5)
