"""Audio-only instrument recognition, Table 3 of ICMR 2017 (Sec. 3.1 and 4.2 of the paper).

Han et al. 2016 on log-mel segments (segment predictions averaged per video), Choi et al.
2016 with one central crop (CC) or ten uniform crops (UC), and the audio Xception, each
trained with :func:`train_audio_model` on the inputs of
:func:`avlib.experiments.icmr.data.audio_inputs`. :func:`run_audio_model` trains and scores one
row of the table and stores its features for the fusion page and the ISMIR chapter.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...config.icmr import ICMRConfig
from ...errors import ParameterError
from ...metrics.classification import softmax
from ...models import get_model
from ...models.wrappers import Standardise
from ...train.loop import TrainConfig, fit
from ...utils import seed_everything
from .data import Benchmark, audio_inputs
from .scoring import count_params, logits_and_features, metric_summary, rescored_meta
from .store import FeatureStore, audio_tag

__all__ = [
    "PAPER_AUDIO_NAMES",
    "audio_label",
    "audio_array",
    "build_audio_model",
    "audio_model_kwargs",
    "audio_train_config",
    "audio_run_key",
    "train_audio_model",
    "audio_scores",
    "run_audio_model",
]

#: The networks' names in the paper's tables.
PAPER_AUDIO_NAMES = {"han2016": "Han et al. 2016", "choi2016": "Choi et al. 2016", "xception_audio": "Xception"}


def audio_label(name: str, crop: str) -> str:
    """Table 3's row label: ``"Choi et al. 2016 + UC"``; Han et al. has no crop."""
    return PAPER_AUDIO_NAMES[name] + ("" if name == "han2016" else f" + {crop.upper()}")


def audio_array(name: str, inputs: list) -> np.ndarray:
    """Per-video log-mels stacked: Han et al. ``(n, S, 128, 43)``; the others ``(n, 1, 96, T)``."""
    arr = np.stack([np.asarray(a, dtype=np.float32) for a in inputs])
    if name == "han2016":
        if arr.ndim != 4:
            raise ParameterError(f"Han et al. inputs must be (n, segments, mels, frames), got {arr.shape}")
        return arr
    if arr.ndim == 3:
        arr = arr[:, None]
    return arr


def build_audio_model(name: str, num_classes: int, input_shape, **model_kwargs) -> nn.Module:
    """Audio network ``name``; Choi et al.'s dense layer follows the input's last two sizes."""
    if name == "choi2016":
        return get_model(name, num_classes=num_classes, input_size=tuple(input_shape[-2:]), **model_kwargs)
    return get_model(name, num_classes=num_classes, **model_kwargs)


def audio_model_kwargs(cfg: ICMRConfig, name: str) -> dict:
    """Constructor arguments ``cfg`` sets for audio network ``name`` (Han et al.'s dropout)."""
    if name == "han2016":
        conv_dropout, dropout = cfg.audio.han_dropout
        return {"conv_dropout": float(conv_dropout), "dropout": float(dropout)}
    return {}


def audio_train_config(cfg: ICMRConfig, seed: int, name: str | None = None) -> TrainConfig:
    """The audio schedule: Adam at ``audio.lr`` (halved every ``audio.lr_step`` epochs, or
    ``audio.lr_schedule``), ``audio.epochs`` with early stopping after ``audio.patience``;
    with ``name``, that network's ``audio.epochs_override`` / ``audio.lr_override`` applied."""
    a = cfg.audio
    config = TrainConfig(epochs=a.epochs, batch_size=a.batch, lr=a.lr, optimizer="adam", lr_step=a.lr_step,
                         patience=a.patience, seed=seed, lr_schedule=a.lr_schedule)
    if name is None:
        return config
    epochs = dict(a.epochs_override).get(name)
    if epochs is not None:
        config = replace(config, epochs=int(epochs))
    lr = dict(a.lr_override).get(name)
    if lr is not None:
        config = replace(config, lr=float(lr))
    return config


def audio_run_key(cfg: ICMRConfig, name: str, crop: str, seed: int) -> str:
    """Key of a stored audio run: the audio settings that change it, the network, crop and seed."""
    parts = ("epochs", "epochs_override", "lr_override", "batch", "lr", "lr_step", "lr_schedule", "patience",
             "choi_seconds", "han_segments", "han_segment_seconds", "han_dropout", "logmel_scale")
    return cfg.key(*(f"audio.{p}" for p in parts)) + f"-{name}-{crop}-{seed}"


def train_audio_model(name: str, x_train, y_train, x_val, y_val, *, num_classes: int, config: TrainConfig,
                      checkpoint_dir=None, device=None, model_kwargs: dict | None = None):
    """Train one audio network of Table 3 on stacked log-mel inputs; returns ``(model, history)``.

    ``x_*``: per-video arrays from :func:`~avlib.experiments.icmr.data.audio_inputs` (Han et
    al.: ``(n, S, 128, 43)``, each segment an example with its video's label; Choi/Xception:
    ``(n, 96, T)``). ``model_kwargs``: constructor arguments (:func:`audio_model_kwargs`). The
    returned model standardises its input with the training mean and standard deviation, and its
    initial weights depend on ``config.seed`` only.
    """
    xtr, xva = audio_array(name, x_train), audio_array(name, x_val)
    # copies: labels may be read-only views (pandas copy-on-write), which torch warns about
    ytr, yva = np.array(y_train, np.int64), np.array(y_val, np.int64)
    if name == "han2016":  # one example per segment
        s = xtr.shape[1]
        xtr, ytr = xtr.reshape(-1, 1, *xtr.shape[2:]), np.repeat(ytr, s)
        xva, yva = xva.reshape(-1, 1, *xva.shape[2:]), np.repeat(yva, xva.shape[1])
    mean, std = float(xtr.mean()), float(xtr.std() + 1e-6)
    seed_everything(config.seed)
    model = Standardise(build_audio_model(name, num_classes, xtr.shape, **(model_kwargs or {})), mean, std)
    val = (torch.from_numpy(xva), torch.from_numpy(yva)) if len(xva) else None
    history = fit(model, (torch.from_numpy(xtr), torch.from_numpy(ytr)), val, config=config,
                  checkpoint_dir=checkpoint_dir, device=device, progress_bar=True)
    return model, history


