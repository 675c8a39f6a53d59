"""Datasheet of the embedded instrument benchmark: statistics, examples and simple baselines.

Used by ``notebooks/data_instruments.ipynb``. The baselines are deliberately simple
(logistic regression, scikit-learn) and measure how much each modality tells on its own:

* audio: mean MFCCs; mean + std MFCCs (20 coefficients, 16 kHz);
* picture: colour histograms (8 bins per RGB channel, averaged over k frames); tiny
  16 x 16 grey thumbnails (averaged over frames) + the colour histogram;
* both: audio and picture features concatenated.

All use the official-style split of the ICMR reference code
(:func:`avlib.data.icmr_metadata.official_splits` on the list order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "class_table",
    "load_benchmark",
    "benchmark_statistics",
    "per_class_statistics",
    "colour_histogram",
    "thumbnail_features",
    "baseline_accuracies",
    "plot_example_frames",
    "plot_example_logmels",
]


_CLASS_NOTES = {
    "accordion": ("free reeds, 3 detuned reeds (musette beating), bass + chords + melody", "box with bellows and keyboard held at the chest",
                  "sounds like harmonica"),
    "trumpet": ("brass, brighter when louder, lip scoop, little vibrato", "thin brass tube, valves, flared bell at the mouth",
                "brass colour shared with saxophone"),
    "flute": ("near-sinusoidal, strong breath noise, vibrato, high register", "thin silver line sideways from the mouth",
              "small in wide shots"),
    "chamberMusic": ("string quartet or piano trio", "2-5 seated players with violins/cello, music stands",
                     "strings like the orchestra"),
    "symphonyOrchestra": ("string sections, winds, horns, timpani, hall reverberation", "rows of many small players, conductor",
                          "strings like chamber music"),
    "guitar": ("plucked strings, strums/arpeggios, decaying partials", "round sound hole, long fretted neck",
               "wooden body like violin/cello"),
    "violin": ("bowed, vibrato, bow noise, G3 and up", "violin-family body at the shoulder",
               "same drawing as cello; register overlaps cello's upper range"),
    "saxophone": ("single reed, breathy, vibrato, mid register", "curved brass body with bell and keys",
                  "brass colour shared with trumpet"),
    "harmonica": ("free reed, hand tremolo, chords, high register", "small metal bar between cupped hands",
                  "sounds like accordion; often hidden by hands"),
    "rockBand": ("overdriven guitar, bass, drum kit", "dark stage, light beams, drum kit, electric guitars",
                 "drums make it easy by ear"),
    "cello": ("bowed, vibrato, C2 and up", "violin-family body upright between the knees",
              "same drawing as violin at unknown scale"),
    "piano": ("struck stiff strings (inharmonic), hammer noise, chords + melody", "upright or grand piano, seated player",
              "accompanies other solos at times"),
}


def class_table() -> pd.DataFrame:
    """Label, FCVID category, and how each class sounds / looks / is confused."""
    from .generate import CATEGORIES, INSTRUMENTS

    return pd.DataFrame([{"label": i, "category": c, "sound": _CLASS_NOTES[n][0], "picture": _CLASS_NOTES[n][1],
                          "confusable with": _CLASS_NOTES[n][2]} for i, (n, c) in enumerate(zip(INSTRUMENTS, CATEGORIES))])


def load_benchmark(root) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(videos.csv, videos_info.csv)`` of a generated benchmark folder."""
    root = Path(root)
    return (pd.read_csv(root / "videos.csv", dtype={"video_id": str}),
            pd.read_csv(root / "videos_info.csv", dtype={"video_id": str}))


