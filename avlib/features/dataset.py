"""Dataset-level feature extraction over a list of videos, on all cores, cached on disk.

>>> feats, report = extract_features(videos_df, video_root=root / "videos", kind="choi_uc",
...                                  cache_dir=cache_root(data_root) / "instruments")
>>> print(report)            # how many were cached / computed / skipped, and why

Kinds (output per video; see the functions for the exact definitions):

===============  ==============================  =============================================
kind             array                           from
===============  ==============================  =============================================
``choi_uc``      float32 (96, 1366) dB           :func:`avlib.features.audio.logmel_choi`, UC crop
``choi_cc``      float32 (96, 1366) dB           same, central crop
``han``          float32 (10, 128, 43) dB        :func:`avlib.features.audio.logmel_han`
``frames``       uint8 (n, size, size, 3)        :func:`avlib.features.frames.sample_frames` +
                                                 :func:`~avlib.features.frames.resize_frames`
``mfcc_stats``   float32 (2 * n_mfcc,)           mean and std of MFCCs over the clip (baselines)
===============  ==============================  =============================================

``frames`` are cached as uint8 squares (``size`` 256 in the paper) so that training can
apply :func:`avlib.features.frames.preprocess_frames` (centre crop, random flip, [-1, 1])
each epoch. Parameters for ``frames``: ``k`` (20), ``mode`` ("uniform" or "fps"), ``rate``
(1.0), ``size`` (256). Audio kinds accept the keyword parameters of their function
(e.g. ``n_mels``). Every kind accepts ``min_duration`` (s, default 0: none): shorter clips
are skipped.

User-generated video has silent tracks and very short clips. They stay in the data, as the
authors' pipeline would keep them: a silent track gives the log-mel of silence (every bin at
the dB floor) and a clip shorter than its input is zero-padded by the feature function
(:func:`avlib.features.audio.crop_choi`, :func:`~avlib.features.audio.logmel_han`). Each such
video is counted in the :class:`SkipReport` (``noted``: silent track, clip under
:data:`SHORT_SECONDS`), so a test set never changes silently. Files that cannot be decoded
(missing, truncated, corrupt, no audio/video stream) do not stop the run: each is listed in
``skipped`` with a message naming the file, and the pages score it as missing for that
modality.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.errors import MediaError, ParameterError
from avlib.utils import progress as progress_bar
from avlib.utils import worker_context, worker_init

from . import audio as A
from .cache import FeatureCache, file_key
from .frames import resize_frames, sample_frames

__all__ = ["KINDS", "SHORT_SECONDS", "SILENT_PEAK", "SkipReport", "audio_note", "extract_features", "extract_one",
           "extract_one_noted", "resolve_video_path"]

KINDS = ("choi_uc", "choi_cc", "han", "frames", "mfcc_stats")
#: Audio shorter than this (s) is noted as a short clip (zero-padded by the feature functions).
SHORT_SECONDS = 0.5
#: Peak amplitude below which an audio track counts as silent.
SILENT_PEAK = 1e-4
_AUDIO_KINDS = ("choi_uc", "choi_cc", "han", "mfcc_stats")
_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".flv", ".3gp", ".mpg", ".wav")


@dataclass
class SkipReport:
    """What :func:`extract_features` did.

    Attributes
    ----------
    skipped : list of (video_id, path, reason)
        Files that could not be used (scored as missing for this modality by the pages).
    noted : list of (video_id, path, note)
        Files used as they are but worth counting: ``"silent track"`` (the features of silence)
        and ``"short clip"`` (under :data:`SHORT_SECONDS`, zero-padded).
    n_total, n_ok, n_cached, n_computed : counts
    seconds : wall time
    media_seconds : seconds of audio (audio kinds) or number of frames (frames) produced
        by computed (not cached) entries; throughput = media_seconds / seconds.
    """

    kind: str
    n_total: int = 0
    n_ok: int = 0
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    media_seconds: float = 0.0
    n_frames: int = 0
    skipped: list = field(default_factory=list)
    noted: list = field(default_factory=list)

    def to_frame(self):
        return pd.DataFrame(self.skipped, columns=["video_id", "path", "reason"])

    def counts(self) -> dict:
        """How many videos of each kind: ``used`` (of which ``silent track`` and ``short clip``)
        and ``not decodable`` (skipped)."""
        notes = [n for _, _, n in self.noted]
        return {"videos": self.n_total, "used": self.n_ok, "silent track": notes.count("silent track"),
                "short clip": notes.count("short clip"), "not decodable": len(self.skipped)}

    def __str__(self) -> str:
        c = self.counts()
        lines = [f"{self.kind}: {self.n_ok}/{self.n_total} ok ({self.n_cached} cached, {self.n_computed} computed; "
                 f"{c['silent track']} silent, {c['short clip']} short), {len(self.skipped)} skipped, "
                 f"{self.seconds:.1f} s"]
        for vid, path, reason in self.skipped[:20]:
            lines.append(f"  skipped {vid}: {reason}")
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


def resolve_video_path(video_root, video_id: str, category: str | None = None, path: str | None = None) -> Path | None:
    """Find a video in the FCVID layout ``video_root/<category>/<video_id>.<ext>`` (any extension).

    ``path`` (absolute or relative to ``video_root``) wins when given. Returns None if absent.
    """
    root = Path(video_root)
    if path:
        p = Path(path)
        p = p if p.is_absolute() else root / p
        return p if p.exists() else None
    folders = [root / category] if category else []
    folders.append(root)
    for folder in folders:
        for ext in _EXTS:
            p = folder / f"{video_id}{ext}"
            if p.exists():
                return p
        hits = sorted(folder.glob(f"{video_id}.*")) if folder.is_dir() else []
        if hits:
            return hits[0]
    return None


def _params_for(kind: str, params: dict) -> dict:
    p = dict(params)
    p.setdefault("min_duration", 0.0)
    if kind == "frames":
        p.setdefault("k", 20)
        p.setdefault("mode", "uniform")
        p.setdefault("rate", 1.0)
        p.setdefault("size", 256)
    elif kind == "mfcc_stats":
        p.setdefault("n_mfcc", 20)
        p.setdefault("sr", 16000)
    return p


def audio_note(y: np.ndarray, sr: int) -> str | None:
    """``"silent track"``, ``"short clip"`` (under :data:`SHORT_SECONDS`) or None."""
    if len(y) == 0 or float(np.max(np.abs(y))) < SILENT_PEAK:
        return "silent track"
    if len(y) < SHORT_SECONDS * sr:
        return "short clip"
    return None


def extract_one(path, *, kind: str, **params) -> tuple[np.ndarray, float]:
    """Compute one video's feature (no cache). Returns ``(array, media amount)``.

    Raises :class:`~avlib.errors.MediaError` for unusable files. A silent or very short audio
    track is used (see the module docstring); :func:`extract_one_noted` also says so.
    """
    arr, amount, _ = extract_one_noted(path, kind=kind, **params)
    return arr, amount


def extract_one_noted(path, *, kind: str, **params) -> tuple[np.ndarray, float, str | None]:
    """:func:`extract_one` plus the note on the file (:func:`audio_note`; None for frames)."""
    p = _params_for(kind, params)
    min_dur = p.pop("min_duration")
    if kind in _AUDIO_KINDS:
        sr = {"choi_uc": A.CHOI_SR, "choi_cc": A.CHOI_SR, "han": p.get("target_sr", A.HAN_SR)}.get(kind, p.get("sr"))
        y = A.load_audio(path, sr=sr)
        if min_dur and len(y) < min_dur * sr:
            raise MediaError(path, f"clip too short ({len(y) / sr:.3f} s < {min_dur} s)")
        note = audio_note(y, sr)
        seconds = len(y) / sr
        if note == "silent track":  # every value at the dB floor, as the authors' code gives for silence
            y = np.zeros(max(len(y), 1), np.float32)
        if kind in ("choi_uc", "choi_cc"):
            return A.logmel_choi(y, sr=sr, mode=kind[-2:], **p), seconds, note
        if kind == "han":
            p.pop("target_sr", None)
            return A.logmel_han(y, sr=sr, target_sr=sr, **p), seconds, note
        import librosa

        if len(y) < p.get("n_fft", 2048):  # librosa's MFCC needs one full frame
            y = np.pad(y, (0, 2048 - len(y)))
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=p["n_mfcc"])
        return np.concatenate([m.mean(1), m.std(1)]).astype(np.float32), seconds, note
    if kind == "frames":
        frames, _ = sample_frames(path, k=p["k"], mode=p["mode"], rate=p["rate"], min_duration=min_dur)
        return resize_frames(frames, size=p["size"]), float(len(frames)), None
    raise ParameterError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def _lookup(task):
    """``(key, known)`` of one video: its cache key, and what the cache already knows of it (its
    features or its decoding error) as :func:`_work` returns it, or None when it must be decoded
    (``key`` is None when the file cannot be read)."""
    vid, path, kind, params, cache_dir = task
    try:
        key = file_key(path, kind, params)
    except OSError as exc:
        return None, (vid, "error", f"{path}: cannot read file ({exc})", 0.0, None, None)
    if cache_dir:
        cache = FeatureCache(cache_dir)
        if cache.get(kind, key, mmap=True) is not None:
            return key, (vid, "cached", key, 0.0, None, cache.get_note(kind, key))
        err = cache.get_error(kind, key)
        if err is not None:
            return key, (vid, "error", err, 0.0, None, None)
    return key, None


def _work(task):
    """Decode one video that :func:`_lookup` did not find (``task`` ends with its key):
    ``(video_id, status, key or reason, media amount, array or None, note)``."""
    vid, path, kind, params, cache_dir, key = task
    cache = FeatureCache(cache_dir) if cache_dir else None
    try:
        arr, amount, note = extract_one_noted(path, kind=kind, **params)
    except MediaError as exc:
        if cache is not None:
            cache.put_error(kind, key, str(exc))
        return vid, "error", str(exc), 0.0, None, None
    except Exception as exc:  # unexpected decoder failure: still name the file
        msg = str(MediaError(path, f"{type(exc).__name__}: {exc}"))
        return vid, "error", msg, 0.0, None, None
    if cache is not None:
        if note:
            cache.put_note(kind, key, note)
        cache.put(kind, key, arr)
        return vid, "computed", key, amount, None, note
    return vid, "computed", key, amount, arr, note


def _warm_up(kind, params):
    """Run the feature code once on a synthetic signal (librosa import and numba JIT)."""
    if kind not in _AUDIO_KINDS:
        import cv2  # noqa: F401

        return

    y = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    p = {k: v for k, v in params.items() if k not in ("min_duration",)}
    try:
        if kind in ("choi_uc", "choi_cc"):
            A.logmel_choi(y, sr=16000, seconds=1.0)
        elif kind == "han":
            A.logmel_han(y, sr=16000)
        else:
            import librosa

            librosa.feature.mfcc(y=y, sr=16000, n_mfcc=p.get("n_mfcc", 20))
    except Exception:  # warming up is only an optimisation
        pass


def extract_features(videos_df, *, video_root, kind: str, cache_dir=None, n_jobs: int | None = None,
                     mmap: bool | None = None, progress: bool = True, **params):
    """Features of every video of a list, using all cores, cached, skipping bad files.

    Parameters
    ----------
    videos_df : pandas.DataFrame
        Needs ``video_id``; ``category`` (FCVID layout) and/or ``path`` (relative to
        ``video_root`` or absolute) locate the file.
    video_root : path
        Folder holding ``<category>/<video_id>.<ext>``.
    kind : {"choi_uc", "choi_cc", "han", "frames", "mfcc_stats"}
    cache_dir : path, optional
        Feature cache folder (:class:`~avlib.features.cache.FeatureCache`); None disables caching.
    n_jobs : int, optional
        Worker processes (default all cores; 1 = in this process).
    mmap : bool, optional
        Return cached arrays memory-mapped (default: True for ``frames``).
    **params
        Parameters of the kind (see the module docstring).

    Returns
    -------
    features : dict
        ``video_id -> np.ndarray`` for every usable video, in list order.
    report : SkipReport
        Counts, timing and the skipped files with the reason (message names the file).
    """
    if kind not in KINDS:
        raise ParameterError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    if "video_id" not in videos_df.columns:
        raise ParameterError("videos_df needs a 'video_id' column")
    params = _params_for(kind, params)
    mmap = (kind == "frames") if mmap is None else mmap
    report = SkipReport(kind=kind, n_total=len(videos_df))
    t0 = time.perf_counter()
    tasks = []
    for row in videos_df.itertuples(index=False):
        vid = str(row.video_id)
        path = resolve_video_path(video_root, vid, getattr(row, "category", None), getattr(row, "path", None))
        if path is None:
            report.skipped.append((vid, None, f"unknown video id {vid!r}: no file under {video_root}"))
            continue
        tasks.append((vid, str(path), kind, params, str(cache_dir) if cache_dir else None))
    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    results = {}
    bar = progress_bar(total=len(tasks), desc=f"features[{kind}]", unit="video", disable=None if progress else True)
    pending = []  # keys and the cache are read here first: no worker pool starts when nothing is left to decode
    for task in tasks:
        key, known = _lookup(task)
        if known is None:
            pending.append(task + (key,))
        else:
            results[known[0]] = known
            bar.update(1)
    if n_jobs == 1 or len(pending) <= 1:
        if pending:
            worker_init()
        for r in map(_work, pending):
            results[r[0]] = r
            bar.update(1)
    else:
        ctx = worker_context()
        if ctx.get_start_method() == "fork":
            _warm_up(kind, params)  # imports/JIT once here, inherited by the forked workers
        with ctx.Pool(min(n_jobs, len(pending)), initializer=worker_init) as pool:
            for r in pool.imap_unordered(_work, pending, chunksize=1):
                results[r[0]] = r
                bar.update(1)
    bar.close()
    cache = FeatureCache(cache_dir) if cache_dir else None
    feats = {}
    for vid, path, *_ in tasks:
        _, status, info, amount, arr, note = results[vid]
        if status == "error":
            report.skipped.append((vid, path, info))
            continue
        if note:
            report.noted.append((vid, path, note))
        if arr is None:
            arr = cache.get(kind, info, mmap=mmap)
            if arr is None:  # vanished between write and read
                report.skipped.append((vid, path, f"{path}: cache entry missing after extraction"))
                continue
        feats[vid] = arr
        report.n_ok += 1
        if status == "cached":
            report.n_cached += 1
        else:
            report.n_computed += 1
            if kind == "frames":
                report.n_frames += int(amount)
            else:
                report.media_seconds += amount
    report.seconds = time.perf_counter() - t0
    return feats, report
