"""The ISMIR page's figures: Spearman matrices of the selected features (the paper's Figure 2
and one per category), intra- against inter-modal correlation, and Grad-CAM examples.

Sized for the book's content column (:data:`avlib.experiments.icmr.figures.PAGE_WIDTH` inches
at its ``DPI``, about 900 pixels) with no title inside the image: the page gives every figure a
numbered caption. A scheme without a run (``None``) gets a panel that says so. Plotting needs
matplotlib, imported when a figure is drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..icmr.figures import DPI, PAGE_WIDTH, short_category

__all__ = ["FIGURE2_CATEGORY", "plot_correlation_matrix", "plot_figure2", "plot_correlation_grid", "plot_intra_inter",
           "plot_gradcam_examples"]

#: The category of the paper's Figure 2 (FCVID's SaxophonePerformance).
FIGURE2_CATEGORY = "saxophonePerformance"
_CMAP = "RdBu_r"  # diverging, symmetric around 0 (rho in -1..1)
#: Grad-CAM maps: viridis, ordered in lightness and colour-blind safe (the usual "jet" is neither).
HEAT_CMAP = "viridis"


def _pyplot():
    import matplotlib.pyplot as plt  # optional plotting dependency

    return plt


def _empty(ax, text: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, wrap=True, transform=ax.transAxes)


def plot_correlation_matrix(result, *, ax=None, title: str | None = None, ticks: bool = True, fontsize: float = 6):
    """Heat map of one category's Spearman matrix (the paper's Figure 2 layout): audio features
    first, visual after, a line between the blocks, colour scale -1 to 1. Returns the image."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5), dpi=DPI)
    im = ax.imshow(result.rho, vmin=-1, vmax=1, cmap=_CMAP, interpolation="nearest")
    na = int((result.modality == "audio").sum())
    ax.axhline(na - 0.5, color="k", lw=1)
    ax.axvline(na - 0.5, color="k", lw=1)
    if ticks:
        p = len(result.labels)
        ax.set_xticks(range(p))
        ax.set_yticks(range(p))
        ax.set_xticklabels(result.labels, rotation=90, fontsize=fontsize)
        ax.set_yticklabels(result.labels, fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(title if title is not None else f"{short_category(result.name)} (n = {result.n_samples})",
                 fontsize=9)
    return im


def plot_figure2(cors: dict, category: str = FIGURE2_CATEGORY):
    """The paper's Figure 2 for each scheme side by side: the Spearman matrix of ``category``'s
    selected features (``cors``: ``{scheme: Correspondence or None}``), one colour bar."""
    plt = _pyplot()
    n = max(1, len(cors))
    fig, axes = plt.subplots(1, n, figsize=(PAGE_WIDTH, PAGE_WIDTH / n + 0.4), dpi=DPI, squeeze=False,
                             layout="constrained")
    image = None
    for ax, (scheme, cor) in zip(axes[0], cors.items()):
        hit = [c for c in cor.correlations if c.name == category] if cor is not None else []
        if not hit:
            _empty(ax, f"{scheme}: no matrix for {short_category(category)}")
            continue
        image = plot_correlation_matrix(hit[0], ax=ax, title=f"{scheme} (n = {hit[0].n_samples} videos)",
                                        fontsize=7 if n > 1 else 8)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.7, label="Spearman rho")
    return fig


def plot_correlation_grid(cors: dict, *, ncols: int = 6):
    """Small multiples: every category's Spearman matrix, one block per scheme (titled), each
    with its colour bar. ``cors``: ``{scheme: Correspondence or None}``."""
    plt = _pyplot()
    blocks = [(scheme, [] if cor is None else list(cor.correlations)) for scheme, cor in cors.items()]
    rows = [int(np.ceil(len(c) / ncols)) if c else 0 for _, c in blocks]
    panel = (PAGE_WIDTH - 1.0) / ncols
    heights = [(panel + 0.35) * r + 0.35 if r else 0.6 for r in rows]
    fig = plt.figure(figsize=(PAGE_WIDTH, sum(heights)), dpi=DPI, layout="constrained")
    subs = fig.subfigures(len(blocks), 1, height_ratios=heights, squeeze=False)[:, 0]
    for sub, (scheme, corrs), nrows in zip(subs, blocks, rows):
        sub.suptitle(f"{scheme} scheme", fontsize=10, fontweight="bold")
        if not corrs:
            sub.text(0.02, 0.3, "not trained for this seed", fontsize=9)
            continue
        axes = sub.subplots(nrows, ncols, squeeze=False)
        image = None
        for ax in axes.ravel():
            ax.axis("off")
        for ax, r in zip(axes.ravel(), corrs):
            ax.axis("on")
            image = plot_correlation_matrix(r, ax=ax, ticks=False, title=f"{short_category(r.name)}\nn = {r.n_samples}")
            ax.title.set_fontsize(8)
        sub.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="Spearman rho")
    return fig


