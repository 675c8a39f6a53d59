"""Throughput of the ICMR 2017 models (training and inference), CPU and GPU.

Usage::

    .venv/bin/python benchmarks/bench_icmr.py --out benchmarks/results/icmr.json [--device cuda] [--quick]

For every model at the paper's input size (Han 1 x 128 x 43 segments, Choi / Xception
1 x 96 x 1366 log-mels, Inception v3 3 x 224 x 224 frames, late fusion 101 x 1024) plus the
Inception v3 frame size and Choi / Xception log-mel length of the ``cpu`` scale
(``ICMRConfig.for_scale("cpu")``), measures examples per second for training
(forward + backward + SGD step) and inference, on CPU (fp32) and, when CUDA is available, on
the GPU with AMP and channels_last. Writes JSON ``{"meta": ..., "results": [...]}``; the
``icmr_visual`` notebook reads the Inception v3 224 px training number for its Titan X estimate.

``--profile-cpu`` instead measures the speed choices of the ``cpu`` scale on this machine:
each cpu-scale model at batch 16 and 64, at 1 and 2 intra-op threads
(two 1-thread processes beat one 2-thread process when 1-thread throughput x 2 exceeds the
2-thread one), channels_last and bf16 autocast on the CPU, and the frozen Inception v3
backbone's inference (feature caching) beside its full training step.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from avlib.config.icmr import ICMRConfig
from avlib.experiments.icmr.scoring import count_params
from avlib.experiments.icmr.throughput import measure_throughput, training_flops
from avlib.models import get_model
from avlib.train.throughput import save_benchmark


def choi_frames(seconds: float) -> int:
    """Log-mel frames of a Choi / Xception input of ``seconds`` (12 kHz, hop 256)."""
    return 1 + round(seconds * 12000) // 256


_CPU = ICMRConfig.for_scale("cpu")
_T_CPU = choi_frames(_CPU.audio.choi_seconds)

# model, builder kwargs, input shape, (cpu batch, gpu batch)
CASES = [
    ("han2016", {}, (1, 128, 43), (32, 256)),
    ("choi2016", {}, (1, 96, 1366), (4, 64)),
    ("xception_audio", {}, (1, 96, 1366), (2, 32)),
    ("inception_frames", {}, (3, 224, 224), (4, 64)),
    ("inception_frames", {}, (3, _CPU.visual.frame_size, _CPU.visual.frame_size), (16, 256)),
    # the cpu scale's shorter log-mels (audio.choi_seconds)
    ("choi2016", {"input_size": (96, _T_CPU)}, (1, 96, _T_CPU), (16, 256)),
    ("xception_audio", {}, (1, 96, _T_CPU), (16, 256)),
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


def _cpu_step(model, shape, *, batch, train, threads, channels_last=False, bf16=False, steps=2):
    """Examples/s of one cpu configuration (fp32 unless ``bf16``: autocast on the CPU)."""
    torch.set_num_threads(threads)
    x = torch.randn(batch, *shape)
    y = torch.randint(0, 12, (batch,))
    if channels_last and x.dim() == 4:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train(train)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if train:
                opt.zero_grad(set_to_none=True)
                out = model(x)
                torch.nn.functional.cross_entropy(out.float(), y).backward()
                opt.step()
            else:
                with torch.no_grad():
                    model(x)

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def profile_cpu(*, steps: int) -> list[dict]:
    """The cpu scale's models under the speed options listed in the module doc."""
    import os

    p = ICMRConfig.for_scale("cpu")
    t_choi = choi_frames(p.audio.choi_seconds)
    cases = [
        ("han2016", {}, (1, 128, 43)),
        ("choi2016", {"input_size": (96, t_choi)}, (1, 96, t_choi)),
        ("xception_audio", {}, (1, 96, t_choi)),
        ("inception_frames", {}, (3, p.visual.frame_size, p.visual.frame_size)),
    ]
    out = []
    for name, kw, shape in cases:
        variants = [dict(batch=16, train=True, threads=2), dict(batch=64, train=True, threads=2),
                    dict(batch=16, train=True, threads=1), dict(batch=16, train=True, threads=2, channels_last=True),
                    dict(batch=16, train=True, threads=2, bf16=True), dict(batch=64, train=False, threads=2)]
        for v in variants:
            torch.manual_seed(0)
            model = get_model(name, num_classes=12, **kw)
            eps = _cpu_step(model, shape, steps=steps, **v)
            r = {"model": name, "input_shape": list(shape), "examples_per_s": eps, "device": "cpu",
                 "load_1min": os.getloadavg()[0], **{"channels_last": False, "bf16": False, **v}}
            print(f"{name:17s} {str(shape):16s} " + " ".join(f"{k}={r[k]}" for k in
                  ("batch", "train", "threads", "channels_last", "bf16")) + f"  {eps:8.1f}/s  load {r['load_1min']:.1f}",
                  flush=True)
            out.append(r)
    return out


