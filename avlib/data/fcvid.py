"""Readers for the real data formats of ICMR 2017.

* FCVID layout: a root folder ``<category>/<video_id>.<ext>`` (any container PyAV opens)
  plus the list of ids and labels (:func:`avlib.data.icmr_metadata.load_fcvid_list`, or the
  embedded benchmark's ``videos.csv``): :func:`locate_videos`, :func:`scan_video_root`.
* YouTube-8M subset: the list of ids and 13 labels, for users who have the videos
  (``<root>/<video_id>.<ext>`` or ``<root>/<label name>/<video_id>.<ext>``):
  :func:`load_yt8m_videos`.
* The authors' released feature files (HDF5): one group per video with ``audio``
  float32 (1, 1024) and ``video`` float32 (k, 2048): :func:`read_feature_file`,
  :func:`write_feature_file`, :func:`entry_matrix` (one file entry), :func:`feature_file_matrices`.
* The late-fusion input layout of ICMR 2017 (Sec. 3.3, Figure 1), which those files feed:
  :func:`fusion_matrix`, :func:`fusion_matrices`, :func:`modality_mask` (re-exported by
  :mod:`avlib.models.late_fusion`, whose :class:`~avlib.models.late_fusion.LateFusion` reads it).

Layout: ``k`` frame vectors of ``2 * dim`` (Inception v3, 2048) are each split into two rows of
``dim`` (1024) and the audio vector is appended, giving a ``(2k + 1, dim)`` matrix: rows ``2i``
and ``2i + 1`` are the two halves of frame ``i``, row ``2k`` is the audio vector; a missing
modality, and the frames a video does not have, are zero rows (the paper's encoding).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.errors import DataError, MediaError, ParameterError
from avlib.features.dataset import resolve_video_path

from .icmr_metadata import FCVID_CATEGORIES, load_fcvid_list, load_yt8m_list

__all__ = [
    "VIDEO_EXTENSIONS",
    "scan_video_root",
    "locate_videos",
    "load_fcvid_videos",
    "load_yt8m_videos",
    "read_feature_file",
    "write_feature_file",
    "fusion_matrix",
    "fusion_matrices",
    "modality_mask",
    "entry_matrix",
    "feature_file_matrices",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".flv", ".3gp", ".mpg", ".mpeg", ".m4v", ".wmv")


def scan_video_root(video_root, *, categories=None) -> pd.DataFrame:
    """Every video file under ``video_root/<category>/`` -> DataFrame(video_id, category, label, path).

    ``label`` is the index in ``categories`` (default: FCVID order) or -1 for unknown folders.
    """
    cats = list(categories or FCVID_CATEGORIES)
    root = Path(video_root)
    if not root.is_dir():
        raise DataError(f"video root {root} does not exist")
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith("."):
                rows.append((f.stem, folder.name, cats.index(folder.name) if folder.name in cats else -1, str(f)))
    return pd.DataFrame(rows, columns=["video_id", "category", "label", "path"])


def locate_videos(videos_df: pd.DataFrame, video_root) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach a ``path`` to each listed video found in the FCVID layout.

    Returns ``(found, missing)``: ``found`` keeps list order with an absolute ``path``;
    ``missing`` lists the ids without a file (unknown ids, videos taken down on YouTube...).
    """
    paths = [resolve_video_path(video_root, str(r.video_id), getattr(r, "category", None))
             for r in videos_df.itertuples(index=False)]
    df = videos_df.copy()
    df["path"] = [str(p) if p else None for p in paths]
    found = df[df["path"].notna()].reset_index(drop=True)
    missing = df[df["path"].isna()].drop(columns="path").reset_index(drop=True)
    return found, missing


def load_fcvid_videos(video_root, metadata_dir=None, *, download: bool = False):
    """The real FCVID list joined with the files a user has under ``video_root``.

    Returns ``(found, missing)`` as :func:`locate_videos`.
    """
    return locate_videos(load_fcvid_list(metadata_dir, download=download), video_root)


def load_yt8m_videos(video_root, metadata_dir=None, *, download: bool = False):
    """The YouTube-8M list (13 labels) joined with the user's files.

    Files may sit flat (``<root>/<id>.<ext>``) or under the label name
    (``<root>/<Guitar|Piano|...>/<id>.<ext>``). Returns ``(found, missing)``.
    """
    return locate_videos(load_yt8m_list(metadata_dir, download=download), video_root)


