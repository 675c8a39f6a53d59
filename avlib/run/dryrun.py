"""A dry run of the paper path: every notebook at the paper's settings, on tiny inputs, on a CPU.

``python -m avlib.run --scale paper --dry-run`` executes each notebook with the paper's models,
input sizes, frame counts, optimisers and schedules. Only how much is trained changes: the
configuration classes' ``DRY_RUN`` overrides (one seed, one epoch, a few folds, small batches),
the registry's ``dry_run`` parameters for the notebooks without a configuration class, and at
most :data:`MAX_BATCHES` batches per epoch in every training. The real datasets are stood in for
by the smallest embedded benchmarks (the ``smoke`` stand-ins), which are written in the real
datasets' layouts; they are linked into ``<dry-run folder>/data/real/<dataset>`` so that every
notebook reads them through the same code as FCVID, YouTube-8M, AVletters, Digits and CUAVE.

Everything a dry run writes stays under ``_build/dry_run/`` (data links and caches, results,
executed notebooks and their manifest): the book and its results are not touched. A shape or
configuration error of the paper path shows up here, on a CPU, in minutes.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..data.embedded import ensure
from ..data.real import REAL_DATASETS, REAL_FOLDER
from ..errors import ParameterError
from .registry import NotebookEntry, check_config

__all__ = ["MAX_BATCHES", "STAND_INS", "dry_run_folder", "prepare_data", "config_class", "dry_run_parameters"]

#: Batches per epoch of every training in a dry run (``$AVLIB_MAX_BATCHES`` of the kernels).
MAX_BATCHES = 2

#: The embedded benchmark (smoke size) that stands in for each real dataset in a dry run.
STAND_INS = {"fcvid": "instruments", "youtube8m": "instruments_yt8m", "avletters": "avletters",
             "digits": "digits", "cuave": "cuave"}


def dry_run_folder(root: Path) -> Path:
    """``<repository>/_build/dry_run``: where a dry run keeps everything it writes."""
    return Path(root) / "_build" / "dry_run"


def prepare_data(folder: Path, data_root, *, names=None, log=print) -> Path:
    """Link the smoke stand-ins into ``<folder>/data/real/<dataset>`` and return ``<folder>/data``.

    The stand-ins are generated under ``data_root`` (``<data_root>/embedded/smoke``) when they are
    missing, as ``python -m avlib.data <name> --scale smoke`` would; ``names``: the real datasets
    wanted (default all).
    """
    data = Path(folder) / "data"
    real = data / REAL_FOLDER
    real.mkdir(parents=True, exist_ok=True)
    for name in names or REAL_DATASETS:
        source = Path(ensure(STAND_INS[name], data_root, scale="smoke")).resolve()
        link = real / name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and Path(os.readlink(link)) == source:
                continue
            if not link.is_symlink():
                raise ParameterError(f"{link} exists and is not a link made by a dry run; remove it")
            link.unlink()
        link.symlink_to(source, target_is_directory=True)
        log(f"dry run: {name} stood in for by the smoke {STAND_INS[name]} benchmark ({source})")
    return data


def config_class(entry: NotebookEntry):
    """The configuration class a registry entry names (``module.Class``)."""
    module, _, name = entry.config.rpartition(".")
    return getattr(importlib.import_module(module), name)


def dry_run_parameters(entry: NotebookEntry, params: dict, overrides: dict, scale: str) -> dict:
    """``params`` of one notebook with the dry run's budget applied.

    A notebook with a configuration class gets the class's ``DRY_RUN`` overrides under the
    ``-p config...`` values of the command line (those win); the others get the registry's
    ``dry_run`` parameters, except those given with ``-p``.
    """
    out = dict(params)
    if entry.config:  # a registry entry with a configuration class has a `config` parameter
        given = dict(out.get("config") or {})
        out["config"] = {**dict(config_class(entry).DRY_RUN), **given}
        check_config(entry, scale, out["config"])
    for key, value in (entry.dry_run or {}).items():
        if key not in overrides:
            out[key] = value
    return out
