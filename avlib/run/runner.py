"""Execute the selected notebooks of the registry with papermill (see :mod:`avlib.run`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from ..data.real import report
from ..errors import DataError, ParameterError
from ..paths import PARAMETERS_ENV, RUN_NAME_ENV
from ..utils import DeviceUnavailableError, cuda_problem, git_commit
from ..utils import describe_device as device_facts
from .dryrun import MAX_BATCHES, dry_run_folder, dry_run_parameters, prepare_data
from .inputs import fingerprints, not_run_reason, reads_real_data
from .kernel import ENGINE, KernelEnvironment, default_kernel, register_engine, tag_injected_cell
from .manifest import (PeakMemory, describe_device, describe_numerics, device_for_facts, kernel_rss, last_seconds,
                       load_manifest, now, run_device, shown, write_json_atomic)
from .progress import Progress, clock, failure_block, progress_wanted
from .registry import Registry, load_registry, plan

__all__ = ["run", "run_side_by_side", "dependencies"]


def dependencies(plans) -> dict:
    """For each planned notebook, the planned notebooks it must wait for: those its registry entry
    names in ``after``, or, without ``after``, every notebook before it."""
    names = [e.name for e, _ in plans]
    out = {}
    for k, (entry, _) in enumerate(plans):
        wanted = names[:k] if entry.after is None else [n for n in entry.after if n in names[:k]]
        out[entry.name] = set(wanted)
    return out


def run_side_by_side(plans, execute, *, jobs: int, fail_fast: bool = False, log=print) -> None:
    """Call ``execute(i, entry, params)`` for every plan, up to ``jobs`` at once, each once its
    :func:`dependencies` have ended (whatever their status). With ``fail_fast`` nothing new starts
    after a failure. A notebook's position ``i`` is its place in the registry's order."""
    deps = dependencies(plans)
    waiting = list(enumerate(plans, 1))
    ended, failed = set(), False
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {}
        while waiting or running:
            if not (fail_fast and failed):
                for item in list(waiting):
                    if len(running) >= jobs:
                        break
                    i, (entry, params) = item
                    if deps[entry.name] <= ended:
                        waiting.remove(item)
                        running[pool.submit(execute, i, entry, params)] = entry.name
            elif waiting:
                log(f"not started after a failure (--fail-fast): {', '.join(e.name for _, (e, _) in waiting)}")
                waiting = []
            if not running:
                if waiting:  # cannot happen with dependencies on earlier notebooks only
                    raise ParameterError(f"notebooks wait on each other: {[e.name for _, (e, _) in waiting]}")
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                ended.add(name)
                failed = failed or future.result() == "failed"

def _describe_plan(plans, *, scale: str, kernel: str, root: Path, manifest: dict, overrides: dict) -> list[str]:
    lines = [f"plan (nothing is executed): {len(plans)} notebook(s) at scale {scale} on kernel {kernel}"]
    total, unknown = 0.0, 0
    for i, (entry, params) in enumerate(plans, 1):
        last = last_seconds(manifest, entry.name, scale)
        if last is None:
            unknown += 1
        else:
            total += last
        try:
            where = entry.path.relative_to(root)
        except ValueError:
            where = entry.path
        when = f"last run {clock(last)}" if last is not None else "no earlier run at this scale"
        lines.append(f"  [{i}/{len(plans)}] {entry.name} ({where}; {when})")
        reason = not_run_reason(entry, params, scale)
        if reason:
            lines.append(f"        NOT RUN: {reason}")
        for key, value in params.items():
            mark = "  <- -p" if key in overrides else ""
            lines.append(f"        {key} = {value!r}{mark}")
    if total:
        lines.append(f"expected time from the last runs: {'at least ' if unknown else ''}{clock(total)}")
    return lines


def run(
    *,
    scale: str = "cpu",
    only: list[str] | None = None,
    overrides: dict | None = None,
    data_root: str = "data",
    results_root: str = "results",
    output_dir=None,
    registry: Registry | None = None,
    kernel: str | None = None,
    fail_fast: bool = False,
    log=None,
    progress: bool | None = None,
    plan_only: bool = False,
    dry_run: bool = False,
    device: str | None = None,
    resume: bool = False,
    jobs: int = 1,
) -> int:
    """Execute the selected notebooks; returns the number of failures (see module docstring).

    ``kernel`` None picks :func:`default_kernel`; ``progress`` None follows
    :func:`progress_wanted`; ``plan_only`` checks everything and logs what would run, with which
    parameters, without executing (returns 0). ``dry_run`` (the paper scale only) executes every
    selected notebook at the paper's settings on tiny stand-ins with a small training budget
    (:mod:`avlib.run.dryrun`), on the CPU unless ``device`` says otherwise, writing only under
    ``_build/dry_run``. ``device``: ``"auto"`` (CUDA when usable, else the
    CPU), ``"cuda"`` / ``"cuda:N"`` (required: the run stops with the reason when it is not
    usable), ``"cpu"``; None: ``"cuda"`` at the paper scale (no silent CPU fallback), else
    ``"auto"``. The kernels get it as ``$AVLIB_DEVICE`` (:func:`avlib.utils.get_device`).
    ``resume``: keep a notebook whose last run succeeded with the same :func:`fingerprints`
    (notebook, parameters, code version, data and everything before it in the book) and whose
    executed copy is still there; run the others. ``jobs``: how many notebooks run at the same
    time (default 1, one after the other in the registry's order). With more, a notebook starts
    as soon as the notebooks it comes ``after`` (registry) have ended (:func:`run_side_by_side`);
    each keeps its own thread counts, so its numbers are the same, and its peak memory is its own
    kernel's. Meant for the short notebooks of a dry run on a machine with idle cores.
    """
    log = log or (lambda msg: print(msg, flush=True))
    registry = registry or load_registry()
    overrides = dict(overrides or {})
    root = registry.root
    if dry_run:
        if scale != "paper":
            raise ParameterError(f"--dry-run rehearses the paper scale (--scale paper); at {scale!r} use --plan to "
                                 f"see what would run, or --scale smoke for a quick real run")
        dry = dry_run_folder(root)
        if not plan_only:
            data_root = str(prepare_data(dry, data_root, log=log))
        else:
            data_root = str(dry / "data")
        results_root = str(dry / "results")
        output_dir = output_dir or dry / "generated"
        device = device or "auto"
    # Validate everything before executing anything.
    plans = plan(scale=scale, only=only, overrides=overrides, data_root=data_root, results_root=results_root,
                 registry=registry)
    if dry_run:
        plans = [(e, dry_run_parameters(e, p, overrides, scale)) for e, p in plans]
    kernel = kernel or default_kernel()
    output_dir = Path(output_dir) if output_dir else root / "book" / "generated"
    manifest_path = output_dir / "manifest.json"
    manifest = load_manifest(manifest_path)
    device = run_device(scale, device)
    problem = None
    if device.startswith("cuda"):
        why = cuda_problem(int(device.split(":")[1]) if ":" in device else 0)
        if why is not None:
            problem = (f"the {scale} scale trains on a CUDA device ({device}) and none is usable: {why}. "
                       f"--device cpu runs it on the CPU anyway (the papers' trainings took 11-98 hours each "
                       f"on a GPU).")
    if plan_only:
        log(f"device: {device}" + (f" -- a real run would stop here: {problem}" if problem else ""))
        for line in _describe_plan(plans, scale=scale, kernel=kernel, root=root, manifest=manifest,
                                   overrides=overrides):
            log(line)
        return 0
    skipped = {e.name: r for e, p in plans if (r := not_run_reason(e, p, scale))}
    wanted = sorted({n for e, p in plans if reads_real_data(p) for n in e.needs})
    if wanted and any(reads_real_data(p) and e.name in skipped for e, p in plans):
        data_pages = [e.name for e, p in plans if e.needs and reads_real_data(p)]
        pages = {n: [e.name for e, p in plans if n in e.needs and reads_real_data(p)] for n in wanted}
        message = report(data_root, wanted, pages=pages)
        if all(n in skipped for n in data_pages):
            raise DataError(f"none of the notebooks has its real data; nothing runs.\n{message}")
        log(message)

    if problem is not None:
        raise DeviceUnavailableError(problem)

    import papermill as pm

    register_engine()
    output_dir.mkdir(parents=True, exist_ok=True)
    work_dir = root / "_build" / "runs"
    failed_dir = root / "_build" / "failed"
    work_dir.mkdir(parents=True, exist_ok=True)
    expected = [last_seconds(manifest, e.name, scale) for e, _ in plans]
    facts_device = device_for_facts(device)
    if dry_run:
        log(f"dry run: the paper's settings on the smoke stand-ins, at most {MAX_BATCHES} batches per epoch, "
            f"device {device}; everything goes to {shown(dry_run_folder(root), root)}")
    manifest.update({"git_commit": git_commit(root), "device": describe_device(facts_device),
                     "device_facts": device_facts(facts_device), "device_setting": device,
                     "numerics": describe_numerics(),
                     "python": sys.version.split()[0], "kernel": kernel, "last_scale": scale,
                     "dry_run": bool(dry_run),
                     "last_started": now()})
    prints = fingerprints(plans, scale, root, order=registry.names(),
                          recorded={n: r.get("fingerprint") for n, r in manifest["runs"].items()
                                    if r.get("status") == "ok"})
    jobs = max(1, int(jobs))
    bar = Progress(enabled=(progress_wanted() if progress is None else progress) and jobs == 1)
    failures = 0
    unchanged = []
    lock = threading.Lock()  # the manifest and the counters, when notebooks run side by side
    total_t0 = time.perf_counter()

    def execute(i, entry, params) -> str:
        """Run one notebook (or skip / keep it); returns its status."""
        nonlocal failures
        if entry.name in skipped:
            log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}): not run, {skipped[entry.name]}")
            with lock:
                manifest["runs"][entry.name] = {
                    "name": entry.name, "title": entry.title, "part": entry.part,
                    "notebook": shown(entry.path, root), "scale": scale, "parameters": params,
                    "started": now(), "ended": now(), "seconds": 0.0, "status": "not run",
                    "reason": skipped[entry.name], "git_commit": manifest["git_commit"]}
                write_json_atomic(manifest_path, manifest)
            return "not run"
        last = manifest["runs"].get(entry.name) or {}
        if (resume and last.get("status") == "ok" and last.get("fingerprint") == prints[entry.name]
                and (output_dir / f"{entry.name}.ipynb").is_file()):
            log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}): unchanged since its run of "
                f"{last.get('ended', '?')}, kept")
            with lock:
                unchanged.append(entry.name)
            return "kept"
        log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}) ...")
        tmp_out = work_dir / f"{entry.name}.ipynb"
        record = {"name": entry.name, "title": entry.title, "part": entry.part,
                  "notebook": shown(entry.path, root), "scale": scale, "parameters": params,
                  "started": now(), "git_commit": manifest["git_commit"], "device": manifest["device"],
                  "fingerprint": prints[entry.name]}
        if jobs > 1:
            record["beside"] = "ran beside other notebooks (--jobs %d)" % jobs
        else:
            later = expected[i:]
            bar.start(entry.name, i, len(plans), expected=expected[i - 1],
                      after=sum(x for x in later if x is not None), unknown_after=any(x is None for x in later))
        t0 = time.perf_counter()
        error = None
        # The kernel's own environment: its parameters (read by the page's settings box) and its
        # name (so that its memory is told apart from a notebook running beside it).
        kernel_env = {PARAMETERS_ENV: json.dumps(params, default=str), RUN_NAME_ENV: entry.name}
        with PeakMemory(measure=kernel_rss(entry.name) if jobs > 1 else None) as mem:
            try:
                pm.execute_notebook(str(entry.path), str(tmp_out), parameters=params, kernel_name=kernel,
                                    engine_name=ENGINE, on_cell=bar.on_cell if jobs == 1 else None,
                                    kernel_env=kernel_env, cwd=str(root), progress_bar=False, log_output=False)
            except pm.PapermillExecutionError as exc:
                error = {"cell": exc.cell_index, "execution_count": exc.exec_count, "ename": exc.ename,
                         "evalue": str(exc.evalue)[:500]}
            except Exception as exc:  # kernel death, missing kernel, ...
                cell = bar.cell if jobs == 1 else None
                error = {"cell": cell, "execution_count": None, "ename": type(exc).__name__,
                         "evalue": str(exc)[:500], "kernel_stopped": cell is not None}
            finally:
                if jobs == 1:
                    bar.stop()
        seconds = time.perf_counter() - t0
        record.update({"ended": now(), "seconds": round(seconds, 1),
                       "peak_memory_mb": round(mem.peak / 2**20, 1),
                       "status": "ok" if error is None else "failed"})
        if error is None:
            tag_injected_cell(tmp_out)
            shutil.move(str(tmp_out), output_dir / f"{entry.name}.ipynb")
            log(f"    {entry.name} ok in {seconds:.1f} s, peak memory {record['peak_memory_mb']:.0f} MB")
        else:
            error["cells"] = (bar.cells or None) if jobs == 1 else None
            failed_dir.mkdir(parents=True, exist_ok=True)
            kept = failed_dir / f"{entry.name}.ipynb"
            if tmp_out.exists():
                shutil.move(str(tmp_out), kept)
            record["error"] = error
            record["failed_notebook"] = shown(kept, root)
            log(failure_block(entry.name, error, record["failed_notebook"]))
        with lock:
            if error is not None:
                failures += 1
            manifest["runs"][entry.name] = record
            write_json_atomic(manifest_path, manifest)
        return record["status"]

    with KernelEnvironment(root, device, max_batches=MAX_BATCHES if dry_run else None):
        if jobs == 1:
            for i, (entry, params) in enumerate(plans, 1):
                if execute(i, entry, params) == "failed" and fail_fast:
                    break
        else:
            run_side_by_side(plans, execute, jobs=jobs, fail_fast=fail_fast, log=log)
    manifest["last_ended"] = now()
    manifest["last_seconds"] = round(time.perf_counter() - total_t0, 1)
    write_json_atomic(manifest_path, manifest)
    if skipped:
        log(f"not run: {', '.join(skipped)}")
    if unchanged:
        log(f"kept from earlier runs (--resume): {', '.join(unchanged)}")
    log(f"{len(plans)} notebook(s), {failures} failed, {len(skipped)} not run, {manifest['last_seconds']:.0f} s in all; "
        f"manifest: {shown(manifest_path, root)}")
    return failures
