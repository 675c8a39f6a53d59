"""Late-fusion model of ICMR 2017 (Figure 1, Table 4) and its input layout.

Slizovskaia, Gomez, Haro, ICMR 2017, Section 3.3: the audio and visual networks are trained
separately; their penultimate features are stacked per video into a matrix and a small
network classifies it. Layout (reference code, see the spec): ``k`` frame vectors of 2048
(Inception v3) are each split into two rows of 1024 and one audio vector of 1024 is
appended, giving a ``(2k + 1, 1024)`` matrix; a missing modality is filled with zeros.

Row order used here (and by :func:`fusion_matrix`): rows ``2i`` and ``2i + 1`` are the two
halves of frame ``i`` (``i = 0..k-1``), row ``2k`` is the audio vector. Missing frames
(videos shorter than ``k`` frames, dropped frames) are zero rows.

The network: flatten -> BN -> [FC1024 -> ReLU] x n -> BN -> softmax. The reference code has
**one** FC1024 layer (``hidden=(1024,)``, the default: 106.1 M parameters at k = 50 and 12
classes); the paper's text (Sec. 3.3) says "two fully-connected layers (each ... 1024 neurons
and ReLU)" (``hidden=(1024, 1024)``: 107.2 M). We follow the reference code by default: the
published Table 4 numbers come from it, the text gives no parameter count to check, and the
same choice is made for the audio Xception (728 filters, code over text). The ICMR presets
carry the choice as ``fusion_hidden`` and their ``changes`` text says which ran.

Contract: ``forward_features(x) -> (N, hidden[-1])`` after the last BN (the fused features),
``forward_head(f, pre_logits=True)`` returns them unchanged, ``forward_head(f)`` gives logits,
``reset_classifier(num_classes)``. ``forward`` accepts ``(N, 2k+1, 1024)`` or flattened input.

Authors' released feature files (HDF5, one group per video with ``audio`` (1, 1024) and
``video`` (k, 2048) datasets) are read and written in the data layer
(:func:`avlib.data.fcvid.read_feature_file`, re-exported here as :func:`read_feature_file`);
:func:`feature_file_matrices` turns one into fusion inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._contract import ClassifierModel

__all__ = [
    "LateFusion",
    "late_fusion",
    "fusion_matrix",
    "fusion_matrices",
    "read_feature_file",
    "feature_file_matrices",
    "modality_mask",
    "FUSION_HIDDEN",
]

#: The two variants of the fusion network's hidden layers: ``"reference"`` (the authors'
#: code, one FC1024, the default) and ``"paper_text"`` (Sec. 3.3's two FC1024 layers).
FUSION_HIDDEN = {"reference": (1024,), "paper_text": (1024, 1024)}


def _param_error(msg: str):
    from avlib.errors import ParameterError

    return ParameterError(msg)


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
        raise _param_error(f"n_frames must be >= 0, got {n_frames}")
    out = np.zeros((2 * n_frames + 1, dim), dtype=np.float32)
    if frames is not None:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != 2 * dim:
            raise _param_error(f"frames must have shape (k, {2 * dim}), got {frames.shape}")
        k = min(n_frames, frames.shape[0])
        out[: 2 * k] = frames[:k].reshape(2 * k, dim)
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.shape[0] != dim:
            raise _param_error(f"audio must have {dim} values, got {audio.shape[0]}")
        out[2 * n_frames] = audio
    return out


def fusion_matrices(audio: dict, frames: dict, video_ids, *, n_frames: int, dim: int = 1024) -> np.ndarray:
    """:func:`fusion_matrix` for many videos: ``(len(video_ids), 2k+1, dim)`` float32.

    ``audio`` and ``frames`` map video id -> features; an id absent from one of them (or
    mapped to ``None``) is a missing modality (zero rows).
    """
    return np.stack(
        [fusion_matrix(audio.get(v), frames.get(v), n_frames=n_frames, dim=dim) for v in video_ids]
    ) if len(video_ids) else np.zeros((0, 2 * n_frames + 1, dim), np.float32)


def modality_mask(x, *, n_frames: int, audio: bool = True, video: bool = True):
    """Zero the audio row and/or the frame rows of fusion inputs ``(N, 2k+1, dim)`` (a copy)."""
    x = x.clone() if isinstance(x, torch.Tensor) else np.array(x, copy=True)
    if not audio:
        x[:, 2 * n_frames] = 0
    if not video:
        x[:, : 2 * n_frames] = 0
    return x


def read_feature_file(path, **kwargs) -> dict:
    """Read an authors'-layout feature file: :func:`avlib.data.fcvid.read_feature_file`
    (kept here so the model page's readers need one import)."""
    from avlib.data.fcvid import read_feature_file as read

    return read(path, **kwargs)


def feature_file_matrices(path, *, n_frames: int | None = None, dim: int = 1024):
    """Late-fusion inputs of every video in an authors'-layout feature file.

    ``n_frames`` defaults to the largest frame count in the file (20 for YouTube-8M, 50 for
    FCVID). Returns ``(video_ids, X)`` with ``X`` float32 ``(n_videos, 2 * n_frames + 1, dim)``;
    :func:`avlib.train.icmr.run_fusion_from_feature_file` trains on such a file given the
    videos' labels.
    """
    feats = read_feature_file(path, dim=dim)
    if n_frames is None:
        n_frames = max((0 if f["video"] is None else len(f["video"])) for f in feats.values())
    ids = list(feats)
    X = fusion_matrices({v: f["audio"] for v, f in feats.items()}, {v: f["video"] for v, f in feats.items()},
                        ids, n_frames=n_frames, dim=dim)
    return ids, X


class LateFusion(ClassifierModel):
    """Late-fusion classifier over ``(2k + 1) x dim`` feature matrices.

    Parameters
    ----------
    num_classes : int
        Output classes.
    n_frames : int
        Frames per video ``k`` (50 FCVID, 20 YouTube-8M).
    dim : int
        Row width (1024).
    hidden : tuple of int
        Widths of the FC+ReLU layers: reference code ``(1024,)`` (default, 106.1 M at
        k = 50), paper text ``(1024, 1024)`` (107.2 M); see :data:`FUSION_HIDDEN`.
    dropout : float
        Dropout before the classifier (0 in the paper).
    """

    def __init__(
        self,
        num_classes: int = 12,
        *,
        n_frames: int = 50,
        dim: int = 1024,
        hidden: tuple[int, ...] = (1024,),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.n_frames = n_frames
        self.dim = dim
        self.in_features = (2 * n_frames + 1) * dim
        layers: list[nn.Module] = [nn.BatchNorm1d(self.in_features)]
        cin = self.in_features
        for h in hidden:
            layers += [nn.Linear(cin, h), nn.ReLU(inplace=True)]
            cin = h
        layers.append(nn.BatchNorm1d(cin))
        self.body = nn.Sequential(*layers)
        self.num_features = cin
        self.head_dim = cin
        self.drop = nn.Dropout(dropout)
        self.num_classes = num_classes
        self.classifier = nn.Linear(cin, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # N x (2k+1) x 1024 -> N x (2k+1)*1024 -> N x 1024
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise _param_error(
                f"late fusion expects (N, {2 * self.n_frames + 1}, {self.dim}) inputs, got {tuple(x.shape)}"
            )
        return self.body(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return x
        return self.classifier(self.drop(x))


def late_fusion(*, num_classes: int = 12, n_frames: int = 50, **kwargs) -> LateFusion:
    """Build the ICMR 2017 late-fusion model (Figure 1, Table 4)."""
    return LateFusion(num_classes=num_classes, n_frames=n_frames, **kwargs)
