"""The k-means building blocks of RQ-k-means (:class:`sidrec_lib.semantic_ids.RQKMeans`), in torch,
so that they run on CPU, CUDA or MPS.

Assignment is ``argmin_k ||c_k||² - 2 x·c_k`` over row chunks (float32), optionally balanced (each
cluster takes at most its share of the points); the center update is an ``index_add_`` in the same
pass, with empty clusters reseeded from the points farthest from their center. Seeding is greedy
k-means++ whose D² draws are batched into large matrix products (bfloat16 where that is fast; the
sampling itself stays exact).
"""

from __future__ import annotations

import math

import torch

# Rows per chunk of the assignment step: chunk x codes scores are held at once.
ASSIGN_CHUNK_ROWS = 4096
# k-means++ seeding uses every point up to this many, else a random subsample of this size
# (its candidate buffer holds 128 x sample distances); Lloyd iterations always use every point.
MAX_INIT_SAMPLE = 262_144
# D² draws per batch in k-means++ seeding (see _CandidateBuffer).
SEED_BATCH = 128


def row_sq_norms(x: torch.Tensor) -> torch.Tensor:
    """||x_i||² per row, without an N x D temporary."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def subtract_codewords(residual: torch.Tensor, codebook: torch.Tensor, labels: torch.Tensor) -> None:
    """``residual -= codebook[labels]`` in place, chunk by chunk (no N x D temporary)."""
    for start in range(0, residual.shape[0], ASSIGN_CHUNK_ROWS):
        stop = start + ASSIGN_CHUNK_ROWS
        residual[start:stop] -= codebook[labels[start:stop]]


def assign(
    x: torch.Tensor, centers: torch.Tensor, sums: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest center per row: returns (labels int64, max score) with score = x·c - ||c||²/2.

    The squared distance of a row to its center is ``||x||² - 2 * score``; ``||x||²`` is left out
    because it does not change the argmin, and callers that need distances have it already.
    If ``sums`` (K x D, zeros) is given, each row is also added to its center's row there, chunk
    by chunk while the rows are still in cache (the first half of the center update).
    """
    centers_t = centers.T.contiguous()
    half_norms = -0.5 * (centers * centers).sum(dim=1)
    n = x.shape[0]
    labels = torch.empty(n, dtype=torch.int64, device=x.device)
    best = torch.empty(n, dtype=x.dtype, device=x.device)
    for start in range(0, n, ASSIGN_CHUNK_ROWS):
        stop = min(start + ASSIGN_CHUNK_ROWS, n)
        scores = torch.addmm(half_norms, x[start:stop], centers_t)
        torch.max(scores, dim=1, out=(best[start:stop], labels[start:stop]))
        if sums is not None:
            sums.index_add_(0, labels[start:stop], x[start:stop])
    return labels, best


