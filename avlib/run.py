"""The experiment runner: execute the book's notebooks with papermill at a scale preset.

Usage::

    python -m avlib.run --scale cpu                 # every notebook, the main job
    python -m avlib.run --scale smoke --only xflow_params -p epochs=2
    python -m avlib.run --list

One registry (``notebooks/registry.yaml``) lists every notebook with its parameters per scale.
Executed notebooks go to ``book/generated/`` (where the book picks them up, never re-executed by
Jupyter Book) and a run manifest (git commit, parameters, scale, device, start/end, duration, peak
memory) to ``book/generated/manifest.json``. A failing notebook is named with its cell and error,
its partial output is kept under ``_build/failed/``, and the runner exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ParameterError
from .paths import SCALES, check_scale, repo_root
from .utils import git_commit

__all__ = ["Registry", "NotebookEntry", "load_registry", "resolve_parameters", "run", "main"]

ALWAYS_INJECTED = ("scale", "data_root", "results_root")


@dataclass
class NotebookEntry:
    """One notebook of the registry."""

    name: str
    path: Path
    title: str
    part: str
    presets: dict = field(default_factory=dict)


@dataclass
class Registry:
    """All notebooks in execution order, plus the parts of the book."""

    notebooks: list
    parts: dict
    root: Path

    def names(self) -> list[str]:
        return [e.name for e in self.notebooks]

    def get(self, name: str) -> NotebookEntry:
        for entry in self.notebooks:
            if entry.name == name:
                return entry
        raise ParameterError(f"unknown notebook {name!r}; valid names: {', '.join(self.names())}")


def load_registry(path=None) -> Registry:
    """Read ``notebooks/registry.yaml`` (or ``path``)."""
    path = Path(path) if path else repo_root() / "notebooks" / "registry.yaml"
    raw = yaml.safe_load(path.read_text())
    root = path.parent.parent
    entries = []
    for item in raw["notebooks"]:
        presets = item.get("presets") or {}
        unknown = set(presets) - set(SCALES)
        if unknown:
            raise ParameterError(f"{path}: notebook {item['name']!r} has unknown scale(s) {sorted(unknown)}; "
                                 f"valid scales: {', '.join(SCALES)}")
        entries.append(NotebookEntry(name=item["name"], path=root / item["path"], title=item["title"],
                                     part=item["part"], presets=presets))
    return Registry(notebooks=entries, parts=raw.get("parts", {}), root=root)


def notebook_parameters(path: Path) -> dict:
    """Names and defaults of the cell tagged ``parameters`` of a notebook."""
    import papermill as pm

    return {name: info["default"] for name, info in pm.inspect_notebook(str(path)).items()}


def parse_override(text: str) -> tuple[str, object]:
    """``"key=value"`` -> (key, value), the value read as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ParameterError(f"bad parameter {text!r}; expected key=value")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def resolve_parameters(entry: NotebookEntry, scale: str, overrides: dict, *, data_root: str,
                       results_root: str, known: dict | None = None) -> dict:
    """Parameters injected into one notebook: preset of ``scale`` + overrides; names checked.

    ``overrides`` may name parameters that only some notebooks have; a name no selected notebook
    knows is rejected by :func:`run` before anything executes.
    """
    check_scale(scale)
    known = notebook_parameters(entry.path) if known is None else known
    params = {"scale": scale, "data_root": data_root, "results_root": results_root}
    preset = dict(entry.presets.get(scale) or {})
    bad = [k for k in preset if k not in known]
    if bad:
        raise ParameterError(f"registry preset {scale!r} of {entry.name!r} sets unknown parameter(s) {bad}; "
                             f"the notebook's parameters: {', '.join(sorted(known))}")
    params.update(preset)
    params.update({k: v for k, v in overrides.items() if k in known})
    return {k: v for k, v in params.items() if k in known}


class _PeakMemory:
    """Samples the resident memory of this process's children (the kernel) in a thread."""

    def __init__(self, interval: float = 0.25):
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                for child in self._proc.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def describe_device() -> str:
    """``"cuda: <name>"`` or ``"cpu: <n> cores"``."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - a broken torch must not stop the runner
        pass
    return f"cpu: {os.cpu_count()} cores ({platform.processor() or platform.machine()})"


def describe_numerics() -> dict:
    """What floating-point results depend on besides the code: the CPU model and instruction set
    in use, torch's BLAS and oneDNN builds, NumPy's BLAS, thread counts. Two machines that
    differ here can give different numbers at the same seeds."""
    out = {"cpu_model": "", "machine": platform.machine()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                out["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        out["cpu_model"] = platform.processor()
    try:
        import torch

        cfg = torch.__config__.show()
        out["torch"] = torch.__version__
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["torch_blas"] = next((ln.strip(" -") for ln in cfg.splitlines() if "Math Kernel" in ln or "BLAS_INFO" in ln), "")
        out["onednn"] = next((ln.strip(" -") for ln in cfg.splitlines() if "MKL-DNN" in ln or "oneDNN" in ln), "")
        out["torch_threads"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001 - a broken torch must not stop the runner
        pass
    try:
        import numpy as np

        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        out["numpy_blas"] = f"{blas.get('name', '')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy has no dict form
        pass
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _load_manifest(path: Path) -> dict:
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    return {"runs": {}}


def _write_json_atomic(path: Path, data: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def _tag_injected_cell(path: Path):
    """Give papermill's injected-parameters cell a tag the book understands (it has none)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, path)


