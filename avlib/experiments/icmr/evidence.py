"""The ICMR 2017 claims measured on the book's pages, with their uncertainty.

The paper's comparisons (UC vs CC, Xception vs Choi vs Han, pre-training, frames per video,
fusion vs one modality, robustness to a missing modality; ``avlib/reference/claims.yaml``)
are measured on every seed of a page. Each claim row (:data:`CLAIM_ROWS`) is a paired
two-level bootstrap (:func:`bootstrap_evidence`, :func:`avlib.metrics.stats.two_level_bootstrap`)
of the per-video predictions of the two models it compares: every replicate resamples the
training seeds, then the test videos (the same videos for both models), so the interval holds
both the training randomness and the sampling of the test set; 1,000 replicates with a fixed
bootstrap seed. The metric of each row is the one the claim's wording quotes: Hit@1, or the
support-weighted F1 that the paper's F1 column is. :func:`bootstrap_summary` gives each
model's seed-averaged Hit@1 with the same kind of interval (the tables' last column).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ...claims import from_bootstrap, load_claims
from ...errors import ParameterError
from ...metrics.classification import f1_from_labels, predicted_labels
from ...metrics.stats import two_level_bootstrap

__all__ = [
    "N_BOOT",
    "BOOT_SEED",
    "METRIC_LABELS",
    "CLAIM_ROWS",
    "CLAIM_METRICS",
    "predictions_of",
    "hit_at_1",
    "weighted_f1",
    "bootstrap_summary",
    "bootstrap_evidence",
    "audio_evidence",
    "visual_evidence",
    "fusion_evidence",
    "missing_modality_summary",
    "missing_modality_text",
]

#: Replicates and bootstrap seed of every ICMR claim row (fixed: the table is deterministic).
N_BOOT = 1000
BOOT_SEED = 0

#: Metric names as the claim rows and the book print them.
METRIC_LABELS = {"hit_at_1": "Hit@1", "f1": "weighted F1"}

#: The ICMR claim rows: ``claim -> (page, metric, a, b, what)``. ``a`` and ``b`` name the
#: models compared (keys of the page's ``probs``; the visual rows name a frames/pre-training
#: contrast instead); the effect is ``metric(a) - metric(b)``, positive = the paper's direction.
#: The metric is the one the claim's wording in claims.yaml quotes: Hit@1 where the paper
#: quotes Hit@1 (Tables 3-4, fusion), the support-weighted F1 where it quotes F1 (audio vs
#: video: "F1 = 79.35 for audio vs F1 = 71.23 for video"; frames: "F1 = 71.23 ... vs F1 = 43.16").
CLAIM_ROWS = {
    "icmr_uc_ge_cc": ("icmr_audio", "hit_at_1", "Choi et al. 2016 + UC", "Choi et al. 2016 + CC",
                      "Choi UC minus Choi CC"),
    "icmr_xception_ge_choi": ("icmr_audio", "hit_at_1", "Xception + UC", "Choi et al. 2016 + UC",
                              "Xception UC minus Choi UC"),
    "icmr_choi_ge_han": ("icmr_audio", "hit_at_1", "Choi et al. 2016 + UC", "Han et al. 2016",
                         "Choi UC minus Han et al. 2016"),
    "icmr_pretraining_helps": ("icmr_visual", "hit_at_1", "PT", "scratch",
                               "pre-trained minus from-scratch frame model, paired by frames"),
    "icmr_more_frames_help": ("icmr_visual", "f1", "most frames", "fewest frames",
                              "most minus fewest training frames per video, paired by pre-training"),
    "icmr_fusion_beats_audio": ("icmr_fusion", "hit_at_1", "Xception fusion", "Xception audio only",
                                "Xception fusion minus Xception UC audio only"),
    "icmr_fusion_beats_video": ("icmr_fusion", "hit_at_1", "Xception fusion", "Inception v3 video only",
                                "Xception fusion minus Inception v3 video only"),
    "icmr_audio_beats_video": ("icmr_fusion", "f1", "Xception audio only", "Inception v3 video only",
                               "Xception UC audio only (the paper's 79.35) minus Inception v3 video only (71.23)"),
    "icmr_fusion_missing_audio": ("icmr_fusion", "hit_at_1", "Xception fusion, audio missing",
                                  "Inception v3 video only",
                                  "Xception fusion with the audio row zeroed minus Inception v3 video only"),
    "icmr_fusion_missing_video": ("icmr_fusion", "hit_at_1", "Xception fusion, video missing",
                                  "Xception audio only",
                                  "Xception fusion with every frame row zeroed minus Xception UC audio only"),
}


def predictions_of(p) -> np.ndarray:
    """Predicted labels ``(n_seeds, n)`` of probabilities ``(n_seeds, n, C)`` (the tie rule of
    :func:`avlib.metrics.classification.predicted_labels`); a video whose scores are not finite
    (no usable input) gets -1 and is left out of the metrics, as in the tables. Integer label
    arrays ``(n_seeds, n)`` (or ``(n_seeds, n, K)`` for K paired settings) pass unchanged."""
    p = np.asarray(p)
    if np.issubdtype(p.dtype, np.integer):
        return p.astype(np.int64)
    if p.ndim != 3:
        raise ParameterError(f"probabilities must be (n_seeds, n, C), got {p.shape}")
    out = np.full(p.shape[:2], -1, np.int64)
    for i, ps in enumerate(p):
        ok = np.isfinite(ps).all(axis=1)
        if ok.any():
            out[i, ok] = predicted_labels(ps[ok])
    return out


def _valid(y, pred):
    ok = pred >= 0
    return y[ok], pred[ok]


def hit_at_1(y, pred) -> float:
    """Hit@1 (%) of labels ``pred`` (-1 = missing, left out); ``pred (n, K)``: mean over the K settings."""
    pred = np.asarray(pred)
    if pred.ndim == 2:
        return float(np.mean([hit_at_1(y, pred[:, j]) for j in range(pred.shape[1])]))
    yy, pp = _valid(np.asarray(y), pred)
    return 100.0 * float(np.mean(yy == pp)) if len(yy) else float("nan")


def weighted_f1(y, pred) -> float:
    """Support-weighted F1 (%) of labels ``pred`` (-1 = missing, left out); ``(n, K)``: mean over K."""
    pred = np.asarray(pred)
    if pred.ndim == 2:
        return float(np.mean([weighted_f1(y, pred[:, j]) for j in range(pred.shape[1])]))
    yy, pp = _valid(np.asarray(y), pred)
    return f1_from_labels(yy, pp, average="weighted") if len(yy) else float("nan")


#: Metric functions of the claim rows on predicted labels.
CLAIM_METRICS = {"hit_at_1": hit_at_1, "f1": weighted_f1}


def bootstrap_summary(y_test, probs: dict, *, n_boot: int = 1000, seed: int = 0,
                      confidence: float = 0.95, key: str = "method") -> pd.DataFrame:
    """Two-level bootstrap interval of each model's seed-averaged Hit@1.

    ``probs``: ``{name: (n_seeds, n_test, C)}`` test-video probabilities per seed (or predicted
    labels ``(n_seeds, n_test)``), videos in the order of ``y_test``. Each replicate resamples the
    seeds, then the test videos (:func:`avlib.metrics.stats.two_level_bootstrap` with one model),
    so the interval holds both the training randomness and the test-set size. Videos without
    scores are left out (as in the tables). Returns ``key``, ``hit_at_1``, ``lo``, ``hi``,
    ``n_test``, ``n_seeds``.
    """
    y = np.asarray(y_test)
    rows = []
    for name, p in probs.items():
        lab = predictions_of(p)
        if lab.shape[1] != len(y):
            raise ParameterError(f"{name}: {lab.shape[1]} test videos, y_test has {len(y)}")
        b = two_level_bootstrap(y, lab, None, hit_at_1, n_boot=n_boot, seed=seed, confidence=confidence)
        rows.append({key: name, "hit_at_1": b.mean, "lo": b.lo, "hi": b.hi, "n_test": b.n_items,
                     "n_seeds": b.n_seeds})
    return pd.DataFrame(rows)


def bootstrap_evidence(claim: str, y_test, pred_a, pred_b, *, metric: str, what: str, n_boot: int = N_BOOT,
                       seed: int = BOOT_SEED, confidence: float = 0.95):
    """One claim row: paired two-level bootstrap of ``metric(a) - metric(b)``.

    ``pred_a``, ``pred_b``: predicted labels ``(n_seeds, n_test)`` (or probabilities
    ``(n_seeds, n_test, C)``, or labels ``(n_seeds, n_test, K)`` for K paired settings whose
    metric is averaged), seed ``i`` of ``a`` paired with seed ``i`` of ``b`` and videos in the
    order of ``y_test``. Each replicate resamples the seeds, then the test videos, the same
    videos for both models (:func:`avlib.metrics.stats.two_level_bootstrap`). The effect is the
    mean over seeds of the difference on the full test set, the interval the bootstrap
    percentile interval, ``se`` the replicates' SD (:func:`avlib.claims.from_bootstrap`); ``n``
    is the number of test videos and ``unit`` says "test videos x <seeds> seeds".
    """
    y = np.asarray(y_test).astype(np.int64)
    a, b = predictions_of(pred_a), predictions_of(pred_b)
    if a.shape != b.shape or a.shape[1] != len(y):
        raise ParameterError(f"{claim}: predictions {a.shape} and {b.shape} do not pair with {len(y)} test videos")
    boot = two_level_bootstrap(y, a, b, CLAIM_METRICS[metric], n_boot=n_boot, seed=seed, confidence=confidence)
    ns, nv = boot.n_seeds, boot.n_items
    seeds_txt = f"{ns} seed{'s' if ns != 1 else ''}"
    detail = (f"{what}, {METRIC_LABELS[metric]}, {seeds_txt} x {nv} test videos, two-level bootstrap "
              f"({n_boot} replicates, bootstrap seed {seed}: seeds, then test videos paired per video)")
    unit = f"test videos x {seeds_txt} (two-level bootstrap)"
    ev = from_bootstrap(claim, boot.mean, boot.replicates, detail=detail, unit=unit, n=nv, confidence=confidence)
    test = (f"two-level bootstrap, {n_boot} replicates ({seeds_txt} x {nv} test videos): se = {ev.se:.2f}, "
            f"p (against 0) = {ev.p:.3g}")
    return replace(ev, test=test)


def _rows(page: str, y_test, probs: dict, n_boot: int, seed: int) -> list:
    out = []
    for claim, (pg, metric, a, b, what) in CLAIM_ROWS.items():
        if pg != page or a not in probs or b not in probs:
            continue
        out.append(bootstrap_evidence(claim, y_test, probs[a], probs[b], metric=metric, what=what,
                                      n_boot=n_boot, seed=seed))
    return out


def audio_evidence(y_test, probs: dict, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list:
    """``icmr_uc_ge_cc``, ``icmr_xception_ge_choi``, ``icmr_choi_ge_han`` (Hit@1, :data:`CLAIM_ROWS`).

    ``y_test``, ``probs``: as returned by :func:`run_audio_seeds` (``{method: (n_seeds, n_test, C)}``).
    """
    return _rows("icmr_audio", y_test, probs, n_boot, seed)


def _visual_key(name: str):
    m = re.fullmatch(r"(\d+) frames, (PT|scratch)", str(name))
    return (int(m.group(1)), m.group(2) == "PT") if m else None


def visual_evidence(y_test, probs: dict, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list:
    """``icmr_pretraining_helps`` and ``icmr_more_frames_help`` from :func:`run_visual_seeds`'s ``probs``
    (``{"<k> frames, PT|scratch": (n_seeds, n_test, C)}``).

    Pre-training: pre-trained minus scratch Hit@1, averaged over every k with both (paired by
    frames, seed and video). Frames: the most minus the fewest frames per training video,
    weighted F1, averaged over the pre-training settings that have both (paired likewise).
    """
    labels = {}
    for name, p in probs.items():
        key = _visual_key(name)
        if key is not None:
            labels[key] = predictions_of(p)
    out = []
    ks = sorted({k for k, _ in labels})
    both = [k for k in ks if (k, True) in labels and (k, False) in labels]
    if both:
        _, metric, _, _, what = CLAIM_ROWS["icmr_pretraining_helps"]
        a = np.stack([labels[(k, True)] for k in both], axis=-1)
        b = np.stack([labels[(k, False)] for k in both], axis=-1)
        out.append(bootstrap_evidence("icmr_pretraining_helps", y_test, a, b, metric=metric, n_boot=n_boot, seed=seed,
                                      what=f"{what} ({', '.join(map(str, both))} frames)"))
    if len(ks) >= 2:
        lo_k, hi_k = ks[0], ks[-1]
        pts = [pt for pt in (False, True) if (lo_k, pt) in labels and (hi_k, pt) in labels]
        if pts:
            _, metric, _, _, what = CLAIM_ROWS["icmr_more_frames_help"]
            a = np.stack([labels[(hi_k, pt)] for pt in pts], axis=-1)
            b = np.stack([labels[(lo_k, pt)] for pt in pts], axis=-1)
            names = " and ".join("pre-trained" if pt else "scratch" for pt in pts)
            out.append(bootstrap_evidence("icmr_more_frames_help", y_test, a, b, metric=metric, n_boot=n_boot,
                                          seed=seed, what=f"{hi_k} minus {lo_k} training frames per video ({names})"))
    return out


def fusion_evidence(y_test, probs: dict, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list:
    """``icmr_fusion_beats_audio`` / ``_video`` (Hit@1), ``icmr_audio_beats_video`` (weighted F1,
    Xception UC, the audio model whose F1 the paper quotes) and the missing-modality rows
    ``icmr_fusion_missing_audio`` / ``_video`` (Hit@1) from :func:`run_fusion_seeds`'s ``probs``.
    """
    return _rows("icmr_fusion", y_test, probs, n_boot, seed)


def missing_modality_summary(y_test, probs: dict) -> pd.DataFrame:
    """Hit@1 and weighted F1 (mean over seeds) of the Xception fusion with the audio or the video
    missing beside the single-modality model of the modality that is left (the rows of the
    missing-modality claims), for the fusion page's text."""
    y = np.asarray(y_test)
    rows = []
    for claim in ("icmr_fusion_missing_audio", "icmr_fusion_missing_video"):
        _, _, a, b, _ = CLAIM_ROWS[claim]
        if a not in probs or b not in probs:
            continue
        for name in (a, b):
            lab = predictions_of(probs[name])
            rows.append({"claim": claim, "model": name,
                         "hit_at_1": float(np.mean([hit_at_1(y, s) for s in lab])),
                         "f1": float(np.mean([weighted_f1(y, s) for s in lab]))})
    return pd.DataFrame(rows)


