"""Small adapters around the ICMR 2017 networks (the contract of :mod:`avlib.models.base`).

* :class:`Standardise` puts the train-set mean and standard deviation of the log-mels in front
  of an audio network (Table 3's models see standardised inputs); it keeps the wrapped
  network's whole contract;
* :class:`Penultimate` returns the penultimate features that late fusion stacks (Sec. 3.3);
* :class:`LogitsAndFeatures` returns logits and penultimate features from one pass;
* :class:`FrozenHead` is the frame classifier trained on cached, frozen Inception v3 features
  (the reduced scales' stand-in for fine-tuning, Table 2); a model of the contract itself.

:class:`Penultimate` and :class:`LogitsAndFeatures` are adapters for feature export, not
classifiers: they give other outputs than logits by design.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import ClassifierModel, prefixed_layer

__all__ = ["Standardise", "Penultimate", "LogitsAndFeatures", "FrozenHead"]


class Standardise(ClassifierModel):
    """``model`` applied to ``(x - mean) / std`` with scalar, stored ``mean`` and ``std``.

    Keeps the wrapped network's contract (``forward_features`` standardises first;
    ``forward_head``, ``reset_classifier``, ``num_classes``, ``head_dim`` are the network's;
    ``gradcam_layer`` is its layer under ``model.``) so that feature export and Grad-CAM work
    through it.
    """

    def __init__(self, model: nn.Module, mean: float, std: float):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def _norm(self, x):
        return (x - self.mean) / self.std

    def forward_features(self, x):
        return self.model.forward_features(self._norm(x))

    def forward_head(self, x, pre_logits: bool = False):
        return self.model.forward_head(x, pre_logits=pre_logits)

    def forward(self, x):
        return self.model(self._norm(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.model.reset_classifier(num_classes)

    @property
    def num_classes(self):
        return getattr(self.model, "num_classes", None)

    @property
    def head_dim(self):
        return getattr(self.model, "head_dim", None)

    @property
    def gradcam_layer(self):
        layer = getattr(self.model, "gradcam_layer", None)
        if isinstance(layer, dict):
            return {k: prefixed_layer("model", v) for k, v in layer.items()}
        return prefixed_layer("model", layer)


class Penultimate(nn.Module):
    """``forward_head(forward_features(x), pre_logits=True)``: the features before the classifier."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


class LogitsAndFeatures(nn.Module):
    """``[logits | penultimate features]`` concatenated, from one ``forward_features`` pass
    (the network's trunk runs once for both)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        f = self.model.forward_features(x)
        return torch.cat([self.model.forward_head(f), self.model.forward_head(f, pre_logits=True)], 1)


class FrozenHead(ClassifierModel):
    """Frame classifier on pooled backbone features: standardise with the given per-unit
    ``mean`` and ``std``, then one linear layer (no dropout by default: the reference code has
    none before the classifier).

    Contract: ``forward_features(x)`` standardises the ``(N, dim)`` features (``head_dim`` =
    ``dim``), ``forward_head`` applies dropout and the classifier; no Grad-CAM layer.
    """

    def __init__(self, num_classes: int, mean, std, *, dropout: float = 0.0, dim: int = 2048):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)
        self.num_classes = num_classes
        self.head_dim = dim

    def forward_features(self, x):
        return (x - self.mean) / self.std

    def forward_head(self, x, pre_logits: bool = False):
        return x if pre_logits else self.classifier(self.drop(x))