def run(
    *,
    scale: str = "cpu",
    only: list[str] | None = None,
    overrides: dict | None = None,
    data_root: str = "data",
    results_root: str = "results",
    output_dir=None,
    registry: Registry | None = None,
    kernel: str = "python3",
    fail_fast: bool = False,
    log=None,
) -> int:
    """Execute the selected notebooks; returns the number of failures (see module docstring)."""
    check_scale(scale)
    log = log or (lambda msg: print(msg, flush=True))
    registry = registry or load_registry()
    overrides = dict(overrides or {})
    selected = [registry.get(n) for n in only] if only else list(registry.notebooks)
    # Validate everything before executing anything.
    known = {e.name: notebook_parameters(e.path) for e in selected}
    all_known = set().union(*known.values()) if known else set()
    unknown = [k for k in overrides if k not in all_known]
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} for the selected notebook(s); valid: "
                             f"{', '.join(sorted(all_known))}")
    plans = [(e, resolve_parameters(e, scale, overrides, data_root=data_root, results_root=results_root,
                                    known=known[e.name])) for e in selected]

    import papermill as pm

    root = registry.root
    output_dir = Path(output_dir) if output_dir else root / "book" / "generated"
    output_dir.mkdir(parents=True, exist_ok=True)
    work_dir = root / "_build" / "runs"
    failed_dir = root / "_build" / "failed"
    work_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = output_dir / "manifest.json"
    manifest = _load_manifest(manifest_path)
    manifest.update({"git_commit": git_commit(root), "device": describe_device(),
                     "numerics": describe_numerics(),
                     "python": sys.version.split()[0], "last_scale": scale, "last_started": _now()})
    failures = 0
    total_t0 = time.perf_counter()
    for i, (entry, params) in enumerate(plans, 1):
        log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}) ...")
        tmp_out = work_dir / f"{entry.name}.ipynb"
        record = {"name": entry.name, "title": entry.title, "part": entry.part, "notebook": str(entry.path.relative_to(root)),
                  "scale": scale, "parameters": params, "started": _now(), "git_commit": manifest["git_commit"],
                  "device": manifest["device"]}
        t0 = time.perf_counter()
        error = None
        with _PeakMemory() as mem:
            try:
                pm.execute_notebook(str(entry.path), str(tmp_out), parameters=params, kernel_name=kernel,
                                    cwd=str(root), progress_bar=sys.stderr.isatty(), log_output=False)
            except pm.PapermillExecutionError as exc:
                error = {"cell": exc.cell_index, "execution_count": exc.exec_count, "ename": exc.ename,
                         "evalue": str(exc.evalue)[:500]}
            except Exception as exc:  # kernel death, missing kernel, ...
                error = {"cell": None, "execution_count": None, "ename": type(exc).__name__,
                         "evalue": str(exc)[:500]}
        seconds = time.perf_counter() - t0
        record.update({"ended": _now(), "seconds": round(seconds, 1), "peak_memory_mb": round(mem.peak / 2**20, 1),
                       "status": "ok" if error is None else "failed"})
        if error is None:
            _tag_injected_cell(tmp_out)
            shutil.move(str(tmp_out), output_dir / f"{entry.name}.ipynb")
            log(f"    ok in {seconds:.1f} s, peak memory {record['peak_memory_mb']:.0f} MB")
        else:
            failures += 1
            failed_dir.mkdir(parents=True, exist_ok=True)
            kept = failed_dir / f"{entry.name}.ipynb"
            if tmp_out.exists():
                shutil.move(str(tmp_out), kept)
            record["error"] = error
            record["failed_notebook"] = str(kept.relative_to(root))
            log(f"    FAILED: notebook {entry.name} ({record['notebook']}), cell {error['cell']} "
                f"(execution count {error['execution_count']}): {error['ename']}: {error['evalue']}\n"
                f"    partial output kept in {record['failed_notebook']}")
        manifest["runs"][entry.name] = record
        _write_json_atomic(manifest_path, manifest)
        if error is not None and fail_fast:
            break
    manifest["last_ended"] = _now()
    manifest["last_seconds"] = round(time.perf_counter() - total_t0, 1)
    _write_json_atomic(manifest_path, manifest)
    log(f"{len(plans)} notebook(s), {failures} failed, {manifest['last_seconds']:.0f} s in all; "
        f"manifest: {_shown(manifest_path, root)}")
    return failures


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the repository when it is inside it, else absolute."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m avlib.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default="cpu", help=f"one of {', '.join(SCALES)} (default cpu)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only this notebook (repeat or comma-separate)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a notebook parameter (value parsed as YAML)")
    p.add_argument("--data-root", default=None, help="data folder (default ./data, created); a given one must exist")
    p.add_argument("--results-root", default="results", help="where notebooks write tables (default ./results)")
    p.add_argument("--output-dir", default=None,
                   help="where executed notebooks and manifest.json go (default book/generated)")
    p.add_argument("--registry", default=None, help="registry file (default notebooks/registry.yaml)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
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
                for scale in SCALES:
                    print(f"    {scale:6s} {e.presets.get(scale) or {}}")
            return 0
        only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        for name in only:
            registry.get(name)
        overrides = dict(parse_override(p) for p in args.param)
        if args.data_root is None:
            data_root = "data"
            (registry.root / data_root).mkdir(exist_ok=True)
        else:
            if not Path(args.data_root).is_dir():
                raise ParameterError(f"data root {args.data_root!r} does not exist; create it or omit "
                                     f"--data-root to use ./data")
            data_root = str(Path(args.data_root).resolve())
        failures = run(scale=args.scale, only=only or None, overrides=overrides, data_root=data_root,
                       results_root=args.results_root, output_dir=args.output_dir, registry=registry,
                       kernel=args.kernel,
                       fail_fast=args.fail_fast)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
