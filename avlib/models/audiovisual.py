"""Audio-visual network of ICMR/ISMIR 2017: audio CNN + frame CNN + late fusion, end to end.

Slizovskaia, Gómez & Haro, ISMIR 2017 LBD, Figure 1 (and ICMR 2017, Figure 1): an audio
subnetwork (Xception-like on log-mels, or Choi et al.) and a visual subnetwork (Inception v3
on frames) each give a penultimate feature vector (1024 and 2048); the late-fusion model
(:class:`avlib.models.late_fusion.LateFusion`) classifies their stack. The ISMIR paper
compares two training schemes of this network (see :mod:`avlib.experiments.ismir.schemes`):

* feature extraction: the subnetworks are trained separately, frozen
  (:meth:`AudioVisualNet.freeze_subnetworks`), and only the fusion is trained;
* joint training: all weights are trained together, end to end.

Contract (:mod:`avlib.models.base`, two inputs): ``forward_features(audio, frames) ->
AVFeatures(audio (N, Da), frames (N, k, Dv))`` (the penultimate features the ISMIR analysis
correlates), ``forward_head(features, pre_logits=False)`` -> logits (or the fusion's own
penultimate features, ``head_dim`` wide), ``forward(audio, frames)``,
``reset_classifier(num_classes)`` (the fusion's classifier), ``stream_dims`` (``{"audio": Da,
"frames": Dv}``) and ``gradcam_layer``, one layer per modality (``{"audio": ..., "frames":
...}``, the names :func:`avlib.analysis.gradcam.multimodal_gradcam` uses).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..errors import ParameterError
from .base import ClassifierModel, prefixed_layer
from .registry import get_model

__all__ = ["AVFeatures", "AudioVisualNet", "audio_visual_net"]


class AVFeatures(NamedTuple):
    """Penultimate features of the two subnetworks.

    audio : (N, Da) tensor (1024 for Choi/Xception)
    frames : (N, k, Dv) tensor (2048 per frame for Inception v3); the video's visual
        feature vector is their mean over frames (:meth:`visual`).
    """

    audio: torch.Tensor
    frames: torch.Tensor

    def visual(self) -> torch.Tensor:
        """Video-level visual features ``(N, Dv)``: the mean over frames."""
        return self.frames.mean(dim=1)


class AudioVisualNet(ClassifierModel):
    """Audio subnetwork + frame subnetwork + a fusion head over their features.

    Parameters
    ----------
    audio : nn.Module
        Audio CNN with ``forward_features`` / ``forward_head(x, pre_logits=True)`` giving
        ``(N, Da)`` from log-mels ``(N, 1, n_mels, t)``.
    visual : nn.Module
        Frame CNN with the same contract giving ``(N, Dv)`` from frames ``(N, 3, H, W)``.
    fusion : nn.Module
        Called on the ``(N, 2k + 1, Da)`` late-fusion matrix (each ``Dv = 2 Da`` frame vector
        split into two rows, the audio vector last; :mod:`avlib.models.late_fusion`),
        returning logits.
    frame_transform : callable, optional
        Applied to the frames before the visual subnetwork (e.g. uint8 -> [-1, 1]).
    """

    def __init__(self, audio: nn.Module, visual: nn.Module, fusion: nn.Module, *, frame_transform=None):
        super().__init__()
        self.audio = audio
        self.visual = visual
        self.fusion = fusion
        self.frame_transform = frame_transform

    @property
    def num_classes(self) -> int:
        return getattr(self.fusion, "num_classes", 0)

    @property
    def head_dim(self):
        """Width of the fusion's penultimate features (``forward_head(..., pre_logits=True)``)."""
        return getattr(self.fusion, "head_dim", None)

    @property
    def stream_dims(self) -> dict:
        """Penultimate width of each subnetwork: ``{"audio": Da, "frames": Dv}`` (per frame)."""
        return {"audio": getattr(self.audio, "head_dim", None), "frames": getattr(self.visual, "head_dim", None)}

    @property
    def gradcam_layer(self) -> dict:
        """Grad-CAM layer of each modality (dotted names in this model; None where the
        subnetwork declares none): ``{"audio": "audio....", "frames": "visual...."}``."""
        return {"audio": prefixed_layer("audio", getattr(self.audio, "gradcam_layer", None)),
                "frames": prefixed_layer("visual", getattr(self.visual, "gradcam_layer", None))}

    def _audio_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.audio.forward_head(self.audio.forward_features(x), pre_logits=True)

    def _frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 5:
            raise ParameterError(f"frames must have shape (N, k, 3, H, W), got {tuple(frames.shape)}")
        n, k = frames.shape[:2]
        x = frames.flatten(0, 1)  # N*k x 3 x H x W
        if self.frame_transform is not None:
            x = self.frame_transform(x)
        f = self.visual.forward_head(self.visual.forward_features(x), pre_logits=True)  # N*k x Dv
        return f.view(n, k, -1)

    def forward_features(self, audio: torch.Tensor, frames: torch.Tensor) -> AVFeatures:
        return AVFeatures(self._audio_features(audio), self._frame_features(frames))

    @staticmethod
    def fusion_input(audio_features: torch.Tensor, frame_features: torch.Tensor) -> torch.Tensor:
        """The late-fusion matrix ``(N, 2k + 1, Da)`` from ``(N, Da)`` and ``(N, k, 2 Da)``."""
        n, k, dv = frame_features.shape
        da = audio_features.shape[1]
        if dv != 2 * da:
            raise ParameterError(f"frame features ({dv}) must be twice the audio features ({da}) wide")
        rows = frame_features.reshape(n, 2 * k, da)  # rows 2i, 2i+1 = halves of frame i
        return torch.cat([rows, audio_features[:, None, :]], dim=1)

    def fuse(self, audio_features: torch.Tensor, frame_features: torch.Tensor) -> torch.Tensor:
        """Logits from the subnetworks' features (the decision the ISMIR importance differentiates)."""
        return self.fusion(self.fusion_input(audio_features, frame_features))

    def forward_head(self, features: AVFeatures, pre_logits: bool = False) -> torch.Tensor:
        x = self.fusion_input(features.audio, features.frames)
        if pre_logits:
            return self.fusion.forward_head(self.fusion.forward_features(x), pre_logits=True)
        return self.fusion(x)

    # forward(audio, frames) = forward_head(forward_features(audio, frames)) (ClassifierModel)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier with ``num_classes`` outputs in the fusion model."""
        self.fusion.reset_classifier(num_classes)

    def freeze_subnetworks(self, frozen: bool = True) -> "AudioVisualNet":
        """Freeze (feature-extraction scheme) or unfreeze (joint scheme) both subnetworks.

        Frozen subnetworks also stay in eval mode (batch-norm statistics fixed) when
        ``train()`` is called.
        """
        for p in list(self.audio.parameters()) + list(self.visual.parameters()):
            p.requires_grad_(not frozen)
        self._frozen = frozen
        if frozen:
            self.audio.eval()
            self.visual.eval()
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if getattr(self, "_frozen", False):
            self.audio.eval()
            self.visual.eval()
        return self


def audio_visual_net(
    *,
    num_classes: int = 12,
    n_frames: int = 50,
    audio: str = "xception_audio",
    audio_kwargs: dict | None = None,
    visual_kwargs: dict | None = None,
    fusion_kwargs: dict | None = None,
    frame_transform=None,
) -> AudioVisualNet:
    """Build the ISMIR 2017 multimodal network from the registered ICMR models.

    ``audio``: ``"xception_audio"`` (the ISMIR paper's audio network) or ``"choi2016"``;
    the visual network is ``inception_frames``; the fusion is ``late_fusion`` over
    ``n_frames`` frames.
    """
    a = get_model(audio, num_classes=num_classes, **(audio_kwargs or {}))
    v = get_model("inception_frames", num_classes=num_classes, **(visual_kwargs or {}))
    f = get_model("late_fusion", num_classes=num_classes, n_frames=n_frames, **(fusion_kwargs or {}))
    return AudioVisualNet(a, v, f, frame_transform=frame_transform)
