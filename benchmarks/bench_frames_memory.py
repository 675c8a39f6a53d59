"""Peak host memory of the frame model's training at FCVID scale, with frames streamed from the cache.

    .venv/bin/python benchmarks/bench_frames_memory.py            # FCVID: 5,154 videos x 100 frames
    .venv/bin/python benchmarks/bench_frames_memory.py --videos 200 --steps 1   # a quick look

A synthetic frame cache with FCVID's frame count is written as sparse ``.npy`` files (the
layout :func:`avlib.experiments.icmr.data.frame_inputs` memory-maps: ``(100, 256, 256, 3)`` uint8
per video, 19.7 MB each on paper, almost nothing on disk). The ICMR frame model (Inception v3 at
224 px, Table 2's 50 frames per training video) then runs through the book's own functions:
:func:`~avlib.experiments.icmr.visual.train_frame_model` over every training video (``--steps``
batches of 64, as many as a CPU can afford) and :func:`~avlib.experiments.icmr.visual.frame_scores`
over ``--score-videos`` test videos at 100 frames. A thread samples the process's resident
memory: all of it (``rss``, which counts the mapped cache pages the kernel may drop at any time)
and the anonymous part (``rss_anon``: what the process itself allocated). Held as arrays, the
cropped frames alone would take 5,154 x 100 x 3 x 224 x 224 bytes = 77.6 GB, and the 50 training
frames of each of the 3,608 training videos another 27.2 GB. Results go to ``benchmarks/results/frames_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from avlib.experiments.icmr import visual
from avlib.experiments.icmr.data import VideoFrames
from avlib.run.manifest import PeakMemory
from avlib.train.loop import TrainConfig

HERE = Path(__file__).resolve().parent


def _status() -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def write_cache(folder: Path, videos: int, frames: int, side: int) -> list[Path]:
    """Sparse ``.npy`` frame files: the header and one written frame per video, the rest holes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    paths = []
    for i in range(videos):
        path = folder / f"v{i:05d}.npy"
        a = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(frames, side, side, 3))
        a[0] = first
        a.flush()
        del a
        paths.append(path)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=5154, help="videos in the cache (FCVID: 5,154)")
    p.add_argument("--frames", type=int, default=100, help="cached frames per video (the paper: 100)")
    p.add_argument("--side", type=int, default=256, help="cached square size (the paper: 256)")
    p.add_argument("--crop", type=int, default=224, help="network input (the paper: 224)")
    p.add_argument("--k", type=int, default=50, help="frames per training video (Table 2 row: 50)")
    p.add_argument("--steps", type=int, default=3, help="training batches of 64 (the whole epoch is 3,608 x 50 / 64)")
    p.add_argument("--score-videos", type=int, default=4, help="test videos scored at 100 frames")
    p.add_argument("--root", default=None, help="where the synthetic cache goes (default: a temporary folder)")
    p.add_argument("--out", default=str(HERE / "results" / "frames_memory.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory(dir=args.root) as tmp:
        t0 = time.perf_counter()
        paths = write_cache(Path(tmp) / "frames", args.videos, args.frames, args.side)
        write_s = time.perf_counter() - t0
        on_disk = sum(p.stat().st_blocks * 512 for p in paths)
        n_train = int(round(args.videos * 0.7))
        n_val = (args.videos - n_train) // 2
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 12, size=args.videos)
        before = _status()
        with PeakMemory(interval=0.2, measure=lambda: _status()["VmRSS"]) as peak, \
                PeakMemory(interval=0.2, measure=lambda: _status()["RssAnon"]) as anon:
            t0 = time.perf_counter()
            frames = [VideoFrames(np.load(p, mmap_mode="r"), crop=args.crop) for p in paths]
            tr, va, te = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None)
            cfg = TrainConfig(epochs=1, batch_size=64, lr=1e-4, optimizer="sgd", seed=0, max_batches=args.steps)
            model, history = visual.train_frame_model(frames[tr], labels[tr], frames[va], labels[va], k=args.k,
                                                      num_classes=12, config=cfg, device=torch.device("cpu"))
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            test = frames[te][: args.score_videos]
            probs, feats = visual.frame_scores(model, test, n_frames=args.frames, device=torch.device("cpu"))
            score_s = time.perf_counter() - t0
        as_arrays = args.videos * args.frames * 3 * args.crop ** 2
        result = {
            "what": "peak host memory of the ICMR frame model (Inception v3) streaming frames from a memory-mapped "
                    "cache at FCVID scale (synthetic sparse cache)",
            "videos": args.videos, "frames_per_video": args.frames, "cached_side": args.side, "crop": args.crop,
            "train_videos": n_train, "val_videos": n_val, "frames_per_training_video": args.k,
            "training_items": n_train * min(args.k, args.frames), "training_steps": args.steps, "batch": 64,
            "scored_test_videos": len(test), "scored_frames": int(len(test) * args.frames),
            "cache_logical_gb": round(sum(p.stat().st_size for p in paths) / 1e9, 2),
            "cache_on_disk_gb": round(on_disk / 1e9, 3), "cache_write_seconds": round(write_s, 1),
            "frames_as_arrays_gb": round(as_arrays / 1e9, 1),
            "training_copy_as_arrays_gb": round(n_train * args.k * 3 * args.crop ** 2 / 1e9, 1),
            "rss_before_gb": round(before["VmRSS"] / 1e9, 2),
            "peak_rss_gb": round(peak.peak / 1e9, 2), "peak_rss_anon_gb": round(anon.peak / 1e9, 2),
            "peak_rss_hwm_gb": round(_status()["VmHWM"] / 1e9, 2),
            "train_seconds": round(train_s, 1), "score_seconds": round(score_s, 1),
            "train_loss": history.epochs[-1]["train_loss"], "probs_shape": list(probs.shape),
            "features_shape": list(feats.shape),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
            "limit_gb": 16.0,
        }
        result["under_limit"] = result["peak_rss_gb"] < result["limit_gb"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0 if result["under_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
