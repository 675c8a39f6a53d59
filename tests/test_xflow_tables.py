"""The XFlow pages as a reader sees them: the table views of
:mod:`avlib.experiments.xflow.tables` (intervals in one cell at the paper's precision, narrow
enough for the page) and the figures of :mod:`avlib.experiments.xflow.figures`."""
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from avlib.bookcheck import TABLE_MAX_CHARS, check_pages  # noqa: E402
from avlib.claims import Evidence  # noqa: E402
from avlib.config.xflow import XFlowConfig  # noqa: E402
from avlib.experiments.xflow import display, figures, tables  # noqa: E402
from avlib.report import Provenance, settings_box, style_table  # noqa: E402
from avlib.train.protocols import CVResult, RunResult, merge_seeds  # noqa: E402

PROV = Provenance("embedded benchmark", "smoke", [0, 1])


def _runs(seed, scores, *, history=None):
    runs = [RunResult(fold=k, run=0, seed=seed + 1000 * k, protocol="clean", test_acc=s, max_test_acc=s + 0.05,
                      val_acc=0.5, selected_epoch=1, seconds=0.0, n_train=8, n_val=1, n_test=1, base_seed=seed,
                      history=list(history or []))
            for k, s in enumerate(scores)]
    return CVResult("clean", runs, list(runs))


def _cv(*per_seed, history=None):
    return merge_seeds([_runs(s, sc, history=history) for s, sc in enumerate(per_seed)])


@pytest.fixture
def results():
    """Digits, both architectures, every variant, 3 folds x 2 seeds (CNN x MLP) / 1 seed (LSTM)."""
    hist = [{"epoch": e, "val_acc": 0.1 * e, "train_acc": 0.2 * e, "test_acc": 0.1 * e, "test_loss": 2.0 - 0.1 * e}
            for e in (1, 2, 3)]
    res = {}
    for fam, n_seeds in (("cnnxmlp", 2), ("lstm", 1)):
        for i, var in enumerate(("baseline", "xflow", "no_xconns", "no_resconns")):
            base = np.array([0.5, 0.6, 0.7]) + 0.02 * i
            res[(fam, var, "clean")] = _cv(*[base + 0.01 * s for s in range(n_seeds)], history=hist)
    return {"digits": res}


def _page_problems(tmp_path, frame) -> list:
    """The reader checks of the book (padding zeros, width) on ``frame`` rendered as the book
    renders it."""
    html = style_table(frame, PROV, "A table").to_html()
    (tmp_path / "page.html").write_text(f"<html><body><article>{html}</article></body></html>")
    return check_pages(tmp_path, ["page.html"])


# ----------------------------------------------------------------------------- formatting
def test_interval_number_and_p_texts():
    assert display.interval_text(73.14, 70.56, 75.61) == "73.1 [70.6, 75.6]"
    assert display.interval_text(73.14, float("nan"), 75.6) == "73.1"
    assert display.interval_text(float("nan"), 1, 2) == "–"
    assert display.interval_text(-6.9e-16, -110.04, 110.04) == "0.0 [-110.0, 110.0]"   # never "-0.0"
    assert display.number_text(None) == "–" and display.number_text(0.256, 2) == "0.26"
    assert [display.p_text(p) for p in (0.65, 0.05, 0.002, 0.0012, 1.0, 0.7877, 0.0004, float("nan"))] == \
        ["0.65", "0.05", "0.002", "0.0012", "1", "0.79", "< 0.001", "–"]
    assert display.tidy_numbers("t over 2 folds (n_test/n_train = 1.000): p = 0.788; x 0.250, 10.0") == \
        "t over 2 folds (n_test/n_train = 1): p = 0.788; x 0.25, 10"


