"""Configuration of the ISMIR 2017 late-breaking demo (Slizovskaia, Gómez, Haro: correspondence
between the audio and visual networks of the ICMR 2017 model, Figures 1-2).

One frozen object describes the ISMIR page::

    cfg = ISMIRConfig.for_scale("cpu").with_overrides({"joint.epochs": 3})

The ISMIR experiment trains the ICMR 2017 network in two ways, so it depends on the ICMR
settings: the ``icmr`` section is an :class:`~avlib.config.icmr.ICMRConfig` whose parts the
ISMIR run reads (:data:`ICMR_PARTS`: the log-mel and frame inputs, the separate trainings of the
audio network, the frame network and the fusion) are those of the same scale, with the ISMIR
paper's 1 s audio input at the paper's scale; its other parts (the ICMR pages' seeds,
robustness, YouTube-8M, Table 1) are not read here and keep their defaults. The other sections
are the ISMIR experiment's own: ``network`` (which audio network, frames per video),
``feature_extraction`` (where its separately trained subnetworks come from), ``joint`` (the
end-to-end training) and ``analysis`` (importance, the top features, the Spearman tests and the
Grad-CAM figure). The defaults are the paper's settings; ``SCALES`` holds the dotted overrides
of the smaller scales (the ICMR overrides of the same scale included) and ``NOTES`` says why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import ParameterError
from .base import Config
from .icmr import ICMRConfig

__all__ = [
    "AUDIO_MODELS",
    "IMPORTANCE_VARIANTS",
    "CORRECTIONS",
    "ICMR_PARTS",
    "NetworkConfig",
    "FeatureExtractionConfig",
    "JointConfig",
    "AnalysisConfig",
    "ISMIRConfig",
]

#: Audio networks the ISMIR experiment can use (log-mel input with uniform crops).
AUDIO_MODELS = ("xception_audio", "choi2016")
#: How category-wise importance is computed (:mod:`avlib.analysis.importance`).
IMPORTANCE_VARIANTS = ("linear", "gradient")
#: Multiple-comparison corrections of the Spearman tests (:func:`avlib.analysis.correlation.adjust_pvalues`).
CORRECTIONS = ("fdr_bh", "holm", "bonferroni", "none")
#: Smallest frame Inception v3 accepts.
MIN_FRAME_PX = 75


def _one_of(value, valid, what: str) -> None:
    if value not in valid:
        raise ParameterError(f"{what} must be one of {', '.join(map(repr, valid))}, got {value!r}")


@dataclass(frozen=True)
class NetworkConfig:
    """The multimodal network of both schemes (ISMIR Figure 1): ``audio_model``, the audio
    subnetwork (the paper: Xception-like, ``"xception_audio"``; or ``"choi2016"``), and
    ``n_frames`` frame vectors per video in the late fusion (the paper: one frame per 1 s audio
    segment)."""

    audio_model: str = "xception_audio"
    n_frames: int = 1

    def __post_init__(self):
        _one_of(self.audio_model, AUDIO_MODELS, "network.audio_model")
        if self.n_frames < 1:
            raise ParameterError(f"network.n_frames must be at least 1, got {self.n_frames}")


@dataclass(frozen=True)
class FeatureExtractionConfig:
    """The feature-extraction scheme (Figure 1, left): ``subnetworks = "train"`` trains the audio
    and frame networks here on the ISMIR inputs with the ``icmr`` schedules; ``"icmr_store"``
    takes the ICMR pages' stored runs of the same seed (trained and stored there when missing).
    Either way the late fusion is trained here on their frozen features."""

    subnetworks: str = "train"

    def __post_init__(self):
        _one_of(self.subnetworks, ("train", "icmr_store"), "feature_extraction.subnetworks")


@dataclass(frozen=True)
class JointConfig:
    """The joint scheme (Figure 1, right), trained end to end: Adam at ``lr`` halved every
    ``lr_step`` epochs, early stopping after ``patience`` (the reference code's multimodal
    schedule), ``epochs``, ``batch``. ``max_train``: at most this many training videos (a subset
    drawn with the seed; None: all). ``train_frames``: ``"random"`` draws the video's frames anew
    every epoch, ``"first"`` keeps them fixed, spread over the video. ``seeds``: the training
    seeds whose joint scheme is trained (None: every seed of the page)."""

    seeds: tuple | None = None
    epochs: int = 100
    batch: int = 32
    lr: float = 1e-3
    lr_step: int | None = 10
    patience: int | None = 10
    max_train: int | None = None
    train_frames: str = "random"

    def __post_init__(self):
        _one_of(self.train_frames, ("random", "first"), "joint.train_frames")


@dataclass(frozen=True)
class AnalysisConfig:
    """The correspondence analysis (Sec. 2.1-2.2).

    ``importance``: ``"linear"`` (the paper's ``L^c`` over the weights of a linear read-out on
    the concatenated features) or ``"gradient"`` (per-example gradients of the late-fusion
    head); ``k_audio`` / ``k_visual``: the top features per category (10 and 20); ``groups``:
    which videos count for category c, ``"predicted"`` (the paper's F(d) = c) or ``"label"``;
    ``split``: the videos analysed (``"all"`` or one split). Spearman tests with ``correction``
    within each category's inter-modal pairs at ``alpha``; ``strong``: the mean |rho| a
    modality needs for "strong intra-modal correlation". Grad-CAM: ``gradcam_per_category``
    correct and as many wrong test videos for each of ``gradcam_categories`` categories;
    ``gradcam_frame_px``: frames smaller than this are enlarged to it for the Grad-CAM pass
    only, so that Inception v3's last block has more than one cell (None: the frames as the
    network sees them).
    """

    importance: str = "linear"
    k_audio: int = 10
    k_visual: int = 20
    groups: str = "predicted"
    split: str = "all"
    alpha: float = 0.05
    correction: str = "fdr_bh"
    strong: float = 0.5
    gradcam_per_category: int = 3
    gradcam_categories: int = 4
    gradcam_frame_px: int | None = None

    def __post_init__(self):
        _one_of(self.importance, IMPORTANCE_VARIANTS, "analysis.importance")
        _one_of(self.groups, ("predicted", "label"), "analysis.groups")
        _one_of(self.split, ("all", "train", "val", "test"), "analysis.split")
        _one_of(self.correction, CORRECTIONS, "analysis.correction")
        if self.gradcam_frame_px is not None and self.gradcam_frame_px < MIN_FRAME_PX:
            raise ParameterError(f"analysis.gradcam_frame_px must be at least {MIN_FRAME_PX} (or None), "
                                 f"got {self.gradcam_frame_px}")


def _paper_icmr() -> ICMRConfig:
    """The ICMR settings of the ISMIR paper: the ICMR paper's, on 1 s log-mels."""
    icmr = ICMRConfig()
    return dataclasses.replace(icmr, audio=dataclasses.replace(icmr.audio, choi_seconds=1.0))


