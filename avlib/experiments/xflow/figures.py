"""The XFlow figures (Cangea et al., Figures 7-11) and the curves of our runs.

* Figs. 7-8: :func:`plot_curves` (accuracy and loss per epoch), :func:`figure7_8` (the first
  fold's curves of the baseline and XFlow, with their table);
* Fig. 9: :func:`plot_tsne`; Figs. 10-11: :func:`plot_equation1`, :func:`plot_residual_maps`;
* the validation curves of a page's runs (:func:`plot_run_curves`) and the measured
  convergence curves (:func:`plot_convergence`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...config.xflow import DATASETS, FAMILIES, VARIANT_NAMES, Epochs, XFlowConfig
from ...metrics.stats import moving_average
from .evidence import ARCH_NAMES

__all__ = [
    "plot_tsne",
    "plot_equation1",
    "plot_residual_maps",
    "plot_curves",
    "Figure78",
    "figure7_8",
    "plot_run_curves",
    "plot_convergence",
]


def plot_tsne(embedding, labels, *, class_names=None, title: str = "", ax=None):
    """Scatter plot of a 2-D embedding coloured by class (Fig. 9)."""
    ax = ax or plt.subplots(figsize=(5.5, 4.5))[1]
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab10" if len(np.unique(labels)) <= 10 else "tab20")
    for i, c in enumerate(np.unique(labels)):
        sel = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(embedding[sel, 0], embedding[sel, 1], s=18, color=cmap(i % cmap.N), label=name)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="best", frameon=False)
    return ax


def plot_equation1(results: Sequence[dict], *, titles: Optional[Sequence[str]] = None):
    """Fig. 10: per panel, the residual-output differences (top) over the MFCC differences
    (bottom). ``results`` holds one :func:`residual_differences` dict per panel, each with a
    single kernel."""
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 3.6), squeeze=False)
    for j, r in enumerate(results):
        t = np.arange(1, len(r["diff_mfcc"]) + 1)
        axes[0, j].plot(t, r["diff_img"][0], color="tab:blue")
        axes[1, j].plot(t, r["diff_mfcc"], color="tab:orange")
        axes[0, j].set_title(titles[j] if titles else f"kernel {r['kernels'][0]}", fontsize=8)
        axes[1, j].set_xlabel("time step", fontsize=8)
        for a in axes[:, j]:
            a.tick_params(labelsize=6)
    axes[0, 0].set_ylabel("residual output\n$\\|r(x_t)-r(x_{t-1})\\|^2$", fontsize=7)
    axes[1, 0].set_ylabel("MFCC input\n$\\|x_t-x_{t-1}\\|^2$", fontsize=7)
    fig.tight_layout()
    return fig


def plot_residual_maps(maps: Sequence[np.ndarray], *, titles: Optional[Sequence[str]] = None):
    """Fig. 11: one 2-D output map per panel (e.g. the middle frame of one example)."""
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 2.2), squeeze=False)
    for j, m in enumerate(maps):
        axes[0, j].imshow(m, cmap="viridis", aspect="auto")
        axes[0, j].set_xticks([]), axes[0, j].set_yticks([])
        if titles:
            axes[0, j].set_title(titles[j], fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(histories: dict, *, acc_key: str = "test_acc", loss_key: str = "test_loss",
                window: int = 5, title: str = ""):
    """Figs. 7-8: accuracy (raw and ``window``-epoch moving average) and loss per epoch.

    ``histories`` maps a label (e.g. "baseline", "XFlow") to a per-epoch DataFrame or list of
    dicts from :func:`avlib.train.loop.fit`.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, h) in enumerate(histories.items()):
        df = pd.DataFrame(h)
        color = f"C{i}"
        a1.plot(df["epoch"], df[acc_key], color=color, alpha=0.3)
        a1.plot(df["epoch"], moving_average(df[acc_key], window=window), color=color,
                label=f"{name} ({window}-epoch average)")
        a2.plot(df["epoch"], df[loss_key], color=color, label=name)
    a1.set_xlabel("epoch"), a1.set_ylabel("accuracy"), a1.legend(fontsize=8)
    a2.set_xlabel("epoch"), a2.set_ylabel("cross-entropy loss"), a2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
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
                      title=f"{family} on {dataset}, fold 1 (test fold)")
    table = pd.concat([h.assign(model=k) for k, h in hist.items()]).drop(columns=["seconds", "examples_per_s"],
                                                                         errors="ignore")
    return Figure78(figure=fig, table=table, dataset=dataset, family=family)


def plot_run_curves(curves, *, window: int = 3):
    """Mean validation accuracy (%) per epoch of every variant, one panel per dataset and
    family (:func:`run_curves`); thin lines: the raw mean, thick: a ``window``-epoch moving
    average. A curve still rising at its last epoch has not settled."""
    panels = list(curves.groupby(["dataset", "family"], sort=False))
    ncol = min(3, max(1, len(panels)))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for ax, ((dsname, fam), g) in zip(axes.ravel(), panels):
        for i, (var, c) in enumerate(g.groupby("variant", sort=False)):
            c = c.sort_values("epoch")
            ax.plot(c.epoch, 100 * c.val_acc, color=f"C{i}", alpha=0.3, lw=0.8)
            ax.plot(c.epoch, 100 * moving_average(c.val_acc.to_numpy(), window=window), color=f"C{i}",
                    label=f"{var} ({int(c.runs.iloc[0])} runs)")
        ax.set_title(f"{dsname}, {ARCH_NAMES.get(fam, fam)}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=7)
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