# ----------------------------------------------------------------------------- Table III
def test_table3_views_keep_integer_counts_and_name_the_datasets():
    t3 = display.table3_view(tables.table3_params())
    assert list(t3.columns[:4]) == ["model", "variant", "AVletters (paper)", "AVletters (ours)"]
    assert set(t3.variant) == {"baseline", "XFlow"}
    assert t3["AVletters diff"].tolist() == [0, 0, -156, 0]
    gap = display.lstm_gap_view(tables.lstm_baseline_gap())
    assert "time-axis BN parameters" in gap and gap["diff"].tolist() == [-156, 0]
    v = display.variant_params_view(tables.variant_params())
    assert {"AVletters", "Digits/CUAVE"} <= set(v.columns) and "no x-conn." in set(v.variant)


# ----------------------------------------------------------------------------- Tables IV-V
def test_table4_views_split_the_table_and_show_intervals_in_one_cell(results, tmp_path):
    dtn = {"digits": _cv([0.4, 0.5, 0.6])}
    t4 = tables.table4(results, protocol="clean", dtn=dtn)
    accuracy, test = display.table4_views(t4)
    assert list(accuracy.columns) == ["model", "dataset", "baseline (paper)", "baseline (ours)", "XFlow (paper)",
                                      "XFlow (ours)", "p (paper)", "p (ours)"]
    assert len(accuracy) == len(t4)
    row = t4[(t4.model == "CNNxMLP") & (t4.dataset == "Digits")].iloc[0]
    shown = accuracy.set_index(["model", "dataset"]).loc[("CNNxMLP", "Digits")]
    assert shown["XFlow (ours)"] == display.interval_text(row["xflow_pct (ours)"], row.xflow_ci_lo_pct,
                                                         row.xflow_ci_hi_pct)
    assert shown["baseline (paper)"] == "78.3" and shown["p (paper)"] == "0.002"
    assert accuracy.set_index(["model", "dataset"]).loc[("CNNxMLP", "AVletters"), "XFlow (ours)"] == "–"
    # the test table: the rows we ran (no DTN), the paper's difference beside ours
    assert list(test.columns) == ["model", "dataset", "XFlow − baseline (paper)", "XFlow − baseline (ours)",
                                  "p (corrected t)", "seeds per fold"]
    assert set(zip(test.model, test.dataset)) == {("CNNxMLP", "Digits"), ("CNNxMLP-LSTM", "Digits")}
    t = test.set_index("model")
    assert t.loc["CNNxMLP", "XFlow − baseline (paper)"] == "9.4"                 # 87.7 - 78.3
    assert t.loc["CNNxMLP", "XFlow − baseline (ours)"].startswith("2.0 [")
    assert t.loc["CNNxMLP", "seeds per fold"] == 2 and t.loc["CNNxMLP-LSTM", "seeds per fold"] == 1
    # both fit the page and print no padding zeros
    assert _page_problems(tmp_path, accuracy) == [] and _page_problems(tmp_path, test) == []
    # the full table does not fit: that is why it is split
    assert any("characters wide" in p for p in _page_problems(tmp_path, t4))
    # the widest numbers a page can print still fit
    wide = t4.copy()
    for c in wide.columns[2:]:
        wide[c] = -100.0 if c.endswith("lo_pct") or c == "diff_pct" else 100.0
    assert all(_page_problems(tmp_path, v) == [] for v in display.table4_views(wide))


def test_table5_view_has_intervals_and_fits(results, tmp_path):
    t5 = display.table5_view(results, ablation_datasets=["digits"])
    assert list(t5.columns) == ["model", "dataset", "both (paper)", "both (ours)", "no x-conn. (paper)",
                                "no x-conn. (ours)", "no res-conn. (paper)", "no res-conn. (ours)"]
    ours = tables.table5_frame(results).set_index("model").loc["CNNxMLP"]
    row = t5[(t5.model == "CNNxMLP") & (t5.dataset == "Digits")].iloc[0]
    assert row["no x-conn. (ours)"] == display.interval_text(ours.no_xconns_pct, ours.no_xconns_pct_lo,
                                                            ours.no_xconns_pct_hi)
    assert row["both (paper)"] == "86.7"
    assert t5[t5.dataset == "AVletters"]["both (ours)"].eq("–").all()
    assert _page_problems(tmp_path, t5) == []
    assert len(display.table5_view(results, ablation_datasets=[])) == 0


