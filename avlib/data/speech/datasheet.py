"""Tables and figures of the speech datasheet page (``notebooks/data_speech.ipynb``).

Small helpers so that the notebook only calls avlib: a size table that puts the real
datasets' facts (as the XFlow paper describes them) beside the loaded data, an example
figure (mouth frames and MFCC images) and the per-modality baseline summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..real import speech_folder
from .baseline import modality_baseline
from .generate import ensure_speech_benchmark
from .layouts import SpeechDataset, load_speech_dataset, speaker_folds, with_mfcc

__all__ = ["load_datasets", "by_condition", "size_table", "example_figure", "baseline_summary", "FRACTION_COLUMNS",
           "percent_display"]


def load_datasets(names, *, source: str = "embedded", data_root="data", scale: str = "cpu",
                  seed: int = 0, n_jobs=None) -> dict:
    """``{name: SpeechDataset}`` of the datasheet: the embedded stand-ins of ``scale`` (generated
    when missing) or the real datasets: ``source="real"`` reads ``<data_root>/real/<name>``, a folder
    reads ``<source>/<name>`` (:func:`avlib.data.real.speech_folder`)."""
    out = {}
    for name in names:
        if source == "embedded":
            root = ensure_speech_benchmark(data_root, name, scale=scale, seed=seed, n_jobs=n_jobs)
        else:
            root = speech_folder(source, data_root, name)
        out[name] = load_speech_dataset(root, name)
    return out


def by_condition(data: dict, conditions=()) -> dict:
    """``{(name, condition): SpeechDataset}``: every dataset with its own MFCCs (``"mfcc"``) and,
    for each of ``conditions`` (e.g. ``"mfcc_snr0"``), with that noisy MFCC set
    (:func:`~avlib.data.speech.layouts.with_mfcc`)."""
    out = {}
    for name, ds in data.items():
        out[(name, "mfcc")] = ds
        for cond in conditions:
            out[(name, cond)] = with_mfcc(ds, cond)
    return out


def size_table(datasets: dict) -> pd.DataFrame:
    """One row per dataset and quantity: the paper's value beside ours.

    Parameters
    ----------
    datasets : dict of str -> SpeechDataset
    """
    rows = []
    for name, ds in datasets.items():
        info = ds.info
        lengths = ds.lengths
        n_spk = len(ds.speaker_order)
        facts = [
            ("classes", info.n_classes, len(np.unique(ds.labels))),
            ("speakers", len(info.speaker_names), n_spk),
            ("clips", info.n_examples, len(ds)),
            ("min frames", info.min_frames, int(lengths.min())),
            ("max frames", info.max_frames, int(lengths.max())),
            ("mean frames", None, round(float(lengths.mean()), 1)),
            ("frame size (model input H x W)", "x".join(map(str, info.frame_hw)),
             "x".join(map(str, ds.frames[0].shape[1:]))),
            ("MFCCs per frame", 26, int(ds.mfcc[0].shape[1])),
            ("cross-validation folds", {"avletters": 10, "digits": 15, "cuave": 9}[name], len(speaker_folds(ds))),
            ("skipped clips", None, len(ds.skipped)),
        ]
        for q, paper, ours in facts:
            rows.append(dict(dataset=name, quantity=q, paper="–" if paper is None else str(paper), ours=str(ours)))
    return pd.DataFrame(rows)


def example_figure(datasets: dict, *, n_frames: int = 8, clip: int = 0):
    """Mouth frames and the MFCC image of one clip per dataset.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    names = list(datasets)
    fig, axes = plt.subplots(len(names), n_frames + 1, figsize=(1.5 * n_frames + 4, 2.0 * len(names)),
                             gridspec_kw=dict(width_ratios=[1] * n_frames + [2.5]), squeeze=False)
    for r, name in enumerate(names):
        ds: SpeechDataset = datasets[name]
        i = min(clip, len(ds) - 1)
        fr = ds.frames[i]
        if ds.info.transpose:            # show the natural image orientation
            fr = fr.transpose(0, 2, 1)
        idx = np.linspace(0, len(fr) - 1, n_frames).round().astype(int)
        for c, k in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(fr[k], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"frame {k}", fontsize=7)
        axes[r, 0].set_ylabel(f"{name}\n{ds.ids[i]}", fontsize=8)
        ax = axes[r, -1]
        m = ds.mfcc[i]
        z = (m - m.mean(axis=0)) / (m.std(axis=0) + 1e-6)      # per coefficient, for display
        im = ax.imshow(z.T, aspect="auto", origin="lower", cmap="magma", vmin=-2.5, vmax=2.5)
        ax.set_xlabel("video frame", fontsize=7)
        ax.set_ylabel("MFCC (z-scored per coefficient)", fontsize=6)
        ax.tick_params(labelsize=6)
        fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    return fig


def baseline_summary(datasets_by_condition: dict, *, max_folds: int | None = None, image_pool: int = 5,
                     seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-modality logistic-regression accuracy for each dataset and audio condition.

    Parameters
    ----------
    datasets_by_condition : dict of (dataset, condition) -> SpeechDataset
        ``condition`` is the MFCC kind (``mfcc`` = as recorded, ``mfcc_snr0``...). Video
        and audio+video are evaluated for the ``mfcc`` condition (and audio+video also
        for the noisy ones); audio for all.

    Returns
    -------
    summary : pandas.DataFrame
        ``dataset``, ``condition``, ``modality``, ``folds``, ``accuracy`` (mean over folds),
        ``std`` (over folds), ``chance``.
    per_fold : pandas.DataFrame
        The fold-level rows of :func:`.baseline.modality_baseline`.
    """
    frames = []
    for (name, cond), ds in datasets_by_condition.items():
        mods = ["audio", "video", "audio+video"] if cond == "mfcc" else ["audio", "audio+video"]
        df = modality_baseline(ds, modalities=mods, max_folds=max_folds, image_pool=image_pool, seed=seed)
        df.insert(0, "condition", cond)
        df.insert(0, "dataset", name)
        df["chance"] = 1.0 / ds.info.n_classes
        frames.append(df)
    per_fold = pd.concat(frames, ignore_index=True)
    summary = (per_fold.groupby(["dataset", "condition", "modality"], sort=False)
               .agg(folds=("fold", "count"), accuracy=("accuracy", "mean"), std=("accuracy", "std"),
                    chance=("chance", "first"))
               .reset_index())
    return summary, per_fold


#: Columns of the datasheet's tables that hold fractions of clips (shown as percentages).
FRACTION_COLUMNS = ("chance", "accuracy", "fold_std", "std", "both", "only_audio", "only_video", "neither",
                    "min only-audio / only-video")


def percent_display(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of a datasheet table for display in percent, as the rest of the book shows
    accuracies: each column of :data:`FRACTION_COLUMNS` times 100 with " (%)" added to its name,
    and ``"0.50–0.68"`` bands (columns ending in "band") as ``"50–68"``. The saved tables keep
    fractions."""
    out = df.copy()
    renames = {}
    for col in out.columns:
        if col in FRACTION_COLUMNS and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col] * 100.0
            renames[col] = f"{col} (%)"
        elif (col == "band" or str(col).endswith(" band")) and not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(_band_percent)
            renames[col] = f"{col} (%)"
    return out.rename(columns=renames)


def _band_percent(text):
    if not isinstance(text, str) or "–" not in text:
        return text
    try:
        lo, hi = (float(x) for x in text.split("–"))
    except ValueError:
        return text
    return f"{lo * 100:.0f}–{hi * 100:.0f}"
