"""The public contract shared by every avlib model (in the style of timm and torchvision).

A model, whatever its number of inputs, offers:

``forward_features(*inputs)``
    The trunk: everything before the head. Single-input models return a tensor (a spatial
    map or a flat vector); multi-input models may return a structure (a tuple or a
    ``NamedTuple`` of per-stream features) that only their own head needs to understand.
``forward_head(features, pre_logits=False)``
    Logits ``(N, num_classes)``, or with ``pre_logits=True`` the penultimate features
    ``(N, head_dim)`` (what late fusion, the ISMIR analysis and feature export use).
``forward(*inputs)``
    ``forward_head(forward_features(*inputs))``; implemented here once for any number of
    inputs (keyword inputs such as an optional mask are passed on to ``forward_features``).
``reset_classifier(num_classes)``
    A fresh last layer with ``num_classes`` outputs; ``0`` removes it (the model then returns
    its penultimate features), as in timm.
``num_classes``, ``head_dim``
    The output width and the penultimate width (the width of ``forward_head(...,
    pre_logits=True)``). Models with several streams also give ``stream_dims``, the
    penultimate width of each stream by name (None for single-stream models).
``gradcam_layer``
    Where Grad-CAM should hook: the dotted name of a submodule (for ``model.get_submodule``;
    e.g. ``"backbone.Mixed_7c"``), a dict ``modality -> dotted name`` for multi-input models,
    or None where the model has no spatial map to explain. Single-input models declare it as
    a class attribute, which :mod:`avlib.analysis.gradcam` reads (also through wrappers).

:class:`ClassifierModel` is the base class that implements ``forward`` and
``reset_classifier`` and declares the rest; :class:`PooledClassifierModel` adds the head of
models whose features are a spatial map (global pooling, flatten, dropout, classifier).
"""

from __future__ import annotations

from typing import Optional, Union

from torch import nn

__all__ = ["ClassifierModel", "PooledClassifierModel", "classifier_layer", "prefixed_layer"]

#: What ``gradcam_layer`` may hold: a dotted submodule name, one per modality, or None.
GradCAMLayer = Union[str, dict, None]


def classifier_layer(in_features: int, num_classes: int) -> nn.Module:
    """The last layer of a model: ``nn.Linear(in_features, num_classes)``, or ``nn.Identity()``
    when ``num_classes`` is 0 (no classifier: the model outputs its penultimate features)."""
    return nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()


def prefixed_layer(prefix: str, layer) -> Optional[str]:
    """``"prefix.layer"`` for a dotted layer name declared by a submodule stored as ``prefix``;
    None when the submodule declares no single layer (None, or a per-modality dict)."""
    return f"{prefix}.{layer}" if isinstance(layer, str) and layer else None


class ClassifierModel(nn.Module):
    """Base class of the models: ``forward = forward_head(forward_features(*inputs))``.

    Subclasses implement :meth:`forward_features` and :meth:`forward_head`, set
    ``num_classes`` and ``head_dim``, keep their last layer in ``classifier`` (built with
    :func:`classifier_layer`) and name their Grad-CAM layer in ``gradcam_layer``. Models
    whose last layer is not a single ``classifier`` override :meth:`reset_classifier`.
    """

    #: Dotted name of the layer Grad-CAM hooks (or a dict per modality); None: no spatial map.
    gradcam_layer: GradCAMLayer = None
    #: Penultimate width per stream (multi-stream models); None for single-stream models.
    stream_dims: Optional[dict] = None
    #: Penultimate width: the width of ``forward_head(features, pre_logits=True)``.
    head_dim: int
    #: Output width (0 after ``reset_classifier(0)``).
    num_classes: int

    def forward_features(self, *inputs):
        """The trunk's output for ``inputs`` (the features :meth:`forward_head` takes)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward_features")

    def forward_head(self, x, pre_logits: bool = False):
        """Logits from the features, or the penultimate features with ``pre_logits=True``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward_head")

    def forward(self, *inputs, **kwargs):
        return self.forward_head(self.forward_features(*inputs, **kwargs))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer by a fresh one with ``num_classes`` outputs (0: none)."""
        self.num_classes = int(num_classes)
        self.classifier = classifier_layer(self.head_dim, self.num_classes)


class PooledClassifierModel(ClassifierModel):
    """A :class:`ClassifierModel` whose features are a map ``(N, C, h, w)``.

    Its head is global pooling (``self.pool``) -> flatten -> [the penultimate features, ``C``
    wide] -> dropout (``self.drop``) -> ``self.classifier``; subclasses create the three modules.
    """

    def forward_head(self, x, pre_logits: bool = False):
        x = self.pool(x).flatten(1)  # N x C
        if pre_logits:
            return x
        return self.classifier(self.drop(x))
