"""Model registry: a name -> builder table, filled lazily so that reading it imports no model.

Every builder is called with keyword arguments only (``get_model("han2016", num_classes=13)``);
the built-in ones are :class:`LazyBuilder` entries that import their module on first use, so
``import avlib.models`` does not import torch. Other code adds models with
:func:`register_model`.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ..errors import ParameterError

__all__ = ["MODELS", "LazyBuilder", "register_model", "get_model", "list_models"]


class LazyBuilder:
    """The builder ``function`` of ``module``, imported when first called."""

    def __init__(self, module: str, function: str):
        self.module = module
        self.function = function

    def resolve(self) -> Callable:
        """The builder function itself (imports its module)."""
        return getattr(importlib.import_module(self.module), self.function)

    def __call__(self, **kwargs):
        return self.resolve()(**kwargs)

    def __repr__(self) -> str:
        return f"LazyBuilder({self.module}:{self.function})"


#: Registered name -> builder (called with keyword arguments only).
MODELS: dict[str, Callable] = {
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


def register_model(name, builder: Callable | None = None, *, overwrite: bool = False):
    """Add a builder to :data:`MODELS`.

    Three spellings: ``register_model("name", builder)`` (``builder`` may be a
    :class:`LazyBuilder`), ``@register_model("name")`` and ``@register_model`` (the function's
    own name). Returns the builder, so it works as a decorator. A name that is already taken
    raises :class:`~avlib.errors.ParameterError` unless ``overwrite=True``.
    """
    if callable(name) and builder is None:  # bare decorator
        return register_model(name.__name__, name, overwrite=overwrite)
    if not isinstance(name, str) or not name:
        raise ParameterError(f"a model name must be a non-empty string, got {name!r}")
    if builder is None:
        return lambda fn: register_model(name, fn, overwrite=overwrite)
    if not callable(builder):
        raise ParameterError(f"the builder of {name!r} must be callable, got {builder!r}")
    if name in MODELS and not overwrite:
        raise ParameterError(f"model {name!r} is already registered ({MODELS[name]!r}); pass overwrite=True")
    MODELS[name] = builder
    return builder


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def get_model(name: str, /, **kwargs):
    """Build the registered model ``name``; ``kwargs`` go to its builder (keywords only)."""
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return MODELS[name](**kwargs)
