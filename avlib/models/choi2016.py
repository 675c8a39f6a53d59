"""Choi et al. 2016 audio CNN as modified in ICMR 2017 (Table 3, "Choi et al. 2016", 2.4 M).

K. Choi, G. Fazekas, M. Sandler, "Automatic tagging using deep convolutional neural
networks", ISMIR 2016; modified by Slizovskaia et al., ICMR 2017 (Section 3.2): a softmax
classifier replaces the recurrent layers. Layout from the authors' reference code: zero-pad
the time axis by 37 frames on each side, batch-normalise over the time axis (one gamma/beta per time step), four blocks
conv3x3 (64, 128, 128, 128) -> BN -> ELU -> max-pool ((2,2), (3,3), (4,4), (4,4)), flatten,
FC1024 -> ELU -> dropout .5 -> softmax.

Input: ``(N, 1, 96, 1366)`` log-mel spectrogram (12 kHz, n_fft 512, hop 256, 29.12 s), from
either the central crop ("CC") or ten uniformly spread 2.912 s crops ("UC"); the model is the
same for both. The flatten size is derived from ``input_size``.

Contract: ``forward_features(x) -> (N, 128 * h * w)`` flattened conv map,
``forward_head(f, pre_logits=True) -> (N, 1024)`` penultimate features (late fusion, ISMIR),
``forward_head(f) -> (N, num_classes)``, ``reset_classifier(num_classes)``, ``gradcam_layer``
(:mod:`avlib.models.base`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from avlib.errors import ParameterError

from .base import ClassifierModel, classifier_layer

__all__ = ["Choi2016", "choi2016"]


class _TimeBatchNorm(nn.Module):
    """Batch normalisation with one (gamma, beta) per time step (Keras ``axis=time``)."""

    def __init__(self, n_time: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(n_time)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x C x F x T -> N x T x C x F (time as the "channel" axis) and back
        return self.bn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class Choi2016(ClassifierModel):
    """Choi et al. 2016 four-block CNN with a softmax head (ICMR 2017 variant).

    Parameters
    ----------
    num_classes : int
        Output classes.
    input_size : tuple of int
        ``(n_mels, n_frames)`` of the input (paper: 96 x 1366).
    time_pad : int
        Zero frames added on each side of the time axis (reference code: 37).
    widths : tuple of int
        Filters of the four conv blocks (64, 128, 128, 128).
    pools : tuple of tuple
        Max-pool sizes after each block.
    hidden : int
        Width of the fully connected layer (1024); the feature size.
    dropout : float
        Dropout after the FC layer.
    """

    #: Dotted name (``named_modules``) of the last spatial block, for Grad-CAM: the ELU of the
    #: last conv block (before its max-pool; 4 x 60 for a 96 x 1366 input).
    gradcam_layer: str = "features.14"

    def __init__(
        self,
        num_classes: int = 12,
        *,
        input_size: tuple[int, int] = (96, 1366),
        in_chans: int = 1,
        time_pad: int = 37,
        widths: tuple[int, ...] = (64, 128, 128, 128),
        pools: tuple[tuple[int, int], ...] = ((2, 2), (3, 3), (4, 4), (4, 4)),
        hidden: int = 1024,
        dropout: float = 0.5,
    ):
        super().__init__()
        if len(widths) != len(pools):
            raise ParameterError(f"widths {widths} and pools {pools} must have the same length")
        self.input_size = tuple(input_size)
        self.time_pad = time_pad
        n_mels, n_frames = input_size
        self.time_bn = _TimeBatchNorm(n_frames + 2 * time_pad)
        layers = []
        cin = in_chans
        h, w = n_mels, n_frames + 2 * time_pad
        for cout, pool in zip(widths, pools):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ELU(inplace=True),
                nn.MaxPool2d(pool),
            ]
            h, w = h // pool[0], w // pool[1]
            cin = cout
        if h < 1 or w < 1:
            raise ParameterError(f"input_size {input_size} is too small for pools {pools}")
        self.features = nn.Sequential(*layers)
        self.num_features = cin * h * w
        self.fc = nn.Linear(self.num_features, hidden)
        self.act = nn.ELU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.head_dim = hidden
        self.num_classes = num_classes
        self.classifier = classifier_layer(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # N x 1 x 96 x 1366 -> N x 1 x 96 x 1440
        x = F.pad(x, (self.time_pad, self.time_pad))
        x = self.time_bn(x)
        x = self.features(x)  # N x 128 x 1 x 15
        return x.flatten(1)  # N x 1920

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.act(self.fc(x))  # N x 1024
        if pre_logits:
            return x
        return self.classifier(self.drop(x))


def choi2016(*, num_classes: int = 12, **kwargs) -> Choi2016:
    """Build the ICMR variant of Choi et al. 2016 (Table 3: 2.4 M parameters, 12 classes)."""
    return Choi2016(num_classes=num_classes, **kwargs)