def benchmark_statistics(info: pd.DataFrame) -> pd.DataFrame:
    """One-row-per-quantity summary: videos, durations, fps, resolutions, audio formats, nuisances."""
    portrait = (info["height"] > info["width"]).mean()
    rows = [
        ("videos", len(info)),
        ("categories", info["label"].nunique()),
        ("total duration (h)", info["duration_s"].sum() / 3600),
        ("duration mean / min / max (s)", f"{info['duration_s'].mean():.1f} / {info['duration_s'].min():.1f} / "
                                           f"{info['duration_s'].max():.1f}"),
        ("frame rates (fps: videos)", ", ".join(f"{k:g}: {v}" for k, v in info["fps"].round(2).value_counts().sort_index().items())),
        ("resolutions (W x H: videos)", ", ".join(f"{w}x{h}: {n}" for (w, h), n in
                                                 info.groupby(["width", "height"]).size().sort_values(ascending=False).items())),
        ("portrait videos (%)", 100 * portrait),
        ("audio sample rates (Hz: videos)", ", ".join(f"{k}: {v}" for k, v in info["sample_rate"].value_counts().sort_index().items())),
        ("stereo (%)", 100 * (info["channels"] == 2).mean()),
        ("SNR music/background (dB) mean [min, max]", f"{info['snr_db'].mean():.1f} [{info['snr_db'].min():.1f}, {info['snr_db'].max():.1f}]"),
        ("clipped audio (%)", 100 * info["clipped"].astype(bool).mean()),
        ("reverberation RT60 (s) mean", info["rt60"].mean()),
        ("videos with background talkers (%)", 100 * (info["n_talkers"] > 0).mean()),
        ("shots without the instrument (%)", 100 * info["no_instrument_fraction"].mean()),
        ("blurred videos (%)", 100 * (info["blur"] > 0).mean()),
        ("H.264 CRF mean [min, max]", f"{info['crf'].mean():.1f} [{info['crf'].min()}, {info['crf'].max()}]"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])


def per_class_statistics(info: pd.DataFrame) -> pd.DataFrame:
    """Per category: videos, mean duration, mean SNR, share of shots without instrument."""
    g = info.groupby(["label", "category"])
    return pd.DataFrame({
        "videos": g.size(),
        "mean duration (s)": g["duration_s"].mean().round(1),
        "mean fps": g["fps"].mean().round(1),
        "mean SNR (dB)": g["snr_db"].mean().round(1),
        "no-instrument shots (%)": (100 * g["no_instrument_fraction"].mean()).round(0),
    }).reset_index()


def colour_histogram(frames: np.ndarray, *, bins: int = 8) -> np.ndarray:
    """Normalised per-channel colour histogram averaged over frames: (3 * bins,)."""
    frames = np.asarray(frames)
    h = [np.histogram(frames[..., c], bins=bins, range=(0, 256))[0] for c in range(3)]
    h = np.concatenate(h).astype(np.float32)
    return h / max(h.sum(), 1.0)


def thumbnail_features(frames: np.ndarray, *, size: int = 16) -> np.ndarray:
    """Mean grey 16 x 16 thumbnail of the frames (flattened, standardised per video)."""
    import cv2

    g = np.mean([cv2.resize(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY), (size, size),
                            interpolation=cv2.INTER_AREA) for f in frames], axis=0).ravel().astype(np.float32)
    return (g - g.mean()) / (g.std() + 1e-6)


