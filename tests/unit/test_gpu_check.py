"""benchmarks/gpu_check.sh needs a GPU to run; what it would run must resolve without one."""

import importlib.util
import shlex
import subprocess
import sys

import pytest

from sidrec_lib.presets import get_preset, parse_overrides
from tests.conftest import ROOT


def _module(path: str):
    spec = importlib.util.spec_from_file_location(path.replace("/", "_").removesuffix(".py"), ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _steps() -> list[list[str]]:
    out = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def test_gpu_check_runs_the_course_then_both_benchmarks():
    assert [step[0] for step in _steps()] == [
        "ci/run_notebooks.py",
        "benchmarks/bench_decode.py",
        "benchmarks/bench_train.py",
    ]


@pytest.mark.parametrize("index", range(3))
def test_each_gpu_check_step_parses_and_its_preset_resolves(index):
    script, *argv = _steps()[index]
    args = _module(script).parse_args(argv)
    if hasattr(args, "preset"):
        preset = get_preset(args.preset, parse_overrides(getattr(args, "set", None) or []))
        assert preset.model.base == "scratch"  # nothing fetched from a hub
        assert preset.model.dtype == "bfloat16" and preset.stage1.bf16 and preset.stage2.bf16
    assert args.run == _steps()[0][_steps()[0].index("--run") + 1]  # every step reads the same run


def test_gpu_check_refuses_unknown_arguments():
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--fast"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage" in done.stderr
