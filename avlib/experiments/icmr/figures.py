"""The ICMR 2017 figures: confusion matrices (Figures 2-3) and the robustness figure.

Plotting needs matplotlib and seaborn, imported when a figure is drawn.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

__all__ = ["plot_confusions", "plot_degradation"]


def _pyplot():
    import matplotlib.pyplot as plt  # optional plotting dependencies
    import seaborn as sns

    return plt, sns


def plot_confusions(confusions: dict, class_names, *, title: str = "", figsize=None):
    """Confusion matrices side by side (seaborn heatmaps, row-normalised, in %), as Figures 2-3."""
    plt, sns = _pyplot()
    n = len(confusions)
    class_names = [str(c).replace("Performance", "") for c in class_names]  # FCVID names, shortened
    fig, axes = plt.subplots(1, n, figsize=figsize or (6.2 * n, 5.6), squeeze=False)
    for ax, (name, cm) in zip(axes[0], confusions.items()):
        sns.heatmap(100 * np.asarray(cm), ax=ax, vmin=0, vmax=100, cmap="Blues", annot=len(class_names) <= 13,
                    fmt=".0f", annot_kws={"size": 7}, cbar=False, square=True,
                    xticklabels=class_names, yticklabels=class_names)
        ax.set_title(name)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(textwrap.fill(title, 160), fontsize=9)
    fig.tight_layout()
    return fig


def plot_degradation(deg: pd.DataFrame, *, metric: str = "hit_at_1", title: str = ""):
    """Accuracy of fusion vs single-modality models under degraded or missing input (3 panels:
    audio noise, dropped frames, a missing modality)."""
    plt, sns = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    clean = deg[deg["condition"] == "clean"]
    noise = pd.concat([clean[clean["model"] != "video only"].assign(level=np.inf), deg[deg["condition"] == "audio noise"]])
    noise = noise.assign(snr=noise["level"].map(lambda v: "clean" if np.isinf(v) else f"{v:g} dB"))
    sns.pointplot(data=noise, x="snr", y=metric, hue="model", ax=axes[0], order=list(dict.fromkeys(noise["snr"])))
    axes[0].set_title("audio noise (SNR)")
    kept = deg[deg["condition"] == "frames kept"]
    sns.pointplot(data=kept, x="level", y=metric, hue="model", ax=axes[1],
                  order=sorted(kept["level"].unique(), reverse=True))
    axes[1].set_xlabel("fraction of frames kept")
    axes[1].set_title("dropped frames")
    miss = deg[deg["model"] == "fusion"]
    miss = miss[miss["condition"].isin(["clean", "audio missing", "video missing"])]
    sns.barplot(data=miss, x="condition", y=metric, ax=axes[2], color="tab:blue")
    axes[2].set_title("fusion with a missing modality")
    for ax in axes:
        ax.set_ylim(0, 100)
        ax.set_ylabel(metric.replace("_at_", "@").replace("hit", "Hit") + " (%)")
    if title:
        fig.suptitle(textwrap.fill(title, 160), fontsize=9)
    fig.tight_layout()
    return fig
