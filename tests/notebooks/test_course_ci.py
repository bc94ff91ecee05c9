"""The notebook tier: the course at the ci preset through papermill, asserting on metrics.json."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sidrec_lib.train import complete_checkpoint
from tests.conftest import ROOT, save_hub_like_model

pytestmark = pytest.mark.notebooks


def run_course(tmp_path_factory, *options: str) -> tuple[Path, subprocess.CompletedProcess]:
    """``ci/run_notebooks.py --preset ci --run ci`` into fresh artifacts and data folders."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    data = tmp_path_factory.mktemp("data")
    command = [sys.executable, "ci/run_notebooks.py", "--preset", "ci", "--run", "ci", *options]
    command += ["--artifacts", str(artifacts), "--data-dir", str(data)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return artifacts / "ci", proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return run_course(tmp_path_factory, "--dataset", "builtin")


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
    platform = m["cooccurrence_neighbour_agreement_at_5"]["platform_family"]  # one shopper, one console
    assert platform["agreement"] > 2 * platform["chance"]


def test_03_semantic_ids(course):
    m = metrics(course[0], "03_semantic_ids")
    assert m["unique"] is True
    assert m["items"] == metrics(course[0], "01_prepare")["items"]
    assert m["level_mse"] == sorted(m["level_mse"], reverse=True)
    # The ci preset builds its codes from text and behaviour vectors: behaviour mostly decides the
    # first code (platform), text the second (genre, franchise).
    for attribute in ("genre", "franchise", "platform_family"):
        coherence = m["coherence"][f"{attribute}@prefix2"]
        assert coherence["purity"] > coherence["random"] + 0.1, attribute
        assert 0 <= coherence["text_only"] <= 1
    # Codes per level sized to the catalog (400 items: 32), beside half and twice as many.
    assert m["codes"] == 32
    compared = m["settings_compared"]
    assert [(row["codes"], row["balanced"]) for row in compared] == [
        (k, b) for k in (16, 32, 64) for b in (False, True)
    ]
    plain = [row for row in compared if not row["balanced"]]
    assert plain[1]["collision_rate"] == pytest.approx(m["collision_rate"])
    assert plain[0]["final_mse"] > plain[1]["final_mse"] > plain[2]["final_mse"]  # more codes, less error
    # The RQ-VAE beside RQ-k-means, on the same vectors, levels and codes.
    rqkmeans, rqvae = m["quantisers_compared"]
    assert (rqkmeans["quantiser"], rqvae["quantiser"]) == ("RQKMeans", "RQVAE")
    assert rqkmeans["collision_rate"] == pytest.approx(m["collision_rate"])
    assert rqvae["codes"] == m["codes"] and 0 <= rqvae["collision_rate"] < 1
    assert rqvae["final_mse"] < 1.0  # the vectors have norm 1: the codes rebuild part of them


def test_04_vocabulary(course):
    m = metrics(course[0], "04_vocabulary")
    levels = metrics(course[0], "03_semantic_ids")["levels"]
    assert m["base"] == "scratch" and m["trained_parameters"] == m["parameters"]
    assert m["vocab_after"] - m["vocab_before"] == m["sid_tokens"]
    assert m["example_sid_tokens_after"] == levels + 3 < m["example_sid_tokens_before"]
    assert m["final_loss"] < m["first_loss"]
    assert m["title_to_sid_accuracy_after"] >= m["title_to_sid_accuracy_before"]


def test_05_sft(course):
    m = metrics(course[0], "05_sft")
    assert set(m["task_counts"]) == {
        "next_item",
        "sid_to_title",
        "title_to_sid",
        "request",
        "steer",
        "explain",
        "compound",
    }
    assert m["final_loss"] < 0.8 * m["first_loss"]
    model_dir = course[0] / "05_sft" / "model"
    assert (model_dir / "README.md").is_file()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert "<|sid_start|>" in tokenizer.get_vocab()


def test_06_evaluate(course):
    m = metrics(course[0], "06_evaluate")
    test = m["test"]
    assert set(test) == {"hybrid (SID LM)", "SASRec", "SASRec (Cornac)", "most popular"}
    for name, scores in test.items():
        assert scores["users"] == m["users"] == 300
        assert scores["full_lists"] == 1.0, name  # 20 distinct items for every user
        assert scores["recall@5"] <= scores["recall@10"] <= scores["recall@20"]
        assert scores["ndcg@10_lo"] <= scores["ndcg@10"] <= scores["ndcg@10_hi"]
    assert test["SASRec"]["ndcg@10"] > test["most popular"]["ndcg@10"]
    assert m["constrained_valid_share"] == 1.0
    # The hybrid's bar is the stronger SASRec on test, ours or Cornac's.
    strongest = m["strongest_sasrec"]
    assert test[strongest]["ndcg@10"] == max(test[n]["ndcg@10"] for n in ("SASRec", "SASRec (Cornac)"))
    assert isinstance(m["hybrid_beats_sasrec_ndcg10"], bool)
    gap = test["hybrid (SID LM)"]["ndcg@10"] - test[strongest]["ndcg@10"]
    assert m["ndcg10_minus_sasrec"] == pytest.approx(gap)
    assert m["ndcg10_ratio_to_sasrec"] == pytest.approx(
        test["hybrid (SID LM)"]["ndcg@10"] / test[strongest]["ndcg@10"]
    )
    sweep = m["cornac_sasrec"]["sweep"]
    assert [row["setting"] for row in sweep] == ["dim=32 max_len=10", "dim=32 dropout=0.5 max_len=10"]
    assert 1 <= m["cornac_sasrec"]["best_epoch"] <= 2
    assert m["ndcg10_minus_sasrec_lo"] <= m["ndcg10_minus_sasrec"] <= m["ndcg10_minus_sasrec_hi"]
    kinds = {key.split("|")[2] for key in m["steering"]}
    attributes = {key.split("|")[1] for key in m["steering"]}
    assert kinds == {"catalog", "history", "oracle"}
    assert attributes == {"platform", "genre", "franchise", "price_tier", "multiplayer"}
    assert all(0 <= row["precision@10"] <= row["ceiling@10"] <= 1 for row in m["steering"].values())
    models = {key.split("|")[0] for key in m["steering"]}
    assert models == {"hybrid (SID LM)", "SASRec + parsed request", "SASRec + true values (upper bound)",
                      "request retrieval"}  # fmt: skip
    # The true values are a filter that never errs: no classic list meets the request more often.
    for key, row in m["steering"].items():
        if key.startswith("SASRec + true values"):
            assert row["precision@10"] == pytest.approx(row["ceiling@10"]), key
    # Compound requests: every kind in both variants, a verdict per kind, and how well they parse.
    assert {tuple(key.split("|")[1:]) for key in m["compound"]} == {
        (kind, variant)
        for kind in ("pair", "negation", "like_but", "refine")
        for variant in ("history", "oracle")
    }
    assert set(m["compound_verdicts"]) == {"pair", "negation", "like_but", "refine"}
    assert all(isinstance(row["wins"], bool) for row in m["compound_verdicts"].values())
    assert set(m["parse_accuracy"]) == attributes | set(m["compound_verdicts"])
    assert all(0 <= row["exact"] <= row["found"] <= 1 for row in m["parse_accuracy"].values())
    explanations = m["explanations"]
    assert explanations["replies"] == 30 and explanations["with_bad_sid"] == 0  # replies write catalog SIDs
    chat = (course[0] / "06_evaluate" / "conversations.md").read_text()
    assert chat.count("### user") == 3 and "only those" in chat  # the refining second turn
    summary = (course[0] / "summary.md").read_text()
    assert "## 06_evaluate" in summary and "test_metrics.png" in summary


def test_training_cli_resumes_after_an_interruption(course, tmp_path):
    """`python -m sidrec_lib.train --config job.yaml`, killed after a checkpoint, then run again."""
    run_dir = tmp_path / "ci"
    shutil.copytree(course[0], run_dir, ignore=shutil.ignore_patterns("05_sft", "executed"))
    job = tmp_path / "job.yaml"
    overrides = {"stage2.max_steps": 60, "stage2.save_steps": 10, "stage2.logging_steps": 5}
    job.write_text(
        yaml.safe_dump(
            {"stage": 2, "preset": "ci", "run": "ci", "artifacts_dir": str(tmp_path), "overrides": overrides}
        )
    )
    command = [sys.executable, "-m", "sidrec_lib.train", "--config", str(job)]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while max(whole_checkpoints(run_dir), default=0) < 20 and time.monotonic() < deadline:
        if first.poll() is not None:
            pytest.fail("training finished before it could be interrupted")
        time.sleep(0.1)
    first.kill()
    first.wait()
    saved = max(whole_checkpoints(run_dir))
    assert 20 <= saved < 60 and not (run_dir / "05_sft").exists()
    # A kill in the middle of a save leaves a checkpoint folder without its state file: passed over.
    cut_short = next(run_dir.glob(".checkpoints/05_sft-*")) / f"checkpoint-{saved + 10}"
    cut_short.mkdir(exist_ok=True)
    (cut_short / "model.safetensors").write_bytes(b"\0" * 64)

    # Checkpoints of another parameter set of the same step, left by an earlier run.
    stale = run_dir / ".checkpoints" / "05_sft-0123456789ab" / "checkpoint-10"
    stale.mkdir(parents=True)

    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = metrics(run_dir, "05_sft")
    assert m["resumed_from_step"] == saved and m["steps"] == 60
    assert not list(run_dir.glob(".checkpoints/05_sft-*"))  # checkpoints go once the step is published


def final_loss(log: list[dict], last: int = 5) -> float:
    """Mean of the last ``last`` logged training losses of a train_log.json."""
    return float(np.mean([row["loss"] for row in log if "loss" in row][-last:]))


def test_accelerate_launch_trains_both_stages_on_two_processes(course, tmp_path):
    """Both stages under ``accelerate launch --num_processes 2 --cpu``, stage 1 killed after a
    checkpoint and launched again: one model folder, written once, and a loss curve close to the
    single-process course's (each process takes half of the course's batch)."""
    run_dir = tmp_path / "ci"
    shutil.copytree(course[0], run_dir, ignore=shutil.ignore_patterns("04_*", "05_*", "06_*", "executed"))
    overrides = {"stage1.batch_size": 8, "stage2.batch_size": 8}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]

    def command(stage: int) -> list[str]:
        job = tmp_path / f"stage{stage}.yaml"
        fields = {"stage": stage, "preset": "ci", "run": "ci", "artifacts_dir": str(tmp_path)}
        job.write_text(yaml.safe_dump({**fields, "overrides": overrides}))
        return [*launch, "-m", "sidrec_lib.train", "--config", str(job)]

    first = subprocess.Popen(
        command(1), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while not whole_checkpoints(run_dir, "04_vocabulary") and time.monotonic() < deadline:
        if first.poll() is not None:
            pytest.fail("stage 1 finished before it could be interrupted")
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    saved = max(whole_checkpoints(run_dir, "04_vocabulary"))
    for stage in (1, 2):
        proc = subprocess.run(command(stage), cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        assert proc.stdout.count("wrote ") == 1  # the main process reports; the other waits
    assert metrics(run_dir, "04_vocabulary")["resumed_from_step"] == saved
    for step in ("04_vocabulary", "05_sft"):
        m = metrics(run_dir, step)
        assert m["steps"] == metrics(course[0], step)["steps"]
        assert sorted(p.relative_to(run_dir) for p in run_dir.glob(f"{step}/**/*.safetensors")) == [
            Path(step, "model", "model.safetensors")
        ]
        single = json.loads((course[0] / step / "train_log.json").read_text())
        double = json.loads((run_dir / step / "train_log.json").read_text())
        # Stage 2 starts from each run's own stage-1 model, so the curves match only roughly.
        assert final_loss(double) == pytest.approx(final_loss(single), rel=0.25), step
        assert final_loss(double) < m["first_loss"], step


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_notebooks_04_to_06_run_on_a_pretrained_base(course, tmp_path, tied):
    """``model.base=<folder>``: a hub-like model (own tokenizer and chat template, no generation
    markers) through stage 1, stage 2 and the evaluation, with short budgets. Its small tokenizer
    spells item texts in many tokens, hence the longer ``max_length``."""
    base = save_hub_like_model(tmp_path / "base", tied=tied)
    run_dir = tmp_path / "ci"
    shutil.copytree(course[0], run_dir, ignore=shutil.ignore_patterns("04_*", "05_*", "06_*", "executed"))
    short = [
        f"model.base={base}", "model.max_length=2048", "stage1.max_steps=30", "stage2.max_steps=30",
        "evaluate.users=40", "evaluate.bootstrap=20", "evaluate.steer_per_attribute=4",
        "evaluate.steer_per_kind=4", "evaluate.explanations=5", "evaluate.sasrec_epochs=2",
        "evaluate.cornac_epochs=1", "evaluate.cornac_dropouts=[0.2]",
    ]  # fmt: skip
    command = [sys.executable, "ci/run_notebooks.py", "--preset", "ci", "--run", "ci", "--only", "04,05,06"]
    command += ["--artifacts", str(tmp_path), *[option for value in short for option in ("--set", value)]]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    stage1, stage2 = metrics(run_dir, "04_vocabulary"), metrics(run_dir, "05_sft")
    assert stage1["base"] == stage2["base"] == str(base)
    # Only the embedding matrices take gradients (a row mask keeps all but the SID rows as they were).
    hidden = 32
    assert stage1["trained_parameters"] == stage1["vocab_after"] * hidden * (1 if tied else 2)
    assert stage1["trained_parameters"] < stage1["parameters"]
    assert stage2["final_loss"] < stage2["first_loss"]
    evaluation = metrics(run_dir, "06_evaluate")
    assert evaluation["test"]["hybrid (SID LM)"]["full_lists"] == 1.0
    assert evaluation["constrained_valid_share"] == 1.0


def whole_checkpoints(run_dir: Path, step: str = "05_sft") -> list[int]:
    """Steps of a training step's checkpoints that the trainer finished saving."""
    folders = run_dir.glob(f".checkpoints/{step}-*/checkpoint-*")
    return [int(folder.name.split("-")[1]) for folder in folders if complete_checkpoint(folder)]


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


def test_a_tampered_step_file_names_the_notebook_to_rerun(course, tmp_path):
    run_dir = tmp_path / "ci"
    for step in ("01_prepare", "02_embed"):
        shutil.copytree(course[0] / step, run_dir / step)
    vectors = run_dir / "02_embed" / "embeddings.npy"
    np.save(vectors, np.load(vectors)[::-1])  # same size, other contents
    command = [sys.executable, "ci/run_notebooks.py", "--preset", "ci", "--only", "03", "--run", "ci"]
    proc = subprocess.run(command + ["--artifacts", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "03_semantic_ids.ipynb failed in cell" in proc.stderr
    assert "embeddings.npy is not the file its step wrote" in proc.stderr
    assert "Re-run notebooks/02_embed.ipynb" in proc.stderr
    assert not (run_dir / "03_semantic_ids").exists()


def without_timings(value):
    """``value`` (parsed metrics.json) without the wall-clock figures, which no two runs share."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not k.endswith("seconds")}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_a_second_run_reproduces_every_figure(course, tmp_path_factory):
    """The whole course again, from an empty data folder: every step's metrics.json is the same."""
    again, proc = run_course(tmp_path_factory, "--dataset", "builtin")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for step in sorted(p.parent.name for p in course[0].glob("*/metrics.json")):
        first, second = metrics(course[0], step), metrics(again, step)
        assert without_timings(first) == without_timings(second), step
