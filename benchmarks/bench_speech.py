"""Generation time of the embedded audiovisual speech benchmarks (avlib.data.speech).

Usage::

    .venv/bin/python benchmarks/bench_speech.py --out benchmarks/results/speech.json \
        [--scales smoke cpu] [--datasets avletters digits cuave] [--n-jobs 2]

For every scale preset and dataset the benchmark is generated from scratch into a
temporary folder; the JSON holds seconds, clips, clips per second, the worker count and
the 1-minute load average before each run, and the CPU seconds the workers spent (other
processes may be running: a load above the core count inflates the wall times; the CPU
seconds divided by the worker count is the time on free cores). The ``paper`` preset
has the same sizes as ``cpu``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def main(argv=None):
    from avlib.data.speech.generate import SPEECH_PRESETS, generate_speech_benchmark
    from avlib.paths import embedded_root
    from avlib.utils import git_commit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scales", nargs="+", default=["smoke", "cpu"], choices=list(SPEECH_PRESETS))
    ap.add_argument("--datasets", nargs="+", default=["avletters", "digits", "cuave"])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-in", type=Path, default=None,
                    help="generate into avlib.paths.embedded_root(KEEP_IN, scale, dataset) and keep it")
    args = ap.parse_args(argv)

    runs = []
    for scale in args.scales:
        for name in args.datasets:
            with tempfile.TemporaryDirectory(prefix=f"bench_speech_{name}_") as tmp:
                target = Path(tmp) / name if args.keep_in is None else embedded_root(args.keep_in, scale, name)
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                root = generate_speech_benchmark(target, name, scale=scale, seed=args.seed,
                                                 n_jobs=args.n_jobs, progress=False)
                seconds = time.perf_counter() - t0
                marker = json.loads((root / "avlib_speech_benchmark.json").read_text())
                size = sum(f.stat().st_size for f in Path(root).rglob("*") if f.is_file())
            cpu = marker["worker_cpu_seconds"]
            run = dict(scale=scale, dataset=name, n_clips=marker["n_clips"], seconds=round(seconds, 2),
                       clips_per_s=round(marker["n_clips"] / seconds, 2), n_jobs=args.n_jobs,
                       worker_cpu_seconds=cpu, cpu_seconds_per_clip=round(cpu / marker["n_clips"], 4),
                       ideal_seconds_on_n_jobs_free_cores=round(cpu / args.n_jobs, 1),
                       load_avg_1min_before=round(load, 2), megabytes=round(size / 1e6, 1))
            print(json.dumps(run), flush=True)
            runs.append(run)
    totals = {s: round(sum(r["seconds"] for r in runs if r["scale"] == s), 2) for s in args.scales}
    ideal = {s: round(sum(r["ideal_seconds_on_n_jobs_free_cores"] for r in runs if r["scale"] == s), 1)
             for s in args.scales}
    result = dict(benchmark="speech_generation", runs=runs, total_seconds_per_scale=totals,
                  ideal_seconds_per_scale_on_free_cores=ideal,
                  cpu_count=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
                  git_commit=git_commit(), time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(dict(total_seconds_per_scale=totals, ideal_seconds_per_scale_on_free_cores=ideal)))


if __name__ == "__main__":
    main()
