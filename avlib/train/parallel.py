"""Independent training jobs in worker processes, and the intra-op thread count of a page.

Every training job of the book seeds itself from its own seed, so running jobs in worker
processes changes no number as long as each worker uses the same intra-op thread count
(which does change floating-point sums). :func:`run_tasks` starts fresh (spawned) workers with
``threads`` torch threads each and returns the results in the order of the tasks, whichever
worker finishes first. On a machine with several GPUs each worker takes one of them
(:func:`worker_devices`): the XFlow folds and the ICMR seed x network runs spread one process
per GPU. :func:`use_threads` sets the thread count of the calling process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Optional, Sequence

import torch

from ..errors import ParameterError
from ..utils import DEVICE_ENV

__all__ = ["use_threads", "run_tasks", "worker_devices"]


def use_threads(n: Optional[int]) -> int:
    """Set torch's intra-op thread count to ``n`` (None: leave it) and return the count in use."""
    if n is not None:
        if int(n) < 1:
            raise ParameterError(f"thread count must be >= 1, got {n}")
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


def worker_devices() -> list[str]:
    """``["cuda:0", "cuda:1", ...]``: one device per worker when the run may use CUDA
    (``$AVLIB_DEVICE`` unset, ``auto`` or ``cuda``) and more than one GPU is visible; else ``[]``
    (the workers share the run's device). ``CUDA_VISIBLE_DEVICES`` chooses the GPUs."""
    setting = os.environ.get(DEVICE_ENV, "auto") or "auto"
    if setting not in ("auto", "cuda") or not torch.cuda.is_available():
        return []
    n = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(n)] if n > 1 else []


def _init_worker(threads: Optional[int], devices=None) -> None:
    use_threads(threads)
    if devices is not None:  # one device per worker, handed out once each
        device = devices.get()
        os.environ[DEVICE_ENV] = device
        if device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.set_device(torch.device(device))


def run_tasks(fn: Callable, tasks: Sequence, *, workers: int = 1, threads: Optional[int] = 1,
              cost: Optional[Callable] = None, devices: Optional[Sequence[str]] = None) -> list:
    """``[fn(t) for t in tasks]``, in ``workers`` spawned processes when ``workers > 1`` and
    there is more than one task (``fn`` and the tasks must be picklable; ``fn`` a module-level
    function).

    Each worker runs with ``threads`` torch threads (None: torch's default). With ``cost`` (a
    function of a task) the costliest tasks are handed out first, which shortens the idle
    tail. The results keep the order of ``tasks``. In-process (one worker) the caller's
    thread count is used. ``devices`` (default :func:`worker_devices`; ``[]``: none): one
    process per device, each with ``$AVLIB_DEVICE`` set to its own, however many ``workers``
    were asked for; a task's numbers do not depend on which GPU ran it.
    """
    tasks = list(tasks)
    devices = list(worker_devices() if devices is None else devices)
    if devices:
        workers = len(devices)
    if int(workers) <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    order = list(range(len(tasks)))
    if cost is not None:
        order.sort(key=lambda i: -cost(tasks[i]))  # stable: ties keep their order
    ctx = mp.get_context("spawn")
    n = min(int(workers), len(tasks))
    queue = None
    if devices:
        queue = ctx.Queue()
        for d in devices[:n]:
            queue.put(d)
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads, queue)) as ex:
        done = list(ex.map(fn, [tasks[i] for i in order]))
    out = [None] * len(tasks)
    for i, r in zip(order, done):
        out[i] = r
    return out