#: The parts of the ICMR configuration the ISMIR experiment reads (besides ``scale``, which
#: names the ICMR pages' stored runs): the inputs and the separate trainings.
ICMR_PARTS = ("audio", "visual", "fusion")


def _icmr_scale(scale: str) -> dict:
    """The ICMR overrides of ``scale`` for the parts the ISMIR experiment reads, as dotted keys of
    the ``icmr`` section."""
    return {"icmr.scale": scale, **{f"icmr.{k}": v for k, v in ICMRConfig.SCALES[scale].items()
                                    if k.split(".")[0] in ICMR_PARTS}}


@dataclass(frozen=True)
class ISMIRConfig(Config):
    """Every setting of the ISMIR 2017 page; the defaults are the paper's.

    Top level: ``scale``; ``seeds`` (training seeds: one run of each scheme per seed, intervals
    over them); ``torch_threads`` (intra-op threads of the page; None: PyTorch's default);
    ``n_jobs`` (feature-extraction workers, None: all cores; no effect on the numbers);
    ``check_epochs_factor`` (the convergence check runs both schemes again with every training,
    the separate subnetworks, the fusion and the joint scheme, at this fraction of its epochs;
    None: no check); ``check_seeds`` (the training seeds the check runs again, compared with the
    full-length runs of the same seeds; None: every seed).
    """

    scale: str = "paper"
    seeds: tuple = (0, 1, 2)
    torch_threads: int | None = None
    n_jobs: int | None = None
    check_epochs_factor: float | None = None
    check_seeds: tuple | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)
    feature_extraction: FeatureExtractionConfig = field(default_factory=FeatureExtractionConfig)
    joint: JointConfig = field(default_factory=JointConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    icmr: ICMRConfig = field(default_factory=_paper_icmr)

    SCALES = {
        "paper": {},
        "cpu": {
            "seeds": [0, 1],
            "torch_threads": 2,
            "check_epochs_factor": 0.5,
            "check_seeds": [0],
            "network.audio_model": "choi2016",
            "feature_extraction.subnetworks": "icmr_store",
            "joint.epochs": 8,
            "joint.batch": 16,
            "joint.lr_step": None,
            "joint.patience": None,
            "joint.max_train": 300,
            "analysis.gradcam_per_category": 1,
            "analysis.gradcam_frame_px": 299,
            **_icmr_scale("cpu"),
        },
        "smoke": {
            "seeds": [0],
            "torch_threads": 2,
            "network.audio_model": "choi2016",
            "joint.seeds": [0],
            "joint.epochs": 1,
            "joint.batch": 8,
            "joint.lr_step": None,
            "joint.patience": None,
            "analysis.gradcam_per_category": 1,
            "analysis.gradcam_frame_px": 299,
            **_icmr_scale("smoke"),
            "icmr.visual.lr": 1e-3,
        },
    }

    DRY_RUN = {
        "seeds": [0],
        "torch_threads": 2,
        "joint.epochs": 1,
        "joint.batch": 2,
        "analysis.gradcam_per_category": 1,
        "analysis.gradcam_categories": 2,
        **{f"icmr.{k}": v for k, v in ICMRConfig.DRY_RUN.items()},
    }

    NOTES = {
        "paper": (
            "The paper's settings (ISMIR 2017 LBD, Sec. 2): the Xception-like audio network on 1 s log-mels and "
            "Inception v3 on one frame per audio segment, both trained separately here with the ICMR paper's "
            "schedules for the feature-extraction scheme; the joint scheme with the reference code's multimodal "
            "schedule (Adam 1e-3 halved every 10 epochs, early stopping); importance from a linear read-out "
            "(the paper's L^c)."
        ),
        "cpu": (
            "Choi et al.'s audio network instead of Xception (2.5 times cheaper to train end to end), on the "
            "ICMR cpu inputs (1.456 s log-mels, 80 px frames, one frame per video) instead of 1 s segments. "
            "Feature extraction reuses the ICMR pages' networks of the same seed. The joint scheme trains 8 "
            "epochs on a seeded subset of 300 training videos, batch 16, from the ICMR image-bank pre-training, "
            "keeping the epoch of lowest validation loss. Grad-CAM at 299 px, one correct and one wrong video "
            "per category. The first seed's schemes run again at half their epochs; a claim that moves by more "
            "than its interval's half-width is marked as not converged."
        ),
        "smoke": (
            "Checks that everything runs; the numbers mean nothing: the ICMR smoke inputs, subnetworks trained "
            "here (frame network at learning rate 1e-3), one joint epoch, one seed."
        ),
    }

    def __post_init__(self):
        if not self.seeds:
            raise ParameterError("seeds must name at least one training seed")
