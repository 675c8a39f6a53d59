"""Video frames for the visual network of ICMR 2017 (Inception v3 on frames).

The paper/reference code takes one frame per second of video, resizes it to 256 x 256,
crops the central 224 x 224 (random horizontal flip when training) and scales pixels to
[-1, 1] (Inception preprocessing). Sizes are keyword parameters so the ``cpu`` preset can
use smaller images.

* :func:`frame_times` - which times to sample ("fps": 1 per second; "uniform": k spread).
* :func:`sample_frames` - decode only those frames (seeking, not decoding every frame).
* :func:`resize_frames` - uint8 square resize (the cached representation).
* :func:`preprocess_frames` - centre crop, optional flip, scale to [-1, 1], channels first.
* :func:`uniform_frame_indices` - which ``k`` of a video's cached frames to use so that
  they span the whole video (not the first ``k``).
"""
from __future__ import annotations

import numpy as np

from avlib.errors import MediaError, ParameterError
from avlib.media import probe, read_frames_at

__all__ = ["frame_times", "sample_frames", "resize_frames", "preprocess_frames", "uniform_frame_indices"]


def frame_times(duration_s: float, *, k: int | None = None, mode: str = "fps", rate: float = 1.0) -> np.ndarray:
    """Times (s) of the frames to sample from a video of ``duration_s`` seconds.

    Parameters
    ----------
    duration_s : float
        Video duration.
    k : int, optional
        Number of frames. ``mode="uniform"``: exactly ``k`` times at the centres of ``k``
        equal parts. ``mode="fps"``: at most ``k`` of the 1-per-second times, spread
        uniformly when the video has more seconds than ``k`` (a short video gives fewer).
    mode : {"fps", "uniform"}
    rate : float
        Frames per second for ``mode="fps"`` (1 in the paper).

    Returns
    -------
    np.ndarray [shape=(n,)]
        Increasing times in ``[0, duration_s)``.
    """
    if duration_s <= 0:
        raise ParameterError(f"duration_s must be > 0, got {duration_s}")
    if mode == "uniform":
        if not k or k < 1:
            raise ParameterError("mode='uniform' needs k >= 1")
        return (np.arange(k) + 0.5) * duration_s / k
    if mode != "fps":
        raise ParameterError(f"mode must be 'fps' or 'uniform', got {mode!r}")
    n = max(1, int(np.floor(duration_s * rate)))
    times = (np.arange(n) + 0.5) / rate
    times = times[times < duration_s] if n > 1 else np.array([min(0.5 / rate, duration_s / 2)])
    if k is not None and len(times) > k:
        idx = np.round(np.linspace(0, len(times) - 1, k)).astype(int)
        times = times[idx]
    return times


def sample_frames(path, *, k: int | None = 20, mode: str = "uniform", rate: float = 1.0,
                  min_duration: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Decode the frames at :func:`frame_times` of a video file.

    Seeks to each time when frames are more than ~2 s apart (key-frame seeking), so a long
    video is not decoded in full.

    Returns
    -------
    frames : np.ndarray [shape=(n, H, W, 3), dtype=uint8]
        As stored (portrait stays portrait).
    times : np.ndarray [shape=(n,)]

    Raises
    ------
    MediaError
        Unreadable file, no video stream, no frames, or shorter than ``min_duration``.
    """
    info = probe(path)
    if not info["has_video"]:
        raise MediaError(path, "no video stream")
    dur = info["duration_s"]
    if not dur and info["fps"] and info["n_frames"]:
        dur = info["n_frames"] / info["fps"]
    if dur <= 0:
        raise MediaError(path, "zero-length video")
    if dur < min_duration:
        raise MediaError(path, f"clip too short ({dur:.3f} s < {min_duration} s)")
    times = frame_times(dur, k=k, mode=mode, rate=rate)
    return read_frames_at(path, times), times


def resize_frames(frames: np.ndarray, *, size: int = 256) -> np.ndarray:
    """Resize frames to ``size x size`` (aspect ratio not kept, as in the reference code).

    Parameters
    ----------
    frames : np.ndarray [shape=(n, H, W, 3), dtype=uint8]

    Returns
    -------
    np.ndarray [shape=(n, size, size, 3), dtype=uint8]
    """
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ParameterError(f"frames must be (n, H, W, 3), got {frames.shape}")
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, f in enumerate(frames):
        interp = cv2.INTER_AREA if min(f.shape[:2]) > size else cv2.INTER_LINEAR
        out[i] = cv2.resize(np.ascontiguousarray(f), (size, size), interpolation=interp)
    return out


def preprocess_frames(frames: np.ndarray, *, resize: int = 256, crop: int = 224, train: bool = False,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Inception-style input: resize, centre crop, random flip (training), [-1, 1], CHW.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, H, W, 3), dtype=uint8]
        Raw frames, or frames already resized to ``resize x resize`` (then not resized again).
    resize, crop : int
        Square resize and centre-crop sizes (256 / 224 in the paper).
    train : bool
        Flip each frame horizontally with probability 0.5 (needs ``rng`` for reproducibility).

    Returns
    -------
    np.ndarray [shape=(n, 3, crop, crop), dtype=float32]
        Values in [-1, 1] (``x / 127.5 - 1``).
    """
    if crop > resize:
        raise ParameterError(f"crop ({crop}) must be <= resize ({resize})")
    frames = np.asarray(frames)
    if frames.shape[1:3] != (resize, resize):
        frames = resize_frames(frames, size=resize)
    o = (resize - crop) // 2
    x = frames[:, o:o + crop, o:o + crop, :]
    if train:
        rng = rng or np.random.default_rng()
        flip = rng.random(len(x)) < 0.5
        x = np.where(flip[:, None, None, None], x[:, :, ::-1, :], x)
    x = x.astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def uniform_frame_indices(n_available: int, k: int) -> np.ndarray:
    """Indices of ``k`` frames spread uniformly over a video's ``n_available`` cached frames.

    The cached frames are in time order and cover the whole video (1 fps, or spread
    uniformly when the video is longer than the cache holds), so taking the first ``k``
    of them covers only the beginning of a long video (the first half of a 200 s video
    when 100 are cached and 50 used). The paper's frames are spread over the whole video
    (ICMR 2017, Sec. 4.2): index ``i`` is the frame at the centre of the ``i``-th of ``k``
    equal parts, ``floor((i + 0.5) * n_available / k)``.

    Parameters
    ----------
    n_available : int
        Frames the video has (cached).
    k : int
        Frames wanted.

    Returns
    -------
    np.ndarray [shape=(min(k, n_available),), dtype=int64]
        Strictly increasing indices in ``[0, n_available)``; all frames (``arange``) when
        ``k >= n_available``.
    """
    n, k = int(n_available), int(k)
    if n < 0 or k < 0:
        raise ParameterError(f"n_available and k must be >= 0, got {n_available}, {k}")
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.floor((np.arange(k) + 0.5) * n / k).astype(np.int64)
