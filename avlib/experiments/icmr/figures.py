"""The ICMR 2017 figures: confusion matrices (Figures 2-3) and the robustness figure.

Every figure is sized for the book's content column (:data:`PAGE_WIDTH` inches at
:data:`DPI`, i.e. about 900 pixels shown without scaling) and carries no title inside the image:
the pages give each figure a numbered caption (``{glue:figure}``). Colours are colour-blind safe
(the ``viridis`` map for the matrices, seaborn's ``colorblind`` palette for the curves).

Plotting needs matplotlib, imported when a figure is drawn.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd

__all__ = ["PAGE_WIDTH", "DPI", "MODEL_ORDER", "short_category", "plot_confusions", "plot_degradation"]

#: Width of a full-width figure in inches (at :data:`DPI`: 900 pixels).
PAGE_WIDTH = 9.0
#: Resolution of the figures as the book shows them.
DPI = 100
#: Order (and colour) of the models in the robustness figure.
MODEL_ORDER = ("fusion", "audio only", "video only")


def _pyplot():
    import matplotlib.pyplot as plt  # optional plotting dependency

    return plt


def short_category(name) -> str:
    """A category name as a reader says it: ``"rockBandPerformance"`` -> ``"rock band"``,
    ``"chamberMusic"`` -> ``"chamber music"``, ``"Guitar"`` -> ``"guitar"``."""
    text = str(name).replace("Performance", "")
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    return text.strip().lower()


def plot_confusions(confusions: dict, class_names, *, width: float = PAGE_WIDTH, cmap: str = "viridis",
                    annotate: bool | None = None):
    """Row-normalised confusion matrices side by side with one shared colour bar, as Figures 2-3.

    ``confusions``: ``{panel title: (C, C) array}`` of row fractions (rows = true class,
    :func:`avlib.metrics.classification.confusion`); a row of zeros (a class without test
    videos) is drawn grey, not as 0 %. ``class_names``: in label order, shortened by
    :func:`short_category`. The cells hold the percentage (rounded) when they are large enough
    to read (``annotate=None``: at most 12 classes); zero cells stay empty. The colour bar is
    in % of the true class. ``width``: the figure's width in inches (the height follows).
    """
    plt = _pyplot()
    import matplotlib as mpl

    names = [short_category(c) for c in class_names]
    n, C = len(confusions), len(names)
    annotate = C <= 12 if annotate is None else annotate
    label_in = 0.075 * max(len(s) for s in names) + 0.35  # room for the tick labels (8 pt)
    panel = max(1.6, (width - label_in - 0.9 - 0.15 * (n - 1)) / max(n, 1))
    height = panel + label_in + 0.45
    fig, axes = plt.subplots(1, n, figsize=(width, height), dpi=DPI, sharey=True, squeeze=False,
                             layout="constrained")
    colormap = mpl.colormaps[cmap].with_extremes(bad="0.88")
    image = None
    for j, (ax, (title, cm)) in enumerate(zip(axes[0], confusions.items())):
        pct = 100.0 * np.asarray(cm, dtype=float)
        empty = ~np.isfinite(pct).all(axis=1) | (np.nan_to_num(pct).sum(axis=1) == 0)
        shown = np.ma.masked_array(pct, mask=np.repeat(empty[:, None], C, axis=1))
        image = ax.imshow(shown, cmap=colormap, vmin=0, vmax=100, interpolation="nearest")
        ax.set_title(_panel_title(title, fit=int(panel / 0.06)), fontsize=8.5)
        ax.set_xticks(range(C), names, rotation=90, fontsize=8)
        ax.set_yticks(range(C), names, fontsize=8)
        ax.set_xlabel("predicted class", fontsize=8)
        if j == 0:
            ax.set_ylabel("true class", fontsize=8)
        ax.tick_params(length=2, pad=1)
        if annotate:
            for r in np.flatnonzero(~empty):
                for c in range(C):
                    v = pct[r, c]
                    if v >= 0.5:
                        ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=6,
                                color="black" if v >= 60 else "white")
    cbar = fig.colorbar(image, ax=list(axes[0]), shrink=0.85, aspect=25, pad=0.02)
    cbar.set_label("% of the true class", fontsize=8)
    cbar.ax.tick_params(labelsize=8)
    return fig


def _panel_title(title, *, fit: int) -> str:
    """A panel title within ``fit`` characters a line: a long "model (detail)" breaks before its
    bracket, anything longer wraps."""
    text = str(title)
    if len(text) > fit and " (" in text:
        text = text.replace(" (", "\n(", 1)
    return "\n".join(w for line in text.split("\n") for w in textwrap.wrap(line, max(fit, 12)))


def _metric_label(metric: str) -> str:
    return {"hit_at_1": "Hit@1 (%)", "hit_at_3": "Hit@3 (%)", "f1": "weighted F1 (%)",
            "f1_macro": "macro F1 (%)"}.get(metric, metric)


def plot_degradation(deg: pd.DataFrame, *, metric: str = "hit_at_1", width: float = PAGE_WIDTH):
    """Accuracy of the fusion and the single-modality models under degraded or missing input.

    Three panels: audio noise (SNR, clean first), the share of frames kept, and the fusion
    model with a modality missing (bars). ``deg``: :func:`avlib.experiments.icmr.robustness.
    degradation_table`. One legend for the three panels; colours from seaborn's colour-blind
    palette, one per model (:data:`MODEL_ORDER`).
    """
    plt = _pyplot()
    import seaborn as sns

    palette = dict(zip(MODEL_ORDER, sns.color_palette("colorblind", len(MODEL_ORDER))))
    markers = dict(zip(MODEL_ORDER, ("o", "s", "^")))
    fig, axes = plt.subplots(1, 3, figsize=(width, 3.1), dpi=DPI, layout="constrained",
                             gridspec_kw={"width_ratios": [1.25, 1.0, 0.8]})
    clean = deg[deg["condition"] == "clean"]

    def lines(ax, data, xcol, order, labels):
        pos = {v: i for i, v in enumerate(order)}
        for model in MODEL_ORDER:
            d = data[data["model"] == model]
            if not len(d):
                continue
            d = d.assign(x=d[xcol].map(pos)).sort_values("x")
            ax.plot(d["x"], d[metric], marker=markers[model], color=palette[model], label=model, lw=1.5, ms=5)
        ax.set_xticks(range(len(order)), labels, fontsize=8)

    # audio noise: clean first, then decreasing SNR
    noise = deg[deg["condition"] == "audio noise"]
    snrs = sorted(noise["level"].dropna().unique(), reverse=True)
    noisy = pd.concat([clean[clean["model"] != "video only"].assign(level=np.inf), noise])
    lines(axes[0], noisy, "level", [np.inf] + snrs, ["clean"] + [f"{v:g}" for v in snrs])
    axes[0].set_xlabel("audio SNR (dB)", fontsize=8)
    axes[0].set_title("audio noise", fontsize=9)
    # dropped frames: all frames first
    kept = deg[deg["condition"] == "frames kept"]
    levels = sorted(kept["level"].dropna().unique(), reverse=True)
    lines(axes[1], kept, "level", levels, [f"{100 * v:g}" for v in levels])
    axes[1].set_xlabel("frames kept (%)", fontsize=8)
    axes[1].set_title("dropped frames", fontsize=9)
    # a modality missing
    conds = ["clean", "audio missing", "video missing"]
    miss = deg[(deg["model"] == "fusion") & deg["condition"].isin(conds)].set_index("condition")
    vals = [float(miss[metric].get(c, np.nan)) for c in conds]
    axes[2].bar(range(3), vals, color=palette["fusion"], width=0.6)
    axes[2].set_xticks(range(3), ["both", "no audio", "no video"], fontsize=8)
    axes[2].set_xlabel("fusion input", fontsize=8)
    axes[2].set_title("a modality missing", fontsize=9)
    for ax in axes:
        ax.set_ylim(0, 100)
        ax.set_ylabel(_metric_label(metric), fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
    handles, labels = axes[0].get_legend_handles_labels()
    h1, l1 = axes[1].get_legend_handles_labels()
    for h, lab in zip(h1, l1):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    return fig
