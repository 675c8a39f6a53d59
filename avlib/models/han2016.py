"""Han et al. 2016 audio CNN (ICMR 2017 baseline "Han et al. 2016", Table 3).

Y. Han, J. Kim, K. Lee, "Deep convolutional neural networks for predominant instrument
recognition in polyphonic music", arXiv:1605.09507 (2016); used as the audio baseline in
Slizovskaia, Gomez, Haro, "Musical Instrument Recognition in User-generated Videos using a
Multimodal CNN Architecture", ICMR 2017, Table 3 (1.5 M parameters for 12 classes).

Input: one log-mel segment ``(N, 1, n_mels=128, n_frames=43)`` (n_fft 1024, hop 512; 43 hops
are about 1 s at 22.05 kHz, Han's original setting, which the ICMR paper calls "about 3 s").
The paper averages the predictions of 10 uniformly spread segments per video: use
:func:`avlib.metrics.video_average` on segment logits/probabilities. The segment length is
a parameter of the features, not of the model (:func:`avlib.features.audio.han_target_sr`,
preset field ``han_segment_seconds``): the same 43 frames cover about 3 s at 7.35 kHz.

Pooling: 3 x 3 max-pooling that rounds down, as Keras' ``MaxPooling2D`` with "valid"
padding (128 x 43 -> 42 x 14 -> 14 x 4 -> 4 x 1 before the global max-pool); the parameter
count does not depend on it (global max-pool before the FC layer).

Contract (timm-like): ``forward_features(x) -> (N, 256)`` pooled conv features,
``forward_head(f, pre_logits=True) -> (N, 1024)`` penultimate features (the vector the
late-fusion and ISMIR chapters use), ``forward_head(f) -> (N, num_classes)`` logits,
``reset_classifier(num_classes)``, ``gradcam_layer`` (:mod:`avlib.models.base`).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ClassifierModel, classifier_layer

__all__ = ["Han2016", "han2016"]


class _ConvPair(nn.Sequential):
    """Two 3x3 'same' convolutions with ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.ReLU(inplace=True),
        )


class Han2016(ClassifierModel):
    """Han et al. 2016 CNN: four pairs of 3x3 convolutions, FC1024, softmax.

    Parameters
    ----------
    num_classes : int
        Number of output classes (12 for FCVID, 13 for YouTube-8M).
    in_chans : int
        Input channels (1 log-mel channel).
    widths : tuple of int
        Filters of the four convolution pairs (paper: 32, 64, 128, 256).
    hidden : int
        Width of the fully connected layer (paper: 1024); also the feature size.
    conv_dropout, dropout : float
        Dropout after each conv pair (.25) and after the FC layer (.5).
    """

    #: Dotted name (``named_modules``) of the last spatial block, for Grad-CAM: the last conv
    #: pair (its ReLU output, before the global max-pool).
    gradcam_layer: str = "features.9"

    def __init__(
        self,
        num_classes: int = 12,
        *,
        in_chans: int = 1,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        hidden: int = 1024,
        conv_dropout: float = 0.25,
        dropout: float = 0.5,
    ):
        super().__init__()
        blocks = []
        cin = in_chans
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            blocks += [
                _ConvPair(cin, w),
                # global max-pool after the last pair, 3x3 max-pool otherwise; Keras'
                # MaxPooling2D((3, 3)) (padding "valid") rounds the output size down
                nn.AdaptiveMaxPool2d(1) if last else nn.MaxPool2d(3, ceil_mode=False),
                nn.Dropout(conv_dropout),
            ]
            cin = w
        self.features = nn.Sequential(*blocks)
        self.num_features = cin
        self.fc = nn.Linear(cin, hidden)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.head_dim = hidden
        self.num_classes = num_classes
        self.classifier = classifier_layer(hidden, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # He-normal weights and zero biases: with PyTorch's default init the eight plain ReLU
        # convolutions (no batch normalisation) shrink the signal so much that training does not
        # start (the loss stays at ln(num_classes) for epochs).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # N x 1 x 128 x 43 -> 42 x 14 -> 14 x 4 -> 4 x 1 -> N x 256 x 1 x 1
        return self.features(x).flatten(1)  # N x 256

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.act(self.fc(x))  # N x 1024 (penultimate features)
        if pre_logits:
            return x
        return self.classifier(self.drop(x))  # N x num_classes


def han2016(*, num_classes: int = 12, **kwargs) -> Han2016:
    """Build the Han et al. 2016 model (ICMR 2017 Table 3: 1.5 M parameters, 12 classes)."""
    return Han2016(num_classes=num_classes, **kwargs)
