"""Do the Claims verdicts survive another floating-point path? A stand-in for a second machine.

Two CPUs of the same kind can give different numbers at the same seeds: PyTorch, oneDNN and MKL
pick their kernels by instruction set (AVX-512 here, AVX2 on many machines), and a last-bit
difference in one convolution changes a whole training run. This script reruns the XFlow
cross-validation page on another floating-point path (``--isa``, see :func:`isa_environment`: by
default each library's own kernels, since a reference build holds them to AVX2) into its own data
cache and results folder, so that no stored run of the reference build is reused, then puts the
Claims table of the reference results beside the one with that page replaced::

    python benchmarks/claims_fp_paths.py --scale cpu              # after `make book` (about 1 h here)
    python benchmarks/claims_fp_paths.py --scale cpu --compare-only

It writes ``benchmarks/results/claims_fp_paths.csv`` (one row per claim: effect, interval, q and
verdict on both paths) and ``claims_fp_paths.json`` (the counts and both paths' numerics).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = "xflow_crossval"


def isa_environment(isa: str) -> dict:
    """The environment of the rerun's floating-point path.

    ``native``: each library's own kernels (``AVLIB_FP_PATH=native``), the other path from a
    reference built on the held AVX2 path (:mod:`avlib.numerics`, the default since it exists).
    ``avx2`` / ``avx512``: PyTorch, oneDNN and MKL held to that instruction set and nothing else
    held, as in the check recorded before the path was held (against a native reference)."""
    from avlib.numerics import FP_PATH_ENV

    isa = isa.lower()
    if isa not in ("native", "avx2", "avx512"):
        raise SystemExit(f"--isa is native, avx2 or avx512, not {isa!r}")
    if isa == "native":
        return {FP_PATH_ENV: "native"}
    return {FP_PATH_ENV: "native", "ATEN_CPU_CAPABILITY": isa,
            "DNNL_MAX_CPU_ISA": {"avx2": "AVX2", "avx512": "AVX512_CORE"}[isa],
            "MKL_ENABLE_INSTRUCTIONS": {"avx2": "AVX2", "avx512": "AVX512"}[isa]}


def rerun(scale: str, isa: str, work: Path, data_root: Path) -> None:
    """``PAGE`` at ``scale`` under ``isa``, reading the embedded data of ``data_root`` and keeping
    its runs, caches, results and executed notebook under ``work``."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    link = data / "embedded"
    if not link.exists():
        link.symlink_to((data_root / "embedded").resolve(), target_is_directory=True)
    from avlib.numerics import PORTABLE

    # the variables of the held path that this process inherited would hold the rerun too
    env = {**{k: v for k, v in os.environ.items() if k not in PORTABLE}, **isa_environment(isa)}
    cmd = [sys.executable, "-m", "avlib.run", "--scale", scale, "--only", PAGE, "--data-root", str(data),
           "--results-root", str(work / "results"), "--output-dir", str(work / "generated")]
    print("running:", " ".join(cmd), f"({', '.join(f'{k}={v}' for k, v in isa_environment(isa).items())})",
          flush=True)
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)


def compare(scale: str, reference: Path, work: Path, reference_manifest: Path | None = None) -> dict:
    """Claims tables of ``reference`` and of ``reference`` with ``PAGE`` taken from ``work``
    (``reference_manifest``: the reference build's run manifest, for its commit and numerics)."""
    import pandas as pd

    from avlib.claims import FP_PATHS_FILE, claims_table

    combined = work / "combined"
    if combined.exists():
        shutil.rmtree(combined)
    shutil.copytree(reference, combined)
    shutil.rmtree(combined / scale / PAGE)
    shutil.copytree(work / "results" / scale / PAGE, combined / scale / PAGE)
    cols = ["id", "effect", "lo", "hi", "q_bh", "converged", "verdict"]
    a, b = claims_table(reference, scale)[cols], claims_table(combined, scale)[cols]
    table = a.merge(b, on="id", suffixes=(" (reference)", " (other path)"))
    table["effect change"] = table["effect (other path)"] - table["effect (reference)"]
    table["half-width (reference)"] = (table["hi (reference)"] - table["lo (reference)"]) / 2
    table["verdict changed"] = table["verdict (reference)"] != table["verdict (other path)"]
    out = ROOT / FP_PATHS_FILE  # where the Claims page reads it (avlib.claims.fp_path_record)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.4g")
    manifest = json.loads((work / "generated" / "manifest.json").read_text())
    ref = json.loads(reference_manifest.read_text()) if reference_manifest and reference_manifest.is_file() else {}
    summary = {"scale": scale, "page rerun": PAGE, "rows": int(len(table)),
               "verdicts changed": int(table["verdict changed"].sum()),
               "changed rows": table.loc[table["verdict changed"], "id"].tolist(),
               "largest effect change / half-width": float(
                   (table["effect change"].abs() / table["half-width (reference)"]).max()),
               "other path numerics": manifest.get("numerics"), "other path commit": manifest.get("git_commit"),
               "reference commit": ref.get("git_commit"), "reference device": ref.get("device"),
               "reference numerics": ref.get("numerics")}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    pd.set_option("display.width", 200)
    print(table[["id", "verdict (reference)", "verdict (other path)", "effect change",
                 "half-width (reference)"]].round(2).to_string(index=False))
    print(f"{summary['verdicts changed']} of {summary['rows']} verdicts changed")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--isa", default="native",
                    help="native (default: the other path from a reference on the held AVX2 path), avx2 or avx512")
    ap.add_argument("--reference", default="results", help="results root of the reference build")
    ap.add_argument("--reference-manifest", default="book/generated/manifest.json",
                    help="run manifest of the reference build")
    ap.add_argument("--data-root", default="data", help="data root of the reference build (its embedded data)")
    ap.add_argument("--work", default="_build/fp_paths", help="where the rerun keeps everything it writes")
    ap.add_argument("--compare-only", action="store_true", help="compare an earlier rerun")
    args = ap.parse_args(argv)
    work = (ROOT / args.work).resolve()
    if not args.compare_only:
        rerun(args.scale, args.isa, work, (ROOT / args.data_root).resolve())
    compare(args.scale, (ROOT / args.reference).resolve(), work, (ROOT / args.reference_manifest).resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
