"""Late-fusion model of ICMR 2017 (Figure 1, Table 4) and its input layout.

Slizovskaia, Gomez, Haro, ICMR 2017, Section 3.3: the audio and visual networks are trained
separately; their penultimate features are stacked per video into a matrix and a small
network classifies it. Layout (reference code, see the spec): ``k`` frame vectors of 2048
(Inception v3) are each split into two rows of 1024 and one audio vector of 1024 is
appended, giving a ``(2k + 1, 1024)`` matrix; a missing modality is filled with zeros.

Row order (:func:`avlib.data.fcvid.fusion_matrix`, re-exported here with the other layout
functions): rows ``2i`` and ``2i + 1`` are the two halves of frame ``i`` (``i = 0..k-1``), row
``2k`` is the audio vector. Missing frames (videos shorter than ``k`` frames, dropped frames)
are zero rows. The layout lives in the data layer, which the model imports (never the reverse).

The network: flatten -> BN -> [FC1024 -> ReLU] x n -> BN -> softmax. The reference code has
**one** FC1024 layer (``hidden=(1024,)``, the default: 106.1 M parameters at k = 50 and 12
classes); the paper's text (Sec. 3.3) says "two fully-connected layers (each ... 1024 neurons
and ReLU)" (``hidden=(1024, 1024)``: 107.2 M). We follow the reference code by default: the
published Table 4 numbers come from it, the text gives no parameter count to check, and the
same choice is made for the audio Xception (728 filters, code over text). The ICMR
configuration carries the choice as ``fusion.hidden`` (:class:`avlib.config.icmr.ICMRConfig`).

Contract: ``forward_features(x) -> (N, hidden[-1])`` after the last BN (the fused features),
``forward_head(f, pre_logits=True)`` returns them unchanged, ``forward_head(f)`` gives logits,
``reset_classifier(num_classes)`` (:mod:`avlib.models.base`); ``gradcam_layer`` is None (no spatial
map). ``forward`` accepts ``(N, 2k+1, 1024)`` or flattened input.

Authors' released feature files (HDF5, one group per video with ``audio`` (1, 1024) and
``video`` (k, 2048) datasets) are read and written in the data layer
(:func:`avlib.data.fcvid.read_feature_file`, re-exported here as :func:`read_feature_file`);
:func:`feature_file_matrices` turns one into fusion inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.fcvid import (
    feature_file_matrices,
    fusion_matrices,
    fusion_matrix,
    modality_mask,
    read_feature_file,
)
from ..errors import ParameterError
from .base import ClassifierModel, classifier_layer

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
        self.classifier = classifier_layer(cin, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # N x (2k+1) x 1024 -> N x (2k+1)*1024 -> N x 1024
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ParameterError(
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
