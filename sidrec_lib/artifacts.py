"""The contract between notebooks: ``artifacts/<run>/<NN_step>/`` folders with a manifest.

Each step writes its files into a hidden ``.partial`` folder, then ``finish`` adds
``manifest.json`` (parameters, hashes of the upstream manifests, library version, timings,
file hashes) and ``metrics.json`` and swaps the folder into place, so a step's output is either
complete or absent. A later step calls :meth:`Run.require`, which stops with the notebook to
run when an input is missing, was made with other parameters, or is older than its own inputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sidrec_lib import __version__
from sidrec_lib.presets import PRESETS, Preset, get_preset

STEPS: dict[str, str] = {
    "01_prepare": "01_prepare.ipynb",
    "02_embed": "02_embed.ipynb",
    "03_semantic_ids": "03_semantic_ids.ipynb",
    "04_vocabulary": "04_vocabulary.ipynb",
    "05_sft": "05_sft.ipynb",
    "06_evaluate": "06_evaluate.ipynb",
}


class StepInputError(RuntimeError):
    """An input step is missing, stale, or was made with other parameters."""


def step_params(preset: Preset, step: str) -> dict[str, Any]:
    """The preset fields that determine ``step``'s output (what its manifest records)."""
    if step == "01_prepare":
        builtin = preset.to_dict()["builtin"] if preset.dataset == "builtin" else None
        return {"dataset": preset.dataset, "builtin": builtin, "prepare": preset.to_dict()["prepare"]}
    if step == "02_embed":
        return {"embed": preset.to_dict()["embed"]}
    if step == "03_semantic_ids":
        return {"semantic_ids": preset.to_dict()["semantic_ids"]}
    if step == "04_vocabulary":
        values = preset.to_dict()
        corpus_fields = (  # the stage-1 corpus
            "sequence_history", "sequence_repeats", "fact_repeats", "listing_repeats", "listing_size",
            "steer_listings_per_user", "steer_pool", "max_history",
        )  # fmt: skip
        corpus = {key: values["tasks"][key] for key in corpus_fields}
        return {"model": values["model"], "stage1": values["stage1"], "corpus": corpus}
    if step == "05_sft":
        return {"tasks": preset.to_dict()["tasks"], "stage2": preset.to_dict()["stage2"]}
    if step == "06_evaluate":
        return {"evaluate": preset.to_dict()["evaluate"]}
    raise ValueError(f"Unknown step {step!r}; steps are {list(STEPS)}.")


def default_run_name(preset: Preset) -> str:
    """``<preset>`` for the preset's own dataset, ``<preset>-<dataset slug>`` otherwise."""
    if preset.name in PRESETS and PRESETS[preset.name].dataset == preset.dataset:
        return preset.name
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(preset.dataset.rstrip("/")).name or preset.dataset).strip("-")
    return f"{preset.name}-{slug.lower()}"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON next to ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} to JSON")


def open_run(
    preset: str,
    dataset: str | None = None,
    run: str | None = None,
    overrides: dict[str, Any] | None = None,
    artifacts_dir: str | Path = "artifacts",
) -> tuple[Preset, Run]:
    """What every notebook's first cell does: the preset with its overrides, and the run folder."""
    config = get_preset(preset, {**(overrides or {}), **({"dataset": dataset} if dataset else {})})
    return config, Run(artifacts_dir, run or default_run_name(config))


class Run:
    """One run's artifact folder, ``<artifacts_dir>/<name>``."""

    def __init__(self, artifacts_dir: str | Path, name: str):
        self.root = Path(artifacts_dir).resolve() / name
        self.name = name

    def step_dir(self, step: str) -> Path:
        if step not in STEPS:
            raise ValueError(f"Unknown step {step!r}; steps are {list(STEPS)}.")
        return self.root / step

    def manifest(self, step: str) -> dict[str, Any]:
        return json.loads((self.step_dir(step) / "manifest.json").read_text())

    def metrics(self, step: str) -> dict[str, Any]:
        return json.loads((self.step_dir(step) / "metrics.json").read_text())

    def manifest_hash(self, step: str) -> str:
        return sha256_file(self.step_dir(step) / "manifest.json")

    def require(self, step: str, preset: Preset) -> Path:
        """Return ``step``'s folder if it exists, matches ``preset`` and is fresh; else stop."""
        folder = self.step_dir(step)
        notebook = f"notebooks/{STEPS[step]}"
        rerun = (
            f"Run {notebook} first (preset={preset.name!r}, dataset={preset.dataset!r}, run={self.name!r})."
        )
        if not (folder / "manifest.json").is_file():
            raise StepInputError(f"Step {step} has no output in {folder}. {rerun}")
        manifest = self.manifest(step)
        expected = json.loads(json.dumps(step_params(preset, step), default=_json_default))
        if manifest.get("params") != expected:
            diff = _param_diff(manifest.get("params", {}), expected)
            raise StepInputError(f"Step {step} in {folder} was made with other parameters ({diff}). {rerun}")
        for upstream, recorded in manifest.get("upstream", {}).items():
            self.require(upstream, preset)
            if self.manifest_hash(upstream) != recorded:
                raise StepInputError(
                    f"Step {step} in {folder} was made from an older {upstream}. Re-run {notebook}."
                )
        return folder

    def start(self, step: str, preset: Preset, upstream: list[str] = ()) -> StepWriter:
        """Begin writing ``step``; checks that every upstream step is present and fresh."""
        for name in upstream:
            self.require(name, preset)
        return StepWriter(self, step, step_params(preset, step), {u: self.manifest_hash(u) for u in upstream})


def _param_diff(found: dict[str, Any], expected: dict[str, Any], prefix: str = "") -> str:
    diffs = []
    for key in sorted(set(found) | set(expected)):
        a, b = found.get(key), expected.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = _param_diff(a, b, f"{prefix}{key}.")
            if inner:
                diffs.append(inner)
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} there, {b!r} now")
    return "; ".join(diffs)


class StepWriter:
    """Collects one step's files in a partial folder; :meth:`finish` publishes them."""

    def __init__(self, run: Run, step: str, params: dict[str, Any], upstream: dict[str, str]):
        self.run, self.step, self.params, self.upstream = run, step, params, upstream
        self.final_dir = run.step_dir(step)
        self.dir = run.root / f".{step}.partial"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    def path(self, name: str) -> Path:
        """Where to write the output file ``name`` (sub-folders are created)."""
        target = self.dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @contextlib.contextmanager
    def timer(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)

    def finish(self, metrics: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
        """Write manifest and metrics, then replace the step's folder in one rename."""
        self.timings["total"] = round(time.perf_counter() - self._started, 3)
        files = {
            str(p.relative_to(self.dir)): sha256_file(p) for p in sorted(self.dir.rglob("*")) if p.is_file()
        }
        manifest = {
            "step": self.step,
            "run": self.run.name,
            "params": self.params,
            "upstream": self.upstream,
            "library_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "timings_s": self.timings,
            "files": files,
            **(extra or {}),
        }
        write_json_atomic(self.dir / "metrics.json", metrics)
        write_json_atomic(self.dir / "manifest.json", manifest)
        old = self.run.root / f".{self.step}.old"
        if old.exists():
            shutil.rmtree(old)
        if self.final_dir.exists():
            os.replace(self.final_dir, old)
        os.replace(self.dir, self.final_dir)
        shutil.rmtree(old, ignore_errors=True)
        return self.final_dir
