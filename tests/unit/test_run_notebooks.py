import importlib.util
import os

import nbformat
import papermill
import pytest
from nbclient.exceptions import DeadKernelError

import sidrec_lib.artifacts
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def driver():
    """ci/run_notebooks.py as a module (ci/ is not a package)."""
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "ci" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def calls(monkeypatch):
    """papermill.execute_notebook replaced: records its calls and raises what ``calls.error`` holds."""

    class Calls(list):
        error: BaseException | None = None

    recorded = Calls()

    def execute_notebook(input_path, output_path, **kwargs):
        recorded.append((input_path, output_path, kwargs))
        if recorded.error is not None:
            raise recorded.error

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    return recorded


def test_a_dead_kernel_fails_the_notebook_with_table_and_summary(driver, calls, tmp_path, capsys):
    calls.error = DeadKernelError("Kernel died")
    code = driver.main(["--preset", "ci", "--only", "01", "--artifacts", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    executed = tmp_path / "ci" / "executed" / "01_prepare.ipynb"
    assert "01_prepare.ipynb failed: the kernel died (likely out of memory, or killed)" in err
    assert f"executed copy: {executed}" in err and "Traceback" not in err
    assert any(line.startswith("01_prepare.ipynb") and line.endswith("FAILED") for line in out.splitlines())
    assert "total" in out
    assert "No step has finished yet." in (tmp_path / "ci" / "summary.md").read_text()
    assert len(calls) == 1


def test_any_other_papermill_error_fails_the_notebook_too(driver, calls, tmp_path, capsys):
    calls.error = RuntimeError("Kernel didn't respond in 60 seconds")
    assert driver.main(["--preset", "ci", "--only", "01,02", "--artifacts", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "01_prepare.ipynb failed: papermill stopped: RuntimeError: Kernel didn't respond" in err
    assert len(calls) == 1 and (tmp_path / "ci" / "summary.md").is_file()


def test_an_interrupt_is_not_swallowed(driver, calls, tmp_path):
    calls.error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        driver.main(["--preset", "ci", "--only", "01", "--artifacts", str(tmp_path)])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "stage1.batch_size=0"], "error: Invalid settings for preset 'ci' (1 problem):"),
        (["--set", "evaluate.beams=null"], "error: Invalid settings for preset 'ci' (1 problem):"),
        (["--set", "semantic_ids.codes"], "error: --set expects KEY=VALUE, got 'semantic_ids.codes'"),
        (["--set", "evaluate.history_choices=[5,"], "error: --set 'evaluate.history_choices=[5,': the value"),
        (["--only", "99"], "error: --only names no notebook for ['99']"),
        (["--dataset", "amazon2023:Video_Games", "--set", "model.dtype=float8"], "model.dtype = 'float8'"),
    ],
)
def test_bad_arguments_stop_before_any_notebook_with_one_error(
    driver, calls, tmp_path, capsys, arguments, message
):
    code = driver.main(["--preset", "ci", "--artifacts", str(tmp_path), *arguments])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert calls == [] and not any(tmp_path.iterdir()) and out == ""


def test_debug_shows_the_traceback(driver, calls, tmp_path):
    with pytest.raises(ValueError, match="stage1.batch_size = 0"):
        driver.main(
            ["--preset", "ci", "--artifacts", str(tmp_path), "--set", "stage1.batch_size=0", "--debug"]
        )


def test_a_refused_run_name_is_one_error_line(driver, calls, tmp_path, capsys, monkeypatch):
    def refuse(preset, dataset, run, overrides, artifacts_dir):
        raise ValueError(f"Run name {run!r} must be a plain folder name")

    monkeypatch.setattr(sidrec_lib.artifacts, "open_run", refuse)
    code = driver.main(["--preset", "ci", "--run", "../../x", "--artifacts", str(tmp_path)])
    assert code == 2 and capsys.readouterr().err == "error: Run name '../../x' must be a plain folder name\n"
    assert calls == []


def test_a_run_name_that_leaves_the_artifacts_folder_is_refused(driver, calls, tmp_path, capsys):
    artifacts = tmp_path / "a" / "b"  # ../../x would be tmp_path/x: nothing escapes tmp_path even if allowed
    code = driver.main(["--preset", "ci", "--run", "../../x", "--artifacts", str(artifacts)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Run name '../../x'") and len(err.splitlines()) == 1
    assert calls == [] and not (tmp_path / "x").exists()


@pytest.mark.skipif(os.name == "nt", reason="Windows kernels keep TCP")
def test_kernels_start_on_private_ipc_sockets(driver, calls, tmp_path):
    assert driver.main(["--preset", "ci", "--only", "01", "--artifacts", str(tmp_path)]) == 0
    manager = calls[0][2]["config"].KernelManager
    assert manager.transport == "ipc" and os.path.basename(manager.ip) == "kernel"
    assert os.path.basename(os.path.dirname(manager.ip)).startswith("sidrec-kernels-")
    assert not os.path.exists(os.path.dirname(manager.ip))  # removed after the run


@pytest.mark.skipif(os.name == "nt", reason="Windows kernels keep TCP")
def test_a_real_kernel_runs_without_the_tcp_warning(driver, tmp_path, capfd):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(notebook, tmp_path / "tiny.ipynb")
    result = papermill.execute_notebook(
        str(tmp_path / "tiny.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
        **driver.kernel_settings(tmp_path),
    )
    assert result.cells[0].outputs[0]["text"] == "42\n"
    err = capfd.readouterr().err
    assert "without encryption" not in err and "WARNING" not in err, err
