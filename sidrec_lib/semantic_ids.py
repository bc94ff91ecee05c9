"""Semantic IDs by residual k-means (RQ-k-means), plus the diagnostics a notebook shows.

Every item vector is turned into a short tuple of codes, one per level: level 0 clusters the
vectors, level 1 clusters what level 0 left over (the residual ``x - c0``), and so on. The
reconstruction of an item is the sum of its codewords, and the error shrinks level by level.

Conventions used throughout this module:

- codes are ``np.int64`` arrays of shape ``(N, levels)``;
- codebooks are ``np.float32`` arrays of shape ``(levels, codes, D)``;
- "MSE" means the mean over items of the squared L2 norm of the residual,
  ``mean_i ||x_i - x̂_i||²`` (summed over dimensions, not averaged over them). It is what
  scikit-learn calls ``inertia_ / N`` and what ``benchmarks/bench_rqkmeans.py`` compares.

The k-means itself is written with torch matrix products so it runs on CPU, CUDA or MPS:
assignment is ``argmin_k ||c_k||² - 2 x·c_k`` over row chunks (float32), the center update an
``index_add_`` in the same pass. Seeding is greedy k-means++ whose D² draws are batched into large
matrix products (bfloat16 where that is fast; the sampling itself stays exact), see
:func:`sidrec_lib.kmeans.kmeans_plus_plus`. ``benchmarks/bench_rqkmeans.py`` compares all this with
scikit-learn.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sidrec_lib.devices import default_device
from sidrec_lib.files import load_tensors, save_tensors
from sidrec_lib.kmeans import (
    MAX_INIT_SAMPLE,
    assign,
    assign_balanced,
    kmeans_plus_plus,
    row_sq_norms,
    subtract_codewords,
    update_centers,
)

__all__ = [
    "RQKMeans",
    "add_dedup_level",
    "check_vectors",
    "codebook_usage",
    "codes_for_catalog",
    "coherence_table",
    "collision_stats",
    "compare_settings",
    "prefix_purity",
    "random_control_codes",
    "semantic_id_table",
]

CONFIG_FILE = "rqkmeans.json"
CODEBOOKS_FILE = "codebooks.safetensors"
FORMAT_NAME = "sidrec.rqkmeans"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _first(indices: np.ndarray, n: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:n])
    return shown + (", ..." if len(indices) > n else "")


def check_vectors(x: Any, what: str) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (N, D) array, or raise a ValueError that says why not."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array (items x dimensions), got shape {arr.shape}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what}: the array is empty (shape {arr.shape}); pass at least one item vector.")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{what}: expected real numbers, got dtype {arr.dtype}.")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        raise ValueError(
            f"{what}: {len(bad)} of {arr.shape[0]} rows contain NaN or inf (first rows: {_first(bad)}). "
            "Fix or drop those items' embeddings (e.g. re-run the embedding step) before building IDs."
        )
    zero = np.flatnonzero(~arr.any(axis=1))
    if len(zero):
        raise ValueError(
            f"{what}: {len(zero)} of {arr.shape[0]} rows are all-zero vectors (first rows: {_first(zero)}). "
            "An all-zero embedding usually means an item had no text; fix or drop those items."
        )
    return arr


def _check_codes(codes: Any, what: str = "codes") -> np.ndarray:
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array (items x levels), got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what}: expected integer codes, got dtype {arr.dtype}.")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{what}: codes must be >= 0, found {int(arr.min())}.")
    return arr.astype(np.int64, copy=False)


def _check_positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


# ---------------------------------------------------------------------------------------------
# RQKMeans
# ---------------------------------------------------------------------------------------------


class RQKMeans:
    """Residual k-means: ``levels`` codebooks of ``codes`` codewords each.

    Each level runs k-means on the residual left by the previous levels: greedy k-means++ seeding
    (:func:`sidrec_lib.kmeans.kmeans_plus_plus`, ``init_trials`` candidates per step, default
    :func:`default_seed_trials`; on all points up to ``init_sample``, default ``MAX_INIT_SAMPLE``,
    else on a random subsample of that size), then ``iters`` float32 Lloyd iterations on all
    points, stopping early only if no assignment changes, then one last assignment with the final
    codebook. Results depend only on ``seed`` and the device's arithmetic (the same machine and
    torch thread count give the same codes).

    ``balanced=True`` replaces the assignment step by an equal-capacity one (see
    :func:`assign_balanced`): ``fit`` then returns codes whose clusters hold ``floor(N/K)`` or
    ``ceil(N/K)`` items at every level, while ``encode`` still returns each level's *nearest*
    codeword (capacities make no sense for a single new item), so for balanced fits
    ``encode(x)`` may differ from the codes ``fit(x)`` returned. In standard mode they are equal.

    After ``fit``: ``codebooks`` (levels, codes, D) float32, ``level_mse`` (MSE, as defined in the
    module docstring, of the residual after each level, for the codes ``fit`` returned),
    ``n_iter`` (Lloyd iterations run per level) and ``empty_reseeds`` (empty clusters re-seeded).
    """

    def __init__(
        self,
        levels: int,
        codes: int,
        iters: int = 20,
        seed: int = 0,
        balanced: bool = False,
        device: str | None = None,
        *,
        init_sample: int | None = None,
        init_trials: int | None = None,
    ) -> None:
        self.levels = _check_positive_int("levels", levels, 1)
        self.codes = _check_positive_int("codes", codes, 1)
        self.iters = _check_positive_int("iters", iters, 0)
        self.seed = _check_positive_int("seed", seed, 0)
        self.balanced = bool(balanced)
        self.device = device or default_device()
        try:
            torch.device(self.device)
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not a torch device (use 'cpu', 'cuda', 'mps').") from err
        self.init_sample = None if init_sample is None else _check_positive_int("init_sample", init_sample, 1)
        self.init_trials = None if init_trials is None else _check_positive_int("init_trials", init_trials, 1)
        self.codebooks: np.ndarray | None = None
        self.level_mse: list[float] = []
        self.n_iter: list[int] = []
        self.empty_reseeds: list[int] = []
        self.fit_items: int | None = None

    def __repr__(self) -> str:
        state = "fitted" if self.codebooks is not None else "not fitted"
        return (
            f"RQKMeans(levels={self.levels}, codes={self.codes}, iters={self.iters}, seed={self.seed}, "
            f"balanced={self.balanced}, device={self.device!r}) [{state}]"
        )

    @property
    def dim(self) -> int | None:
        """Vector dimension the codebooks were fitted on (None before fit)."""
        return None if self.codebooks is None else int(self.codebooks.shape[2])

    # -- fitting ----------------------------------------------------------------------------------

    def _init_sample_size(self, n: int) -> int:
        limit = MAX_INIT_SAMPLE if self.init_sample is None else self.init_sample
        return min(n, max(limit, self.codes))

    def fit(self, x: np.ndarray) -> np.ndarray:
        """Fit the codebooks on item vectors ``x`` (N, D) and return their codes (N, levels) int64.

        Raises ValueError for NaN/inf or all-zero rows and for fewer items than ``codes``.
        """
        arr = check_vectors(x, "RQKMeans.fit")
        n, d = arr.shape
        if n < self.codes:
            raise ValueError(
                f"RQKMeans.fit: {n} items but codes={self.codes} codewords per level; each codeword needs "
                f"at least one item. Use codes <= {n} or fit on more items."
            )
        generator = torch.Generator().manual_seed(self.seed)
        residual = torch.tensor(arr, device=self.device)  # a copy: it is updated in place
        codes = torch.empty((n, self.levels), dtype=torch.int64, device=self.device)
        codebooks = torch.empty((self.levels, self.codes, d), dtype=torch.float32, device=self.device)
        self.level_mse, self.n_iter, self.empty_reseeds = [], [], []
        sq_norms = row_sq_norms(residual)
        for level in range(self.levels):
            labels, centers, n_iter, reseeds = self._fit_level(residual, sq_norms, generator)
            codes[:, level] = labels
            codebooks[level] = centers
            subtract_codewords(residual, centers, labels)
            sq_norms = row_sq_norms(residual)
            self.level_mse.append(float(sq_norms.double().mean()))
            self.n_iter.append(n_iter)
            self.empty_reseeds.append(reseeds)
        self.codebooks = codebooks.cpu().numpy()
        self.fit_items = n
        return codes.cpu().numpy()

    def _fit_level(
        self, x: torch.Tensor, sq_norms: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """One k-means on ``x``: returns final labels (assigned with the final centers), centers,
        Lloyd iterations run and empty clusters re-seeded."""
        n = x.shape[0]
        sample = self._init_sample_size(n)
        if sample < n:
            rows = torch.randperm(n, generator=generator)[:sample].sort().values.to(x.device)
            centers = kmeans_plus_plus(x[rows], sq_norms[rows], self.codes, generator, self.init_trials)
        else:
            centers = kmeans_plus_plus(x, sq_norms, self.codes, generator, self.init_trials)

        reseeds = 0
        labels: torch.Tensor | None = None
        n_iter = 0
        for _ in range(self.iters):
            sums = None if self.balanced else torch.zeros_like(centers)
            new_labels, min_sq = self._assign_step(x, sq_norms, centers, sums)
            if labels is not None and torch.equal(new_labels, labels):
                return new_labels, centers, n_iter, reseeds  # converged: same centers again
            labels = new_labels
            centers, empty = update_centers(x, labels, sums, min_sq, centers)
            reseeds += empty
            n_iter += 1
        labels, _ = self._assign_step(x, sq_norms, centers)
        return labels, centers, n_iter, reseeds

    def _assign_step(
        self, x: torch.Tensor, sq_norms: torch.Tensor, centers: torch.Tensor, sums: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Labels for ``x`` and, in standard mode, each point's squared distance to its center
        (and the per-center sums, into ``sums`` when given)."""
        if self.balanced:
            return assign_balanced(x, sq_norms, centers), None
        labels, best = assign(x, centers, sums)
        return labels, sq_norms - 2.0 * best

    # -- using a fitted model ---------------------------------------------------------------------

    def _require_fitted(self, what: str) -> np.ndarray:
        if self.codebooks is None:
            raise ValueError(f"RQKMeans.{what}: the model is not fitted; call fit(x) or RQKMeans.load(path).")
        return self.codebooks

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (N, levels) int64 of vectors ``x``: the nearest codeword of each level on the residual.

        For a standard fit, ``encode(fit vectors)`` equals the codes ``fit`` returned. For a balanced
        fit it is the unconstrained nearest codeword, so it may differ from them.
        """
        codebooks = self._require_fitted("encode")
        arr = check_vectors(x, "RQKMeans.encode")
        if arr.shape[1] != codebooks.shape[2]:
            raise ValueError(
                f"RQKMeans.encode: vectors have dimension {arr.shape[1]} but the codebooks were fitted on "
                f"dimension {codebooks.shape[2]}; encode with the same embedding model used for fit."
            )
        residual = torch.from_numpy(arr.copy()).to(self.device)
        books = torch.from_numpy(codebooks).to(self.device)
        codes = torch.empty((arr.shape[0], self.levels), dtype=torch.int64, device=self.device)
        for level in range(self.levels):
            labels, _ = assign(residual, books[level])
            codes[:, level] = labels
            subtract_codewords(residual, books[level], labels)
        return codes.cpu().numpy()

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstruction (N, D) float32: the sum over levels of each item's codewords.

        Extra columns beyond ``levels`` (e.g. a dedup level) are ignored.
        """
        codebooks = self._require_fitted("decode")
        arr = _check_codes(codes)
        if arr.shape[1] < self.levels:
            raise ValueError(
                f"RQKMeans.decode: codes have {arr.shape[1]} levels, the model has {self.levels}."
            )
        arr = arr[:, : self.levels]
        if arr.size and arr.max() >= self.codes:
            raise ValueError(
                f"RQKMeans.decode: code {int(arr.max())} is out of range for {self.codes} codes per level."
            )
        out = np.zeros((arr.shape[0], codebooks.shape[2]), dtype=np.float32)
        for level in range(self.levels):
            out += codebooks[level][arr[:, level]]
        return out

    # -- persistence ------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Plain-JSON description of the model (settings and fit statistics)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "levels": self.levels,
            "codes": self.codes,
            "iters": self.iters,
            "seed": self.seed,
            "balanced": self.balanced,
            "init_sample": self.init_sample,
            "init_trials": self.init_trials,
            "dim": self.dim,
            "fit_items": self.fit_items,
            "level_mse": list(self.level_mse),
            "mse_definition": "mean over items of the squared L2 norm of the residual",
            "n_iter": list(self.n_iter),
            "empty_reseeds": list(self.empty_reseeds),
        }

    def save(self, path: str | Path) -> Path:
        """Write ``codebooks.safetensors`` and ``rqkmeans.json`` into directory ``path``; return it."""
        codebooks = self._require_fitted("save")
        tensors = {"codebooks": torch.from_numpy(np.ascontiguousarray(codebooks))}
        return save_tensors(path, tensors, CODEBOOKS_FILE, self.config(), CONFIG_FILE)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> RQKMeans:
        """Read a model written by :meth:`save` (no pickle involved)."""
        tensors, config = load_tensors(path, CODEBOOKS_FILE, CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION)
        model = cls(
            levels=config["levels"],
            codes=config["codes"],
            iters=config["iters"],
            seed=config["seed"],
            balanced=config["balanced"],
            device=device,
            init_sample=config.get("init_sample"),
            init_trials=config.get("init_trials"),
        )
        codebooks = tensors["codebooks"].numpy().astype(np.float32, copy=False)
        if codebooks.shape[:2] != (model.levels, model.codes):
            raise ValueError(
                f"RQKMeans.load: codebooks have shape {codebooks.shape}, config says "
                f"{model.levels} levels x {model.codes} codes."
            )
        model.codebooks = codebooks
        model.level_mse = [float(v) for v in config.get("level_mse", [])]
        model.n_iter = [int(v) for v in config.get("n_iter", [])]
        model.empty_reseeds = [int(v) for v in config.get("empty_reseeds", [])]
        model.fit_items = config.get("fit_items")
        return model


