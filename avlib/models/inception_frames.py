"""Inception v3 frame classifier of ICMR 2017 (Table 2), built on torchvision.

C. Szegedy et al., "Rethinking the Inception architecture for computer vision", CVPR 2016;
used by Slizovskaia et al., ICMR 2017 (Section 3.1, Table 2) on frames sampled at 1 fps,
resized to 256, centre-cropped to 224 and scaled to [-1, 1]; the frame predictions are
averaged per video (:func:`avlib.metrics.video_average`).

Weights: ``weights=None`` trains from scratch. ``weights="path/to/file.pth"`` loads a
*local* torchvision Inception v3 state dict (ImageNet); nothing is ever downloaded. If the
file is missing or does not fit, the model falls back to random initialisation with a
warning, and ``model.pretrained_source`` says what happened (the book prints it). The
benchmark's isolated-instrument image bank stands in for the paper's ImageNet
musical-instrument fine-tuning (see :func:`avlib.experiments.icmr.visual.pretrain_on_image_bank`).

Inception v3 accepts inputs from 75 x 75 pixels. Contract:
``forward_features(x) -> (N, 2048, h, w)``; ``forward_head(f, pre_logits=True) -> (N, 2048)``
(average-pooled features; the late-fusion model splits each into two rows of 1024);
``forward_head(f) -> (N, num_classes)``; ``reset_classifier(num_classes)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from .base import PooledClassifierModel, classifier_layer

__all__ = ["InceptionFrames", "inception_frames", "load_local_weights"]


class InceptionFrames(PooledClassifierModel):
    """Inception v3 (torchvision, no auxiliary head) with a ``num_classes`` softmax.

    Parameters
    ----------
    num_classes : int
        Output classes.
    dropout : float
        Dropout before the classifier. Default 0: the reference code puts the softmax
        directly on the average-pooled 2048 features (no dropout; torchvision's own
        Inception v3 head has .5, pass ``dropout=0.5`` for it).
    """

    #: Dotted name (``named_modules``) of the last spatial block, for Grad-CAM.
    gradcam_layer: str = "backbone.Mixed_7c"

    def __init__(self, num_classes: int = 12, *, dropout: float = 0.0):
        super().__init__()
        from torchvision.models.inception import Inception3

        net = Inception3(num_classes=1000, aux_logits=False, transform_input=False, init_weights=True)
        self.backbone = net
        net.fc = nn.Identity()
        net.dropout = nn.Identity()
        net.avgpool = nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout)
        self.num_features = 2048
        self.head_dim = 2048
        self.num_classes = num_classes
        self.classifier = classifier_layer(2048, num_classes)
        self.pretrained_source = "random initialisation"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b = self.backbone
        # N x 3 x 224 x 224 (values in [-1, 1])
        x = b.Conv2d_1a_3x3(x)
        x = b.Conv2d_2a_3x3(x)
        x = b.Conv2d_2b_3x3(x)
        x = b.maxpool1(x)
        x = b.Conv2d_3b_1x1(x)
        x = b.Conv2d_4a_3x3(x)
        x = b.maxpool2(x)  # N x 192 x 25 x 25
        x = b.Mixed_5b(x)
        x = b.Mixed_5c(x)
        x = b.Mixed_5d(x)  # N x 288 x 25 x 25
        x = b.Mixed_6a(x)
        x = b.Mixed_6b(x)
        x = b.Mixed_6c(x)
        x = b.Mixed_6d(x)
        x = b.Mixed_6e(x)  # N x 768 x 12 x 12
        x = b.Mixed_7a(x)
        x = b.Mixed_7b(x)
        return b.Mixed_7c(x)  # N x 2048 x 5 x 5

    # forward_head (PooledClassifierModel): average-pool -> N x 2048 -> dropout -> classifier


def load_local_weights(model: InceptionFrames, path) -> str:
    """Load a local torchvision Inception v3 state dict into ``model`` (never downloads).

    Returns a description of what was loaded; on failure (missing file, wrong layout) warns,
    leaves the model randomly initialised and says so. The ImageNet classifier (``fc``) and
    the auxiliary head are ignored.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"no local Inception v3 weights at {path}; using random initialisation"
        warnings.warn(msg, stacklevel=2)
        model.pretrained_source = msg
        return msg
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
        own = model.backbone.state_dict()
        bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
        missing = [k for k in own if k not in state]
        if bad or missing:
            raise ValueError(f"{len(bad)} unexpected and {len(missing)} missing tensors")
        model.backbone.load_state_dict(state, strict=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file falls back the same way
        msg = f"could not use Inception v3 weights {path} ({exc}); using random initialisation"
        warnings.warn(msg, stacklevel=2)
        model.pretrained_source = msg
        return msg
    msg = f"ImageNet weights from local file {path.name}"
    model.pretrained_source = msg
    return msg


def inception_frames(*, num_classes: int = 12, weights=None, **kwargs) -> InceptionFrames:
    """Build the Inception v3 frame model (ICMR 2017 Table 2).

    ``weights``: ``None`` (random init) or a local path to torchvision ImageNet weights
    (``inception_v3_google-*.pth``); never downloaded, falls back with a warning.
    """
    model = InceptionFrames(num_classes=num_classes, **kwargs)
    if weights is not None:
        load_local_weights(model, weights)
    return model
