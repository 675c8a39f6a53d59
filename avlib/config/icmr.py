"""Configuration of the ICMR 2017 experiments (Slizovskaia, Gómez, Haro: Tables 1-4, Figures 2-3).

One frozen object describes every page of the ICMR chapter::

    cfg = ICMRConfig.for_scale("cpu").with_overrides({"audio.epochs": 3})

The dataclass defaults are the paper's settings (Sec. 3.4 and 4.2 of the paper; the authors'
reference code where it fixes what the text leaves open); ``SCALES`` holds the dotted
overrides of the smaller scales and ``NOTES`` says in a few sentences what they change and why.
The sections follow the paper's experiments: ``audio`` (Table 3), ``visual`` (Table 2),
``fusion`` (Table 4, Figure 2), ``robustness`` (the missing-modality claim of the abstract),
``youtube8m`` (Figure 3 and the YouTube-8M rows, see :meth:`ICMRConfig.for_youtube8m`) and
``table1`` (dataset statistics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Config

__all__ = [
    "AudioConfig",
    "VisualConfig",
    "FusionConfig",
    "RobustnessConfig",
    "YouTube8MConfig",
    "Table1Config",
    "ICMRConfig",
]


@dataclass(frozen=True)
class AudioConfig:
    """Audio networks of Table 3 (Sec. 3.1, 4.2).

    ``models``: the table's rows as ``(network, crop)``; ``choi_seconds``: length of the
    Choi/Xception log-mel input (29.12 s = 1366 frames in the paper); Han et al. on
    ``han_segments`` segments of ``han_segment_seconds`` with dropout ``han_dropout``
    (after each conv pair, after FC1024); ``logmel_scale``: the authors'
    ``logamplitude(melspectrogram ** 2)`` by default (:mod:`avlib.features.audio`). Adam at
    ``lr`` halved every ``lr_step`` epochs, early stopping after ``patience``;
    ``lr_schedule="onecycle"`` replaces both (:class:`avlib.train.loop.TrainConfig`).
    ``epochs_override`` / ``lr_override``: ``((network, value), ...)`` for single networks.
    """

    models: tuple = (("han2016", "UC"), ("choi2016", "CC"), ("choi2016", "UC"), ("xception_audio", "UC"))
    choi_seconds: float = 29.12
    han_segments: int = 10
    han_segment_seconds: float = 3.0  # the paper's text: "approximately 3 seconds" per 128 x 43 segment
    han_dropout: tuple = (0.25, 0.5)
    logmel_scale: str = "power_squared"
    epochs: int = 100
    epochs_override: tuple = ()
    lr_override: tuple = ()
    batch: int = 16
    lr: float = 1e-3
    lr_step: int | None = 10
    patience: int | None = 10
    lr_schedule: str | None = None


@dataclass(frozen=True)
class VisualConfig:
    """Inception v3 on frames, Table 2 (Sec. 3.2, 4.2-4.3).

    Frames resized to ``frame_resize`` and centre-cropped to ``frame_size``; ``frames_grid``
    (frames per training video) x ``pretrain_grid`` are the table's rows; ``eval_frames``
    frames spread over each test video. SGD (``optimizer``) at ``lr``, momentum 0.9, halved
    every ``lr_step`` epochs, early stopping after ``patience``. ``backbone``: ``"finetune"``
    (the paper) or ``"frozen"`` (cached backbone features; only the classifier trains per
    seed). Pre-training on the benchmark's image bank: ``pretrain_epochs`` at ``pretrain_lr``,
    at most ``pretrain_images_per_class`` images per class (None: all).
    """

    frame_resize: int = 256
    frame_size: int = 224
    frames_grid: tuple = (20, 30, 50, 100)
    pretrain_grid: tuple = (False, True)
    eval_frames: int = 100
    epochs: int = 100
    batch: int = 64
    lr: float = 1e-4
    optimizer: str = "sgd"
    lr_step: int | None = 5
    patience: int | None = 5
    backbone: str = "finetune"
    pretrain_epochs: int = 30
    pretrain_lr: float = 1e-3
    pretrain_images_per_class: int | None = None


@dataclass(frozen=True)
class FusionConfig:
    """Late fusion, Table 4 (Sec. 3.3): ``frames`` frame vectors per video (50 for FCVID),
    fed by the visual run ``visual = (frames per training video, pre-trained)``; Adam at ``lr``
    halved every ``lr_step`` epochs, early stopping after ``patience``. ``hidden``: one FC1024
    as in the reference code; the paper's text says two, ``(1024, 1024)``."""

    frames: int = 50
    visual: tuple = (50, True)
    epochs: int = 100
    batch: int = 32
    lr: float = 1e-3
    lr_step: int | None = 10
    patience: int | None = 10
    hidden: tuple = (1024,)