def cpu_budget(*, n_videos: int = 1600, n_seeds: int = 3, gflops: float = 35.0) -> dict:
    """Arithmetic of the cpu scale's ICMR pages (PyTorch FLOP counter), per part.

    Counts training steps (forward + backward) and the one inference pass over every video per
    audio model, the frozen backbone (pre-training once, BN re-estimation, features of 4 frames
    per video for the pre-trained and the random backbone), the fusion models and the
    robustness figure, for ``n_videos`` split 70/15/15 and ``n_seeds`` seeds; ``seconds`` at
    ``gflops`` effective GFLOP/s (about what an earlier 1-seed, 288-video cpu run reached on
    2 cores).
    """
    p = ICMRConfig.for_scale("cpu")
    a, v, fu = p.audio, p.visual, p.fusion
    t = choi_frames(a.choi_seconds)
    f = {}
    for name, kw, shape in [("han2016", {}, (1, 128, 43)), ("choi2016", {"input_size": (96, t)}, (1, 96, t)),
                            ("xception_audio", {}, (1, 96, t)),
                            ("inception_frames", {}, (3, v.frame_size, v.frame_size)),
                            ("late_fusion", {"n_frames": fu.frames}, (2 * fu.frames + 1, 1024))]:
        torch.manual_seed(0)
        f[name] = training_flops(get_model(name, num_classes=12, **kw), shape)
    ntr = round(0.7 * n_videos)
    epochs = dict(a.epochs_override)
    audio = 0.0
    for name, crop in a.models:
        per = f[name] * (a.han_segments if name == "han2016" else 1)
        scored = n_videos if (name != "han2016" and crop == "UC") else 0.15 * n_videos  # run_audio_model
        audio += ntr * epochs.get(name, a.epochs) * per + scored * per / 3
    frames = max(max(v.frames_grid), v.eval_frames, fu.frames)
    visual_once = 360 * 0.85 * v.pretrain_epochs * f["inception_frames"] + \
        2 * (n_videos * frames + 512) * f["inception_frames"] / 3
    fusion = 2 * ntr * fu.epochs * f["late_fusion"]
    robustness = 2 * 0.15 * n_videos * fu.frames * f["inception_frames"] / 3
    # YouTube-8M-style page (same size): Choi UC, the pre-trained frozen backbone, one fusion
    yt8m_seed = ntr * a.epochs * f["choi2016"] + n_videos * f["choi2016"] / 3 + fusion / 2
    yt8m_once = 360 * 0.85 * v.pretrain_epochs * f["inception_frames"] + \
        (n_videos * frames + 512) * f["inception_frames"] / 3
    parts = {"audio per seed": audio, "fusion per seed": fusion, "robustness (first seed)": robustness,
             "visual once": visual_once, "youtube8m per seed": yt8m_seed, "youtube8m once": yt8m_once}
    total = n_seeds * (audio + fusion + yt8m_seed) + robustness + visual_once + yt8m_once  # robustness: first seed
    out = {"gflop_per_training_example": {k: v / 1e9 for k, v in f.items()},
           "tflop": {k: v / 1e12 for k, v in parts.items()}, "total_tflop": total / 1e12,
           "seconds_at_gflops": total / (gflops * 1e9), "gflops": gflops, "n_videos": n_videos, "n_seeds": n_seeds}
    print(json.dumps(out, indent=1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/icmr.json")
    ap.add_argument("--device", default=None, help="cpu, cuda or both (default: cpu, plus cuda if available)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one timed step per case")
    ap.add_argument("--profile-cpu", action="store_true", help="the cpu scale's speed options")
    ap.add_argument("--budget", action="store_true", help="only print the cpu scale's FLOP budget")
    args = ap.parse_args(argv)
    if args.budget:
        cpu_budget()
        return 0
    if args.profile_cpu:
        out = save_benchmark(args.out, profile_cpu(steps=args.steps) + [{"budget": cpu_budget()}],
                             threads=args.threads)
        print(f"wrote {out}")
        return 0
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
