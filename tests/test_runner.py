"""The papermill runner: parameters reach the notebook, failures are named, bad input is rejected."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from avlib import run as runner
from avlib.run import kernel as kernel_module
from avlib.run import progress as progress_module
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
        (["--data-root", "/does/not/exist"], "data root '/does/not/exist' (--data-root or $AVLIB_DATA) does not exist"),
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


# ---------------------------------------------------------------- plan, output, progress, kernel
def test_plan_executes_nothing(project, capsys, monkeypatch):
    monkeypatch.delenv("AVLIB_HOME", raising=False)
    code = runner.main(["--registry", str(project / "notebooks" / "registry.yaml"), "--scale", "smoke",
                        "-p", "epochs=9", "--plan"])
    out = capsys.readouterr().out
    assert code == 0
    assert "plan (nothing is executed)" in out and "2 notebook(s) at scale smoke" in out
    assert "[1/2] echo_params" in out and "[2/2] raises" in out
    assert "epochs = 9  <- -p" in out and "scale = 'smoke'" in out
    assert not (project / "book").exists() and not (project / "_build").exists()
    assert not (project / "data").exists() and not (project / "results").exists()


def test_plan_still_rejects_bad_parameters(project, capsys):
    code = runner.main(["--registry", str(project / "notebooks" / "registry.yaml"), "--only", "echo_params",
                        "-p", "epoch=3", "--plan"])
    assert code == 2 and "unknown parameter(s) ['epoch']" in capsys.readouterr().err


def test_plan_shows_the_last_duration(project):
    _run(project, scale="smoke", only=["echo_params"])
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    lines = []
    assert runner.run(registry=registry, scale="smoke", plan_only=True, log=lines.append) == 0
    text = "\n".join(lines)
    assert "echo_params (notebooks/echo_params.ipynb; last run 0:" in text
    assert "raises (notebooks/raises.ipynb; no earlier run at this scale)" in text


def test_no_tcp_warning_and_no_shutdown_noise(project, capfd):
    failures, _ = _run(project, scale="smoke", only=["echo_params"], progress=False)
    assert failures == 0
    captured = capfd.readouterr()
    both = captured.out + captured.err
    assert "without encryption" not in both
    assert "KeyboardInterrupt" not in both and "Traceback" not in both


def test_kernel_manager_uses_ipc_and_no_interrupt_at_shutdown():
    import asyncio

    km_class = kernel_module.kernel_manager_class()
    km = km_class(kernel_name="python3")
    assert km.transport == "ipc"
    calls = []

    async def fake_super_interrupt(self):
        calls.append("sigint")

    base = km_class.__mro__[1]
    original = base._async_interrupt_kernel
    base._async_interrupt_kernel = fake_super_interrupt
    try:
        km.shutting_down = True
        asyncio.run(km._async_interrupt_kernel())
        assert calls == []
        km.shutting_down = False
        asyncio.run(km._async_interrupt_kernel())
        assert calls == ["sigint"]
    finally:
        base._async_interrupt_kernel = original


def test_failure_is_one_short_block(project):
    failures, lines = _run(project, scale="smoke", only=["raises"])
    assert failures == 1
    block = next(line for line in lines if "FAILED" in line)
    assert block.splitlines() == [
        "    FAILED: notebook raises, cell 5 of 5 (execution count [4])",
        "        ValueError: deliberate failure for the runner test",
        "        executed notebook kept in _build/failed/raises.ipynb",
    ]


def test_kernel_death_names_the_running_cell(project):
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('scale = "cpu"\ndata_root = "data"\nresults_root = "results"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("import os\nos._exit(3)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, project / "notebooks" / "dies.ipynb")
    reg = yaml.safe_load((project / "notebooks" / "registry.yaml").read_text())
    reg["notebooks"].append({"name": "dies", "path": "notebooks/dies.ipynb", "title": "Dies", "part": "t",
                             "presets": {}})
    (project / "notebooks" / "registry.yaml").write_text(yaml.safe_dump(reg))
    failures, lines = _run(project, scale="smoke", only=["dies"])
    assert failures == 1
    block = next(line for line in lines if "FAILED" in line)
    assert "notebook dies, cell 4 of 4 (running when the kernel stopped)" in block
    assert "DeadKernelError" in block and "_build/failed/dies.ipynb" in block


def test_progress_shows_cell_and_time_left(project, capsys):
    _run(project, scale="smoke", only=["echo_params"], progress=False)
    assert "cell " not in capsys.readouterr().err  # quiet when progress is off
    _run(project, scale="smoke", progress=True)  # not a terminal: one line per cell
    err = capsys.readouterr().err
    assert "echo_params: cell 1/4" in err and "echo_params: cell 4/4" in err
    assert "(last run 0:" in err or "longer than the last run" in err
    assert "raises: cell 1/5" in err and "no earlier run at this scale" in err


def test_progress_follows_avlib_progress(monkeypatch):
    import io

    monkeypatch.setenv("AVLIB_PROGRESS", "0")
    assert runner.progress_wanted() is False
    monkeypatch.setenv("AVLIB_PROGRESS", "1")
    assert runner.progress_wanted(io.StringIO()) is True
    monkeypatch.delenv("AVLIB_PROGRESS")
    assert runner.progress_wanted(io.StringIO()) is False  # not a terminal


def test_progress_line_estimates_from_the_last_run():
    import io

    bar = progress_module.Progress(io.StringIO(), enabled=True)
    bar.start("icmr_audio", 2, 4, expected=400.0, after=100.0, unknown_after=True)
    bar.t0 -= 100
    bar.on_cell(6, 12)
    line = bar.line()
    assert "icmr_audio: cell 7/12, 1:40 elapsed, about 5:00 left (last run 6:40)" in line
    assert "2 more notebook(s): at least 6:40 left in all" in line
    bar.t0 -= 400
    assert "longer than the last run (6:40)" in bar.line()
    bar.stop()


def test_default_kernel_is_the_project_kernel_of_this_environment(monkeypatch):
    import sys

    monkeypatch.setattr(kernel_module, "kernel_python", lambda name: None)
    assert runner.default_kernel() == "python3"
    monkeypatch.setattr(kernel_module, "kernel_python", lambda name: Path(sys.executable))
    assert runner.default_kernel() == "avlib"
    monkeypatch.setattr(kernel_module, "kernel_python", lambda name: Path("/elsewhere/env/bin/python"))
    assert runner.default_kernel() == "python3"  # another environment's kernel of the same name


def test_kernel_runs_in_the_project_with_avlib_home(project, monkeypatch):
    import nbformat

    monkeypatch.delenv("AVLIB_HOME", raising=False)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('scale = "cpu"\ndata_root = "data"\nresults_root = "results"')
    params.metadata["tags"] = ["parameters"]
    probe = ("import json, os, pathlib\nfrom avlib.paths import resolve\n"
             "pathlib.Path(os.environ['AVLIB_HOME'], 'probe.json').write_text(json.dumps("
             "{'home': os.environ['AVLIB_HOME'], 'cwd': os.getcwd(), 'results': str(resolve(results_root))}))")
    nb.cells = [params, nbformat.v4.new_code_cell(probe)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, project / "notebooks" / "probe.ipynb")
    reg = yaml.safe_load((project / "notebooks" / "registry.yaml").read_text())
    reg["notebooks"].append({"name": "probe", "path": "notebooks/probe.ipynb", "title": "P", "part": "t",
                             "presets": {}})
    (project / "notebooks" / "registry.yaml").write_text(yaml.safe_dump(reg))
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    assert runner.run(registry=registry, scale="smoke", only=["probe"], log=lambda m: None) == 0
    seen = json.loads((project / "probe.json").read_text())
    assert Path(seen["home"]) == project and Path(seen["cwd"]).resolve() == project.resolve()
    assert seen["results"] == "results"  # the kernel starts in the home: relative paths keep their form
    import os

    assert "AVLIB_HOME" not in os.environ  # restored after the run


def test_config_overrides_are_checked_against_the_registry_class():
    from avlib.run import NotebookEntry, check_config

    entry = NotebookEntry(name="page", path=Path("page.ipynb"), title="P", part="t",
                          config="avlib.config.icmr.ICMRConfig")
    check_config(entry, "smoke", {"seeds": [0]})  # a known key: fine
    check_config(entry, "smoke", {})  # nothing to check
    with pytest.raises(ParameterError, match="page: .*epoch"):
        check_config(entry, "smoke", {"audio.epoch": 2})
    with pytest.raises(ParameterError, match="mapping of dotted keys"):
        check_config(entry, "smoke", "audio.epochs=2")
    missing = NotebookEntry(name="page", path=Path("page.ipynb"), title="P", part="t", config="avlib.nope.Nope")
    with pytest.raises(ParameterError, match="cannot be imported"):
        check_config(missing, "smoke", {"a": 1})
    plain = NotebookEntry(name="page", path=Path("page.ipynb"), title="P", part="t")
    check_config(plain, "smoke", {"anything": 1})  # no class named: the notebook checks its own config


def test_the_book_page_hides_both_parameter_cells(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell("scale = 'cpu'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("scale = 'smoke'", metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("print(scale)")]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    kernel_module.tag_injected_cell(path)
    tags = [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells]
    assert "remove-cell" in tags[0] and "remove-cell" in tags[1] and "remove-cell" not in tags[2]


def test_dotted_config_parameters_are_gathered_and_validated_before_anything_runs(capsys):
    from avlib import run as runner
    from avlib.errors import ParameterError

    got = runner.collect_overrides(["config.audio.epochs=3", "config.visual.epochs=2", "seed=1"])
    assert got == {"config": {"audio.epochs": 3, "visual.epochs": 2}, "seed": 1}
    merged = runner.collect_overrides(['config={"fusion.epochs": 1}', "config.audio.epochs=3"])
    assert merged["config"] == {"fusion.epochs": 1, "audio.epochs": 3}
    with pytest.raises(ParameterError, match="twice"):
        runner.collect_overrides(['config={"audio.epochs": 1}', "config.audio.epochs=3"])
    # checked against the notebook's configuration class: a typo stops the run before it starts
    assert runner.main(["--scale", "smoke", "--only", "icmr_audio", "-p", "config.audio.epochs=3", "--plan"]) == 0
    with pytest.raises((ParameterError, SystemExit)):
        rc = runner.main(["--scale", "smoke", "--only", "icmr_audio", "-p", "config.audio.epoch=3", "--plan"])
        if rc:
            raise SystemExit(rc)


def test_resume_with_configuration_keys_of_one_notebook(project):
    """-p config.x for one selected notebook does not reach the other notebooks' checks."""
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    lines = []
    failures = runner.run(registry=registry, results_root=str(project / "results"), log=lines.append,
                          scale="smoke", only=["echo_params"], overrides={"label": "y"}, resume=True)
    assert failures == 0


