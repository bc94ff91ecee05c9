import json

import pytest

from sidrec_lib.artifacts import Run, StepInputError, default_run_name, open_run
from sidrec_lib.presets import get_preset
from sidrec_lib.summary import write_summary


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
    assert not list(tmp_path.glob("ci/.*"))  # no partial folder left behind

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


def test_summary_gathers_figures_and_plots(tmp_path):
    preset, run = open_run("ci", artifacts_dir=tmp_path)
    writer = run.start("01_prepare", preset)
    writer.path("plots/lengths.png").write_bytes(b"png")
    writer.finish({"users": 10, "sequence_length": {"median": 4.5}, "table": [1, 2]})
    text = write_summary(run).read_text()
    assert "| users | 10 |" in text and "| sequence_length.median | 4.5 |" in text
    assert "![lengths](01_prepare/plots/lengths.png)" in text
    assert (
        isinstance(Run(tmp_path, "empty"), Run)
        and "No step" in write_summary(Run(tmp_path, "empty")).read_text()
    )
