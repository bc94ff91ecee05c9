"""The course summary: every step's key figures and plots in one ``summary.md``."""

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


def write_summary(run: Run) -> Path:
    """Write ``<run>/summary.md`` (atomically) from the steps present, and return its path."""
    lines = [f"# sidrec run `{run.name}`", ""]
    present = [s for s in STEPS if (run.step_dir(s) / "metrics.json").is_file()]
    if not present:
        lines.append("No step has finished yet.")
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
