"""Rerunning outside the runner: relative paths mean the project home from any folder, plain
papermill works from any folder, and the kernel `make kernel` registers is the one the runner uses."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from avlib import paths
from avlib.paths import cache_root, embedded_root, project_home, resolve, results_dir
from avlib.report import Provenance, load_result, save_result

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The current folder is a temporary folder outside the project; AVLIB_HOME is unset."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("AVLIB_HOME", raising=False)
    return cwd


def test_home_is_the_repository_of_an_editable_install(elsewhere):
    assert project_home() == REPO
    assert (project_home() / "pyproject.toml").is_file()


def test_results_dir_lands_in_the_project_from_any_folder(elsewhere):
    name = f"_probe_{uuid.uuid4().hex[:8]}"
    made = results_dir("results", "smoke", name)
    try:
        assert made == REPO / "results" / "smoke" / name and made.is_dir()
        assert not any(elsewhere.iterdir())  # nothing under the current folder
    finally:
        made.rmdir()


def test_avlib_home_overrides_the_repository(elsewhere, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("AVLIB_HOME", str(home))
    assert project_home() == home.resolve()
    assert results_dir("results", "smoke", "x") == home.resolve() / "results" / "smoke" / "x"
    assert (home / "results" / "smoke" / "x").is_dir()
    assert embedded_root("data", "smoke", "digits") == home.resolve() / "data" / "embedded" / "smoke" / "digits"
    assert cache_root("data") == home.resolve() / "data" / "cache"
    written = save_result(pd.DataFrame({"a": [1]}), "results/smoke/x/t", Provenance("embedded benchmark", "smoke"))
    assert written == home.resolve() / "results" / "smoke" / "x" / "t.csv"
    df, prov = load_result("results/smoke/x/t")
    assert df["a"].tolist() == [1] and prov.scale == "smoke"
    assert not any(elsewhere.iterdir())


def test_absolute_paths_are_kept(elsewhere, tmp_path):
    target = tmp_path / "abs" / "results"
    assert resolve(target) == target
    assert results_dir(target, "cpu", "nb") == target / "cpu" / "nb"
    assert embedded_root(str(tmp_path / "d"), "cpu", "cuave") == tmp_path / "d" / "embedded" / "cpu" / "cuave"


def test_relative_paths_stay_relative_in_the_home(tmp_path, monkeypatch):
    """The runner starts kernels in the project folder: paths keep their short form there."""
    monkeypatch.setenv("AVLIB_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert resolve("data") == Path("data")
    assert embedded_root("data", "smoke", "digits") == Path("data/embedded/smoke/digits")


def test_regular_install_falls_back_to_the_current_folder(elsewhere, monkeypatch):
    monkeypatch.setattr(paths, "_checkout_root", lambda: None)
    assert project_home() == elsewhere.resolve()


def test_plain_papermill_from_another_folder(tmp_path):
    """`papermill notebooks/xflow_params.ipynb out.ipynb -p scale smoke` started outside the project
    writes its tables into the project home, never under the current folder (about 10-25 s)."""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    env = {**os.environ, "AVLIB_HOME": str(home), "AVLIB_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "xflow_params.ipynb"), "out.ipynb",
         "-p", "scale", "smoke", "--no-progress-bar", "--kernel", "python3"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    tables = sorted(p.name for p in (home / "results" / "smoke" / "xflow_params").glob("*.csv"))
    assert tables, f"no result table under {home}"
    assert sorted(p.name for p in cwd.iterdir()) == ["out.ipynb"]  # no results/ or data/ beside it
    assert not (REPO / "notebooks" / "results").exists() and not (REPO / "notebooks" / "data").exists()


def test_registered_kernel_is_picked_by_the_runner(tmp_path, monkeypatch):
    """`make kernel` (ipykernel install into a prefix) gives a kernel the runner then uses."""
    from avlib import run as runner
    from avlib.run import kernel as kernel_module

    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "avlib",
                    "--display-name", "Python (avlib)"], check=True, capture_output=True, timeout=120)
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / "avlib" / "kernel.json").read_text())
    assert spec["display_name"] == "Python (avlib)"
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    assert runner.default_kernel() == "avlib"
    monkeypatch.setattr(kernel_module, "kernel_python", lambda name: None)
    assert runner.default_kernel() == "python3"