@dataclass(frozen=True)
class RobustnessConfig:
    """Missing or degraded modalities (the abstract's robustness claim): audio noise at each
    SNR of ``snr_db`` and the share ``keep_fractions`` of the frames kept."""

    snr_db: tuple = (20.0, 10.0, 0.0, -10.0)
    keep_fractions: tuple = (1.0, 0.5, 0.25, 0.0)


@dataclass(frozen=True)
class YouTube8MConfig:
    """Figure 3 and the YouTube-8M rows of Tables 2-4 (see :meth:`ICMRConfig.for_youtube8m`).

    ``frames``: the paper fuses 20 frames per YouTube-8M video (Table 4) with the 20-frame
    visual model (Table 2); the fusion's frame counts are capped there. ``audio``: the audio
    row ``(network, crop)`` (Choi et al. + UC, the paper's best on YouTube-8M). ``seeds`` and
    ``audio_epochs``, when set, replace ``seeds`` and ``audio.epochs`` on this page only.
    """

    frames: int = 20
    audio: tuple = ("choi2016", "UC")
    seeds: tuple | None = None
    audio_epochs: int | None = None


@dataclass(frozen=True)
class Table1Config:
    """Table 1 (dataset statistics): ``include_embedded`` adds the statistics of the embedded
    benchmark, which at the paper's scale means generating the FCVID-sized one."""

    include_embedded: bool = False


