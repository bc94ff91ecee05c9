"""The contract between notebooks: ``artifacts/<run>/<NN_step>/`` folders with a manifest.

Each step writes its files into a hidden ``.partial`` folder, then ``finish`` adds
``manifest.json`` (parameters, hashes of the upstream manifests, library version, timings,
each file's size and hash) and ``metrics.json`` and swaps the folder into place, so a step's
output is either complete or absent. A step is written by one process at a time: a second writer
of the same step of the same run is refused while the first holds the step's lock file.

A later step calls :meth:`Run.require`, which stops with the notebook to run when an input is
missing, was made with other parameters, is older than its own inputs, or has a file that is no
longer the one its manifest recorded (deleted, truncated or replaced).
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
from sidrec_lib.files import write_text_atomic

try:  # POSIX; elsewhere steps are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None
from sidrec_lib.presets import PRESETS, Preset, get_preset

STEPS: dict[str, str] = {
    "01_prepare": "01_prepare.ipynb",
    "02_embed": "02_embed.ipynb",
    "03_semantic_ids": "03_semantic_ids.ipynb",
    "04_vocabulary": "04_vocabulary.ipynb",
    "05_sft": "05_sft.ipynb",
    "06_evaluate": "06_evaluate.ipynb",
}


RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class StepInputError(RuntimeError):
    """An input step is missing, stale, was made with other parameters, or its files changed."""


class StepBusyError(RuntimeError):
    """Another process is writing the same step of the same run."""


def check_run_name(name: str) -> str:
    """``name`` if it can name a folder under the artifacts folder, else a clear error."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"Run name {name!r} cannot name a folder under the artifacts folder: use letters, digits, "
            "'.', '_' and '-', starting with a letter or digit (e.g. --run mine)."
        )
    return name


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
        return {"model": values["model"], "stage1": values["stage1"], "corpus": values["corpus"]}
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


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) → sha256, for this process


def _known_digest(path: Path) -> str:
    """``sha256_file(path)``, hashed once per process for a file whose size and time are unchanged."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON next to ``path`` and rename it into place."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


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
        self.root = Path(artifacts_dir).resolve() / check_run_name(name)
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
        _check_files(folder, manifest.get("files", {}), f"Re-run {notebook}.")
        return folder

    def start(self, step: str, preset: Preset, upstream: list[str] = ()) -> StepWriter:
        """Begin writing ``step``; checks that every upstream step is present and fresh."""
        for name in upstream:
            self.require(name, preset)
        return StepWriter(self, step, step_params(preset, step), {u: self.manifest_hash(u) for u in upstream})


def _check_files(folder: Path, files: dict[str, Any], rerun: str) -> None:
    """Each file the manifest lists is there, with the size and hash it was written with.

    The hash of a file is computed once per process (while its size and time stay the same), so
    the checks of a chain of steps cost one read of each file.
    """
    for name, recorded in files.items():
        # Manifests of older library versions record the hash alone.
        digest, size = (
            (recorded, None) if isinstance(recorded, str) else (recorded["sha256"], recorded["bytes"])
        )
        path = folder / name
        if not path.is_file():
            raise StepInputError(f"{path} is missing (its step wrote it). {rerun}")
        found = path.stat().st_size
        if size is not None and found != size:
            raise StepInputError(
                f"{path} has {found:,} bytes, not the {size:,} it was written with (cut short or replaced). "
                f"{rerun}"
            )
        if _known_digest(path) != digest:
            raise StepInputError(f"{path} is not the file its step wrote (its contents changed). {rerun}")


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
        self._lock = _StepLock(run.root / f".{step}.lock", f"step {step} of run {run.name!r}")
        if self.dir.exists():  # left by a writer that stopped before finishing
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
        write_json_atomic(self.dir / "metrics.json", metrics)
        files = {
            str(p.relative_to(self.dir)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(self.dir.rglob("*"))
            if p.is_file()
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
        write_json_atomic(self.dir / "manifest.json", manifest)
        old = self.run.root / f".{self.step}.old"
        if old.exists():
            shutil.rmtree(old)
        if self.final_dir.exists():
            os.replace(self.final_dir, old)
        os.replace(self.dir, self.final_dir)
        shutil.rmtree(old, ignore_errors=True)
        self._lock.release()
        return self.final_dir


_HELD_LOCKS: dict[Path, _StepLock] = {}  # the step locks this process holds


class _StepLock:
    """An exclusive lock on ``path`` (``flock``), held until :meth:`release` or the process ends.

    Another process asking for it gets :class:`StepBusyError`. The same process asking again (a
    notebook cell run a second time) takes it over from its earlier, unfinished writer.
    """

    def __init__(self, path: Path, what: str):
        self.path = path
        if path in _HELD_LOCKS:
            _HELD_LOCKS.pop(path).release()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a+")  # noqa: SIM115 (held open for the lock's lifetime)
        if fcntl is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._file.seek(0)
                holder = self._file.read().strip() or "unknown"
                self._file.close()
                raise StepBusyError(
                    f"Another process (pid {holder}) is writing {what} ({path}); wait for it to finish, "
                    "or stop it and run again."
                ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()
        _HELD_LOCKS[path] = self

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()  # closing drops the flock
        if _HELD_LOCKS.get(self.path) is self:
            del _HELD_LOCKS[self.path]
