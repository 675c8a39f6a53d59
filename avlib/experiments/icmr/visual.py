"""Visual instrument recognition with Inception v3, Table 2 of ICMR 2017 (Sec. 3.2, 4.2-4.3).

The paper fine-tunes Inception v3 on ``k`` random frames per training video, from scratch or
from ImageNet weights fine-tuned on instrument images, and averages the frame predictions of
each test video. Here: :func:`pretrain_on_image_bank` (the benchmark's instrument pictures
stand in for the ImageNet instrument images), :func:`train_frame_model`, :func:`frame_scores`
and :func:`run_visual_model`, which trains and scores one row of the table and stores it.

With ``visual.backbone == "frozen"`` (the reduced scales) the backbone is not fine-tuned: one
backbone per row type is shared by every seed, the pooled features of every frame are computed
once (:func:`frozen_backbone_features`) and per seed only a linear classifier trains
(:func:`run_visual_model_frozen`).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import torch
from torch import nn

from ...config.icmr import ICMRConfig
from ...errors import ParameterError
from ...features.frames import uniform_frame_indices
from ...metrics.classification import softmax
from ...models import get_model
from ...models.wrappers import FrozenHead
from ...train.loop import TrainConfig, fit, predict
from ...utils import seed_everything
from .data import Benchmark, FrameDataset, frame_transform, image_bank
from .scoring import export_features, logits_and_features, metric_summary, rescored_meta
from .store import FeatureStore, frozen_cache_dir, visual_tag

__all__ = [
    "frame_model",
    "visual_train_config",
    "pretrain_config",
    "pretrain_on_image_bank",
    "pretrained_backbone",
    "train_frame_model",
    "frame_scores",
    "feeds_fusion",
    "run_visual_model",
    "frozen_backbone_features",
    "run_visual_model_frozen",
]


def frame_model(num_classes: int, weights=None) -> nn.Module:
    """Inception v3 on frames (:mod:`avlib.models.inception_frames`); ``weights``: an optional
    local torchvision ImageNet state dict (never downloaded)."""
    return get_model("inception_frames", num_classes=num_classes, weights=weights)


def visual_train_config(cfg: ICMRConfig, seed: int) -> TrainConfig:
    """The frame model's schedule: ``visual.optimizer`` (SGD, momentum 0.9, in the paper) at
    ``visual.lr`` halved every ``visual.lr_step`` epochs, batch ``visual.batch``."""
    v = cfg.visual
    return TrainConfig(epochs=v.epochs, batch_size=v.batch, lr=v.lr, optimizer=v.optimizer, momentum=0.9,
                       lr_step=v.lr_step, patience=v.patience, seed=seed, channels_last=True)


def pretrain_config(cfg: ICMRConfig, seed: int) -> TrainConfig:
    """The image-bank pre-training's schedule: Adam at ``visual.pretrain_lr``, ``visual.pretrain_epochs``."""
    v = cfg.visual
    return TrainConfig(epochs=v.pretrain_epochs, batch_size=v.batch, lr=v.pretrain_lr, optimizer="adam", seed=seed,
                       channels_last=True)


def pretrain_on_image_bank(images, labels, *, num_classes: int, config: TrainConfig, weights=None,
                           val_fraction: float = 0.15, checkpoint_dir=None, device=None):
    """Pre-train Inception v3 on the isolated-instrument image bank.

    Stand-in for the paper's "ImageNet + fine-tuning on musical-instrument images"
    (Sec. 4.3). ``weights``: optional local torchvision ImageNet weights to start from (see
    :func:`avlib.models.inception_frames.load_local_weights`). Returns ``(state_dict of the
    backbone, history, pretrained_source)``.
    """
    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels, np.int64))
    order = np.random.default_rng(config.seed).permutation(len(images))
    n_val = int(round(val_fraction * len(images))) if len(images) >= 10 else 0
    va, tr = order[:n_val], order[n_val:]
    seed_everything(config.seed)
    model = frame_model(num_classes, weights)
    val = (images[va], labels[va]) if n_val else None
    history = fit(model, (images[tr], labels[tr]), val, config=config, checkpoint_dir=checkpoint_dir, device=device,
                  input_transform=frame_transform, progress_bar=True)
    source = model.pretrained_source
    source = "image bank" if source.startswith("random") else f"{source} + image bank"
    return {k: v.detach().cpu() for k, v in model.backbone.state_dict().items()}, history, source