def test_resume_keeps_only_what_is_unchanged(project):
    def ran(lines):
        return [ln.split("]")[1].split()[0] for ln in lines if ln.endswith("...")]

    _, lines = _run(project, scale="smoke", only=["echo_params"], resume=True)
    assert ran(lines) == ["echo_params"]
    _, lines = _run(project, scale="smoke", only=["echo_params"], resume=True)
    assert ran(lines) == [] and any("unchanged since its run" in ln for ln in lines)
    _, lines = _run(project, scale="smoke", only=["echo_params"], resume=False)
    assert ran(lines) == ["echo_params"]  # without --resume everything runs
    _, lines = _run(project, scale="smoke", only=["echo_params"], overrides={"epochs": 9}, resume=True)
    assert ran(lines) == ["echo_params"]  # other parameters
    _, lines = _run(project, scale="cpu", only=["echo_params"], resume=True)
    assert ran(lines) == ["echo_params"]  # another scale
    nb = project / "notebooks" / "echo_params.ipynb"
    nb.write_text(nb.read_text().replace("print('epochs', epochs)", "print('epochs:', epochs)"))
    _, lines = _run(project, scale="cpu", only=["echo_params"], resume=True)
    assert ran(lines) == ["echo_params"]  # the notebook changed
    (project / "book" / "generated" / "echo_params.ipynb").unlink()
    _, lines = _run(project, scale="cpu", only=["echo_params"], resume=True)
    assert ran(lines) == ["echo_params"]  # its executed copy is gone


