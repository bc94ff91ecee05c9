"""Random picks from the store's numpy streams."""

from __future__ import annotations

from typing import Any

import numpy as np


def pick(rng: np.random.Generator, seq: list[Any] | tuple[Any, ...]) -> Any:
    """One element of ``seq``, uniformly."""
    return seq[int(rng.integers(len(seq)))]


def pick_weighted(rng: np.random.Generator, weights: np.ndarray | list[float]) -> int:
    """An index drawn in proportion to ``weights``."""
    w = np.asarray(weights, dtype=float)
    return int(rng.choice(len(w), p=w / w.sum()))
