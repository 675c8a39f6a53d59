"""The ICMR pages' display tables and figures (avlib.experiments.icmr.tables / figures).

The saved result tables are not touched by these functions; what is tested here is what a
reader sees: the paper beside ours with intervals in the cell, two decimals, narrow enough for
the content column (the book check's width estimate), the majority-class baseline, and figures
sized for the page with a colour bar in % of the true class and no title inside the image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from avlib.bookcheck import check_pages
from avlib.experiments.icmr import display as D
from avlib.experiments.icmr import tables as T
from avlib.report import Provenance, style_table

PROV = Provenance("embedded benchmark", "cpu", [0, 1])


def _page_problems(tmp_path, *frames) -> list:
    """The book check's reader problems of ``frames`` rendered as the pages render them."""
    html = "".join(style_table(df, PROV, "Table").to_html() for df in frames)
    page = tmp_path / "page.html"
    page.write_text(f"<html><body><article>{html}</article></body></html>", encoding="utf-8")
    return check_pages(tmp_path, ["page.html"])


def _audio_runs(seeds=(0, 1, 2)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for method, base, params in (("Han et al. 2016", 60, 1447148), ("Choi et al. 2016 + CC", 70, 2352844),
                                 ("Choi et al. 2016 + UC", 72, 2352844), ("Xception + UC", 74, 9653492)):
        for s in seeds:
            rows.append({"method": method, "seed": s, "crop": method.split("+ ")[-1] if "+" in method else "UC",
                         "params": params, "params_paper_input": params,
                         **{m: base + rng.normal(0, 2) for m in ("hit_at_1", "hit_at_3", "f1", "f1_macro")}})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- formatting
def test_interval_in_one_cell_at_the_papers_precision():
    assert D.fmt_interval(73.1, 70.6, 75.6) == "73.10 [70.60, 75.60]"
    assert D.fmt_interval(73.1) == "73.10"  # one seed: no interval
    assert D.fmt_interval(73.1, np.nan, np.nan) == "73.10"
    assert D.fmt_interval(np.nan, 1, 2) == T.DASH
    assert D.fmt_number(5154.0, 0) == "5,154" and D.fmt_number(None) == T.DASH
    assert D.fmt_interval(2.0 / 3, 0.1, 1.234, digits=1) == "0.7 [0.1, 1.2]"


def test_table3_paper_beside_ours_two_level_header_and_intervals(tmp_path):
    runs = _audio_runs()
    summary = T.seed_summary(runs, by="method", carry=("params_paper_input",))
    table = T.with_intervals(T.table3_side_by_side(summary), summary, on="method")
    shown = D.paper_beside_ours(table, summary, keys="method", extra=[("params_M", "parameters (M)", 2)])
    assert isinstance(shown.columns, pd.MultiIndex) and shown.shape == (4, 9)
    assert list(shown.columns[:3]) == [("method", ""), ("parameters (M)", "paper"), ("parameters (M)", "ours")]
    row = shown.set_index(("method", "")).loc["Choi et al. 2016 + UC"]
    assert row[("Hit@1 (%)", "paper")] == "79.81"  # the paper's value at two decimals
    s = summary.set_index("method").loc["Choi et al. 2016 + UC"]
    assert row[("Hit@1 (%)", "ours")] == f"{s['hit_at_1']:.2f} [{s['hit_at_1_lo']:.2f}, {s['hit_at_1_hi']:.2f}]"
    assert row[("weighted F1 (%)", "paper")] == "78.71" and row[("parameters (M)", "ours")] == "2.35"
    assert ("macro F1 (%)", "ours") not in shown.columns  # in the detail table
    detail = D.ours_detail(summary, keys="method")
    assert list(detail.columns) == ["method", "macro F1 (%)", "seeds"] and set(detail["seeds"]) == {"3"}
    assert _page_problems(tmp_path, shown, detail) == []


def test_table2_rows_on_one_side_only_have_a_dash_and_empty_sides_are_dropped(tmp_path):
    runs = pd.DataFrame({"frames": [4, 4, 4, 4], "pretrained": [False, True, False, True], "seed": [0, 0, 1, 1],
                         "steps": [10] * 4, "pretrain_source": ["image bank"] * 4,
                         "hit_at_1": [40.0, 50, 42, 52], "hit_at_3": [60.0, 70, 62, 72],
                         "f1": [38.0, 48, 40, 50], "f1_macro": [30.0, 40, 32, 42]})
    summary = T.seed_summary(runs, by=["frames", "pretrained"], carry=("steps",))
    summary["train_seconds"] = summary["pretrain_seconds"] = np.nan
    table = T.with_intervals(T.table2_side_by_side(summary), summary, on=["frames", "pretrained"])
    shown = D.paper_beside_ours(table, summary, keys=["frames", "pretrained"], key_names={"pretrained": "pre-trained"},
                                extra=[("steps", "steps", 0), ("hours", "hours", 0)])
    assert ("hours", "paper") in shown.columns and ("hours", "ours") not in shown.columns  # ours: timings table
    rows = shown.set_index([("frames", ""), ("pre-trained", "")])
    assert rows.loc[("4", "yes"), ("Hit@1 (%)", "paper")] == T.DASH
    assert rows.loc[("4", "yes"), ("Hit@1 (%)", "ours")].startswith("51.00 [")
    assert rows.loc[("50", "yes"), ("steps", "paper")] == "21,000"
    assert rows.loc[("50", "yes"), ("Hit@1 (%)", "ours")] == T.DASH
    assert _page_problems(tmp_path, shown) == []


def test_table4_majority_baseline_rows_and_values():
    y_train = np.array([0] * 10 + [1] * 5 + [2] * 3 + [3] * 2)
    y_test = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    base = D.class_baselines(y_train, y_test, 4, categories=["guitarPerformance", "piano", "cello", "flute"])
    chance, major = base.iloc[0], base.iloc[1]
    assert chance["hit_at_1"] == pytest.approx(25.0) and chance["hit_at_3"] == pytest.approx(75.0)
    assert major["method"] == "majority class (guitar)"
    assert major["hit_at_1"] == pytest.approx(100 * 3 / 8)
    assert major["hit_at_3"] == pytest.approx(100 * 6 / 8)  # classes 0, 1, 2
    assert major["f1"] == pytest.approx(100 * f1_score(y_test, np.zeros_like(y_test), average="weighted",
                                                        zero_division=0))
    share = np.bincount(y_test, minlength=4) / len(y_test)
    assert chance["f1"] == pytest.approx(100 * np.sum(share * 2 * share * 0.25 / (share + 0.25)))
    assert major["hit_at_1"] > chance["hit_at_1"]  # imbalanced: the floor is above chance

    summary = pd.DataFrame({"method": ["Choi et al. 2016"], "model": ["fusion"], "hit_at_1": [50.0],
                            "hit_at_3": [70.0], "f1": [45.0], "f1_macro": [30.0], "n_seeds": [1]})
    t4 = T.table4_side_by_side(summary, dataset="YT-8M", paper_frames=20)
    shown = D.paper_beside_ours(t4, summary, keys=["method", "model"], baselines=base)
    last = shown.iloc[-1]
    assert last[("method", "")] == "majority class (guitar)" and last[("model", "")] == "baseline"
    assert last[("Hit@1 (%)", "ours")] == "37.50" and last[("Hit@1 (%)", "paper")] == T.DASH
    human = shown[shown[("method", "")] == "human listeners"].iloc[0]
    assert human[("weighted F1 (%)", "paper")] == "85.00" and human[("Hit@1 (%)", "paper")] == T.DASH


def test_secondary_tables_are_readable(tmp_path):
    boot = pd.DataFrame({"run": ["Xception fusion", "1 frames, PT"], "hit_at_1": [50.0, 40.0],
                         "lo": [40.0, 30.0], "hi": [60.0, 50.0], "n_test": [773, 773], "n_seeds": [2, 2]})
    b = D.bootstrap_display(boot)
    assert b.iloc[0].tolist() == ["Xception fusion", "50.00 [40.00, 60.00]", "773", "2"]
    assert b.iloc[1]["model"] == "1 frame, pre-trained"
    timings = pd.DataFrame({"seed": [0, 0], "table": [2, 4], "method": [np.nan, "Choi et al. 2016"],
                            "model": [np.nan, "fusion"], "frames": [1.0, 2.0], "pretrained": [True, np.nan],
                            "train_seconds": [1.234, 5.0], "pretrain_seconds": [2.0, np.nan],
                            "examples_per_s": [100.0, np.nan], "cached": [False, np.nan]})
    t = D.timings_display(timings)
    assert t["run"].tolist() == ["Table 2: 1 frame pre-trained", "Table 4: Choi et al. 2016 fusion 2 frames"]
    assert t["training (s)"].tolist() == ["1.2", "5.0"] and t["reused"].tolist() == ["no", T.DASH]
    from avlib.claims import Evidence

    ev = [Evidence(claim="icmr_uc_ge_cc", effect=1.5, lo=-0.5, hi=3.0, n=6,
                   detail="Choi UC minus Choi CC, Hit@1, 2 seeds x 6 test videos, "
                          "two-level bootstrap (1000 replicates)",
                   test="two-level bootstrap", p=0.2, se=1.0, df=np.inf, unit="test videos")]
    c = D.claims_display(ev)
    assert c.iloc[0]["comparison"] == "Choi UC minus Choi CC, Hit@1, 2 seeds x 6 test videos"
    assert c.iloc[0]["effect (points) [95 % interval]"] == "1.50 [-0.50, 3.00]" and "converged" not in c
    assert c.iloc[0]["p"] == "0.2" and D.fmt_p(0.0004) == "< 0.001" and D.fmt_p(np.nan) == T.DASH
    runs = D.runs_display(_audio_runs(seeds=(0,)))
    assert "parameters at the paper's input" in runs and runs["parameters"].iloc[0] == "1,447,148"
    assert _page_problems(tmp_path, b, t, c, runs) == []


def test_table1_counts_as_integers_and_durations_at_two_decimals(tmp_path):
    table = pd.DataFrame({"property": ["total_categories", "total_videos", "total_duration_hours",
                                       "videos_per_category_mean"],
                          "FCVID (paper)": [12.0, 5154.0, 259.84, 429.0],
                          "FCVID (ours)": [12.0, 5151.0, 259.8404, 428.9166],
                          "YouTube-8M (paper)": [13.0, 60862.0, 4152.09, 4677.0],
                          "YouTube-8M (ours)": [13.0, 60862.0, 4152.0926, 4676.4615]})
    shown = D.table1_display(table)
    assert shown.columns[1] == ("FCVID", "paper") and shown.columns[4] == ("YouTube-8M", "ours")
    assert shown.iloc[1].tolist() == ["videos", "5,154", "5,151", "60,862", "60,862"]
    assert shown.iloc[2, 2] == "259.84" and shown.iloc[3, 3] == "4,677" and shown.iloc[3, 4] == "4,676.46"
    emb = D.embedded_table1_display(pd.DataFrame({"property": ["total_videos", "mean_duration_minutes"],
                                                  "FCVID (real lists)": [5147.0, 3.0267],
                                                  "embedded benchmark": [36.0, 0.11727]}))
    assert emb.iloc[0].tolist() == ["videos", "5,147", "36"] and emb.iloc[1, 2] == "0.12"
    assert _page_problems(tmp_path, shown, emb) == []


@pytest.mark.parametrize("page", sorted(D.FIDELITY_ROWS))
def test_fidelity_table_of_each_page_fits(tmp_path, page):
    from avlib.config.icmr import ICMRConfig

    for scale in ("smoke", "cpu", "paper"):
        shown = D.fidelity_display(ICMRConfig.for_scale(scale), page)
        assert shown["choice"].tolist() == list(D.FIDELITY_ROWS[page])
        assert list(shown.columns) == ["choice", "this run", "paper", "authors' code"]
        assert _page_problems(tmp_path, shown) == []
    with pytest.raises(ValueError):
        D.fidelity_display(ICMRConfig.for_scale("cpu"), "nope")


def test_titan_x_estimate_split_into_two_narrow_tables(tmp_path):
    from avlib.experiments.icmr.throughput import titan_x_estimate

    est = titan_x_estimate(50.0, device="cuda AMP", flops_per_frame=17e9)
    hours, compute = D.titan_x_display(est)
    assert len(hours) == len(compute) == len(est)
    assert "hours, our code (cuda AMP)" in hours and "Pascal: paper's share of peak (%)" in compute
    assert _page_problems(tmp_path, hours, compute) == []


def test_class_counts_and_diagonals_display(tmp_path):
    counts = pd.DataFrame({"category": ["guitarPerformance", "symphonyOrchestraPerformance"],
                           "yt8m_class": ["Guitar", "Organ"], "yt8m_videos": [24080, 1275],
                           "yt8m_share": [40.14, 2.13], "videos": [16, 1], "share": [40.0, 2.5],
                           "train": [11, 1], "val": [3, 0], "test": [2, 0], "no_instrument": [48.96, 100.0],
                           "mislabelled": [0, 0]})
    shown = D.class_counts_display(counts)
    assert shown.iloc[1, 0] == "symphony orchestra" and shown.iloc[0, 2] == "24,080"
    cm = {"audio": np.eye(3), "fusion": np.array([[0.5, 0.5, 0], [0, 0, 0], [0, 0, 1.0]])}
    diag = D.confusion_diagonals(cm, ["chamberMusic", "celloPerformance", "piano"], [0, 0, 2])
    assert diag["test_videos"].tolist() == [2, 0, 1] and np.isnan(diag.loc[1, "fusion"])
    d = D.per_class_display(diag)
    assert d.iloc[0].tolist() == ["chamber music", "2", "100.00", "50.00"] and d.iloc[1, 2] == T.DASH
    assert _page_problems(tmp_path, shown, d) == []


def test_feature_file_summary_is_a_format_test():
    feats = {"demo": {"audio": np.zeros((1, 1024), np.float32), "video": np.zeros((20, 2048), np.float32)}}
    s = D.feature_file_summary(feats, name="demo.mp4.multimodal.h5", label="accordion")
    assert s.iloc[0].to_dict() == {"file": "demo.mp4.multimodal.h5", "videos": "1", "audio": "1 x 1024",
                                   "video": "20 x 2048", "fusion matrix": "41 x 1024", "label": "accordion"}
    feats["other"] = {"audio": None, "video": np.zeros((5, 2048), np.float32)}
    s = D.feature_file_summary(feats, name="f.h5")
    assert s.iloc[0]["audio"] == "1 x 1024 (1 videos); missing (1 videos)"
    table = pd.DataFrame([{"method": "Xception", "model": "fusion", "frames": 2, "hit_at_1": 50.0, "hit_at_3": 75.0,
                           "f1": 40.0, "f1_macro": 30.0, "n_missing": 0, "train_seconds": 1.0,
                           "n_train": 25, "n_val": 5, "n_test": 6}])
    row = D.feature_file_display(table, identical=True).iloc[0]
    assert row["videos (train / val. / test)"] == "25 / 5 / 6" and row["same as Table 4's fusion"] == "yes"


# ----------------------------------------------------------------------------- figures
def test_confusion_figure_fits_the_page_with_a_colour_bar_and_no_title():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avlib.data.instruments.generate import CATEGORIES
    from avlib.experiments.icmr import figures

    assert figures.short_category("rockBandPerformance") == "rock band"
    assert figures.short_category("chamberMusic") == "chamber music"
    cm = np.eye(12)
    cm[3] = 0  # a class without test videos
    fig = figures.plot_confusions({"audio": cm, "video": cm, "fusion": cm}, CATEGORIES)
    try:
        w, h = fig.get_size_inches()
        assert w <= figures.PAGE_WIDTH + 1e-9 and w * fig.dpi <= 900 and h < w
        assert fig._suptitle is None  # captions live outside the image
        bars = [ax for ax in fig.axes if ax.get_ylabel() == "% of the true class"]
        assert len(bars) == 1 and len(fig.axes) == 4
        panels = [ax for ax in fig.axes if ax not in bars]
        assert [t.get_text() for t in panels[0].get_yticklabels()][4] == "symphony orchestra"
        image = panels[0].get_images()[0]
        assert image.get_cmap().name.startswith("viridis") and image.get_clim() == (0, 100)
        assert np.ma.is_masked(image.get_array()[3, 0]) and not np.ma.is_masked(image.get_array()[2, 2])
        fig.canvas.draw()  # lays out without error
    finally:
        plt.close(fig)


def test_degradation_figure_one_legend_three_panels():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avlib.experiments.icmr import figures

    rows = []
    for model in ("fusion", "audio only", "video only"):
        rows.append({"condition": "clean", "level": 0.0, "model": model, "hit_at_1": 60.0})
    for snr in (10.0, -10.0):
        rows += [{"condition": "audio noise", "level": snr, "model": m, "hit_at_1": 50.0}
                 for m in ("fusion", "audio only")]
    for keep in (1.0, 0.5, 0.0):
        rows += [{"condition": "frames kept", "level": keep, "model": m, "hit_at_1": 40.0}
                 for m in ("fusion", "video only")]
    rows += [{"condition": c, "level": np.nan, "model": "fusion", "hit_at_1": 30.0}
             for c in ("audio missing", "video missing")]
    fig = figures.plot_degradation(pd.DataFrame(rows))
    try:
        assert fig.get_size_inches()[0] <= figures.PAGE_WIDTH + 1e-9 and len(fig.axes) == 3
        assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == list(figures.MODEL_ORDER)
        assert all(ax.get_legend() is None for ax in fig.axes) and fig._suptitle is None
    finally:
        plt.close(fig)


def test_rows_follow_the_runs_and_the_papers_integers_stay_integers():
    summary = pd.DataFrame({"method": ["Xception", "Xception", "Inception v3"],
                            "model": ["fusion", "audio only", "video only"],
                            "hit_at_1": [50.0, 40.0, 30.0], "hit_at_3": [70.0, 60.0, 50.0], "f1": [45.0, 35.0, 25.0],
                            "f1_macro": [40.0, 30.0, 20.0], "n_seeds": [1, 1, 1]})
    t4 = T.table4_side_by_side(summary)  # the saved table: merge order
    shown = D.paper_beside_ours(t4, summary, keys=["method", "model"])
    assert shown[("method", "")].tolist()[:3] == ["Xception", "Xception", "Inception v3"]
    assert shown[("model", "")].tolist()[:3] == ["fusion", "audio only", "video only"]
    assert len(shown) == len(t4)  # the paper's Choi rows follow
    kept = D.paper_beside_ours(t4, summary, keys=["method", "model"], order_by_summary=False)
    assert kept[("method", "")].tolist() == t4["method"].tolist()
    table = pd.DataFrame({"property": ["videos_per_category_mean"], "FCVID (paper)": [429.0],
                          "FCVID (ours)": [428.9166]})
    assert D.table1_display(table).iloc[0].tolist() == ["videos per category, mean", "429", "428.92"]


def test_panel_titles_break_before_the_bracket():
    from avlib.experiments.icmr.figures import _panel_title

    assert _panel_title("audio (Xception + UC)", fit=29) == "audio (Xception + UC)"
    assert _panel_title("fusion (Xception + Inception v3)", fit=29) == "fusion\n(Xception + Inception v3)"


def test_benchmark_baselines_count_the_training_videos():
    from types import SimpleNamespace

    videos = pd.DataFrame({"label": [0, 0, 0, 1, 2, 1, 0], "split": ["train"] * 5 + ["test"] * 2})
    bench = SimpleNamespace(videos=videos, num_classes=3, categories=["pianoPerformance", "cello", "flute"])
    base = D.benchmark_baselines(bench, [1, 0])
    assert base["method"].tolist() == ["chance (uniform guess)", "majority class (piano)"]
    assert base["hit_at_1"].iloc[1] == pytest.approx(50.0)
    assert D.baseline_text(base) == {"chance": "33.33", "majority": "50.00", "majority_name": "piano"}
    assert D.benchmark_baselines(SimpleNamespace(num_classes=3, categories=[]), [0]) is None
    assert D.baseline_text(None)["majority"] == T.DASH
