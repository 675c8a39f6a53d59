"""Throughput of the ICMR 2017 models (training and inference), CPU and GPU.

Usage::

    .venv/bin/python benchmarks/bench_icmr.py --out benchmarks/results/icmr.json [--device cuda] [--quick]

For every model at the paper's input size (Han 1 x 128 x 43 segments, Choi / Xception
1 x 96 x 1366 log-mels, Inception v3 3 x 224 x 224 frames, late fusion 101 x 1024) plus the
Inception v3 frame size and Choi / Xception log-mel length of the ``cpu`` preset, measures examples per second for training
(forward + backward + SGD step) and inference, on CPU (fp32) and, when CUDA is available, on
the GPU with AMP and channels_last. Writes JSON ``{"meta": ..., "results": [...]}``; the
``icmr_visual`` notebook reads the Inception v3 224 px training number for its Titan X estimate.
"""

from __future__ import annotations

import argparse
import time

import torch

from avlib.models import get_model
from avlib.train.icmr import PRESETS, count_params, measure_throughput
from avlib.train.throughput import save_benchmark

# model, builder kwargs, input shape, (cpu batch, gpu batch)
CASES = [
    ("han2016", {}, (1, 128, 43), (32, 256)),
    ("choi2016", {}, (1, 96, 1366), (4, 64)),
    ("xception_audio", {}, (1, 96, 1366), (2, 32)),
    ("inception_frames", {}, (3, 224, 224), (4, 64)),
    ("inception_frames", {}, (3, PRESETS["cpu"].frame_size, PRESETS["cpu"].frame_size), (16, 256)),
    # the cpu preset's shorter log-mels (2.912 s = 137 frames)
    ("choi2016", {"input_size": (96, 137)}, (1, 96, 137), (16, 256)),
    ("xception_audio", {}, (1, 96, 137), (16, 256)),
    ("late_fusion", {"n_frames": 50}, (101, 1024), (32, 256)),
]


def run(devices, *, steps: int, quick: bool) -> list[dict]:
    results = []
    for device in devices:
        cuda = device.startswith("cuda")
        for name, kw, shape, (b_cpu, b_gpu) in CASES:
            batch = b_gpu if cuda else b_cpu
            for train in (True, False):
                torch.manual_seed(0)
                model = get_model(name, num_classes=12, **kw)
                t0 = time.perf_counter()
                r = measure_throughput(model, shape, batch_size=batch, steps=1 if quick else steps,
                                       warmup=1, train=train, device=device, amp=cuda, channels_last=cuda)
                r.update(model=name, params=count_params(model), wall_s=time.perf_counter() - t0,
                         unit="frames" if name == "inception_frames" else
                         ("segments" if name == "han2016" else ("clips" if name != "late_fusion" else "videos")))
                print(f"{device:6s} {name:17s} {str(shape):18s} {'train' if train else 'infer'} "
                      f"{r['examples_per_s']:9.2f} {r['unit']}/s", flush=True)
                results.append(r)
                del model
                if cuda:
                    torch.cuda.empty_cache()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/icmr.json")
    ap.add_argument("--device", default=None, help="cpu, cuda or both (default: cpu, plus cuda if available)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one timed step per case")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device in (None, "both"):
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    results = run(devices, steps=args.steps, quick=args.quick)
    out = save_benchmark(args.out, results, threads=args.threads)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
