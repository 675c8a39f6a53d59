"""Where data, caches and results live. Nothing here touches the disk at import time."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ParameterError

__all__ = ["SCALES", "check_scale", "embedded_root", "results_dir", "cache_root", "shared_root", "repo_root"]

SCALES = ("smoke", "cpu", "paper")


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is one of :data:`SCALES`, else raise :class:`ParameterError`."""
    if scale not in SCALES:
        raise ParameterError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    return scale


def embedded_root(data_root, scale: str, name: str) -> Path:
    """Folder of an embedded benchmark: ``<data_root>/embedded/<scale>/<name>``."""
    return Path(data_root) / "embedded" / check_scale(scale) / name


def results_dir(results_root, scale: str, notebook: str) -> Path:
    """Folder (created) for one notebook's results: ``<results_root>/<scale>/<notebook>``."""
    path = Path(results_root) / check_scale(scale) / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_root(data_root) -> Path:
    """Folder of the on-disk feature cache: ``<data_root>/cache``."""
    return Path(data_root) / "cache"


def repo_root() -> Path:
    """The repository that holds this checkout of avlib."""
    return Path(__file__).resolve().parent.parent


def shared_root() -> Path | None:
    """The project's ``shared/`` folder (``$AVLIB_SHARED`` or ``../shared``), or None if absent."""
    env = os.environ.get("AVLIB_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(repo_root().parent / "shared")
    for path in candidates:
        if path.is_dir():
            return path
    return None