def plot_intra_inter(summary: pd.DataFrame):
    """Mean |rho| intra- and inter-modal per category, one panel per scheme (bars); the number
    above each inter-modal bar is its count of significant inter-modal pairs."""
    plt = _pyplot()
    schemes = list(dict.fromkeys(summary["scheme"]))
    fig, axes = plt.subplots(1, max(1, len(schemes)), figsize=(PAGE_WIDTH, 3.6), dpi=DPI, squeeze=False,
                             sharey=True, layout="constrained")
    for ax, sch in zip(axes[0], schemes):
        s = summary[summary["scheme"] == sch]
        x = np.arange(len(s))
        ax.bar(x - 0.2, s["mean_abs_rho_intra"], 0.4, label="intra-modal", color="#0173b2")
        ax.bar(x + 0.2, s["mean_abs_rho_inter"], 0.4, label="inter-modal", color="#de8f05")
        for xi, (ns, h) in enumerate(zip(s["n_sig_inter"], s["mean_abs_rho_inter"])):
            ax.text(xi + 0.2, float(h) + 0.02, f"{int(ns)}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels([short_category(n) for n in s["name"]], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(f"{sch}", fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    axes[0, 0].set_ylabel("mean |Spearman rho|", fontsize=9)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    return fig


def _overlay(ax, background, heat, *, extent=None, cmap_bg="gray", rgb=False) -> None:
    ax.imshow(background, origin="upper" if rgb else "lower", aspect="auto", cmap=None if rgb else cmap_bg)
    ax.imshow(heat, origin="upper" if rgb else "lower", aspect="auto", cmap=HEAT_CMAP, alpha=0.45, vmin=0, vmax=1,
              extent=extent)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_gradcam_examples(examples: list | None, *, categories, empty: str = "no examples"):
    """Grad-CAM examples of one scheme: one row per category (and example), a correct and a
    wrong prediction side by side, each as its log-mel spectrogram (time to the right, mel bands
    up) and its first frame with the maps on top (yellow = high, dark purple = low, 0 to 1); a frame whose map has a
    single cell (flat) is drawn without it. ``categories``: the class names, for the wrongly
    predicted category. ``examples`` None or empty: a panel saying ``empty``."""
    plt = _pyplot()
    if not examples:
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 1.2), dpi=DPI)
        _empty(ax, empty)
        return fig
    rows: dict = {}
    for ex in examples:  # (category, j-th example) -> {True: correct, False: wrong}
        slot = rows.setdefault(ex["category"], [])
        for pair in slot:
            if ex["correct"] not in pair:
                pair[ex["correct"]] = ex
                break
        else:
            slot.append({ex["correct"]: ex})
    lines = [(cat, pair) for cat, pairs in rows.items() for pair in pairs]
    fig, axes = plt.subplots(len(lines), 4, figsize=(PAGE_WIDTH, 1.55 * len(lines) + 0.45), dpi=DPI, squeeze=False,
                             gridspec_kw={"width_ratios": [2.3, 1, 2.3, 1]}, layout="constrained")
    for (cat, pair), row in zip(lines, axes):
        for j, correct in enumerate((True, False)):
            a, v = row[2 * j], row[2 * j + 1]
            ex = pair.get(correct)
            if ex is None:  # keep the axes (they carry the row's label), blank
                a.set_xticks([])
                a.set_yticks([])
                for spine in a.spines.values():
                    spine.set_visible(False)
                a.text(0.5, 0.5, "no correct prediction" if correct else "no wrong prediction", ha="center",
                       va="center", fontsize=8, transform=a.transAxes)
                v.axis("off")
                continue
            _overlay(a, ex["logmel"], ex["audio_map"])
            h, w = ex["frame"].shape[1:]
            if tuple(ex.get("frame_cells", (2, 2))) == (1, 1):  # a one-cell map is flat: the frame alone
                v.imshow(np.transpose(ex["frame"], (1, 2, 0)))
                v.set_xticks([])
                v.set_yticks([])
            else:
                _overlay(v, np.transpose(ex["frame"], (1, 2, 0)), ex["frame_map"], rgb=True,
                         extent=(-0.5, w - 0.5, h - 0.5, -0.5))
            v.set_aspect("equal")
            if not correct:
                a.text(0.01, 0.97, f"predicted {short_category(categories[ex['pred']])}", transform=a.transAxes,
                       ha="left", va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "pad": 1.5,
                                                             "linewidth": 0})
        row[0].set_ylabel(short_category(cat), fontsize=9)
    for ax, head in zip(axes[0], ("correct: log-mel", "frame", "wrong: log-mel", "frame")):
        ax.set_title(head, fontsize=9)
    return fig
