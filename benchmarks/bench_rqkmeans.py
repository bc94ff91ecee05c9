"""Benchmark: sidrec's RQKMeans against scikit-learn and faiss, level by level.

Every side builds residual k-means codes (default 3 levels x 256 codes) on the same synthetic
embeddings with the same number of Lloyd iterations (``--iters``):

- ours:    ``sidrec_lib.semantic_ids.RQKMeans(levels, codes, iters, seed=0, device="cpu")``
  (``--init-trials`` sets its k-means++ candidates per step; default 2 + int(3 ln k), i.e. 18
  for 256 codes, where scikit-learn uses 2 + int(ln k) = 7);
- sklearn: ``KMeans(n_clusters=codes, n_init=1, max_iter=iters, init="k-means++",
  algorithm="lloyd", random_state=0)`` fitted on the residual of the previous levels;
- faiss-km: ``faiss.Kmeans(dim, codes, niter=iters, seed=0)`` per level on the residual (faiss seeds
  with random points, not k-means++; ``max_points_per_centroid`` is raised so it fits on every
  vector rather than a sample, like the others);
- faiss-rq: ``faiss.ResidualQuantizer(dim, levels, log2(codes))`` with greedy encoding
  (``max_beam_size=1``, as residual k-means assigns) and ``iters`` iterations per level (codes must
  be a power of two).

ours and sklearn seed with greedy k-means++.

Each side runs in its own spawned process, and so does the data generator, so a side's peak
resident memory (``ru_maxrss``: the Python interpreter, its libraries, the loaded data and the
fit) is its own. Timed: the fit alone (all levels, residual updates included), not imports or
data loading. The MSE is the same on both sides: the mean over items of ``||x - x̂||²``
(squared L2 norm of the residual after the last level, summed over dimensions), computed in
float64 from each side's codes.

Data (``make_embeddings``, fixed seed): a two-level Gaussian mixture on the unit sphere that looks
like text embeddings: ``--topics`` random unit "topic" directions; ``--centers`` cluster centres,
each a topic plus Gaussian noise of norm about 1, renormalised; items drawn from the centres with
log-normal (uneven) popularity, each a centre plus Gaussian noise of norm about ``--noise``,
L2-normalised, float32.

    .venv/bin/python benchmarks/bench_rqkmeans.py                 # the full benchmark
    .venv/bin/python benchmarks/bench_rqkmeans.py --n 5000 --dim 64 --iters 5   # a quick run

The last lines printed are ``time_ratio=<ours/other> mse_ratio=<ours/other>``, one per other side
(``vs=sklearn``, ``vs=faiss-km``, ``vs=faiss-rq``). The machine's other
load moves wall times a lot; ``--repeat 2`` runs the sides alternately twice and keeps each
side's fastest run (results are deterministic, so only the times differ).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_embeddings(
    n: int, dim: int, centers: int = 2000, topics: int = 50, noise: float = 0.6, seed: int = 0
) -> np.ndarray:
    """Clustered, L2-normalised float32 vectors (see the module docstring)."""
    rng = np.random.default_rng(seed)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    topic_dirs = unit(rng.standard_normal((topics, dim)))
    centre_dirs = unit(
        topic_dirs[rng.integers(topics, size=centers)] + rng.standard_normal((centers, dim)) / np.sqrt(dim)
    )
    popularity = np.exp(rng.standard_normal(centers))
    which = rng.choice(centers, size=n, p=popularity / popularity.sum())
    x = centre_dirs[which] + noise * rng.standard_normal((n, dim)) / np.sqrt(dim)
    return unit(x).astype(np.float32)


def reconstruction_mse(x: np.ndarray, recon: np.ndarray, chunk: int = 8192) -> float:
    """Mean over items of the squared L2 norm of x - recon (float64, in chunks to save memory)."""
    total = 0.0
    for start in range(0, len(x), chunk):
        diff = x[start : start + chunk].astype(np.float64) - recon[start : start + chunk]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total / len(x)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_ours(x: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    from sidrec_lib.semantic_ids import RQKMeans

    model = RQKMeans(args.levels, args.codes, args.iters, seed=0, device="cpu", init_trials=args.init_trials)
    start = time.perf_counter()
    labels = model.fit(x)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "mse": reconstruction_mse(x, model.decode(labels)),
        "level_mse": model.level_mse,
        "n_iter": model.n_iter,
    }


def level_by_level(x: np.ndarray, levels: int, fit_level: Any) -> dict[str, Any]:
    """Residual k-means from a one-level fit: ``fit_level(residual)`` returns each row's centroid,
    the level's MSE and its iterations; timed from the first level to the last."""
    start = time.perf_counter()
    residual = x.copy()
    level_mse, n_iter = [], []
    for _ in range(levels):
        assigned, mse, iterations = fit_level(residual)
        residual -= assigned
        level_mse.append(mse(residual))
        n_iter.append(iterations)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "mse": reconstruction_mse(x, x - residual),
        "level_mse": level_mse,
        "n_iter": n_iter,
    }


