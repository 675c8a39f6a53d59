"""The papermill runner: parameters reach the notebook, failures are named, bad input is rejected."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from avlib import run as runner
from avlib.errors import ParameterError

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def project(tmp_path):
    """A miniature project: two fixture notebooks and a registry."""
    (tmp_path / "notebooks").mkdir()
    for name in ("echo_params", "raises"):
        shutil.copy(FIXTURES / f"{name}.ipynb", tmp_path / "notebooks" / f"{name}.ipynb")
    registry = {
        "parts": {"t": "Test"},
        "notebooks": [
            {"name": "echo_params", "path": "notebooks/echo_params.ipynb", "title": "Echo", "part": "t",
             "presets": {"smoke": {"epochs": 1}, "cpu": {"epochs": 5}}},
            {"name": "raises", "path": "notebooks/raises.ipynb", "title": "Raises", "part": "t", "presets": {}},
        ],
    }
    (tmp_path / "notebooks" / "registry.yaml").write_text(yaml.safe_dump(registry))
    return tmp_path


def _run(project, **kw):
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    lines = []
    failures = runner.run(registry=registry, results_root=str(project / "results"), log=lines.append, **kw)
    return failures, lines


def test_override_reaches_notebook_and_manifest(project):
    failures, _ = _run(project, scale="smoke", only=["echo_params"], overrides={"epochs": 7, "label": "x"})
    assert failures == 0
    echoed = json.loads((project / "results" / "echo.json").read_text())
    assert echoed == {"scale": "smoke", "epochs": 7, "label": "x", "data_root": "data"}
    manifest = json.loads((project / "book" / "generated" / "manifest.json").read_text())
    record = manifest["runs"]["echo_params"]
    assert record["status"] == "ok" and record["parameters"]["epochs"] == 7 and record["scale"] == "smoke"
    for key in ("git_commit", "device", "started", "ended", "seconds", "peak_memory_mb"):
        assert key in record
    assert record["peak_memory_mb"] > 10  # the kernel's memory was sampled
    assert (project / "book" / "generated" / "echo_params.ipynb").exists()


def test_preset_of_scale_is_used(project):
    _run(project, scale="cpu", only=["echo_params"])
    assert json.loads((project / "results" / "echo.json").read_text())["epochs"] == 5


def test_failure_names_notebook_and_cell(project):
    _run(project, scale="smoke", only=["echo_params"])  # a good result that must survive
    failures, lines = _run(project, scale="smoke")
    assert failures == 1
    message = "\n".join(lines)
    assert "FAILED: notebook raises" in message
    assert "ValueError" in message and "deliberate failure" in message
    manifest = json.loads((project / "book" / "generated" / "manifest.json").read_text())
    error = manifest["runs"]["raises"]["error"]
    # cells: markdown, parameters, injected parameters, x = 1, raise -> index 4
    assert error["cell"] == 4 and error["ename"] == "ValueError"
    assert manifest["runs"]["echo_params"]["status"] == "ok"
    assert not (project / "book" / "generated" / "raises.ipynb").exists()  # never reaches the book
    assert (project / "_build" / "failed" / "raises.ipynb").exists()


def test_cli_failure_exit_code(project, capsys):
    code = runner.main(["--registry", str(project / "notebooks" / "registry.yaml"), "--scale", "smoke",
                        "--only", "raises", "--results-root", str(project / "results")])
    assert code == 1


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--only", "nope"], "unknown notebook 'nope'; valid names: echo_params, raises"),
        (["--scale", "huge"], "unknown scale 'huge'; valid scales: smoke, cpu, paper"),
        (["-p", "epoch=3", "--only", "echo_params"], "unknown parameter(s) ['epoch']"),
        (["--data-root", "/does/not/exist"], "data root '/does/not/exist' does not exist"),
        (["-p", "noequals"], "bad parameter 'noequals'"),
    ],
)
def test_bad_input_one_line_error(project, capsys, argv, expected):
    code = runner.main(["--registry", str(project / "notebooks" / "registry.yaml"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert not (project / "book" / "generated" / "manifest.json").exists()  # nothing ran


def test_unknown_parameter_lists_valid_ones(project):
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    with pytest.raises(ParameterError, match="epochs, label"):
        runner.run(registry=registry, scale="smoke", only=["echo_params"], overrides={"lr": 1})


def test_parse_override_types():
    assert runner.parse_override("epochs=3") == ("epochs", 3)
    assert runner.parse_override("flag=true") == ("flag", True)
    assert runner.parse_override("frames=[10, 20]") == ("frames", [10, 20])
    assert runner.parse_override("name=a=b") == ("name", "a=b")


def test_output_dir_outside_the_project(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("elsewhere") / "generated"
    failures, lines = _run(project, scale="smoke", only=["echo_params"], output_dir=out)
    assert failures == 0
    assert (out / "echo_params.ipynb").exists() and (out / "manifest.json").exists()
    assert str(out.resolve()) in lines[-1]


def test_manifest_numerics_name_the_cpu_and_the_math_libraries():
    from avlib.run import describe_numerics

    n = describe_numerics()
    assert n["machine"] and "cpu_model" in n
    assert n["torch_cpu_capability"] and n["torch_threads"] >= 1
    assert n["torch_blas"] and n["numpy_blas"]   # the BLAS builds the numbers depend on
