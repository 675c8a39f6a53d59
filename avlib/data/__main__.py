"""Generate the embedded benchmarks: ``python -m avlib.data {all,instruments,instruments_yt8m,avletters,digits,cuave}``.

Each benchmark is written to ``<root>/embedded/<scale>/<name>`` in the layout of the real dataset and
is generated only when missing (or when its generation parameters changed); ``--fresh`` deletes it
first. Generation is deterministic for a seed and uses all cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from ..errors import AvlibError
from ..paths import SCALES, check_scale, embedded_root
from .instruments import ensure_instrument_benchmark, ensure_yt8m_benchmark
from .speech import ensure_speech_benchmark

BENCHMARKS = ("instruments", "instruments_yt8m", "avletters", "digits", "cuave")


def ensure(name: str, root, *, scale: str, seed: int = 0, n_jobs=None):
    """Generate (if needed) one embedded benchmark and return its folder."""
    if name == "instruments":
        return ensure_instrument_benchmark(root, scale=scale, seed=seed, n_jobs=n_jobs)
    if name == "instruments_yt8m":
        return ensure_yt8m_benchmark(root, scale=scale, seed=seed, n_jobs=n_jobs)
    return ensure_speech_benchmark(root, name, scale=scale, seed=seed, n_jobs=n_jobs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avlib.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=("all",) + BENCHMARKS, help="which benchmark (all = every one)")
    parser.add_argument("--scale", default="cpu", help=f"size preset: {', '.join(SCALES)} (default cpu)")
    parser.add_argument("--root", default="data", help="data root (default ./data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--fresh", action="store_true", help="delete the benchmark first and regenerate it")
    args = parser.parse_args(argv)
    try:
        check_scale(args.scale)
        names = BENCHMARKS if args.name == "all" else (args.name,)
        for name in names:
            folder = embedded_root(args.root, args.scale, name)
            if args.fresh and folder.exists():
                shutil.rmtree(folder)
            t0 = time.perf_counter()
            path = ensure(name, args.root, scale=args.scale, seed=args.seed, n_jobs=args.jobs)
            print(f"{name:12s} {args.scale:6s} ready in {time.perf_counter() - t0:6.1f} s: {path}", flush=True)
    except AvlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