def missing_modality_text(summary: pd.DataFrame, evidence) -> str:
    """The fusion page's plain statement of the missing-modality result (Markdown).

    ``summary``: :func:`missing_modality_summary`; ``evidence``: the page's rows (the
    ``icmr_fusion_missing_*`` ones are used). Per missing modality: the two Hit@1 values, the
    effect with its interval, and where the interval lies against the claim's declared margin
    (read from claims.yaml); the Claims page gives the verdict (which also needs q < 0.05).
    """
    ev = {e.claim: e for e in evidence}
    margins = load_claims().set_index("id")["margin"]
    out = []
    for claim, modality, left in (("icmr_fusion_missing_audio", "audio", "video-only"),
                                  ("icmr_fusion_missing_video", "video", "audio-only")):
        e = ev.get(claim)
        rows = summary[summary["claim"] == claim] if len(summary) else summary
        if e is None or len(rows) != 2:
            continue
        fused, single = rows["hit_at_1"].iloc[0], rows["hit_at_1"].iloc[1]
        m = float(margins.get(claim, np.nan))
        if e.hi < -m:
            where = (f"the whole interval below -{m:g} points (the declared margin), so on this benchmark the "
                     f"fusion model is **not** robust to a missing {modality}")
        elif e.lo > -m:
            where = (f"the whole interval above -{m:g} points (the declared margin): as good as the {left} model, "
                     f"robust to a missing {modality} in the paper's sense")
        else:
            where = f"an interval that straddles -{m:g} points (the declared margin): not decided by these runs"
        out.append(f"With the **{modality} missing**, the fusion model reaches {fused:.1f} % Hit@1 against "
                   f"{single:.1f} % for the {left} model: {e.effect:+.1f} points (95 % interval "
                   f"[{e.lo:+.1f}, {e.hi:+.1f}], {e.n} {e.unit}), {where}.")
    if not out:
        return "No missing-modality predictions were recorded."
    return " ".join(out) + (" The paper claims \"additional robustness to missing modalities\" without a number; "
                            "the [Claims page](claims) gives the verdicts.")
