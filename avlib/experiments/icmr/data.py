"""The ICMR 2017 benchmark and the inputs of its networks (Sec. 4.1-4.2 of the paper).

:func:`load_benchmark` gives the embedded instrument benchmark (FCVID-style, or the
YouTube-8M-style variant) or a real tree in FCVID's layout, with the authors' 70/15/15 split;
:func:`audio_inputs`, :func:`frame_inputs` and :func:`image_bank` give the networks' inputs
(cached on disk by :mod:`avlib.features`); :func:`read_video_list` reads a video list in
FCVID's list format for the feature-file experiments.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from ...config.icmr import ICMRConfig
from ...data import instruments
from ...data.icmr_metadata import split_frame
from ...data.real import REAL_SOURCES, source_folder
from ...errors import DataError, ParameterError
from ...features.audio import han_target_sr
from ...features.dataset import extract_features
from ...paths import cache_root

__all__ = [
    "YT8M_SOURCE",
    "EMBEDDED_NAMES",
    "Benchmark",
    "load_benchmark",
    "official_split",
    "read_video_list",
    "audio_spec",
    "frame_spec",
    "audio_inputs",
    "frame_inputs",
    "VideoFrames",
    "FrameDataset",
    "media_counts",
    "frame_transform",
    "image_bank",
]

#: ``source`` of the YouTube-8M-style embedded variant (:func:`load_benchmark`).
YT8M_SOURCE = "embedded_yt8m"

#: Folder name (under ``embedded/<scale>/`` and the feature cache) of each embedded ``source``.
EMBEDDED_NAMES = {"embedded": "instruments", YT8M_SOURCE: "instruments_yt8m"}


@dataclass
class Benchmark:
    """A video collection in the FCVID layout with its official split.

    ``videos``: DataFrame with ``video_id``, ``category``, ``label``, ``split`` (train/val/test);
    ``video_root``: folder of ``<category>/<id>.mp4``; ``image_bank``: folder of
    ``<category>/*.png`` or None; ``categories``: class names in label order; ``source``: name
    for captions; ``cache_dir``: feature cache; ``root``: the benchmark's folder.
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


def load_benchmark(data_root, *, scale: str, seed: int = 0, source: str = "embedded", n_jobs=None) -> Benchmark:
    """The instrument benchmark (generated if missing) or a real FCVID/YouTube-8M tree.

    ``source="embedded"``: :func:`avlib.data.instruments.ensure_instrument_benchmark`
    (FCVID-style); ``source="embedded_yt8m"`` (:data:`YT8M_SOURCE`):
    :func:`avlib.data.instruments.ensure_yt8m_benchmark` (with its own folder and feature
    cache); ``"real"`` / ``"real_youtube8m"``: the real FCVID / YouTube-8M folder under
    ``data_root`` (:mod:`avlib.data.real`); any other value is a folder with the same layout (``videos.csv``,
    ``videos/<category>/<id>.mp4``, optionally ``image_bank/``). The split is the authors'
    (:func:`avlib.data.icmr_metadata.split_frame`).
    """
    if source in EMBEDDED_NAMES:
        make = instruments.ensure_instrument_benchmark if source == "embedded" else instruments.ensure_yt8m_benchmark
        root = Path(make(data_root, scale=scale, seed=seed, n_jobs=n_jobs))
        categories = list(instruments.CATEGORIES)
        name = "embedded benchmark" + ("" if source == "embedded" else ", YouTube-8M-style variant")
        cache_name = EMBEDDED_NAMES[source]
    else:
        root = source_folder(source, data_root)
        if not (root / "videos.csv").is_file():
            raise DataError(f"{root} has no videos.csv (expected the FCVID layout: videos.csv and "
                            f"videos/<category>/<video_id>.mp4; `python -m avlib.data check` lists what is missing)")
        categories = None
        name = root.name
        cache_name = REAL_SOURCES.get(source, "instruments")
    df = pd.read_csv(root / "videos.csv", dtype={"video_id": str})
    if categories is None:
        categories = list(df.sort_values("label").drop_duplicates("label")["category"])
    df["split"] = split_frame(df)["split"].to_numpy()
    bank = root / "image_bank"
    video_root = root / "videos" if (root / "videos").is_dir() else root
    return Benchmark(df, video_root, bank if bank.is_dir() else None, categories, name,
                     Path(cache_root(data_root)) / cache_name, root)


def official_split(df: pd.DataFrame) -> pd.Series:
    """The authors' split of a list in list order (train/val/test, 70/15/15, not stratified):
    :func:`avlib.data.icmr_metadata.split_frame`."""
    return pd.Series(split_frame(df)["split"].to_numpy(), index=df.index)


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
        rule over the list order (:func:`official_split`).
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
        df["split"] = official_split(df).to_numpy()
    elif not set(df["split"]) <= {"train", "val", "test"}:
        raise DataError(f"split values must be train/val/test, got {sorted(set(df['split']))}")
    return df.reset_index(drop=True)


def _extract(bench: Benchmark, kind: str, n_jobs=None, **params) -> dict:
    feats, report = extract_features(bench.videos, video_root=bench.video_root, kind=kind, cache_dir=bench.cache_dir,
                                     n_jobs=n_jobs, **params)
    if report.skipped:
        warnings.warn(f"{len(report.skipped)} videos cannot be decoded for {kind} (scored as missing for that "
                      f"modality): {report.skipped[:3]}", stacklevel=3)
    return {str(k): v for k, v in feats.items()}


def audio_spec(cfg: ICMRConfig, *, model: str, crop: str = "UC") -> tuple[str, dict]:
    """The feature kind and parameters of an audio network's inputs (:func:`audio_inputs`)."""
    a = cfg.audio
    if model == "han2016":
        return "han", dict(n_segments=a.han_segments, target_sr=han_target_sr(a.han_segment_seconds),
                           scale=a.logmel_scale)
    if crop.upper() not in ("UC", "CC"):
        raise ParameterError(f"crop must be 'UC' or 'CC', got {crop!r}")
    return f"choi_{crop.lower()}", dict(seconds=a.choi_seconds, scale=a.logmel_scale)


def frame_spec(cfg: ICMRConfig, *, n_frames: int | None = None) -> tuple[str, dict]:
    """The feature kind and parameters of the cached frames (:func:`frame_inputs`)."""
    v = cfg.visual
    k = n_frames or max(max(v.frames_grid), v.eval_frames, cfg.fusion.frames)
    return "frames", dict(k=k, mode="fps", rate=1.0, size=v.frame_resize)


def audio_inputs(bench: Benchmark, cfg: ICMRConfig, *, model: str, crop: str = "UC", n_jobs=None) -> dict:
    """Log-mel inputs per video id (Table 3's networks; cached on disk).

    ``han2016``: ``(audio.han_segments, 128, 43)`` segments of ``audio.han_segment_seconds``;
    ``choi2016`` / ``xception_audio``: ``(96, 1 + round(audio.choi_seconds * 12000) // 256)``
    with ``crop`` "UC" (ten uniform crops) or "CC" (the central crop). dB scale
    ``audio.logmel_scale`` (part of the cache key). A silent track gives the log-mel of silence
    and a short clip is zero-padded (:mod:`avlib.features.dataset`); :func:`media_counts`
    counts them.
    """
    kind, params = audio_spec(cfg, model=model, crop=crop)
    return _extract(bench, kind, n_jobs=n_jobs, **params)


def frame_inputs(bench: Benchmark, cfg: ICMRConfig, *, n_frames: int | None = None, n_jobs=None) -> dict:
    """Frames per video id: uint8 ``(n, 3, size, size)`` (Table 2's inputs), as :class:`VideoFrames`
    read from the memory-mapped cache on access (never all in memory).

    At most ``n_frames`` frames at 1 fps (default: the most any page of ``cfg`` uses), spread
    uniformly over longer videos, resized to ``visual.frame_resize`` squares (cached) and
    centre-cropped to ``visual.frame_size``; flips and the [-1, 1] scaling happen per batch
    (:func:`frame_transform`).
    """
    kind, params = frame_spec(cfg, n_frames=n_frames)
    out = _extract(bench, kind, n_jobs=n_jobs, **params)
    return {vid: VideoFrames(a, crop=cfg.visual.frame_size) for vid, a in out.items()}


class VideoFrames:
    """The cached frames of one video as a read-only array ``(n, 3, crop, crop)`` uint8, read on access.

    ``cached``: the frame cache's memory-mapped ``(n, R, R, 3)`` squares (:func:`frame_inputs`);
    indexing (an integer, a slice or an array of positions) reads just those frames, centre-crops
    them to ``crop`` and returns them channels-first, as NumPy would for an array of that shape.
    Nothing is held in memory but the mapping, so FCVID's 5,154 videos x 100 frames (78 GB as an
    array) stream from disk; ``np.asarray`` reads the whole video.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, cached, *, crop: int):
        a = cached if getattr(cached, "ndim", 0) != 3 else np.asarray(cached)[None]
        self._cached = a
        self._hwc = a.ndim == 4 and a.shape[-1] == 3 and a.shape[1] != 3
        side = a.shape[1] if self._hwc else (a.shape[-1] if a.ndim == 4 else crop)
        if crop > side:
            raise ParameterError(f"frame crop {crop} is larger than the cached frames ({side} px)")
        self._o, self._c = (side - crop) // 2, int(crop)

    def __len__(self) -> int:
        return int(self._cached.shape[0]) if self._cached.ndim else 0

    @property
    def shape(self) -> tuple:
        return (len(self), 3, self._c, self._c)

    def __getitem__(self, idx) -> np.ndarray:
        single = isinstance(idx, (int, np.integer))
        sel = np.asarray(self._cached[[int(idx)] if single else idx])
        if sel.ndim != 4 or len(sel) == 0:
            out = np.zeros((0, 3, self._c, self._c), np.uint8)
        else:
            o, c = self._o, self._c
            out = _frames_chw_uint8(sel[:, o:o + c, o:o + c] if self._hwc else sel[:, :, o:o + c, o:o + c])
        return out[0] if single else out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"VideoFrames({len(self)} frames, 3 x {self._c} x {self._c}, read on access)"


class FrameDataset(Dataset):
    """Items ``(frame (3, H, W) uint8[, label])``: frame ``index[i]`` of video ``owner[i]`` of ``frames``.

    ``frames``: per-video arrays or :class:`VideoFrames`; each item is read when it is asked
    for, so a training or a scoring pass over every frame of FCVID holds one batch at a time
    (DataLoader workers read ahead on a GPU). ``labels``: one per item, or None for inputs only.
    """

    def __init__(self, frames: list, owner, index, labels=None):
        self.frames = frames
        self.owner = np.asarray(owner, dtype=np.int64)
        self.index = np.asarray(index, dtype=np.int64)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        if len(self.owner) != len(self.index) or (self.labels is not None and len(self.labels) != len(self.owner)):
            raise ParameterError("FrameDataset: owner, index and labels need one entry per item")

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, i):
        x = torch.from_numpy(np.ascontiguousarray(self.frames[self.owner[i]][int(self.index[i])]))
        if self.labels is None:
            return (x,)
        return x, torch.tensor(self.labels[i])


def media_counts(bench: Benchmark, cfg: ICMRConfig, *, n_jobs=None) -> pd.DataFrame:
    """How the videos of ``bench`` fared as inputs of each kind the ICMR pages read: used
    (of which with a silent track, or a clip under 0.5 s, zero-padded) and not decodable (scored
    as missing for that modality). One row per input; read from the feature cache when the
    pages have run (:func:`avlib.features.dataset.extract_features`)."""
    specs = {"Han et al. segments": audio_spec(cfg, model="han2016"),
             "log-mel, uniform crops": audio_spec(cfg, model="choi2016", crop="UC"),
             "log-mel, central crop": audio_spec(cfg, model="choi2016", crop="CC"),
             "frames": frame_spec(cfg)}
    rows = []
    for name, (kind, params) in specs.items():
        _, report = extract_features(bench.videos, video_root=bench.video_root, kind=kind,
                                     cache_dir=bench.cache_dir, n_jobs=n_jobs, progress=False, **params)
        rows.append({"input": name, **report.counts()})
    return pd.DataFrame(rows)


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


def frame_transform(inputs, training: bool):
    """Per-batch frame transform: uint8 ``[0, 255]`` to float ``[-1, 1]`` (the paper's scaling)
    and, in training, a random horizontal flip per frame (Sec. 4.2)."""
    (x,) = inputs
    if x.dtype == torch.uint8:
        x = x.float().div_(127.5).sub_(1.0)
    if training:
        flip = torch.rand(x.shape[0], device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return (x,)


def image_bank(bench: Benchmark, *, size: int, resize: int | None = None, per_class: int | None = None,
               seed: int = 0):
    """Images of the isolated-instrument bank (the stand-in for the paper's ImageNet instrument
    images, Sec. 4.3): uint8 ``(n, 3, size, size)`` and int labels.

    Each image is resized (shorter side ``resize``, default ``size``) and centre-cropped.
    ``per_class`` caps the images per category (chosen with ``seed``). Categories absent from
    the bank get no images.
    """
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
