"""The notebook tier: the course at the ci preset through papermill, asserting on metrics.json."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    data = tmp_path_factory.mktemp("data")
    command = [
        sys.executable,
        "ci/run_notebooks.py",
        "--preset",
        "ci",
        "--dataset",
        "builtin",
        "--run",
        "ci",
        "--artifacts",
        str(artifacts),
        "--data-dir",
        str(data),
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return artifacts / "ci", proc


def metrics(run_dir, step):
    return json.loads((run_dir / step / "metrics.json").read_text())


def test_driver_runs_every_notebook(course):
    run_dir, proc = course
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "total" in proc.stdout and "summary:" in proc.stdout
    executed = sorted(p.name for p in (run_dir / "executed").glob("*.ipynb"))
    assert executed == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    summary = (run_dir / "summary.md").read_text()
    assert "## 01_prepare" in summary and ".png)" in summary


def test_01_prepare(course):
    m = metrics(course[0], "01_prepare")
    assert m["source"] == "builtin"
    assert 300 <= m["items"] <= 400 and 800 <= m["users"] <= 1000
    assert m["sequence_length"]["min"] >= 5
    assert m["split_sizes"]["valid"] == m["split_sizes"]["test"] == m["users"]
    assert m["top10pct_item_share"] > 0.25  # a long tail
    stages = [row["stage"] for row in m["filter_counts"]]
    assert stages[0] == "read" and stages[-1].startswith("5-core")
    assert all(row["malformed"] == 0 for row in m["read_report"])


def test_02_embed(course):
    m = metrics(course[0], "02_embed")
    assert m["dim"] == 384 and m["items"] == metrics(course[0], "01_prepare")["items"]
    genre = m["neighbour_agreement_at_5"]["genre"]
    assert genre["agreement"] > 2 * genre["chance"]


def test_03_semantic_ids(course):
    m = metrics(course[0], "03_semantic_ids")
    assert m["unique"] is True
    assert m["items"] == metrics(course[0], "01_prepare")["items"]
    assert m["level_mse"] == sorted(m["level_mse"], reverse=True)
    for attribute in ("genre", "franchise"):
        coherence = m["coherence"][f"{attribute}@prefix1"]
        assert coherence["purity"] > coherence["random"] + 0.1


def test_a_step_with_missing_inputs_names_the_notebook_to_run(tmp_path):
    command = [
        sys.executable,
        "ci/run_notebooks.py",
        "--preset",
        "ci",
        "--only",
        "02",
        "--artifacts",
        str(tmp_path),
        "--run",
        "empty",
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "02_embed.ipynb failed in cell" in proc.stderr
    assert "Run notebooks/01_prepare.ipynb first" in proc.stderr
