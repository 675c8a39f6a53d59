"""Project-level consistency: pins, book structure, provenance tables, reproducibility report."""

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avlib import bookcheck, reproducibility
from avlib.errors import ParameterError
from avlib.paths import embedded_root, results_dir
from avlib.report import (Provenance, load_result, paper_table, paper_table_names, readable_column, save_result,
                          settings_box, side_by_side, style_table)
from avlib.run import load_registry

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_pins():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        deps += extra
    return dict(d.split("==") for d in deps)


def test_environment_yml_mirrors_pyproject_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert dict(p.split("==") for p in pip_section) == _pyproject_pins()
    assert all("==" in p for p in pip_section)


def test_every_registered_notebook_is_in_the_toc_and_back():
    registry = load_registry(ROOT / "notebooks" / "registry.yaml")
    toc = bookcheck.toc_files(ROOT / "_toc.yml")
    generated = {f.split("/")[-1] for f in toc if f.startswith("book/generated/")}
    assert generated == set(registry.names())
    for entry in registry.notebooks:
        assert entry.path.exists(), entry.path
        assert entry.part in registry.parts
    for f in toc:
        if not f.startswith("book/generated/"):
            assert (ROOT / f"{f}.md").exists() or (ROOT / f).exists(), f


def test_every_artifact_names_a_registered_notebook():
    names = set(load_registry(ROOT / "notebooks" / "registry.yaml").names())
    for art in reproducibility.load_artifacts():
        assert art["kind"] in ("exact", "embedded", "new")
        if art["notebook"] not in names:
            pytest.fail(f"{art['item']} of {art['paper']} points at unregistered notebook {art['notebook']}")


def test_paper_tables_ship_with_the_package():
    assert "xflow_table3_params" in paper_table_names()
    t3 = paper_table("xflow_table3_params")
    assert int(t3.loc[(t3.model == "CNNxMLP") & (t3.variant == "xflow"), "avletters"].iloc[0]) == 8852962
    with pytest.raises(ParameterError, match="valid names"):
        paper_table("table99")


def test_side_by_side_pairs_columns_and_keeps_unmatched_rows():
    paper = pd.DataFrame({"model": ["a", "b"], "acc": [90.0, 80.0]})
    ours = pd.DataFrame({"model": ["b", "c"], "acc": [70.0, 60.0]})
    table = side_by_side(ours, paper, on=["model"], columns=["acc"])
    assert list(table.columns) == ["model", "acc (paper)", "acc (ours)"]
    row_b = table.set_index("model").loc["b"]
    assert row_b["acc (paper)"] == 80.0 and row_b["acc (ours)"] == 70.0
    assert set(table["model"]) == {"a", "b", "c"}
    renamed = side_by_side(ours.rename(columns={"acc": "hit1"}), paper, on=["model"], columns=[("hit1", "acc")])
    assert list(renamed.columns) == ["model", "hit1 (paper)", "hit1 (ours)"]


def test_provenance_caption_never_hides_the_source(tmp_path):
    prov = Provenance(source="embedded benchmark", scale="cpu", seed=3)
    cap = prov.caption("Table 4")
    assert "synthetic stand-in" in cap and "cpu" in cap and "seed 3" in cap
    assert "stand-in" not in Provenance(source="FCVID", scale="paper", seed=0).caption("T")
    # the long notes go to the page's settings box, once, not under every table
    noted = Provenance(source="embedded benchmark", scale="cpu", seed=[0, 1], notes="four epochs instead of 100")
    assert "four epochs" not in noted.caption("T") and "seeds 0, 1" in noted.caption("T")
    box = settings_box(noted, parameters={"scale": "cpu", "config": {"audio.epochs": 4}}, show=False)
    assert "not the paper's data" in box and "four epochs instead of 100" in box and "audio.epochs = 4" in box
    assert box.startswith(":::{admonition}") and box.endswith(":::")
    assert settings_box(noted, show=True) is None  # displayed once, not echoed as the cell result
    path = save_result(pd.DataFrame({"x": [1]}), tmp_path / "r", prov)
    frame, back = load_result(path)
    assert back == prov and frame["x"].tolist() == [1]


def test_paths_reject_unknown_scale(tmp_path):
    assert embedded_root(tmp_path, "smoke", "cuave") == tmp_path / "embedded" / "smoke" / "cuave"
    assert results_dir(tmp_path, "cpu", "nb").is_dir()
    with pytest.raises(ParameterError, match="valid scales: smoke, cpu, paper"):
        embedded_root(tmp_path, "tiny", "x")