# ---------------------------------------------------------------------------------------------
# Unique IDs and diagnostics (pure functions on code tables)
# ---------------------------------------------------------------------------------------------


def codes_for_catalog(n_items: int, smallest: int = 16, largest: int = 256) -> int:
    """Codewords per level sized to a catalog: the smallest power of two whose square reaches ``n_items``.

    With ``codes**2 >= n_items`` the first two codes could name every item; the third splits the
    clumps that real embeddings leave, and the dedup level whatever still collides. Clipped to
    ``[smallest, largest]``: 400 items get 32, 3,000 get 64, 137,000 get 256.
    """
    if n_items < 1:
        raise ValueError(f"codes_for_catalog needs at least one item, not {n_items}.")
    codes = 1 << max(0, math.ceil(math.log2(math.sqrt(n_items))))
    while codes * codes < n_items:  # guard against rounding in the logarithm
        codes *= 2
    return int(min(max(codes, smallest), largest))


def _group_ids(codes: np.ndarray) -> np.ndarray:
    """Integer id per row such that rows with equal code tuples share an id."""
    if codes.shape[1] == 0:
        return np.zeros(codes.shape[0], dtype=np.int64)
    _, inverse = np.unique(codes, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def add_dedup_level(codes: np.ndarray) -> np.ndarray:
    """Append a level that makes every code tuple unique (as in TIGER).

    Items sharing all L codes get their rank within that group, in row order (0, 1, 2, ...);
    an item alone gets 0. Returns (N, L+1) int64. Note the new level can exceed the codebook
    size when more than ``codes`` items collide; size the vocabulary from its maximum.
    """
    arr = _check_codes(codes)
    n = arr.shape[0]
    groups = _group_ids(arr)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - start_pos
    return np.concatenate([arr, rank[:, None]], axis=1)


def codebook_usage(codes: np.ndarray, codes_per_level: int | Sequence[int]) -> list[dict[str, float]]:
    """Per level: how many codewords are used and how evenly.

    ``codes_per_level`` is one size for all levels or one per level (e.g. a dedup level). Each dict
    holds ``level``, ``size``, ``used``, ``used_share`` (used/size), ``entropy_bits`` of the code
    distribution, ``normalised_entropy`` (bits / log2 size; 1.0 = uniform over all codes, and 1.0
    for size 1) and ``perplexity`` (2**bits, the effective number of codes).
    """
    arr = _check_codes(codes)
    levels = arr.shape[1]
    sizes = [int(codes_per_level)] * levels if np.isscalar(codes_per_level) else list(codes_per_level)
    if len(sizes) != levels:
        raise ValueError(f"codebook_usage: {len(sizes)} sizes given for {levels} levels.")
    out = []
    for level, size in enumerate(sizes):
        column = arr[:, level]
        if column.size and column.max() >= size:
            raise ValueError(
                f"codebook_usage: level {level} has code {int(column.max())} but only {size} codes."
            )
        counts = np.bincount(column, minlength=size).astype(np.float64)
        p = counts[counts > 0] / max(column.size, 1)
        bits = float(-(p * np.log2(p)).sum()) if p.size else 0.0
        out.append(
            {
                "level": level,
                "size": size,
                "used": int((counts > 0).sum()),
                "used_share": float((counts > 0).sum() / size),
                "entropy_bits": bits,
                "normalised_entropy": bits / math.log2(size) if size > 1 else 1.0,
                "perplexity": float(2.0**bits),
            }
        )
    return out


def collision_stats(codes: np.ndarray) -> dict[str, float]:
    """How many items share their full code tuple with another item.

    Returns ``items``, ``unique_ids`` (distinct tuples), ``collision_rate`` (share of items in a
    group of two or more), ``colliding_groups`` (groups of two or more) and ``largest_group``.
    """
    arr = _check_codes(codes)
    n = arr.shape[0]
    if n == 0:
        return {"items": 0, "unique_ids": 0, "collision_rate": 0.0, "colliding_groups": 0, "largest_group": 0}
    sizes = np.bincount(_group_ids(arr))
    colliding = sizes[sizes >= 2]
    return {
        "items": int(n),
        "unique_ids": int(len(sizes)),
        "collision_rate": float(colliding.sum() / n),
        "colliding_groups": int(len(colliding)),
        "largest_group": int(sizes.max()),
    }


def prefix_purity(
    codes: np.ndarray, labels: Sequence[Any] | np.ndarray | pd.Series, prefix_len: int
) -> float:
    """Size-weighted mean share of the majority label in groups sharing the first ``prefix_len`` codes.

    Items whose label is missing (None/NaN) are left out first; only groups of two or more remaining
    items count. 1.0 means every such group is label-pure. Returns NaN when there is no such group.
    Compare with the same figure on :func:`random_control_codes`.
    """
    arr = _check_codes(codes)
    if not 0 <= prefix_len <= arr.shape[1]:
        raise ValueError(f"prefix_purity: prefix_len must be in 0..{arr.shape[1]}, got {prefix_len}.")
    label_ids, _ = pd.factorize(pd.Series(list(labels) if not isinstance(labels, pd.Series) else labels))
    if len(label_ids) != arr.shape[0]:
        raise ValueError(f"prefix_purity: {len(label_ids)} labels for {arr.shape[0]} items.")
    keep = label_ids >= 0
    label_ids = label_ids[keep].astype(np.int64)
    groups = _group_ids(arr[keep, :prefix_len])
    if groups.size == 0:
        return float("nan")
    sizes = np.bincount(groups)
    pair_keys, pair_counts = np.unique(groups * (int(label_ids.max()) + 1) + label_ids, return_counts=True)
    majority = np.zeros(len(sizes), dtype=np.int64)
    np.maximum.at(majority, pair_keys // (int(label_ids.max()) + 1), pair_counts)
    multi = sizes >= 2
    if not multi.any():
        return float("nan")
    return float(majority[multi].sum() / sizes[multi].sum())


def random_control_codes(codes: np.ndarray, seed: int) -> np.ndarray:
    """The same code tuples shuffled across items: same shape and group sizes, no relation to content."""
    arr = _check_codes(codes)
    return arr[np.random.default_rng(seed).permutation(arr.shape[0])].copy()


def semantic_id_table(item_ids: Sequence[str], codes: np.ndarray) -> pd.DataFrame:
    """One row per item: ``item_id``, ``code_0 … code_L`` and a readable ``sid`` such as ``12-201-7-0``."""
    arr = _check_codes(codes)
    if len(item_ids) != arr.shape[0]:
        raise ValueError(f"semantic_id_table: {len(item_ids)} item ids for {arr.shape[0]} rows of codes.")
    table = pd.DataFrame({"item_id": list(item_ids)})
    for level in range(arr.shape[1]):
        table[f"code_{level}"] = arr[:, level]
    table["sid"] = ["-".join(map(str, row)) for row in arr.tolist()]
    return table


def coherence_table(
    codes: np.ndarray, labels: dict[str, pd.Series], prefix_lengths: Sequence[int] = (1, 2), seed: int = 0
) -> pd.DataFrame:
    """:func:`prefix_purity` per attribute and prefix length, beside the same on shuffled codes."""
    control = random_control_codes(codes, seed)
    rows = [
        {
            "attribute": name,
            "prefix": length,
            "purity": prefix_purity(codes, values, length),
            "random": prefix_purity(control, values, length),
        }
        for name, values in labels.items()
        for length in prefix_lengths
    ]
    table = pd.DataFrame(rows, columns=["attribute", "prefix", "purity", "random"])
    table["lift"] = table.purity / table.random
    return table


def compare_settings(
    vectors: np.ndarray,
    labels: dict[str, pd.Series],
    settings: Sequence[dict[str, Any] | Any],
    prefix_length: int = 2,
) -> pd.DataFrame:
    """One row per quantiser: collisions, error, coherence.

    Each setting is either :class:`RQKMeans` keyword arguments or an unfitted quantiser with the same
    ``fit``/``codes``/``seed``/``level_mse`` surface (e.g. :class:`sidrec_lib.rqvae.RQVAE`).
    Columns: ``quantiser``, ``codes``, ``balanced``, ``collision_rate``, ``largest_group``,
    ``final_mse`` (what the codes leave of the vectors), ``fit_seconds`` and ``<attribute>
    lift@prefix<n>``: the :func:`prefix_purity` of each attribute at ``prefix_length`` codes over the
    same on shuffled codes. Smaller groups are purer by chance alone, so only the lift compares
    fairly across sizes.
    """
    rows = []
    for setting in settings:
        model = RQKMeans(**setting) if isinstance(setting, dict) else setting
        start = time.perf_counter()
        codes = model.fit(vectors)
        fit_seconds = time.perf_counter() - start
        control = random_control_codes(codes, model.seed)
        collisions = collision_stats(codes)
        row = {
            "quantiser": type(model).__name__,
            "codes": model.codes,
            "balanced": getattr(model, "balanced", False),
            "collision_rate": collisions["collision_rate"],
            "largest_group": collisions["largest_group"],
            "final_mse": model.level_mse[-1],
            "fit_seconds": fit_seconds,
        }
        for name, values in labels.items():
            purity = prefix_purity(codes, values, prefix_length)
            row[f"{name} lift@prefix{prefix_length}"] = purity / prefix_purity(control, values, prefix_length)
        rows.append(row)
    return pd.DataFrame(rows)
