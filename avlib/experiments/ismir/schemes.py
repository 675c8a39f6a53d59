"""The two training schemes of the ISMIR 2017 LBD (Figure 1) on the ICMR 2017 network.

* **feature extraction** (:func:`train_feature_extraction_scheme`): the audio network and the
  frame network are trained separately (:func:`avlib.experiments.icmr.audio.train_audio_model`,
  :func:`avlib.experiments.icmr.visual.train_frame_model`, or the ICMR pages' stored runs),
  frozen, and the late fusion is trained on their penultimate features
  (:func:`avlib.experiments.icmr.fusion.train_fusion`);
* **joint training** (:func:`train_joint_scheme`): the same network
  (:class:`avlib.models.audiovisual.AudioVisualNet`) trained end to end with
  :func:`avlib.train.loop.fit`, every weight updated together.

:func:`run_feature_extraction_scheme` and :func:`run_joint_scheme` run one scheme for one
training seed with the settings of an :class:`~avlib.config.ismir.ISMIRConfig`;
:func:`run_schemes_seeds` runs both for every seed. Every run keeps what the analysis needs
(:class:`SchemeResult`): the penultimate features and logits of every video.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...config.ismir import ISMIRConfig
from ...errors import ParameterError
from ...metrics.classification import classification_summary, softmax
from ...models import get_model
from ...models.audiovisual import AudioVisualNet
from ...models.wrappers import Standardise
from ...train.loop import TrainConfig, fit, predict
from ...utils import get_device, seed_everything
from ..icmr import audio as icmr_audio
from ..icmr import fusion as icmr_fusion
from ..icmr import visual as icmr_visual
from ..icmr import seeds as icmr_seeds
from ..icmr.data import Benchmark
from ..icmr.store import FeatureStore, frozen_cache_dir, seed_store
from .data import AVData, AVDataset, joint_transform, unit_frames

__all__ = [
    "SCHEMES",
    "SchemeResult",
    "check_config",
    "check_description",
    "scheme_key",
    "extract_av_features",
    "safe_batch",
    "train_feature_extraction_scheme",
    "train_joint_scheme",
    "joint_seeds",
    "joint_train_config",
    "run_feature_extraction_scheme",
    "run_joint_scheme",
    "run_schemes_seeds",
]

#: The schemes, in the order the page shows them.
SCHEMES = ("feature extraction", "joint")


@dataclass
class SchemeResult:
    """A trained multimodal network and what the analysis needs from it, for all videos.

    ``audio_features`` ``(n, Da)``, ``frame_features`` ``(n, k, Dv)``, ``logits`` ``(n, C)``
    in the order of the :class:`~avlib.experiments.ismir.data.AVData`; ``histories`` per
    trained part; ``seconds`` of training (``seconds_by_part`` says which part; a reused stored
    run counts its original training time and is flagged in ``meta``).
    """

    scheme: str
    model: nn.Module
    audio_features: np.ndarray
    frame_features: np.ndarray
    logits: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    histories: dict = field(default_factory=dict)
    seconds: float = 0.0
    seconds_by_part: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def predictions(self) -> np.ndarray:
        """Arg-max category (videos with non-finite logits count as category 0)."""
        return np.nan_to_num(self.logits, nan=-np.inf).argmax(1)

    def metrics(self, split: str = "test") -> dict:
        """Hit@1, Hit@3, support-weighted F1 as the paper reports it, macro F1 (percent) on
        ``split`` (:mod:`avlib.metrics.classification`)."""
        m = np.ones(len(self.labels), bool) if split == "all" else self.split == split
        logits = self.logits[m]
        bad = ~np.isfinite(logits).all(axis=1)
        # a diverged network (possible at smoke scale) scores as chance on those videos
        logits = np.where(bad[:, None], 0.0, logits)
        out = classification_summary(self.labels[m], softmax(logits, 1))
        out["non_finite_videos"] = int(bad.sum())
        return out


@torch.no_grad()
def extract_av_features(model, data: AVData, *, k: int, batch_size: int = 16, device=None):
    """Penultimate features and logits of an :class:`AudioVisualNet` for every video.

    Returns ``audio (n, Da)``, ``frames (n, k, Dv)``, ``logits (n, C)`` (float32), using
    ``k`` frames spread uniformly over each video, in eval mode and without autograd (a
    jointly trained model's parameters still require gradients).
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    model.to(device).eval()
    ds = AVDataset(data, np.arange(len(data)), k=k)
    outs_a, outs_f, outs_l = [], [], []
    for start in range(0, len(ds), batch_size):
        items = [ds[j] for j in range(start, min(start + batch_size, len(ds)))]
        a = torch.stack([it[0] for it in items]).to(device)
        f = unit_frames(torch.stack([it[1] for it in items]).to(device))
        feats = model.forward_features(a, f)
        outs_a.append(feats.audio.float().cpu())
        outs_f.append(feats.frames.float().cpu())
        outs_l.append(model.forward_head(feats).float().cpu())
    return torch.cat(outs_a).numpy(), torch.cat(outs_f).numpy(), torch.cat(outs_l).numpy()


def safe_batch(n: int, batch: int) -> int:
    """A batch size that leaves no final batch of one (batch norm cannot train on it)."""
    while n % batch == 1 and batch < n:
        batch += 1
    return batch


def train_feature_extraction_scheme(
    data: AVData,
    *,
    n_frames: int,
    audio_name: str,
    fusion_config: TrainConfig,
    fusion_hidden=(1024, 1024),
    audio_config: TrainConfig | None = None,
    visual_config: TrainConfig | None = None,
    visual_frames: int | None = None,
    backbone_state=None,
    audio_model: nn.Module | None = None,
    visual_model: nn.Module | None = None,
    checkpoint_dir=None,
    device=None,
) -> SchemeResult:
    """Feature-extraction scheme (ISMIR 2017 Figure 1, left): separate subnetworks, frozen,
    late fusion trained on their features.

    ``n_frames``: frame vectors per video in the fusion; ``audio_name``: the registered audio
    network; ``fusion_config``, ``audio_config``, ``visual_config``: the schedules of the three
    separate trainings (audio and visual only needed when that subnetwork is not given);
    ``visual_frames``: frames per training video of the frame network (default ``n_frames``);
    ``backbone_state``: a pre-trained Inception v3 backbone to start from; ``audio_model``,
    ``visual_model``: already trained subnetworks (e.g. the ICMR pages' stored runs).
    ``checkpoint_dir``: the subnetworks trained here checkpoint every epoch in its ``audio/`` and
    ``visual/`` folders and resume from them. Returns a :class:`SchemeResult` whose ``model`` is an
    :class:`AudioVisualNet` with frozen subnetworks.
    """
    C = len(data.categories)
    tr, va = data.indices("train"), data.indices("val")
    histories, secs = {}, {}
    if audio_model is None:
        if audio_config is None:
            raise ParameterError("audio_config is needed to train the audio subnetwork")
        t0 = time.perf_counter()
        audio_model, histories["audio"] = icmr_audio.train_audio_model(
            audio_name, list(data.audio[tr]), data.labels[tr], list(data.audio[va]), data.labels[va],
            num_classes=C, config=audio_config, device=device,
            checkpoint_dir=Path(checkpoint_dir) / "audio" if checkpoint_dir else None)
        secs["audio"] = time.perf_counter() - t0
    if visual_model is None:
        if visual_config is None:
            raise ParameterError("visual_config is needed to train the frame subnetwork")
        t0 = time.perf_counter()
        visual_model, histories["visual"] = icmr_visual.train_frame_model(
            [data.frames[i] for i in tr], data.labels[tr], [data.frames[i] for i in va], data.labels[va],
            k=visual_frames or n_frames, num_classes=C, config=visual_config, backbone_state=backbone_state,
            device=device, checkpoint_dir=Path(checkpoint_dir) / "visual" if checkpoint_dir else None)
        secs["visual"] = time.perf_counter() - t0
    net = AudioVisualNet(audio_model, visual_model, nn.Identity(), frame_transform=unit_frames)
    net.freeze_subnetworks()
    t0 = time.perf_counter()
    a, f, _ = extract_av_features(net, data, k=n_frames, device=device)
    secs["features"] = time.perf_counter() - t0
    X = AudioVisualNet.fusion_input(torch.from_numpy(a), torch.from_numpy(f)).numpy()
    t0 = time.perf_counter()
    cfg = replace(fusion_config, batch_size=safe_batch(len(tr), fusion_config.batch_size))
    fusion, histories["fusion"] = icmr_fusion.train_fusion(
        X[tr], data.labels[tr], X[va], data.labels[va], n_frames=n_frames, num_classes=C, config=cfg,
        hidden=tuple(fusion_hidden), device=device)
    secs["fusion"] = time.perf_counter() - t0
    net.fusion = fusion
    net.freeze_subnetworks()
    net.eval()
    x = AudioVisualNet.fusion_input(torch.from_numpy(a), torch.from_numpy(f))
    logits = predict(fusion, (x,), batch_size=256, device=device, has_targets=False)
    return SchemeResult("feature extraction", net, a, f, logits, data.labels, data.split, histories,
                        float(sum(secs.values())), secs, {"n_frames": n_frames, "audio": audio_name})


def train_joint_scheme(
    data: AVData,
    *,
    n_frames: int,
    audio_name: str,
    config: TrainConfig,
    fusion_hidden=(1024, 1024),
    backbone_state=None,
    random_frames: bool = True,
    max_train: int | None = None,
    checkpoint_dir=None,
    device=None,
) -> SchemeResult:
    """Joint scheme (ISMIR 2017 Figure 1, right): audio CNN, frame CNN and late fusion
    trained together end to end on the same data and split.

    The subnetworks start from the same initialisation as in the feature-extraction scheme
    (random audio network standardised with the training mean and standard deviation; Inception
    v3 from ``backbone_state`` when given). Training uses ``n_frames`` frames per video (drawn
    at random each epoch when ``random_frames``), random horizontal flips, and
    :func:`avlib.train.loop.fit` (best validation epoch kept). ``max_train`` caps the training
    videos at a subset drawn with ``config.seed``.
    """
    C = len(data.categories)
    tr, va = data.indices("train"), data.indices("val")
    if max_train is not None and len(tr) > int(max_train):
        tr = np.sort(np.random.default_rng([int(config.seed), 17]).choice(tr, int(max_train), replace=False))
    seed_everything(config.seed)  # the initial weights depend on the seed only
    x_train = data.audio[tr]
    audio = Standardise(icmr_audio.build_audio_model(audio_name, C, x_train.shape), float(x_train.mean()),
                        float(x_train.std() + 1e-6))
    visual = get_model("inception_frames", num_classes=C)
    if backbone_state is not None:
        visual.backbone.load_state_dict(backbone_state)
    fusion = get_model("late_fusion", num_classes=C, n_frames=n_frames, hidden=tuple(fusion_hidden))
    net = AudioVisualNet(audio, visual, fusion, frame_transform=unit_frames)
    train_ds = AVDataset(data, tr, k=n_frames, random_frames=random_frames, seed=config.seed)
    val_ds = AVDataset(data, va, k=n_frames) if len(va) else None
    cfg = replace(config, batch_size=safe_batch(len(tr), config.batch_size))
    t0 = time.perf_counter()
    history = fit(net, train_ds, val_ds, config=cfg, checkpoint_dir=checkpoint_dir, device=device,
                  input_transform=joint_transform, progress_bar=True)
    secs = {"joint": time.perf_counter() - t0}
    t0 = time.perf_counter()
    a, f, logits = extract_av_features(net, data, k=n_frames, device=device)
    secs["features"] = time.perf_counter() - t0
    return SchemeResult("joint", net, a, f, logits, data.labels, data.split, {"joint": history},
                        float(sum(secs.values())), secs, {"n_frames": n_frames, "audio": audio_name})


def joint_seeds(cfg: ISMIRConfig) -> list[int]:
    """The training seeds whose joint scheme is trained: ``joint.seeds`` (None: all of ``seeds``)."""
    return [int(s) for s in (cfg.seeds if cfg.joint.seeds is None else cfg.joint.seeds)]


def joint_train_config(cfg: ISMIRConfig, seed: int = 0) -> TrainConfig:
    """The joint scheme's schedule from ``cfg.joint`` (Adam, as the reference code's multimodal model)."""
    j = cfg.joint
    return TrainConfig(epochs=j.epochs, batch_size=j.batch, lr=j.lr, optimizer="adam", lr_step=j.lr_step,
                       patience=j.patience, seed=seed)


def run_feature_extraction_scheme(bench: Benchmark, data: AVData, cfg: ISMIRConfig, *, seed: int = 0,
                                  store: FeatureStore | None = None, device=None, weights=None) -> SchemeResult:
    """The feature-extraction scheme of one training seed.

    ``feature_extraction.subnetworks == "train"``: the audio network and the frame network
    (``icmr.fusion.visual`` frames per training video, pre-trained on the image bank when it
    says so) are trained here on ``data`` with the ``icmr`` schedules. ``"icmr_store"``: they
    come from the ICMR pages' :class:`FeatureStore` of the seed when those pages already
    trained them with the same settings, and are trained (and stored) by the ICMR run
    functions otherwise. Either way the fusion is trained here over ``network.n_frames`` frames.
    """
    icmr, net = cfg.icmr, cfg.network
    t0 = time.perf_counter()
    C = bench.num_classes
    k, pretrained = icmr.fusion.visual
    fusion_config = icmr_fusion.fusion_train_config(icmr, seed)
    if cfg.feature_extraction.subnetworks == "train":
        state = None
        if pretrained:
            state, _, _, _ = icmr_visual.pretrained_backbone(bench, icmr, seed=seed, store=store, weights=weights,
                                                             device=device)
        ckpt = store.checkpoint_dir("ismir_feature_extraction", scheme_key(cfg, "feature extraction", seed)) \
            if store is not None else None
        res = train_feature_extraction_scheme(
            data, n_frames=net.n_frames, audio_name=net.audio_model, fusion_config=fusion_config,
            fusion_hidden=icmr.fusion.hidden, audio_config=icmr_audio.audio_train_config(icmr, seed),
            visual_config=icmr_visual.visual_train_config(icmr, seed), visual_frames=k, backbone_state=state,
            checkpoint_dir=ckpt, device=device)
        if store is not None:
            store.finish("ismir_feature_extraction", scheme_key(cfg, "feature extraction", seed))
        res.meta.update({"separate": "trained here", "visual_frames_per_video": k,
                         "visual_pretrained": bool(pretrained)})
        return res
    arun = icmr_audio.run_audio_model(bench, icmr, net.audio_model, "UC", seed=seed, store=store, device=device,
                                      n_jobs=cfg.n_jobs)
    frames = {v: f for v, f in zip(data.ids, data.frames)}
    vrun = icmr_visual.run_visual_model(bench, icmr, k, pretrained, frames=frames, seed=seed, store=store,
                                        weights=weights, device=device)
    amodel = Standardise(icmr_audio.build_audio_model(net.audio_model, C, data.audio.shape), 0.0, 1.0)
    amodel.load_state_dict(store.load_model(arun["tag"])["state"])
    vmodel = icmr_visual.frame_model(C)
    vmodel.load_state_dict(store.load_model(vrun["tag"])["state"])
    reuse_s = time.perf_counter() - t0
    res = train_feature_extraction_scheme(
        data, n_frames=net.n_frames, audio_name=net.audio_model, fusion_config=fusion_config,
        fusion_hidden=icmr.fusion.hidden, audio_model=amodel, visual_model=vmodel, device=device)
    res.seconds_by_part.update({"audio (ICMR run)": float(arun.get("train_seconds", np.nan)),
                                "visual (ICMR run)": float(vrun.get("train_seconds", np.nan)),
                                "load or train subnetworks here": reuse_s})
    res.seconds = float(res.seconds + np.nansum([arun.get("train_seconds", 0.0), vrun.get("train_seconds", 0.0)]))
    res.meta.update({"separate": "ICMR store", "audio_run_cached": bool(arun.get("cached")),
                     "visual_run_cached": bool(vrun.get("cached")), "visual_frames_per_video": k,
                     "visual_pretrained": bool(pretrained), "audio_tag": arun["tag"], "visual_tag": vrun["tag"]})
    return res


def run_joint_scheme(bench: Benchmark, data: AVData, cfg: ISMIRConfig, *, seed: int = 0,
                     store: FeatureStore | None = None, device=None, weights=None,
                     checkpoint_dir=None) -> SchemeResult:
    """The joint scheme of one training seed, from the same starting point as the ICMR visual run.

    When the fusion's visual run is pre-trained (``icmr.fusion.visual[1]``), the Inception v3
    backbone starts from the same image-bank pre-training (taken from the ICMR store, or
    computed and stored); the audio network starts from random weights, as in the separate
    training. With a frozen ICMR backbone (``icmr.visual.backbone == "frozen"``) that is the one
    pre-training shared by all seeds (seed 0, as the paper's fixed ImageNet weights), read from
    the ICMR chapter's shared-backbone folder; otherwise the pre-training of ``seed``. The
    schedule is :func:`joint_train_config`.
    """
    icmr = cfg.icmr
    state, source = None, "random initialisation"
    t0 = time.perf_counter()
    if icmr.fusion.visual[1]:
        if icmr.visual.backbone == "frozen":
            shared = FeatureStore(frozen_cache_dir(store)) if store is not None else None
            state, source, _, _ = icmr_visual.pretrained_backbone(bench, icmr, seed=0, store=shared, weights=weights,
                                                                  device=device)
        else:
            state, source, _, _ = icmr_visual.pretrained_backbone(bench, icmr, seed=seed, store=store,
                                                                  weights=weights, device=device)
    pre_s = time.perf_counter() - t0
    res = train_joint_scheme(data, n_frames=cfg.network.n_frames, audio_name=cfg.network.audio_model,
                             config=joint_train_config(cfg, seed), fusion_hidden=icmr.fusion.hidden,
                             backbone_state=state, random_frames=cfg.joint.train_frames == "random",
                             max_train=cfg.joint.max_train, checkpoint_dir=checkpoint_dir, device=device)
    res.seconds_by_part["load or pre-train backbone"] = pre_s
    res.meta["visual_init"] = source
    return res


def scheme_key(cfg: ISMIRConfig, scheme: str, seed: int) -> str:
    """The configuration a scheme's training depends on, for its checkpoint folder: the network,
    the ICMR schedules (audio, visual, fusion), the joint schedule for the joint scheme, the seed."""
    parts = ["network", "feature_extraction", "icmr.audio", "icmr.visual", "icmr.fusion"]
    if scheme == "joint":
        parts.append("joint")
    return f"{cfg.key(*parts)}-{scheme.replace(' ', '_')}-{seed}"


def check_config(cfg: ISMIRConfig) -> ISMIRConfig | None:
    """The convergence check's configuration: every training of both schemes at
    ``cfg.check_epochs_factor`` times its epochs (rounded, at least one): the separate audio
    and frame networks and the fusion as the ICMR pages' check
    (:func:`avlib.experiments.icmr.seeds.check_config`, so the ICMR pages' shorter runs are
    reused), and the joint scheme, for the seeds of ``cfg.check_seeds`` (default: every seed).
    None when ``cfg`` has no check."""
    f = cfg.check_epochs_factor
    if not f:
        return None
    icmr = icmr_seeds.check_config(cfg.icmr.with_overrides({"check_epochs_factor": f}))
    over = {f"icmr.{k}": v for k, (_, v) in icmr.changes(cfg.icmr).items()}
    over.update({"joint.epochs": max(1, int(round(cfg.joint.epochs * f))), "check_epochs_factor": None,
                 "check_seeds": None})
    if cfg.check_seeds:
        over["seeds"] = list(cfg.check_seeds)
        if cfg.joint.seeds is not None:
            over["joint.seeds"] = [s for s in cfg.joint.seeds if s in cfg.check_seeds] or None
    return cfg.with_overrides(over)


def check_description(cfg: ISMIRConfig) -> str:
    """The check's epochs in words, for captions."""
    short = check_config(cfg)
    if short is None:
        return "no convergence check"
    on = f" (seed {', '.join(str(s) for s in cfg.check_seeds)})" if cfg.check_seeds else ""
    return (f"{icmr_seeds.check_description(cfg.icmr.with_overrides({'check_epochs_factor': cfg.check_epochs_factor}))}"
            f", joint scheme {short.joint.epochs} instead of {cfg.joint.epochs}{on}")


def run_schemes_seeds(bench: Benchmark, data: AVData, cfg: ISMIRConfig, *, data_root, source: str = "embedded",
                      weights=None, device=None, store_sub: str = "") -> dict:
    """Both schemes for every seed of ``cfg.seeds``: ``{(scheme, seed): SchemeResult}``.

    The feature-extraction scheme of seed ``s`` uses the ICMR store of that seed
    (:meth:`FeatureStore.for_run`: its image-bank pre-training, and with
    ``feature_extraction.subnetworks = "icmr_store"`` its subnetworks); the joint scheme, the
    expensive part, is trained end to end for the seeds of :func:`joint_seeds`; it checkpoints
    every epoch in the seed's store (:func:`scheme_key`), so an interrupted run resumes, and a
    finished one is read back from its last checkpoint instead of training again. ``store_sub``:
    a folder of each seed's store (the convergence check's
    :data:`~avlib.experiments.icmr.store.CHECK_SUB`, where the ICMR pages keep their shorter runs).
    """
    seeds = [int(s) for s in cfg.seeds]
    trained_jointly = joint_seeds(cfg)
    out = {}
    for sd in seeds:
        store = seed_store(data_root, cfg.icmr.scale, sd, source, store_sub)
        out[("feature extraction", sd)] = run_feature_extraction_scheme(bench, data, cfg, seed=sd, store=store,
                                                                        device=device, weights=weights)
        if sd in trained_jointly:
            out[("joint", sd)] = run_joint_scheme(bench, data, cfg, seed=sd, store=store, device=device,
                                                  weights=weights,
                                                  checkpoint_dir=store.checkpoint_dir("ismir_joint",
                                                                                      scheme_key(cfg, "joint", sd)))
    return out