def pretrained_backbone(bench: Benchmark, cfg: ICMRConfig, *, seed: int, store: FeatureStore | None,
                        weights=None, device=None):
    """The image-bank pre-training of ``seed`` (stored as ``pretrain_image_bank.pt`` in
    ``store`` and reused when its key matches). Returns ``(backbone state, source, seconds, cached)``."""
    key = cfg.key("visual.frame_size", "visual.frame_resize", "visual.pretrain_epochs", "visual.pretrain_lr",
                  "visual.batch", "visual.pretrain_images_per_class") + f"-{seed}-{weights}"
    if store is not None:
        hit = store.load_model("pretrain_image_bank", key=key)
        if hit is not None:
            return hit["state"], hit.get("source", "image bank"), hit.get("seconds", 0.0), True
    t0 = time.perf_counter()
    v = cfg.visual
    x, y = image_bank(bench, size=v.frame_size, resize=v.frame_resize, per_class=v.pretrain_images_per_class,
                      seed=seed)
    ckpt = store.checkpoint_dir("pretrain_image_bank", key) if store is not None else None
    state, _, source = pretrain_on_image_bank(x, y, num_classes=bench.num_classes, config=pretrain_config(cfg, seed),
                                              weights=weights, checkpoint_dir=ckpt, device=device)
    seconds = time.perf_counter() - t0
    if store is not None:
        store.save_state("pretrain_image_bank", {"state": state, "key": key, "source": source, "seconds": seconds})
        store.finish("pretrain_image_bank", key)
    return state, source, seconds, False


