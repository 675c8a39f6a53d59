"""Grad-CAM heat maps for the audio CNN and the frame CNN (ISMIR 2017 LBD, Sec. 2.2).

Thin wrappers around the ``grad-cam`` package (``pytorch_grad_cam.GradCAM``, Selvaraju et
al. 2016/2017): they pick the target layer (see below, unless given), feed a multimodal model
one modality while the other is held fixed, and release the package's hooks when the ``with`` block ends.

The target layer is the one each model class names with its ``gradcam_layer`` attribute
(``backbone.Mixed_7c`` for Inception v3, the last convolutional block for the audio CNNs);
a model without one falls back to a tracer that keeps every output alive while it matches
tensors (:func:`find_target_layers`).

Examples
--------
>>> with audio_gradcam(audio_model) as cam:                 # doctest: +SKIP
...     maps = cam(logmels, classes)                        # (n, 96, 1366) in [0, 1]
>>> with multimodal_gradcam(joint, "frames") as cam:        # doctest: +SKIP
...     maps = cam(logmels, frames, classes)                # (n, k, H, W)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ParameterError

__all__ = [
    "gradcam_layer_name",
    "trace_spatial_layer",
    "target_layer_name",
    "find_target_layers",
    "GradCAMSession",
    "audio_gradcam",
    "frames_gradcam",
    "multimodal_gradcam",
]


def gradcam_layer_name(model: nn.Module) -> str | None:
    """Dotted name (for ``model.get_submodule``) of the layer ``model`` declares for Grad-CAM.

    A model class names its layer with the class attribute ``gradcam_layer`` (e.g.
    ``"backbone.Mixed_7c"`` for Inception v3, the last convolutional block for the audio
    CNNs). Wrappers are searched too: the outermost submodule whose class declares one wins,
    and its name is prefixed (``"model.features.9"`` for a wrapped model). None when no
    module declares a layer.
    """
    for prefix, m in model.named_modules():
        name = getattr(type(m), "gradcam_layer", None)
        if isinstance(name, str) and name:
            return f"{prefix}.{name}" if prefix else name
    return None


def trace_spatial_layer(model: nn.Module, example_input) -> str:
    """Name of the module producing the last 4-D output with more than one spatial cell.

    One forward pass of ``example_input`` (a tensor or a tuple of tensors) in eval mode,
    without gradients. Every module output is **kept alive** until the pass ends, so tensors
    are matched by identity (``is``) and a freed tensor's ``id`` can never be taken for
    another's. Of the modules that return that last tensor (a block and its final in-place
    activation return the same object) the outermost is chosen.
    """
    records: list[tuple[torch.Tensor, str]] = []  # (output kept alive, module name)
    handles = []

    def make_hook(name):
        def hook(module, inp, out):
            if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[-1] * out.shape[-2] > 1:
                records.append((out, name))

        return hook

    for name, m in model.named_modules():
        if name:
            handles.append(m.register_forward_hook(make_hook(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            args = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
            model(*args)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not records:
        raise ParameterError(f"{type(model).__name__} produces no 4-D feature map to attach Grad-CAM to")
    last = records[-1][0]
    names = [n for t, n in records if t is last]
    records.clear()
    return min(names, key=lambda n: n.count("."))


def find_target_layers(model: nn.Module, example_input=None) -> list[nn.Module]:
    """The Grad-CAM target layer of ``model`` (a one-element list, as ``GradCAM`` wants).

    In order: a ``gradcam_target_layers()`` method of the model; the layer a model class
    names with its ``gradcam_layer`` attribute (:func:`gradcam_layer_name`, searched through
    wrappers); otherwise the traced last spatial layer (:func:`trace_spatial_layer`, which
    needs ``example_input``). The named layer does not depend on the input size or the
    weights; note that at small inputs it can be 1 x 1 (Inception v3's ``Mixed_7c`` below
    about 139 px), which gives a flat map.
    """
    if hasattr(model, "gradcam_target_layers"):
        return list(model.gradcam_target_layers())
    return [model.get_submodule(target_layer_name(model, example_input))]


def target_layer_name(model: nn.Module, example_input=None) -> str:
    """Name of the layer :func:`find_target_layers` returns (named, else traced)."""
    name = gradcam_layer_name(model)
    if name is not None:
        model.get_submodule(name)  # raises AttributeError if the declared layer does not exist
        return name
    if example_input is None:
        raise ParameterError(f"{type(model).__name__} declares no `gradcam_layer`; give an example input to trace one")
    return trace_spatial_layer(model, example_input)


class _OneInput(nn.Module):
    """``model(*inputs)`` with all inputs but one held fixed (for multimodal models).

    With ``frames_per_video=k`` the free input is the frames of ``n`` videos flattened to
    ``(n * k, 3, H, W)`` (so Grad-CAM sees ordinary images and returns one map per frame);
    the wrapper reshapes them to ``(n, k, 3, H, W)`` for the model. Videos do not interact
    in eval mode, so each frame's map reflects its own video's decision.
    """

    def __init__(self, model: nn.Module, position: int, frames_per_video: int | None = None):
        super().__init__()
        self.model = model
        self.position = position
        self.frames_per_video = frames_per_video
        self.fixed: tuple = ()
        self.train(model.training)

    def forward(self, x):
        if self.frames_per_video is not None:
            x = x.reshape(-1, self.frames_per_video, *x.shape[1:])
        args = list(self.fixed)
        args.insert(self.position, x)
        return self.model(*args)


class GradCAMSession:
    """A ``pytorch_grad_cam.GradCAM`` whose hooks live exactly as long as the ``with`` block.

    Parameters
    ----------
    model : nn.Module
        Called with one tensor (``(n, C, H, W)``), returning logits ``(n, classes)``.
    target_layers : list of nn.Module
        Layers whose activations and gradients Grad-CAM weighs.

    Notes
    -----
    The input always gets ``requires_grad`` so that maps exist for frozen subnetworks
    (feature-extraction scheme). The model's train/eval mode is restored on exit, and
    errors inside the block propagate (the package's own ``__exit__`` would swallow an
    ``IndexError``).
    """

    def __init__(self, model: nn.Module, target_layers: Sequence[nn.Module]):
        self.model = model
        self.target_layers = list(target_layers)
        self._cam = None
        self._was_training = model.training

    def __enter__(self):
        from pytorch_grad_cam import GradCAM

        self._was_training = self.model.training
        self._cam = GradCAM(model=self.model, target_layers=self.target_layers)
        self._cam.compute_input_gradient = True
        return self

    def __exit__(self, exc_type, exc, tb):
        self.release()
        return False

    def release(self) -> None:
        """Remove the hooks (idempotent)."""
        if self._cam is not None:
            self._cam.activations_and_grads.release()
            self._cam = None
        self.model.train(self._was_training)

    def _run(self, x: torch.Tensor, classes) -> np.ndarray:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        if self._cam is None:
            raise ParameterError("use GradCAMSession inside a `with` block")
        targets = None if classes is None else [ClassifierOutputTarget(int(c)) for c in np.atleast_1d(classes)]
        maps = self._cam(input_tensor=x, targets=targets)
        self._cam.activations_and_grads.clear()
        return np.asarray(maps, dtype=np.float32)

    @property
    def outputs(self) -> torch.Tensor:
        """Logits of the last call."""
        return self._cam.outputs

    def __call__(self, x, classes=None) -> np.ndarray:
        """Heat maps ``(n, H, W)`` in [0, 1] for ``x`` ``(n, C, H, W)``.

        ``classes``: the category explained per example (the arg-max when None).
        """
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 4:
            raise ParameterError(f"input must have shape (n, C, H, W), got {tuple(x.shape)}")
        if classes is not None and len(np.atleast_1d(classes)) != x.shape[0]:
            raise ParameterError(f"need one class per example: {len(np.atleast_1d(classes))} for {x.shape[0]}")
        return self._run(x, classes)


def _default_layers(model: nn.Module, example_shape: tuple) -> list[nn.Module]:
    """The named layer; a zero example is built (and traced) only for a model without one."""
    if gradcam_layer_name(model) is not None or hasattr(model, "gradcam_target_layers"):
        return find_target_layers(model)
    p = next(model.parameters())
    return find_target_layers(model, torch.zeros(example_shape, device=p.device))


def _unimodal(model: nn.Module, example_shape: tuple, target_layers) -> GradCAMSession:
    if target_layers is None:
        target_layers = _default_layers(model, example_shape)
    return GradCAMSession(model, target_layers)


def audio_gradcam(
    model: nn.Module,
    *,
    target_layers: Sequence[nn.Module] | None = None,
    input_shape: tuple = (1, 96, 1366),
) -> GradCAMSession:
    """Grad-CAM over log-mel spectrograms for an audio CNN (Choi et al. / Xception).

    Parameters
    ----------
    model : nn.Module
        ``model(x [shape=(n, 1, n_mels, t)]) -> logits``.
    target_layers : list of nn.Module, optional
        Default: the last convolutional block (see :func:`find_target_layers`).
    input_shape : tuple
        ``(1, n_mels, t)`` of one example, used to trace the default layer.

    Returns
    -------
    GradCAMSession
        Use in a ``with`` block; calling it gives maps ``(n, n_mels, t)``.
    """
    return _unimodal(model, (2, *input_shape), target_layers)


def frames_gradcam(
    model: nn.Module,
    *,
    target_layers: Sequence[nn.Module] | None = None,
    input_shape: tuple = (3, 299, 299),
) -> GradCAMSession:
    """Grad-CAM over video frames for the frame CNN (Inception v3, ``Mixed_7c`` by default).

    ``model(x [shape=(n, 3, H, W)]) -> logits``; the maps have shape ``(n, H, W)``.
    """
    return _unimodal(model, (2, *input_shape), target_layers)


class _MultimodalSession(GradCAMSession):
    def __init__(self, wrapper: _OneInput, target_layers, modality: str):
        super().__init__(wrapper, target_layers)
        self.wrapper = wrapper
        self.modality = modality

    def __call__(self, audio, frames, classes=None) -> np.ndarray:  # type: ignore[override]
        audio = torch.as_tensor(audio)
        frames = torch.as_tensor(frames)
        if audio.ndim != 4 or frames.ndim != 5 or audio.shape[0] != frames.shape[0]:
            raise ParameterError(
                f"need audio (n, 1, F, T) and frames (n, k, 3, H, W), got {tuple(audio.shape)}, {tuple(frames.shape)}"
            )
        n, k = frames.shape[:2]
        if classes is not None and len(np.atleast_1d(classes)) != n:
            raise ParameterError(f"need one class per video: {len(np.atleast_1d(classes))} for {n}")
        if self.modality == "audio":
            self.wrapper.fixed = (frames,)
            return self._run(audio.float(), classes)
        self.wrapper.fixed = (audio.float(),)
        self.wrapper.frames_per_video = k
        x = frames.flatten(0, 1)
        if x.dtype == torch.uint8:  # uint8 frames -> [-1, 1] (the ICMR scaling), so they can carry a gradient
            x = x.float() / 127.5 - 1.0
        maps = self._run(x, classes)
        return maps.reshape(n, k, *maps.shape[1:])

    def release(self) -> None:
        super().release()
        self.wrapper.fixed = ()


def multimodal_gradcam(
    model: nn.Module,
    modality: str,
    *,
    target_layers: Sequence[nn.Module] | None = None,
    audio_shape: tuple = (1, 96, 1366),
    frame_shape: tuple = (3, 299, 299),
) -> GradCAMSession:
    """Grad-CAM of a two-input audiovisual model ``model(audio, frames)`` for one modality.

    The other modality is held fixed at each example's own input, so the map shows what
    drives the *multimodal* decision inside the audio or the frame subnetwork.

    Parameters
    ----------
    model : nn.Module
        ``model(audio [shape=(n, 1, F, T)], frames [shape=(n, k, 3, H, W)]) -> logits``,
        with attributes ``audio`` and ``visual`` (the subnetworks), e.g.
        :class:`avlib.models.audiovisual.AudioVisualNet`.
    modality : {"audio", "frames"}
    target_layers : list of nn.Module, optional
        Default: the layer the subnetwork names (``gradcam_layer``), else traced
        (:func:`find_target_layers`).
    audio_shape, frame_shape : tuple
        Shapes of one log-mel / one frame, used to trace the default layer.

    Returns
    -------
    GradCAMSession
        Called as ``cam(audio, frames, classes)``: maps ``(n, F, T)`` for ``"audio"``,
        ``(n, k, H, W)`` for ``"frames"``.
    """
    if modality not in ("audio", "frames"):
        raise ParameterError(f"modality must be 'audio' or 'frames', got {modality!r}")
    if target_layers is None:
        if modality == "audio":
            target_layers = _default_layers(model.audio, (2, *audio_shape))
        else:
            target_layers = _default_layers(model.visual, (2, *frame_shape))
    wrapper = _OneInput(model, 0 if modality == "audio" else 1)
    return _MultimodalSession(wrapper, target_layers, modality)
