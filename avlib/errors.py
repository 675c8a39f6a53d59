"""Error types of avlib."""

from __future__ import annotations

from pathlib import Path

__all__ = ["AvlibError", "MediaError", "ParameterError", "DataError"]


class AvlibError(Exception):
    """Base class of every error avlib raises on purpose."""


class ParameterError(AvlibError, ValueError):
    """A bad value for a parameter; the message names the value and the valid ones."""


class DataError(AvlibError):
    """A dataset is missing, incomplete or inconsistent."""


class MediaError(AvlibError):
    """A media file cannot be used (corrupt, truncated, no stream, too short, ...).

    Parameters
    ----------
    path : str or Path
        The file in question; it is always named in the message.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
