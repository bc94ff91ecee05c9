"""The course summary: the headline results, then every step's key figures and plots, in one
``summary.md``. The headline is also what the README shows for a run (``ci/readme_figures.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sidrec_lib.artifacts import STEPS, Run


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalar figures with dotted keys; lists and tables are left to the notebooks."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, bool | int | float | str) or value is None:
            flat[f"{prefix}{key}"] = value
    return flat


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def headline(run: Run) -> str:
    """The run's results in a few lines of Markdown, every figure read from its metrics.json files:
    what was run and how long each step took, the hybrid against every baseline on test (with 95%
    intervals and the paired difference to the stronger SASRec), and steering with held-out
    phrasings. Empty when notebook 06 has not finished."""
    if not (run.step_dir("06_evaluate") / "metrics.json").is_file():
        return ""
    evaluation, data = run.metrics("06_evaluate"), run.metrics("01_prepare")
    preset = run.manifest("01_prepare")["params"]
    seconds = {
        step: run.manifest(step)["timings_s"]["total"]
        for step in STEPS
        if (run.step_dir(step) / "manifest.json").is_file()
    }
    steps = ", ".join(f"{step[:2]} {value / 60:.1f}" for step, value in seconds.items())
    lines = [
        f"Dataset `{preset['dataset']}`: {data['items']:,} items, {data['users']:,} users. "
        f"Minutes per step: {steps} (total {sum(seconds.values()) / 60:.0f}). "
        f"Test split, {evaluation['users']:,} users, the whole catalog ranked:",
        "",
        "| model | NDCG@10 (95% interval) | Recall@10 | MRR |",
        "|---|---|---|---|",
    ]
    for name, scores in evaluation["test"].items():
        lines.append(
            f"| {name} | {scores['ndcg@10']:.4f} [{scores['ndcg@10_lo']:.4f}, {scores['ndcg@10_hi']:.4f}] "
            f"| {scores['recall@10']:.4f} | {scores['mrr']:.4f} |"
        )
    strongest = evaluation["strongest_sasrec"]
    lines += [
        "",
        f"The hybrid's NDCG@10 is {evaluation['ndcg10_ratio_to_sasrec']:.2f}× the stronger SASRec's "
        f"({strongest}); paired over the same users, hybrid − {strongest}: "
        f"{evaluation['ndcg10_minus_sasrec']:+.4f} [{evaluation['ndcg10_minus_sasrec_lo']:+.4f}, "
        f"{evaluation['ndcg10_minus_sasrec_hi']:+.4f}].",
    ]
    history = {
        key.split("|")[1]: row["precision@10"]
        for key, row in evaluation["steering"].items()
        if key.startswith("hybrid (SID LM)|") and key.endswith("|history")
    }
    if history:
        each = ", ".join(f"{attribute.replace('_', ' ')} {value:.2f}" for attribute, value in history.items())
        lines += [
            f"Steering with held-out phrasings and a test user's history, precision@10: {each}; "
            f"mean {evaluation['steering_history_precision@10']:.3f}. Asking for a value of the user's "
            f"true next item takes its NDCG@10 from {evaluation['oracle_ndcg10_unsteered']:.3f} to "
            f"{evaluation['oracle_ndcg10_steered']:.3f} (×{evaluation['oracle_ndcg10_ratio']:.2f}).",
        ]
    return "\n".join(lines) + "\n"


def write_summary(run: Run) -> Path:
    """Write ``<run>/summary.md`` (atomically) from the steps present, and return its path."""
    lines = [f"# sidrec run `{run.name}`", ""]
    present = [s for s in STEPS if (run.step_dir(s) / "metrics.json").is_file()]
    if not present:
        lines.append("No step has finished yet.")
    if results := headline(run):
        lines += ["## Results", "", results]
    for step in present:
        manifest, metrics = run.manifest(step), run.metrics(step)
        total = manifest.get("timings_s", {}).get("total")
        lines += [f"## {step} ({STEPS[step]})", ""]
        if total is not None:
            lines += [f"Finished {manifest.get('created', '?')} in {total:.1f} s.", ""]
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(_format(v))} |" for k, v in flatten(metrics).items()]
        lines.append("")
        for plot in sorted((run.step_dir(step) / "plots").glob("*.png")):
            lines += [f"![{plot.stem}]({plot.relative_to(run.root).as_posix()})", ""]
    path = run.root / "summary.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(".summary.md.partial")
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, path)
    return path
