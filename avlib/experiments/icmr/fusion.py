"""Late fusion of audio and video, Table 4 and Figure 2 of ICMR 2017 (Sec. 3.3 of the paper).

Per video the penultimate features of ``k`` frames (Inception v3, 2048 each, two rows of 1024)
and of the audio network (1024) form a ``(2k + 1) x 1024`` matrix
(:func:`avlib.data.fcvid.fusion_matrices`) that a small network classifies
(:class:`avlib.models.late_fusion.LateFusion`). :func:`run_fusion_model` trains it on the
features the audio and visual pages stored; :func:`run_fusion_table` gives Table 4, the
confusion matrices of Figure 2 and, optionally, the robustness table of one seed.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
import torch

from ...config.icmr import ICMRConfig
from ...data.fcvid import fusion_matrices
from ...errors import DataError
from ...metrics.classification import confusion, softmax
from ...models import get_model
from ...train.loop import TrainConfig, fit
from ...utils import seed_everything
from .audio import PAPER_AUDIO_NAMES, run_audio_model
from .data import Benchmark, frame_inputs
from .robustness import robustness_table
from .scoring import metric_summary, predict_array
from .store import FeatureStore
from .visual import run_visual_model

__all__ = ["fusion_train_config", "train_fusion", "run_fusion_model", "run_fusion_table"]


def fusion_train_config(cfg: ICMRConfig, seed: int) -> TrainConfig:
    """The fusion schedule: Adam at ``fusion.lr`` halved every ``fusion.lr_step`` epochs,
    ``fusion.epochs`` with early stopping after ``fusion.patience``, batch ``fusion.batch``."""
    f = cfg.fusion
    return TrainConfig(epochs=f.epochs, batch_size=f.batch, lr=f.lr, optimizer="adam", lr_step=f.lr_step,
                       patience=f.patience, seed=seed)


def train_fusion(x_train, y_train, x_val, y_val, *, n_frames: int, num_classes: int, config: TrainConfig,
                 hidden=(1024,), device=None, checkpoint_dir=None):
    """Train the late-fusion model on ``(n, 2k+1, 1024)`` matrices; returns ``(model, history)``.

    ``hidden``: one FC1024 as in the reference code (default); ``(1024, 1024)`` is the paper's
    text (:data:`avlib.models.late_fusion.FUSION_HIDDEN`). The weights are initialised after
    seeding with ``config.seed``, so a seed fixes the result. ``checkpoint_dir``: per-epoch
    checkpoints to resume an interrupted training from (:func:`avlib.train.loop.fit`).
    """
    seed_everything(config.seed)
    model = get_model("late_fusion", num_classes=num_classes, n_frames=n_frames, hidden=tuple(hidden))
    tr = (torch.as_tensor(np.asarray(x_train, np.float32)), torch.as_tensor(np.asarray(y_train, np.int64)))
    va = (torch.as_tensor(np.asarray(x_val, np.float32)), torch.as_tensor(np.asarray(y_val, np.int64)))
    history = fit(model, tr, va if len(va[0]) else None, config=config, device=device, progress_bar=True,
                  checkpoint_dir=checkpoint_dir)
    return model, history


def run_fusion_model(bench: Benchmark, cfg: ICMRConfig, audio_run: dict, visual_run: dict, *, seed: int = 0,
                     store: FeatureStore, device=None) -> dict:
    """Train and test the late-fusion model (Sec. 3.3, Table 4) for one audio network.

    Parameters
    ----------
    bench : Benchmark
        The benchmark the unimodal runs were trained on (its classes).
    cfg : ICMRConfig
        ``fusion.frames`` (k), ``fusion.hidden`` and the fusion schedule.
    audio_run, visual_run : dict
        Results of :func:`~avlib.experiments.icmr.audio.run_audio_model` (the network whose
        features feed the fusion: Choi or Xception in Table 4) and
        :func:`~avlib.experiments.icmr.visual.run_visual_model` (the run of ``fusion.visual``,
        stored for every video); their ``tag`` names the entries of ``store``.
    seed : int
        Training seed.
    store : FeatureStore
        Where the unimodal runs stored their features and probabilities.

    Returns
    -------
    dict
        ``model``, ``parts`` ({split: video ids with both inputs}), ``labels`` ({split: int
        array}), ``frame_features`` ({video id: (k, 2048)}), ``probs`` / ``audio_probs`` /
        ``video_probs`` (test probabilities ``(n_test, C)`` of the fusion, audio-only and
        video-only models), ``probs_audio_missing`` / ``probs_video_missing`` (the same fusion
        model with the audio row, or every frame row, of its test inputs set to zero: a missing
        modality as in the paper), ``fusion_summary`` / ``audio_summary`` / ``video_summary``,
        ``train_seconds`` and ``n_frames``.
    """
    vis, aud = store.load(visual_run["tag"]), store.load(audio_run["tag"])
    if vis is None or aud is None:
        raise DataError(f"stored features missing in {store.root}: run run_audio_model/run_visual_model first")
    vid_ids = list(vis["ids"])
    frame_feats = {v: vis["features"][i].reshape(vis["features"].shape[1], -1) for i, v in enumerate(vid_ids)}
    split_of = dict(zip(vid_ids, vis["split"]))
    label_of = dict(zip(vid_ids, vis["labels"].astype(int)))
    vis_probs = dict(zip(vid_ids, vis["probs"]))
    aud_feats, aud_probs = dict(zip(aud["ids"], aud["features"])), dict(zip(aud["ids"], aud["probs"]))
    k = cfg.fusion.frames
    ids = [v for v in vid_ids if v in aud_feats]  # videos with both inputs
    parts = {s: [v for v in ids if split_of[v] == s] for s in ("train", "val", "test")}
    X = {s: fusion_matrices(aud_feats, frame_feats, p, n_frames=k) for s, p in parts.items()}
    Y = {s: np.array([label_of[v] for v in p], dtype=np.int64) for s, p in parts.items()}
    # an interrupted training resumes from its last epoch; the key holds everything it depends on
    h = hashlib.sha1(f"{cfg.key('fusion')}-{seed}-{audio_run['tag']}-{visual_run['tag']}".encode())
    for s in ("train", "val"):
        h.update(np.ascontiguousarray(X[s]).tobytes())
        h.update(Y[s].tobytes())
    tag, key = f"fusion_{audio_run['tag']}", h.hexdigest()
    t0 = time.perf_counter()
    model, _ = train_fusion(X["train"], Y["train"], X["val"], Y["val"], n_frames=k, num_classes=bench.num_classes,
                            config=fusion_train_config(cfg, seed), hidden=cfg.fusion.hidden, device=device,
                            checkpoint_dir=store.checkpoint_dir(tag, key))
    store.finish(tag, key)  # trained: the checkpoint only ever holds an interrupted run
    secs = time.perf_counter() - t0

    def probs_of(x):
        return softmax(predict_array(model, x, batch_size=64, device=device), 1)

    probs = probs_of(X["test"])
    # a missing modality as the paper encodes it, in place (X["test"] is not used again):
    # the audio row (the last row of the layout) zeroed, then every frame row
    xt = X["test"]
    audio_rows = xt[:, 2 * k].copy()
    xt[:, 2 * k] = 0.0
    probs_no_audio = probs_of(xt)
    xt[:, 2 * k] = audio_rows
    xt[:, : 2 * k] = 0.0
    probs_no_video = probs_of(xt)
    a_probs = np.stack([aud_probs[v] for v in parts["test"]])
    v_probs = np.stack([vis_probs[v] for v in parts["test"]])
    yt = Y["test"]
    return {"model": model, "parts": parts, "labels": Y, "frame_features": frame_feats, "probs": probs,
            "probs_audio_missing": probs_no_audio, "probs_video_missing": probs_no_video,
            "audio_probs": a_probs, "video_probs": v_probs, "fusion_summary": metric_summary(yt, probs),
            "audio_summary": metric_summary(yt, a_probs), "video_summary": metric_summary(yt, v_probs),
            "train_seconds": secs, "n_frames": k}


def run_fusion_table(bench: Benchmark, cfg: ICMRConfig, *, seed: int = 0, store: FeatureStore, device=None,
                     n_jobs=None, weights=None, robustness: bool = True) -> dict:
    """Table 4, Figure 2 and (``robustness``) the robustness table for one training seed.

    The unimodal runs (Choi UC, Xception UC and the ``fusion.visual`` frame model) are read
    from ``store`` or trained there. Returns ``table`` (method, model, frames, Hit@1, Hit@3,
    weighted F1, macro F1, n_missing, train_seconds for the Xception and Choi fusions and the
    unimodal models), ``confusions`` ({name: (C, C)}), ``degradation`` (None without
    ``robustness``), ``runs``, ``n_test``, ``y_test`` and ``test_probs``
    ({"<method> <model>": (n_test, C)}, including "<method> fusion, audio missing" and
    "<method> fusion, video missing").
    """
    runs = {name: run_audio_model(bench, cfg, name, "UC", seed=seed, store=store, device=device, n_jobs=n_jobs)
            for name in ("choi2016", "xception_audio")}
    k_visual, pretrained = cfg.fusion.visual
    frames = frame_inputs(bench, cfg, n_jobs=n_jobs)  # cached on disk; the robustness table needs them too
    runs["visual"] = run_visual_model(bench, cfg, k_visual, pretrained, frames=frames, seed=seed, store=store,
                                      weights=weights, device=device)
    k = cfg.fusion.frames
    rows, fused = [], {}
    for name in ("xception_audio", "choi2016"):
        f = run_fusion_model(bench, cfg, runs[name], runs["visual"], seed=seed, store=store, device=device)
        label = PAPER_AUDIO_NAMES[name]
        rows.append({"method": label, "model": "fusion", "frames": k, **f["fusion_summary"],
                     "train_seconds": f["train_seconds"]})
        rows.append({"method": label, "model": "audio only", "frames": 0, **f["audio_summary"],
                     "train_seconds": runs[name]["train_seconds"]})
        fused[name] = f
    x = fused["xception_audio"]
    yt, vprobs = x["labels"]["test"], x["video_probs"]
    rows.append({"method": "Inception v3", "model": "video only", "frames": cfg.visual.eval_frames,
                 **metric_summary(yt, vprobs), "train_seconds": runs["visual"]["train_seconds"]})
    C = bench.num_classes
    confusions = {"audio (Xception + UC)": confusion(yt, x["audio_probs"], n_classes=C),
                  "video (Inception v3)": confusion(yt, vprobs, n_classes=C),
                  "fusion (Xception + Inception v3)": confusion(yt, x["probs"], n_classes=C)}
    test_probs = {f"{PAPER_AUDIO_NAMES[n]} {m}": f[p] for n, f in fused.items()
                  for m, p in (("fusion", "probs"), ("audio only", "audio_probs"),
                               ("fusion, audio missing", "probs_audio_missing"),
                               ("fusion, video missing", "probs_video_missing"))}
    test_probs["Inception v3 video only"] = vprobs
    degradation = None
    if robustness:
        degradation = robustness_table(bench, cfg, x, runs, frames, seed=seed, store=store, device=device,
                                       n_jobs=n_jobs)
    return {"table": pd.DataFrame(rows), "confusions": confusions, "degradation": degradation, "runs": runs,
            "n_test": len(yt), "y_test": yt, "test_probs": test_probs}