def _fill(
    dist: torch.Tensor, capacity: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Assign ``rows`` to clusters without exceeding ``capacity`` (changed in place), in rounds.

    Each round every waiting point proposes to its nearest cluster with room left, and each cluster
    accepts its nearest proposers up to its room; the rest wait for the next round. A cluster that
    turns someone away is full, so every round fills a cluster or places every waiting point.
    Returns the rows still waiting (none unless ``capacity`` sums to fewer than ``len(rows)``).
    """
    while len(rows) and bool((capacity > 0).any()):
        d = dist.index_select(1, rows)
        d[capacity == 0] = math.inf
        best_dist, choice = d.min(dim=0)
        by_dist = torch.argsort(best_dist, stable=True)
        order = by_dist[torch.argsort(choice[by_dist], stable=True)]
        chosen = choice[order]
        counts = torch.bincount(chosen, minlength=capacity.shape[0])
        first = torch.cumsum(counts, dim=0) - counts
        rank = torch.arange(len(order), device=dist.device) - first[chosen]
        accepted = order[rank < capacity[chosen]]
        labels[rows[accepted]] = choice[accepted]
        capacity -= torch.bincount(choice[accepted], minlength=capacity.shape[0])
        waiting = torch.ones(len(rows), dtype=torch.bool, device=dist.device)
        waiting[accepted] = False
        rows = rows[waiting]
    return rows


def assign_balanced(x: torch.Tensor, sq_norms: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Assignment under equal capacities: every cluster gets ``floor(N/K)`` or ``ceil(N/K)`` points.

    Phase 1 fills every cluster to ``floor(N/K)`` with :func:`_fill` (points go to their nearest
    cluster that has room, nearest points first); phase 2 places the ``N % K`` points left over, at
    most one more per cluster. Deterministic; holds the full K x N distance matrix (4·K·N bytes).
    """
    n, k = x.shape[0], centers.shape[0]
    dist = torch.addmm(sq_norms.unsqueeze(0), centers, x.T, alpha=-2.0)
    dist += (centers * centers).sum(dim=1, keepdim=True)
    labels = torch.full((n,), -1, dtype=torch.int64, device=x.device)
    rows = torch.arange(n, device=x.device)
    capacity = torch.full((k,), n // k, dtype=torch.int64, device=x.device)
    rows = _fill(dist, capacity, rows, labels)
    rows = _fill(dist, torch.ones(k, dtype=torch.int64, device=x.device), rows, labels)
    return labels


def update_centers(
    x: torch.Tensor,
    labels: torch.Tensor,
    sums: torch.Tensor | None,
    min_sq_dist: torch.Tensor | None,
    centers: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """Centers = mean of their points; empty clusters get the points farthest from their center.

    ``sums`` holds the per-center sums of the points if :func:`assign` accumulated them (else
    they are computed here). ``min_sq_dist`` is each point's squared distance to its center
    (needed only if a cluster is empty, which balanced assignment never leaves). Returns the new
    centers and how many empty clusters were re-seeded.
    """
    k = centers.shape[0]
    if sums is None:
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=k).to(x.dtype)
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty) and min_sq_dist is not None:
        # Like scikit-learn: move the farthest points into the empty clusters and take them out
        # of the clusters they were in, so every center stays the mean of its points.
        far = torch.topk(min_sq_dist, len(empty)).indices
        old = labels[far]
        sums.index_add_(0, old, -x[far])
        counts.index_add_(0, old, -torch.ones(len(far), dtype=x.dtype, device=x.device))
        sums[empty] = x[far]
        counts[empty] = 1.0
    new_centers = sums / counts.clamp(min=1.0).unsqueeze(1)
    # A cluster emptied by giving its only point away keeps its previous center.
    lost = counts == 0
    if bool(lost.any()):
        new_centers[lost] = centers[lost]
    return new_centers, len(empty)


def _cumsum_for_sampling(values: torch.Tensor) -> torch.Tensor:
    # float64 keeps the running sum exact enough for searchsorted; MPS has no float64.
    if values.device.type == "mps":
        return torch.cumsum(values, dim=0)
    return torch.cumsum(values.double(), dim=0)


def default_seed_trials(k: int) -> int:
    """Candidates per k-means++ step: ``2 + int(3 ln k)`` (18 for k=256). scikit-learn uses
    ``2 + int(ln k)``; three times as many costs little here and lowers the final error."""
    return 2 + int(3 * math.log(k))


def _seeding_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 for seeding distances where matrix products in it are fast (CUDA, CPUs with
    AVX512-BF16 or AMX), else float32. Lloyd iterations always use float32."""
    if device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            probe = getattr(cpu, check, None)
            if probe is not None and probe():
                return torch.bfloat16
    return torch.float32


class _CandidateBuffer:
    """Batched D² sampling for k-means++: draws ``batch`` points at once with probability
    proportional to the current squared distance to the nearest center, and computes their dot
    products with every point in one matrix product (``batch`` x N, in ``dtype``).

    Later steps use these draws by rejection sampling: a point drawn when its distance was ``d0``
    is accepted now with probability ``d / d0`` (distances only shrink as centers are added), so
    every accepted candidate is an exact sample from the *current* D² distribution, just as if it
    had been drawn at this step.
    """

    def __init__(
        self,
        x: torch.Tensor,
        sq_norms: torch.Tensor,
        generator: torch.Generator,
        batch: int,
        dtype: torch.dtype,
    ) -> None:
        self.x, self.sq_norms, self.generator, self.batch = x, sq_norms, generator, batch
        self.x_low = x if dtype == x.dtype else x.to(dtype)
        self.prob_dtype = torch.float32 if x.device.type == "mps" else torch.float64
        self.pos = self.size = 0

    def _refill(self, closest: torch.Tensor) -> None:
        cumulative = _cumsum_for_sampling(closest)
        u = torch.rand(self.batch, generator=self.generator, dtype=torch.float64)
        draws = u.to(self.x.device, cumulative.dtype) * cumulative[-1]
        self.index = torch.searchsorted(cumulative, draws).clamp_(max=len(closest) - 1)
        self.drawn_at = closest[self.index].to(self.prob_dtype)  # for the acceptance test
        u = torch.rand(self.batch, generator=self.generator, dtype=torch.float64)
        self.accept_u = u.to(self.x.device, self.prob_dtype)
        self.dots = torch.mm(self.x_low[self.index], self.x_low.T)  # batch x N
        self.pos, self.size = 0, self.batch

    def take(self, closest: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` candidates from the current D² distribution: (indices, squared distances
        of every point to each, count x N float32)."""
        indices, dots = [], []
        while count > 0:
            if self.pos >= self.size:
                self._refill(closest)
            rest = slice(self.pos, self.size)
            now = closest[self.index[rest]].to(self.prob_dtype)
            ratio = now / self.drawn_at[rest].clamp(min=torch.finfo(self.prob_dtype).tiny)
            accepted = torch.nonzero(self.accept_u[rest] < ratio).flatten()[:count] + self.pos
            if len(accepted) < count:  # the buffer runs out: take what it has, refill next round
                self.pos = self.size
            else:
                self.pos = int(accepted[-1]) + 1
            indices.append(self.index[accepted])
            dots.append(self.dots[accepted])
            count -= len(accepted)
        index = torch.cat(indices)
        dist = torch.cat(dots).to(torch.float32).mul_(-2.0)
        dist += self.sq_norms.unsqueeze(0)
        dist += self.sq_norms[index].unsqueeze(1)
        return index, dist.clamp_(min=0.0)


def kmeans_plus_plus(
    x: torch.Tensor, sq_norms: torch.Tensor, k: int, generator: torch.Generator, trials: int | None = None
) -> torch.Tensor:
    """Greedy k-means++ seeding (as in scikit-learn): at each step ``trials`` candidates are drawn
    with probability proportional to the squared distance to the nearest chosen center (D²
    sampling), and the one that lowers the total squared distance of all points most is kept.

    The D² draws are made ``SEED_BATCH`` at a time (see :class:`_CandidateBuffer`) so that
    distances come from a few large matrix products instead of a thin one per step; the sampling
    stays exact, the distances are bfloat16-accurate where :func:`_seeding_dtype` picks it.
    ``sq_norms`` = ``||x||²``. Random draws come from the CPU ``generator``, so the result depends
    only on the seed (and the device's arithmetic).
    """
    n = x.shape[0]
    trials = default_seed_trials(k) if trials is None else trials
    chosen = torch.empty(k, dtype=torch.int64, device=x.device)
    first = int(torch.randint(n, (1,), generator=generator))
    chosen[0] = first
    closest = (sq_norms + sq_norms[first] - 2.0 * torch.mv(x, x[first])).clamp_(min=0.0)
    buffer = _CandidateBuffer(x, sq_norms, generator, SEED_BATCH, _seeding_dtype(x.device))
    for step in range(1, k):
        if not bool(closest.any()):  # fewer distinct points than k: the rest are duplicates
            chosen[step:] = torch.randint(n, (k - step,), generator=generator).to(x.device)
            break
        candidates, dist = buffer.take(closest, trials)
        torch.minimum(dist, closest.unsqueeze(0), out=dist)
        best = int(torch.argmin(dist.sum(dim=1)))
        chosen[step] = candidates[best]
        closest = dist[best].clone()
    return x[chosen].clone()
