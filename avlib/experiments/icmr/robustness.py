"""Missing or degraded modalities: the robustness the ICMR 2017 abstract claims for late fusion.

The paper says its architecture provides "additional robustness to missing modalities" and
shows no experiment. :func:`degradation_table` measures the fusion model beside the
single-modality models with audio noise (:func:`degrade_logmel`), dropped frames, and either
modality missing (zero rows, the paper's encoding, Sec. 3.3); :func:`robustness_table` runs it
on the stored models of one seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...config.icmr import ICMRConfig
from ...data.fcvid import fusion_matrix
from ...errors import ParameterError
from ...features.audio import LOGMEL_SCALES
from ...features.frames import uniform_frame_indices
from ...metrics.classification import softmax
from ...models.wrappers import Standardise
from ...train.loop import predict
from .audio import audio_scores, build_audio_model
from .data import Benchmark, audio_inputs, frame_transform
from .scoring import metric_summary, predict_array
from .store import FeatureStore
from .visual import frame_model

__all__ = ["degrade_logmel", "drop_frames", "per_frame_probs", "degradation_table", "robustness_table"]


def degrade_logmel(x, *, snr_db: float, rng, scale: str = "power_squared") -> np.ndarray:
    """Add white noise to log-mel spectrograms (dB, ref 1.0) at a given SNR.

    The noise power per mel band is the mean signal power of each example divided by
    ``10 ** (snr_db / 10)``, with exponential (chi-squared, 2 dof) fluctuation per bin as for
    the periodogram of white noise. Works on any ``(..., n_mels, t)`` array. ``scale``: the dB
    scale of ``x`` (:data:`avlib.features.audio.LOGMEL_SCALES`): ``"power_squared"`` (the ICMR
    inputs, ``20 log10`` of the mel power) or ``"power"`` (``10 log10``).
    """
    if scale not in LOGMEL_SCALES:
        raise ParameterError(f"scale must be one of {LOGMEL_SCALES}, got {scale!r}")
    per_decade = 20.0 if scale == "power_squared" else 10.0
    x = np.asarray(x, dtype=np.float64)
    power = 10.0 ** (x / per_decade)
    mean_power = power.mean(axis=(-2, -1), keepdims=True)
    noise = mean_power / 10.0 ** (snr_db / 10.0) * rng.exponential(1.0, size=x.shape)
    return (per_decade * np.log10(power + noise)).astype(np.float32)


def drop_frames(x, *, n_frames: int, keep: float, rng) -> np.ndarray:
    """Zero the rows of a random ``1 - keep`` share of the frames in fusion inputs ``(n, 2k+1, d)``."""
    x = np.array(x, copy=True)
    n_keep = int(round(keep * n_frames))
    for i in range(len(x)):
        for j in rng.permutation(n_frames)[n_keep:]:
            x[i, 2 * j: 2 * j + 2] = 0
    return x


def per_frame_probs(model, frames: list, k: int, *, device=None):
    """Per-frame softmax ``(n, k, C)`` of the first ``k`` frames of each video, with a validity
    mask ``(n, k)`` for videos with fewer. Returns ``({"p": ..., "valid": ...}, C)``."""
    lens = [min(len(f), k) for f in frames]
    flat = np.concatenate([np.asarray(f[:k]) for f in frames])
    logits = predict(model, (torch.from_numpy(flat),), batch_size=64, device=device, has_targets=False,
                     input_transform=frame_transform)
    p = softmax(logits, 1)
    C = p.shape[1]
    out = np.zeros((len(frames), k, C))
    valid = np.zeros((len(frames), k), bool)
    pos = 0
    for i, n in enumerate(lens):
        out[i, :n] = p[pos: pos + n]
        valid[i, :n] = True
        pos += n
    return {"p": out, "valid": valid}, C


def degradation_table(*, fusion_model, audio_model, audio_name, audio_x, frame_feats, frame_probs_fn, labels,
                      n_frames: int, snr_db, keep_fractions, seed: int = 0, device=None) -> pd.DataFrame:
    """Hit@1/Hit@3/F1 of fusion vs single-modality models under missing or degraded input.

    Conditions: clean; audio noise at each ``snr_db``; audio missing (zero row); fraction
    ``keep`` of the frames kept (the others dropped = zero rows); video missing. The audio-only
    model sees the same noisy log-mels; the video-only model averages over the frames kept; a
    video with none kept is missing for it (NaN scores from ``frame_probs_fn``: left out of the
    metrics and counted in ``n_missing``). ``frame_probs_fn(mask) -> (n, C)`` gives video-only
    probabilities for a boolean frame mask ``(n, n_frames)``.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    n = len(labels)

    def fused(audio_feats, mask):
        frames = frame_feats * mask[:, :, None]
        return np.stack([fusion_matrix(None if audio_feats is None else audio_feats[i],
                                       frames[i].reshape(n_frames, -1), n_frames=n_frames) for i in range(n)])

    def fusion_probs(x):
        return softmax(predict_array(fusion_model, x, batch_size=64, device=device), 1)

    rows = []

    def add(condition, level, modality_probs, modality, fprobs):
        for model_name, probs in (("fusion", fprobs), (modality, modality_probs)):
            if probs is not None:
                rows.append({"condition": condition, "level": level, "model": model_name,
                             **metric_summary(labels, probs)})

    full = np.ones((n, n_frames), bool)
    clean_probs, clean_feats = audio_scores(audio_name, audio_model, audio_x, device=device)
    video_clean = frame_probs_fn(full)
    add("clean", 0.0, clean_probs, "audio only", fusion_probs(fused(clean_feats, full)))
    rows.append({"condition": "clean", "level": 0.0, "model": "video only", **metric_summary(labels, video_clean)})
    for snr in snr_db:
        noisy = degrade_logmel(np.stack([np.asarray(a) for a in audio_x]), snr_db=snr, rng=rng)
        probs, feats = audio_scores(audio_name, audio_model, list(noisy), device=device)
        add("audio noise", float(snr), probs, "audio only", fusion_probs(fused(feats, full)))
    add("audio missing", float("nan"), None, "audio only", fusion_probs(fused(None, full)))
    for keep in keep_fractions:
        n_keep = int(round(keep * n_frames))
        mask = np.zeros((n, n_frames), bool)
        for i in range(n):
            mask[i, rng.permutation(n_frames)[:n_keep]] = True
        add("frames kept", float(keep), frame_probs_fn(mask), "video only", fusion_probs(fused(clean_feats, mask)))
    add("video missing", float("nan"), None, "video only",
        fusion_probs(fused(clean_feats, np.zeros((n, n_frames), bool))))
    return pd.DataFrame(rows)