def audio_scores(name: str, model: nn.Module, x, *, batch_size: int = 32, device=None):
    """Video-level class probabilities ``(n, C)`` and penultimate features ``(n, 1024)``.

    Han et al.: the softmax outputs of the segments are averaged per video (Sec. 4.2), and so
    are the segment features.
    """
    arr = audio_array(name, x)
    if name == "han2016":
        n, s = arr.shape[:2]
        flat = arr.reshape(n * s, 1, *arr.shape[2:])
        logits, feats = logits_and_features(model, flat, batch_size=batch_size * 4, device=device)
        return softmax(logits, 1).reshape(n, s, -1).mean(1), feats.reshape(n, s, -1).mean(1)
    logits, feats = logits_and_features(model, arr, batch_size=batch_size, device=device)
    return softmax(logits, 1), feats


def run_audio_model(bench: Benchmark, cfg: ICMRConfig, name: str, crop: str, *, seed: int = 0,
                    store: FeatureStore | None = None, device=None, n_jobs=None, force: bool = False) -> dict:
    """Train and test one row of Table 3 and store its features; a stored run whose key
    (:func:`audio_run_key`) matches is reused, and an interrupted one resumes from its last
    epoch (:meth:`FeatureStore.checkpoint_dir`).

    Returns the run's ``tag`` and meta: network, crop, params (ours, and ours at the paper's
    input size), Hit@1/Hit@3/F1 (weighted), macro F1, n_missing, timings, ``cached``.
    """
    key = audio_run_key(cfg, name, crop, seed)
    tag = audio_tag(name, crop)
    if store is not None and not force:
        hit = store.load(tag, key=key)
        if hit is not None:
            return {"tag": tag, **rescored_meta(hit), "cached": True}
    inputs = audio_inputs(bench, cfg, model=name, crop=crop, n_jobs=n_jobs)
    df = bench.videos[bench.videos["video_id"].isin(inputs)].reset_index(drop=True)
    skipped = len(bench.videos) - len(df)
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    xs = {s: [inputs[v] for v in p["video_id"]] for s, p in parts.items()}
    t0 = time.perf_counter()
    model, history = train_audio_model(name, xs["train"], parts["train"]["label"], xs["val"], parts["val"]["label"],
                                       num_classes=bench.num_classes, config=audio_train_config(cfg, seed, name),
                                       checkpoint_dir=store.checkpoint_dir(tag, key) if store is not None else None,
                                       device=device, model_kwargs=audio_model_kwargs(cfg, name))
    train_s = time.perf_counter() - t0
    # every video's features only for the UC Choi/Xception runs (fusion, YouTube-8M page, ISMIR);
    # Han et al. and CC are scored on the test videos only
    if name == "han2016" or crop.upper() != "UC":
        df = df[df["split"] == "test"].reset_index(drop=True)
    probs, feats = audio_scores(name, model, [inputs[v] for v in df["video_id"]], device=device)
    # a test video whose audio cannot be decoded stays in the evaluation, scored as missing for
    # this modality (NaN probabilities, zero features), so the test set never shrinks silently
    lost = bench.videos[(bench.videos["split"] == "test") & ~bench.videos["video_id"].isin(inputs)]
    if len(lost):
        df = pd.concat([df, lost], ignore_index=True)
        probs = np.concatenate([probs, np.full((len(lost), probs.shape[1]), np.nan, probs.dtype)])
        feats = np.concatenate([feats, np.zeros((len(lost), *feats.shape[1:]), feats.dtype)])
    test = (df["split"] == "test").to_numpy()
    hist = history.to_frame()
    meta = {
        "model": name, "crop": crop.upper(), "params": count_params(model.model),
        "params_paper_input": count_params(get_model(name, num_classes=bench.num_classes)),
        "train_seconds": train_s, "epochs_run": len(hist), "best_epoch": history.best_epoch,
        "skipped_videos": skipped,
        "examples_per_s": float(hist["examples_per_s"].mean()) if len(hist) else float("nan"),
        "input_shape": list(np.asarray(xs["train"][0]).shape),
        **metric_summary(df["label"].to_numpy()[test], probs[test]),
    }
    if store is not None:
        store.save(tag, key=key, ids=df["video_id"], split=df["split"], labels=df["label"], features=feats,
                   probs=probs, meta=meta)
        store.save_model(tag, model, key=key, extra={"name": name, "input_shape": meta["input_shape"]})
        store.finish(tag, key)
    return {"tag": tag, **meta, "cached": False}
