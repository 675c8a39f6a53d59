"""Small helpers shared by the whole library: seeding, devices, progress bars, git."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

__all__ = ["seed_everything", "get_device", "progress", "progress_enabled", "git_commit", "worker_context",
           "worker_init"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_device(prefer: str | None = None):
    """Return ``torch.device(prefer)`` or CUDA when available, else CPU."""
    import torch

    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def progress_enabled() -> bool:
    """Progress bars show only on a terminal and unless ``AVLIB_PROGRESS=0``."""
    flag = os.environ.get("AVLIB_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress(iterable=None, **tqdm_kwargs):
    """A tqdm progress bar that switches itself off in notebooks run by papermill and in CI."""
    tqdm_kwargs.setdefault("disable", not progress_enabled())
    tqdm_kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **tqdm_kwargs)


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit of the repository holding ``cwd`` (or avlib), or None."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def worker_context():
    """Multiprocessing context for worker pools.

    spawn: fresh workers (forking a process whose thread pools hold locks, e.g. OpenCV's or BLAS's,
    deadlocks). Falls back to fork only when the main module cannot be re-imported (code piped
    through stdin).
    """
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file is not None and not Path(main_file).exists() and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return mp.get_context("spawn")


def worker_init() -> None:
    """Initializer of a worker process: one OpenMP and one OpenCV thread (the pool itself uses the
    cores)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