@dataclass(frozen=True)
class ICMRConfig(Config):
    """Every setting of the ICMR 2017 pages; the defaults are the paper's.

    Top level: ``scale``; ``seeds`` (training seeds: one run per seed, intervals over them);
    ``workers`` (processes for the independent audio runs, one intra-op thread each when
    more than one: the thread count changes the numbers, so it is part of the setting);
    ``torch_threads`` (intra-op threads of the page); ``n_jobs`` (feature-extraction
    workers, None: all cores; no effect on the numbers); ``check_epochs_factor`` (the
    convergence check trains every model of a page again at this fraction of its epochs;
    None: no check); ``check_seeds`` (the training seeds the check trains again, compared with
    the full-length runs of the same seeds; None: every seed).
    """

    scale: str = "paper"
    seeds: tuple = (0, 1, 2)
    workers: int = 1
    torch_threads: int = 8
    n_jobs: int | None = None
    check_epochs_factor: float | None = None
    check_seeds: tuple | None = None
    audio: AudioConfig = field(default_factory=AudioConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    youtube8m: YouTube8MConfig = field(default_factory=YouTube8MConfig)
    table1: Table1Config = field(default_factory=Table1Config)

    SCALES = {
        "paper": {},
        "cpu": {
            "seeds": [0, 1],
            "workers": 2,
            "torch_threads": 2,
            "check_epochs_factor": 0.5,
            "check_seeds": [0],
            "audio.choi_seconds": 1.456,
            "audio.han_segments": 2,
            "audio.han_segment_seconds": 1.0,
            "audio.han_dropout": [0.0, 0.0],
            "audio.epochs": 4,
            "audio.lr_override": [["han2016", 3e-4]],
            "audio.lr_step": None,
            "audio.patience": None,
            "audio.lr_schedule": "onecycle",
            "visual.frame_resize": 92,
            "visual.frame_size": 80,
            "visual.frames_grid": [2, 4],
            "visual.eval_frames": 4,
            "visual.epochs": 30,
            "visual.lr": 1e-3,
            "visual.optimizer": "adam",
            "visual.lr_step": None,
            "visual.patience": None,
            "visual.backbone": "frozen",
            "visual.pretrain_epochs": 6,
            "fusion.frames": 4,
            "fusion.visual": [4, True],
            "fusion.epochs": 5,
            "fusion.lr_step": None,
            "fusion.patience": None,
            "youtube8m.seeds": [0],
            "youtube8m.audio_epochs": 2,
            "table1.include_embedded": True,
        },
        "smoke": {
            "seeds": [0],
            "workers": 1,
            "torch_threads": 2,
            "audio.choi_seconds": 1.456,
            "audio.han_segments": 2,
            "audio.han_segment_seconds": 1.0,
            "audio.epochs": 1,
            "audio.batch": 8,
            "audio.lr_step": None,
            "audio.patience": None,
            "visual.frame_resize": 84,
            "visual.frame_size": 75,
            "visual.frames_grid": [1],
            "visual.eval_frames": 2,
            "visual.epochs": 3,
            "visual.batch": 16,
            "visual.lr": 1e-2,
            "visual.lr_step": None,
            "visual.patience": None,
            "visual.backbone": "frozen",
            "visual.pretrain_epochs": 1,
            "visual.pretrain_images_per_class": 2,
            "fusion.frames": 2,
            "fusion.visual": [1, True],
            "fusion.epochs": 2,
            "fusion.lr_step": None,
            "fusion.patience": None,
            "robustness.snr_db": [10.0, -10.0],
            "robustness.keep_fractions": [1.0, 0.5, 0.0],
            "table1.include_embedded": True,
        },
    }

    DRY_RUN = {
        "seeds": [0],
        "workers": 1,
        "torch_threads": 2,
        "audio.epochs": 1,
        "audio.batch": 2,
        "visual.epochs": 1,
        "visual.batch": 2,
        "visual.frames_grid": [50, 100],  # Table 2's rows at 50 (the fusion's input) and 100 frames
        "visual.pretrain_epochs": 1,
        "visual.pretrain_images_per_class": 2,
        "fusion.epochs": 1,
        "fusion.batch": 2,
        "youtube8m.seeds": [0],
        "youtube8m.audio_epochs": 1,
    }

    NOTES = {
        "paper": (
            "The paper's settings (Sec. 3.4 and 4.2; the reference code for the audio and fusion schedules): "
            "29.12 s log-mels in the authors' dB scale, Han et al. on ten 3 s segments, 224 px frames spread "
            "over the whole video, Inception v3 fine-tuned end to end. The late fusion has one FC1024 layer as "
            "in the reference code; the paper's text says two (fusion.hidden = (1024, 1024))."
        ),
        "cpu": {
            "": ("Shorter inputs and training so that the ICMR pages run on two CPU cores with two training "
                 "seeds. Every model of the first seed is trained again at half its epochs; a claim whose effect "
                 "moves on that seed by more than its interval's half-width is marked as not converged."),
            "audio": ("Audio: 1.456 s log-mels for Choi et al. and Xception instead of 29.12 s; Han et al. on two "
                      "1 s segments instead of ten of 3 s, without dropout and at lr 3e-4 (with the paper's dropout "
                      "one short epoch stayed at chance); 4 epochs with a one-cycle learning rate instead of early "
                      "stopping, keeping the epoch with the lowest validation loss."),
            "visual": ("Frames: 80 px crops of 92 px frames instead of 224 of 256, 2 or 4 random frames per "
                       "training video instead of 20-100, 4 per test video. The Inception v3 backbone is frozen "
                       "and shared by all seeds: 'pre-trained' is 6 epochs on the benchmark's image bank (standing "
                       "in for ImageNet), 'scratch' is the random initialisation, so the pre-training effect "
                       "compares pre-trained with random features; per seed only a linear classifier trains "
                       "(30 epochs, Adam 1e-3)."),
            "fusion": ("Fusion over 4 frames instead of 50, 5 epochs, on the audio and frame networks of the two "
                       "pages before."),
            "youtube8m": ("The YouTube-8M page trains the FCVID pages' audio, frame and fusion models at their cpu "
                          "settings, with one seed and 2 audio epochs."),
        },
        "smoke": (
            "Checks that everything runs; the numbers mean nothing: 1.5 s log-mels, two 1 s Han et al. "
            "segments, 75 px frames, one frame per training video, one audio epoch, a frozen backbone with "
            "3 classifier epochs, one seed."
        ),
    }

    def for_youtube8m(self) -> "ICMRConfig":
        """The configuration the YouTube-8M page trains with (Figure 3, YouTube-8M rows).

        ``fusion.frames`` and the frames of ``fusion.visual`` are capped at ``youtube8m.frames``
        (the paper: 20 frames on YouTube-8M against 50 on FCVID; the smaller scales already use
        fewer); ``youtube8m.seeds`` and ``youtube8m.audio_epochs`` replace ``seeds`` and
        ``audio.epochs`` when set.
        """
        y = self.youtube8m
        over = {"fusion.frames": min(int(self.fusion.frames), int(y.frames)),
                "fusion.visual": [min(int(self.fusion.visual[0]), int(y.frames)), bool(self.fusion.visual[1])]}
        if y.seeds is not None:
            over["seeds"] = list(y.seeds)
        if y.audio_epochs is not None:
            over["audio.epochs"] = int(y.audio_epochs)
        return self.with_overrides(over)
