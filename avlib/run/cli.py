"""``python -m avlib.run``: the command line of the runner (see :mod:`avlib.run`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..data.real import DATA_ENV
from ..errors import DataError, ParameterError
from ..paths import HOME_ENV, SCALES, check_scale
from ..utils import DeviceUnavailableError
from .kernel import PROJECT_KERNEL
from .registry import collect_overrides, load_registry
from .runner import run

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m avlib.run", description="Execute the book's notebooks with papermill at a scale preset.")
    p.add_argument("--scale", default="cpu", help=f"one of {', '.join(SCALES)} (default cpu)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only this notebook (repeat or comma-separate)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a notebook parameter (value parsed as YAML); config.<dotted key>=VALUE "
                        "sets one configuration value, e.g. -p config.audio.epochs=3")
    p.add_argument("--data-root", default=None,
                   help="data folder (default $AVLIB_DATA, else ./data, created); a given one must exist; at "
                        "--scale paper the real datasets are read from <data root>/real (python -m avlib.data check)")
    p.add_argument("--results-root", default="results", help="where notebooks write tables (default ./results)")
    p.add_argument("--output-dir", default=None,
                   help="where executed notebooks and manifest.json go (default book/generated)")
    p.add_argument("--registry", default=None, help="registry file (default notebooks/registry.yaml)")
    p.add_argument("--kernel", default=None,
                   help=f"Jupyter kernel name (default {PROJECT_KERNEL!r} when `make kernel` registered it "
                        f"for this environment, else 'python3')")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    p.add_argument("--resume", action="store_true",
                   help="keep every notebook whose notebook file, parameters, library code and data (and those of "
                        "the notebooks before it) are unchanged since its last successful run")
    p.add_argument("--device", default=None, metavar="{auto,cuda,cuda:N,cpu}",
                   help="where the trainings run: default cuda at --scale paper (required: the run stops when no "
                        "usable GPU is there), auto elsewhere (CUDA when usable, else the CPU)")
    p.add_argument("--plan", action="store_true",
                   help="check the notebooks and -p parameters, print what would run with which parameters, "
                        "execute nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="with --scale paper: execute every notebook at the paper's settings on tiny stand-ins of the "
                        "real datasets, one seed, one epoch of at most 2 batches, on the CPU unless --device says "
                        "otherwise; everything goes to _build/dry_run (a few minutes)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run up to N notebooks at the same time, each once the notebooks it comes after (registry) "
                        "have ended (default 1: one after the other); each keeps its own thread counts, so the "
                        "numbers do not change. For the short notebooks of a dry run on a machine with idle cores")
    p.add_argument("--list", action="store_true", help="list the notebooks and their presets, then exit")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        check_scale(args.scale)
        registry = load_registry(args.registry)
        if args.list:
            for e in registry.notebooks:
                print(f"{e.name:28s} [{e.part}] {e.title}")
                if e.config:
                    print(f"    config: {e.config} (-p 'config={{\"key.sub\": value}}')")
                for scale in SCALES:
                    print(f"    {scale:6s} {e.presets.get(scale) or {}}")
            return 0
        if args.jobs < 1:
            raise ParameterError(f"--jobs is at least 1, not {args.jobs}")
        only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        for name in only:
            registry.get(name)
        overrides = collect_overrides(args.param)
        if args.data_root is None and os.environ.get(DATA_ENV):
            args.data_root = os.environ[DATA_ENV]
        if args.data_root is None:
            data_root = "data"
            if not (args.plan or args.dry_run):
                home = Path(os.environ[HOME_ENV]) if os.environ.get(HOME_ENV) else registry.root
                (home / data_root).mkdir(parents=True, exist_ok=True)
        else:
            if not Path(args.data_root).is_dir():
                raise ParameterError(f"data root {args.data_root!r} (--data-root or ${DATA_ENV}) does not exist; "
                                     f"create it or omit both to use ./data")
            data_root = str(Path(args.data_root).resolve())
        failures = run(scale=args.scale, only=only or None, overrides=overrides, data_root=data_root,
                       results_root=args.results_root, output_dir=args.output_dir, registry=registry,
                       kernel=args.kernel, fail_fast=args.fail_fast, plan_only=args.plan, dry_run=args.dry_run, device=args.device,
                       resume=args.resume, jobs=args.jobs)
    except (ParameterError, DataError, DeviceUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0