def _pick_frames(frames: list, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, index)``: ``k`` random frames of every video (fewer if a video is shorter), as
    the video's position in ``frames`` and the frame's position in the video."""
    owner, index = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for i, f in enumerate(frames):
        idx = np.sort(rng.choice(len(f), min(k, len(f)), replace=False)) if len(f) else np.zeros(0, int)
        index.append(np.asarray(idx, np.int64))
        owner.append(np.full(len(idx), i, np.int64))
    return np.concatenate(owner), np.concatenate(index)


def train_frame_model(frames_train: list, y_train, frames_val: list, y_val, *, k: int, num_classes: int,
                      config: TrainConfig, backbone_state=None, checkpoint_dir=None, device=None):
    """Train Inception v3 on ``k`` randomly chosen frames per training video (Table 2).

    ``frames_*``: per-video uint8 arrays ``(n_i, 3, H, W)``; every chosen frame gets its video's
    label (Sec. 4.2). ``backbone_state``: weights from :func:`pretrain_on_image_bank` (the
    classifier is always new). Validation uses ``k`` frames per video too. Returns ``(model, history)``.
    """
    rng = np.random.default_rng(config.seed)
    otr, itr = _pick_frames(frames_train, k, rng)
    ova, iva = _pick_frames(frames_val, k, rng)
    ytr, yva = np.asarray(y_train, np.int64)[otr], np.asarray(y_val, np.int64)[ova]
    seed_everything(config.seed)
    model = frame_model(num_classes)
    if backbone_state is not None:
        model.backbone.load_state_dict(backbone_state)
        model.pretrained_source = "pre-trained"
    val = FrameDataset(frames_val, ova, iva, yva) if len(ova) else None
    history = fit(model, FrameDataset(frames_train, otr, itr, ytr), val, config=config,
                  checkpoint_dir=checkpoint_dir, device=device, input_transform=frame_transform, progress_bar=True)
    return model, history


def frame_scores(model: nn.Module, frames: list, *, n_frames: int, feature_frames: int | None = None,
                 batch_size: int = 64, device=None):
    """Video-level probabilities (mean of the frames' softmax) and per-frame features.

    The probabilities use ``n_frames`` frames of each video spread over its whole duration
    (:func:`avlib.features.frames.uniform_frame_indices`; all when it has fewer); the features
    use ``feature_frames`` frames chosen the same way (default ``n_frames``). Each frame either
    selection needs goes through the network once. Returns ``probs (n, C)`` and ``features
    (n, feature_frames, 2048)`` (zero rows for videos with fewer frames). A video without any
    frame is missing: its ``probs`` row is NaN, left out of
    :func:`~avlib.experiments.icmr.scoring.metric_summary` and counted there.
    """
    k_feat = int(n_frames if feature_frames is None else feature_frames)
    picks = [uniform_frame_indices(len(f), n_frames) for f in frames]
    feat_picks = picks if k_feat == int(n_frames) else [uniform_frame_indices(len(f), k_feat) for f in frames]
    # the frames scored: those of either selection, each once, in time order per video
    scored = picks if feat_picks is picks else [np.union1d(a, b) for a, b in zip(picks, feat_picks)]
    owner = np.concatenate([np.zeros(0, np.int64)] + [np.full(len(p), i) for i, p in enumerate(scored)])
    index = np.concatenate([np.zeros(0, np.int64)] + [np.asarray(p, np.int64) for p in scored])
    x = FrameDataset(frames, owner, index)  # streamed: one batch of frames in memory at a time
    if len(x):  # one pass of the trunk gives the logits and the features
        logits, feats = logits_and_features(model, x, batch_size=batch_size, device=device,
                                            input_transform=frame_transform)
    else:
        logits = np.zeros((0,), np.float32)
        feats = np.zeros((0, getattr(model, "head_dim", 0)), np.float32)
    probs = np.zeros((len(frames), logits.shape[1] if logits.ndim == 2 else model.num_classes))
    out = np.zeros((len(frames), k_feat, feats.shape[1] if feats.ndim == 2 else 2048), np.float32)
    p = softmax(logits, 1) if len(logits) else logits
    starts = np.concatenate([[0], np.cumsum([len(s) for s in scored])]).astype(np.int64)
    for i, rows in enumerate(scored):
        if not len(rows):
            probs[i] = np.nan
            continue
        at = starts[i] + np.searchsorted(rows, picks[i])
        probs[i] = p[at].mean(0)
        at = starts[i] + np.searchsorted(rows, feat_picks[i])
        out[i, : len(at)] = feats[at]
    return probs, out


def feeds_fusion(cfg: ICMRConfig, k: int, pretrained: bool) -> bool:
    """Whether the run with ``k`` frames and ``pretrained`` is the one the fusion reads
    (``fusion.visual``): its features are stored for every video, not only the test videos."""
    return (int(k), bool(pretrained)) == (int(cfg.fusion.visual[0]), bool(cfg.fusion.visual[1]))


def _run_meta(k, pretrained, source, steps, train_s, pre_s, history, n_train_frames, summary, **extra) -> dict:
    hist = history.to_frame()
    return {"frames": int(k), "pretrained": bool(pretrained), "pretrain_source": source, "steps": steps,
            "train_seconds": train_s, "pretrain_seconds": pre_s, "epochs_run": len(hist),
            "train_frames": int(n_train_frames), "best_epoch": history.best_epoch,
            "examples_per_s": float(hist["examples_per_s"].mean()) if len(hist) else float("nan"),
            **extra, **summary}


def run_visual_model(bench: Benchmark, cfg: ICMRConfig, k: int, pretrained: bool, *, frames: dict, seed: int = 0,
                     store: FeatureStore | None = None, weights=None, device=None, force: bool = False) -> dict:
    """Train and test one row of Table 2 (``k`` frames per training video, with or without
    pre-training) and store it; a stored run whose key matches is reused.

    With ``visual.backbone == "frozen"`` this is :func:`run_visual_model_frozen`.
    """
    if cfg.visual.backbone == "frozen":
        return run_visual_model_frozen(bench, cfg, k, pretrained, frames=frames, seed=seed, store=store,
                                       weights=weights, device=device, force=force)
    key = cfg.key("visual.frame_size", "visual.frame_resize", "visual.epochs", "visual.batch", "visual.lr",
                  "visual.optimizer", "visual.lr_step", "visual.patience", "visual.eval_frames", "fusion.frames",
                  "visual.pretrain_epochs", "visual.pretrain_images_per_class") + \
        f"-{k}-{pretrained}-{seed}-{weights}-uniform"
    tag = visual_tag(k, pretrained)
    if store is not None and not force:
        hit = store.load(tag, key=key)
        if hit is not None:
            return {"tag": tag, **rescored_meta(hit), "cached": True}
    df = bench.videos[bench.videos["video_id"].isin(frames)].reset_index(drop=True)
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    state, source, pre_s = None, "none (random initialisation)", 0.0
    if pretrained:
        state, source, pre_s, _ = pretrained_backbone(bench, cfg, seed=seed, store=store, weights=weights,
                                                      device=device)
    config = visual_train_config(cfg, seed)
    t0 = time.perf_counter()
    model, history = train_frame_model([frames[v] for v in parts["train"]["video_id"]], parts["train"]["label"],
                                       [frames[v] for v in parts["val"]["video_id"]], parts["val"]["label"],
                                       k=k, num_classes=bench.num_classes, config=config,
                                       backbone_state=state, device=device,
                                       checkpoint_dir=store.checkpoint_dir(tag, key) if store is not None else None)
    train_s = time.perf_counter() - t0
    fuse = feeds_fusion(cfg, k, pretrained)
    if not fuse:
        df = df[df["split"] == "test"].reset_index(drop=True)
    vids = [frames[v] for v in df["video_id"]]
    probs, feats = frame_scores(model, vids, n_frames=cfg.visual.eval_frames,
                                feature_frames=cfg.fusion.frames if fuse else None, device=device)
    test = (df["split"] == "test").to_numpy()
    n_train_frames = int(sum(min(k, len(frames[v])) for v in parts["train"]["video_id"]))
    steps = int(len(history.to_frame()) * int(np.ceil(n_train_frames / config.batch_size)))
    meta = _run_meta(k, pretrained, source, steps, train_s, pre_s, history, n_train_frames,
                     metric_summary(df["label"].to_numpy()[test], probs[test]))
    if store is not None:
        store.save(tag, key=key, ids=df["video_id"], split=df["split"], labels=df["label"],
                   features=feats[:, : cfg.fusion.frames], probs=probs, meta=meta)
        if fuse:  # the robustness figure needs its per-frame predictions
            store.save_model(tag, model, key=key)
        store.finish(tag, key)
    return {"tag": tag, **meta, "cached": False}


# --------------------------------------------------------------------------- frozen backbone
def _calibrate_bn(model: nn.Module, frames: list, *, n: int = 512, batch: int = 64, seed: int = 0) -> None:
    """Re-estimate the batch-norm statistics on ``n`` training frames (cumulative average), then eval."""
    rng = np.random.default_rng(seed)
    frames = [f for f in frames if len(f)]
    starts = np.cumsum([0] + [len(f) for f in frames])
    idx = np.sort(rng.choice(int(starts[-1]), min(n, int(starts[-1])), replace=False))
    owner = np.searchsorted(starts, idx, side="right") - 1
    flat = FrameDataset(frames, owner, idx - starts[owner])  # the chosen frames only, read on access
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            chunk = torch.stack([flat[j][0] for j in range(i, min(i + batch, len(idx)))])
            (x,) = frame_transform((chunk,), False)
            model.forward_features(x)
    model.eval()


def _frames_fingerprint(frames: dict) -> str:
    """Videos, frame counts and frame shape of ``frames`` (a cache entry holds features of these)."""
    desc = sorted((str(v), int(len(f)), tuple(f.shape[1:] if hasattr(f, "shape") else np.asarray(f).shape[1:]))
                  for v, f in frames.items())
    return hashlib.sha1(repr(desc).encode()).hexdigest()[:10]


def _split_by_video(ids, lens, flat) -> dict:
    feats, pos = {}, 0
    for v, n in zip(ids, lens):
        feats[v] = flat[pos:pos + n]
        pos += n
    return feats


def frozen_backbone_features(bench: Benchmark, cfg: ICMRConfig, frames: dict, *, pretrained: bool, cache_dir,
                             weights=None, device=None) -> tuple[dict, dict]:
    """Pooled Inception v3 features ``(n_i, 2048)`` of every cached frame, from a frozen backbone.

    One backbone for all seeds (as the paper's fixed ImageNet weights): ``pretrained`` =
    :func:`pretrain_on_image_bank` with seed 0, otherwise the random initialisation of seed 0.
    Both get their batch-norm statistics re-estimated on 512 training frames (the same procedure
    for both, so they differ only in their weights). Cached as
    ``<cache_dir>/frozen_<pt|scratch>.npz``. Returns ``(features by video id, info)`` with the
    pre-training source, its seconds, the extraction seconds and the backbone state.
    """
    key = cfg.key("visual.frame_size", "visual.frame_resize", "visual.pretrain_epochs", "visual.pretrain_lr",
                  "visual.batch", "visual.pretrain_images_per_class", "visual.eval_frames", "fusion.frames",
                  "visual.frames_grid") + f"-{pretrained}-{weights}-bn512-{_frames_fingerprint(frames)}"
    store = FeatureStore(cache_dir)
    tag = f"frozen_{'pt' if pretrained else 'scratch'}"
    hit, saved = store.load(tag, key=key), store.load_model(tag, key=key)
    if hit is not None and saved is not None:
        feats = _split_by_video(map(str, hit["ids"]), hit["meta"]["lens"], hit["features"])
        return feats, {**hit["meta"], "state": saved["state"], "cached": True}
    source, pre_s, state = "none (random initialisation)", 0.0, None
    if pretrained:
        state, source, pre_s, _ = pretrained_backbone(bench, cfg, seed=0, store=store, weights=weights, device=device)
    seed_everything(0)
    model = frame_model(bench.num_classes)
    if state is not None:
        model.backbone.load_state_dict(state)
    t0 = time.perf_counter()
    train_ids = [str(v) for v in bench.split("train")["video_id"] if str(v) in frames]
    _calibrate_bn(model, [frames[v] for v in train_ids])
    ids = [str(v) for v in bench.videos["video_id"] if str(v) in frames]
    lens = [int(len(frames[v])) for v in ids]
    owner = np.concatenate([np.zeros(0, np.int64)] + [np.full(n, i) for i, n in enumerate(lens)])
    index = np.concatenate([np.zeros(0, np.int64)] + [np.arange(n) for n in lens])
    every = FrameDataset([frames[v] for v in ids], owner, index)  # streamed from the frame cache
    f = export_features(model, every, batch_size=64, device=device, input_transform=frame_transform)
    meta = {"lens": lens, "pretrain_source": source, "pretrain_seconds": pre_s,
            "extract_seconds": time.perf_counter() - t0}
    store.save(tag, key=key, ids=ids, split=[""] * len(ids), labels=np.zeros(len(ids), int), features=f,
               probs=np.zeros((len(ids), 1), np.float32), meta=meta)
    store.save_model(tag, model, key=key)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return _split_by_video(ids, lens, f), {**meta, "state": state, "cached": False}


def run_visual_model_frozen(bench: Benchmark, cfg: ICMRConfig, k: int, pretrained: bool, *, frames: dict,
                            seed: int = 0, store: FeatureStore | None = None, weights=None, device=None,
                            force: bool = False) -> dict:
    """One row of Table 2 with a frozen backbone: only the classifier is trained, per seed.

    Same contract and stored entries as :func:`run_visual_model`. The classifier
    (:class:`~avlib.models.wrappers.FrozenHead`: train-set standardisation with the standard
    deviation floored at 0.1 x its mean, linear) is trained on the features of ``k`` frames per
    training video chosen at random with ``seed``; a video's score is the mean softmax over
    ``visual.eval_frames`` frames spread over the video. The run that feeds the fusion also
    stores the whole frame model (frozen backbone with the classifier folded in).
    """
    if store is None:
        raise ParameterError("the frozen-backbone frame model needs a FeatureStore (its backbone cache)")
    key = cfg.key("visual.frame_size", "visual.frame_resize", "visual.epochs", "visual.batch", "visual.lr",
                  "visual.optimizer", "visual.lr_step", "visual.patience", "visual.eval_frames", "fusion.frames",
                  "visual.pretrain_epochs", "visual.pretrain_images_per_class", "visual.backbone") + \
        f"-{k}-{pretrained}-{seed}-{weights}-frozen-sdfloor"
    tag = visual_tag(k, pretrained)
    if not force:
        hit = store.load(tag, key=key)
        if hit is not None:
            return {"tag": tag, **rescored_meta(hit), "cached": True}
    feats, info = frozen_backbone_features(bench, cfg, frames, pretrained=pretrained,
                                           cache_dir=frozen_cache_dir(store), weights=weights, device=device)
    df = bench.videos[bench.videos["video_id"].astype(str).isin(feats)].reset_index(drop=True)
    df["video_id"] = df["video_id"].astype(str)
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    rng = np.random.default_rng(seed)

    def pick(ids, labels):
        xs, ys = [], []
        for v, y in zip(ids, labels):
            if len(feats[v]):
                idx = np.sort(rng.choice(len(feats[v]), min(k, len(feats[v])), replace=False))
                xs.append(feats[v][idx])
                ys.append(np.full(len(idx), y))
        return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)

    xtr, ytr = pick(parts["train"]["video_id"], parts["train"]["label"])
    xva, yva = pick(parts["val"]["video_id"], parts["val"]["label"]) if len(parts["val"]) else (xtr[:0], ytr[:0])
    config = visual_train_config(cfg, seed)
    seed_everything(seed)
    sd = xtr.std(0)
    sd = np.maximum(sd, 0.1 * float(sd.mean()) + 1e-6)  # a unit silent on every training frame must not
    head = FrozenHead(bench.num_classes, xtr.mean(0), sd)  # blow up on a test frame
    t0 = time.perf_counter()
    history = fit(head, (torch.from_numpy(xtr), torch.from_numpy(ytr)),
                  (torch.from_numpy(xva), torch.from_numpy(yva)) if len(xva) else None, config=config,
                  device=device, progress_bar=False)
    train_s = time.perf_counter() - t0
    fuse = feeds_fusion(cfg, k, pretrained)
    if not fuse:
        df = df[df["split"] == "test"].reset_index(drop=True)
    C, n_eval, n_fuse = bench.num_classes, int(cfg.visual.eval_frames), int(cfg.fusion.frames)
    probs = np.full((len(df), C), np.nan)
    out = np.zeros((len(df), n_fuse, 2048), np.float32)
    sel_eval = [uniform_frame_indices(len(feats[v]), n_eval) if len(feats[v]) else np.zeros(0, int)
                for v in df["video_id"]]
    flat = np.concatenate([feats[v][i] for v, i in zip(df["video_id"], sel_eval)]) if len(df) else np.zeros((0, 2048))
    p = softmax(predict(head, (torch.from_numpy(flat.astype(np.float32)),), batch_size=256, device=device,
                        has_targets=False), 1) if len(flat) else np.zeros((0, C))
    pos = 0
    for i, (v, idx) in enumerate(zip(df["video_id"], sel_eval)):
        if len(idx):
            probs[i] = p[pos:pos + len(idx)].mean(0)
            pos += len(idx)
        fi = uniform_frame_indices(len(feats[v]), n_fuse) if len(feats[v]) else np.zeros(0, int)
        out[i, : len(fi)] = feats[v][fi]
    test = (df["split"] == "test").to_numpy()
    steps = int(len(history.to_frame()) * int(np.ceil(len(xtr) / config.batch_size)))
    meta = _run_meta(k, pretrained, info["pretrain_source"], steps,
                     train_s + info["extract_seconds"] * (not info["cached"]), info["pretrain_seconds"], history,
                     len(xtr), metric_summary(df["label"].to_numpy()[test], probs[test]), backbone="frozen")
    store.save(tag, key=key, ids=df["video_id"], split=df["split"], labels=df["label"], features=out,
               probs=probs, meta=meta)
    if fuse:  # the robustness figure rebuilds the full frame model: frozen backbone + this head
        model = frame_model(C)
        model.load_state_dict(info["state"])
        w = head.classifier.weight.detach() / head.std[None, :]
        model.classifier.weight.data.copy_(w)
        model.classifier.bias.data.copy_(head.classifier.bias.detach() - (w * head.mean[None, :]).sum(1))
        store.save_model(tag, model, key=key)
    return {"tag": tag, **meta, "cached": False}