def test_reproducibility_status_is_computed(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"runs": {
        "xflow_params": {"status": "ok", "scale": "smoke"},
        "xflow_crossval": {"status": "failed", "scale": "smoke"},
    }}))
    prov = Provenance("architecture", "smoke", 0)
    table3 = tmp_path / "res" / "smoke" / "xflow_params" / "table3_params"
    frame = pd.DataFrame({"avletters (paper)": [2740512, 353650], "avletters (ours)": [2740512, 353494],
                          "digits_cuave (paper)": [5664054, 721170], "digits_cuave (ours)": [5664054, 721170]})
    save_result(frame, table3, prov)
    table = reproducibility.status_table(manifest, tmp_path / "res").set_index("item")
    assert table.loc["Table III", "status"] == "exact except explained cells"
    assert table.loc["Table III", "detail"].startswith("1 of 4 values differ")
    assert table.loc["Table IV", "status"] == "not yet"
    assert table.loc["Table 2", "status"] == "not yet"
    frame.loc[1, "avletters (ours)"] = 353650
    save_result(frame, table3, prov)
    assert reproducibility.status_table(manifest, tmp_path / "res").set_index("item").loc["Table III", "status"] == "exact"


def test_count_mismatches_rounds_to_the_papers_precision():
    frame = pd.DataFrame({"p": [3.03, 429.0, 5154.0, None], "o": [3.0267, 428.92, 5147.0, 1.0]})
    assert reproducibility.count_mismatches(frame, [["p", "o"]]) == (3, 1)
    assert reproducibility.count_mismatches(pd.DataFrame({"p": [2.4], "o": [2.3528]}), [["p", "o", 1]]) == (1, 0)


def test_bookcheck_reports_failed_notebook_error_output_and_missing_page(tmp_path):
    import nbformat
    import shutil

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "registry.yaml").write_text(yaml.safe_dump({"parts": {"a": "A"}, "notebooks": [
        {"name": "one", "path": "notebooks/one.ipynb", "title": "One", "part": "a"},
        {"name": "two", "path": "notebooks/two.ipynb", "title": "Two", "part": "a"}]}))
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "book/index", "parts": [
        {"caption": "A", "chapters": [{"file": "book/generated/one"}, {"file": "book/generated/two"}]}]}))
    gen = tmp_path / "book" / "generated"
    gen.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1/0")
    cell.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    nb.cells.append(cell)
    nbformat.write(nb, gen / "one.ipynb")
    (gen / "manifest.json").write_text(json.dumps({"runs": {
        "one": {"status": "ok", "scale": "smoke"},
        "two": {"status": "failed", "scale": "smoke", "error": {"cell": 3, "ename": "KeyError", "evalue": "x"}}}}))
    html = tmp_path / "_build" / "html" / "book"
    (html / "generated").mkdir(parents=True)
    (html / "index.html").write_text("")
    (html / "generated" / "one.html").write_text("")
    problems = "\n".join(bookcheck.check_book(tmp_path, scale="smoke"))
    assert "notebook two: failed in cell 3: KeyError" in problems
    assert "one.ipynb: cell 0 has an error output (ZeroDivisionError" in problems
    assert "chapter book/generated/two: no page" in problems
    assert "chapter book/generated/one" not in problems


def test_every_registry_preset_names_real_notebook_parameters():
    """A preset key the notebook's parameters cell does not define (or papermill cannot parse) is caught here."""
    from avlib.paths import SCALES
    from avlib.run import notebook_parameters

    registry = load_registry(ROOT / "notebooks" / "registry.yaml")
    for entry in registry.notebooks:
        known = notebook_parameters(entry.path)
        assert {"scale", "data_root", "results_root"} <= set(known), entry.name
        for scale in SCALES:
            unknown = set(entry.presets.get(scale) or {}) - set(known)
            assert not unknown, f"{entry.name} preset {scale}: {sorted(unknown)}"


def test_settings_box_shows_the_injected_values_and_the_config_changes(monkeypatch):
    from avlib.config.base import Config
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class _Cfg(Config):
        scale: str = "paper"
        epochs: int = 100
        SCALES = {"paper": {}, "cpu": {"epochs": 4}}
        NOTES = {"cpu": "two cores"}

    monkeypatch.setenv("AVLIB_PARAMETERS", '{"scale": "cpu", "seed": 1}')
    box = settings_box(Provenance("FCVID", "cpu", 1), cfg=_Cfg.for_scale("cpu"), show=False)
    assert "`seed` = `1`" in box and "| `epochs` | 100 | 4 |" in box and "two cores" in box
    # the changed values sit in their own folded box, after the short one
    short, folded = box.split(":::\n\n", 1)
    assert "epochs" not in short and "1 value(s)" in short
    assert folded.startswith(":::{admonition} The 1 value(s) changed") and ":class: dropdown" in folded
    monkeypatch.delenv("AVLIB_PARAMETERS")
    assert "defaults of the notebook's parameters cell" in settings_box(Provenance("FCVID", "cpu", 1), show=False)


