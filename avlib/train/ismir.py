"""ISMIR 2017 LBD: two training schemes of the audio-visual network and their correspondence.

Slizovskaia, Gómez & Haro, "Correspondence between audio and visual deep models for musical
instrument detection in video recordings", ISMIR 2017 late-breaking demo (Figure 1, Sec. 2):

* **feature extraction** (:func:`train_feature_extraction_scheme`): the audio network and
  the frame network are trained separately (the ICMR 2017 chapter's
  :func:`avlib.train.icmr.train_audio_model` / :func:`~avlib.train.icmr.train_frame_model`,
  or its stored runs), frozen, and the late fusion is trained on their penultimate features
  (:func:`avlib.train.icmr.train_fusion`);
* **joint training** (:func:`train_joint_scheme`): the same network
  (:class:`avlib.models.audiovisual.AudioVisualNet`) trained end to end with
  :func:`avlib.train.loop.fit`, every weight updated together.

Then per video the audio (1024) and visual (2048, mean over frames) features, the
category-wise importance of each feature (default: the paper's ``L^c_{D,i}`` over the weights
of a linear read-out on the concatenated features; option: per-example gradients of the
late-fusion head), the top-10 audio and top-20 visual features per category and their
Spearman matrix (:func:`analyse_correspondence`, built on :mod:`avlib.analysis`), and
Grad-CAM on both modalities from the layers the subnetworks name (:func:`gradcam_examples`).
Several training seeds with intervals and the Claims page's evidence:
:func:`run_schemes_seeds`, :func:`analyse_seeds`, :func:`seed_accuracy_table`,
:func:`seed_summary_table`, :func:`claim_evidence`. Frames are taken spread uniformly over
each video (:func:`frame_positions`), not the first ``k``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..errors import ParameterError
from ..utils import seed_everything
from .loop import History, TrainConfig, fit

__all__ = [
    "ISMIRPreset",
    "PRESETS",
    "get_preset",
    "icmr_inputs_preset",
    "frame_positions",
    "AVData",
    "AVDataset",
    "load_av_data",
    "SchemeResult",
    "train_feature_extraction_scheme",
    "train_joint_scheme",
    "run_feature_extraction_scheme",
    "run_joint_scheme",
    "joint_config",
    "paper_accuracy",
    "extract_av_features",
    "Correspondence",
    "analyse_correspondence",
    "accuracy_table",
    "claim_table",
    "run_schemes_seeds",
    "analyse_seeds",
    "seed_accuracy_table",
    "seed_summary_table",
    "claim_evidence",
    "gradcam_examples",
    "plot_correlation_matrix",
    "plot_correlation_grid",
    "plot_intra_inter",
    "plot_gradcam_examples",
]

SCHEMES = ("feature extraction", "joint")


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class ISMIRPreset:
    """Settings of the ISMIR experiment for one scale (the ICMR preset of the same scale
    gives the subnetworks' inputs and separate-training schedules).

    ``audio_model``: the audio subnetwork (the paper: Xception-like); ``n_frames``: frame
    vectors per video in the fusion (ICMR FCVID: 50). ``joint_*``: schedule of the joint
    scheme (the reference code's multimodal setting: Adam 1e-3 halved every 10 epochs,
    batch 32, patience 10). Analysis: ``k_audio``/``k_visual`` (10/20), ``groups`` (which
    videos count for category c: ``"predicted"``, the paper's F(d) = c, or ``"label"``),
    ``analysis_split`` (``"all"`` videos or one split), significance ``alpha`` after
    ``correction`` over the pairs of one matrix, ``strong`` (mean |rho| threshold for
    "strong intra-modal"); ``gradcam_per_category`` correct and wrong examples.
    ``importance``: ``"linear"`` (default, the paper's ``L^c_{D,i}`` over the weights of a
    linear read-out on the concatenated penultimate features) or ``"gradient"`` (per-example
    gradients of the late-fusion head). ``audio_seconds``: length of the audio input (the
    ISMIR paper: 1 s, with one frame per audio segment; None keeps the ICMR preset's input).
    """

    scale: str
    audio_model: str = "xception_audio"
    n_frames: int = 50
    joint_epochs: int = 100
    joint_batch: int = 32
    joint_lr: float = 1e-3
    joint_lr_step: int | None = 10
    joint_patience: int | None = 10
    joint_max_train: int | None = None  # joint scheme: at most this many training videos (seeded subset); None = all
    joint_train_frames: str = "random"  # k random frames per video and epoch ("first": fixed, spread uniformly)
    k_audio: int = 10
    k_visual: int = 20
    groups: str = "predicted"
    analysis_split: str = "all"
    alpha: float = 0.05
    correction: str = "fdr_bh"
    strong: float = 0.5
    gradcam_per_category: int = 3
    separate: str = "icmr_store"  # subnetworks of the feature-extraction scheme: "icmr_store" or "train"
    importance: str = "linear"  # "linear": the paper's L^c over a linear read-out; "gradient": per-example gradients
    audio_seconds: float | None = None  # audio input length (None: the ICMR preset's choi_seconds)
    visual_lr: float | None = None  # only with separate="train": overrides the ICMR preset's visual lr
    changes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ISMIRPreset] = {
    "paper": ISMIRPreset(
        scale="paper",
        n_frames=1,
        audio_seconds=1.0,
        separate="train",
        changes=(
            "Paper settings (ISMIR 2017 LBD Sec. 2): Xception audio network on 1 s log-mels, Inception v3 "
            "with 1 frame per audio segment; subnetworks trained here on these inputs (the ICMR chapter's "
            "runs use 29.12 s); joint scheme with the reference code's multimodal schedule; importance "
            "from a linear read-out (the paper's L^c)."
        ),
    ),
    "cpu": ISMIRPreset(
        scale="cpu",
        audio_model="choi2016",
        n_frames=1,
        joint_epochs=8,
        joint_batch=16,
        joint_lr_step=None,
        joint_patience=None,
        joint_max_train=300,
        gradcam_per_category=1,
        changes=(
            "ISMIR cpu preset: Choi et al. audio network instead of Xception (2.5x cheaper to train "
            "end to end); the ICMR cpu audio input (1.456 s) instead of the paper's 1 s segments; fusion over "
            "1 frame per video (as the paper's one frame per audio segment); joint scheme "
            "8 epochs on a seeded subset of 300 of the ~1,100 training videos (the whole training "
            "split took > 15 min on 2 cores), batch 16, no early stopping (best validation epoch kept); its "
            "Inception v3 starts, for every seed, from the ICMR chapter's one shared image-bank pre-training "
            "(seed 0, as the paper's fixed ImageNet weights); the separately "
            "trained subnetworks are the ICMR cpu runs; 1 correct and 1 wrong Grad-CAM example per "
            "category."
        ),
    ),
    "smoke": ISMIRPreset(
        scale="smoke",
        audio_model="choi2016",
        n_frames=1,
        joint_epochs=1,
        joint_batch=8,
        joint_lr_step=None,
        joint_patience=None,
        k_audio=10,
        k_visual=20,
        gradcam_per_category=1,
        separate="train",
        visual_lr=1e-3,
        changes=("ISMIR smoke preset (checks that everything runs; numbers are meaningless): 1 frame, 1 joint epoch; "
                 "subnetworks trained here (frame network SGD lr 1e-3)."),
    ),
}


def get_preset(scale: str, **overrides) -> ISMIRPreset:
    """The preset of ``scale`` with field ``overrides`` (notebook parameters)."""
    from .presets import pick_preset

    preset = pick_preset(PRESETS, scale, overrides, family="ISMIR")
    out = replace(preset, **overrides)
    if out.groups not in ("predicted", "label"):
        raise ParameterError(f"groups must be 'predicted' or 'label', got {out.groups!r}")
    if out.analysis_split not in ("all", "train", "val", "test"):
        raise ParameterError(f"analysis_split must be all/train/val/test, got {out.analysis_split!r}")
    if out.separate not in ("icmr_store", "train"):
        raise ParameterError(f"separate must be 'icmr_store' or 'train', got {out.separate!r}")
    from ..analysis.importance import IMPORTANCE_VARIANTS

    if out.importance not in IMPORTANCE_VARIANTS:
        raise ParameterError(f"importance must be one of {IMPORTANCE_VARIANTS}, got {out.importance!r}")
    if out.audio_seconds is not None and out.audio_seconds <= 0:
        raise ParameterError(f"audio_seconds must be > 0, got {out.audio_seconds}")
    if out.n_frames < 1:
        raise ParameterError(f"n_frames must be >= 1, got {out.n_frames}")
    return out


def icmr_inputs_preset(preset: ISMIRPreset, icmr_preset):
    """The ICMR preset whose audio input the ISMIR run uses: ``choi_seconds`` set to
    ``preset.audio_seconds`` when given (the paper: 1 s), unchanged otherwise."""
    if preset.audio_seconds is None:
        return icmr_preset
    return icmr_preset.with_overrides({"audio.choi_seconds": float(preset.audio_seconds)})


# --------------------------------------------------------------------------- data
@dataclass
class AVData:
    """Per-video inputs of both modalities, in one order.

    ``audio``: float32 ``(n, 1, n_mels, t)`` log-mels; ``frames``: list of uint8 arrays
    ``(m_i, 3, H, W)`` (all frames cached for the video); ``labels`` int ``(n,)``; ``split``
    str ``(n,)``; ``ids`` str ``(n,)``; ``categories`` class names.
    """

    audio: np.ndarray
    frames: list
    labels: np.ndarray
    split: np.ndarray
    ids: np.ndarray
    categories: list

    def __post_init__(self):
        self.audio = np.asarray(self.audio, dtype=np.float32)
        if self.audio.ndim == 3:
            self.audio = self.audio[:, None]
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.split = np.asarray(self.split, dtype=str)
        self.ids = np.asarray(self.ids, dtype=str)
        if not (len(self.audio) == len(self.frames) == len(self.labels) == len(self.split) == len(self.ids)):
            raise ParameterError("AVData fields must all have one entry per video")

    def __len__(self) -> int:
        return len(self.labels)

    def indices(self, split: str) -> np.ndarray:
        if split == "all":
            return np.arange(len(self))
        return np.flatnonzero(self.split == split)

    def frames_array(self, k: int, idx=None) -> np.ndarray:
        """``k`` frames of each video spread uniformly over it ``(n, k, 3, H, W)``
        (:func:`frame_positions`; cycled if a video has fewer)."""
        idx = np.arange(len(self)) if idx is None else np.asarray(idx)
        return np.stack([_take_frames(self.frames[i], frame_positions(len(self.frames[i]), k)) for i in idx])


def frame_positions(n_available: int, k: int) -> np.ndarray:
    """Which ``k`` of a video's cached frames (time order) to use: spread uniformly over the
    whole video (:func:`avlib.features.frames.uniform_frame_indices`, the paper's sampling),
    cycling through all of them when the video has fewer than ``k``."""
    from ..features.frames import uniform_frame_indices

    if n_available < 1:
        raise ParameterError("a video has no frames")
    if n_available >= k:
        return uniform_frame_indices(n_available, k)
    return np.arange(k) % n_available


def _take_frames(f: np.ndarray, pos: np.ndarray) -> np.ndarray:
    f = np.asarray(f)
    if len(f) == 0:
        raise ParameterError("a video has no frames")
    return f[np.asarray(pos) % len(f)]


class AVDataset(Dataset):
    """Items ``(log-mel (1, F, T) float32, frames (k, 3, H, W) uint8, label)`` of some videos.

    With ``random_frames=True`` each access draws ``k`` distinct frames of the video (the
    paper's random frame selection, a new draw every epoch); otherwise ``k`` frames spread
    uniformly over the video (:func:`frame_positions`).
    """

    def __init__(self, data: AVData, idx, *, k: int, random_frames: bool = False, seed: int = 0):
        self.data = data
        self.idx = np.asarray(idx)
        self.k = k
        self.random_frames = random_frames
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, j):
        i = int(self.idx[j])
        f = self.data.frames[i]
        if self.random_frames and len(f) > self.k:
            pos = np.sort(self.rng.choice(len(f), self.k, replace=False))
        else:
            pos = frame_positions(len(f), self.k)
        frames = torch.from_numpy(np.ascontiguousarray(_take_frames(f, pos)))
        return torch.from_numpy(self.data.audio[i]), frames, torch.tensor(int(self.data.labels[i]))


def load_av_data(bench, *, audio_model: str, icmr_preset, n_jobs=None) -> AVData:
    """Log-mels (UC crop) and frames of every video of an ICMR benchmark with both inputs.

    Uses the ICMR chapter's cached extraction (:func:`avlib.train.icmr.audio_inputs`,
    :func:`~avlib.train.icmr.frame_inputs`).
    """
    from ..experiments.icmr.data import audio_inputs, frame_inputs

    audio = audio_inputs(bench, icmr_preset, model=audio_model, crop="UC", n_jobs=n_jobs)
    frames = frame_inputs(bench, icmr_preset, n_jobs=n_jobs)
    df = bench.videos[bench.videos["video_id"].isin(audio) & bench.videos["video_id"].isin(frames)]
    df = df[[len(frames[v]) > 0 for v in df["video_id"]]].reset_index(drop=True)
    a = np.stack([np.asarray(audio[v], np.float32) for v in df["video_id"]])
    if a.ndim == 3:
        a = a[:, None]
    return AVData(a, [frames[v] for v in df["video_id"]], df["label"].to_numpy(np.int64),
                  df["split"].to_numpy(str), df["video_id"].to_numpy(str), list(bench.categories))


# --------------------------------------------------------------------------- results
@dataclass
class SchemeResult:
    """A trained multimodal network and what the analysis needs from it, for all videos.

    ``audio_features`` ``(n, Da)``, ``frame_features`` ``(n, k, Dv)``, ``logits`` ``(n, C)``
    in the order of the :class:`AVData`; ``histories`` per trained part; ``seconds`` of
    training (``seconds_by_part`` says which part; a reused stored run counts its
    original training time and is flagged in ``meta``).
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
        """Hit@1, Hit@3, support-weighted F1 as the paper reports it, macro F1 (percent) on ``split`` (:mod:`avlib.metrics.classification`)."""
        from ..metrics.classification import classification_summary, softmax

        m = np.ones(len(self.labels), bool) if split == "all" else self.split == split
        logits = self.logits[m]
        bad = ~np.isfinite(logits).all(axis=1)
        # a diverged network (possible at smoke scale) scores as chance on those videos
        logits = np.where(bad[:, None], 0.0, logits)
        out = classification_summary(self.labels[m], softmax(logits, 1))
        out["non_finite_videos"] = int(bad.sum())
        return out


def _unit_frames(x: torch.Tensor) -> torch.Tensor:
    """uint8 frames in [0, 255] -> float in [-1, 1] (ICMR scaling); floats pass unchanged."""
    return x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x


def _joint_transform(inputs, training: bool):
    audio, frames = inputs
    frames = _unit_frames(frames)
    if training:  # random horizontal flip per video (paper Sec. 4.2)
        flip = torch.rand(frames.shape[0], device=frames.device) < 0.5
        frames = torch.where(flip[:, None, None, None, None], frames.flip(-1), frames)
    return audio, frames


@torch.no_grad()
@torch.no_grad()
def extract_av_features(model, data: AVData, *, k: int, batch_size: int = 16, device=None):
    """Penultimate features and logits of an :class:`AudioVisualNet` for every video.

    Returns ``audio (n, Da)``, ``frames (n, k, Dv)``, ``logits (n, C)`` (float32), using
    ``k`` frames spread uniformly over each video (:func:`frame_positions`), in eval mode
    and without autograd (a jointly trained model's parameters still require gradients).
    """
    from ..utils import get_device

    device = get_device(device) if not isinstance(device, torch.device) else device
    model.to(device).eval()
    ds = AVDataset(data, np.arange(len(data)), k=k)
    outs_a, outs_f, outs_l = [], [], []
    for start in range(0, len(ds), batch_size):
        items = [ds[j] for j in range(start, min(start + batch_size, len(ds)))]
        a = torch.stack([it[0] for it in items]).to(device)
        f = _unit_frames(torch.stack([it[1] for it in items]).to(device))
        feats = model.forward_features(a, f)
        outs_a.append(feats.audio.float().cpu())
        outs_f.append(feats.frames.float().cpu())
        outs_l.append(model.forward_head(feats).float().cpu())
    return torch.cat(outs_a).numpy(), torch.cat(outs_f).numpy(), torch.cat(outs_l).numpy()


def _fusion_logits(fusion, audio_feats, frame_feats, device=None) -> np.ndarray:
    from ..models.audiovisual import AudioVisualNet
    from .loop import predict

    x = AudioVisualNet.fusion_input(torch.from_numpy(audio_feats), torch.from_numpy(frame_feats))
    return predict(fusion, (x,), batch_size=256, device=device, has_targets=False)


def _safe_batch(n: int, batch: int) -> int:
    """A batch size that leaves no final batch of one (batch norm cannot train on it)."""
    while n % batch == 1 and batch < n:
        batch += 1
    return batch


def _standardised_audio(name: str, num_classes: int, x_train: np.ndarray):
    from ..experiments.icmr.audio import build_audio_model
    from ..models.wrappers import Standardise

    return Standardise(build_audio_model(name, num_classes, x_train.shape), float(x_train.mean()),
                       float(x_train.std() + 1e-6))


# --------------------------------------------------------------------------- schemes
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
    device=None,
) -> SchemeResult:
    """Feature-extraction scheme (ISMIR 2017 Figure 1, left): separate subnetworks, frozen,
    late fusion trained on their features.

    Parameters
    ----------
    data : AVData
    n_frames : int
        Frame vectors per video in the fusion.
    audio_name : str
        Registered audio model (``"xception_audio"``, ``"choi2016"``).
    fusion_config, audio_config, visual_config : TrainConfig
        Schedules of the three separate trainings (audio/visual only needed when the
        subnetwork is not given).
    visual_frames : int, optional
        Frames per training video of the frame network (default ``n_frames``).
    backbone_state : dict, optional
        Pre-trained Inception v3 backbone (ICMR image-bank pre-training) to start from.
    audio_model, visual_model : nn.Module, optional
        Already trained subnetworks (e.g. the ICMR chapter's stored runs); trained here
        with :func:`avlib.train.icmr.train_audio_model` / ``train_frame_model`` if omitted.

    Returns
    -------
    SchemeResult
        ``model`` is an :class:`~avlib.models.audiovisual.AudioVisualNet` with frozen
        subnetworks.
    """
    from ..models.audiovisual import AudioVisualNet
    from ..experiments.icmr.audio import train_audio_model
    from ..experiments.icmr.fusion import train_fusion
    from ..experiments.icmr.visual import train_frame_model

    C = len(data.categories)
    tr, va = data.indices("train"), data.indices("val")
    histories, secs = {}, {}
    if audio_model is None:
        if audio_config is None:
            raise ParameterError("audio_config is needed to train the audio subnetwork")
        t0 = time.perf_counter()
        audio_model, histories["audio"] = train_audio_model(
            audio_name, list(data.audio[tr]), data.labels[tr], list(data.audio[va]), data.labels[va],
            num_classes=C, config=audio_config, device=device)
        secs["audio"] = time.perf_counter() - t0
    if visual_model is None:
        if visual_config is None:
            raise ParameterError("visual_config is needed to train the frame subnetwork")
        t0 = time.perf_counter()
        visual_model, histories["visual"] = train_frame_model(
            [data.frames[i] for i in tr], data.labels[tr], [data.frames[i] for i in va], data.labels[va],
            k=visual_frames or n_frames, num_classes=C, config=visual_config, backbone_state=backbone_state,
            device=device)
        secs["visual"] = time.perf_counter() - t0
    net = AudioVisualNet(audio_model, visual_model, nn.Identity(), frame_transform=_unit_frames)
    net.freeze_subnetworks()
    t0 = time.perf_counter()
    a, f, _ = extract_av_features(net, data, k=n_frames, device=device)
    secs["features"] = time.perf_counter() - t0
    X = AudioVisualNet.fusion_input(torch.from_numpy(a), torch.from_numpy(f)).numpy()
    t0 = time.perf_counter()
    cfg = replace(fusion_config, batch_size=_safe_batch(len(tr), fusion_config.batch_size))
    fusion, histories["fusion"] = train_fusion(X[tr], data.labels[tr], X[va], data.labels[va], n_frames=n_frames,
                                               num_classes=C, config=cfg, hidden=tuple(fusion_hidden), device=device)
    secs["fusion"] = time.perf_counter() - t0
    net.fusion = fusion
    net.freeze_subnetworks()
    net.eval()
    logits = _fusion_logits(fusion, a, f, device=device)
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
    (random audio network standardised with the training mean/std; Inception v3 from
    ``backbone_state`` when given). Training uses ``n_frames`` frames per video (drawn at
    random each epoch when ``random_frames``), random horizontal flips, and
    :func:`avlib.train.loop.fit` (best validation epoch kept). ``max_train`` caps the training
    videos at a subset drawn with ``config.seed`` (the cpu preset's budget).
    """
    from ..models import get_model
    from ..models.audiovisual import AudioVisualNet

    C = len(data.categories)
    tr, va = data.indices("train"), data.indices("val")
    if max_train is not None and len(tr) > int(max_train):
        tr = np.sort(np.random.default_rng([int(config.seed), 17]).choice(tr, int(max_train), replace=False))
    seed_everything(config.seed)  # the initial weights depend on the seed only
    audio = _standardised_audio(audio_name, C, data.audio[tr])
    visual = get_model("inception_frames", num_classes=C)
    if backbone_state is not None:
        visual.backbone.load_state_dict(backbone_state)
    fusion = get_model("late_fusion", num_classes=C, n_frames=n_frames, hidden=tuple(fusion_hidden))
    net = AudioVisualNet(audio, visual, fusion, frame_transform=_unit_frames)
    train_ds = AVDataset(data, tr, k=n_frames, random_frames=random_frames, seed=config.seed)
    val_ds = AVDataset(data, va, k=n_frames) if len(va) else None
    cfg = replace(config, batch_size=_safe_batch(len(tr), config.batch_size))
    t0 = time.perf_counter()
    history = fit(net, train_ds, val_ds, config=cfg, checkpoint_dir=checkpoint_dir, device=device,
                  input_transform=_joint_transform, progress_bar=True)
    secs = {"joint": time.perf_counter() - t0}
    t0 = time.perf_counter()
    a, f, logits = extract_av_features(net, data, k=n_frames, device=device)
    secs["features"] = time.perf_counter() - t0
    return SchemeResult("joint", net, a, f, logits, data.labels, data.split, {"joint": history},
                        float(sum(secs.values())), secs, {"n_frames": n_frames, "audio": audio_name})


def run_feature_extraction_scheme(bench, data: AVData, preset: ISMIRPreset, icmr_preset, *, seed: int = 0,
                                  store=None, device=None, n_jobs=None, weights=None) -> SchemeResult:
    """The feature-extraction scheme with the ICMR chapter's separately trained subnetworks.

    ``preset.separate == "icmr_store"``: the audio run (``preset.audio_model``, UC crop) and
    the visual run (``icmr_preset.fusion_visual``) come from the ICMR :class:`FeatureStore`
    when the ICMR notebooks already trained them with the same settings, and are trained
    (and stored) by the ICMR run functions otherwise. ``"train"``: both are trained here with
    :func:`avlib.train.icmr.train_audio_model` / ``train_frame_model`` and the ICMR preset's
    schedules. Either way the fusion is trained here over ``preset.n_frames`` frames.
    """
    from ..experiments.icmr import audio as icmr_audio
    from ..experiments.icmr import fusion as icmr_fusion
    from ..experiments.icmr import visual as icmr_visual
    from ..models.wrappers import Standardise

    t0 = time.perf_counter()
    C = bench.num_classes
    k, pt = icmr_preset.fusion.visual
    fusion_config = icmr_fusion.fusion_train_config(icmr_preset, seed)
    if preset.separate == "train":
        state = None
        if pt:
            state, _, _, _ = icmr_visual.pretrained_backbone(bench, icmr_preset, seed=seed, store=store,
                                                             weights=weights, device=device)
        vcfg = icmr_visual.visual_train_config(icmr_preset, seed)
        if preset.visual_lr is not None:
            vcfg = replace(vcfg, lr=preset.visual_lr)
        res = train_feature_extraction_scheme(
            data, n_frames=preset.n_frames, audio_name=preset.audio_model, fusion_config=fusion_config,
            fusion_hidden=icmr_preset.fusion.hidden, audio_config=icmr_audio.audio_train_config(icmr_preset, seed),
            visual_config=vcfg, visual_frames=k, backbone_state=state, device=device)
        res.meta.update({"separate": "trained here", "visual_frames_per_video": k, "visual_pretrained": bool(pt)})
        return res
    arun = icmr_audio.run_audio_model(bench, icmr_preset, preset.audio_model, "UC", seed=seed, store=store,
                                      device=device, n_jobs=n_jobs)
    frames = {v: f for v, f in zip(data.ids, data.frames)}
    vrun = icmr_visual.run_visual_model(bench, icmr_preset, k, pt, frames=frames, seed=seed, store=store,
                                        weights=weights, device=device)
    amodel = Standardise(icmr_audio.build_audio_model(preset.audio_model, C, data.audio.shape), 0.0, 1.0)
    amodel.load_state_dict(store.load_model(arun["tag"])["state"])
    vmodel = icmr_visual.frame_model(C)
    vmodel.load_state_dict(store.load_model(vrun["tag"])["state"])
    reuse_s = time.perf_counter() - t0
    res = train_feature_extraction_scheme(
        data, n_frames=preset.n_frames, audio_name=preset.audio_model, fusion_config=fusion_config,
        fusion_hidden=icmr_preset.fusion.hidden, audio_model=amodel, visual_model=vmodel, device=device)
    res.seconds_by_part.update({"audio (ICMR run)": float(arun.get("train_seconds", np.nan)),
                                "visual (ICMR run)": float(vrun.get("train_seconds", np.nan)),
                                "load or train subnetworks here": reuse_s})
    res.seconds = float(res.seconds + np.nansum([arun.get("train_seconds", 0.0), vrun.get("train_seconds", 0.0)]))
    res.meta.update({"separate": "ICMR store", "audio_run_cached": bool(arun.get("cached")),
                     "visual_run_cached": bool(vrun.get("cached")), "visual_frames_per_video": k,
                     "visual_pretrained": bool(pt), "audio_tag": arun["tag"], "visual_tag": vrun["tag"]})
    return res


def joint_config(preset: ISMIRPreset, seed: int = 0) -> TrainConfig:
    """The joint scheme's :class:`TrainConfig` (Adam, as the reference code's multimodal model)."""
    return TrainConfig(epochs=preset.joint_epochs, batch_size=preset.joint_batch, lr=preset.joint_lr,
                       optimizer="adam", lr_step=preset.joint_lr_step, patience=preset.joint_patience, seed=seed)


def run_joint_scheme(bench, data: AVData, preset: ISMIRPreset, icmr_preset, *, seed: int = 0, store=None,
                     device=None, weights=None, checkpoint_dir=None) -> SchemeResult:
    """The joint scheme from the same starting point as the ICMR visual run.

    When the ICMR preset's fusion visual run is pre-trained (``fusion_visual[1]``), the
    Inception v3 backbone starts from the same image-bank pre-training (taken from the ICMR
    store, or computed and stored); the audio network starts from random weights, as in the
    separate training. With the ICMR preset's frozen backbone (cpu) that is the one
    pre-training shared by all seeds (seed 0, as the paper's fixed ImageNet weights), read
    from the ICMR chapter's shared-backbone folder; otherwise the pre-training of ``seed``.
    """
    from ..experiments.icmr import store as icmr_store
    from ..experiments.icmr import visual as icmr_visual

    state, source = None, "random initialisation"
    t0 = time.perf_counter()
    if icmr_preset.fusion.visual[1]:
        if icmr_preset.visual.backbone == "frozen":
            shared = icmr_store.FeatureStore(icmr_store.frozen_cache_dir(store)) if store is not None else None
            state, source, _, _ = icmr_visual.pretrained_backbone(bench, icmr_preset, seed=0, store=shared,
                                                                  weights=weights, device=device)
        else:
            state, source, _, _ = icmr_visual.pretrained_backbone(bench, icmr_preset, seed=seed, store=store,
                                                                  weights=weights, device=device)
    pre_s = time.perf_counter() - t0
    res = train_joint_scheme(data, n_frames=preset.n_frames, audio_name=preset.audio_model,
                             config=joint_config(preset, seed), fusion_hidden=icmr_preset.fusion.hidden,
                             backbone_state=state, random_frames=preset.joint_train_frames == "random",
                             max_train=preset.joint_max_train, checkpoint_dir=checkpoint_dir, device=device)
    res.seconds_by_part["load or pre-train backbone"] = pre_s
    res.meta["visual_init"] = source
    return res


def paper_accuracy(audio_model: str, *, dataset: str = "FCVID") -> dict:
    """The paper's numbers beside each scheme: ICMR 2017 Table 4 (FCVID, 50 frames) for the
    feature-extraction scheme; the ISMIR LBD reports no accuracy for either scheme."""
    from ..report import paper_table

    t = paper_table("icmr2017_table4_multimodal")
    name = {"xception_audio": "Xception", "choi2016": "Choi et al. 2016"}.get(audio_model)
    row = t[(t["method"] == name) & (t["dataset"] == dataset)]
    if row.empty:
        return {}
    r = row.iloc[0]
    return {"feature extraction": {"hit_at_1": float(r["hit_at_1"]), "hit_at_3": float(r["hit_at_3"]),
                                   "f1": float(r["f1"])}}


# --------------------------------------------------------------------------- analysis
@dataclass
class Correspondence:
    """Category-wise importance, selected features and Spearman matrices of one scheme."""

    scheme: str
    importance_audio: np.ndarray  # (C, Da)
    importance_visual: np.ndarray  # (C, Dv)
    selection: dict
    correlations: list
    summary: pd.DataFrame
    settings: dict


def analyse_correspondence(result: SchemeResult, categories, *, k_audio: int = 10, k_visual: int = 20,
                           split: str = "all", groups: str = "predicted", alpha: float = 0.05,
                           correction: str = "fdr_bh", strong: float = 0.5,
                           importance: str = "linear") -> Correspondence:
    """The ISMIR analysis (Sec. 2.1) of one trained scheme.

    Per video: audio features ``x^a`` and the visual vector ``x^v`` = mean of the frame
    features. Category-wise importance ``L^c_{D,i}`` over the videos ``D`` of ``split``:

    * ``importance="linear"`` (default, the paper's definition): ``w^c`` are the weights of a
      linear read-out (one dense softmax layer, the paper's decision rule
      ``y_c = sum_i w_i^c x_i``) trained on ``[x^a, x^v]`` of the training videos
      (:func:`avlib.analysis.importance.readout_importance`); ``D_c`` = videos the read-out
      predicts as ``c`` (the paper's ``F(d) = c``);
    * ``importance="gradient"``: ``a_i^c = dy_c/dx_i`` of the late-fusion head at each video,
      for the network's predicted category (for the visual vector the sum of the gradients
      over its frames, the chain rule when all frames move with the mean); ``D_c`` = videos
      the network predicts as ``c``.

    Then the top ``k_audio`` / ``k_visual`` per category; Spearman matrix over the videos of
    ``split`` whose group (``"predicted"``: the ``F(d)`` above, or ``"label"``) is ``c``;
    intra/inter summary with ``correction`` at ``alpha``.
    """
    from ..analysis.correlation import category_correlations, summarize_correlations
    from ..analysis.importance import (IMPORTANCE_VARIANTS, category_importance, decision_gradients,
                                       readout_importance, select_features)

    if importance not in IMPORTANCE_VARIANTS:
        raise ParameterError(f"importance must be one of {IMPORTANCE_VARIANTS}, got {importance!r}")
    model = result.model
    model.eval()
    idx = np.arange(len(result.labels)) if split == "all" else np.flatnonzero(result.split == split)
    xa = result.audio_features[idx]
    xf = result.frame_features[idx]
    xv = xf.mean(1)
    pred = result.predictions[idx]  # F(d) of the whole network
    C = len(categories)
    extra = {}
    if importance == "linear":
        tr = np.flatnonzero(result.split == "train")
        ro = readout_importance(result.audio_features, result.frame_features.mean(1), result.labels, train=tr,
                                num_classes=C, analyse=idx)
        imp_a, imp_v = ro["audio"], ro["visual"]
        decision = ro["predictions"]  # F(d): the read-out is the decision rule whose weights are used
        extra = {"readout_train_accuracy": ro["train_accuracy"],
                 "readout_agreement_with_network": 100.0 * float(np.mean(ro["predictions"] == pred))}
    else:
        (ga, gf), _ = decision_gradients(model.fuse, [xa, xf], predictions=pred)
        imp_a = category_importance(xa, ga, pred, num_classes=C)
        imp_v = category_importance(xv, gf.sum(1), pred, num_classes=C)
        decision = pred
    sel = select_features(imp_a, imp_v, k_audio=k_audio, k_visual=k_visual)
    grp = decision if groups == "predicted" else result.labels[idx]
    corrs = category_correlations(xa, xv, grp, sel, names=list(categories))
    summary = summarize_correlations(corrs, alpha=alpha, correction=correction, strong=strong)
    summary.insert(0, "scheme", result.scheme)
    settings = {"k_audio": k_audio, "k_visual": k_visual, "split": split, "groups": groups, "alpha": alpha,
                "correction": correction, "strong": strong, "n_videos": int(len(idx)), "importance": importance,
                **extra}
    return Correspondence(result.scheme, imp_a, imp_v, sel, corrs, summary, settings)


def accuracy_table(results: list, *, split: str = "test", paper: dict | None = None) -> pd.DataFrame:
    """Hit@1 / Hit@3 / F1 of each scheme on ``split`` beside the paper's numbers.

    ``paper``: ``{scheme: {"hit_at_1": ..., "hit_at_3": ..., "f1": ...}}`` (NaN where the paper
    reports none: the ISMIR LBD reports no accuracy; ICMR 2017 Table 4 is the feature-
    extraction scheme on FCVID).
    """
    paper = paper or {}
    rows = []
    for r in results:
        m = r.metrics(split)
        p = paper.get(r.scheme, {})
        rows.append({"scheme": r.scheme,
                     "Hit@1 (paper)": p.get("hit_at_1", np.nan), "Hit@1 (ours)": m["hit_at_1"],
                     "Hit@3 (paper)": p.get("hit_at_3", np.nan), "Hit@3 (ours)": m["hit_at_3"],
                     "F1 (paper)": p.get("f1", np.nan), "F1 (ours)": m["f1"],
                     "train seconds": r.seconds, "n test videos": int((r.split == split).sum()),
                     "videos with non-finite output": m["non_finite_videos"]})
    return pd.DataFrame(rows)


def claim_table(summaries: list[pd.DataFrame]) -> pd.DataFrame:
    """Per scheme: the paper's claim beside what we measured (over all categories)."""
    rows = []
    for s in summaries:
        if not len(s):
            continue
        rows.append({
            "scheme": s["scheme"].iloc[0],
            "paper: intra-modal": "strong",
            "ours: mean |rho| intra (median over categories)": float(s["mean_abs_rho_intra"].median()),
            "ours: categories with intra strong": f"{int(s['intra_strong'].sum())}/{len(s)}",
            "paper: inter-modal": "no significant relation",
            "ours: mean |rho| inter (median over categories)": float(s["mean_abs_rho_inter"].median()),
            "ours: significant inter pairs (all categories)": f"{int(s['n_sig_inter'].sum())}/{int(s['n_pairs_inter'].sum())}",
            "ours: categories without significant inter pair": f"{int(s['inter_not_significant'].sum())}/{len(s)}",
            "claim holds (categories)": f"{int(s['claim_holds'].sum())}/{len(s)}",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- several seeds (issue 12)
def run_schemes_seeds(bench, data: AVData, preset: ISMIRPreset, icmr_preset, *, seeds, data_root,
                      source: str = "embedded", joint_seeds=None, n_jobs=None, weights=None,
                      device=None) -> dict:
    """Both schemes for every seed: ``{(scheme, seed): SchemeResult}``.

    The feature-extraction scheme of seed ``s`` reuses the ICMR chapter's stored subnetworks
    of that seed (its :class:`~avlib.train.icmr.FeatureStore` for ``s``; trained and stored
    there if missing) and trains only the fusion; the joint scheme is trained end to end for
    the seeds of ``joint_seeds`` (default: all of ``seeds``), the expensive part.
    """
    from ..experiments.icmr.store import FeatureStore

    seeds = [int(x) for x in seeds]
    if not seeds:
        raise ParameterError("seeds must name at least one seed")
    joint_seeds = seeds if joint_seeds is None else [int(x) for x in joint_seeds]
    out = {}
    for sd in seeds:
        store = FeatureStore.for_run(data_root, scale=icmr_preset.scale, seed=sd, source=source)
        out[("feature extraction", sd)] = run_feature_extraction_scheme(
            bench, data, preset, icmr_preset, seed=sd, store=store, device=device, n_jobs=n_jobs, weights=weights)
        if sd in joint_seeds:
            out[("joint", sd)] = run_joint_scheme(bench, data, preset, icmr_preset, seed=sd, store=store,
                                                  device=device, weights=weights)
    return out


def analyse_seeds(results: dict, categories, preset: ISMIRPreset) -> dict:
    """:func:`analyse_correspondence` with the preset's settings for every ``(scheme, seed)``."""
    return {key: analyse_correspondence(r, categories, k_audio=preset.k_audio, k_visual=preset.k_visual,
                                        split=preset.analysis_split, groups=preset.groups, alpha=preset.alpha,
                                        correction=preset.correction, strong=preset.strong,
                                        importance=preset.importance)
            for key, r in results.items()}


def seed_accuracy_table(results: dict, *, split: str = "test", paper: dict | None = None) -> pd.DataFrame:
    """Per scheme: Hit@1 / Hit@3 / F1 as mean ± 95 % interval over seeds (Student t,
    :func:`avlib.metrics.stats.mean_ci`), beside the paper's numbers."""
    from ..metrics.stats import mean_ci

    paper = paper or {}
    rows = []
    for scheme in dict.fromkeys(k[0] for k in results):
        ms = [results[k].metrics(split) for k in results if k[0] == scheme]
        p = paper.get(scheme, {})
        row = {"scheme": scheme, "seeds": len(ms)}
        for key, label in (("hit_at_1", "Hit@1"), ("hit_at_3", "Hit@3"), ("f1", "F1")):
            ci = mean_ci([m[key] for m in ms])
            row[f"{label} (paper)"] = p.get(key, np.nan)
            row[f"{label} (ours, mean)"] = ci.mean
            row[f"{label} (ours, 95% lo)"] = ci.lo
            row[f"{label} (ours, 95% hi)"] = ci.hi
        row["videos with non-finite output"] = int(sum(m["non_finite_videos"] for m in ms))
        rows.append(row)
    return pd.DataFrame(rows)


def _seed_stats(summary: pd.DataFrame) -> dict:
    """Per-seed statistics of one scheme's per-category summary (:func:`modality_summary` rows).

    Means over categories (``intra``, ``inter``: mean |rho|), the share of significant
    inter-modal pairs, and the claim's per-category criterion: ``pct_categories_inter_clean``
    (% of categories with no significant inter-modal pair, the correction within each
    category's inter-modal family), ``pct_categories_intra_strong`` (% of categories with strong
    intra-modal correlation in both modalities), ``weakest_intra`` (the smallest
    ``intra_strength`` over categories, a category without a defined one counting as 0) and
    ``pct_categories_claim`` (% of categories where both hold).
    """
    n_inter = float(summary["n_pairs_inter"].sum())
    if "intra_strength" in summary:
        strength = summary["intra_strength"].to_numpy(dtype=float)
    else:  # summaries written before intra_strength existed
        strength = summary[["mean_abs_rho_intra_audio", "mean_abs_rho_intra_visual"]].min(axis=1).to_numpy(float)
    strength = np.where(np.isfinite(strength), strength, 0.0)
    weakest = int(np.argmin(strength)) if strength.size else -1
    return {"intra": float(summary["mean_abs_rho_intra"].mean()),
            "inter": float(summary["mean_abs_rho_inter"].mean()),
            "pct_sig_inter": 100.0 * float(summary["n_sig_inter"].sum()) / n_inter if n_inter else np.nan,
            "pct_categories_claim": 100.0 * float(summary["claim_holds"].mean()),
            "pct_categories_inter_clean": 100.0 * float(summary["inter_not_significant"].mean()),
            "pct_categories_intra_strong": 100.0 * float(summary["intra_strong"].mean()),
            "n_categories_inter_clean": int(summary["inter_not_significant"].sum()),
            "n_categories_intra_strong": int(summary["intra_strong"].sum()),
            "n_categories_claim": int(summary["claim_holds"].sum()),
            "weakest_intra": float(strength[weakest]) if strength.size else np.nan,
            "weakest_intra_category": str(summary["name"].iloc[weakest]) if strength.size else "",
            "categories": int(len(summary))}


def seed_summary_table(cors: dict) -> pd.DataFrame:
    """Per scheme, over seeds (mean ± 95 % interval): mean |rho| intra and inter (over
    categories), % of inter-modal pairs significant, % of categories where the claim holds."""
    from ..metrics.stats import mean_ci

    rows = []
    for scheme in dict.fromkeys(k[0] for k in cors):
        st = [_seed_stats(cors[k].summary) for k in cors if k[0] == scheme and len(cors[k].summary)]
        if not st:
            continue
        row = {"scheme": scheme, "seeds": len(st)}
        for key, label in (("intra", "mean |rho| intra"), ("inter", "mean |rho| inter"),
                           ("pct_sig_inter", "% inter pairs significant"),
                           ("pct_categories_claim", "% categories where the claim holds")):
            vals = [x[key] for x in st if np.isfinite(x[key])]
            ci = mean_ci(vals) if vals else None
            row[label] = ci.mean if ci else np.nan
            row[f"{label} 95% lo"] = ci.lo if ci else np.nan
            row[f"{label} 95% hi"] = ci.hi if ci else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _claim_settings(cors: dict, alpha, strong) -> tuple[float, float, str, str]:
    """alpha, strong, correction and family the summaries of ``cors`` were made with."""
    st = next((c.settings for c in cors.values() if getattr(c, "settings", None)), {})
    fam = next((str(c.summary["family"].iloc[0]) for c in cors.values()
                if len(c.summary) and "family" in c.summary), "inter")
    return (float(st.get("alpha", 0.05) if alpha is None else alpha),
            float(st.get("strong", 0.5) if strong is None else strong),
            str(st.get("correction", "fdr_bh")), fam)


def claim_seed_table(cors: dict, *, strong: float | None = None) -> pd.DataFrame:
    """One row per ``(scheme, seed)``: the per-seed statistics behind the ISMIR Claims rows
    (:func:`claim_evidence`): categories analysed, categories with no significant inter-modal
    pair, categories with strong intra-modal correlation, the weakest category's intra-modal
    strength (and minus ``strong``, x 100), mean |rho| intra / inter, % inter pairs significant."""
    _, strong, _, _ = _claim_settings(cors, None, strong)
    rows = []
    for (scheme, sd), c in cors.items():
        if not len(c.summary):
            continue
        st = _seed_stats(c.summary)
        rows.append({"scheme": scheme, "seed": sd, "categories": st["categories"],
                     "categories without significant inter pair": st["n_categories_inter_clean"],
                     "% categories without significant inter pair": st["pct_categories_inter_clean"],
                     "categories with strong intra": st["n_categories_intra_strong"],
                     "weakest intra strength": st["weakest_intra"],
                     "weakest category": st["weakest_intra_category"],
                     f"weakest intra minus {strong:g} (x 100)": 100.0 * (st["weakest_intra"] - strong),
                     "mean |rho| intra": st["intra"], "mean |rho| inter": st["inter"],
                     "% inter pairs significant": st["pct_sig_inter"],
                     "categories where the claim holds": st["n_categories_claim"]})
    return pd.DataFrame(rows)


def claim_evidence(cors: dict, *, alpha: float | None = None, strong: float | None = None) -> list:
    """Evidence rows (:class:`avlib.claims.Evidence`) for the ISMIR claims, measured by the
    paper's own criterion, per category, with the training seed as the unit of replication.

    The unit is the seed: one value per seed, then the Student-t interval over seeds
    (:func:`avlib.claims.from_values`); the categories of one seed share the trained networks,
    so they are not independent observations. Per category (:func:`modality_summary`, the
    settings of ``cors``: ``alpha``, ``strong``, correction within the category's inter-modal
    family) the paper's claim has two parts, "strong intra-modal correspondence" and "no
    significant inter-modal relations", and "a similar pattern for all other categories" makes
    it a claim about every category. Rows, positive = the paper's direction:

    * ``ismir_strong_intra`` (superiority, |rho| x 100): per seed, the weakest category's intra-
      modal strength (the smaller of its mean |rho| over audio-audio and over visual-visual
      pairs) minus ``strong`` (0.5); positive iff every category has strong intra-modal
      correlation in both modalities;
    * ``ismir_no_significant_inter`` (non-inferiority, margin in ``claims.yaml``, points): per
      seed, % of categories in which no inter-modal pair is significant (two-sided Spearman
      test, Benjamini-Hochberg over that category's inter-modal pairs, ``alpha``) minus 100
      (the paper: all categories). Even when the claim is exactly true a calibrated test flags
      about ``alpha`` of the categories, hence the margin;
    * ``ismir_joint_vs_fe`` (superiority, |rho| x 100): mean inter-modal |rho| (mean over
      categories) under joint training minus under feature extraction, paired by seed over the
      seeds that ran both; positive = independently learned (feature-extraction) features are
      less coupled across modalities than jointly learned ones, the contrast the paper draws.

    ``alpha`` and ``strong`` default to the settings the summaries were made with.
    """
    from dataclasses import replace

    from ..claims import from_paired, from_values, load_claims, null_value, p_against

    alpha, strong, correction, family = _claim_settings(cors, alpha, strong)
    fe = {k[1]: _seed_stats(v.summary) for k, v in cors.items() if k[0] == "feature extraction" and len(v.summary)}
    jt = {k[1]: _seed_stats(v.summary) for k, v in cors.items() if k[0] == "joint" and len(v.summary)}
    fam = "its inter-modal pairs" if family == "inter" else "all pairs of its matrix (NOT the claim's family)"
    ev = []
    if fe:
        sd = sorted(fe)
        per = ", ".join(f"{fe[s]['n_categories_intra_strong']}/{fe[s]['categories']}" for s in sd)
        weakest = ", ".join(f"{fe[s]['weakest_intra']:.2f} ({fe[s]['weakest_intra_category']})" for s in sd)
        ev.append(from_values(
            "ismir_strong_intra", [100.0 * (fe[s]["weakest_intra"] - strong) for s in sd], unit="seed",
            detail=f"feature extraction: per seed, the weakest category's intra-modal |Spearman rho| (smaller of the "
                   f"mean over audio-audio and over visual-visual pairs of the top features) minus {strong:g} "
                   f"('strong'), x 100; > 0 iff every category is strong in both modalities. Weakest per seed: "
                   f"{weakest}; categories strong per seed: {per}; {len(sd)} training seeds (the unit; "
                   f"categories within a seed are not independent)"))
        clean = [fe[s]["pct_categories_inter_clean"] - 100.0 for s in sd]
        per = ", ".join(f"{fe[s]['n_categories_inter_clean']}/{fe[s]['categories']}" for s in sd)
        e = from_values(
            "ismir_no_significant_inter", clean, unit="seed",
            detail=f"feature extraction: per seed, % of categories with no significant inter-modal pair (two-sided "
                   f"Spearman test, {correction} over {fam} per category, alpha {alpha:g}) minus 100 (the paper: all "
                   f"categories). Per seed: {per}; {len(sd)} training seeds (the unit; categories within a seed are "
                   f"not independent)")
        row = load_claims().set_index("id").loc["ismir_no_significant_inter"]
        null = null_value(row["criterion"], row["margin"])
        if np.isfinite(e.se) and e.se > 0:
            pn = p_against(e.effect, e.se, e.df, null)
            test = f"one-sample t over {e.n} seeds against {null:g} (non-inferiority margin): p = {pn:.3g}"
        elif e.n >= 2:
            test = f"every one of the {e.n} seeds gave {e.effect:+.1f}: no spread between seeds, no t test"
        else:
            test = f"n = {e.n} seed: no interval"
        ev.append(replace(e, test=test))
    both = sorted(set(fe) & set(jt))
    if both:
        ev.append(from_paired("ismir_joint_vs_fe", [100 * jt[s]["inter"] for s in both],
                              [100 * fe[s]["inter"] for s in both], unit="seed",
                              detail=f"mean inter-modal |Spearman rho| x 100 (mean over categories), joint training "
                                     f"minus feature extraction, paired by training seed; {len(both)} seed(s) ran "
                                     f"both schemes (one seed: no interval)"))
    return ev


# --------------------------------------------------------------------------- Grad-CAM
def gradcam_examples(result: SchemeResult, data: AVData, *, per_category: int = 1, split: str = "test",
                     seed: int = 0, batch_size: int = 16) -> list[dict]:
    """Grad-CAM of the multimodal decision on both modalities for a few videos per category.

    For every category (by label) up to ``per_category`` correctly and ``per_category``
    wrongly predicted videos of ``split`` (chosen with ``seed``). Each map explains the
    predicted category; the other modality is held at the video's own input.
    Returns dicts with ``category``, ``video_id``, ``label``, ``pred``, ``correct``,
    ``logmel (F, T)``, ``audio_map (F, T)``, ``frame (3, H, W) uint8``, ``frame_map (H, W)``,
    ``audio_layer`` / ``frame_layer`` (the Grad-CAM target layers: the ones each subnetwork's
    class names with ``gradcam_layer``, e.g. ``backbone.Mixed_7c``).
    """
    from ..analysis.gradcam import multimodal_gradcam, target_layer_name

    rng = np.random.default_rng(seed)
    pred = result.predictions
    chosen = []
    for c in range(len(data.categories)):
        for correct in (True, False):
            pool = np.flatnonzero((data.labels == c) & (data.split == split) & ((pred == c) == correct))
            if len(pool):
                chosen += [int(i) for i in rng.choice(pool, min(per_category, len(pool)), replace=False)]
    if not chosen:
        return []
    model = result.model
    k = result.frame_features.shape[1]
    audio = torch.from_numpy(data.audio[chosen])
    frames = torch.from_numpy(data.frames_array(k, chosen))
    classes = pred[chosen]
    a_shape = tuple(audio.shape[1:])
    f_shape = tuple(frames.shape[2:])
    name_a = target_layer_name(model.audio, torch.zeros((2, *a_shape)))
    name_f = target_layer_name(model.visual, torch.zeros((2, *f_shape)))
    layers_a = [model.audio.get_submodule(name_a)]
    layers_f = [model.visual.get_submodule(name_f)]
    batches = [slice(s, s + batch_size) for s in range(0, len(chosen), batch_size)]
    with multimodal_gradcam(model, "audio", target_layers=layers_a) as cam:
        out_a = [cam(audio[sl], _unit_frames(frames[sl]), classes[sl]) for sl in batches]
    with multimodal_gradcam(model, "frames", target_layers=layers_f) as cam:
        out_f = [cam(audio[sl], frames[sl], classes[sl]) for sl in batches]
    amaps, fmaps = np.concatenate(out_a), np.concatenate(out_f)
    return [{"category": data.categories[data.labels[i]], "video_id": data.ids[i], "label": int(data.labels[i]),
             "pred": int(pred[i]), "correct": bool(pred[i] == data.labels[i]), "logmel": data.audio[i, 0],
             "audio_map": amaps[j], "frame": frames[j, 0].numpy(), "frame_map": fmaps[j, 0],
             "audio_layer": name_a, "frame_layer": name_f}
            for j, i in enumerate(chosen)]


# --------------------------------------------------------------------------- figures
def plot_correlation_matrix(result, *, ax=None, title: str | None = None, cbar: bool = True, annotate_ticks=True):
    """Heat map of one category's Spearman matrix (the paper's Figure 2 layout): audio
    features first, visual after, a line between the blocks, colour scale -1..1."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(result.rho, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
    na = int((result.modality == "audio").sum())
    p = len(result.labels)
    for pos in (na - 0.5,):
        ax.axhline(pos, color="k", lw=1)
        ax.axvline(pos, color="k", lw=1)
    if annotate_ticks:
        ax.set_xticks(range(p))
        ax.set_yticks(range(p))
        ax.set_xticklabels(result.labels, rotation=90, fontsize=6)
        ax.set_yticklabels(result.labels, fontsize=6)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(title if title is not None else f"{result.name} (n={result.n_samples})", fontsize=9)
    if cbar:
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Spearman rho")
    return ax


def plot_correlation_grid(results: list, *, ncols: int = 4, suptitle: str = ""):
    """Small multiples: the Spearman matrix of every category."""
    import matplotlib.pyplot as plt

    n = max(1, len(results))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 3.1 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), results):
        ax.axis("on")
        plot_correlation_matrix(r, ax=ax, cbar=False, annotate_ticks=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_intra_inter(summary: pd.DataFrame, *, title: str = ""):
    """Mean |rho| intra- vs inter-modal per category and scheme (bars), significant inter
    pairs annotated."""
    import matplotlib.pyplot as plt

    schemes = list(dict.fromkeys(summary["scheme"]))
    fig, axes = plt.subplots(1, len(schemes), figsize=(7 * len(schemes), 4), squeeze=False, sharey=True)
    for ax, sch in zip(axes[0], schemes):
        s = summary[summary["scheme"] == sch]
        x = np.arange(len(s))
        ax.bar(x - 0.2, s["mean_abs_rho_intra"], 0.4, label="intra-modal")
        ax.bar(x + 0.2, s["mean_abs_rho_inter"], 0.4, label="inter-modal")
        for xi, (ns, npairs) in enumerate(zip(s["n_sig_inter"], s["n_pairs_inter"])):
            ax.text(xi + 0.2, 0.02, f"{ns}", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(x)
        ax.set_xticklabels(s["name"], rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(f"{sch} scheme")
        ax.set_ylabel("mean |Spearman rho|")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gradcam_examples(examples: list[dict], *, categories=None, title: str = ""):
    """Rows of examples: log-mel with its Grad-CAM map, and the first frame with its map."""
    import matplotlib.pyplot as plt

    n = max(1, len(examples))
    fig, axes = plt.subplots(n, 2, figsize=(10, 1.6 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [3.2, 1]})
    for row, ex in zip(axes, examples):
        a, v = row
        a.imshow(ex["logmel"], origin="lower", aspect="auto", cmap="gray")
        a.imshow(ex["audio_map"], origin="lower", aspect="auto", cmap="jet", alpha=0.45, vmin=0, vmax=1)
        name = categories[ex["pred"]] if categories is not None else str(ex["pred"])
        a.set_title(f"{ex['category']} ({'correct' if ex['correct'] else 'wrong: ' + name})", fontsize=7, loc="left")
        a.set_xticks([])
        a.set_yticks([])
        v.imshow(np.transpose(ex["frame"], (1, 2, 0)))
        v.imshow(ex["frame_map"], cmap="jet", alpha=0.45, vmin=0, vmax=1,
                 extent=(-0.5, ex["frame"].shape[2] - 0.5, ex["frame"].shape[1] - 0.5, -0.5))
        v.set_xticks([])
        v.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
