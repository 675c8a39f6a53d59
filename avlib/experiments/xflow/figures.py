"""The XFlow figures (Cangea et al., Figures 7-11) and the curves of our runs.

* Figs. 7-8: :func:`plot_curves` (accuracy and loss per epoch), :func:`figure7_8` (the first
  fold's curves of the baseline and XFlow, with their table);
* Fig. 9: :func:`plot_tsne`; Figs. 10-11: :func:`plot_equation1`, :func:`plot_residual_maps`;
* the validation curves of a page's runs (:func:`plot_run_curves`) and the measured
  convergence curves (:func:`plot_convergence`).

The figures carry no titles of their own: the book numbers them and writes their captions
below them. Colours come from matplotlib's colour-blind-safe ``tab10`` cycle (``C0``, ``C1``,
...), one colour per variant on every panel; axes are labelled with their units and the
figures are 9 inches wide at most, so their labels stay legible at the width of the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
import pandas as pd

from ...config.xflow import DATASETS, FAMILIES, VARIANT_NAMES, Epochs, XFlowConfig
from ...metrics.stats import moving_average
from .evidence import ARCH_NAMES
from .inputs import DATASET_NAMES

__all__ = [
    "VARIANT_COLORS",
    "plot_tsne",
    "plot_equation1",
    "plot_residual_maps",
    "plot_curves",
    "Figure78",
    "figure7_8",
    "plot_run_curves",
    "plot_convergence",
]


#: Variant -> its colour on every figure (matplotlib's colour-blind-safe tab10 cycle).
VARIANT_COLORS = {"baseline": "C0", "xflow": "C1", "no_xconns": "C2", "no_resconns": "C3", "dtn": "C4"}
_VARIANT_WORDS = {"baseline": "baseline", "xflow": "XFlow", "no_xconns": "no cross-connections",
                  "no_resconns": "no residual connections", "dtn": "DTN"}
_MARKERS = "osD^vPX*"


def plot_tsne(embedding, labels, *, class_names=None, title: str = "", ax=None):
    """Scatter plot of a 2-D embedding coloured by class (Fig. 9): the ten colours of
    ``tab10``, with a new marker shape for every further ten classes; the legend names the
    classes."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 5.0))
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(np.unique(labels)):
        sel = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(embedding[sel, 0], embedding[sel, 1], s=36, color=cmap(i % 10),
                   marker=_MARKERS[(i // 10) % len(_MARKERS)], label=name)
    ax.set_xlabel("t-SNE dimension 1 (no unit)")
    ax.set_ylabel("t-SNE dimension 2 (no unit)")
    ax.tick_params(labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title)
    ax.legend(title="class", fontsize=9, ncol=1 + len(np.unique(labels)) // 14, loc="center left",
              bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.figure.tight_layout()
    return ax


def plot_equation1(results: Sequence[dict], *, titles: Optional[Sequence[str]] = None, ncol: int = 3):
    """Fig. 10: per kernel a pair of panels, the squared change of the residual connection's
    output from one time step to the next (top) over the squared change of its MFCC input
    (bottom). ``results`` holds one :func:`.analysis.residual_differences` dict per kernel,
    each with a single kernel; ``ncol`` pairs per row."""
    n = len(results)
    ncol = max(1, min(ncol, n))
    nrow = max(1, -(-n // ncol))
    fig = plt.figure(figsize=(9, 3.0 * nrow + 0.5), layout="constrained")
    cells = np.atleast_2d(fig.subfigures(nrow, ncol, wspace=0.02, hspace=0.04))
    handles = []
    for j, sub in enumerate(cells.ravel()):
        if j >= n:
            continue
        r = results[j]
        top, bottom = sub.subplots(2, 1, sharex=True)
        t = np.arange(1, len(r["diff_mfcc"]) + 1)
        h1, = top.plot(t, r["diff_img"][0], color="C0", marker=".")
        h2, = bottom.plot(t, r["diff_mfcc"], color="C1", marker=".")
        handles = handles or [h1, h2]
        top.set_title(titles[j] if titles else f"kernel {r['kernels'][0]}", fontsize=10)
        bottom.set_xlabel("time step", fontsize=9)
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        for a in (top, bottom):
            a.tick_params(labelsize=8)
            a.yaxis.get_offset_text().set_fontsize(8)
        if j % ncol == 0:
            top.set_ylabel("output change", fontsize=9)
            bottom.set_ylabel("MFCC change", fontsize=9)
    if handles:
        fig.legend(handles, [r"residual output $\|r(x_t)-r(x_{t-1})\|^2$ (a.u.)",
                             r"MFCC input $\|x_t-x_{t-1}\|^2$ (a.u.)"],
                   loc="outside upper center", ncol=2, fontsize=10, frameon=False)
    return fig


def plot_residual_maps(maps: Sequence[np.ndarray], *, titles: Optional[Sequence[str]] = None, ncol: int = 3):
    """Fig. 11: one 2-D output map per panel (e.g. the middle frame of one example), ``ncol``
    per row, each scaled to [0, 1] (its own minimum to its own maximum), with one colour bar."""
    n = len(maps)
    ncol = max(1, min(ncol, n))
    nrow = max(1, -(-n // ncol))
    shape = np.asarray(maps[0]).shape if n else (1, 1)
    panel_w = 7.6 / ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(9, nrow * (panel_w * shape[0] / shape[1] + 0.45) + 0.2),
                             squeeze=False, layout="constrained")
    image = None
    for j, m in enumerate(maps):
        ax = axes[j // ncol, j % ncol]
        m = np.asarray(m, dtype=float)
        span = float(m.max() - m.min())
        image = ax.imshow((m - m.min()) / span if span > 0 else np.zeros_like(m), cmap="viridis",
                          vmin=0, vmax=1, aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
        if titles:
            ax.set_title(titles[j], fontsize=10)
    for j in range(n, nrow * ncol):
        axes[j // ncol, j % ncol].set_visible(False)
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9, aspect=30)
        bar.set_label("output (scaled per kernel)", fontsize=9)
        bar.ax.tick_params(labelsize=8)
    return fig


def _epoch_axis(ax, epochs) -> None:
    """Integer epoch ticks; a single epoch gets a unit-wide axis around it."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    e = np.unique(np.asarray(epochs))
    if len(e) == 1:
        ax.set_xlim(e[0] - 1, e[0] + 1)


def plot_curves(histories: dict, *, acc_key: str = "test_acc", loss_key: str = "test_loss",
                window: int = 5, title: str = "", acc_label: str = "accuracy (%)",
                loss_label: str = "cross-entropy loss (nats)"):
    """Figs. 7-8: accuracy in % (raw, thin, and its ``window``-epoch moving average) and loss
    per epoch.

    ``histories`` maps a label (e.g. "baseline", "XFlow") to a per-epoch DataFrame or list of
    dicts from :func:`avlib.train.loop.fit` (accuracies as fractions). ``title``: a short
    panel-free title (the book's caption says the rest).
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    epochs = []
    for i, (name, h) in enumerate(histories.items()):
        df = pd.DataFrame(h)
        color = f"C{i}"
        marker = "o" if len(df) <= 10 else None
        a1.plot(df["epoch"], 100 * df[acc_key], color=color, alpha=0.3, lw=0.8)
        a1.plot(df["epoch"], 100 * moving_average(df[acc_key], window=window), color=color, marker=marker,
                ms=4, label=f"{name} ({window}-epoch average)")
        a2.plot(df["epoch"], df[loss_key], color=color, marker=marker, ms=4, label=name)
        epochs += list(df["epoch"])
    a1.set_xlabel("epoch"), a1.set_ylabel(acc_label), a1.legend(fontsize=9)
    a2.set_xlabel("epoch"), a2.set_ylabel(loss_label), a2.legend(fontsize=9)
    for a in (a1, a2):
        _epoch_axis(a, epochs)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig

@dataclass
class Figure78:
    """Figs. 7-8 of one page: the figure, its per-epoch ``table`` (no timing columns) and the
    ``dataset`` and ``family`` shown."""

    figure: object
    table: pd.DataFrame
    dataset: str
    family: str

    @property
    def label(self) -> str:
        """What the figure shows, for its caption: ``"{CNN x MLP}-LSTM on Digits"``."""
        return f"{ARCH_NAMES.get(self.family, self.family)} on {DATASET_NAMES.get(self.dataset, self.dataset)}"


def figure7_8(results: dict, cfg: XFlowConfig, *, window: int = 5) -> Figure78:
    """Figs. 7-8 as in the paper: test-fold accuracy (``window``-epoch moving average) and
    loss per epoch of the baseline and XFlow on the first fold, first seed, of
    ``cfg.crossval.curve_dataset`` (or the first dataset run), for the {CNN x MLP}-LSTM when
    it ran. ``results`` maps dataset -> :func:`.crossval.xflow_crossval` output."""
    cv = cfg.crossval
    dataset = cv.curve_dataset if cv.curve_dataset in results else cv.datasets[0]
    family = "lstm" if ("lstm", "xflow", "clean") in results[dataset] else cv.families[0]
    protocol = "clean" if "clean" in cv.protocols else cv.protocols[0]
    hist = {"baseline": results[dataset][(family, "baseline", protocol)].history(0),
            "XFlow": results[dataset][(family, "xflow", protocol)].history(0)}
    fig = plot_curves(hist, acc_key="test_acc", loss_key="test_loss", window=window,
                      acc_label="test-fold accuracy (%)", loss_label="test-fold cross-entropy (nats)")
    table = pd.concat([h.assign(model=k) for k, h in hist.items()]).drop(columns=["seconds", "examples_per_s"],
                                                                         errors="ignore")
    return Figure78(figure=fig, table=table, dataset=dataset, family=family)


def plot_run_curves(curves, *, window: int = 3, ncol: int = 2):
    """Mean validation accuracy (%) per epoch of every variant, one panel per dataset and
    family (:func:`.analysis.run_curves`), ``ncol`` panels per row; thin lines: the raw mean,
    thick: a ``window``-epoch moving average, one colour per variant on every panel. A curve
    still rising at its last epoch has not settled. Without curves the figure says so."""
    panels = list(curves.groupby(["dataset", "family"], sort=False)) if len(curves) else []
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no validation curves recorded (no run with a validation split)",
                ha="center", va="center")
        return fig
    ncol = max(1, min(ncol, len(panels)))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.5 * ncol, 3.3 * nrow), squeeze=False)
    for ax, ((dsname, fam), g) in zip(axes.ravel(), panels):
        for var, c in g.groupby("variant", sort=False):
            c = c.sort_values("epoch")
            color = VARIANT_COLORS.get(var, None)
            ax.plot(c.epoch, 100 * c.val_acc, color=color, alpha=0.3, lw=0.8)
            ax.plot(c.epoch, 100 * moving_average(c.val_acc.to_numpy(), window=window), color=color,
                    marker="o" if len(c) <= 10 else None, ms=4,
                    label=f"{_VARIANT_WORDS.get(var, var)} ({int(c.runs.iloc[0])} runs)")
        ax.set_title(f"{DATASET_NAMES.get(dsname, dsname)}, {ARCH_NAMES.get(fam, fam)}", fontsize=11)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        _epoch_axis(ax, g.epoch)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_convergence(curves, *, window: int = 5, epochs: Optional[Epochs] = None):
    """Smoothed validation accuracy per epoch, one panel per dataset and family; a dashed
    line marks each model's epochs in ``epochs`` (a configuration's ``training.epochs``)."""
    panels = list(curves.groupby(["dataset", "family"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), squeeze=False)
    for ax, ((dsname, fam), g) in zip(axes[0], panels):
        for (var, bs, lr), c in g.groupby(["variant", "batch_size", "lr"], sort=False):
            c = c.sort_values("epoch")
            line, = ax.plot(c.epoch, 100 * moving_average(c.val_acc.to_numpy(), window=window),
                            label=f"{var} (b{bs}, lr {lr:g})")
            if epochs is not None and fam in FAMILIES and var in VARIANT_NAMES and dsname in DATASETS:
                ax.axvline(epochs.of(dsname, fam, var), ls="--", color=line.get_color(), lw=0.8)
        ax.set_title(f"{dsname} {fam}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val. acc. (%)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