def test_tables_print_integers_as_integers_and_readable_column_names():
    prov = Provenance("embedded benchmark", "cpu", 0)
    df = pd.DataFrame({"hit_at_1 (ours)": [73.1, 50.0], "n_test": [5154.0, 12.0], "f1_macro": [0.5, 0.25]})
    html = style_table(df, prov, "T").to_html()
    assert "5,154" in html and "5154.00" not in html and "73.10" in html and "50.00" in html
    assert "Hit@1 (ours)" in html and "test videos" in html and "macro F1" in html and "n_test" not in html
    assert readable_column("q_bh") == "q (BH)" and readable_column("some_name") == "some name"

def test_performance_page_tables_come_from_the_manifest(tmp_path):
    import json as _json

    from avlib.reproducibility import header_table, manifest_table, performance_table, plot_performance

    manifest = {"git_commit": "abc", "numerics": {"blas": "openblas", "threads": [2, 1]},
                "runs": {"a": {"name": "a", "seconds": 120.0, "peak_memory_mb": 1024.0},
                         "b": {"name": "b", "seconds": 60.0, "peak_memory_mb": 2048.0}}}
    path = tmp_path / "manifest.json"
    path.write_text(_json.dumps(manifest))
    runs, header = manifest_table(path)
    perf = performance_table(runs)
    assert perf["minutes"].tolist() == [2.0, 1.0, 3.0] and perf["peak memory (GB)"].tolist() == [1.0, 2.0, 2.0]
    assert perf["share of the time (%)"].tolist()[:2] == pytest.approx([66.7, 33.3])
    head = header_table(header)
    assert dict(zip(head["field"], head["value"])) == {"git commit": "abc", "numerics blas": "openblas",
                                                       "numerics threads": "2, 1"}
    fig = plot_performance(runs)
    assert [ax.get_xlabel() for ax in fig.axes] == ["wall time (minutes)", "peak memory of the kernel (GB)"]


def test_a_page_shows_only_its_own_part_of_the_settings(monkeypatch):
    """A note split by topic: the audio page does not describe the frame model, and its list of
    changed values holds its own section and the top-level values only."""
    from avlib.config.base import Config
    from avlib.config.icmr import ICMRConfig
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class _Audio:
        epochs: int = 100

    @dataclass(frozen=True)
    class _Visual:
        frames: int = 50

    @dataclass(frozen=True)
    class _Cfg(Config):
        scale: str = "paper"
        seeds: tuple = (0, 1, 2)
        audio: _Audio = field(default_factory=_Audio)
        visual: _Visual = field(default_factory=_Visual)
        SCALES = {"paper": {}, "cpu": {"audio.epochs": 4, "visual.frames": 4, "seeds": [0]}}
        NOTES = {"cpu": {"": "Two cores.", "audio": "Short log-mels.", "visual": "Small frames."}}

    monkeypatch.delenv("AVLIB_PARAMETERS", raising=False)
    cfg = _Cfg.for_scale("cpu")
    assert cfg.note() == "Two cores. Short log-mels. Small frames."
    assert cfg.note(("audio",)) == "Two cores. Short log-mels."
    assert cfg.note(("robustness",)) == "Two cores."
    with pytest.raises(ParameterError):
        cfg.note("audio")
    box = settings_box(Provenance("FCVID", "cpu", 0), cfg=cfg, topics=("audio",), show=False)
    assert "Short log-mels" in box and "Small frames" not in box
    assert "| `audio.epochs` |" in box and "| `seeds` |" in box and "visual.frames" not in box
    assert "2 value(s)" in box and "for this page" in box
    whole = settings_box(Provenance("FCVID", "cpu", 0), cfg=cfg, show=False)
    assert "Small frames" in whole and "3 value(s)" in whole
    # the ICMR pages: the audio page's note says nothing of the frames, and each part is short
    icmr = ICMRConfig.for_scale("cpu")
    assert "Inception" not in icmr.note(("audio",)) and "log-mels" not in icmr.note(("visual",))
    assert all(len(icmr.note((t,)).split()) < 140 for t in ("audio", "visual", "fusion", "youtube8m"))


def test_the_instrument_datasheet_prints_its_statistics_rounded():
    from avlib.data.instruments.datasheet import statistics_display

    stats = pd.DataFrame({"quantity": ["videos", "total duration (h)", "portrait videos (%)", "RT60 (s)", "fps"],
                          "value": [1608, 2.245319446111111, 18.90547263681592, 0.7264427860696516, "12: 788"]})
    shown = statistics_display(stats)["value"].tolist()
    assert shown == ["1,608", "2.25", "18.9", "0.73", "12: 788"]
