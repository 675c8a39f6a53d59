"""The shared model contract of the ICMR-family models (timm-like).

Subclasses define ``forward_features(x)``, ``forward_head(x, pre_logits=False)``, ``head_dim`` (the
penultimate width) and ``classifier``; this base adds ``forward`` and ``reset_classifier``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ClassifierModel"]


class ClassifierModel(nn.Module):
    """Base class: ``forward = forward_head(forward_features(x))``, replaceable classifier."""

    head_dim: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer by a fresh one with ``num_classes`` outputs (0 = identity)."""
        self.num_classes = num_classes
        self.classifier = nn.Linear(self.head_dim, num_classes) if num_classes > 0 else nn.Identity()
