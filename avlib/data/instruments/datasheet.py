"""Datasheet of the embedded instrument benchmark: classes, statistics, the generator's knobs and
examples (frames, log-mels).

Used by ``notebooks/data_instruments.ipynb``; the difficulty probes and their target bands are
:mod:`avlib.data.instruments.calibration`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from avlib.features.audio import CHOI_SR, load_audio, logmel
from avlib.features.frames import sample_frames

from .generate import CATEGORIES, INSTRUMENTS

__all__ = [
    "knob_table",
    "class_table",
    "load_benchmark",
    "benchmark_statistics",
    "statistics_display",
    "per_class_statistics",
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
        *([("shots with the instrument filmed in a typical venue (%)", 100 * _typical_venue_share(info["venues"]))]
          if "venues" in info else []),
        ("blurred videos (%)", 100 * (info["blur"] > 0).mean()),
        ("H.264 CRF mean [min, max]", f"{info['crf'].mean():.1f} [{info['crf'].min()}, {info['crf'].max()}]"),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])


def statistics_display(stats: pd.DataFrame) -> pd.DataFrame:
    """:func:`benchmark_statistics` as the page prints it: counts with thousands separators,
    shares and durations to one decimal (two below 10), text as it is."""

    def text(v):
        if isinstance(v, (bool, np.bool_)) or isinstance(v, str):
            return str(v)
        if isinstance(v, (int, np.integer)):
            return f"{int(v):,}"
        if isinstance(v, (float, np.floating)):
            return "n/a" if not np.isfinite(v) else f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
        return str(v)

    return stats.assign(value=[text(v) for v in stats["value"]])


def _typical_venue_share(venues: pd.Series) -> float:
    """Share of the shots with the instrument in view (venue not "-") set in a typical venue (not "any")."""
    shots = [v for cell in venues.astype(str) for v in cell.split("+") if v != "-"]
    return float(np.mean([v != "any" for v in shots])) if shots else float("nan")


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


def knob_table(preset) -> pd.DataFrame:
    """The generator's knobs of ``preset`` that set each modality's information, with their values."""
    return pd.DataFrame([
        {"modality": "audio", "knob": "snr_db", "value": f"{preset.snr_db[0]:g} to {preset.snr_db[1]:g} dB",
         "effect": "music-to-background SNR (noise, 0-5 talkers, clatter); lower hides the instrument"},
        {"modality": "video", "knob": "p_away", "value": f"{preset.p_away:g}",
         "effect": "share of shots with no instrument in view (audience, wall, floor, ceiling)"},
        {"modality": "video", "knob": "p_closeup", "value": f"{preset.p_closeup:g}",
         "effect": "share of close-up shots: instrument alone at unknown scale, ensembles cropped"},
        {"modality": "video", "knob": "p_venue", "value": f"{preset.p_venue:g}",
         "effect": "share of shots filmed in the category's typical venues (scene context; venues are shared)"},
        {"modality": "both", "knob": "label_noise", "value": f"{preset.label_noise:g}",
         "effect": "share of videos labelled as another category than the one rendered"},
        {"modality": "video", "knob": "widths", "value": ", ".join(str(w) for w in preset.widths) + " px",
         "effect": "frame widths (smaller frames: less detail)"},
    ])


def plot_example_frames(root, *, per_class: int = 3, seed: int = 0):
    """A grid (12 rows x per_class) of middle frames, one row per category; returns the figure."""
    import matplotlib.pyplot as plt

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