def _fit_eval(X, y, train, val, test, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    clf.fit(X[train], y[train])
    return (float((clf.predict(X[val]) == y[val]).mean()) if val.any() else float("nan"),
            float((clf.predict(X[test]) == y[test]).mean()) if test.any() else float("nan"))


def baseline_accuracies(root, *, cache_dir, n_jobs=None, seed: int = 0, k_frames: int = 8,
                        frame_size: int = 64) -> tuple[pd.DataFrame, dict]:
    """Accuracy of simple per-modality baselines on the official-style split.

    Returns ``(table, reports)``: the table has modality, features, classifier, n_train,
    val_accuracy, test_accuracy, chance; ``reports`` the feature-extraction SkipReports.
    """
    from avlib.data.icmr_metadata import split_frame
    from avlib.features.dataset import extract_features

    root = Path(root)
    videos, _ = load_benchmark(root)
    mf, rep_a = extract_features(videos, video_root=root / "videos", kind="mfcc_stats", cache_dir=cache_dir,
                                 n_jobs=n_jobs)
    fr, rep_v = extract_features(videos, video_root=root / "videos", kind="frames", cache_dir=cache_dir,
                                 n_jobs=n_jobs, k=k_frames, size=frame_size)
    ok = videos[videos["video_id"].isin(mf) & videos["video_id"].isin(fr)].reset_index(drop=True)
    sp = split_frame(ok)
    y = sp["label"].to_numpy()
    masks = {s: (sp["split"] == s).to_numpy() for s in ("train", "val", "test")}
    A = np.stack([mf[v] for v in sp["video_id"]])
    n_mfcc = A.shape[1] // 2
    hist = np.stack([colour_histogram(fr[v]) for v in sp["video_id"]])
    thumb = np.stack([thumbnail_features(fr[v]) for v in sp["video_id"]])
    feats = {
        ("audio", "mean MFCC (20)"): A[:, :n_mfcc],
        ("audio", "mean + std MFCC (40)"): A,
        ("picture", "colour histogram (24)"): hist,
        ("picture", "16x16 grey thumbnail + colour histogram (280)"): np.hstack([thumb, hist]),
        ("audio + picture", "mean+std MFCC + colour histogram (64)"): np.hstack([A, hist]),
    }
    rows = []
    for (modality, name), X in feats.items():
        va, te = _fit_eval(X, y, masks["train"], masks["val"], masks["test"], seed)
        rows.append({"modality": modality, "features": name, "classifier": "logistic regression",
                     "n_train": int(masks["train"].sum()), "n_test": int(masks["test"].sum()),
                     "val_accuracy": va, "test_accuracy": te, "chance": 1 / len(np.unique(y))})
    return pd.DataFrame(rows), {"audio": rep_a, "picture": rep_v}


def plot_example_frames(root, *, per_class: int = 3, seed: int = 0):
    """A grid (12 rows x per_class) of middle frames, one row per category; returns the figure."""
    import matplotlib.pyplot as plt

    from avlib.features.frames import sample_frames

    from .generate import CATEGORIES

    root = Path(root)
    videos, _ = load_benchmark(root)
    fig, axes = plt.subplots(len(CATEGORIES), per_class, figsize=(2.2 * per_class, 1.6 * len(CATEGORIES)))
    for r, cat in enumerate(CATEGORIES):
        sel = videos[videos["category"] == cat].head(per_class)
        for c in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(sel):
                vid = sel.iloc[c]["video_id"]
                fr, _ = sample_frames(root / "videos" / cat / f"{vid}.mp4", k=1, mode="uniform")
                ax.imshow(fr[0])
            if c == 0:
                ax.set_title(cat.replace("Performance", ""), fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def plot_example_logmels(root, *, seconds: float = 6.0):
    """One 96-band log-mel (Choi settings, first ``seconds``) per category; returns the figure."""
    import matplotlib.pyplot as plt

    from avlib.features.audio import CHOI_SR, load_audio, logmel

    from .generate import CATEGORIES

    root = Path(root)
    videos, _ = load_benchmark(root)
    fig, axes = plt.subplots(3, 4, figsize=(13, 6.5), sharey=True)
    for ax, cat in zip(axes.ravel(), CATEGORIES):
        vid = videos[videos["category"] == cat].iloc[0]["video_id"]
        y = load_audio(root / "videos" / cat / f"{vid}.mp4", sr=CHOI_SR)[: int(seconds * CHOI_SR)]
        S = logmel(y, sr=CHOI_SR, n_fft=512, hop_length=256, n_mels=96)
        ax.imshow(S, origin="lower", aspect="auto", cmap="magma",
                  extent=[0, len(y) / CHOI_SR, 0, 96])
        ax.set_title(cat.replace("Performance", ""), fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("mel band")
    fig.tight_layout()
    return fig