def test_fingerprints_follow_code_data_and_everything_before(project, tmp_path_factory):
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    data = tmp_path_factory.mktemp("data")
    plans = runner.plan(scale="smoke", registry=registry, data_root=str(data))
    first = runner.fingerprints(plans, "smoke", project)
    assert first == runner.fingerprints(plans, "smoke", project)  # deterministic
    (data / "embedded" / "smoke" / "avletters").mkdir(parents=True)
    (data / "embedded" / "smoke" / "avletters" / "clips.csv").write_text("clip\n1\n")
    second = runner.fingerprints(plans, "smoke", project)
    assert all(second[k] != first[k] for k in first)  # the stand-ins changed: every page runs again
    (data / "embedded" / "smoke" / "avletters" / "clips.csv").write_text("clip\n2\n")
    assert runner.fingerprints(plans, "smoke", project)["raises"] != second["raises"]
    before = runner.fingerprints(plans, "smoke", project)
    nb = project / "notebooks" / "echo_params.ipynb"
    nb.write_text(nb.read_text().replace("print('epochs', epochs)", "print('epochs:', epochs)"))
    after = runner.fingerprints(plans, "smoke", project)
    # the first notebook changed: it and the one after it (which may read its results) run again
    assert after["echo_params"] != before["echo_params"] and after["raises"] != before["raises"]
    # a notebook not selected contributes the fingerprint of its last run
    only_second = [p for p in plans if p[0].name == "raises"]
    order = ["echo_params", "raises"]
    fp = runner.fingerprints(only_second, "smoke", project, order=order, recorded={"echo_params": after["echo_params"]})
    assert fp == {"raises": after["raises"]}
    fp_old = runner.fingerprints(only_second, "smoke", project, order=order,
                                 recorded={"echo_params": before["echo_params"]})
    assert fp_old["raises"] != fp["raises"]


