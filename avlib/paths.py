"""Where data, caches and results live. Nothing here touches the disk at import time.

Relative paths (``data_root="data"``, ``results_root="results"``, ...) mean "inside the project
home", whatever the current folder is: a notebook started from ``notebooks/`` (JupyterLab's
default) or by plain ``papermill`` from any folder reads and writes the same folders as the runner.
The project home is, in order:

1. ``$AVLIB_HOME`` when it is set;
2. the repository holding avlib (the folder with ``pyproject.toml`` above the ``avlib`` package,
   as with ``pip install -e .``);
3. the current folder (avlib installed as a regular package, outside any checkout).

Absolute paths are always kept as given.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ParameterError

__all__ = [
    "PARAMETERS_ENV",
    "RUN_NAME_ENV",
    "SCALES",
    "check_scale",
    "project_home",
    "resolve",
    "embedded_root",
    "results_dir",
    "cache_root",
    "repo_root",
]

SCALES = ("smoke", "cpu", "paper")

HOME_ENV = "AVLIB_HOME"
#: The runner puts the parameters it injects into a notebook here (JSON), for the page's settings box.
PARAMETERS_ENV = "AVLIB_PARAMETERS"
#: ... and the notebook's name, which tells its kernel (and that kernel's workers) apart.
RUN_NAME_ENV = "AVLIB_RUN_NAME"


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is one of :data:`SCALES`, else raise :class:`ParameterError`."""
    if scale not in SCALES:
        raise ParameterError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    return scale


def _checkout_root() -> Path | None:
    """The source checkout avlib is imported from, or None for a regular install."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "avlib"' in text else None


def project_home() -> Path:
    """The folder relative paths are resolved against (see the module docstring); absolute."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return _checkout_root() or Path.cwd().resolve()


def resolve(path) -> Path:
    """``path`` as a location inside the project home; absolute paths are returned unchanged.

    When the current folder already is the project home a relative path is returned as it is
    (it points to the same place), so executed notebooks and result tables keep showing
    ``data/...`` rather than a machine-specific absolute path.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    home = project_home()
    try:
        if Path.cwd().resolve() == home:
            return p
    except OSError:  # the current folder was deleted
        pass
    return home / p


def embedded_root(data_root, scale: str, name: str) -> Path:
    """Folder of an embedded benchmark: ``<data_root>/embedded/<scale>/<name>``."""
    return resolve(data_root) / "embedded" / check_scale(scale) / name


def results_dir(results_root, scale: str, notebook: str) -> Path:
    """Folder (created) for one notebook's results: ``<results_root>/<scale>/<notebook>``."""
    path = resolve(results_root) / check_scale(scale) / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_root(data_root) -> Path:
    """Folder of the on-disk feature cache: ``<data_root>/cache``."""
    return resolve(data_root) / "cache"


def repo_root() -> Path:
    """The repository that holds this checkout of avlib."""
    return Path(__file__).resolve().parent.parent