def test_protocol_gap_view_and_design_text(results):
    gap = display.protocol_gap_view(tables.protocol_gap(tables.summarize_cv(results)))
    assert list(gap.columns) == ["dataset", "model", "variant", "clean", "paper's rule", "gap (rule − clean)"]
    assert set(gap["gap (rule − clean)"]) == {"5.0"}
    assert "no res-conn." in set(gap.variant)
    assert display.design_text(results) == \
        "Digits: 3 speaker folds (CNN x MLP 2 seeds per fold, {CNN x MLP}-LSTM 1 seed per fold)"


# ----------------------------------------------------------------------------- Table VI
def test_table6_view_puts_the_seed_interval_beside_the_mean(tmp_path):
    res = {"cuave": {("lstm", "baseline", "clean"): _cv([.5], [.6]), ("lstm", "xflow", "clean"): _cv([.7], [.8])}}
    t6 = tables.table6(res, ["cuave"])["clean"]
    view = display.table6_view(t6).set_index("model")
    assert list(view.columns) == ["CUAVE (paper)", "CUAVE (ours)"]
    assert view.loc["CNNxMLP-LSTM XFlow", "CUAVE (ours)"] == \
        "75.0 " + t6.set_index("model").loc["CNNxMLP-LSTM XFlow", "cuave_ci"]
    assert view.loc["CNNxMLP-LSTM XFlow", "CUAVE (paper)"] == "96.9"
    assert view.loc["CorrRNN (prior state of the art)", "CUAVE (ours)"] == "–"
    assert _page_problems(tmp_path, view.reset_index()) == []


# ----------------------------------------------------------------------------- Claims rows
def _evidence(**kw):
    base = dict(claim="xflow_residual_only_as_good_cnnxmlp", effect=2.5, lo=-107.54, hi=112.54, n=2,
                detail="CNN x MLP: no xconns - xflow, test accuracy (clean), 2 speaker folds (1 seeds averaged "
                       "per fold) of digits",
                test="corrected resampled t over 2 folds (n_test/n_train = 1.000): p = 0.821", p=0.821, se=8.7,
                df=1.0, unit="speaker fold")
    return Evidence(**{**base, **kw})


def test_evidence_views_are_narrow_and_in_words(tmp_path):
    summary, detail = display.evidence_views([_evidence(), _evidence(claim="xflow_lstm_holdout_cuave", n=1,
                                                                    unit="seed", p=float("nan"))])
    assert list(summary.columns) == ["claim", "paper", "ours (points) [95 % interval]", "p", "units"]
    # the claim in the words of the Claims page, never its snake_case id
    assert summary.iloc[0].tolist() == ["Residual-only as good as both connections: CNN×MLP", "-0.2 / +1.0 / -1.5",
                                        "2.5 [-107.5, 112.5]", "0.82", "2 speaker folds"]
    assert summary.iloc[1].claim == "XFlow LSTM beats the baseline on the CUAVE hold-out"
    assert summary.iloc[1].units == "1 seed" and summary.iloc[1].p == "–"
    assert detail.claim.tolist() == summary.claim.tolist()
    d = detail.iloc[0]
    assert d["what is compared"] == ("CNN x MLP: no x-conn. - XFlow (both), test accuracy (clean), 2 speaker folds "
                                     "(1 seed averaged per fold) of Digits")
    assert "1.000" not in d.test and "n_test/n_train = 1)" in d.test
    assert _page_problems(tmp_path, summary) == [] and _page_problems(tmp_path, detail) == []
    summary, _ = display.evidence_views([_evidence(converged="yes")])
    assert summary.converged.tolist() == ["yes"]