# --------------------------------------------------------------------------- side by side (--jobs)


def _entries(spec):
    """Registry entries from ``[(name, after), ...]`` (after None: every notebook before it)."""
    from avlib.run.registry import NotebookEntry

    return [(NotebookEntry(name=n, path=Path(f"{n}.ipynb"), title=n, part="t", after=a), {}) for n, a in spec]


def test_dependencies_are_the_named_notebooks_or_everything_before():
    plans = _entries([("a", None), ("b", ()), ("c", ("a",)), ("d", None), ("e", ("a", "gone"))])
    deps = runner.dependencies(plans)
    assert deps == {"a": set(), "b": set(), "c": {"a"}, "d": {"a", "b", "c"}, "e": {"a"}}  # unplanned names drop out


def test_side_by_side_starts_independent_chains_together_and_waits_for_what_comes_before():
    import threading
    import time

    plans = _entries([("a1", ()), ("b1", ()), ("a2", ("a1",)), ("b2", ("b1",)), ("end", None)])
    events, lock = [], threading.Lock()

    def execute(i, entry, params):
        with lock:
            events.append(("start", entry.name, i))
        time.sleep(0.15 if entry.name.startswith("a") else 0.05)
        with lock:
            events.append(("end", entry.name, i))
        return "ok"

    runner.run_side_by_side(plans, execute, jobs=2)
    order = [(kind, name) for kind, name, _ in events]
    at = {e: k for k, e in enumerate(order)}
    assert at[("start", "b1")] < at[("end", "a1")]  # the two chains overlap
    assert at[("end", "a1")] < at[("start", "a2")] and at[("end", "b1")] < at[("start", "b2")]
    assert all(at[("end", n)] < at[("start", "end")] for n in ("a1", "b1", "a2", "b2"))
    assert sorted(i for kind, _, i in events if kind == "start") == [1, 2, 3, 4, 5]  # registry positions
    assert sum(1 for kind, *_ in events if kind == "start") == 5  # each once