def robustness_table(bench: Benchmark, cfg: ICMRConfig, fused: dict, runs: dict, frames: dict, *, seed: int,
                     store: FeatureStore, device=None, n_jobs=None) -> pd.DataFrame:
    """:func:`degradation_table` of one seed's Xception fusion (Table 4's model) on its test videos.

    ``fused``: :func:`avlib.experiments.icmr.fusion.run_fusion_model`'s result for the Xception
    audio run; ``runs``: the unimodal runs (``"xception_audio"``, ``"visual"``) whose weights
    ``store`` holds; ``frames``: the frame inputs. The video-only model uses the same ``k``
    frames as the stored fusion features (spread over the whole video); the SNRs and kept
    fractions are ``robustness.snr_db`` and ``robustness.keep_fractions``.
    """
    name, k, C = "xception_audio", cfg.fusion.frames, bench.num_classes
    test_ids = fused["parts"]["test"]
    inputs = audio_inputs(bench, cfg, model=name, crop="UC", n_jobs=n_jobs)
    test_x = [inputs[v] for v in test_ids]
    amodel = Standardise(build_audio_model(name, C, (1, *np.asarray(test_x[0]).shape[-2:])), 0.0, 1.0)
    amodel.load_state_dict(store.load_model(runs[name]["tag"])["state"])
    vmodel = frame_model(C)
    vmodel.load_state_dict(store.load_model(runs["visual"]["tag"])["state"])
    test_frames = [np.asarray(frames[v])[uniform_frame_indices(len(frames[v]), k)] for v in test_ids]
    per_frame, _ = per_frame_probs(vmodel, test_frames, k, device=device)

    def video_probs(mask):
        out = np.full((len(test_frames), C), np.nan)  # no frame kept: missing
        for i in range(len(test_frames)):
            m = mask[i] & per_frame["valid"][i]
            if m.any():
                out[i] = per_frame["p"][i][m].mean(0)
        return out

    ff = np.stack([fused["frame_features"][v] for v in test_ids]).reshape(len(test_frames), k, -1)
    return degradation_table(fusion_model=fused["model"], audio_model=amodel, audio_name=name, audio_x=test_x,
                             frame_feats=ff, frame_probs_fn=video_probs, labels=fused["labels"]["test"],
                             n_frames=k, snr_db=cfg.robustness.snr_db, keep_fractions=cfg.robustness.keep_fractions,
                             seed=seed, device=device)
