"""Ranking metrics over full-catalog top-K lists, with bootstrap confidence intervals.

Each user has one held-out target and a ranked list of distinct items (the whole catalog was
ranked; no sampled negatives). With one relevant item, Recall@K is a hit (target in the top K),
NDCG@K is ``1 / log2(rank + 1)`` when it is, and MRR is ``1 / rank`` (0 beyond the list's length,
so lists of length K give MRR@K).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CUTOFFS = (5, 10, 20)


def target_ranks(recommended: Sequence[Sequence[str]], targets: Sequence[str]) -> np.ndarray:
    """1-based rank of each target in its list, or 0 when it is absent."""
    if len(recommended) != len(targets):
        raise ValueError(f"{len(recommended)} lists for {len(targets)} targets.")
    ranks = np.zeros(len(targets), dtype=np.int64)
    for row, (items, target) in enumerate(zip(recommended, targets)):
        for position, item in enumerate(items, start=1):
            if item == target:
                ranks[row] = position
                break
    return ranks


def per_user_metrics(ranks: np.ndarray, cutoffs: Sequence[int] = CUTOFFS) -> pd.DataFrame:
    """One row per user: recall@K, ndcg@K for each cutoff, and mrr."""
    ranks = np.asarray(ranks)
    found = ranks > 0
    columns = {}
    for k in cutoffs:
        hit = found & (ranks <= k)
        columns[f"recall@{k}"] = hit.astype(float)
        columns[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(np.maximum(ranks, 1) + 1), 0.0)
    columns["mrr"] = np.where(found, 1.0 / np.maximum(ranks, 1), 0.0)
    return pd.DataFrame(columns)


def bootstrap_ci(
    values: np.ndarray, samples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (users resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def summarize(
    recommended: Sequence[Sequence[str]],
    targets: Sequence[str],
    catalog_size: int,
    cutoffs: Sequence[int] = CUTOFFS,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean metrics with 95% bootstrap intervals (``<metric>_lo``/``_hi``), coverage@10 and list validity."""
    table = per_user_metrics(target_ranks(recommended, targets), cutoffs)
    summary: dict[str, float] = {"users": len(table)}
    for column in table.columns:
        low, high = bootstrap_ci(table[column].to_numpy(), samples, seed=seed)
        summary[column] = float(table[column].mean())
        summary[f"{column}_lo"], summary[f"{column}_hi"] = low, high
    top10 = {item for items in recommended for item in list(items)[:10] if item is not None}
    summary["coverage@10"] = len(top10) / catalog_size
    summary["full_lists"] = float(np.mean([len(items) >= max(cutoffs) for items in recommended]))
    return summary


def summarize_lists(
    lists: dict[str, Sequence[Sequence[str]]],
    targets: Sequence[str],
    catalog_size: int,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """:func:`summarize` of each model's lists (name → lists over the same users)."""
    return {
        name: summarize(ranked, targets, catalog_size, samples=samples, seed=seed)
        for name, ranked in lists.items()
    }


def per_user_ndcg(recommended: Sequence[Sequence[str]], targets: Sequence[str], k: int = 10) -> pd.Series:
    """NDCG@``k`` of each user's list (one target each)."""
    return per_user_metrics(target_ranks(recommended, targets), (k,))[f"ndcg@{k}"]


def paired_difference(
    ours: np.ndarray, theirs: np.ndarray, samples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``ours − theirs`` over the same users, with its 95% bootstrap interval: the users are
    resampled in pairs, so what both lists share (an easy user, a hard one) cancels out."""
    difference = np.asarray(ours, dtype=float) - np.asarray(theirs, dtype=float)
    low, high = bootstrap_ci(difference, samples, seed=seed)
    return float(difference.mean()), low, high


def by_popularity_band(
    per_user: dict[str, pd.Series],
    targets: Sequence[str],
    popularity: pd.Series,
    bands: Sequence[str] = ("tail", "middle", "head"),
) -> pd.DataFrame:
    """Mean of each model's per-user figure in equal-sized bands of the target's popularity
    (``popularity``: item → train interactions; ``bands`` named from least to most popular)."""
    counts = pd.Series(list(targets)).map(popularity).fillna(0)
    band = pd.qcut(counts.rank(method="first"), len(bands), labels=list(bands)).to_numpy()
    return pd.DataFrame({name: values.groupby(band).mean() for name, values in per_user.items()})