def test_side_by_side_with_fail_fast_starts_nothing_new_after_a_failure():
    started = []
    plans = _entries([("bad", ()), ("later", ("bad",)), ("other", ("later",))])

    def execute(i, entry, params):
        started.append(entry.name)
        return "failed" if entry.name == "bad" else "ok"

    lines = []
    runner.run_side_by_side(plans, execute, jobs=2, fail_fast=True, log=lines.append)
    assert started == ["bad"] and "later" in lines[-1]
    started.clear()
    runner.run_side_by_side(plans, execute, jobs=2)  # without it, the rest still runs
    assert started == ["bad", "later", "other"]


def test_registry_after_must_name_earlier_notebooks(project):
    path = project / "notebooks" / "registry.yaml"
    registry = yaml.safe_load(path.read_text())
    registry["notebooks"][0]["after"] = ["raises"]  # a later notebook
    path.write_text(yaml.safe_dump(registry))
    with pytest.raises(ParameterError, match="not earlier notebooks"):
        runner.load_registry(path)


def test_the_book_registry_runs_the_icmr_and_xflow_chains_apart():
    registry = runner.load_registry()
    deps = runner.dependencies([(e, {}) for e in registry.notebooks])
    assert not deps["xflow_crossval"] & {"icmr_audio", "icmr_fusion", "ismir_correspondence"}
    assert "icmr_fusion" in deps["ismir_correspondence"] or "icmr_youtube8m" in deps["ismir_correspondence"]
    assert deps["claims"] == set(registry.names()[:registry.names().index("claims")])  # the report pages come last


def test_jobs_two_gives_each_kernel_its_own_parameters_and_memory(project):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell('results_root = "results"\nlabel = "x"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import json, os, pathlib, time\nstart = time.time()\nblock = bytearray(150 * 2**20)\n"
                    "time.sleep(1.5)\n"
                    "pathlib.Path(results_root).mkdir(exist_ok=True)\n"
                    "(pathlib.Path(results_root) / f'{label}.json').write_text(json.dumps({"
                    "'env': json.loads(os.environ['AVLIB_PARAMETERS']), 'name': os.environ['AVLIB_RUN_NAME'], "
                    "'start': start, 'end': time.time()}))")]
    nbformat.write(nb, str(project / "notebooks" / "side.ipynb"))
    registry = {"parts": {"t": "Test"}, "notebooks": [
        {"name": "left", "path": "notebooks/side.ipynb", "title": "L", "part": "t", "presets": {"smoke": {"label": "left"}}},
        {"name": "right", "path": "notebooks/side.ipynb", "title": "R", "part": "t", "after": [],
         "presets": {"smoke": {"label": "right"}}}]}
    (project / "notebooks" / "registry.yaml").write_text(yaml.safe_dump(registry))
    failures, lines = _run(project, scale="smoke", jobs=2)
    assert failures == 0, "\n".join(lines)
    seen = {n: json.loads((project / "results" / f"{n}.json").read_text()) for n in ("left", "right")}
    for name, got in seen.items():
        assert got["name"] == name and got["env"]["label"] == name  # not the other kernel's
    assert seen["right"]["start"] < seen["left"]["end"] and seen["left"]["start"] < seen["right"]["end"]
    runs = json.loads((project / "book" / "generated" / "manifest.json").read_text())["runs"]
    for name in ("left", "right"):
        assert runs[name]["status"] == "ok" and "--jobs 2" in runs[name]["beside"]
        assert 150 < runs[name]["peak_memory_mb"] < 290  # its own kernel's block, not both (about 2 x 210 MB)
