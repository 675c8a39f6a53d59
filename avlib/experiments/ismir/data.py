"""The ISMIR experiment's inputs: per video one log-mel and the cached frames, in one order.

Both schemes and the analysis read the same :class:`AVData` (built by :func:`load_av_data` from
the ICMR chapter's cached extraction). Frames are taken spread uniformly over each video
(:func:`frame_positions`), not the first ``k``; the joint scheme draws them at random every
epoch (:class:`AVDataset` with ``random_frames``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ...config.ismir import ISMIRConfig
from ...errors import ParameterError
from ...features.frames import uniform_frame_indices
from ..icmr.data import Benchmark, audio_inputs, frame_inputs

__all__ = ["AVData", "AVDataset", "frame_positions", "take_frames", "load_av_data", "unit_frames",
           "joint_transform"]


def frame_positions(n_available: int, k: int) -> np.ndarray:
    """Which ``k`` of a video's cached frames (time order) to use: spread uniformly over the
    whole video (:func:`avlib.features.frames.uniform_frame_indices`, the paper's sampling),
    cycling through all of them when the video has fewer than ``k``."""
    if n_available < 1:
        raise ParameterError("a video has no frames")
    if n_available >= k:
        return uniform_frame_indices(n_available, k)
    return np.arange(k) % n_available


def take_frames(frames: np.ndarray, positions) -> np.ndarray:
    """``frames[positions]``, the positions taken modulo the number of frames."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        raise ParameterError("a video has no frames")
    return frames[np.asarray(positions) % len(frames)]


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
        """Positions of the videos of ``split`` (``"all"``: every video)."""
        if split == "all":
            return np.arange(len(self))
        return np.flatnonzero(self.split == split)

    def frames_array(self, k: int, idx=None) -> np.ndarray:
        """``k`` frames of each video spread uniformly over it ``(n, k, 3, H, W)``
        (:func:`frame_positions`; cycled if a video has fewer)."""
        idx = np.arange(len(self)) if idx is None else np.asarray(idx)
        return np.stack([take_frames(self.frames[i], frame_positions(len(self.frames[i]), k)) for i in idx])

    def describe(self) -> str:
        """``"312 videos (train 218, val 47, test 47), 12 categories"``."""
        parts = ", ".join(f"{s} {int((self.split == s).sum()):,}" for s in ("train", "val", "test"))
        return f"{len(self):,} videos ({parts}), {len(self.categories)} categories"


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
        frames = torch.from_numpy(np.ascontiguousarray(take_frames(f, pos)))
        return torch.from_numpy(self.data.audio[i]), frames, torch.tensor(int(self.data.labels[i]))


def load_av_data(bench: Benchmark, cfg: ISMIRConfig) -> AVData:
    """Log-mels (UC crop, of ``cfg.network.audio_model``'s input) and frames of every video of an
    ICMR benchmark that has both, with the inputs of ``cfg.icmr`` (the ICMR chapter's cached
    extraction, :func:`avlib.experiments.icmr.data.audio_inputs` / ``frame_inputs``)."""
    audio = audio_inputs(bench, cfg.icmr, model=cfg.network.audio_model, crop="UC", n_jobs=cfg.n_jobs)
    frames = frame_inputs(bench, cfg.icmr, n_jobs=cfg.n_jobs)
    df = bench.videos[bench.videos["video_id"].isin(audio) & bench.videos["video_id"].isin(frames)]
    df = df[[len(frames[v]) > 0 for v in df["video_id"]]].reset_index(drop=True)
    a = np.stack([np.asarray(audio[v], np.float32) for v in df["video_id"]])
    if a.ndim == 3:
        a = a[:, None]
    return AVData(a, [frames[v] for v in df["video_id"]], df["label"].to_numpy(np.int64),
                  df["split"].to_numpy(str), df["video_id"].to_numpy(str), list(bench.categories))


def unit_frames(x: torch.Tensor) -> torch.Tensor:
    """uint8 frames in [0, 255] -> float in [-1, 1] (the ICMR scaling); floats pass unchanged."""
    return x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x


def joint_transform(inputs, training: bool):
    """Per-batch transform of the joint scheme: frames to [-1, 1] and, in training, a random
    horizontal flip per video (the paper, Sec. 4.2)."""
    audio, frames = inputs
    frames = unit_frames(frames)
    if training:
        flip = torch.rand(frames.shape[0], device=frames.device) < 0.5
        frames = torch.where(flip[:, None, None, None, None], frames.flip(-1), frames)
    return audio, frames
