"""Item vectors from what users buy together: the behavioural half of a semantic ID (notebook 02).

Text vectors put items that *read* alike side by side. Purchase sequences know what text cannot:
which items are bought by the same people (one platform, the next entry of a series, a taste).
Counting, over the TRAIN split only, how often two items fall within ``window`` purchases of each
other, weighting each pair by its positive pointwise mutual information (PPMI) and keeping the top
``dim`` singular directions gives every item a short vector, the classic count-based cousin of
item2vec. :func:`mix_vectors` joins it to the text vector before residual k-means (notebook 03), so
that the first codes of a semantic ID follow what is bought together and the later ones what the
item says.

Valid and test items never enter the counts, so no held-out interaction leaks into the IDs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from sidrec_lib.prepare import PreparedData, item_index

__all__ = ["cooccurrence_counts", "cooccurrence_vectors", "mix_vectors", "ppmi"]


def cooccurrence_counts(sequences: list[list[int]], n_items: int, window: int) -> sp.csr_matrix:
    """(n_items, n_items) symmetric counts of item pairs at most ``window`` positions apart in a sequence.

    ``sequences`` hold item rows in time order; an item is never paired with itself.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, not {window}.")
    rows, cols = [], []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        for gap in range(1, min(window, len(seq) - 1) + 1):
            rows.append(seq[:-gap])
            cols.append(seq[gap:])
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float64)
    a, b = np.concatenate(rows), np.concatenate(cols)
    keep = a != b
    a, b = a[keep], b[keep]
    ones = np.ones(2 * len(a))
    counts = sp.coo_matrix((ones, (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n_items, n_items))
    return counts.tocsr()  # duplicates are summed


def ppmi(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Positive pointwise mutual information of a co-occurrence matrix: max(0, log p(i, j) / p(i) p(j))."""
    counts = counts.tocoo()
    total = counts.sum()
    margins = np.asarray(counts.sum(axis=1)).ravel()
    if total == 0:
        return sp.csr_matrix(counts.shape, dtype=np.float64)
    pmi = np.log(counts.data * total / (margins[counts.row] * margins[counts.col]))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (counts.row[keep], counts.col[keep])), shape=counts.shape)


def cooccurrence_vectors(prepared: PreparedData, dim: int, window: int, seed: int = 0) -> np.ndarray:
    """(N, dim) float32 item vectors from TRAIN-split co-occurrence, rows in ``prepared.items`` order.

    The PPMI matrix's top ``dim`` singular vectors, scaled by the square roots of their singular
    values and L2-normalised. An item with no train co-occurrence gets a zero row (:func:`mix_vectors`
    then leaves its text vector alone).
    """
    index = item_index(prepared)
    n_items = len(index)
    if not 1 <= dim < n_items:
        raise ValueError(f"dim must lie in 1..{n_items - 1} for {n_items} items, not {dim}.")
    train = [[index[item] for item in history] for history in prepared.examples("train").history]
    weights = ppmi(cooccurrence_counts(train, n_items, window))
    if weights.nnz == 0:
        return np.zeros((n_items, dim), dtype=np.float32)
    left, singular, _ = randomized_svd(weights, dim, random_state=seed)
    return _unit_rows(left * np.sqrt(singular))


def mix_vectors(text: np.ndarray, behaviour: np.ndarray, weight: float) -> np.ndarray:
    """Concatenate ``sqrt(1 - weight) * text`` and ``sqrt(weight) * behaviour`` and L2-normalise each row.

    Both inputs have unit (or zero) rows, so ``weight`` is the share of each squared distance that
    comes from behaviour: 0 gives the text vectors back, 1 behaviour alone.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must lie in [0, 1], not {weight}.")
    if len(text) != len(behaviour):
        raise ValueError(f"{len(text)} text vectors but {len(behaviour)} behaviour vectors.")
    if weight == 0.0:
        return np.asarray(text, dtype=np.float32)
    return _unit_rows(np.hstack([np.sqrt(1.0 - weight) * text, np.sqrt(weight) * behaviour]))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, as float32; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)
