"""Metrics: classification (ICMR 2017) and statistics (XFlow, :mod:`avlib.metrics.stats`)."""

from .classification import (
    classification_summary,
    confusion,
    hit_at_k,
    macro_f1,
    softmax,
    video_average,
    weighted_f1,
)

__all__ = [
    "classification_summary",
    "confusion",
    "hit_at_k",
    "macro_f1",
    "softmax",
    "video_average",
    "weighted_f1",
]