def test_convergence_view_names_the_factor():
    conv = pd.DataFrame([dict(claim="xflow_lstm_holdout_cuave", effect=2.04, effect_short=1.0, change=1.04,
                              half_width=3.0, converged="yes")])
    view = display.convergence_view(conv, 0.5)
    assert list(view.columns) == ["claim", "effect", "effect at 0.5 × the epochs", "change", "half-width",
                                  "converged"]
    assert view.iloc[0].tolist() == ["XFlow LSTM beats the baseline on the CUAVE hold-out", "2.0", "1.0", "1.0",
                                     "3.0", "yes"]
    assert display.convergence_view(None) is None


def test_silhouette_and_equation1_views_at_two_decimals():
    sil = pd.DataFrame(dict(connection=["x2d1d_1", "x2d1d_2"], examples=[30, 30],
                            silhouette_raw=[-0.26598, 0.1004], silhouette_tsne_2d=[-0.3343, 0.35]))
    v = display.silhouette_view(sil)
    assert v["cross-connection"].tolist() == ["first 2D→1D", "second 2D→1D"]
    assert v["silhouette, raw outputs"].tolist() == ["-0.27", "0.10"]
    eq = pd.DataFrame(dict(kernel=[0], example=[15], label=["seven"], steps=[8], pearson_r=[0.934196]))
    assert display.equation1_view(eq).iloc[0].tolist() == [0, 15, "seven", 8, "0.93"]


# ----------------------------------------------------------------------------- settings box
def test_compact_changes_collapse_per_model_keys():
    smoke = display.compact_changes(XFlowConfig.for_scale("smoke"))
    assert smoke["training.epochs.*.*.*"] == (300, "1–2")
    assert smoke["data.downsample.*"] == (1, "4")
    assert smoke["training.*.lr"] == (0.001, "0.003")
    assert smoke["training.cnnxmlp.seeds"] == ([0], [0, 1])
    assert not any(k.startswith("training.epochs.digits") for k in smoke)
    assert len(smoke) < len(XFlowConfig.for_scale("smoke").changes()) / 2
    cpu = display.compact_changes(XFlowConfig.for_scale("cpu"))
    assert cpu["training.epochs.*.*.*"] == (300, "20–40")
    # different old values stay separate keys
    assert cpu["training.cnnxmlp.batch_size"] == (128, 64) and cpu["training.lstm.batch_size"] == (32, 64)
    part = display.compact_changes(XFlowConfig().with_overrides({"training.epochs.avletters.*.*": 3}))
    assert part == {"training.epochs.*.*.* (8 of 24)": (300, "3")}
    assert display.compact_changes(XFlowConfig()) == {}


def test_settings_box_rows_of_each_page():
    cfg = XFlowConfig.for_scale("smoke")
    text = settings_box(PROV, cfg=display.CompactSettings(cfg), extra=display.settings_rows(cfg, "crossval"),
                        parameters={}, show=False)
    # the short box, then the folded table of the values changed from the paper's settings
    assert text.count(":::") == 4 and "| `training.epochs.*.*.*` | 300 | 1–2 |" in text
    assert "**how this scale differs from the paper**: A test of the pipeline only" in text
    assert "**cross-validation**: Digits, the first 2 speaker folds of each" in text
    assert "corrected resampled t" in text and "Digits 10.0 %" in text
    ho = display.settings_rows(cfg, "holdout")
    assert ho["hold-out split (Table VI)"] == "CUAVE, 1 epoch per model"
    assert "training seed" in ho["unit of replication"]
    assert "XFlow CNN×MLP (1 epoch)" in ho["analysis models (Figs. 9-11)"]
    assert "every scale" in display.settings_rows(cfg, "params")["what is counted"]
    with pytest.raises(ValueError):
        display.settings_rows(cfg, "nope")


