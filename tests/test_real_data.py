"""Real data first: the paper scale reads the real datasets only, checks them before anything
runs, stops with one message when none is there and runs what it can when some are."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from avlib import run as runner
from avlib.run import runner as runner_module
from avlib.data import __main__ as data_cli
from avlib.data import real
from avlib.errors import DataError
from avlib.utils import DeviceUnavailableError

FIXTURES = Path(__file__).parent / "fixtures"


def _fcvid(root: Path, n_present: int = 1):
    folder = root / "real" / "fcvid"
    (folder / "videos" / "violin").mkdir(parents=True)
    (folder / "videos.csv").write_text("video_id,category,label\nv1,violin,0\nv2,violin,0\n")
    for vid in ("v1", "v2")[:n_present]:
        (folder / "videos" / "violin" / f"{vid}.mp4").write_bytes(b"\x00")
    return folder


def _speech(root: Path, name: str):
    folder = root / "real" / name / "s1"
    folder.mkdir(parents=True)
    np.save(folder / "A_1.frames.npy", np.zeros((3, 4, 4), np.uint8))
    np.save(folder / "A_1.mfcc.npy", np.zeros((3, 13), np.float32))


def test_missing_names_what_is_absent_and_where(tmp_path):
    assert real.missing(tmp_path, "fcvid") == [f"{tmp_path}/real/fcvid/"]
    folder = _fcvid(tmp_path, n_present=0)
    assert "none of the 2 listed videos" in real.missing(tmp_path, "fcvid")[0]
    (folder / "videos" / "violin" / "v1.mp4").write_bytes(b"\x00")
    assert real.missing(tmp_path, "fcvid") == []
    (folder / "videos.csv").write_text("id,cat\n1,a\n")
    assert "needs the columns" in real.missing(tmp_path, "fcvid")[0]
    _speech(tmp_path, "avletters")
    assert real.missing(tmp_path, "avletters") == []
    (tmp_path / "real" / "digits" / "s1").mkdir(parents=True)
    assert len(real.missing(tmp_path, "digits")) == 2  # neither frames nor MFCCs
    text = real.report(tmp_path, ["avletters", "digits"], pages={"digits": ["xflow_crossval"]})
    assert "ready    avletters" in text and "MISSING  digits" in text and "needed by xflow_crossval" in text
    assert "<speaker>/<word>_<take>.frames.npy" in text  # the layout, so the user knows what to put there


def test_sources_name_the_folders_under_the_data_root(tmp_path):
    assert real.source_folder("real", tmp_path) == tmp_path / "real" / "fcvid"
    assert real.source_folder("real_youtube8m", tmp_path) == tmp_path / "real" / "youtube8m"
    assert real.source_folder("embedded_yt8m", tmp_path) is None
    assert real.source_folder(str(tmp_path / "mine"), "data") == tmp_path / "mine"


def test_a_folder_source_of_the_speech_pages_holds_one_folder_per_dataset(tmp_path):
    from avlib.errors import ParameterError
    from avlib.run.inputs import not_run_reason, real_folders

    assert real.speech_folder("real", tmp_path, "cuave") == tmp_path / "real" / "cuave"
    assert real.speech_folder(str(tmp_path / "mine"), "data", "digits") == tmp_path / "mine" / "digits"
    for bad in (("embedded", "digits"), ("real", "fcvid")):
        with pytest.raises(ParameterError):
            real.speech_folder(bad[0], tmp_path, bad[1])
    by = {e.name: e for e in runner.load_registry().notebooks}
    mine = tmp_path / "mine"
    params = {"source": str(mine), "data_root": str(tmp_path)}
    assert real_folders(by["xflow_crossval"], params) == {n: mine / n for n in ("avletters", "digits", "cuave")}
    reason = not_run_reason(by["xflow_crossval"], params, "paper")
    assert reason.startswith("missing real data") and f"{mine}/avletters/" in reason
    for name in ("avletters", "digits", "cuave"):
        folder = mine / name / "s1"
        folder.mkdir(parents=True)
        np.save(folder / "A_1.frames.npy", np.zeros((3, 4, 4), np.uint8))
        np.save(folder / "A_1.mfcc.npy", np.zeros((3, 13), np.float32))
    assert not_run_reason(by["xflow_crossval"], params, "paper") is None
    # the video pages keep a folder in the FCVID layout
    assert real_folders(by["icmr_audio"], params) == {"source": mine}


def test_the_paper_scale_generates_no_stand_ins(tmp_path, capsys):
    assert data_cli.main(["all", "--scale", "paper", "--root", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert "MISSING  fcvid" in out.out and "none of the real datasets" in out.err
    assert not (tmp_path / "embedded").exists()  # nothing generated
    _speech(tmp_path, "cuave")
    assert data_cli.main(["all", "--scale", "paper", "--root", str(tmp_path)]) == 0  # partly there: go on
    assert "ready    cuave" in capsys.readouterr().out
    assert not (tmp_path / "embedded").exists()


def test_avlib_data_names_the_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv(real.DATA_ENV, str(tmp_path))
    assert real.default_data_root() == str(tmp_path)
    monkeypatch.delenv(real.DATA_ENV)
    assert real.default_data_root() == "data"


@pytest.fixture
def paper_project(tmp_path):
    """A miniature project with pages that read FCVID, AVletters, and a stand-ins datasheet."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "reads_data.ipynb", tmp_path / "notebooks" / "reads_data.ipynb")
    page = {"path": "notebooks/reads_data.ipynb", "part": "t"}
    registry = {"parts": {"t": "Test"}, "notebooks": [
        {**page, "name": "datasheet", "title": "Stand-ins", "stand_ins_only": True,
         "presets": {"smoke": {"page": "datasheet"}, "paper": {"page": "datasheet"}}},
        {**page, "name": "icmr", "title": "ICMR", "needs": ["fcvid"], "presets": {
            "smoke": {"page": "icmr"}, "paper": {"page": "icmr", "source": "real"}}},
        {**page, "name": "xflow", "title": "XFlow", "needs": ["avletters"], "presets": {
            "smoke": {"page": "xflow"}, "paper": {"page": "xflow", "source": "real"}}},
    ]}
    (tmp_path / "notebooks" / "registry.yaml").write_text(yaml.safe_dump(registry))
    return tmp_path


