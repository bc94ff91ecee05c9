import pytest
import yaml

from sidrec_lib.train import TrainJob, load_job, main
from tests.conftest import ROOT


def write_job(tmp_path, text: str):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def job_text(**fields) -> str:
    return yaml.safe_dump({"stage": 1, "preset": "ci", **fields})


@pytest.mark.parametrize("name", ["cpu-stage1", "cpu-stage2", "gpu-stage1", "gpu-stage2"])
def test_the_shipped_jobs_load(name):
    job = load_job(ROOT / "configs" / f"{name}.yaml")
    assert job.stage in (1, 2) and job.overrides == {} and job.dataset is None


def test_a_full_job_loads(tmp_path):
    text = job_text(
        dataset=str(tmp_path), run="mine", artifacts_dir="out", overrides={"stage2.lora": True}, resume=False
    )
    job = load_job(write_job(tmp_path, text))
    assert job == TrainJob(1, "ci", str(tmp_path), "mine", {"stage2.lora": True}, "out", False)
    assert load_job(write_job(tmp_path, "stage: 2\noverrides:\n")).overrides == {}


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("preset: ci\n", "'stage' is missing: 1 or 2"),
        ("- stage: 1\n- preset: ci\n", "holds a list, not a mapping of job fields"),
        ("stage\n", "holds a str, not a mapping of job fields"),
        ("", "is empty"),
        (
            "stage: 1\noverrides: [stage1.batch_size=4]\n",
            "overrides = ['stage1.batch_size=4']: must be a mapping",
        ),
        ("stage: 1\noverrides: 3\n", "overrides = 3: must be a mapping"),
        ("stage: two\n", "stage = 'two': must be 1 or 2"),
        ("stage: 1.5\n", "stage = 1.5: must be 1 or 2"),
        ("stage: 1.0\n", "stage = 1.0: must be 1 or 2"),
        ("stage: true\n", "stage = True: must be 1 or 2"),
        ("stage: 3\n", "stage = 3: must be 1 or 2"),
        ("stage: 1\npreset: [ci]\n", "preset = ['ci']: must be a preset name"),
        ("stage: 1\nresume: maybe\n", "resume = 'maybe': must be true or false"),
        ("stage: 1\nepochs: 2\n", "unknown fields ['epochs']; a job has ['stage', 'preset'"),
        ("stage: 1\noverrides: {a: 1\n", "is not valid YAML"),
    ],
)
def test_a_bad_job_file_says_what_is_wrong_and_what_a_job_looks_like(tmp_path, text, wrong):
    path = write_job(tmp_path, text)
    with pytest.raises(ValueError) as error:
        load_job(path)
    message = str(error.value)
    assert f"Job file {path}" in message and wrong in message, message
    for name in ("stage", "preset", "dataset", "run", "artifacts_dir", "overrides", "resume"):
        assert f"  {name}: " in message


def test_every_problem_of_a_job_is_listed(tmp_path):
    with pytest.raises(ValueError, match=r"(?s)unknown fields \['epochs'\].*'stage' is missing.*resume = 1"):
        load_job(write_job(tmp_path, "epochs: 2\nresume: 1\n"))


def test_a_missing_job_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(ValueError) as error:
        load_job(tmp_path / "nope.yaml")
    assert str(error.value).startswith(f"Job file {tmp_path / 'nope.yaml'} does not exist.\nA job file is")
    with pytest.raises(ValueError) as error:
        load_job(tmp_path)
    assert str(error.value).startswith(f"Job file {tmp_path} is a folder.")


def test_the_preset_of_a_job_is_checked_when_it_loads(tmp_path):
    path = write_job(tmp_path, job_text(overrides={"stage1.batch_size": 0, "evaluate.beams": 0}))
    with pytest.raises(ValueError) as error:
        load_job(path)
    assert str(error.value).startswith(f"Job file {path}: Invalid settings for preset 'ci' (2 problems):")
    with pytest.raises(ValueError, match=r"Unknown preset 'tiny'"):
        load_job(write_job(tmp_path, "stage: 1\npreset: tiny\n"))


@pytest.mark.parametrize("dataset", ["no/such/folder", "amazon2023:", "amazon2024:Video_Games"])
def test_an_unknown_dataset_is_refused_when_the_job_loads(tmp_path, dataset):
    path = write_job(tmp_path, job_text(dataset=dataset))
    with pytest.raises(ValueError) as error:
        load_job(path)
    assert str(error.value).startswith(f"Job file {path}: Unknown dataset '{dataset}': use 'builtin', ")


@pytest.mark.parametrize("dataset", ["builtin", "amazon2023:Video_Games"])
def test_named_datasets_pass(tmp_path, dataset):
    assert load_job(write_job(tmp_path, job_text(dataset=dataset))).dataset == dataset


def test_the_cli_prints_one_error_line_and_exits_2(tmp_path, capsys):
    path = write_job(tmp_path, "- stage: 1\n")
    with pytest.raises(SystemExit) as stopped:
        main(["--config", str(path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Job file {path} holds a list") and "Traceback" not in err
    with pytest.raises(ValueError, match="holds a list"):
        main(["--config", str(path), "--debug"])


def test_the_cli_names_the_notebook_to_run_when_an_input_is_missing(tmp_path, capsys):
    path = write_job(tmp_path, job_text(artifacts_dir=str(tmp_path / "artifacts")))
    with pytest.raises(SystemExit) as stopped:
        main(["--config", str(path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Step 01_prepare has no output") and "notebooks/01_prepare.ipynb" in err
