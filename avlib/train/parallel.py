"""Independent training jobs in worker processes, and the intra-op thread count of a page.

Every training job of the book seeds itself from its own seed, so running jobs in worker
processes changes no number as long as each worker uses the same intra-op thread count
(which does change floating-point sums). :func:`run_tasks` starts fresh (spawned) workers with
``threads`` torch threads each and returns the results in the order of the tasks, whichever
worker finishes first. :func:`use_threads` sets the thread count of the calling process.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Optional, Sequence

import torch

from ..errors import ParameterError

__all__ = ["use_threads", "run_tasks"]


def use_threads(n: Optional[int]) -> int:
    """Set torch's intra-op thread count to ``n`` (None: leave it) and return the count in use."""
    if n is not None:
        if int(n) < 1:
            raise ParameterError(f"thread count must be >= 1, got {n}")
        torch.set_num_threads(int(n))
    return torch.get_num_threads()


def _init_worker(threads: Optional[int]) -> None:
    use_threads(threads)


def run_tasks(fn: Callable, tasks: Sequence, *, workers: int = 1, threads: Optional[int] = 1,
              cost: Optional[Callable] = None) -> list:
    """``[fn(t) for t in tasks]``, in ``workers`` spawned processes when ``workers > 1`` and
    there is more than one task (``fn`` and the tasks must be picklable; ``fn`` a module-level
    function).

    Each worker runs with ``threads`` torch threads (None: torch's default). With ``cost`` (a
    function of a task) the costliest tasks are handed out first, which shortens the idle
    tail. The results keep the order of ``tasks``. In-process (one worker) the caller's
    thread count is used.
    """
    tasks = list(tasks)
    if int(workers) <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    order = list(range(len(tasks)))
    if cost is not None:
        order.sort(key=lambda i: -cost(tasks[i]))  # stable: ties keep their order
    with ProcessPoolExecutor(max_workers=min(int(workers), len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as ex:
        done = list(ex.map(fn, [tasks[i] for i in order]))
    out = [None] * len(tasks)
    for i, r in zip(order, done):
        out[i] = r
    return out
