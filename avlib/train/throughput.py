"""Examples per second of training or inference steps, the one timing loop of the benchmarks.

:func:`time_steps` runs ``warmup`` untimed steps and then ``steps`` timed ones on fixed
batches. A training step is forward, cross-entropy, backward and an optimiser step; with
``amp=True`` on CUDA it runs under :func:`torch.autocast` with a
:class:`torch.amp.GradScaler` (on the CPU ``amp`` is ignored and the step is fp32, as in
:func:`avlib.train.loop.fit`). CUDA work is synchronised before the clock is read.
Used by :func:`avlib.experiments.icmr.throughput.measure_throughput`, ``benchmarks/bench_xflow.py`` and
``benchmarks/bench_ismir.py``. :func:`save_benchmark` writes a benchmark's records with the
machine facts as JSON (``{"meta": ..., "results": [...]}``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from ..errors import ParameterError
from ..utils import git_commit

__all__ = ["time_steps", "save_benchmark"]


def _as_tuple(inputs) -> tuple:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _optimizer(model: nn.Module, optimizer):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        return torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    if callable(optimizer):
        return optimizer(params)
    raise ParameterError(f"optimizer must be None, an Optimizer or a callable(params), got {optimizer!r}")


def time_steps(model: nn.Module, inputs, target=None, *, steps: int = 5, warmup: int = 1, train: bool = True,
               optimizer=None, amp: bool = False, device=None, loss_fn=None, input_transform=None) -> dict:
    """Time ``steps`` training (or inference) steps of ``model`` on one fixed batch.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(*inputs)``; returns logits ``(N, C)``. Moved to ``device``.
    inputs : Tensor or tuple of Tensor [shape=(N, ...)]
        One batch (moved to ``device``); ``N`` is the batch size.
    target : Tensor [shape=(N,)], optional
        Class indices; needed when ``train``.
    steps, warmup : int
        Timed and untimed (first) steps.
    train : bool
        Forward + loss + backward + optimiser step; otherwise forward under ``no_grad``
        in eval mode.
    optimizer : None, torch.optim.Optimizer or callable(params) -> Optimizer
        Default: SGD, lr 1e-4, momentum 0.9 over the trainable parameters.
    amp : bool
        Automatic mixed precision (autocast + GradScaler); only on CUDA.
    device : str or torch.device, optional
        Default: the model's device.
    loss_fn : callable(logits, target), optional
        Default cross-entropy (on float32 logits).
    input_transform : callable(inputs, training) -> inputs, optional
        Applied inside every step, as in :func:`avlib.train.loop.fit` (e.g. augmentation).

    Returns
    -------
    dict
        ``examples_per_s``, ``seconds`` (timed steps), ``batch_size``, ``steps``, ``warmup``,
        ``train``, ``device``, ``amp`` (whether AMP was really used), ``threads``.
    """
    if steps < 1 or warmup < 0:
        raise ParameterError(f"steps must be >= 1 and warmup >= 0, got {steps}, {warmup}")
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    device = torch.device(device)
    cuda = device.type == "cuda"
    use_amp = bool(amp and cuda)
    model = model.to(device)
    xs = tuple(x.to(device) for x in _as_tuple(inputs))
    if train and target is None:
        raise ParameterError("a training step needs a target")
    y = target.to(device) if target is not None else None
    loss_fn = loss_fn or (lambda logits, t: nn.functional.cross_entropy(logits.float(), t))
    opt = _optimizer(model, optimizer) if train else None
    scaler = torch.amp.GradScaler("cuda") if (train and use_amp) else None

    def step():
        batch = input_transform(xs, train) if input_transform is not None else xs
        with torch.autocast(device_type=device.type, enabled=use_amp):
            out = model(*batch)
            loss = loss_fn(out, y) if train else None
        if not train:
            return
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    model.train(train)
    with torch.enable_grad() if train else torch.no_grad():
        for _ in range(warmup):
            step()
        if cuda:
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
    batch_size = int(xs[0].shape[0])
    return {"examples_per_s": batch_size * steps / seconds, "seconds": seconds, "batch_size": batch_size,
            "steps": steps, "warmup": warmup, "train": train, "device": str(device), "amp": use_amp,
            "threads": torch.get_num_threads()}


def save_benchmark(out, results: list, *, threads: int, **extra) -> Path:
    """Write ``{"meta": machine facts + extra, "results": results}`` as JSON to ``out``.

    Machine facts: torch version, threads, platform, processor, CPU count, 1-minute load
    average (CPU numbers depend on it), git commit, GPU name, UTC time.
    """
    meta = {"torch": torch.__version__, "threads": threads, "platform": platform.platform(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "git_commit": git_commit(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return out
