"""Same seed, same numbers: run notebooks again in clean folders and compare their result tables.

Usage::

    python -m avlib.determinism --scale smoke --only icmr_audio,xflow_crossval --reference results

runs the named notebooks with the runner into a fresh data folder, results folder and output folder
(so nothing generated, cached or stored by the first run is reused), then compares every result CSV
the notebooks wrote with the reference run's (the book's ``results/``). With no ``--reference``
it runs twice. Timing columns (seconds, throughput) are not results and are ignored. Values must
agree at the tables' printed precision (``decimals``, default 6), which is bitwise identity for every
op whose CPU kernel is deterministic.

The guarantee is for one machine: on another CPU, PyTorch's kernels may take other code paths (other
instruction sets) and round differently, so the same seed can give different numbers there.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .run import run

__all__ = ["TIMING_COLUMNS", "compare_tables", "compare_result_dirs", "rerun_and_compare", "main"]

#: Column names that hold wall-clock measurements, not results (regular expression, case-insensitive).
TIMING_COLUMNS = re.compile(r"(^|_)(seconds|secs?|wall|time_s|elapsed|duration_run|throughput)($|_)|per_s$|_s_per_|hours_measured",
                            re.IGNORECASE)


def _is_timing(col: str) -> bool:
    return bool(TIMING_COLUMNS.search(str(col)))


def compare_tables(a: pd.DataFrame, b: pd.DataFrame, *, decimals: int = 6) -> list[str]:
    """Differences between two result tables (empty list when they agree).

    Same columns (timing columns dropped), same shape, numbers equal after rounding to
    ``decimals`` (NaN equals NaN), other cells equal as text.
    """
    diffs = []
    ca = [c for c in a.columns if not _is_timing(c)]
    cb = [c for c in b.columns if not _is_timing(c)]
    if ca != cb:
        return [f"columns differ: {ca} vs {cb}"]
    if a.shape[0] != b.shape[0]:
        return [f"row counts differ: {a.shape[0]} vs {b.shape[0]}"]
    for c in ca:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xr = np.round(x.to_numpy(dtype=float), decimals)
            yr = np.round(y.to_numpy(dtype=float), decimals)
            bad = ~((xr == yr) | (np.isnan(xr) & np.isnan(yr)))
        else:
            bad = (x.astype(str) != y.astype(str)).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            diffs.append(f"column {c!r}: {int(bad.sum())} cell(s) differ, first at row {i}: {x.iloc[i]!r} vs {y.iloc[i]!r}")
    return diffs


def compare_result_dirs(dir_a, dir_b, *, decimals: int = 6) -> dict:
    """Compare every ``*.csv`` under ``dir_a`` with the same file under ``dir_b``.

    Returns ``{relative path: [differences]}`` for the files that differ or are missing on
    either side; an empty dict means the runs agree. Raises when ``dir_a`` holds no CSV.
    """
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    files_a = {p.relative_to(dir_a) for p in dir_a.rglob("*.csv")}
    files_b = {p.relative_to(dir_b) for p in dir_b.rglob("*.csv")} if dir_b.exists() else set()
    if not files_a:
        raise FileNotFoundError(f"no result CSV under {dir_a}")
    out = {}
    for rel in sorted(files_a | files_b):
        if rel not in files_b or rel not in files_a:
            out[str(rel)] = [f"only in {'the first' if rel in files_a else 'the second'} run"]
            continue
        d = compare_tables(pd.read_csv(dir_a / rel), pd.read_csv(dir_b / rel), decimals=decimals)
        if d:
            out[str(rel)] = d
    return out


def _run_once(notebooks, scale: str, base: Path, overrides: dict | None = None) -> Path:
    data, results, outputs = base / "data", base / "results", base / "generated"
    data.mkdir(parents=True, exist_ok=True)
    failures = run(scale=scale, only=list(notebooks), overrides=overrides or {}, data_root=str(data),
                   results_root=str(results), output_dir=outputs, fail_fast=True)
    if failures:
        raise RuntimeError(f"a notebook failed in the determinism run under {base} (see _build/failed/)")
    return results


def rerun_and_compare(notebooks, *, scale: str = "smoke", reference=None, workdir=None,
                      decimals: int = 6) -> dict:
    """Run ``notebooks`` in clean folders (twice without ``reference``) and compare result CSVs.

    Returns ``{notebook: {file: [differences]}}`` with an entry only for notebooks that differ.
    """
    workdir = Path(workdir or tempfile.mkdtemp(prefix="avlib-determinism-"))
    second = _run_once(notebooks, scale, workdir / "second")
    first = Path(reference) if reference else _run_once(notebooks, scale, workdir / "first")
    out = {}
    for name in notebooks:
        d = compare_result_dirs(first / scale / name, second / scale / name, decimals=decimals)
        if d:
            out[name] = d
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m avlib.determinism", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default="smoke")
    p.add_argument("--only", required=True, help="comma-separated notebook names")
    p.add_argument("--reference", default=None, help="results root of a first run (default: run twice)")
    p.add_argument("--workdir", default=None)
    p.add_argument("--decimals", type=int, default=6)
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    diffs = rerun_and_compare(names, scale=args.scale, reference=args.reference, workdir=args.workdir,
                              decimals=args.decimals)
    if not diffs:
        print(f"same seed, same numbers: {', '.join(names)} wrote identical result tables")
        return 0
    for name, files in diffs.items():
        for f, d in files.items():
            print(f"{name}/{f}:")
            for line in d[:5]:
                print(f"    {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
