"""Readers for the real data formats of ICMR 2017.

* FCVID layout: a root folder ``<category>/<video_id>.<ext>`` (any container PyAV opens)
  plus the list of ids and labels (:func:`avlib.data.icmr_metadata.load_fcvid_list`, or the
  embedded benchmark's ``videos.csv``): :func:`locate_videos`, :func:`scan_video_root`.
* YouTube-8M subset: the list of ids and 13 labels, for users who have the videos
  (``<root>/<video_id>.<ext>`` or ``<root>/<label name>/<video_id>.<ext>``):
  :func:`load_yt8m_videos`.
* The authors' released feature files (HDF5): one group per video with ``audio``
  float32 (1, 1024) and ``video`` float32 (k, 2048): :func:`read_feature_file`,
  :func:`write_feature_file`, :func:`fusion_matrix`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from avlib.errors import DataError, MediaError

__all__ = [
    "VIDEO_EXTENSIONS",
    "scan_video_root",
    "locate_videos",
    "load_fcvid_videos",
    "load_yt8m_videos",
    "read_feature_file",
    "write_feature_file",
    "fusion_matrix",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".flv", ".3gp", ".mpg", ".mpeg", ".m4v", ".wmv")


def scan_video_root(video_root, *, categories=None) -> pd.DataFrame:
    """Every video file under ``video_root/<category>/`` -> DataFrame(video_id, category, label, path).

    ``label`` is the index in ``categories`` (default: FCVID order) or -1 for unknown folders.
    """
    from .icmr_metadata import FCVID_CATEGORIES

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
    from avlib.features.dataset import resolve_video_path

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
    from .icmr_metadata import load_fcvid_list

    return locate_videos(load_fcvid_list(metadata_dir, download=download), video_root)


def load_yt8m_videos(video_root, metadata_dir=None, *, download: bool = False):
    """The YouTube-8M list (13 labels) joined with the user's files.

    Files may sit flat (``<root>/<id>.<ext>``) or under the label name
    (``<root>/<Guitar|Piano|...>/<id>.<ext>``). Returns ``(found, missing)``.
    """
    from .icmr_metadata import load_yt8m_list

    return locate_videos(load_yt8m_list(metadata_dir, download=download), video_root)


def read_feature_file(path, *, ids=None) -> dict[str, dict[str, np.ndarray]]:
    """Read a feature file in the layout of the authors' release.

    Layout: one HDF5 group per video id holding ``audio`` (1, 1024) float32 (audio-network
    penultimate features) and ``video`` (k, 2048) float32 (Inception v3 pooled features of
    k frames). Either dataset may be absent (missing modality).

    Returns
    -------
    dict
        ``video_id -> {"audio": array or None, "video": array or None}``.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise MediaError(path, "feature file does not exist")
    out = {}
    try:
        with h5py.File(path, "r") as h5:
            for vid in (ids if ids is not None else list(h5.keys())):
                if vid not in h5:
                    raise DataError(f"{path}: no group for video id {vid!r}")
                g = h5[vid]
                if not isinstance(g, h5py.Group):
                    raise DataError(f"{path}: {vid!r} is not a group")
                out[vid] = {k: (np.asarray(g[k], np.float32) if k in g else None) for k in ("audio", "video")}
    except OSError as exc:
        raise MediaError(path, f"not a readable HDF5 file ({exc})") from exc
    for vid, d in out.items():
        if d["audio"] is not None and d["audio"].shape[-1] != 1024:
            raise DataError(f"{path}: {vid}/audio has shape {d['audio'].shape}, expected (1, 1024)")
        if d["video"] is not None and (d["video"].ndim != 2 or d["video"].shape[1] != 2048):
            raise DataError(f"{path}: {vid}/video has shape {d['video'].shape}, expected (k, 2048)")
    return out


def write_feature_file(path, features: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write ``{video_id: {"audio": (1, 1024), "video": (k, 2048)}}`` in the same layout (atomic)."""
    import os

    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with h5py.File(tmp, "w") as h5:
        for vid, d in features.items():
            g = h5.create_group(vid)
            for k in ("audio", "video"):
                if d.get(k) is not None:
                    g.create_dataset(k, data=np.asarray(d[k], np.float32))
    os.replace(tmp, path)
    return path


def fusion_matrix(entry: dict, *, n_frames: int) -> np.ndarray:
    """The late-fusion input of ICMR 2017: a (2 * n_frames + 1, 1024) matrix.

    Each 2048-d frame vector becomes two rows of 1024 (first half, second half), frames in
    order, followed by the audio row. Missing frames (fewer than ``n_frames``) or a missing
    modality are zeros; extra frames are dropped. (The row order inside the matrix is our
    choice; the flattening + dense layer that follows makes it immaterial.)
    """
    out = np.zeros((2 * n_frames + 1, 1024), np.float32)
    v = entry.get("video")
    if v is not None and len(v):
        v = np.asarray(v, np.float32)[:n_frames]
        out[: 2 * len(v)] = v.reshape(len(v) * 2, 1024)
    a = entry.get("audio")
    if a is not None:
        out[-1] = np.asarray(a, np.float32).reshape(-1)[:1024]
    return out
