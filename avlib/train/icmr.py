"""Experiments of ICMR 2017 (Slizovskaia, Gomez, Haro): Tables 2-4, Figures 2-3, robustness.

The notebooks ``icmr_audio`` (Table 3), ``icmr_visual`` (Table 2) and ``icmr_fusion``
(Table 4, Figures 2-3, missing/degraded modalities) call the ``run_*`` functions below;
everything they do is here so it can be tested.

Layers
------
* presets: :data:`PRESETS` / :func:`get_preset` (``smoke``, ``cpu``, ``paper``), each with a
  ``changes`` text that says what differs from the paper (printed in captions);
* data: :func:`load_benchmark` (embedded benchmark or a real FCVID/YouTube-8M tree with the
  same layout), :func:`audio_inputs`, :func:`frame_inputs`, :func:`image_bank`;
* training on arrays (no files): :func:`train_audio_model`, :func:`audio_scores`,
  :func:`pretrain_on_image_bank`, :func:`train_frame_model`, :func:`frame_scores`,
  :func:`train_fusion`, :func:`export_features`;
* fusion from the authors' feature files (HDF5, :mod:`avlib.data.fcvid`):
  :func:`run_fusion_from_feature_file` (or :func:`run_fusion_from_features` on features in
  memory) with a video list (:func:`read_video_list`); :func:`export_feature_file` writes a
  :class:`FeatureStore`'s audio and frame features in that layout; :func:`predict_fusion`;
* robustness: :func:`degrade_logmel`, :func:`drop_frames`, :func:`degradation_table`;
* throughput: :func:`measure_throughput`, :func:`training_flops`, :func:`titan_x_estimate`;
* notebook entry points: :func:`run_audio_table`, :func:`run_visual_table`,
  :func:`run_fusion_table`, :func:`plot_confusions`, :func:`plot_degradation`;
* YouTube-8M-style variant (Figure 3, YouTube-8M rows of Tables 2-4):
  ``load_benchmark(..., source="embedded_yt8m")``, :func:`run_youtube8m_figure`,
  :func:`youtube8m_preset`, :func:`youtube8m_class_counts`.

Exported penultimate features (the ISMIR chapter and the fusion notebook read them) are
stored per run in a :class:`FeatureStore` under ``cache_root(data_root)/icmr/<scale>/seed<seed>``:
``<tag>.npz`` with ``ids``, ``split``, ``labels``, ``features`` (audio ``(n, 1024)``, frames
``(n, k, 2048)``), ``probs`` (video-level class probabilities) and a JSON ``meta`` string.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import DataError, ParameterError
from ..metrics.classification import classification_summary, confusion, softmax
from ..utils import seed_everything
from .loop import TrainConfig, fit, predict

__all__ = [
    "ICMRPreset",
    "PRESETS",
    "get_preset",
    "fidelity_options",
    "metric_summary",
    "Benchmark",
    "load_benchmark",
    "audio_inputs",
    "frame_inputs",
    "image_bank",
    "FeatureStore",
    "count_params",
    "export_features",
    "train_audio_model",
    "audio_model_kwargs",
    "audio_scores",
    "pretrain_on_image_bank",
    "train_frame_model",
    "frame_scores",
    "train_fusion",
    "read_video_list",
    "FusionInputs",
    "fusion_inputs",
    "run_fusion_from_features",
    "run_fusion_from_feature_file",
    "store_features",
    "export_feature_file",
    "run_fusion_from_files",
    "predict_fusion",
    "degrade_logmel",
    "drop_frames",
    "degradation_table",
    "measure_throughput",
    "titan_x_estimate",
    "training_flops",
    "TITAN_X_PEAK_TFLOPS",
    "run_audio_table",
    "run_visual_table",
    "run_fusion_model",
    "run_fusion_table",
    "YT8M_SOURCE",
    "YT8M_FUSION_FRAMES",
    "youtube8m_preset",
    "youtube8m_class_counts",
    "run_youtube8m_figure",
    "plot_confusions",
    "plot_degradation",
    "F1_LABELS",
]


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class ICMRPreset:
    """Settings of the ICMR experiments for one scale.

    Audio (Table 3): ``audio_models`` rows ``(model, crop)``; ``choi_seconds`` is the length of
    the Choi/Xception log-mel input (29.12 s = 1366 frames in the paper); Adam with
    ``audio_lr`` halved every ``audio_lr_step`` epochs, early stopping ``audio_patience``.
    Visual (Table 2): ``frame_size`` (224 in the paper) after resizing to ``frame_resize``;
    ``frames_grid`` (frames per training video) x ``pretrain_grid``; SGD as in the paper.
    Fusion (Table 4): ``fusion_frames`` frame vectors per video (50 FCVID in the paper).
    """

    scale: str
    # audio
    audio_models: tuple = (("han2016", "UC"), ("choi2016", "CC"), ("choi2016", "UC"), ("xception_audio", "UC"))
    choi_seconds: float = 29.12
    han_segments: int = 10
    han_segment_seconds: float = 3.0  # paper text (Sec. 4.2): "approximately 3 seconds" per 128 x 43 segment
    han_dropout: tuple = (0.25, 0.5)  # Han et al.: dropout after each conv pair, after the FC layer
    logmel_scale: str = "power_squared"  # authors' logamplitude(melspectrogram ** 2); see avlib.features.audio
    audio_epochs: int = 100
    audio_epochs_override: tuple = ()  # ((model, epochs), ...)
    audio_lr_override: tuple = ()  # ((model, lr), ...)
    audio_batch: int = 16
    audio_lr: float = 1e-3
    audio_lr_step: int | None = 10
    audio_patience: int | None = 10
    audio_lr_schedule: str | None = None  # "onecycle": see avlib.train.loop.TrainConfig (reduced presets)
    # convergence check: every training of the pages (audio, frame classifier, fusion) again at this
    # factor of its epochs; a claim whose effect moves by more than its half-width is not converged
    check_epochs_factor: float | None = None
    # visual
    frame_resize: int = 256
    frame_size: int = 224
    frames_grid: tuple = (20, 30, 50, 100)
    pretrain_grid: tuple = (False, True)
    eval_frames: int = 100
    visual_epochs: int = 100
    visual_batch: int = 64
    visual_lr: float = 1e-4
    visual_optimizer: str = "sgd"
    visual_lr_step: int | None = 5
    visual_patience: int | None = 5
    visual_backbone: str = "finetune"  # "frozen": cached backbone features, only the classifier trains per seed
    pretrain_epochs: int = 30
    pretrain_lr: float = 1e-3
    pretrain_images_per_class: int | None = None
    # fusion
    fusion_frames: int = 50
    fusion_visual: tuple = (50, True)  # (frames, pretrained) of the visual model feeding fusion
    fusion_epochs: int = 100
    fusion_batch: int = 32
    fusion_lr: float = 1e-3
    fusion_lr_step: int | None = 10
    fusion_patience: int | None = 10
    fusion_hidden: tuple = (1024,)  # reference code: one FC1024; the paper's text: (1024, 1024)
    # robustness figure
    snr_db: tuple = (20.0, 10.0, 0.0, -10.0)
    keep_fractions: tuple = (1.0, 0.5, 0.25, 0.0)
    changes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self, *names) -> str:
        """Short hash of the named fields (or of all), used to key cached features."""
        d = self.to_dict()
        d = {n: d[n] for n in names} if names else d
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:10]


PRESETS: dict[str, ICMRPreset] = {
    "paper": ICMRPreset(
        scale="paper",
        changes=(
            "Paper settings (Sec. 3.4, 4.2; reference code for the audio and fusion schedules): "
            "Adam 1e-3 halved every 10 epochs, patience 10 (audio, fusion); SGD 1e-4 momentum .9 "
            "halved every 5 epochs, batch 64, patience 5 (visual); 224 px frames; 29.12 s log-mels "
            "in the authors' dB scale (10 log10 of the squared mel power, 80 dB floor); Han et al. on "
            "3 s segments (128 x 43 at 7.35 kHz, the paper's text); frames spread over the whole video; "
            "late fusion with one FC1024 layer as in the reference code (the paper's text says two: "
            "fusion_hidden=(1024, 1024))."
        ),
    ),
    "cpu": ICMRPreset(
        scale="cpu",
        choi_seconds=1.456,
        han_segments=2,
        han_segment_seconds=1.0,
        audio_epochs=4,
        audio_epochs_override=(),
        audio_lr_schedule="onecycle",
        check_epochs_factor=0.5,
        han_dropout=(0.0, 0.0),
        audio_lr_override=(("han2016", 3e-4),),
        audio_batch=16,
        audio_lr_step=None,
        audio_patience=None,
        frame_resize=92,
        frame_size=80,
        frames_grid=(2, 4),
        pretrain_grid=(False, True),
        eval_frames=4,
        visual_epochs=30,
        visual_batch=64,
        visual_lr=1e-3,
        visual_optimizer="adam",
        visual_lr_step=None,
        visual_patience=None,
        visual_backbone="frozen",
        pretrain_epochs=6,
        pretrain_images_per_class=None,
        fusion_frames=4,
        fusion_visual=(4, True),
        fusion_epochs=5,
        fusion_lr_step=None,
        fusion_patience=None,
        changes=(
            "cpu preset (2 CPU cores; about 25 min for the four ICMR pages with 2 training seeds and the "
            "convergence check on ~1,600 short videos): Choi/Xception log-mels of 1.456 s (69 frames; UC = ten 0.146 s "
            "uniform crops, CC = the central 1.46 s) instead of 29.12 s (1366 frames); Han et al. on 2 "
            "segments per video instead of 10, each 1 s (43 frames at 22.05 kHz, Han et al.'s own "
            "setting) instead of the paper's 3 s; Han et al. WITHOUT DROPOUT (the paper's .25 after each conv "
            "pair and .5 after FC1024) and at lr 3e-4: in one epoch (140 batches of 16 segments) the dropout "
            "kept it at chance (train loss stayed at ln 12; measured: validation segment accuracy 10 % with, "
            "46 % without, seed 0); 4 audio epochs per model with a one-cycle learning-rate schedule "
            "instead of early stopping with patience 10 (at one epoch Choi UC reached 35 % Hit@1, at two "
            "66 %, at three 69 %); the convergence check trains every model of each page again at half its "
            "epochs (audio 2, frame classifier 15, fusion 2) and marks a claim whose effect moves by more "
            "than its interval's half-width as not converged; "
            "the weights of the epoch with the lowest validation loss are kept; frames resized to 92 px and centre-cropped "
            "to 80 px instead of 256/224; 2 or 4 random frames per training video instead of 20-100 and 4 "
            "frames spread over the video (1 fps) per test video; FROZEN BACKBONE: Inception v3 is not "
            "fine-tuned. One backbone per row type is shared by all seeds (as the paper's fixed ImageNet "
            "weights): 'pre-trained' = 6 epochs (Adam 1e-3) on the benchmark's isolated-instrument image "
            "bank (stand-in for ImageNet + instrument fine-tuning), 'scratch' = the random initialisation "
            "(seed 0); both get their batch-norm statistics re-estimated on 512 training frames, their "
            "pooled 2048-d features of every frame are computed once and cached, and per seed only the "
            "classifier (train-set standardisation, std floored at 0.1 x its mean; linear, no dropout as in the reference) is "
            "trained, 30 epochs with Adam "
            "lr 1e-3, batch 64, on the features of the seed's k random frames per training video. So "
            "'scratch' here is a random-feature model, not an end-to-end training from random weights, "
            "and the pre-training effect measures pre-trained against random features; fusion over 4 "
            "frames instead of 50, 5 epochs (5,600 example steps, about the 6,000 of the earlier 288-video preset); the best validation epoch is kept instead of early "
            "stopping; the (model, seed) audio runs go to 2 processes of 1 intra-op thread each "
            "(notebook parameter seed_workers); bf16 autocast is not used (this CPU has no bf16 "
            "instructions: Han training measured about 10x slower), nor channels_last on the CPU (no reliable "
            "gain measured on the shared machine)."
        ),
    ),
    "smoke": ICMRPreset(
        scale="smoke",
        choi_seconds=1.456,
        han_segments=2,
        han_segment_seconds=1.0,
        audio_epochs=1,
        audio_batch=8,
        audio_lr_step=None,
        audio_patience=None,
        frame_resize=84,
        frame_size=75,
        frames_grid=(1,),
        pretrain_grid=(False, True),
        eval_frames=2,
        visual_epochs=3,
        visual_batch=16,
        visual_lr=1e-2,
        visual_backbone="frozen",
        visual_lr_step=None,
        visual_patience=None,
        pretrain_epochs=1,
        pretrain_images_per_class=2,
        fusion_frames=2,
        fusion_visual=(1, True),
        fusion_epochs=2,
        fusion_lr_step=None,
        fusion_patience=None,
        snr_db=(10.0, -10.0),
        keep_fractions=(1.0, 0.5, 0.0),
        changes=(
            "smoke preset (checks that everything runs; numbers are meaningless): 1.5 s log-mels, "
            "2 Han segments of 1 s, 75 px frames, 1 frame per training video, 1 epoch per model; "
            "frozen Inception v3 backbone as in the cpu preset (3 classifier epochs)."
        ),
    ),
}


def fidelity_options(preset: ICMRPreset) -> pd.DataFrame:
    """Which variant of each choice the papers leave open (or state differently from the
    authors' code) this run used: one row per option, with the paper's text and the code's.

    The ICMR pages print this table, so a reader sees which options ran (issue "Fidelity").
    """
    from ..models.late_fusion import FUSION_HIDDEN

    hidden = tuple(preset.fusion_hidden)
    fusion = ("reference" if hidden == FUSION_HIDDEN["reference"] else
              "paper_text" if hidden == FUSION_HIDDEN["paper_text"] else "custom")
    rows = [
        ("log-mel scale", preset.logmel_scale,
         "log-mel spectrograms (no scale given)",
         "logamplitude(melspectrogram**2, ref_power=1.0): dB of the squared power, 80 dB floor",
         "power_squared = the authors' code; 'power' (librosa's power_to_db) is the option"),
        ("Han et al. segment", f"{preset.han_segment_seconds:g} s ({preset.han_segments} per video)",
         "128x43 input, about 3 s, 10 segments", "-", "the paper preset uses 3 s; smaller presets say why not"),
        ("Han et al. dropout", f"{preset.han_dropout[0]:g} after each conv pair, {preset.han_dropout[1]:g} after FC1024",
         "dropout after every second conv layer (rate not given)", "-",
         "Han et al. 2016: .25 and .5 (the paper preset); the cpu preset drops it (see its changes)"),
        ("Xception exit", "728 filters, 2x2 max-pool stride 2, no activation after the exit block",
         "768 filters (10.6 M parameters)", "728 filters (9.65 M, Table 3's 9.6 M), 2x2/2 pool, linear exit",
         "the code reproduces Table 3's parameter count"),
        ("frame classifier", "no dropout before the classifier", "-", "no dropout", ""),
        ("frames per video", "k frames spread uniformly over the video (1 fps cache)",
         "k frames selected at random per video", "-", "test and fusion frames span the whole video"),
        ("late-fusion hidden layers", f"{fusion}: {len(hidden)} x FC-{hidden[0] if hidden else 0}",
         "two FC-1024 layers", "one FC-1024 layer (106.1 M parameters at k = 50)",
         "FUSION_HIDDEN['paper_text'] gives the text's two layers"),
        ("frame backbone", preset.visual_backbone,
         "Inception v3 fine-tuned end to end", "-",
         "'frozen' = cached backbone features, only the classifier trains (see the preset's changes)"),
        ("F1 average", "support-weighted F1 (f1_score average='weighted'); macro F1 shown beside it, labelled",
         "F1-measure (the harmonic mean of precision and recall)",
         "scikit-learn classification_report, whose 'avg / total' row was support-weighted in 2017 (0.18/0.19)",
         "the paper's F1 column is the weighted F1; the macro F1 has no paper counterpart"),
        ("ties and missing modalities", "ties go to the lower class index in every metric; "
         "a video with no usable input is left out and counted (n_missing)", "-", "-", ""),
    ]
    return pd.DataFrame(rows, columns=["option", "this run", "paper's text", "authors' code", "note"])


def get_preset(scale: str, **overrides) -> ICMRPreset:
    """The preset of ``scale`` with field ``overrides`` (notebook parameters)."""
    from .presets import pick_preset

    preset = pick_preset(PRESETS, scale, overrides, family="ICMR")
    overrides = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                 for k, v in overrides.items()}
    return replace(preset, **overrides)


# --------------------------------------------------------------------------- data
@dataclass
class Benchmark:
    """A video collection in the FCVID layout with its official split.

    ``videos``: DataFrame with ``video_id``, ``category``, ``label``, ``split`` (train/val/test);
    ``video_root``: folder of ``<category>/<id>.mp4``; ``image_bank``: folder of
    ``<category>/*.png`` or None; ``categories``: class names in label order; ``source``: name
    for captions; ``cache_dir``: feature cache.
    """

    videos: pd.DataFrame
    video_root: Path
    image_bank: Path | None
    categories: list
    source: str
    cache_dir: Path
    root: Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    def split(self, name: str) -> pd.DataFrame:
        return self.videos[self.videos["split"] == name].reset_index(drop=True)


#: ``source`` value of the YouTube-8M-style embedded variant (:func:`load_benchmark`).
YT8M_SOURCE = "embedded_yt8m"

#: Folder name (under ``embedded/<scale>/`` and the feature cache) of each embedded ``source``.
_EMBEDDED_NAMES = {"embedded": "instruments", YT8M_SOURCE: "instruments_yt8m"}


def load_benchmark(data_root, *, scale: str, seed: int = 0, source: str = "embedded", n_jobs=None) -> Benchmark:
    """The instrument benchmark (generated if missing) or a real FCVID/YT-8M tree.

    ``source="embedded"`` calls :func:`avlib.data.instruments.ensure_instrument_benchmark`
    (FCVID-style); ``source="embedded_yt8m"`` (:data:`YT8M_SOURCE`) calls
    :func:`avlib.data.instruments.ensure_yt8m_benchmark` (the YouTube-8M-style variant, with its
    own folder and feature cache); any other value is a folder with the same layout
    (``videos.csv``, ``videos/<category>/<id>.mp4``, optionally ``image_bank/``). The split is
    :func:`avlib.data.icmr_metadata.split_frame` (the authors' 70/15/15 split).
    """
    from ..paths import cache_root

    try:
        from ..data.icmr_metadata import split_frame
    except ImportError:  # data module absent: the same rule, see _official_split
        split_frame = None

    if source == "embedded":
        from ..data.instruments import CATEGORIES, ensure_instrument_benchmark

        root = Path(ensure_instrument_benchmark(data_root, scale=scale, seed=seed, n_jobs=n_jobs))
        categories = list(CATEGORIES)
        name = "embedded benchmark"
        cache_name = _EMBEDDED_NAMES[source]
    elif source == YT8M_SOURCE:
        from ..data.instruments import CATEGORIES, ensure_yt8m_benchmark

        root = Path(ensure_yt8m_benchmark(data_root, scale=scale, seed=seed, n_jobs=n_jobs))
        categories = list(CATEGORIES)
        name = "embedded benchmark, YouTube-8M-style variant"
        cache_name = _EMBEDDED_NAMES[source]
    else:
        root = Path(source)
        if not (root / "videos.csv").is_file():
            raise DataError(f"{root} has no videos.csv (expected the FCVID layout)")
        categories = None
        name = root.name
        cache_name = "instruments"
    df = pd.read_csv(root / "videos.csv", dtype={"video_id": str})
    if categories is None:
        categories = list(df.sort_values("label").drop_duplicates("label")["category"])
    df["split"] = split_frame(df)["split"].to_numpy() if split_frame else _official_split(df).to_numpy()
    bank = root / "image_bank"
    video_root = root / "videos" if (root / "videos").is_dir() else root
    return Benchmark(df, video_root, bank if bank.is_dir() else None, categories, name,
                     Path(cache_root(data_root)) / cache_name, root)


def _official_split(df: pd.DataFrame) -> pd.Series:
    """The authors' split: list order, ``train_test_split(test_size=.3, random_state=10)``, then
    the 30 % into validation and test with ``test_size=.5, random_state=10`` (not stratified)."""
    from sklearn.model_selection import train_test_split

    ids = np.arange(len(df))
    tr, rest = train_test_split(ids, test_size=0.3, random_state=10)
    va, te = train_test_split(rest, test_size=0.5, random_state=10)
    out = np.empty(len(df), dtype=object)
    out[tr], out[va], out[te] = "train", "val", "test"
    return pd.Series(out, index=df.index)


def _extract(bench: Benchmark, df: pd.DataFrame, kind: str, n_jobs=None, **params) -> dict:
    from ..features.dataset import extract_features

    feats, report = extract_features(df, video_root=bench.video_root, kind=kind, cache_dir=bench.cache_dir,
                                     n_jobs=n_jobs, **params)
    if report.skipped:
        import warnings

        warnings.warn(f"{len(report.skipped)} videos skipped for {kind}: {report.skipped[:3]}", stacklevel=2)
    return {str(k): v for k, v in feats.items()}


def audio_inputs(bench: Benchmark, *, model: str, crop: str = "UC", preset: ICMRPreset, n_jobs=None) -> dict:
    """Log-mel inputs per video id (cached on disk by the feature module).

    ``han2016``: ``(n_segments, 128, 43)`` segments of ``preset.han_segment_seconds``;
    ``choi2016``/``xception_audio``: ``(96, 1 + round(choi_seconds * 12000) // 256)`` with
    ``crop`` "UC" or "CC". dB scale ``preset.logmel_scale`` (part of the cache key).
    """
    from ..features.audio import han_target_sr

    if model == "han2016":
        return _extract(bench, bench.videos, "han", n_jobs=n_jobs, n_segments=preset.han_segments,
                        target_sr=han_target_sr(preset.han_segment_seconds), scale=preset.logmel_scale)
    if crop.upper() not in ("UC", "CC"):
        raise ParameterError(f"crop must be 'UC' or 'CC', got {crop!r}")
    return _extract(bench, bench.videos, f"choi_{crop.lower()}", n_jobs=n_jobs, seconds=preset.choi_seconds,
                    scale=preset.logmel_scale)


def frame_inputs(bench: Benchmark, *, preset: ICMRPreset, n_frames: int | None = None, n_jobs=None) -> dict:
    """Frames per video id: uint8 ``(n, 3, size, size)``.

    At most ``k`` frames at 1 fps (spread uniformly over longer videos), resized to
    ``frame_resize`` squares (cached) and centre-cropped to ``frame_size`` (as
    :func:`avlib.features.frames.preprocess_frames`; flip and [-1, 1] scaling happen per batch).
    """
    k = n_frames or max(max(preset.frames_grid), preset.eval_frames, preset.fusion_frames)
    out = _extract(bench, bench.videos, "frames", n_jobs=n_jobs, k=k, mode="fps", rate=1.0,
                   size=preset.frame_resize)
    o = (preset.frame_resize - preset.frame_size) // 2
    c = preset.frame_size
    return {v: _frames_chw_uint8(np.asarray(a)[:, o:o + c, o:o + c]) for v, a in out.items()}


def _frames_chw_uint8(a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3:
        a = a[None]
    if a.shape[-1] == 3 and a.shape[1] != 3:  # (k, H, W, 3) -> (k, 3, H, W)
        a = a.transpose(0, 3, 1, 2)
    if a.dtype != np.uint8:  # floats in [-1, 1] or [0, 1]
        lo = -1.0 if a.min() < 0 else 0.0
        a = np.clip((a - lo) / (1.0 - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def image_bank(bench: Benchmark, *, size: int, resize: int | None = None, per_class: int | None = None,
               seed: int = 0):
    """Images of the isolated-instrument bank: uint8 ``(n, 3, size, size)`` and int labels.

    Each image is resized (shorter side ``resize``, default ``size``) and centre-cropped.
    ``per_class`` caps the images per category (chosen with ``seed``). Categories absent from
    the bank get no images.
    """
    from PIL import Image

    if bench.image_bank is None:
        raise DataError(f"{bench.source} has no image_bank folder")
    rng = np.random.default_rng(seed)
    resize = resize or size
    xs, ys = [], []
    for label, cat in enumerate(bench.categories):
        files = sorted((bench.image_bank / cat).glob("*.png")) + sorted((bench.image_bank / cat).glob("*.jpg"))
        if per_class is not None and len(files) > per_class:
            files = [files[i] for i in sorted(rng.choice(len(files), per_class, replace=False))]
        for f in files:
            with Image.open(f) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = resize / min(w, h)
                im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
                w, h = im.size
                left, top = (w - size) // 2, (h - size) // 2
                im = im.crop((left, top, left + size, top + size))
                xs.append(np.asarray(im).transpose(2, 0, 1))
                ys.append(label)
    if not xs:
        raise DataError(f"no images in {bench.image_bank}")
    return np.stack(xs).astype(np.uint8), np.asarray(ys, dtype=np.int64)


def _generation_tag(data_root, scale: str, source: str) -> str:
    """``-<hash>`` of an embedded benchmark's generation parameters ("" for real data or none yet).

    Keeps stored runs of a regenerated benchmark (other generator version, size or seed)
    apart from the old ones, so that they are never silently reused.
    """
    from ..paths import embedded_root

    if source not in _EMBEDDED_NAMES:
        return ""
    marker = embedded_root(data_root, scale, _EMBEDDED_NAMES[source]) / "generation.json"
    try:
        params = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    params = {k: v for k, v in params.items() if k not in ("seconds", "n_jobs", "n_videos")}
    return "-" + hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


class FeatureStore:
    """Exported features and video-level probabilities shared by the ICMR notebooks.

    ``store.save(tag, ...)`` / ``store.load(tag, key=...)``: an ``.npz`` per run; ``key``
    (a preset hash) must match or the entry counts as missing. Model weights go in
    ``<tag>.pt`` (:meth:`save_model`, :meth:`load_model`).
    """

    def __init__(self, root):
        self.root = Path(root)

    @classmethod
    def for_run(cls, data_root, *, scale: str, seed: int, source: str = "embedded") -> "FeatureStore":
        from ..paths import cache_root

        src = source if source in ("embedded", YT8M_SOURCE) else hashlib.sha1(str(source).encode()).hexdigest()[:8]
        return cls(Path(cache_root(data_root)) / "icmr" / src / scale / f"seed{seed}{_generation_tag(data_root, scale, source)}")

    def path(self, tag: str) -> Path:
        return self.root / f"{tag}.npz"

    def save(self, tag: str, *, key: str, ids, split, labels, features, probs, meta: dict | None = None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(tag)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=np.asarray(ids, dtype=str), split=np.asarray(split, dtype=str),
                 labels=np.asarray(labels), features=np.asarray(features, dtype=np.float32),
                 probs=np.asarray(probs, dtype=np.float32),
                 meta=json.dumps({"key": key, **(meta or {})}, default=str))
        tmp.replace(path)
        return path

    def load(self, tag: str, *, key: str | None = None) -> dict | None:
        path = self.path(tag)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
        out["meta"] = json.loads(str(out["meta"]))
        if key is not None and out["meta"].get("key") != key:
            return None
        return out

    def save_model(self, tag: str, model: nn.Module, *, key: str, extra: dict | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        torch.save({"state": model.state_dict(), "key": key, **(extra or {})}, self.root / f"{tag}.pt")

    def load_model(self, tag: str, *, key: str | None = None) -> dict | None:
        path = self.root / f"{tag}.pt"
        if not path.is_file():
            return None
        state = torch.load(path, map_location="cpu", weights_only=False)
        return state if key is None or state.get("key") == key else None


# --------------------------------------------------------------------------- helpers
def count_params(model: nn.Module) -> int:
    """Trainable parameters (as the paper's #Params)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Standardise(nn.Module):
    """Scalar standardisation of the input (train-set mean/std) in front of a model."""

    def __init__(self, model: nn.Module, mean: float, std: float):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def _norm(self, x):
        return (x - self.mean) / self.std

    def forward_features(self, x):
        return self.model.forward_features(self._norm(x))

    def forward_head(self, x, pre_logits: bool = False):
        return self.model.forward_head(x, pre_logits=pre_logits)

    def forward(self, x):
        return self.model(self._norm(x))


class _Penultimate(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


def export_features(model: nn.Module, x, *, batch_size: int = 32, device=None, input_transform=None) -> np.ndarray:
    """Penultimate-layer features ``forward_head(forward_features(x), pre_logits=True)``.

    ``x``: array or tensor ``(N, ...)`` of model inputs. Returns float32 ``(N, D)``.
    """
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if len(x) == 0:
        return np.zeros((0, getattr(model, "head_dim", 0)), np.float32)
    return predict(_Penultimate(model), (x,), batch_size=batch_size, device=device, has_targets=False,
                   input_transform=input_transform)


def _predict_inputs(model, x, *, batch_size, device=None, input_transform=None) -> np.ndarray:
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    return predict(model, (x,), batch_size=batch_size, device=device, has_targets=False,
                   input_transform=input_transform)


# --------------------------------------------------------------------------- audio
def _audio_array(model_name: str, inputs: list) -> np.ndarray:
    """Stack per-video log-mels: Han -> (n, S, 128, 43); others -> (n, 1, 96, T)."""
    arr = np.stack([np.asarray(a, dtype=np.float32) for a in inputs])
    if model_name == "han2016":
        if arr.ndim != 4:
            raise ParameterError(f"Han et al. inputs must be (n, segments, mels, frames), got {arr.shape}")
        return arr
    if arr.ndim == 3:
        arr = arr[:, None]
    return arr


def _build_audio_model(name: str, num_classes: int, input_shape, **model_kwargs) -> nn.Module:
    from ..models import get_model

    if name == "choi2016":
        return get_model(name, num_classes=num_classes, input_size=tuple(input_shape[-2:]), **model_kwargs)
    return get_model(name, num_classes=num_classes, **model_kwargs)


def audio_model_kwargs(preset: ICMRPreset, name: str) -> dict:
    """Constructor arguments the preset sets for audio model ``name`` (Han et al.'s dropout)."""
    if name == "han2016":
        conv_dropout, dropout = preset.han_dropout
        return {"conv_dropout": float(conv_dropout), "dropout": float(dropout)}
    return {}


def train_audio_model(
    name: str,
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    num_classes: int,
    config: TrainConfig,
    checkpoint_dir=None,
    device=None,
    model_kwargs: dict | None = None,
):
    """Train one audio model (Table 3) on stacked log-mel inputs; returns ``(model, history)``.

    ``x_*``: per-video arrays from :func:`audio_inputs` stacked (Han: ``(n, S, 128, 43)``, each
    segment is a training example with the video's label; Choi/Xception: ``(n, 96, T)``).
    ``model_kwargs``: constructor arguments of the model (see :func:`audio_model_kwargs`).
    The returned model standardises its input with the training mean/std.
    """
    xtr = _audio_array(name, x_train)
    xva = _audio_array(name, x_val)
    # copies: labels may be read-only views (pandas copy-on-write), which torch warns about
    ytr, yva = np.array(y_train, np.int64), np.array(y_val, np.int64)
    if name == "han2016":  # one example per segment
        s = xtr.shape[1]
        xtr, ytr = xtr.reshape(-1, 1, *xtr.shape[2:]), np.repeat(ytr, s)
        xva, yva = xva.reshape(-1, 1, *xva.shape[2:]), np.repeat(yva, xva.shape[1])
    mean, std = float(xtr.mean()), float(xtr.std() + 1e-6)
    seed_everything(config.seed)  # the initial weights depend on the seed only, not on earlier work
    model = _Standardise(_build_audio_model(name, num_classes, xtr.shape, **(model_kwargs or {})), mean, std)
    val = (torch.from_numpy(xva), torch.from_numpy(yva)) if len(xva) else None
    history = fit(model, (torch.from_numpy(xtr), torch.from_numpy(ytr)), val, config=config,
                  checkpoint_dir=checkpoint_dir, device=device, progress_bar=True)
    return model, history


def audio_scores(name: str, model: nn.Module, x, *, batch_size: int = 32, device=None):
    """Video-level class probabilities ``(n, C)`` and penultimate features ``(n, 1024)``.

    Han et al.: the softmax outputs of the segments are averaged per video (paper Sec. 4.2),
    and so are the segment features.
    """
    arr = _audio_array(name, x)
    if name == "han2016":
        n, s = arr.shape[:2]
        flat = arr.reshape(n * s, 1, *arr.shape[2:])
        logits, feats = _logits_and_features(model, flat, batch_size=batch_size * 4, device=device)
        return softmax(logits, 1).reshape(n, s, -1).mean(1), feats.reshape(n, s, -1).mean(1)
    logits, feats = _logits_and_features(model, arr, batch_size=batch_size, device=device)
    return softmax(logits, 1), feats


class _LogitsAndFeatures(nn.Module):
    """``[logits | penultimate features]`` from one ``forward_features`` pass (timm-like contract)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        f = self.model.forward_features(x)
        return torch.cat([self.model.forward_head(f), self.model.forward_head(f, pre_logits=True)], 1)


def _logits_and_features(model, x, *, batch_size, device=None):
    """Logits ``(N, C)`` and penultimate features ``(N, D)`` in one pass over the inputs (the
    network's trunk runs once instead of twice; speed work of issue 12)."""
    out = _predict_inputs(_LogitsAndFeatures(model), x, batch_size=batch_size, device=device)
    C = int(getattr(getattr(model, "model", model), "num_classes", 0) or 0)
    if C <= 0:
        raise ParameterError("the audio model does not say its number of classes")
    return out[:, :C], out[:, C:]


# --------------------------------------------------------------------------- visual
def _to_float_frames(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] -> float in [-1, 1] (the paper's scaling)."""
    return x.float().div_(127.5).sub_(1.0)


def _frame_transform(inputs, training: bool):
    (x,) = inputs
    x = _to_float_frames(x) if x.dtype == torch.uint8 else x
    if training:  # random horizontal flip (paper Sec. 4.2)
        flip = torch.rand(x.shape[0], device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return (x,)


def _frame_model(num_classes: int, weights=None):
    from ..models import get_model

    return get_model("inception_frames", num_classes=num_classes, weights=weights)


def pretrain_on_image_bank(images, labels, *, num_classes: int, config: TrainConfig, weights=None,
                           val_fraction: float = 0.15, device=None):
    """Pre-train Inception v3 on the isolated-instrument image bank.

    Stand-in for the paper's "ImageNet + fine-tuning on musical-instrument images"
    (Sec. 4.3). ``weights``: optional local torchvision ImageNet weights to start from
    (never downloaded; see :func:`avlib.models.inception_frames.load_local_weights`).
    Returns ``(state_dict of the backbone, history, pretrained_source)``.
    """
    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels, np.int64))
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(images))
    n_val = int(round(val_fraction * len(images))) if len(images) >= 10 else 0
    va, tr = order[:n_val], order[n_val:]
    seed_everything(config.seed)
    model = _frame_model(num_classes, weights)
    val = (images[va], labels[va]) if n_val else None
    history = fit(model, (images[tr], labels[tr]), val, config=config, device=device,
                  input_transform=_frame_transform, progress_bar=True)
    source = model.pretrained_source
    source = ("image bank" if source.startswith("random") else f"{source} + image bank")
    return {k: v.detach().cpu() for k, v in model.backbone.state_dict().items()}, history, source


def _pick_frames(frames: list, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Randomly select ``k`` frames of every video (fewer if a video is shorter)."""
    xs, owner = [], []
    for i, f in enumerate(frames):
        idx = np.sort(rng.choice(len(f), min(k, len(f)), replace=False)) if len(f) else np.zeros(0, int)
        xs.append(f[idx])
        owner.append(np.full(len(idx), i))
    return np.concatenate(xs), np.concatenate(owner)


def train_frame_model(frames_train: list, y_train, frames_val: list, y_val, *, k: int, num_classes: int,
                      config: TrainConfig, backbone_state=None, checkpoint_dir=None, device=None):
    """Train Inception v3 on ``k`` randomly selected frames per training video (Table 2).

    ``frames_*``: per-video uint8 arrays ``(n_i, 3, H, W)``; every selected frame gets its
    video's label (paper Sec. 4.2). ``backbone_state``: weights from
    :func:`pretrain_on_image_bank` (the classifier is always new). Validation uses ``k``
    frames per video too. Returns ``(model, history)``.
    """
    rng = np.random.default_rng(config.seed)
    xtr, otr = _pick_frames(frames_train, k, rng)
    xva, ova = _pick_frames(frames_val, k, rng)
    ytr = np.asarray(y_train, np.int64)[otr]
    yva = np.asarray(y_val, np.int64)[ova]
    seed_everything(config.seed)
    model = _frame_model(num_classes)
    if backbone_state is not None:
        model.backbone.load_state_dict(backbone_state)
        model.pretrained_source = "pre-trained"
    val = (torch.from_numpy(xva), torch.from_numpy(yva)) if len(xva) else None
    history = fit(model, (torch.from_numpy(xtr), torch.from_numpy(ytr)), val, config=config,
                  checkpoint_dir=checkpoint_dir, device=device, input_transform=_frame_transform,
                  progress_bar=True)
    return model, history


def frame_scores(model: nn.Module, frames: list, *, n_frames: int, batch_size: int = 64, device=None):
    """Video-level probabilities (mean of frame softmax) and per-frame features.

    Uses ``n_frames`` frames of each video spread over its whole duration
    (:func:`avlib.features.frames.uniform_frame_indices` of its cached frames; all of them
    when it has fewer). Returns ``probs (n, C)`` and ``features (n, n_frames, 2048)`` (zero
    rows for videos with fewer frames). A video without any frame is missing: its ``probs``
    row is NaN (not a uniform, tied score), and :func:`metric_summary` leaves it out and
    counts it.
    """
    from ..features.frames import uniform_frame_indices

    chunks = [np.asarray(f)[uniform_frame_indices(len(f), n_frames)] for f in frames]
    owner = np.concatenate([np.full(len(c), i) for i, c in enumerate(chunks)]) if chunks else np.zeros(0, int)
    flat = np.concatenate(chunks) if chunks else np.zeros((0, 3, 8, 8), np.uint8)
    x = torch.from_numpy(flat)
    logits = predict(model, (x,), batch_size=batch_size, device=device, has_targets=False,
                     input_transform=_frame_transform)
    feats = export_features(model, x, batch_size=batch_size, device=device, input_transform=_frame_transform)
    probs = np.zeros((len(frames), logits.shape[1] if logits.ndim == 2 else model.num_classes))
    out = np.zeros((len(frames), n_frames, feats.shape[1] if feats.ndim == 2 else 2048), np.float32)
    p = softmax(logits, 1) if len(logits) else logits
    for i in range(len(frames)):
        sel = owner == i
        if sel.any():
            probs[i] = p[sel].mean(0)
            out[i, : sel.sum()] = feats[sel]
        else:  # no usable frame: missing, not scored
            probs[i] = np.nan
    return probs, out


def metric_summary(y_true, scores) -> dict:
    """:func:`~avlib.metrics.classification.classification_summary` over the videos that have scores.

    A row of ``scores`` with a non-finite value is a video with no usable modality for that
    model (e.g. no frame): it is left out of Hit@1/Hit@3/F1 (neither set to 0 nor given
    uniform, tied scores) and counted in ``n_missing``. Returns ``hit_at_1``, ``hit_at_3``,
    ``f1`` (support-weighted F1, the paper's), ``f1_macro`` (NaN when no video is left) and
    ``n_missing``.
    """
    y = np.asarray(y_true)
    sc = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(sc).all(axis=1) if sc.ndim == 2 else np.ones(len(y), bool)
    n_missing = int((~ok).sum())
    if ok.any():
        out = classification_summary(y[ok], sc[ok])
    else:
        out = {"hit_at_1": float("nan"), "hit_at_3": float("nan"), "f1": float("nan"), "f1_macro": float("nan")}
    return {**out, "n_missing": n_missing}


def _stored_meta(hit: dict) -> dict:
    """The meta of a stored run, with its test metrics recomputed from the stored probabilities
    when the entry predates the weighted F1 (``f1`` was the macro F1 and ``f1_macro`` absent).

    Keeps the stored runs (hours of training at the paper's scale) valid after the F1 change:
    the metrics are a function of the stored test probabilities, not of the training.
    """
    meta = dict(hit["meta"])
    if "f1_macro" not in meta:
        test = np.asarray(hit["split"]) == "test"
        meta.update(metric_summary(np.asarray(hit["labels"]).astype(int)[test],
                                   np.asarray(hit["probs"], dtype=np.float64)[test]))
    return meta


# --------------------------------------------------------------------------- fusion
def train_fusion(x_train, y_train, x_val, y_val, *, n_frames: int, num_classes: int, config: TrainConfig,
                 hidden=(1024,), device=None):
    """Train the late-fusion model on ``(n, 2k+1, 1024)`` matrices; returns ``(model, history)``.

    ``hidden``: one FC1024 as in the reference code (default); ``(1024, 1024)`` is the paper's
    text (:data:`avlib.models.late_fusion.FUSION_HIDDEN`).

    The weights are initialised after seeding with ``config.seed``, so a seed fixes the result.
    """
    from ..models import get_model
    from ..utils import seed_everything

    seed_everything(config.seed)
    model = get_model("late_fusion", num_classes=num_classes, n_frames=n_frames, hidden=tuple(hidden))
    tr = (torch.as_tensor(np.asarray(x_train, np.float32)), torch.as_tensor(np.asarray(y_train, np.int64)))
    va = (torch.as_tensor(np.asarray(x_val, np.float32)), torch.as_tensor(np.asarray(y_val, np.int64)))
    history = fit(model, tr, va if len(va[0]) else None, config=config, device=device, progress_bar=True)
    return model, history


# --------------------------------------------------------------------------- fusion from feature files
def read_video_list(videos) -> pd.DataFrame:
    """A video list in FCVID list format with the official split.

    Parameters
    ----------
    videos : str, Path or DataFrame
        CSV or DataFrame with ``video_id``, ``label`` (int) and optionally ``category``, in
        list order (e.g. :func:`avlib.data.icmr_metadata.load_fcvid_list` or a benchmark's
        ``videos.csv``).

    Returns
    -------
    DataFrame
        The list with a ``split`` column: kept when the list has one, otherwise the authors'
        rule over the list order (:func:`_official_split`, as :func:`load_benchmark`).
    """
    if isinstance(videos, pd.DataFrame):
        df = videos.copy()
    else:
        path = Path(videos)
        if not path.is_file():
            raise DataError(f"video list {path} not found")
        df = pd.read_csv(path, dtype={"video_id": str})
    missing = {"video_id", "label"} - set(df.columns)
    if missing:
        raise DataError(f"the video list lacks column(s) {sorted(missing)}; expected video_id, category, label")
    df["video_id"] = df["video_id"].astype(str)
    if df["video_id"].duplicated().any():
        raise DataError(f"the video list repeats ids, e.g. {df['video_id'][df['video_id'].duplicated()].iloc[0]!r}")
    if df["label"].isna().any():
        raise DataError("the video list has videos without a label")
    df["label"] = df["label"].astype(np.int64)
    if "split" not in df.columns:
        df["split"] = _official_split(df).to_numpy()
    elif not set(df["split"]) <= {"train", "val", "test"}:
        raise DataError(f"split values must be train/val/test, got {sorted(set(df['split']))}")
    return df.reset_index(drop=True)


@dataclass
class FusionInputs:
    """Late-fusion matrices per split built from per-video features and a video list.

    ``x``, ``y``, ``ids``: dicts over ``train``/``val``/``test`` of ``(n, 2k+1, dim)`` float32
    matrices, int labels and video ids (list order); ``report``: DataFrame (video_id, split,
    issue) of listed videos missing from the features or with a missing modality, and of
    feature videos not in the list; ``n_frames`` (k), ``num_classes``, ``categories``.
    """

    x: dict
    y: dict
    ids: dict
    report: pd.DataFrame
    n_frames: int
    num_classes: int
    categories: list

    def counts(self) -> dict:
        """Number of videos per issue of :attr:`report`."""
        return self.report["issue"].value_counts().to_dict()


def fusion_inputs(features: dict, videos, *, n_frames: int | None = None, dim: int = 1024) -> FusionInputs:
    """Match features in the authors' layout with a video list and build the fusion inputs.

    Parameters
    ----------
    features : dict
        ``video_id -> {"audio": (1, dim) or None, "video": (k, 2 * dim) or None}``
        (:func:`avlib.data.fcvid.read_feature_file`).
    videos : str, Path or DataFrame
        The video list (:func:`read_video_list`).
    n_frames : int, optional
        Frames per video in the matrix; default the largest frame count among the listed
        videos (the paper: 50 FCVID, 20 YouTube-8M).
    dim : int
        Audio feature width.

    Notes
    -----
    A listed video absent from ``features`` (or with neither modality) is left out; one
    with a single modality keeps zero rows for the other (paper Sec. 3.3). Both are listed
    in ``report``, as are feature videos that are not in the list.
    """
    from ..models.late_fusion import fusion_matrices

    df = read_video_list(videos)
    issues, keep = [], []
    for vid, split in zip(df["video_id"], df["split"]):
        f = features.get(vid)
        has_a = f is not None and f.get("audio") is not None
        has_v = f is not None and f.get("video") is not None and len(f["video"]) > 0
        if f is None:
            issues.append((vid, split, "missing from the features"))
        elif not (has_a or has_v):
            issues.append((vid, split, "both modalities missing"))
        else:
            keep.append(vid)
            if not has_a:
                issues.append((vid, split, "audio missing (zero row)"))
            if not has_v:
                issues.append((vid, split, "video missing (zero rows)"))
    listed = set(df["video_id"])
    issues += [(str(v), None, "not in the video list") for v in features if str(v) not in listed]
    kept = set(keep)
    if n_frames is None:
        n_frames = max((len(features[v]["video"]) for v in keep if features[v].get("video") is not None), default=0)
    audio = {v: features[v].get("audio") for v in keep}
    frames = {v: features[v].get("video") for v in keep}
    x, y, ids = {}, {}, {}
    for s in ("train", "val", "test"):
        part = df[(df["split"] == s) & df["video_id"].isin(kept)]
        ids[s] = part["video_id"].tolist()
        x[s] = fusion_matrices(audio, frames, ids[s], n_frames=n_frames, dim=dim)
        y[s] = np.array(part["label"], dtype=np.int64)
    num_classes = int(df["label"].max()) + 1 if len(df) else 0
    names = dict(zip(df["label"], df["category"])) if "category" in df.columns else {}
    categories = [str(names.get(c, c)) for c in range(num_classes)]
    report = pd.DataFrame(issues, columns=["video_id", "split", "issue"])
    return FusionInputs(x, y, ids, report, int(n_frames), num_classes, categories)


def run_fusion_from_features(features: dict, videos, *, preset: ICMRPreset, seed: int = 0,
                             n_frames: int | None = None, num_classes: int | None = None,
                             method: str = "late fusion", device=None, dim: int = 1024) -> dict:
    """Train and test the late-fusion model (Table 4) on per-video features and a video list.

    Parameters
    ----------
    features : dict
        Features in the authors' layout (:func:`avlib.data.fcvid.read_feature_file`).
    videos : str, Path or DataFrame
        Video list with labels (:func:`read_video_list`; official split unless given).
    preset : ICMRPreset
        Fusion schedule (``fusion_epochs``, ``fusion_batch``, ``fusion_lr``, ...,
        ``fusion_hidden``).
    seed : int
        Fixes the initialisation and the batch order.
    n_frames, dim : int, optional
        As :func:`fusion_inputs`.
    num_classes : int, optional
        Default: largest label in the list + 1.
    method : str
        Label of the table row (e.g. "Xception" for :func:`table4_side_by_side`).

    Returns
    -------
    dict
        ``table`` (one row: method, model, frames, hit_at_1, hit_at_3, f1, train_seconds,
        n_train, n_val, n_test), ``confusion`` (C, C) row-normalised on the test videos,
        ``report`` (see :func:`fusion_inputs`), ``inputs`` (:class:`FusionInputs`), ``model``,
        ``history``, ``probs`` (test, (n_test, C)), ``test_ids``, ``n_frames``, ``categories``.
    """
    data = fusion_inputs(features, videos, n_frames=n_frames, dim=dim)
    C = int(num_classes or data.num_classes)
    if len(data.y["train"]) == 0 or len(data.y["test"]) == 0:
        raise DataError(f"no training or no test video has features ({len(data.y['train'])} train, "
                        f"{len(data.y['test'])} test); report: {data.counts()}")
    t0 = time.perf_counter()
    model, history = train_fusion(data.x["train"], data.y["train"], data.x["val"], data.y["val"],
                                  n_frames=data.n_frames, num_classes=C, config=_config(preset, "fusion", seed),
                                  hidden=preset.fusion_hidden, device=device)
    seconds = time.perf_counter() - t0
    probs = softmax(_predict_inputs(model, data.x["test"], batch_size=64, device=device), 1)
    yt = data.y["test"]
    row = {"method": method, "model": "fusion", "frames": data.n_frames, **metric_summary(yt, probs),
           "train_seconds": seconds, **{f"n_{s}": len(data.y[s]) for s in ("train", "val", "test")}}
    # listed test videos with no usable modality are not scored: count them as missing
    rep = data.report
    row["n_missing"] += int(((rep["split"] == "test")
                             & rep["issue"].isin(["missing from the features", "both modalities missing"])).sum())
    return {"table": pd.DataFrame([row]), "confusion": confusion(yt, probs, n_classes=C), "report": data.report,
            "inputs": data, "model": model, "history": history, "probs": probs, "test_ids": data.ids["test"],
            "n_frames": data.n_frames, "categories": data.categories}


def run_fusion_from_feature_file(feature_file, videos, *, preset: ICMRPreset, seed: int = 0,
                                 n_frames: int | None = None, num_classes: int | None = None,
                                 method: str = "late fusion", device=None, dim: int = 1024) -> dict:
    """:func:`run_fusion_from_features` on an HDF5 file in the authors' layout.

    ``feature_file``: one group per video with ``audio`` (1, 1024) and ``video`` (k, 2048)
    (:func:`avlib.data.fcvid.read_feature_file`; a bad file raises
    :class:`~avlib.errors.MediaError` naming it). ``videos``: the list with labels (FCVID
    list format: video_id, category, label). Returns the same dict plus ``feature_file``.
    """
    from ..data.fcvid import read_feature_file

    features = read_feature_file(feature_file, dim=dim)
    out = run_fusion_from_features(features, videos, preset=preset, seed=seed, n_frames=n_frames,
                                   num_classes=num_classes, method=method, device=device, dim=dim)
    out["feature_file"] = str(feature_file)
    return out


def _frames_present(f: np.ndarray) -> int:
    """Frames before the trailing all-zero rows (frames a video does not have are stored as zeros)."""
    nonzero = np.flatnonzero(np.abs(f).reshape(len(f), -1).sum(1) > 0)
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


def store_features(store: FeatureStore, *, preset: ICMRPreset, audio: str = "xception_audio"):
    """The fusion's inputs held by a :class:`FeatureStore`, in the authors' layout.

    Audio: the ``audio`` network's UC run (``(1, 1024)`` per video); frames: the visual run
    that feeds the fusion (``preset.fusion_visual``), ``(k, 2048)`` per video without the
    zero rows of frames the video does not have (``video`` is None when it has none).

    Returns
    -------
    features : dict
        ``video_id -> {"audio": ..., "video": ...}`` (:func:`avlib.data.fcvid.write_feature_file`).
    videos : DataFrame
        ``video_id``, ``label``, ``split`` of the stored videos (visual run order, then
        audio-only videos).
    """
    tags = {"audio": _audio_tag(audio, "UC"), "video": _visual_tag(*preset.fusion_visual)}
    runs = {m: store.load(t) for m, t in tags.items()}
    absent = [t for m, t in tags.items() if runs[m] is None]
    if absent:
        raise DataError(f"{store.root} holds no stored run {', '.join(absent)}; run the icmr_audio and "
                        f"icmr_visual notebooks (or icmr.run_fusion_table) at this scale and seed first")
    features, rows = {}, {}
    for modality in ("video", "audio"):
        r = runs[modality]
        for i, vid in enumerate(map(str, r["ids"])):
            entry = features.setdefault(vid, {"audio": None, "video": None})
            rows.setdefault(vid, (int(r["labels"][i]), str(r["split"][i])))
            f = np.asarray(r["features"][i], np.float32)
            if modality == "audio":
                entry["audio"] = f.reshape(1, -1)
            else:
                f = f.reshape(f.shape[0], -1)
                n = _frames_present(f)
                entry["video"] = f[:n] if n else None
    videos = pd.DataFrame([(v, lab, s) for v, (lab, s) in rows.items()], columns=["video_id", "label", "split"])
    return features, videos


def export_feature_file(store: FeatureStore, path, *, preset: ICMRPreset, audio: str = "xception_audio") -> Path:
    """Write a store's fusion inputs (:func:`store_features`) as an authors'-layout HDF5 file.

    Read back with :func:`avlib.data.fcvid.read_feature_file`; train with
    :func:`run_fusion_from_feature_file` and the benchmark's ``videos.csv``.
    """
    from ..data.fcvid import write_feature_file

    features, _ = store_features(store, preset=preset, audio=audio)
    return write_feature_file(path, features)


def run_fusion_from_files(bench: Benchmark, preset: ICMRPreset, *, store: FeatureStore, seed: int = 0,
                          feature_file=None, feature_list=None, audio: str = "xception_audio",
                          device=None) -> dict:
    """The notebook's "training from the authors' feature files" section.

    ``feature_file=None``: the store's features (``audio`` network + the fusion's visual
    run) are exported to ``<store>/features_<audio>.h5`` (:func:`export_feature_file`) and
    trained on with the benchmark's ``videos.csv`` as the list, over
    ``preset.fusion_frames`` frames, so the result equals the in-memory fusion of
    :func:`run_fusion_table` for the same seed. Otherwise ``feature_file`` is the user's
    HDF5 and ``feature_list`` its list (default: the real FCVID list,
    :func:`avlib.data.icmr_metadata.load_fcvid_list`).

    Returns :func:`run_fusion_from_feature_file`'s dict plus ``source`` (for captions),
    ``exported`` (bool) and ``feature_list``.
    """
    exported = feature_file is None
    if exported:
        feature_file = export_feature_file(store, store.root / f"features_{audio}.h5", preset=preset, audio=audio)
        if feature_list is None:
            csv = None if bench.root is None else Path(bench.root) / "videos.csv"
            feature_list = csv if csv is not None and csv.is_file() else bench.videos
    elif feature_list is None:
        from ..data.icmr_metadata import load_fcvid_list

        feature_list = load_fcvid_list()
    out = run_fusion_from_feature_file(feature_file, feature_list, preset=preset, seed=seed,
                                       n_frames=preset.fusion_frames if exported else None,
                                       method=_PAPER_AUDIO_NAMES.get(audio, audio),
                                       device=device)
    name = Path(feature_file).name
    out.update(exported=exported, source=bench.source if exported else f"feature file {name}",
               feature_list=feature_list if isinstance(feature_list, (str, Path)) else "DataFrame")
    return out


def predict_fusion(model: nn.Module, features: dict, *, categories, top: int = 3, device=None) -> pd.DataFrame:
    """Class probabilities of a trained late-fusion model on features in the authors' layout.

    Each video's matrix uses the model's own ``n_frames`` (the first frames of the video;
    zero rows for what is missing). Returns one row per video: ``video_id``, ``frames``
    (in the features), ``audio`` (present), ``input_shape``, ``prediction``, ``probability``
    and ``top`` (the ``top`` categories with their probabilities).
    """
    from ..models.late_fusion import fusion_matrices

    ids = [str(v) for v in features]
    k = int(model.n_frames)
    x = fusion_matrices({v: features[v].get("audio") for v in ids}, {v: features[v].get("video") for v in ids},
                        ids, n_frames=k, dim=int(model.dim))
    probs = softmax(_predict_inputs(model, x, batch_size=64, device=device), 1)
    rows = []
    for v, p in zip(ids, probs):
        order = np.argsort(-p)[:top]
        video = features[v].get("video")
        rows.append({"video_id": v, "frames": 0 if video is None else len(video),
                     "audio": features[v].get("audio") is not None, "input_shape": str(tuple(x.shape[1:])),
                     "prediction": categories[order[0]], "probability": float(p[order[0]]),
                     "top": ", ".join(f"{categories[c]} {100 * p[c]:.1f} %" for c in order)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- robustness
def degrade_logmel(x, *, snr_db: float, rng, scale: str = "power_squared") -> np.ndarray:
    """Add white noise to log-mel spectrograms (dB, ref 1.0) at a given SNR.

    The noise power per mel band is the mean signal power of each example divided by
    ``10 ** (snr_db / 10)``, with exponential (chi-squared, 2 dof) fluctuation per bin as for
    the periodogram of white noise. Works on any ``(..., n_mels, t)`` array. ``scale``: the dB
    scale of ``x`` (:data:`avlib.features.audio.LOGMEL_SCALES`): ``"power_squared"`` (the ICMR
    inputs, ``20 log10`` of the mel power) or ``"power"`` (``10 log10``).
    """
    from ..features.audio import LOGMEL_SCALES

    if scale not in LOGMEL_SCALES:
        raise ParameterError(f"scale must be one of {LOGMEL_SCALES}, got {scale!r}")
    per_decade = 20.0 if scale == "power_squared" else 10.0
    x = np.asarray(x, dtype=np.float64)
    power = 10.0 ** (x / per_decade)
    axes = tuple(range(-2, 0))
    mean_power = power.mean(axis=axes, keepdims=True)
    noise = mean_power / 10.0 ** (snr_db / 10.0) * rng.exponential(1.0, size=x.shape)
    return (per_decade * np.log10(power + noise)).astype(np.float32)


def drop_frames(x, *, n_frames: int, keep: float, rng) -> np.ndarray:
    """Zero the rows of a random ``1 - keep`` share of the frames in fusion inputs ``(n, 2k+1, d)``."""
    x = np.array(x, copy=True)
    n_keep = int(round(keep * n_frames))
    for i in range(len(x)):
        drop = rng.permutation(n_frames)[n_keep:]
        for j in drop:
            x[i, 2 * j: 2 * j + 2] = 0
    return x


def degradation_table(*, fusion_model, audio_model, audio_name, audio_x, frame_feats, frame_probs_fn, labels,
                      n_frames: int, snr_db, keep_fractions, seed: int = 0, device=None) -> pd.DataFrame:
    """Hit@1/Hit@3/F1 of fusion vs single-modality models under missing or degraded input.

    Conditions: clean; audio noise at each ``snr_db``; audio missing (zero row); fraction
    ``keep`` of the frames kept (others dropped = zero rows); video missing; both degraded.
    The audio-only model sees the same noisy log-mels; the video-only model averages over the
    frames kept; a video with none kept is missing for it (NaN scores from ``frame_probs_fn``:
    left out of the metrics and counted in ``n_missing`` by :func:`metric_summary`).
    ``frame_probs_fn(mask) -> (n, C)`` gives video-only probabilities for a boolean frame mask
    ``(n, n_frames)``.
    """
    from ..models.late_fusion import fusion_matrix

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    n = len(labels)

    def fused(audio_feats, mask):
        frames = frame_feats * mask[:, :, None]
        return np.stack([fusion_matrix(None if audio_feats is None else audio_feats[i],
                                       frames[i].reshape(n_frames, -1), n_frames=n_frames) for i in range(n)])

    def fusion_probs(x):
        return softmax(_predict_inputs(fusion_model, x, batch_size=64, device=device), 1)

    rows = []
    full = np.ones((n, n_frames), bool)
    clean_probs, clean_feats = audio_scores(audio_name, audio_model, audio_x, device=device)

    def add(condition, level, modality_probs, modality, fprobs):
        for model_name, probs in (("fusion", fprobs), (modality, modality_probs)):
            if probs is None:
                continue
            rows.append({"condition": condition, "level": level, "model": model_name,
                         **metric_summary(labels, probs)})

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
    add("video missing", float("nan"), None, "video only", fusion_probs(fused(clean_feats, np.zeros((n, n_frames), bool))))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- throughput
def measure_throughput(model: nn.Module, input_shape, *, batch_size: int, steps: int = 5, warmup: int = 1,
                       train: bool = True, device=None, amp: bool = False, channels_last: bool = False) -> dict:
    """Examples per second of ``model`` on random inputs ``(batch_size, *input_shape)``.

    ``train=True`` times forward + backward + SGD step (lr 1e-4, momentum 0.9); otherwise
    inference under ``torch.no_grad``. ``amp`` and ``channels_last`` apply on CUDA only. The
    timing loop is :func:`avlib.train.throughput.time_steps`.
    """
    from ..utils import get_device
    from .throughput import time_steps

    device = get_device(device) if not isinstance(device, torch.device) else device
    cuda = device.type == "cuda"
    model = model.to(device)
    if channels_last and cuda:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, *input_shape, device=device)
    if channels_last and cuda and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, getattr(model, "num_classes", 2) or 2, (batch_size,), device=device)
    r = time_steps(model, (x,), y, steps=steps, warmup=warmup, train=train, device=device, amp=amp)
    return {"examples_per_s": r["examples_per_s"], "seconds": r["seconds"], "batch_size": batch_size,
            "steps": steps, "train": train, "device": str(device), "amp": r["amp"],
            "channels_last": bool(channels_last and cuda), "input_shape": list(input_shape),
            "threads": r["threads"]}


#: Peak FP32 throughput (TFLOP/s, boost clock) of the two GPUs sold as "Titan X": the paper
#: (2017) does not say which. Maxwell GTX Titan X: 3072 cores x 1.075 GHz x 2; Pascal Titan X:
#: 3584 cores x 1.531 GHz x 2.
TITAN_X_PEAK_TFLOPS = {"Titan X (Maxwell)": 6.6, "Titan X (Pascal)": 11.0}


def training_flops(model: nn.Module, input_shape, *, batch_size: int = 2) -> float:
    """FLOPs of one training step (forward + backward) per example, counted by PyTorch.

    Uses :class:`torch.utils.flop_counter.FlopCounterMode` (matrix multiplications and
    convolutions) on random inputs ``(batch_size, *input_shape)``. Inception v3 at 224 px:
    about 17 GFLOP per frame (5.7 forward).
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.train()
    x = torch.randn(batch_size, *input_shape)
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return counter.get_total_flops() / batch_size


def titan_x_estimate(train_frames_per_s: float, *, batch_size: int = 64, paper=None, device: str = "",
                     flops_per_frame: float | None = None, peak_tflops: dict | None = None) -> pd.DataFrame:
    """The paper's visual workloads (Table 2 steps x batch 64) on our code and on a Titan X.

    ``train_frames_per_s``: measured Inception v3 training throughput at 224 px on
    ``device``. Returns the paper's rows with ``frames_seen`` = steps x batch, ``our_hours`` =
    frames_seen / throughput / 3600 (pure training steps, so a lower bound) beside the paper's
    ``train_hours`` on one Titan X, and the paper's implied ``paper_frames_per_s``.

    With ``flops_per_frame`` (:func:`training_flops`), two more columns per GPU of
    ``peak_tflops`` (default :data:`TITAN_X_PEAK_TFLOPS`): ``compute hours at peak, <GPU>``,
    the hours the workload's arithmetic needs at the GPU's peak FP32 rate (a hard lower
    bound for any code), and ``paper utilisation %, <GPU>``, the share of that peak the
    paper's reported hours imply (low values mean the run was bound by data loading,
    validation or I/O rather than by the network).
    """
    from ..report import paper_table

    paper = paper_table("icmr2017_table2_visual") if paper is None else paper
    out = paper[["dataset", "frames", "pretrained", "steps", "train_hours"]].copy()
    out["frames_seen"] = out["steps"] * batch_size
    out["our_hours"] = out["frames_seen"] / float(train_frames_per_s) / 3600.0
    out["paper_frames_per_s"] = out["frames_seen"] / (out["train_hours"] * 3600.0)
    out["our_device"] = device
    if flops_per_frame:
        for gpu, tflops in (peak_tflops or TITAN_X_PEAK_TFLOPS).items():
            peak = float(tflops) * 1e12
            out[f"compute hours at peak, {gpu}"] = out["frames_seen"] * flops_per_frame / peak / 3600.0
            out[f"paper utilisation %, {gpu}"] = 100.0 * out["paper_frames_per_s"] * flops_per_frame / peak
    return out


# --------------------------------------------------------------------------- notebook entry points
def _config(preset: ICMRPreset, part: str, seed: int) -> TrainConfig:
    if part == "audio":
        return TrainConfig(epochs=preset.audio_epochs, batch_size=preset.audio_batch, lr=preset.audio_lr,
                           optimizer="adam", lr_step=preset.audio_lr_step, patience=preset.audio_patience,
                           seed=seed, lr_schedule=preset.audio_lr_schedule)
    if part == "visual":
        return TrainConfig(epochs=preset.visual_epochs, batch_size=preset.visual_batch, lr=preset.visual_lr,
                           optimizer=preset.visual_optimizer, momentum=0.9, lr_step=preset.visual_lr_step,
                           patience=preset.visual_patience, seed=seed, channels_last=True)
    if part == "pretrain":
        return TrainConfig(epochs=preset.pretrain_epochs, batch_size=preset.visual_batch, lr=preset.pretrain_lr,
                           optimizer="adam", seed=seed, channels_last=True)
    if part == "fusion":
        return TrainConfig(epochs=preset.fusion_epochs, batch_size=preset.fusion_batch, lr=preset.fusion_lr,
                           optimizer="adam", lr_step=preset.fusion_lr_step, patience=preset.fusion_patience,
                           seed=seed)
    raise ParameterError(f"unknown part {part!r}")


def _audio_run_key(preset: ICMRPreset, name: str, crop: str, seed: int) -> str:
    """Key of a stored audio run: the preset fields that change it, the model, crop and seed."""
    return preset.key("audio_epochs", "audio_epochs_override", "audio_lr_override", "audio_batch", "audio_lr",
                      "audio_lr_step", "audio_lr_schedule", "audio_patience", "choi_seconds", "han_segments",
                      "han_segment_seconds", "han_dropout", "logmel_scale") + f"-{name}-{crop}-{seed}"


def _audio_tag(name: str, crop: str) -> str:
    return f"audio_{name}_{crop.upper()}"


def _visual_tag(k: int, pretrained: bool) -> str:
    return f"visual_k{k}_{'pt' if pretrained else 'scratch'}"


_PAPER_AUDIO_NAMES = {"han2016": "Han et al. 2016", "choi2016": "Choi et al. 2016", "xception_audio": "Xception"}
_PAPER_INPUT = {"han2016": (1, 128, 43), "choi2016": (1, 96, 1366), "xception_audio": (1, 96, 1366)}


def _paper_params(name: str, num_classes: int) -> int:
    from ..models import get_model

    return count_params(get_model(name, num_classes=num_classes))


def run_audio_model(bench: Benchmark, preset: ICMRPreset, name: str, crop: str, *, seed: int = 0,
                    store: FeatureStore | None = None, device=None, n_jobs=None, force: bool = False) -> dict:
    """Train/evaluate one Table 3 row and store its features; reuses the store when it matches."""
    key = _audio_run_key(preset, name, crop, seed)
    tag = _audio_tag(name, crop)
    if store is not None and not force:
        hit = store.load(tag, key=key)
        if hit is not None:
            return {"tag": tag, **_stored_meta(hit), "cached": True}
    inputs = audio_inputs(bench, model=name, crop=crop, preset=preset, n_jobs=n_jobs)
    df = bench.videos[bench.videos["video_id"].isin(inputs)].reset_index(drop=True)
    skipped = len(bench.videos) - len(df)
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    xs = {s: [inputs[v] for v in p["video_id"]] for s, p in parts.items()}
    t0 = time.perf_counter()
    config = _config(preset, "audio", seed)
    epochs = dict(preset.audio_epochs_override).get(name)
    if epochs is not None:
        config = replace(config, epochs=int(epochs))
    lr = dict(preset.audio_lr_override).get(name)
    if lr is not None:
        config = replace(config, lr=float(lr))
    model, history = train_audio_model(name, xs["train"], parts["train"]["label"], xs["val"], parts["val"]["label"],
                                       num_classes=bench.num_classes, config=config, device=device,
                                       model_kwargs=audio_model_kwargs(preset, name))
    train_s = time.perf_counter() - t0
    # features of every video only for the UC Choi/Xception runs (fusion, YouTube-8M page, ISMIR);
    # Han and CC are scored on the test videos only (speed work of issue 12)
    if name == "han2016" or crop.upper() != "UC":
        df = df[df["split"] == "test"].reset_index(drop=True)
    probs, feats = audio_scores(name, model, [inputs[v] for v in df["video_id"]], device=device)
    test = (df["split"] == "test").to_numpy()
    summary = metric_summary(df["label"].to_numpy()[test], probs[test])
    hist = history.to_frame()
    meta = {
        "model": name, "crop": crop.upper(), "params": count_params(model.model),
        "params_paper_input": _paper_params(name, bench.num_classes), "train_seconds": train_s,
        "epochs_run": len(hist), "best_epoch": history.best_epoch, "skipped_videos": skipped,
        "examples_per_s": float(hist["examples_per_s"].mean()) if len(hist) else float("nan"),
        "input_shape": list(np.asarray(xs["train"][0]).shape), **summary,
    }
    if store is not None:
        store.save(tag, key=key, ids=df["video_id"], split=df["split"], labels=df["label"], features=feats,
                   probs=probs, meta=meta)
        store.save_model(tag, model, key=key, extra={"name": name, "input_shape": meta["input_shape"]})
    return {"tag": tag, **meta, "cached": False}


def run_audio_table(bench: Benchmark, preset: ICMRPreset, *, seed: int = 0, store: FeatureStore | None = None,
                    device=None, n_jobs=None) -> pd.DataFrame:
    """Table 3: every audio model of ``preset.audio_models`` trained and tested on ``bench``.

    Columns: method, crop, params (ours at our input), params_paper_input (ours at the paper's
    input: 1.5 M / 2.4 M / 9.6 M expected), hit_at_1, hit_at_3, f1, train_seconds.
    """
    rows = []
    for name, crop in preset.audio_models:
        r = run_audio_model(bench, preset, name, crop, seed=seed, store=store, device=device, n_jobs=n_jobs)
        label = _PAPER_AUDIO_NAMES[name] + ("" if name == "han2016" else f" + {crop.upper()}")
        rows.append({"method": label, **{k: r[k] for k in (
            "crop", "params", "params_paper_input", "hit_at_1", "hit_at_3", "f1", "f1_macro", "train_seconds",
            "epochs_run", "examples_per_s", "cached")}})
    return pd.DataFrame(rows)


def _pretrained_backbone(bench: Benchmark, preset: ICMRPreset, *, seed: int, store: FeatureStore | None,
                         weights=None, device=None):
    key = preset.key("frame_size", "frame_resize", "pretrain_epochs", "pretrain_lr", "visual_batch",
                     "pretrain_images_per_class") + f"-{seed}-{weights}"
    if store is not None:
        hit = store.load_model("pretrain_image_bank", key=key)
        if hit is not None:
            return hit["state"], hit.get("source", "image bank"), hit.get("seconds", 0.0), True
    t0 = time.perf_counter()
    x, y = image_bank(bench, size=preset.frame_size, resize=preset.frame_resize,
                      per_class=preset.pretrain_images_per_class, seed=seed)
    state, _, source = pretrain_on_image_bank(x, y, num_classes=bench.num_classes,
                                              config=_config(preset, "pretrain", seed), weights=weights,
                                              device=device)
    seconds = time.perf_counter() - t0
    if store is not None:
        store.root.mkdir(parents=True, exist_ok=True)
        torch.save({"state": state, "key": key, "source": source, "seconds": seconds},
                   store.root / "pretrain_image_bank.pt")
    return state, source, seconds, False


def run_visual_model(bench: Benchmark, preset: ICMRPreset, k: int, pretrained: bool, *, frames: dict,
                     seed: int = 0, store: FeatureStore | None = None, weights=None, device=None,
                     force: bool = False) -> dict:
    """Train/evaluate one Table 2 row (k frames per video, with or without pre-training).

    With ``preset.visual_backbone == "frozen"`` the backbone is frozen and shared by all seeds
    (:func:`avlib.train.icmr_seeds.run_visual_model_frozen`).
    """
    if preset.visual_backbone == "frozen":
        from .icmr_seeds import run_visual_model_frozen

        return run_visual_model_frozen(bench, preset, k, pretrained, frames=frames, seed=seed, store=store,
                                       weights=weights, device=device, force=force)
    key = preset.key("frame_size", "frame_resize", "visual_epochs", "visual_batch", "visual_lr",
                     "visual_optimizer", "visual_lr_step", "visual_patience", "eval_frames", "fusion_frames",
                     "pretrain_epochs", "pretrain_images_per_class") + f"-{k}-{pretrained}-{seed}-{weights}-uniform"
    tag = _visual_tag(k, pretrained)
    if store is not None and not force:
        hit = store.load(tag, key=key)
        if hit is not None:
            return {"tag": tag, **_stored_meta(hit), "cached": True}
    df = bench.videos[bench.videos["video_id"].isin(frames)].reset_index(drop=True)
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    state, source, pre_s = None, "none (random initialisation)", 0.0
    if pretrained:
        state, source, pre_s, _ = _pretrained_backbone(bench, preset, seed=seed, store=store, weights=weights,
                                                       device=device)
    config = _config(preset, "visual", seed)
    t0 = time.perf_counter()
    model, history = train_frame_model([frames[v] for v in parts["train"]["video_id"]], parts["train"]["label"],
                                       [frames[v] for v in parts["val"]["video_id"]], parts["val"]["label"],
                                       k=k, num_classes=bench.num_classes, config=config,
                                       backbone_state=state, device=device)
    train_s = time.perf_counter() - t0
    # features of every video only for the run that feeds the fusion model; test videos otherwise
    feeds_fusion = (int(k), bool(pretrained)) == (int(preset.fusion_visual[0]), bool(preset.fusion_visual[1]))
    if not feeds_fusion:
        df = df[df["split"] == "test"].reset_index(drop=True)
    vids = [frames[v] for v in df["video_id"]]
    # each call takes its frames spread over the whole video (uniform_frame_indices)
    probs_eval, feats = frame_scores(model, vids, n_frames=preset.eval_frames, device=device)
    if feeds_fusion and preset.fusion_frames != preset.eval_frames:
        _, feats = frame_scores(model, vids, n_frames=preset.fusion_frames, device=device)
    test = (df["split"] == "test").to_numpy()
    hist = history.to_frame()
    n_train_frames = int(sum(min(k, len(frames[v])) for v in parts["train"]["video_id"]))
    meta = {"frames": k, "pretrained": bool(pretrained), "pretrain_source": source,
            "steps": int(len(hist) * int(np.ceil(n_train_frames / config.batch_size))),
            "train_seconds": train_s, "pretrain_seconds": pre_s, "epochs_run": len(hist),
            "train_frames": n_train_frames, "best_epoch": history.best_epoch,
            "examples_per_s": float(hist["examples_per_s"].mean()) if len(hist) else float("nan"),
            **metric_summary(df["label"].to_numpy()[test], probs_eval[test])}
    if store is not None:
        store.save(tag, key=key, ids=df["video_id"], split=df["split"], labels=df["label"],
                   features=feats[:, : preset.fusion_frames], probs=probs_eval, meta=meta)
        if feeds_fusion:  # the robustness figure needs its per-frame predictions
            store.save_model(tag, model, key=key)
    return {"tag": tag, **meta, "cached": False}


def run_visual_table(bench: Benchmark, preset: ICMRPreset, *, seed: int = 0, store: FeatureStore | None = None,
                     weights=None, device=None, n_jobs=None) -> pd.DataFrame:
    """Table 2: Inception v3 for each (frames per video, pre-training) of the preset grid."""
    frames = frame_inputs(bench, preset=preset, n_jobs=n_jobs)
    rows = []
    for k in preset.frames_grid:
        for pt in preset.pretrain_grid:
            r = run_visual_model(bench, preset, k, pt, frames=frames, seed=seed, store=store, weights=weights,
                                 device=device)
            rows.append({k2: r[k2] for k2 in ("frames", "pretrained", "pretrain_source", "steps", "train_seconds",
                                               "pretrain_seconds", "hit_at_1", "hit_at_3", "f1", "f1_macro",
                                               "epochs_run", "examples_per_s", "cached")})
    return pd.DataFrame(rows)


def _ensure_inputs_for_fusion(bench, preset, *, seed, store, device, n_jobs, weights):
    """Audio (Choi UC, Xception UC) and visual runs the fusion needs; trained when missing."""
    runs = {}
    for name in ("choi2016", "xception_audio"):
        runs[name] = run_audio_model(bench, preset, name, "UC", seed=seed, store=store, device=device, n_jobs=n_jobs)
    k, pt = preset.fusion_visual
    frames = frame_inputs(bench, preset=preset, n_jobs=n_jobs)  # cached on disk; also needed for robustness
    runs["visual"] = run_visual_model(bench, preset, k, pt, frames=frames, seed=seed, store=store, weights=weights,
                                      device=device)
    return runs, frames


def run_fusion_model(bench: Benchmark, preset: ICMRPreset, audio_run: dict, visual_run: dict, *, seed: int = 0,
                     store: FeatureStore, device=None) -> dict:
    """Train and test the late-fusion model of ICMR 2017 (Sec. 3.3, Table 4) for one audio model.

    Parameters
    ----------
    bench : Benchmark
        The benchmark the unimodal runs were trained on (its split and classes).
    preset : ICMRPreset
        ``fusion_frames`` (k), ``fusion_hidden`` and the fusion training schedule.
    audio_run, visual_run : dict
        Results of :func:`run_audio_model` (the audio network whose penultimate features feed
        the fusion: Choi or Xception in Table 4) and :func:`run_visual_model` (the run of
        ``preset.fusion_visual``, whose stored features cover every video); their ``tag`` names
        the entries of ``store``.
    seed : int
        Training seed.
    store : FeatureStore
        Where the unimodal runs stored their features and probabilities.

    Returns
    -------
    dict
        ``model`` (trained fusion network), ``parts`` ({split: video ids with both inputs}),
        ``labels`` ({split: int array}), ``frame_features`` ({video id: (k, 2048)}),
        ``probs`` / ``audio_probs`` / ``video_probs`` (test-set class probabilities ``(n_test, C)``
        of the fusion, audio-only and video-only models), ``probs_audio_missing`` /
        ``probs_video_missing`` (the same fusion model with the audio row, or every frame row,
        of its test inputs set to zero: a missing modality as in the paper), ``fusion_summary`` /
        ``audio_summary`` / ``video_summary`` (Hit@1, Hit@3, weighted and macro F1 in %),
        ``train_seconds`` and ``n_frames``.
    """
    from ..models.late_fusion import fusion_matrices

    vis = store.load(visual_run["tag"])
    aud = store.load(audio_run["tag"])
    if vis is None or aud is None:
        raise DataError(f"stored features missing in {store.root}: run run_audio_model/run_visual_model first")
    vid_ids = list(vis["ids"])
    frame_feats = {v: vis["features"][i].reshape(vis["features"].shape[1], -1) for i, v in enumerate(vid_ids)}
    split_of = dict(zip(vid_ids, vis["split"]))
    label_of = dict(zip(vid_ids, vis["labels"].astype(int)))
    vis_probs = dict(zip(vid_ids, vis["probs"]))
    aud_feats = dict(zip(aud["ids"], aud["features"]))
    aud_probs = dict(zip(aud["ids"], aud["probs"]))
    k = preset.fusion_frames
    ids = [v for v in vid_ids if v in aud_feats]  # videos with both inputs
    parts = {s: [v for v in ids if split_of[v] == s] for s in ("train", "val", "test")}
    X = {s: fusion_matrices(aud_feats, frame_feats, p, n_frames=k) for s, p in parts.items()}
    Y = {s: np.array([label_of[v] for v in p], dtype=np.int64) for s, p in parts.items()}
    t0 = time.perf_counter()
    model, _ = train_fusion(X["train"], Y["train"], X["val"], Y["val"], n_frames=k, num_classes=bench.num_classes,
                            config=_config(preset, "fusion", seed), hidden=preset.fusion_hidden, device=device)
    secs = time.perf_counter() - t0
    probs = softmax(_predict_inputs(model, X["test"], batch_size=64, device=device), 1)
    # a missing modality as the paper encodes it, in place (X["test"] is not used again; no copy):
    # the audio row (late_fusion.fusion_matrix layout: the last row) zeroed, then every frame row
    xt = X["test"]
    audio_rows = xt[:, 2 * k].copy()
    xt[:, 2 * k] = 0.0
    probs_no_audio = softmax(_predict_inputs(model, xt, batch_size=64, device=device), 1)
    xt[:, 2 * k] = audio_rows
    xt[:, : 2 * k] = 0.0
    probs_no_video = softmax(_predict_inputs(model, xt, batch_size=64, device=device), 1)
    a_probs = np.stack([aud_probs[v] for v in parts["test"]])
    v_probs = np.stack([vis_probs[v] for v in parts["test"]])
    yt = Y["test"]
    return {"model": model, "parts": parts, "labels": Y, "frame_features": frame_feats, "probs": probs,
            "probs_audio_missing": probs_no_audio, "probs_video_missing": probs_no_video,
            "audio_probs": a_probs, "video_probs": v_probs, "fusion_summary": metric_summary(yt, probs),
            "audio_summary": metric_summary(yt, a_probs), "video_summary": metric_summary(yt, v_probs),
            "train_seconds": secs, "n_frames": k}


def run_fusion_table(bench: Benchmark, preset: ICMRPreset, *, seed: int = 0, store: FeatureStore,
                     device=None, n_jobs=None, weights=None, robustness: bool = True) -> dict:
    """Table 4, Figures 2-3 and the robustness figure.

    Returns ``{"table": DataFrame (method, hit_at_1, hit_at_3, f1 (weighted), f1_macro for
    Choi/Xception fusion and the unimodal models), "confusions": {name: (C, C) matrix},
    "degradation": DataFrame (None when ``robustness`` is False), "runs": metadata, "n_test",
    "y_test", "test_probs" ({"<method> <model>": (n_test, C)}, including
    "<method> fusion, audio missing" and "<method> fusion, video missing": the fusion model with
    that modality zeroed, every seed, for the missing-modality claims)}``.
    """
    runs, frames = _ensure_inputs_for_fusion(bench, preset, seed=seed, store=store, device=device,
                                             n_jobs=n_jobs, weights=weights)
    k = preset.fusion_frames
    rows, confusions, fused = [], {}, {}
    for name in ("xception_audio", "choi2016"):
        f = run_fusion_model(bench, preset, runs[name], runs["visual"], seed=seed, store=store, device=device)
        label = _PAPER_AUDIO_NAMES[name]
        rows.append({"method": label, "model": "fusion", "frames": k, **f["fusion_summary"],
                     "train_seconds": f["train_seconds"]})
        rows.append({"method": label, "model": "audio only", "frames": 0, **f["audio_summary"],
                     "train_seconds": runs[name]["train_seconds"]})
        fused[name] = f
    yt = fused["xception_audio"]["labels"]["test"]
    vprobs = fused["xception_audio"]["video_probs"]
    frame_feats = fused["xception_audio"]["frame_features"]
    out_probs = {n: {"fusion": f["probs"], "audio": f["audio_probs"]} for n, f in fused.items()}
    rows.append({"method": "Inception v3", "model": "video only", "frames": preset.eval_frames,
                 **metric_summary(yt, vprobs), "train_seconds": runs["visual"]["train_seconds"]})
    C = bench.num_classes
    confusions["audio (Xception + UC)"] = confusion(yt, out_probs["xception_audio"]["audio"], n_classes=C)
    confusions["video (Inception v3)"] = confusion(yt, vprobs, n_classes=C)
    confusions["fusion (Xception + Inception v3)"] = confusion(yt, out_probs["xception_audio"]["fusion"], n_classes=C)

    test_probs = {f"{_PAPER_AUDIO_NAMES[n]} {m}": f[p] for n, f in fused.items()
                  for m, p in (("fusion", "probs"), ("audio only", "audio_probs"),
                               ("fusion, audio missing", "probs_audio_missing"),
                               ("fusion, video missing", "probs_video_missing"))}
    test_probs["Inception v3 video only"] = vprobs
    out = {"table": pd.DataFrame(rows), "confusions": confusions, "degradation": None, "runs": runs,
           "n_test": len(yt), "y_test": yt, "test_probs": test_probs}
    if not robustness:
        return out
    # robustness: Xception audio model under noise / missing, frames dropped / missing
    name = "xception_audio"
    fmodel, parts, Y = (fused[name][key] for key in ("model", "parts", "labels"))
    saved = store.load_model(runs[name]["tag"])
    inputs = audio_inputs(bench, model=name, crop="UC", preset=preset, n_jobs=n_jobs)
    test_x = [inputs[v] for v in parts["test"]]
    amodel = _Standardise(_build_audio_model(name, C, (1, *np.asarray(test_x[0]).shape[-2:])), 0.0, 1.0)
    amodel.load_state_dict(saved["state"])
    vsaved = store.load_model(runs["visual"]["tag"])
    vmodel = _frame_model(C)
    vmodel.load_state_dict(vsaved["state"])
    from ..features.frames import uniform_frame_indices

    # the same frames as the stored fusion features: k spread over the whole video
    test_frames = [np.asarray(frames[v])[uniform_frame_indices(len(frames[v]), k)] for v in parts["test"]]
    per_frame_probs, _ = _per_frame_probs(vmodel, test_frames, k, device=device)

    def video_probs(mask):
        out = np.full((len(test_frames), C), np.nan)  # no frame kept: missing (metric_summary)
        for i in range(len(test_frames)):
            m = mask[i] & per_frame_probs["valid"][i]
            if m.any():
                out[i] = per_frame_probs["p"][i][m].mean(0)
        return out

    ff = np.stack([frame_feats[v] for v in parts["test"]]).reshape(len(test_frames), k, -1)
    deg = degradation_table(fusion_model=fmodel, audio_model=amodel, audio_name=name, audio_x=test_x,
                            frame_feats=ff, frame_probs_fn=video_probs, labels=Y["test"], n_frames=k,
                            snr_db=preset.snr_db, keep_fractions=preset.keep_fractions, seed=seed, device=device)
    out["degradation"] = deg
    return out


# --------------------------------------------------------------------------- YouTube-8M-style variant
#: Frames per video of the paper's YouTube-8M fusion rows (Table 4) and pre-trained visual row (Table 2).
YT8M_FUSION_FRAMES = 20


def youtube8m_preset(preset: ICMRPreset) -> ICMRPreset:
    """``preset`` with the paper's YouTube-8M frame counts where it uses more.

    The paper fuses 20 frames per YouTube-8M video (Table 4) with the 20-frame pre-trained
    Inception v3 (Table 2), against 50 for FCVID: ``fusion_frames`` and the frames of
    ``fusion_visual`` are capped at :data:`YT8M_FUSION_FRAMES` (the ``paper`` preset becomes
    20 / (20, pre-trained); the smaller presets already use fewer frames and are unchanged).
    """
    k = min(int(preset.fusion_frames), YT8M_FUSION_FRAMES)
    vk = min(int(preset.fusion_visual[0]), YT8M_FUSION_FRAMES)
    if (k, vk) == (preset.fusion_frames, preset.fusion_visual[0]):
        return preset
    note = f" YouTube-8M: fusion over {k} frames and the {vk}-frame visual model (paper Tables 2 and 4)."
    return replace(preset, fusion_frames=k, fusion_visual=(vk, bool(preset.fusion_visual[1])),
                   changes=preset.changes + note)


def youtube8m_class_counts(bench: Benchmark) -> pd.DataFrame:
    """Per-class videos of ``bench`` beside the real YouTube-8M class of the same rank.

    Columns: ``category``, ``yt8m_class`` and ``yt8m_videos`` (the real YouTube-8M class whose
    count this category takes, :data:`avlib.data.instruments.YT8M_RANK_ORDER`), ``yt8m_share``
    and ``share`` (% of the 12 classes), ``videos``, ``train``/``val``/``test`` (official split)
    and, when the benchmark has ``videos_info.csv`` (embedded benchmarks), ``no_instrument``
    (mean share of shots without the instrument, %) and ``mislabelled`` (videos whose rendered
    instrument differs from the label). Sorted by the real count, largest first; the real
    counts come from the authors' list (ICMR 2017, Table 1).
    """
    from ..data.instruments import CATEGORY_OF, YT8M_COUNTS, YT8M_LABEL_NAMES, YT8M_RANK_ORDER

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
        away = grp["no_instrument_fraction"].mean() * 100.0
        out["no_instrument"] = out["category"].map(away)
        if "mislabelled" in info:
            out["mislabelled"] = out["category"].map(grp["mislabelled"].sum()).fillna(0).astype(int)
    return out.sort_values(["yt8m_videos", "videos"], ascending=False, na_position="last").reset_index(drop=True)


def _per_class_recall(y, probs_by_model: dict, categories) -> pd.DataFrame:
    """Test videos and recall (%) per class for each model (the diagonals of Figure 3)."""
    y = np.asarray(y)
    out = pd.DataFrame({"category": list(categories), "test_videos": np.bincount(y, minlength=len(categories))})
    for name, probs in probs_by_model.items():
        cm = confusion(y, probs, n_classes=len(categories))
        recall = 100.0 * np.diag(cm)
        out[name] = np.where(out["test_videos"] > 0, recall, np.nan)
    return out


def run_youtube8m_figure(bench: Benchmark, preset: ICMRPreset, *, seed: int = 0, store: FeatureStore,
                         audio: tuple = ("choi2016", "UC"), device=None, n_jobs=None, weights=None) -> dict:
    """Figure 3 and the YouTube-8M rows of Tables 2-4 on the YouTube-8M-style benchmark.

    Trains (or reuses from ``store``) the audio model ``audio`` (Choi et al. 2016 + UC, the
    paper's best YouTube-8M audio model, Table 3), the visual model of ``fusion_visual``
    (Inception v3 pre-trained on the variant's image bank, Table 2) and the late fusion on
    the audio model's features (Table 4, Choi row), with :func:`youtube8m_preset` applied to
    ``preset``. ``bench`` is normally ``load_benchmark(..., source="embedded_yt8m")``; ``store``
    must be that source's (``FeatureStore.for_run(..., source="embedded_yt8m")``) so that nothing
    is shared with the FCVID-style runs.

    Returns
    -------
    dict
        ``table2`` (the visual row: frames, pretrained, steps, hours, Hit@1/Hit@3/F1),
        ``table3`` (the audio row, as :func:`run_audio_table`), ``table4`` (fusion, audio-only
        and video-only rows on the videos with both inputs, as ``run_fusion_table()["table"]``),
        ``confusions`` ({"audio ...", "video ...", "fusion ...": row-normalised ``(C, C)``}),
        ``per_class`` (test videos and recall per class and model), ``runs``, ``n_test`` and
        ``preset`` (the preset used).
    """
    name, crop = audio
    if name not in _PAPER_AUDIO_NAMES:
        raise ParameterError(f"unknown audio model {name!r}; valid: {', '.join(_PAPER_AUDIO_NAMES)}")
    preset = youtube8m_preset(preset)
    k, pretrained = int(preset.fusion_visual[0]), bool(preset.fusion_visual[1])
    runs = {"audio": run_audio_model(bench, preset, name, crop, seed=seed, store=store, device=device,
                                     n_jobs=n_jobs)}
    frames = frame_inputs(bench, preset=preset, n_frames=max(k, preset.eval_frames, preset.fusion_frames),
                          n_jobs=n_jobs)
    runs["visual"] = run_visual_model(bench, preset, k, pretrained, frames=frames, seed=seed, store=store,
                                      weights=weights, device=device)
    fused = run_fusion_model(bench, preset, runs["audio"], runs["visual"], seed=seed, store=store, device=device)

    a, v = runs["audio"], runs["visual"]
    audio_label = _PAPER_AUDIO_NAMES[name] + ("" if name == "han2016" else f" + {crop.upper()}")
    table3 = pd.DataFrame([{"method": audio_label, **{c: a[c] for c in (
        "crop", "params", "params_paper_input", "hit_at_1", "hit_at_3", "f1", "f1_macro", "train_seconds",
        "epochs_run", "examples_per_s", "cached")}}])
    table2 = pd.DataFrame([{c: v[c] for c in ("frames", "pretrained", "pretrain_source", "steps", "train_seconds",
                                              "pretrain_seconds", "hit_at_1", "hit_at_3", "f1", "f1_macro",
                                              "epochs_run", "examples_per_s", "cached")}])
    method = _PAPER_AUDIO_NAMES[name]
    table4 = pd.DataFrame([
        {"method": method, "model": "fusion", "frames": preset.fusion_frames, **fused["fusion_summary"],
         "train_seconds": fused["train_seconds"]},
        {"method": method, "model": "audio only", "frames": 0, **fused["audio_summary"],
         "train_seconds": a["train_seconds"]},
        {"method": "Inception v3", "model": "video only", "frames": preset.eval_frames, **fused["video_summary"],
         "train_seconds": v["train_seconds"]},
    ])
    yt, C = fused["labels"]["test"], bench.num_classes
    probs = {f"audio ({audio_label})": fused["audio_probs"], "video (Inception v3)": fused["video_probs"],
             f"fusion ({method} + Inception v3)": fused["probs"]}
    confusions = {n: confusion(yt, p, n_classes=C) for n, p in probs.items()}
    return {"table2": table2, "table3": table3, "table4": table4, "confusions": confusions,
            "per_class": _per_class_recall(yt, probs, bench.categories), "runs": runs, "n_test": len(yt),
            "preset": preset, "y_test": yt,
            "test_probs": {f"{method} fusion": fused["probs"], f"{method} audio only": fused["audio_probs"],
                           "Inception v3 video only": fused["video_probs"]}}


def _per_frame_probs(model, frames: list, k: int, *, device=None):
    """Per-frame softmax ``(n, k, C)`` with a validity mask for videos with fewer frames."""
    lens = [min(len(f), k) for f in frames]
    flat = np.concatenate([np.asarray(f[:k]) for f in frames])
    logits = predict(model, (torch.from_numpy(flat),), batch_size=64, device=device, has_targets=False,
                     input_transform=_frame_transform)
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


# --------------------------------------------------------------------------- figures
def plot_confusions(confusions: dict, class_names, *, title: str = "", figsize=None):
    """Confusion matrices side by side (seaborn heatmaps, row-normalised, in %), as Figures 2-3."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = len(confusions)
    class_names = [str(c).replace("Performance", "") for c in class_names]  # FCVID names, shortened
    fig, axes = plt.subplots(1, n, figsize=figsize or (6.2 * n, 5.6), squeeze=False)
    for ax, (name, cm) in zip(axes[0], confusions.items()):
        sns.heatmap(100 * np.asarray(cm), ax=ax, vmin=0, vmax=100, cmap="Blues", annot=len(class_names) <= 13,
                    fmt=".0f", annot_kws={"size": 7}, cbar=False, square=True,
                    xticklabels=class_names, yticklabels=class_names)
        ax.set_title(name)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(labelsize=7)
    if title:
        import textwrap

        fig.suptitle(textwrap.fill(title, 160), fontsize=9)
    fig.tight_layout()
    return fig


def plot_degradation(deg: pd.DataFrame, *, metric: str = "hit_at_1", title: str = ""):
    """Accuracy of fusion vs single-modality models under degraded or missing input (3 panels)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    clean = deg[deg["condition"] == "clean"]
    noise = pd.concat([clean[clean["model"] != "video only"].assign(level=np.inf), deg[deg["condition"] == "audio noise"]])
    noise = noise.assign(snr=noise["level"].map(lambda v: "clean" if np.isinf(v) else f"{v:g} dB"))
    sns.pointplot(data=noise, x="snr", y=metric, hue="model", ax=axes[0], order=list(dict.fromkeys(noise["snr"])))
    axes[0].set_title("audio noise (SNR)")
    kept = deg[deg["condition"] == "frames kept"]
    sns.pointplot(data=kept, x="level", y=metric, hue="model", ax=axes[1],
                  order=sorted(kept["level"].unique(), reverse=True))
    axes[1].set_xlabel("fraction of frames kept")
    axes[1].set_title("dropped frames")
    miss = deg[deg["model"] == "fusion"]
    miss = miss[miss["condition"].isin(["clean", "audio missing", "video missing"])]
    sns.barplot(data=miss, x="condition", y=metric, ax=axes[2], color="tab:blue")
    axes[2].set_title("fusion with a missing modality")
    for ax in axes:
        ax.set_ylim(0, 100)
        ax.set_ylabel(metric.replace("_at_", "@").replace("hit", "Hit") + " (%)")
    if title:
        import textwrap

        fig.suptitle(textwrap.fill(title, 160), fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- book tables
_METRICS = ["hit_at_1", "hit_at_3", "f1"]

#: Display names of the F1 columns: the paper's F1 is the support-weighted F1 (scikit-learn's
#: "avg / total" of 2017, :mod:`avlib.metrics.classification`); the macro F1 is ours only.
F1_LABELS = {"f1": "weighted F1", "f1_macro": "macro F1"}


def _paper_beside_ours(ours: pd.DataFrame, paper: pd.DataFrame, *, on: list, columns: list) -> pd.DataFrame:
    """:func:`avlib.report.side_by_side` of ``columns`` + the metrics, F1 labelled.

    ``f1 (paper)`` / ``f1 (ours)`` become ``weighted F1 (paper)`` / ``weighted F1 (ours)`` (the
    paper's F1 is the support-weighted one); our macro F1, when ``ours`` has ``f1_macro``, is
    added as ``macro F1 (ours)`` (the paper reports none).
    """
    from ..report import side_by_side

    cols = list(columns) + _METRICS
    paper = paper.copy()
    if "f1_macro" in ours:
        paper["f1_macro"] = np.nan
        cols.append("f1_macro")
    out = side_by_side(ours, paper, on=on, columns=cols).drop(columns=["f1_macro (paper)"], errors="ignore")
    return out.rename(columns={f"{m} ({who})": f"{F1_LABELS[m]} ({who})" for m in F1_LABELS
                               for who in ("paper", "ours")})


def table3_side_by_side(ours: pd.DataFrame, *, dataset: str = "FCVID") -> pd.DataFrame:
    """Table 3 with the paper's ``dataset`` rows beside ours (keyed on method); F1 = weighted F1
    (the paper's), our macro F1 beside it (:func:`_paper_beside_ours`)."""
    from ..report import paper_table

    paper = paper_table("icmr2017_table3_audio")
    paper = paper[paper["dataset"] == dataset].copy()
    paper["params_M"] = paper["params_millions"]
    ours = ours.copy()
    ours["params_M"] = ours["params_paper_input"] / 1e6
    return _paper_beside_ours(ours, paper, on=["method"], columns=["params_M"])


def table2_side_by_side(ours: pd.DataFrame, *, dataset: str = "FCVID") -> pd.DataFrame:
    """Table 2: paper rows (frames 20-100) and our rows (the preset's frames) on one key.

    Keys are ``frames`` and ``pretrained`` ("yes"/"no"); rows present on one side only have
    NaN on the other (our presets use fewer frames than the paper). F1 = weighted F1 (the
    paper's), our macro F1 beside it.
    """
    from ..report import paper_table

    paper = paper_table("icmr2017_table2_visual")
    paper = paper[paper["dataset"] == dataset].copy()
    paper["hours"] = paper["train_hours"]
    ours = ours.copy()
    ours["pretrained"] = ours["pretrained"].map(lambda b: "yes" if b else "no")
    ours["hours"] = (ours["train_seconds"] + ours["pretrain_seconds"].where(ours["pretrained"] == "yes", 0)) / 3600
    out = _paper_beside_ours(ours, paper, on=["frames", "pretrained"], columns=["steps", "hours"])
    return out.sort_values(["frames", "pretrained"]).reset_index(drop=True)


def pretraining_effect(ours: pd.DataFrame, *, dataset: str = "FCVID") -> pd.DataFrame:
    """Weighted F1 (the paper's F1) and Hit@1 gain of pre-training at equal frames, paper vs ours (Table 2)."""
    from ..report import paper_table

    rows = []
    paper = paper_table("icmr2017_table2_visual")
    paper = paper[paper["dataset"] == dataset]
    for who, df in (("paper", paper.assign(pretrained=paper["pretrained"] == "yes")), ("ours", ours)):
        for k, grp in df.groupby("frames"):
            if grp["pretrained"].nunique() < 2:
                continue
            yes, no = grp[grp["pretrained"]].iloc[0], grp[~grp["pretrained"]].iloc[0]
            rows.append({"who": who, "frames": k, "hit_at_1 gain": yes["hit_at_1"] - no["hit_at_1"],
                         "f1 gain": yes["f1"] - no["f1"]})
    return pd.DataFrame(rows)


def table4_side_by_side(ours: pd.DataFrame, *, dataset: str = "FCVID", paper_frames: int = 50) -> pd.DataFrame:
    """Table 4 (fusion) plus the unimodal rows it is compared with, paper beside ours.

    Paper values: fusion from Table 4, audio-only from Table 3 (UC), video-only from Table 2
    (``paper_frames`` frames, pre-trained). For YouTube-8M the paper's human listeners are a
    row too (method "human listeners", model "human": F1 only, Sec. 4.4; we have no human
    study, so our side is empty). F1 = weighted F1 (the paper's), our macro F1 beside it.
    """
    from ..report import paper_table

    t4 = paper_table("icmr2017_table4_multimodal")
    t3 = paper_table("icmr2017_table3_audio")
    t2 = paper_table("icmr2017_table2_visual")
    t4, t3, t2 = (t[t["dataset"] == dataset] for t in (t4, t3, t2))
    rows = []
    for _, r in t4.iterrows():
        rows.append({"method": r["method"], "model": "fusion", **{m: r[m] for m in _METRICS}})
    for name, key in (("Xception", "Xception + UC"), ("Choi et al. 2016", "Choi et al. 2016 + UC")):
        r = t3[t3["method"] == key]
        if len(r):
            rows.append({"method": name, "model": "audio only", **{m: r.iloc[0][m] for m in _METRICS}})
    r = t2[(t2["frames"] == paper_frames) & (t2["pretrained"] == "yes")]
    if len(r):
        rows.append({"method": "Inception v3", "model": "video only", **{m: r.iloc[0][m] for m in _METRICS}})
    human = paper_table("icmr2017_human")
    human = human[human["dataset"] == dataset]
    if len(human):
        rows.append({"method": "human listeners", "model": "human", "hit_at_1": np.nan, "hit_at_3": np.nan,
                     "f1": float(human.iloc[0]["f1"])})
    paper = pd.DataFrame(rows)
    return _paper_beside_ours(ours, paper, on=["method", "model"], columns=[])