def _run(project, data_root, **kw):
    registry = runner.load_registry(project / "notebooks" / "registry.yaml")
    lines = []
    failures = runner.run(registry=registry, results_root=str(project / "results"), data_root=str(data_root),
                          log=lines.append, **kw)
    return failures, lines


def test_paper_without_any_real_data_stops_with_one_message(paper_project, tmp_path_factory):
    empty = tmp_path_factory.mktemp("nodata")
    with pytest.raises(DataError) as err:
        _run(paper_project, empty, scale="paper")
    text = str(err.value)
    assert "nothing runs" in text and "MISSING  fcvid" in text and "MISSING  avletters" in text
    assert "needed by icmr" in text and "needed by xflow" in text
    assert not (paper_project / "results").exists()  # stopped before executing anything


def test_paper_with_part_of_the_data_runs_what_it_can(paper_project, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    _fcvid(data)
    failures, lines = _run(paper_project, data, scale="paper", device="cpu")  # explicit: no GPU here
    assert failures == 0
    results = paper_project / "results"
    assert json.loads((results / "icmr.json").read_text())["source"] == "real"
    assert json.loads((results / "icmr.json").read_text())["device"] == "cpu"  # the kernels train where asked
    assert not (results / "xflow.json").exists() and not (results / "datasheet.json").exists()
    manifest = json.loads((paper_project / "book" / "generated" / "manifest.json").read_text())
    runs = manifest["runs"]
    assert runs["icmr"]["status"] == "ok"
    assert runs["xflow"]["status"] == "not run" and "avletters" in runs["xflow"]["reason"]
    assert runs["datasheet"]["status"] == "not run" and "stand-ins" in runs["datasheet"]["reason"]
    assert any("MISSING  avletters" in ln for ln in lines)


def test_the_smaller_scales_run_on_the_stand_ins(paper_project, tmp_path_factory):
    failures, _ = _run(paper_project, tmp_path_factory.mktemp("data"), scale="smoke")
    assert failures == 0
    assert {p.stem for p in (paper_project / "results").glob("*.json")} == {"datasheet", "icmr", "xflow"}
    assert json.loads((paper_project / "results" / "icmr.json").read_text())["device"] == "auto"


def test_the_paper_scale_requires_its_gpu(paper_project, tmp_path_factory, monkeypatch):
    data = tmp_path_factory.mktemp("data")
    _fcvid(data)
    monkeypatch.setattr(runner_module, "cuda_problem", lambda index=0: "no NVIDIA driver was found")
    with pytest.raises(DeviceUnavailableError, match="no NVIDIA driver.*--device cpu"):
        _run(paper_project, data, scale="paper")
    assert not (paper_project / "results").exists()  # stopped before executing anything
    code = runner.main(["--registry", str(paper_project / "notebooks" / "registry.yaml"), "--scale", "paper",
                        "--data-root", str(data)])
    assert code == 2


def test_get_device_follows_the_runners_device(monkeypatch):
    import torch

    from avlib import utils

    monkeypatch.setenv(utils.DEVICE_ENV, "cpu")
    assert utils.get_device() == torch.device("cpu")
    monkeypatch.setenv(utils.DEVICE_ENV, "cuda")
    monkeypatch.setattr(utils, "cuda_problem", lambda index=0: "no device")
    with pytest.raises(DeviceUnavailableError, match="no device"):
        utils.get_device()  # required: never a silent CPU fallback
    assert utils.get_device("cpu") == torch.device("cpu")  # an explicit device still wins
    monkeypatch.setenv(utils.DEVICE_ENV, "auto")
    assert utils.get_device().type in ("cpu", "cuda")


def test_the_book_registry_names_what_each_page_reads():
    reg = runner.load_registry()
    by = {e.name: e for e in reg.notebooks}
    assert by["data_instruments"].stand_ins_only
    assert by["icmr_audio"].needs == ("fcvid",) and by["icmr_youtube8m"].needs == ("youtube8m",)
    assert set(by["xflow_crossval"].needs) == {"avletters", "digits", "cuave"}
    for e in reg.notebooks:  # every page that reads data reads the real data at the paper scale
        if e.needs:
            assert (e.presets.get("paper") or {}).get("source", "").startswith("real"), e.name
