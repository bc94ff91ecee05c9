"""Cornac's TIGER as a peer: valid NDCG@10 and Recall@10 on exactly this course's split.

For each setting it fits :class:`sidrec_lib.peers.CornacTIGER` on the train split of a run
(``01_prepare``), with the run's item vectors (``02_embed/embeddings.npy``, rows of
``prepared.items``) as TIGER's item features: Cornac's tokenizer (an RQ-VAE unless the setting says
``rkmeans``) makes the semantic IDs, Cornac's encoder-decoder is trained epoch by epoch and stopped
early on valid NDCG@10, and the best evaluation's weights are kept. Then every valid user
(``prepared.examples("valid")``) gets a top-10 list from ``CornacTIGER.recommend``: constrained beam
search ``n_beams`` plus the history's distinct items wide, history items left out, scored with
``sidrec_lib.metrics`` (``target_ranks``, ``per_user_metrics``) like every model of the course.
``train s`` is the whole fit (tokenizer, epochs, the valid evaluations of early stopping);
``tokenizer s`` is its tokenizer part. Test is never looked at.

    .venv/bin/python benchmarks/peer_tiger.py artifacts/amazon --threads 1
    .venv/bin/python benchmarks/peer_tiger.py artifacts/amazon \\
        --settings '[{"d_model": 64}, {"tokenizer": "rkmeans"}]' --set max_epochs=10

``--settings`` is a JSON list of ``CornacTIGERConfig`` fields, one object per setting (default: a
built-in list); ``--set KEY=VALUE`` changes a field in every setting. Each row prints as it finishes
(JSON), then the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sidrec_lib.cli import add_set_option
from sidrec_lib.metrics import per_user_metrics, target_ranks
from sidrec_lib.peers import CornacTIGER, CornacTIGERConfig
from sidrec_lib.prepare import PreparedData

DEFAULT_SETTINGS: list[dict] = [{}, {"d_model": 128, "d_ff": 512, "num_heads": 4}]


def parse_set(pairs: list[str]) -> dict:
    """``["max_epochs=10", "tokenizer=rkmeans"]`` → field values, typed like the config's defaults."""
    fields = {f.name: f for f in dataclasses.fields(CornacTIGERConfig)}
    default = CornacTIGERConfig()
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in fields:
            raise ValueError(f"--set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        current = getattr(default, key)
        if isinstance(current, bool):
            out[key] = value.lower() in ("1", "true", "yes")
        elif isinstance(current, (int, float, str)):
            out[key] = type(current)(value)
        else:
            out[key] = tuple(json.loads(value))
    return out


def config_of(setting: dict, overrides: dict) -> CornacTIGERConfig:
    values = {**setting, **overrides}
    if "rqvae_hidden_dims" in values:
        values["rqvae_hidden_dims"] = tuple(values["rqvae_hidden_dims"])
    return CornacTIGERConfig(**values)


def measure(
    prepared: PreparedData, features: np.ndarray, config: CornacTIGERConfig, device: str | None
) -> dict:
    """Fit one setting; its valid NDCG@10 and Recall@10 over all valid users, and its times."""
    start = time.perf_counter()
    model = CornacTIGER.fit(prepared, features, config, progress=False, device=device)
    trained = time.perf_counter() - start
    valid = prepared.examples("valid")
    start = time.perf_counter()
    lists = model.recommend(valid.history.tolist(), k=10)
    scored = time.perf_counter() - start
    metrics = per_user_metrics(target_ranks(lists, valid.target.tolist()), (10,))
    curve = {row["epoch"]: round(row["valid_ndcg10"], 4) for row in model.history}
    print(json.dumps({"setting": config.label(), "valid ndcg@10 by epoch": curve}), flush=True)
    return {
        "setting": config.label(),
        "valid ndcg@10": float(metrics["ndcg@10"].mean()),
        "valid recall@10": float(metrics["recall@10"].mean()),
        "users": len(lists),
        "early-stop ndcg@10": model.best_valid_ndcg,  # the same number, from the selection pass
        "best epoch": model.best_epoch,
        "epochs run": model.history[-1]["epoch"] if model.history else 0,
        "collisions": int((model.semantic_ids[:, -1] > 0).sum()),
        "tokenizer s": round(model.tokenizer_seconds, 1),
        "train s": round(trained, 1),
        "valid scoring s": round(scored, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a run folder holding 01_prepare and 02_embed")
    parser.add_argument(
        "--settings", default=None, help="JSON list of CornacTIGERConfig fields (default: a built-in list)"
    )
    add_set_option(parser, "a CornacTIGERConfig field for every setting, e.g. max_epochs=10 or n_beams=30")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)

    try:
        overrides = parse_set(args.set)
        settings = json.loads(args.settings) if args.settings else DEFAULT_SETTINGS
        configs = [config_of(setting, overrides) for setting in settings]
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    prepared = PreparedData.load(run / "01_prepare")
    features = np.load(run / "02_embed" / "embeddings.npy")
    rows = []
    for config in configs:
        row = measure(prepared, features, config, args.device)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    print(pd.DataFrame(rows).set_index("setting").to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
