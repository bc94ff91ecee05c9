import base64
import json
import multiprocessing
import subprocess
import sys

import nbformat
import pytest

from sidrec_lib.artifacts import Run, StepBusyError, StepInputError, default_run_name, open_run
from sidrec_lib.presets import get_preset
from sidrec_lib.summary import headline, write_html, write_summary
from tests.conftest import ROOT


def test_overrides_and_their_errors():
    preset = get_preset("ci", {"semantic_ids.codes": 8, "dataset": "/some/dir"})
    assert preset.semantic_ids.codes == 8 and preset.dataset == "/some/dir"
    assert get_preset("ci").semantic_ids.codes != 8  # presets are not mutated
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        get_preset("nope")
    with pytest.raises(ValueError, match="Unknown preset field 'semantic_ids.kodes'"):
        get_preset("ci", {"semantic_ids.kodes": 8})
    with pytest.raises(ValueError, match="is a section"):
        get_preset("ci", {"prepare": 3})


def test_override_values_take_the_fields_types():
    preset = get_preset(
        "ci",
        {
            "stage1.learning_rate": "3e-3",  # YAML 1.1 reads 3e-3 as text
            "stage2.epochs": 2,
            "evaluate.history_choices": [5, 20],
            "embed.prompt": "query: ",
        },
    )
    assert preset.stage1.learning_rate == 0.003 and isinstance(preset.stage2.epochs, float)
    assert preset.evaluate.history_choices == (5, 20) and preset.embed.prompt == "query: "
    for key, value in [
        ("stage1.learning_rate", "fast"),
        ("stage1.batch_size", 2.5),
        ("stage1.padding_free", "yes please"),
        ("semantic_ids.codes", True),
        ("model.base", 3),
    ]:
        with pytest.raises(ValueError, match=f"Preset field '{key}' expects"):
            get_preset("ci", {key: value})


def test_run_names():
    assert default_run_name(get_preset("ci")) == "ci"
    assert default_run_name(get_preset("ci", {"dataset": "../shared/data/amazon18-industrial/"})) == (
        "ci-amazon18-industrial"
    )
    assert (
        default_run_name(get_preset("cpu", {"dataset": "amazon2023:Video_Games"}))
        == "cpu-amazon2023-video-games"
    )


def finish(run, step, preset, upstream=(), value=1):
    writer = run.start(step, preset, upstream=list(upstream))
    writer.path("data.txt").write_text(str(value))
    return writer.finish({"value": value})