def mean_squared_norm(rows: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", rows, rows, dtype=np.float64) / len(rows))


def run_sklearn(x: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    from sklearn.cluster import KMeans

    def fit_level(residual: np.ndarray):
        km = KMeans(
            n_clusters=args.codes, n_init=1, max_iter=args.iters, init="k-means++", algorithm="lloyd",
            random_state=0,
        ).fit(residual)  # fmt: skip
        return km.cluster_centers_[km.labels_], lambda _: float(km.inertia_ / len(x)), int(km.n_iter_)

    return level_by_level(x, args.levels, fit_level)


def run_faiss_kmeans(x: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    def fit_level(residual: np.ndarray):
        km = faiss.Kmeans(
            x.shape[1], args.codes, niter=args.iters, seed=0, max_points_per_centroid=len(x), verbose=False
        )
        km.train(residual)
        _, labels = km.index.search(residual, 1)
        return km.centroids[labels[:, 0]], mean_squared_norm, args.iters

    return level_by_level(x, args.levels, fit_level)


def run_faiss_rq(x: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    bits = int(np.log2(args.codes))
    if 2**bits != args.codes:
        raise SystemExit(f"faiss-rq needs codes to be a power of two, not {args.codes}.")
    rq = faiss.ResidualQuantizer(x.shape[1], args.levels, bits)
    rq.max_beam_size = 1  # greedy, level by level, as residual k-means assigns
    rq.cp.niter = args.iters
    rq.cp.seed = 0
    rq.cp.max_points_per_centroid = len(x)
    start = time.perf_counter()
    rq.train(x)
    codes = rq.compute_codes(x)
    seconds = time.perf_counter() - start
    recon = rq.decode(codes)
    return {"seconds": seconds, "mse": reconstruction_mse(x, recon), "level_mse": [], "n_iter": args.iters}


SIDES = {"ours": run_ours, "sklearn": run_sklearn, "faiss-km": run_faiss_kmeans, "faiss-rq": run_faiss_rq}


def write_data(path: str, args: argparse.Namespace, queue: Any) -> None:
    np.save(path, make_embeddings(args.n, args.dim, centers=args.centers, seed=args.seed))
    queue.put({})


def side_process(side: str, path: str, args: argparse.Namespace, queue: Any) -> None:
    sys.path.insert(0, str(ROOT))
    if side == "ours":
        import torch

        import sidrec_lib.semantic_ids  # noqa: F401  (imported before the baseline is read)

        threads = torch.get_num_threads()
    elif side.startswith("faiss"):
        import faiss

        threads = faiss.omp_get_max_threads()
    else:
        import sklearn.cluster  # noqa: F401
        from threadpoolctl import threadpool_info

        threads = max((i.get("num_threads", 0) for i in threadpool_info()), default=0)
    x = np.load(path)
    baseline = peak_rss_mb()
    result = SIDES[side](x, args)
    queue.put({**result, "threads": threads, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()})


def in_subprocess(target: Any, *args: Any) -> dict[str, Any]:
    """Run ``target(*args, queue)`` in a fresh spawned interpreter and return what it puts."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{target.__name__} failed with exit code {proc.exitcode}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of vectors")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--codes", type=int, default=256, help="codes per level")
    parser.add_argument("--iters", type=int, default=20, help="Lloyd iterations per level, both sides")
    parser.add_argument("--centers", type=int, default=2000, help="mixture components of the data")
    parser.add_argument("--seed", type=int, default=0, help="data seed")
    parser.add_argument(
        "--init-trials", type=int, default=None, help="our k-means++ candidates per step (2 + int(3 ln k))"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per side, alternating; fastest counts")
    args = parser.parse_args()

    print(
        f"data: {args.n} x {args.dim} float32, {args.centers} mixture centres, L2-normalised; "
        f"{args.levels} levels x {args.codes} codes, {args.iters} Lloyd iterations; cpus={os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "x.npy")
        in_subprocess(write_data, path, args)
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        for _ in range(args.repeat):  # sides alternate, so a burst of load elsewhere hits both
            for side, side_runs in runs.items():
                side_runs.append(in_subprocess(side_process, side, path, args))
    results = {side: min(side_runs, key=lambda r: r["seconds"]) for side, side_runs in runs.items()}
    if args.repeat > 1:
        for side, side_runs in runs.items():
            times = ", ".join(f"{r['seconds']:.2f}s" for r in side_runs)
            print(f"{side:8s} times: {times} (the fastest is shown below)")

    for side, r in results.items():
        print(
            f"{side:9s} time={r['seconds']:.2f}s mse={r['mse']:.6f} "
            f"level_mse=[{', '.join(f'{v:.6f}' for v in r['level_mse'])}] n_iter={r['n_iter']} "
            f"peak_rss={r['peak_rss_mb']:.0f}MiB (before the fit: {r['baseline_rss_mb']:.0f}MiB) "
            f"threads={r['threads']}"
        )
    ours = results["ours"]
    for side, other in results.items():
        if side != "ours":
            print(
                f"vs={side} time_ratio={ours['seconds'] / other['seconds']:.3f} "
                f"mse_ratio={ours['mse'] / other['mse']:.4f}"
            )


if __name__ == "__main__":
    main()
