"""Benchmark of the instrument-video data pipeline.

Measures, on ``--jobs`` worker processes (2 by default, the project's laptop):

* generation time of the embedded benchmark at ``--scale`` (cpu by default), wall and CPU seconds;
* feature-extraction throughput of a cold cache: audio seconds per second for the Choi (UC)
  and Han log-mels, frames per second for the frame sampler (k=20, 256 px as in the paper);
* the cache speed-up: the same extraction a second time (nothing decoded);
* the target "extracting the features is faster than generating the videos".

Usage::

    .venv/bin/python benchmarks/bench_instruments.py --out benchmarks/results/instruments.json

``--data-root`` reuses an already generated benchmark (its generation time is then read from
the marker instead of measured).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime + s.ru_utime + s.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/instruments.json")
    parser.add_argument("--scale", default="cpu")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="reuse a generated benchmark under this data root")
    parser.add_argument("--kinds", default="choi_uc,han,frames")
    args = parser.parse_args(argv)

    import pandas as pd

    from avlib.data.instruments import ensure_instrument_benchmark
    from avlib.features.dataset import extract_features

    os.environ.setdefault("AVLIB_PROGRESS", "0")
    tmp = Path(tempfile.mkdtemp(prefix="bench_instruments_"))
    data_root = Path(args.data_root) if args.data_root else tmp / "data"
    result = {"benchmark": "instruments", "scale": args.scale, "jobs": args.jobs, "seed": args.seed,
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
              "load_average_at_start": os.getloadavg()}
    try:
        cpu0, t0 = _cpu_children(), time.perf_counter()
        root = ensure_instrument_benchmark(data_root, scale=args.scale, seed=args.seed, n_jobs=args.jobs)
        gen_wall, gen_cpu = time.perf_counter() - t0, _cpu_children() - cpu0
        marker = json.loads((root / "generation.json").read_text())
        measured = args.data_root is None or gen_wall > 5
        videos = pd.read_csv(root / "videos.csv")
        result["generation"] = {
            "videos": len(videos), "video_seconds": float(videos["duration_s"].sum()),
            "wall_s": gen_wall if measured else marker.get("seconds"),
            "cpu_s": gen_cpu if measured else None,
            "measured_here": measured,
        }
        cache = tmp / "cache"
        feats = {}
        total_first = 0.0
        for kind in args.kinds.split(","):
            params = {"k": 20, "size": 256} if kind == "frames" else {}
            cpu0, t0 = _cpu_children(), time.perf_counter()
            out, rep = extract_features(videos, video_root=root / "videos", kind=kind, cache_dir=cache,
                                        n_jobs=args.jobs, progress=False, **params)
            first, first_cpu = time.perf_counter() - t0, _cpu_children() - cpu0
            del out
            t0 = time.perf_counter()
            out, rep2 = extract_features(videos, video_root=root / "videos", kind=kind, cache_dir=cache,
                                         n_jobs=args.jobs, progress=False, **params)
            second = time.perf_counter() - t0
            del out
            total_first += first
            entry = {"videos_ok": rep.n_ok, "skipped": len(rep.skipped), "first_run_s": first, "first_run_cpu_s": first_cpu,
                     "second_run_s": second, "second_run_cached": rep2.n_cached, "cache_speedup": first / max(second, 1e-9)}
            if kind == "frames":
                entry["frames"] = rep.n_frames
                entry["frames_per_s"] = rep.n_frames / first
            else:
                entry["audio_seconds"] = rep.media_seconds
                entry["audio_seconds_per_s"] = rep.media_seconds / first
            feats[kind] = entry
            print(kind, json.dumps(entry), flush=True)
        result["features"] = feats
        gw = result["generation"]["wall_s"]
        result["target_extraction_faster_than_generation"] = {
            "extraction_total_s": total_first, "generation_s": gw,
            "met": bool(gw is not None and total_first < gw)}
        result["load_average_at_end"] = os.getloadavg()
    finally:
        if args.data_root is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp / "cache", ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
