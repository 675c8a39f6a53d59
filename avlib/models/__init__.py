"""Models of the three papers, one file per family, and a name -> builder registry.

``MODELS`` maps a name to a builder; builders import their module only when called, so
importing :mod:`avlib.models` is cheap. ``get_model(name, **kwargs)`` builds one.

ICMR 2017 (every model follows the timm-like contract ``forward_features``,
``forward_head(x, pre_logits=False)``, ``forward``, ``reset_classifier``; with
``pre_logits=True`` the head returns the penultimate features used by late fusion and by
the ISMIR chapter):

========================  ======================================  ======================
name                      input                                   penultimate features
========================  ======================================  ======================
``han2016``               (N, 1, 128, 43) log-mel segment         (N, 1024)
``choi2016``              (N, 1, 96, 1366) log-mel (CC or UC)     (N, 1024)
``xception_audio``        (N, 1, 96, 1366) log-mel                (N, 1024)
``inception_frames``      (N, 3, H, W) frames in [-1, 1], H>=75   (N, 2048)
``late_fusion``           (N, 2k+1, 1024) feature matrix          (N, 1024)
========================  ======================================  ======================

Other contributors add their names to ``MODELS`` with :class:`LazyBuilder`. XFlow
(:mod:`avlib.models.xflow`, :mod:`avlib.models.dtn`): ``cnn_x_mlp`` and ``cnn_x_mlp_lstm``
(``dataset=``, ``variant=`` and geometry keywords; :func:`avlib.models.xflow.build_xflow_model`
builds them by family name through this registry) and ``dtn``.
"""

from __future__ import annotations

import importlib

__all__ = ["MODELS", "LazyBuilder", "get_model", "list_models"]


class LazyBuilder:
    """A builder ``module:function`` imported on first call."""

    def __init__(self, module: str, function: str):
        self.module = module
        self.function = function

    def resolve(self):
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, **kwargs):
        return self.resolve()(**kwargs)

    def __repr__(self) -> str:
        return f"LazyBuilder({self.module}:{self.function})"


MODELS: dict[str, LazyBuilder] = {
    # ICMR 2017
    "han2016": LazyBuilder("avlib.models.han2016", "han2016"),
    "choi2016": LazyBuilder("avlib.models.choi2016", "choi2016"),
    "xception_audio": LazyBuilder("avlib.models.xception_audio", "xception_audio"),
    "inception_frames": LazyBuilder("avlib.models.inception_frames", "inception_frames"),
    "late_fusion": LazyBuilder("avlib.models.late_fusion", "late_fusion"),
    # ISMIR 2017: audio + frames + fusion trained end to end (joint scheme)
    "audio_visual_net": LazyBuilder("avlib.models.audiovisual", "audio_visual_net"),
    # XFlow
    "cnn_x_mlp": LazyBuilder("avlib.models.xflow", "cnn_x_mlp"),
    "cnn_x_mlp_lstm": LazyBuilder("avlib.models.xflow", "cnn_x_mlp_lstm"),
    "dtn": LazyBuilder("avlib.models.dtn", "dtn"),
}


def list_models() -> list[str]:
    """Registered model names."""
    return sorted(MODELS)


def get_model(name: str, **kwargs):
    """Build the registered model ``name`` with keyword arguments for its builder."""
    if name not in MODELS:
        from avlib.errors import ParameterError

        raise ParameterError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return MODELS[name](**kwargs)
