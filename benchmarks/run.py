"""Benchmark runner: wall time and peak memory of a named job, written to ``benchmarks/results``.

    .venv/bin/python benchmarks/run.py book-smoke
    .venv/bin/python benchmarks/run.py --list
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from jobs import JOBS  # noqa: E402


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_command(command: str) -> dict:
    """Run one shell command; return its wall time, peak tree memory and exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, shell=True, cwd=ROOT)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, _tree_rss(ps))
        except psutil.Error:
            pass
        time.sleep(0.25)
    shown = command.replace(str(ROOT) + "/", "")  # the record names paths inside the repository only
    return {"command": shown, "seconds": round(time.perf_counter() - t0, 2),
            "peak_memory_mb": round(peak / 2**20, 1), "returncode": proc.returncode}


def run_job(name: str) -> dict:
    if name not in JOBS:
        raise SystemExit(f"error: unknown job {name!r}; valid jobs: {', '.join(JOBS)}")
    # The job's own record; a job's script writes its details (throughput, ...) to {out}.
    out = HERE / "results" / f"job-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = HERE / "results" / f"{name}.json"
    jb = str(Path(sys.executable).with_name("jupyter-book"))
    steps = []
    t_start = time.time()
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for template in JOBS[name]:
        command = template.format(py=shlex.quote(sys.executable), jb=shlex.quote(jb), out=shlex.quote(str(extra)))
        print(f"[bench {name}] {command}", flush=True)
        step = run_command(command)
        steps.append(step)
        print(f"[bench {name}]   {step['seconds']:.1f} s, peak {step['peak_memory_mb']:.0f} MB, rc {step['returncode']}",
              flush=True)
        if step["returncode"] != 0:
            break
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    record = {
        "job": name, "started": started, "git_commit": commit,
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "platform": platform.platform(), "python": platform.python_version()},
        "seconds": round(sum(s["seconds"] for s in steps), 2),
        "peak_memory_mb": max((s["peak_memory_mb"] for s in steps), default=0.0),
        "ok": all(s["returncode"] == 0 for s in steps), "steps": steps,
    }
    if extra.exists() and extra.stat().st_mtime >= t_start:
        record["details_file"] = str(extra.relative_to(ROOT))
    out.write_text(json.dumps(record, indent=2))
    print(f"[bench {name}] {record['seconds']:.1f} s in all, peak {record['peak_memory_mb']:.0f} MB -> {out.relative_to(ROOT)}")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="*", help="job names")
    parser.add_argument("--list", action="store_true", help="list the jobs")
    args = parser.parse_args(argv)
    if args.list or not args.jobs:
        for name, commands in JOBS.items():
            print(name)
            for c in commands:
                print(f"    {c}")
        return 0
    return 0 if all(run_job(name)["ok"] for name in args.jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
