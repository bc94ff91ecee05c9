#!/usr/bin/env python
"""Run the course notebooks headless with papermill, in numeric order.

    python ci/run_notebooks.py --preset ci --dataset builtin
    python ci/run_notebooks.py --preset cpu --only 01,02 --run mine
    python ci/run_notebooks.py --preset ci --dataset ../shared/data/amazon18-industrial --set prepare.kcore=3

Executed copies go to ``artifacts/<run>/executed/``; ``artifacts/<run>/summary.md`` reports what was
run, the headline results and each step's key figures and plots, and ``artifacts/<run>/html/`` holds
it and every executed notebook as standalone web pages. On a failure (a failing cell, or a kernel
that died) it names the notebook and exits 1; bad arguments or settings stop it before any notebook
runs, with one ``error:`` message and exit code 2 (``--debug`` shows the full traceback instead).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sidrec_lib.cli import add_set_option

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu", help="ci, cpu, gpu-smoke or gpu (default: cpu)")
    parser.add_argument("--dataset", default=None, help="builtin, amazon2023:<Category> or a local folder")
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("--run", default=None, help="run name (default: from preset and dataset)")
    parser.add_argument("--artifacts", default=str(ROOT / "artifacts"), help="artifacts folder")
    parser.add_argument(
        "--data-dir", default=str(ROOT / "data"), help="data folder (raw downloads go under raw/)"
    )
    add_set_option(parser, "preset override, e.g. semantic_ids.codes=32")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser.parse_args(argv)


def select_notebooks(only: str | None) -> list[Path]:
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {n.strip().zfill(2) for n in only.split(",") if n.strip()}
        unknown = wanted - {p.name[:2] for p in notebooks}
        if unknown:
            raise ValueError(
                f"--only names no notebook for {sorted(unknown)}; have {[p.name for p in notebooks]}"
            )
        notebooks = [p for p in notebooks if p.name[:2] in wanted]
    return notebooks


def kernel_settings(socket_dir: Path) -> dict[str, Any]:
    """papermill keyword arguments that start each kernel on IPC sockets (files) in ``socket_dir``.

    Over TCP, every kernel warns at start that its traffic is not encrypted; sockets in a private
    folder are reachable only by this user, so there is nothing to warn about. Windows keeps TCP.
    """
    if os.name == "nt":
        return {}
    from traitlets.config import Config

    return {"config": Config({"KernelManager": {"transport": "ipc", "ip": str(socket_dir / "kernel")}})}


def stopped_message(notebook: str, error: Exception, output: Path) -> str:
    """Why ``notebook`` stopped when papermill raised something other than a failing cell."""
    from nbclient.exceptions import DeadKernelError

    if isinstance(error, DeadKernelError) or "kernel died" in str(error).lower():
        what = "the kernel died (likely out of memory, or killed)"
    else:
        what = "papermill stopped"
    return f"{notebook} failed: {what}: {type(error).__name__}: {error}\n  executed copy: {output}"


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks; 0 when all pass, 1 when one fails, 2 on bad arguments or settings."""
    from sidrec_lib.artifacts import StepInputError
    from sidrec_lib.sources import SourceError

    args = parse_args(argv)
    try:
        return run_notebooks(args)
    except (ValueError, SourceError, StepInputError, FileNotFoundError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


def run_notebooks(args: argparse.Namespace) -> int:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from sidrec_lib.artifacts import open_run
    from sidrec_lib.presets import parse_overrides
    from sidrec_lib.summary import write_html, write_summary

    overrides = parse_overrides(args.set)
    notebooks = select_notebooks(args.only)
    dataset = args.dataset
    if dataset and Path(dataset).is_dir():  # notebooks run in notebooks/: pass folders absolute
        dataset = str(Path(dataset).resolve())
    config, run = open_run(args.preset, dataset, args.run, overrides, args.artifacts)
    executed_dir = run.root / "executed"
    executed_dir.mkdir(parents=True, exist_ok=True)
    parameters = {
        "preset": config.name,
        "dataset": config.dataset,
        "run": run.name,
        "overrides": overrides,
        "artifacts_dir": str(Path(args.artifacts).resolve()),
        "data_dir": str(Path(args.data_dir).resolve()),
    }
    print(f"run {run.name}: preset={config.name} dataset={config.dataset} -> {run.root}", flush=True)
    os.environ.setdefault("TQDM_MININTERVAL", "5")

    timings: list[tuple[str, float, str]] = []
    failed = None
    with tempfile.TemporaryDirectory(prefix="sidrec-kernels-") as socket_dir:
        for notebook in notebooks:
            output = executed_dir / notebook.name
            print(f"  running {notebook.name} ...", flush=True)
            start = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters=parameters,
                    kernel_name="python3",
                    cwd=str(NOTEBOOKS),
                    progress_bar=False,
                    **kernel_settings(Path(socket_dir)),
                )
                timings.append((notebook.name, time.perf_counter() - start, "ok"))
            except PapermillExecutionError as e:
                timings.append((notebook.name, time.perf_counter() - start, "FAILED"))
                source = e.source.strip().splitlines()
                failed = (
                    f"{notebook.name} failed in cell {e.cell_index} (execution count {e.exec_count}):\n"
                    + "\n".join(f"    | {line}" for line in source[:12])
                    + f"\n  {e.ename}: {e.evalue}\n  executed copy: {output}"
                )
                break
            except Exception as e:  # a dead kernel (out of memory, killed) or one that never started
                timings.append((notebook.name, time.perf_counter() - start, "FAILED"))
                failed = stopped_message(notebook.name, e, output)
                break

    width = max(len(name) for name, _, _ in timings) if timings else 10
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  status")
    for name, seconds, status in timings:
        print(f"{name:<{width}}  {seconds:8.1f}  {status}")
    print(f"{'total':<{width}}  {sum(t for _, t, _ in timings):8.1f}")
    summary = write_summary(run)
    pages = write_html(run)
    print(f"\nexecuted notebooks: {executed_dir}\nsummary: {summary}\nas web pages: {pages}")
    if failed:
        print(f"\n{failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
