"""Generate the embedded benchmarks, or check the real data: ``python -m avlib.data
{all,instruments,instruments_yt8m,avletters,digits,cuave,check}``.

Each benchmark is written to ``<root>/embedded/<scale>/<name>`` in the layout of the real dataset and
is generated only when missing (or when its generation parameters changed); ``--fresh`` deletes it
first. Generation is deterministic for a seed and uses all cores.

At ``--scale paper`` nothing is generated (paper-sized stand-ins would take days and the paper
pages never read them): the command checks the real data under ``<root>/real``
(:mod:`avlib.data.real`) and prints what is there, what is missing, where it goes and in which
layout; it fails only when none of it is there. ``--stand-ins`` generates paper-sized stand-ins
anyway. ``check`` prints the same report at any scale. ``--root`` defaults to ``$AVLIB_DATA`` or
``data``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from ..errors import AvlibError
from ..paths import SCALES, check_scale, embedded_root
from .embedded import BENCHMARKS, ensure
from .real import default_data_root, report, status

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avlib.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=("all",) + BENCHMARKS + ("check",),
                        help="which benchmark (all = every one); check = report the real data")
    parser.add_argument("--scale", default="cpu", help=f"size preset: {', '.join(SCALES)} (default cpu)")
    parser.add_argument("--root", default=None, help="data root (default $AVLIB_DATA, else ./data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--fresh", action="store_true", help="delete the benchmark first and regenerate it")
    parser.add_argument("--stand-ins", action="store_true",
                        help="at --scale paper, generate paper-sized stand-ins instead of checking the real data")
    args = parser.parse_args(argv)
    args.root = args.root or default_data_root()
    try:
        check_scale(args.scale)
        if args.name == "check" or (args.scale == "paper" and not args.stand_ins):
            print(report(args.root), flush=True)
            if all(status(args.root).values()):
                print("error: none of the real datasets is there; the paper scale has nothing to run", file=sys.stderr)
                return 2
            return 0
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