# ----------------------------------------------------------------------------- figures
def test_figures_have_no_titles_inside_and_label_their_axes(results):
    cfg = XFlowConfig.for_scale("smoke")
    f78 = figures.figure7_8(results, cfg)
    assert f78.figure._suptitle is None
    assert f78.label == "{CNN x MLP}-LSTM on Digits"
    acc_ax, loss_ax = f78.figure.axes
    assert acc_ax.get_ylabel() == "test-fold accuracy (%)" and "nats" in loss_ax.get_ylabel()
    # accuracies are plotted in %
    assert max(max(line.get_ydata()) for line in acc_ax.get_lines()) == pytest.approx(30.0)
    assert f78.figure.get_figwidth() <= 9
    plt.close("all")


def test_run_curves_figure_colours_variants_alike_on_every_panel(results):
    from avlib.experiments.xflow.analysis import run_curves

    fig = figures.plot_run_curves(run_curves(results))
    assert fig.get_figwidth() <= 9 and len([a for a in fig.axes if a.get_visible()]) == 2
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[0].startswith("baseline") and labels[3].startswith("no residual connections")
        lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert [matplotlib.colors.to_hex(line.get_color()) for line in lines] == \
            [matplotlib.colors.to_hex(c) for c in ("C0", "C1", "C2", "C3")]
    empty = figures.plot_run_curves(pd.DataFrame(columns=["dataset", "family", "variant", "epoch", "val_acc"]))
    assert "no validation curves" in empty.axes[0].texts[0].get_text()
    # one epoch: the point is drawn and the axis is not a sliver around it
    one = run_curves({"digits": {("lstm", "xflow", "clean"): _cv([.5, .6], history=[
        {"epoch": 1, "val_acc": 0.4, "train_acc": 0.5}])}})
    ax = figures.plot_run_curves(one).axes[0]
    assert ax.get_xlim() == (0.0, 2.0) and ax.get_lines()[1].get_marker() == "o"
    plt.close("all")


def test_tsne_equation1_and_maps_figures():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(26), 2)
    ax = figures.plot_tsne(rng.normal(size=(52, 2)), labels, class_names=[chr(65 + i) for i in range(26)])
    styles = {(matplotlib.colors.to_hex(c.get_facecolor()[0]), str(c.get_paths()[0].vertices.round(2).tolist()))
              for c in ax.collections}
    assert len(styles) == 26                                    # 26 classes, 26 distinct colour-marker pairs
    assert "t-SNE dimension 1" in ax.get_xlabel() and ax.get_legend().get_title().get_text() == "class"
    curves = [{"diff_mfcc": rng.random(6), "diff_img": rng.random((1, 6)), "kernels": [k]} for k in range(5)]
    fig = figures.plot_equation1(curves)
    assert len(fig.axes) == 10 and fig.get_figwidth() <= 9 and len(fig.legends) == 1
    maps = [rng.random((5, 8)) for _ in range(6)]
    fig = figures.plot_residual_maps(maps, titles=[f"kernel {k}" for k in range(6)])
    images = [a for a in fig.axes if a.images]
    assert len(images) == 6 and fig.get_figwidth() <= 9
    assert all(math.isclose(a.images[0].get_array().max(), 1.0) for a in images)    # scaled per kernel
    assert any(a.get_ylabel() == "output (scaled per kernel)" for a in fig.axes)     # the colour bar
    plt.close("all")


def test_convergence_view_on_part_of_the_folds_shows_both_lengths_on_those_folds():
    conv = pd.DataFrame([dict(claim="xflow_lstm_holdout_cuave", effect=2.04, effect_matched=3.0, effect_short=1.0,
                              change=2.0, half_width=3.0, converged="yes")])
    view = display.convergence_view(conv, 0.5)
    assert list(view.columns) == ["claim", "effect", "effect, checked folds", "checked folds at 0.5 × the epochs",
                                  "change", "half-width", "converged"]
    assert view.iloc[0].tolist()[1:] == ["2.0", "3.0", "1.0", "2.0", "3.0", "yes"]