def read_feature_file(path, *, ids=None, dim: int = 1024) -> dict[str, dict[str, np.ndarray]]:
    """Read a feature file in the layout of the authors' release (ICMR 2017).

    Layout: one HDF5 group per video id holding ``audio`` (1, dim) float32 (audio-network
    penultimate features) and ``video`` (k, 2 * dim) float32 (Inception v3 pooled features of
    k frames). Either dataset may be absent (missing modality); anything at the top level
    that is not a group is ignored.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    ids : list of str, optional
        Only these videos (each must have a group); default every group, in file order.
    dim : int
        Audio feature width (1024 in the paper; frame vectors are ``2 * dim`` wide).

    Returns
    -------
    dict
        ``video_id -> {"audio": (1, dim) array or None, "video": (k, 2 * dim) array or None}``.

    Raises
    ------
    MediaError
        The file is missing, not HDF5, holds no video group, or a dataset has the wrong
        shape (the message names the file).
    DataError
        A requested id has no group.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise MediaError(path, "feature file does not exist")
    out = {}
    try:
        with h5py.File(path, "r") as h5:
            wanted = list(ids) if ids is not None else [k for k in h5.keys() if isinstance(h5[k], h5py.Group)]
            for vid in wanted:
                if vid not in h5 or not isinstance(h5[vid], h5py.Group):
                    raise DataError(f"{path}: no group for video id {vid!r}")
                g = h5[vid]
                out[vid] = {k: (np.asarray(g[k], np.float32) if k in g else None) for k in ("audio", "video")}
    except (OSError, KeyError, TypeError) as exc:
        raise MediaError(path, f"not a readable multimodal feature file ({exc})") from exc
    if not out and ids is None:
        raise MediaError(path, "no video groups in the feature file")
    for vid, d in out.items():
        a, v = d["audio"], d["video"]
        if a is not None and (a.size != dim or a.shape[-1] != dim):
            raise MediaError(path, f"{vid}/audio has shape {a.shape}, expected (1, {dim})")
        if v is not None and (v.ndim != 2 or v.shape[1] != 2 * dim):
            raise MediaError(path, f"{vid}/video has shape {v.shape}, expected (k, {2 * dim})")
    return out


def write_feature_file(path, features: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write features in the layout :func:`read_feature_file` reads (atomically).

    Parameters
    ----------
    path : str or Path
        Destination HDF5 file (parent folders are created).
    features : dict
        ``video_id -> {"audio": (dim,) or (1, dim), "video": (k, 2 * dim)}``; a value that is
        None, absent, or a video with no frame is a missing modality (no dataset is written).

    Returns
    -------
    Path
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as h5:
            for vid, d in features.items():
                g = h5.create_group(str(vid))
                audio, video = d.get("audio"), d.get("video")
                if audio is not None:
                    g.create_dataset("audio", data=np.asarray(audio, np.float32).reshape(1, -1))
                if video is not None and len(video):
                    g.create_dataset("video", data=np.asarray(video, np.float32))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def fusion_matrix(audio, frames, *, n_frames: int, dim: int = 1024) -> np.ndarray:
    """Stack one video's features into the ``(2 * n_frames + 1, dim)`` late-fusion input.

    Parameters
    ----------
    audio : np.ndarray [shape=(dim,) or (1, dim)] or None
        Audio-network penultimate features; ``None`` (missing audio) gives a zero row.
    frames : np.ndarray [shape=(k, 2 * dim)] or None
        Frame features (Inception v3 pooled, 2048 for dim 1024); ``None`` (missing video)
        gives zero rows. The first ``n_frames`` are used; fewer frames leave zero rows.
    n_frames : int
        ``k`` of the layout (paper: 50 for FCVID, 20 for YouTube-8M).
    dim : int
        Row width (1024).

    Returns
    -------
    np.ndarray [shape=(2 * n_frames + 1, dim), dtype=float32]
    """
    if n_frames < 0:
        raise ParameterError(f"n_frames must be >= 0, got {n_frames}")
    out = np.zeros((2 * n_frames + 1, dim), dtype=np.float32)
    if frames is not None:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != 2 * dim:
            raise ParameterError(f"frames must have shape (k, {2 * dim}), got {frames.shape}")
        k = min(n_frames, frames.shape[0])
        out[: 2 * k] = frames[:k].reshape(2 * k, dim)
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.shape[0] != dim:
            raise ParameterError(f"audio must have {dim} values, got {audio.shape[0]}")
        out[2 * n_frames] = audio
    return out


def fusion_matrices(audio: dict, frames: dict, video_ids, *, n_frames: int, dim: int = 1024) -> np.ndarray:
    """:func:`fusion_matrix` for many videos: ``(len(video_ids), 2k+1, dim)`` float32.

    ``audio`` and ``frames`` map video id -> features; an id absent from one of them (or
    mapped to ``None``) is a missing modality (zero rows).
    """
    if not len(video_ids):
        return np.zeros((0, 2 * n_frames + 1, dim), np.float32)
    return np.stack([fusion_matrix(audio.get(v), frames.get(v), n_frames=n_frames, dim=dim) for v in video_ids])


def modality_mask(x, *, n_frames: int, audio: bool = True, video: bool = True):
    """Zero the audio row and/or the frame rows of fusion inputs ``(N, 2k+1, dim)`` (a copy;
    NumPy arrays and torch tensors alike)."""
    x = x.clone() if hasattr(x, "clone") else np.array(x, copy=True)
    if not audio:
        x[:, 2 * n_frames] = 0
    if not video:
        x[:, : 2 * n_frames] = 0
    return x


def entry_matrix(entry: dict, *, n_frames: int, dim: int = 1024) -> np.ndarray:
    """The late-fusion input of one entry of :func:`read_feature_file`.

    ``entry`` is ``{"audio": ..., "video": ...}`` (either may be None or absent); the layout is
    :func:`fusion_matrix`'s (two rows per frame, the audio row last, zeros for what is missing).
    """
    return fusion_matrix(entry.get("audio"), entry.get("video"), n_frames=n_frames, dim=dim)


def feature_file_matrices(path, *, n_frames: int | None = None, dim: int = 1024):
    """Late-fusion inputs of every video in an authors'-layout feature file.

    ``n_frames`` defaults to the largest frame count in the file (20 for YouTube-8M, 50 for
    FCVID). Returns ``(video_ids, X)`` with ``X`` float32 ``(n_videos, 2 * n_frames + 1, dim)``;
    :func:`avlib.experiments.icmr.feature_files.run_fusion_from_feature_file` trains on such a
    file given the videos' labels.
    """
    feats = read_feature_file(path, dim=dim)
    if n_frames is None:
        n_frames = max((0 if f["video"] is None else len(f["video"])) for f in feats.values())
    ids = list(feats)
    X = fusion_matrices({v: f["audio"] for v, f in feats.items()}, {v: f["video"] for v, f in feats.items()},
                        ids, n_frames=n_frames, dim=dim)
    return ids, X
