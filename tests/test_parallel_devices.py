"""One worker process per GPU: each worker gets its own device through ``$AVLIB_DEVICE``."""

import os

from avlib.train import parallel
from avlib.utils import DEVICE_ENV


def _where(task):
    return task, os.getpid(), os.environ.get(DEVICE_ENV)


def test_each_worker_runs_on_its_own_device():
    devices = ["cuda:0", "cuda:1"]  # names only: nothing here touches CUDA
    out = parallel.run_tasks(_where, list(range(6)), workers=1, threads=1, devices=devices)
    assert [t for t, _, _ in out] == list(range(6))  # the order of the tasks
    by_pid = {}
    for _, pid, device in out:
        by_pid.setdefault(pid, set()).add(device)
    assert all(len(d) == 1 for d in by_pid.values())  # a worker keeps its device
    assert set().union(*by_pid.values()) <= set(devices)
    assert len(by_pid) <= len(devices)


def test_no_gpus_means_the_workers_share_the_run_device(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert parallel.worker_devices() == []
    monkeypatch.setattr(parallel.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(parallel.torch.cuda, "device_count", lambda: 4)
    assert parallel.worker_devices() == []  # --device cpu wins
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert parallel.worker_devices() == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    monkeypatch.setenv(DEVICE_ENV, "cuda:2")
    assert parallel.worker_devices() == []  # one named GPU: every worker on it
    monkeypatch.setenv(DEVICE_ENV, "auto")
    monkeypatch.setattr(parallel.torch.cuda, "device_count", lambda: 1)
    assert parallel.worker_devices() == []
    out = parallel.run_tasks(_where, [1, 2], workers=1, devices=[])
    assert [d for _, _, d in out] == ["auto", "auto"]  # in-process: the caller's setting
