"""Figure 3 and the YouTube-8M rows of Tables 2-4 of ICMR 2017, on the YouTube-8M-style variant.

YouTube-8M's videos cannot ship with the book; the variant of the embedded benchmark
(``source="embedded_yt8m"``) reproduces the conditions the paper blames for the YouTube-8M
results: class imbalance, instruments often out of the picture, automatic labels.
:func:`youtube8m_class_counts` sets its classes beside the real ones;
:func:`run_youtube8m_figure` trains the paper's best YouTube-8M models (Choi et al. + UC,
Inception v3 pre-trained, their late fusion) with :meth:`ICMRConfig.for_youtube8m
<avlib.config.icmr.ICMRConfig.for_youtube8m>`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...config.icmr import ICMRConfig
from ...data.instruments import CATEGORY_OF, YT8M_COUNTS, YT8M_LABEL_NAMES, YT8M_RANK_ORDER
from ...errors import ParameterError
from ...metrics.classification import confusion
from .audio import PAPER_AUDIO_NAMES, audio_label, run_audio_model
from .data import Benchmark, frame_inputs
from .fusion import run_fusion_model
from .store import FeatureStore
from .visual import run_visual_model

__all__ = ["youtube8m_note", "youtube8m_class_counts", "per_class_recall", "run_youtube8m_figure"]


def youtube8m_note(cfg: ICMRConfig) -> str:
    """The scale's note plus, when the page caps the fusion's frames (the paper scale), that cap."""
    yt = cfg.for_youtube8m()
    note = cfg.note()
    if (yt.fusion.frames, yt.fusion.visual[0]) != (cfg.fusion.frames, cfg.fusion.visual[0]):
        note += (f" YouTube-8M: fusion over {yt.fusion.frames} frames and the {yt.fusion.visual[0]}-frame "
                 "visual model (paper Tables 2 and 4).")
    return note


def youtube8m_class_counts(bench: Benchmark) -> pd.DataFrame:
    """Per-class videos of ``bench`` beside the real YouTube-8M class of the same rank.

    Columns: ``category``, ``yt8m_class`` and ``yt8m_videos`` (the real class whose count this
    category takes, :data:`avlib.data.instruments.YT8M_RANK_ORDER`), ``yt8m_share`` and
    ``share`` (% of the 12 classes), ``videos``, ``train``/``val``/``test`` (official split)
    and, when the benchmark has ``videos_info.csv``, ``no_instrument`` (mean share of shots
    without the instrument, %) and ``mislabelled``. Sorted by the real count, largest first;
    the real counts come from the authors' list (Table 1).
    """
    yt_of = {CATEGORY_OF[inst]: (YT8M_LABEL_NAMES[r], YT8M_COUNTS[r]) for r, inst in enumerate(YT8M_RANK_ORDER)}
    df = bench.videos
    real_total = float(sum(c for _, c in yt_of.values()))
    rows = []
    for cat in bench.categories:
        sel = df[df["category"] == cat]
        name, count = yt_of.get(cat, ("", np.nan))
        rows.append({"category": cat, "yt8m_class": name, "yt8m_videos": count,
                     "yt8m_share": 100.0 * count / real_total, "videos": len(sel),
                     "share": 100.0 * len(sel) / max(1, len(df)),
                     **{s: int((sel["split"] == s).sum()) for s in ("train", "val", "test")}})
    out = pd.DataFrame(rows)
    info_path = None if bench.root is None else Path(bench.root) / "videos_info.csv"
    if info_path is not None and info_path.is_file():
        info = pd.read_csv(info_path, dtype={"video_id": str})
        grp = info.groupby("category")
        out["no_instrument"] = out["category"].map(grp["no_instrument_fraction"].mean() * 100.0)
        if "mislabelled" in info:
            out["mislabelled"] = out["category"].map(grp["mislabelled"].sum()).fillna(0).astype(int)
    return out.sort_values(["yt8m_videos", "videos"], ascending=False, na_position="last").reset_index(drop=True)


def per_class_recall(y, probs_by_model: dict, categories) -> pd.DataFrame:
    """Test videos and recall (%) per class for each model (the diagonals of Figure 3)."""
    y = np.asarray(y)
    out = pd.DataFrame({"category": list(categories), "test_videos": np.bincount(y, minlength=len(categories))})
    for name, probs in probs_by_model.items():
        recall = 100.0 * np.diag(confusion(y, probs, n_classes=len(categories)))
        out[name] = np.where(out["test_videos"] > 0, recall, np.nan)
    return out


def run_youtube8m_figure(bench: Benchmark, cfg: ICMRConfig, *, seed: int = 0, store: FeatureStore, device=None,
                         n_jobs=None, weights=None) -> dict:
    """Figure 3 and the YouTube-8M rows of Tables 2-4 for one training seed.

    Trains (or reuses from ``store``) the audio run ``youtube8m.audio`` (Choi et al. 2016 + UC,
    the paper's best YouTube-8M audio model, Table 3), the frame model of ``fusion.visual``
    (Table 2) and the late fusion on the audio run's features (Table 4, Choi row), all with
    ``cfg.for_youtube8m()``. ``bench`` is normally the ``"embedded_yt8m"`` benchmark and
    ``store`` that source's, so that nothing is shared with the FCVID-style runs.

    Returns ``table2`` (the visual row), ``table3`` (the audio row), ``table4`` (fusion,
    audio-only and video-only rows on the videos with both inputs), ``confusions``,
    ``per_class``, ``runs``, ``n_test``, ``cfg`` (the configuration used), ``y_test`` and
    ``test_probs``.
    """
    name, crop = cfg.youtube8m.audio
    if name not in PAPER_AUDIO_NAMES:
        raise ParameterError(f"unknown audio model {name!r}; valid: {', '.join(PAPER_AUDIO_NAMES)}")
    cfg = cfg.for_youtube8m()
    k, pretrained = int(cfg.fusion.visual[0]), bool(cfg.fusion.visual[1])
    runs = {"audio": run_audio_model(bench, cfg, name, crop, seed=seed, store=store, device=device, n_jobs=n_jobs)}
    frames = frame_inputs(bench, cfg, n_frames=max(k, cfg.visual.eval_frames, cfg.fusion.frames), n_jobs=n_jobs)
    runs["visual"] = run_visual_model(bench, cfg, k, pretrained, frames=frames, seed=seed, store=store,
                                      weights=weights, device=device)
    fused = run_fusion_model(bench, cfg, runs["audio"], runs["visual"], seed=seed, store=store, device=device)
    a, v = runs["audio"], runs["visual"]
    label, method = audio_label(name, crop), PAPER_AUDIO_NAMES[name]
    table3 = pd.DataFrame([{"method": label, **{c: a[c] for c in (
        "crop", "params", "params_paper_input", "hit_at_1", "hit_at_3", "f1", "f1_macro", "train_seconds",
        "epochs_run", "examples_per_s", "cached")}}])
    table2 = pd.DataFrame([{c: v[c] for c in (
        "frames", "pretrained", "pretrain_source", "steps", "train_seconds", "pretrain_seconds", "hit_at_1",
        "hit_at_3", "f1", "f1_macro", "epochs_run", "examples_per_s", "cached")}])
    table4 = pd.DataFrame([
        {"method": method, "model": "fusion", "frames": cfg.fusion.frames, **fused["fusion_summary"],
         "train_seconds": fused["train_seconds"]},
        {"method": method, "model": "audio only", "frames": 0, **fused["audio_summary"],
         "train_seconds": a["train_seconds"]},
        {"method": "Inception v3", "model": "video only", "frames": cfg.visual.eval_frames, **fused["video_summary"],
         "train_seconds": v["train_seconds"]},
    ])
    yt, C = fused["labels"]["test"], bench.num_classes
    probs = {f"audio ({label})": fused["audio_probs"], "video (Inception v3)": fused["video_probs"],
             f"fusion ({method} + Inception v3)": fused["probs"]}
    return {"table2": table2, "table3": table3, "table4": table4,
            "confusions": {n: confusion(yt, p, n_classes=C) for n, p in probs.items()},
            "per_class": per_class_recall(yt, probs, bench.categories), "runs": runs, "n_test": len(yt),
            "cfg": cfg, "y_test": yt,
            "test_probs": {f"{method} fusion": fused["probs"], f"{method} audio only": fused["audio_probs"],
                           "Inception v3 video only": fused["video_probs"]}}
