"""How long the paper's visual workloads take: ICMR 2017 Table 2's steps on our code and a Titan X.

Table 2 reports steps (batch 64) and hours on one Titan X for each Inception v3 row.
:func:`measure_throughput` times our model's training steps; :func:`training_flops` counts the
arithmetic of one step with PyTorch's FLOP counter; :func:`titan_x_estimate` turns both into
hours for the paper's workloads, beside the paper's hours and the share of a Titan X's peak
rate those hours imply. :func:`inception_workloads` is the visual page's section in one call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ...models import get_model
from ...report import paper_table
from ...train.throughput import time_steps
from ...utils import get_device

__all__ = ["TITAN_X_PEAK_TFLOPS", "measure_throughput", "training_flops", "titan_x_estimate",
           "inception_workloads"]

def measure_throughput(model: nn.Module, input_shape, *, batch_size: int, steps: int = 5, warmup: int = 1,
                       train: bool = True, device=None, amp: bool = False, channels_last: bool = False) -> dict:
    """Examples per second of ``model`` on random inputs ``(batch_size, *input_shape)``.

    ``train=True`` times forward + backward + SGD step (lr 1e-4, momentum 0.9); otherwise
    inference under ``torch.no_grad``. ``amp`` and ``channels_last`` apply on CUDA only. The
    timing loop is :func:`avlib.train.throughput.time_steps`.
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    cuda = device.type == "cuda"
    model = model.to(device)
    if channels_last and cuda:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, *input_shape, device=device)
    if channels_last and cuda and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, getattr(model, "num_classes", 2) or 2, (batch_size,), device=device)
    r = time_steps(model, (x,), y, steps=steps, warmup=warmup, train=train, device=device, amp=amp)
    return {"examples_per_s": r["examples_per_s"], "seconds": r["seconds"], "batch_size": batch_size,
            "steps": steps, "train": train, "device": str(device), "amp": r["amp"],
            "channels_last": bool(channels_last and cuda), "input_shape": list(input_shape),
            "threads": r["threads"]}


#: Peak FP32 throughput (TFLOP/s, boost clock) of the two GPUs sold as "Titan X": the paper
#: (2017) does not say which. Maxwell GTX Titan X: 3072 cores x 1.075 GHz x 2; Pascal Titan X:
#: 3584 cores x 1.531 GHz x 2.
TITAN_X_PEAK_TFLOPS = {"Titan X (Maxwell)": 6.6, "Titan X (Pascal)": 11.0}


def training_flops(model: nn.Module, input_shape, *, batch_size: int = 2) -> float:
    """FLOPs of one training step (forward + backward) per example, counted by PyTorch.

    Uses :class:`torch.utils.flop_counter.FlopCounterMode` (matrix multiplications and
    convolutions) on random inputs ``(batch_size, *input_shape)``. Inception v3 at 224 px:
    about 17 GFLOP per frame (5.7 forward).
    """
    was_training = model.training
    model.train()
    x = torch.randn(batch_size, *input_shape)
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return counter.get_total_flops() / batch_size


def titan_x_estimate(train_frames_per_s: float, *, batch_size: int = 64, paper=None, device: str = "",
                     flops_per_frame: float | None = None, peak_tflops: dict | None = None) -> pd.DataFrame:
    """The paper's visual workloads (Table 2 steps x batch 64) on our code and on a Titan X.

    ``train_frames_per_s``: measured Inception v3 training throughput at 224 px on
    ``device``. Returns the paper's rows with ``frames_seen`` = steps x batch, ``our_hours`` =
    frames_seen / throughput / 3600 (pure training steps, so a lower bound) beside the paper's
    ``train_hours`` on one Titan X, and the paper's implied ``paper_frames_per_s``.

    With ``flops_per_frame`` (:func:`training_flops`), two more columns per GPU of
    ``peak_tflops`` (default :data:`TITAN_X_PEAK_TFLOPS`): ``compute hours at peak, <GPU>``,
    the hours the workload's arithmetic needs at the GPU's peak FP32 rate (a hard lower
    bound for any code), and ``paper utilisation %, <GPU>``, the share of that peak the
    paper's reported hours imply (low values mean the run was bound by data loading,
    validation or I/O rather than by the network).
    """
    paper = paper_table("icmr2017_table2_visual") if paper is None else paper
    out = paper[["dataset", "frames", "pretrained", "steps", "train_hours"]].copy()
    out["frames_seen"] = out["steps"] * batch_size
    out["our_hours"] = out["frames_seen"] / float(train_frames_per_s) / 3600.0
    out["paper_frames_per_s"] = out["frames_seen"] / (out["train_hours"] * 3600.0)
    out["our_device"] = device
    if flops_per_frame:
        for gpu, tflops in (peak_tflops or TITAN_X_PEAK_TFLOPS).items():
            peak = float(tflops) * 1e12
            out[f"compute hours at peak, {gpu}"] = out["frames_seen"] * flops_per_frame / peak / 3600.0
            out[f"paper utilisation %, {gpu}"] = 100.0 * out["paper_frames_per_s"] * flops_per_frame / peak
    return out


def inception_workloads(benchmark_json=None, *, num_classes: int = 12, size: int = 224) -> dict:
    """Table 2's workloads for Inception v3 at ``size`` px (the paper's 224; FCVID's 12 classes).

    The training throughput comes from ``benchmark_json`` (the output of
    ``benchmarks/bench_icmr.py``: a CUDA record first, else any training record at ``size``
    px) or, without one, from a short measurement here (batch 4, 2 steps). Returns
    ``estimate`` (:func:`titan_x_estimate` with the FLOPs of one training step per frame),
    ``measured`` (the throughput record), ``device`` (its device in words) and ``flops``.
    """
    measured = None
    path = None if benchmark_json is None else Path(benchmark_json)
    if path is not None and path.is_file():
        rows = [r for r in json.loads(path.read_text()).get("results", [])
                if r.get("model") == "inception_frames" and r.get("train") and r.get("input_shape", [0, 0])[-1] == size]
        gpu = [r for r in rows if r.get("device", "").startswith("cuda")]
        measured = (gpu or rows or [None])[0]
    if measured is None:
        measured = measure_throughput(get_model("inception_frames", num_classes=num_classes), (3, size, size),
                                      batch_size=4, steps=2)
        measured["note"] = "measured in this notebook"
    device = measured["device"] + (" AMP" if measured.get("amp") else "") + \
        (" channels_last" if measured.get("channels_last") else "")
    flops = training_flops(get_model("inception_frames", num_classes=num_classes), (3, size, size))
    estimate = titan_x_estimate(measured["examples_per_s"], device=device, flops_per_frame=flops)
    return {"estimate": estimate, "measured": measured, "device": device, "flops": flops}
