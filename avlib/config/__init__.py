"""Experiment configurations: one frozen, nested dataclass per paper (see :mod:`avlib.config.base`)."""

from .base import Config, flatten, nest_dotted

__all__ = ["Config", "flatten", "nest_dotted"]
