"""Small adapters around the ICMR 2017 networks (timm-like contract of :mod:`avlib.models`).

* :class:`Standardise` puts the train-set mean and standard deviation of the log-mels in front
  of an audio network (Table 3's models see standardised inputs);
* :class:`Penultimate` returns the penultimate features that late fusion stacks (Sec. 3.3);
* :class:`LogitsAndFeatures` returns logits and penultimate features from one pass;
* :class:`FrozenHead` is the frame classifier trained on cached, frozen Inception v3 features
  (the reduced scales' stand-in for fine-tuning, Table 2).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["Standardise", "Penultimate", "LogitsAndFeatures", "FrozenHead"]


class Standardise(nn.Module):
    """``model`` applied to ``(x - mean) / std`` with scalar, stored ``mean`` and ``std``.

    Keeps the wrapped network's ``forward_features`` / ``forward_head`` so that feature export
    works through it.
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


class FrozenHead(nn.Module):
    """Frame classifier on pooled backbone features: standardise with the given per-unit
    ``mean`` and ``std``, then one linear layer (no dropout by default: the reference code has
    none before the classifier)."""

    def __init__(self, num_classes: int, mean, std, *, dropout: float = 0.0, dim: int = 2048):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)
        self.num_classes = num_classes

    def forward(self, x):
        return self.classifier(self.drop((x - self.mean) / self.std))
