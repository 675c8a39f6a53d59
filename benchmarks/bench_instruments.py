"""Benchmark of the instrument-video data pipeline.

Measures, on ``--jobs`` worker processes (2 by default, the project's laptop):

* generation time of the embedded benchmark at ``--scale`` (cpu by default), wall and CPU seconds,
  videos per second; with ``--variants fcvid,yt8m`` (default) also the YouTube-8M-style variant
  (target: both cpu variants in <= 4 min on 2 idle cores);
* the datasheet's probe features (log-mel statistics + pooled frame descriptors) in videos/s;
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
    parser.add_argument("--variants", default="fcvid,yt8m", help="benchmarks to generate (fcvid, yt8m)")
    args = parser.parse_args(argv)

    import pandas as pd

    from avlib.data.instruments import ensure_instrument_benchmark, ensure_yt8m_benchmark
    from avlib.data.instruments.calibration import probe_features
    from avlib.features.dataset import extract_features

    os.environ.setdefault("AVLIB_PROGRESS", "0")
    tmp = Path(tempfile.mkdtemp(prefix="bench_instruments_"))
    data_root = Path(args.data_root) if args.data_root else tmp / "data"
    result = {"benchmark": "instruments", "scale": args.scale, "jobs": args.jobs, "seed": args.seed,
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
              "load_average_at_start": os.getloadavg()}
    try:
        ensure = {"fcvid": ensure_instrument_benchmark, "yt8m": ensure_yt8m_benchmark}
        variants = [v for v in args.variants.split(",") if v]
        if "fcvid" not in variants:
            variants.insert(0, "fcvid")
        result["generation_by_variant"] = {}
        for variant in variants:
            cpu0, t0 = _cpu_children(), time.perf_counter()
            vroot = ensure[variant](data_root, scale=args.scale, seed=args.seed, n_jobs=args.jobs)
            gen_wall, gen_cpu = time.perf_counter() - t0, _cpu_children() - cpu0
            marker = json.loads((vroot / "generation.json").read_text())
            measured = args.data_root is None or gen_wall > 5
            vids = pd.read_csv(vroot / "videos.csv")
            wall = gen_wall if measured else marker.get("seconds")
            result["generation_by_variant"][variant] = {
                "videos": len(vids), "video_seconds": float(vids["duration_s"].sum()), "wall_s": wall,
                "cpu_s": gen_cpu if measured else None, "videos_per_s": len(vids) / wall if wall else None,
                "measured_here": measured, "load_average_after": os.getloadavg()}
            print(variant, json.dumps(result["generation_by_variant"][variant]), flush=True)
            if variant == "fcvid":
                root = vroot
        result["generation"] = result["generation_by_variant"]["fcvid"]
        walls = [g["wall_s"] for g in result["generation_by_variant"].values()]
        result["generation_all_variants_s"] = sum(walls) if all(w is not None for w in walls) else None
        videos = pd.read_csv(root / "videos.csv")
        t0 = time.perf_counter()
        pv, _, _ = probe_features(root, cache_dir=None, n_jobs=args.jobs)
        result["probe_features"] = {"videos": len(pv), "seconds": time.perf_counter() - t0,
                                    "videos_per_s": len(pv) / (time.perf_counter() - t0)}
        print("probe features", json.dumps(result["probe_features"]), flush=True)
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
