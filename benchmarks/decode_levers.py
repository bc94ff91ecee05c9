#!/usr/bin/env python
"""What decoding can still add to a trained run: beam width and the score that ranks the beams.

On the run's **valid** split (the users notebook 06 evaluates, its chosen history length), one
beam search per width decodes every user; for each width it prints:

- ``valid ndcg@10`` with the model's summed log-probabilities (what the course ranks by);
- ``in beam``: the share of users whose valid item is among the finished beams at all, which bounds
  what any re-ranking of those beams can reach (recall of the whole beam);
- the best ``valid ndcg@10`` when the finished beams are re-ranked by
  ``log-probability + weight × log(1 + train interactions of the item)``, a popularity prior, over
  ``--weights`` (the weight is chosen on these same valid users: an optimistic figure, an upper bound
  of what the prior can add).

Widths at or above the catalog size score every item exactly. Needs a finished course run:

    python benchmarks/decode_levers.py artifacts/cpu
    python benchmarks/decode_levers.py artifacts/cpu --users 300 --widths 20 50 200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sidrec_lib.evaluate import HybridRecommender
from sidrec_lib.metrics import per_user_metrics, target_ranks
from sidrec_lib.prepare import PreparedData, train_popularity
from sidrec_lib.tokens import SidCatalog

TOP = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a course run folder, e.g. artifacts/cpu")
    parser.add_argument("--users", type=int, default=1000, help="valid users (a fixed random sample)")
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def ndcg_at_10(lists: list[list[str]], targets: list[str]) -> float:
    return float(per_user_metrics(target_ranks(lists, targets), (TOP,))[f"ndcg@{TOP}"].mean())


def rerank(row: list[tuple[str, float]], weight: float, log_popularity: dict[str, float]) -> list[str]:
    """The top items of one user's finished beams by log-probability plus the popularity prior."""
    scored = [(score + weight * log_popularity.get(item, 0.0), item) for item, score in row]
    return [item for _, item in sorted(scored, reverse=True)[:TOP]]


def main() -> None:
    args = parse_args()
    prepared = PreparedData.load(args.run / "01_prepare")
    catalog = SidCatalog.load(args.run / "03_semantic_ids" / "semantic_ids.parquet")
    chosen = json.loads((args.run / "06_evaluate" / "metrics.json").read_text())["chosen_prompt_history"]
    hybrid = HybridRecommender.load(args.run / "05_sft" / "model", catalog, prompt_history=chosen)
    valid = prepared.examples("valid")
    rng = np.random.default_rng(args.seed)
    if args.users < len(valid):
        valid = valid.iloc[np.sort(rng.choice(len(valid), args.users, replace=False))]
    histories, targets = valid.history.tolist(), valid.target.tolist()
    log_popularity = np.log1p(train_popularity(prepared)).to_dict()
    turns = [hybrid.next_item_turn(h) for h in histories]
    print(
        f"{len(turns)} valid users, catalog {len(catalog)} items, prompt history {chosen}; "
        f"ranking by log-probability + weight x log(1 + train interactions)"
    )
    columns = ("beams", "seconds", "valid ndcg@10", "in beam", "best prior", "weight")
    print(" ".join(f"{name:>13}" for name in columns))
    for width in args.widths:
        hybrid.beams = min(width, len(catalog))
        start = time.perf_counter()
        ranked = hybrid.recommend(turns, k=hybrid.beams, exclude=histories)
        seconds = time.perf_counter() - start
        plain = ndcg_at_10([[item for item, _ in row[:TOP]] for row in ranked], targets)
        in_beam = float(np.mean([t in {item for item, _ in row} for row, t in zip(ranked, targets)]))
        best, best_weight = plain, 0.0
        for weight in args.weights:
            lists = [rerank(row, weight, log_popularity) for row in ranked]
            if (value := ndcg_at_10(lists, targets)) > best:
                best, best_weight = value, weight
        figures = (
            f"{hybrid.beams}",
            f"{seconds:.1f}",
            f"{plain:.4f}",
            f"{in_beam:.3f}",
            f"{best:.4f}",
            f"{best_weight:.2f}",
        )
        print(" ".join(f"{figure:>13}" for figure in figures))


if __name__ == "__main__":
    main()
