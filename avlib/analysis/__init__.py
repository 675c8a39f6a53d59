"""Analyses of trained models: ISMIR 2017 feature importance, Spearman correspondence and
Grad-CAM (:mod:`.importance`, :mod:`.correlation`, :mod:`.gradcam`). The XFlow analyses are
part of the XFlow experiments (:mod:`avlib.experiments.xflow.analysis`).

Submodules are imported lazily, so ``import avlib.analysis`` does no work.
"""

from __future__ import annotations

import importlib

__all__ = [
    # importance
    "category_importance",
    "linear_importance",
    "decision_gradients",
    "top_k_features",
    "select_features",
    # correlation
    "spearman_matrix",
    "adjust_pvalues",
    "FeatureCorrelation",
    "feature_correlation",
    "category_correlations",
    "modality_summary",
    "summarize_correlations",
    # gradcam
    "find_target_layers",
    "GradCAMSession",
    "audio_gradcam",
    "frames_gradcam",
    "multimodal_gradcam",
]

_WHERE = {name: "importance" for name in __all__[:5]}
_WHERE.update({name: "correlation" for name in __all__[5:12]})
_WHERE.update({name: "gradcam" for name in __all__[12:]})
_SUBMODULES = ("importance", "correlation", "gradcam")


def __getattr__(name):
    if name in _WHERE:
        module = importlib.import_module(f".{_WHERE[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(__all__) + list(_SUBMODULES))