def test_steps_publish_whole_folders_and_check_their_inputs(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    with pytest.raises(StepInputError, match=r"Run notebooks/01_prepare\.ipynb first"):
        run.require("01_prepare", preset)
    with pytest.raises(StepInputError, match="01_prepare"):
        run.start("02_embed", preset, upstream=["01_prepare"])

    folder = finish(run, "01_prepare", preset)
    assert sorted(p.name for p in folder.iterdir()) == ["data.txt", "manifest.json", "metrics.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["params"]["prepare"]["kcore"] == preset.prepare.kcore
    assert "total" in manifest["timings_s"] and "data.txt" in manifest["files"]
    assert not list(tmp_path.glob("ci/.*.partial")) + list(tmp_path.glob("ci/.*.old"))  # none left behind

    finish(run, "02_embed", preset, upstream=["01_prepare"])
    assert run.require("02_embed", preset)

    other = get_preset("ci", {"prepare.kcore": 3})
    with pytest.raises(StepInputError, match=r"other parameters \(prepare.kcore: 5 there, 3 now\)"):
        run.require("02_embed", other)

    finish(run, "01_prepare", preset, value=2)  # 01 re-run: 02 is now stale
    with pytest.raises(StepInputError, match="made from an older 01_prepare"):
        run.require("02_embed", preset)


def test_an_interrupted_step_leaves_the_previous_output(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    finish(run, "01_prepare", preset, value=1)
    writer = run.start("01_prepare", preset)
    writer.path("data.txt").write_text("half")  # never finished
    assert (run.step_dir("01_prepare") / "data.txt").read_text() == "1"
    assert run.require("01_prepare", preset)


def test_summary_shows_each_steps_key_figures_and_plots(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    writer = run.start("01_prepare", preset)
    writer.path("plots/lengths.png").write_bytes(b"png")
    lengths = {"median": 4.5, "mean": 5.0, "min": 3, "max": 9}
    writer.finish({"users": 10, "items": 4, "interactions": 30, "sequence_length": lengths, "table": [1, 2]})
    finish(run, "02_embed", preset, upstream=["01_prepare"], value=7)  # metrics of another shape
    text = write_summary(run).read_text()
    assert "- preset `ci`; 2 of 6 steps finished, not yet 03_semantic_ids" in text
    assert "- dataset `builtin`: 4 items, 10 users, 30 interactions" in text
    assert "## 01_prepare" in text and "[metrics.json](01_prepare/metrics.json)" in text
    assert "- users, items, interactions: 10, 4, 30" in text
    assert "- history length: median 4.5, mean 5.0, from 3 to 9" in text
    assert "![lengths](01_prepare/plots/lengths.png)" in text
    assert "## 02_embed" in text and "- value: 7" in text  # its top-level figures instead
    assert "sequence_length" not in text and "## Results" not in text
    assert "No step has finished yet." in write_summary(Run(tmp_path, "empty")).read_text()


@pytest.mark.parametrize("name", ["../../x", "..", ".", "a/b", "/abs", ".hidden", "a\\b", "x/../y"])
def test_run_names_cannot_leave_the_artifacts_folder(tmp_path, name):
    with pytest.raises(ValueError, match="cannot name a folder under the artifacts folder"):
        open_run("ci", run=name, artifacts_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.unlink(), "is missing"),
        (lambda path: path.write_text(path.read_text()[:1]), "cut short or replaced"),
        (lambda path: path.write_text("34"), "contents changed"),
    ],
    ids=["deleted", "truncated", "replaced"],
)
def test_a_damaged_step_file_names_the_notebook_to_rerun(tmp_path, damage, message):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    finish(run, "01_prepare", preset, value=12)
    finish(run, "02_embed", preset, upstream=["01_prepare"])
    damage(run.step_dir("01_prepare") / "data.txt")
    for step in ("01_prepare", "02_embed"):  # the step itself and every step made from it
        with pytest.raises(StepInputError, match=message + r".*Re-run notebooks/01_prepare\.ipynb"):
            run.require(step, preset)


def _start_and_report(artifacts_dir, queue):
    preset, run = open_run("ci", artifacts_dir=artifacts_dir)
    try:
        run.start("01_prepare", preset)
        queue.put("started")
    except StepBusyError as e:
        queue.put(str(e))


def test_a_second_writer_of_the_same_step_is_refused(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    first = run.start("01_prepare", preset)
    first.path("data.txt").write_text("first")
    queue = multiprocessing.get_context("spawn").Queue()
    other = multiprocessing.get_context("spawn").Process(target=_start_and_report, args=(tmp_path, queue))
    other.start()
    other.join(60)
    assert "is writing step 01_prepare of run 'ci'" in queue.get(timeout=5)
    assert (first.dir / "data.txt").read_text() == "first"  # the first writer's files are untouched
    again = run.start("01_prepare", preset)  # the same process (a cell run again) takes over
    again.path("data.txt").write_text("again")
    again.finish({"value": 2})
    assert (run.step_dir("01_prepare") / "data.txt").read_text() == "again"


def evaluation_metrics():
    scores = {"ndcg@10": 0.25, "ndcg@10_lo": 0.2, "ndcg@10_hi": 0.3, "recall@10": 0.4, "mrr": 0.2}
    return {
        "users": 300,
        "test": {"hybrid (SID LM)": scores, "SASRec": {**scores, "ndcg@10": 0.2}},
        "strongest_sasrec": "SASRec",
        "ndcg10_ratio_to_sasrec": 1.25,
        "ndcg10_minus_sasrec": 0.05,
        "ndcg10_minus_sasrec_lo": 0.01,
        "ndcg10_minus_sasrec_hi": 0.09,
        "steering": {
            "hybrid (SID LM)|genre|history": {"precision@10": 0.9},
            "hybrid (SID LM)|genre|oracle": {"precision@10": 0.5},
            "SASRec re-ranked|genre|history": {"precision@10": 1.0},
        },
        "steering_history_precision@10": 0.9,
        "oracle_ndcg10_steered": 0.3,
        "oracle_ndcg10_unsteered": 0.2,
        "oracle_ndcg10_ratio": 1.5,
    }


def test_the_headline_and_the_readme_block_come_from_the_run(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    assert headline(run) == ""  # nothing evaluated yet
    run.start("01_prepare", preset).finish({"items": 400, "users": 1000})
    run.start("06_evaluate", preset).finish(evaluation_metrics())
    text = headline(run)
    assert "| hybrid (SID LM) | 0.2500 [0.2000, 0.3000] | 0.4000 | 0.2000 |" in text
    assert "1.25× the stronger SASRec's (SASRec)" in text and "+0.0500 [+0.0100, +0.0900]" in text
    assert "precision@10: genre 0.90; mean 0.900" in text and "(×1.50)" in text
    assert "## Results" in write_summary(run).read_text() and headline(run) == text

    readme = tmp_path / "README.md"
    readme.write_text("Intro.\n<!-- results: ci -->\nold figures\n<!-- /results -->\nMore.\n")
    script = ROOT / "ci" / "readme_figures.py"
    proc = subprocess.run(
        [sys.executable, script, run.root, "--readme", readme], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == f"Intro.\n<!-- results: ci -->\n{text}<!-- /results -->\nMore.\n"
    readme.write_text("No block here.\n")
    proc = subprocess.run(
        [sys.executable, script, run.root, "--readme", readme], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "has no block for run 'ci'" in proc.stderr
    assert readme.read_text() == "No block here.\n"


def test_the_summary_opens_with_the_headline_and_links_every_steps_figures(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    run.start("01_prepare", preset).finish({"items": 400, "users": 1000, "interactions": 9000})
    writer = run.start("06_evaluate", preset)
    writer.path("plots/test_metrics.png").write_bytes(b"png")
    writer.finish(evaluation_metrics())
    text = write_summary(run).read_text()
    first_screen = text.splitlines()[:40]
    assert "| hybrid (SID LM) | 0.2500 [0.2000, 0.3000] | 0.4000 | 0.2000 |" in first_screen
    assert "| SASRec | 0.2000 [0.2000, 0.3000] | 0.4000 | 0.2000 |" in first_screen
    assert "**Verdict on test NDCG@10:** the hybrid beats the stronger SASRec (SASRec): " in "\n".join(
        first_screen
    )
    assert "| model | history | oracle | NDCG@10, oracle |" in first_screen  # steering by kind
    assert "| hybrid (SID LM) | 0.900 | 0.500 | – |" in first_screen
    assert "| SASRec re-ranked | 1.000 | – | – |" in first_screen
    assert "![test metrics](06_evaluate/plots/test_metrics.png)" in first_screen
    for step in ("01_prepare", "06_evaluate"):
        assert f"## {step}" in text and f"[metrics.json]({step}/metrics.json)" in text
    assert not any(key in text for key in ("test.hybrid", "ndcg@10_lo", ".precision@10"))  # no dotted keys
    assert text.count("test_metrics.png") == 1 and len(text.splitlines()) < 80


def test_the_web_pages_stand_alone_and_survive_a_broken_notebook(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    writer = run.start("01_prepare", preset)
    writer.path("plots/lengths.png").write_bytes(b"png")
    writer.finish({"users": 10})
    executed = run.root / "executed"
    executed.mkdir()
    answer = nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=1)
    cells = [nbformat.v4.new_markdown_cell("# Tiny"), nbformat.v4.new_code_cell("6 * 7", outputs=[answer])]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), executed / "01_prepare.ipynb")
    (executed / "02_embed.ipynb").write_text("{ cut short")
    (run.root / "html").mkdir()
    (run.root / "html" / "02_embed.html").write_text("a page of an earlier run")

    page = write_html(run)
    assert page == run.root / "html" / "summary.html"
    assert sorted(p.name for p in page.parent.iterdir()) == ["01_prepare.html", "summary.html"]
    assert "42" in (page.parent / "01_prepare.html").read_text()
    text = page.read_text()
    assert "<code>02_embed.ipynb</code> could not be rendered" in text
    assert 'href="01_prepare.html"' in text and 'href="../01_prepare/metrics.json"' in text
    assert f'src="data:image/png;base64,{base64.b64encode(b"png").decode()}"' in text
