"""The experiment runner: execute the book's notebooks with papermill at a scale preset.

Usage::

    python -m avlib.run --scale cpu                 # every notebook, the main job
    python -m avlib.run --scale smoke --only xflow_params -p seed=1
    python -m avlib.run --only icmr_audio -p seeds=[0] --dry-run   # check names, show what would run
    python -m avlib.run --list

One registry (``notebooks/registry.yaml``) lists every notebook with its parameters per scale.
Executed notebooks go to ``book/generated/`` (where the book picks them up, never re-executed by
Jupyter Book) and a run manifest (git commit, parameters, scale, device, start/end, duration, peak
memory) to ``book/generated/manifest.json``. A failing notebook is named with its cell and error,
its partial output is kept under ``_build/failed/``, and the runner exits non-zero.

On a terminal the runner shows the notebook, the cell running out of the notebook's cells, and
the time left estimated from the last run at the same scale (the manifest's ``seconds``);
``AVLIB_PROGRESS=0`` turns that off (CI), ``AVLIB_PROGRESS=1`` turns it on off a terminal (one
line per cell). Notebooks run on the ``avlib`` Jupyter kernel when ``make kernel`` registered it
for this interpreter, else on ``python3``; the kernel talks over local IPC sockets (no TCP port,
no warning about unencrypted TCP), starts in the project folder and gets ``AVLIB_HOME`` set to it,
so relative paths mean the same as in JupyterLab.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
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

from .data.real import DATA_ENV, REAL_DATASETS, REAL_SOURCES, missing, report
from .errors import DataError, ParameterError
from .paths import HOME_ENV, PARAMETERS_ENV, SCALES, check_scale, repo_root, resolve
from .utils import DEVICE_ENV, DeviceUnavailableError, cuda_problem, git_commit
from .utils import describe_device as device_facts
import ast
import psutil
import numpy as np
import re
import importlib

__all__ = ["Registry", "NotebookEntry", "load_registry", "resolve_parameters", "plan", "default_kernel",
           "run", "main", "PROJECT_KERNEL"]

ALWAYS_INJECTED = ("scale", "data_root", "results_root")

#: Name of the Jupyter kernel ``make kernel`` registers for the project's environment.
PROJECT_KERNEL = "avlib"


@dataclass
class NotebookEntry:
    """One notebook of the registry."""

    name: str
    path: Path
    title: str
    part: str
    presets: dict = field(default_factory=dict)
    config: str | None = None  # "module.Class" of the notebook's configuration (its `config` parameter)
    needs: tuple = ()  # the real datasets (avlib.data.real) it reads when its `source` names real data
    stand_ins_only: bool = False  # documents the embedded stand-ins: not run at the paper scale


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
        needs = tuple(item.get("needs") or ())
        bad = [n for n in needs if n not in REAL_DATASETS]
        if bad:
            raise ParameterError(f"{path}: notebook {item['name']!r} needs unknown real dataset(s) {bad}; "
                                 f"valid: {', '.join(REAL_DATASETS)}")
        entries.append(NotebookEntry(name=item["name"], path=root / item["path"], title=item["title"],
                                     part=item["part"], presets=presets, config=item.get("config"), needs=needs,
                                     stand_ins_only=bool(item.get("stand_ins_only", False))))
    return Registry(notebooks=entries, parts=raw.get("parts", {}), root=root)


def notebook_parameters(path: Path) -> dict:
    """Names and defaults (source text) of the cell tagged ``parameters`` of a notebook.

    The cell is read as Python (top-level assignments), so a comment holding ``=`` or a value
    spread over several lines is understood; papermill's own line-based reader is the fallback
    for a cell that does not parse.
    """

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])),
                None)
    if cell is None:
        return {}
    source = cell.source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        import papermill as pm

        return {name: info["default"] for name, info in pm.inspect_notebook(str(path)).items()}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = ast.get_source_segment(source, value)
    return out


def parse_override(text: str) -> tuple[str, object]:
    """``"key=value"`` -> (key, value), the value read as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ParameterError(f"bad parameter {text!r}; expected key=value")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def collect_overrides(texts) -> dict:
    """The ``-p`` values as one mapping. ``config.<dotted key>=value`` entries are gathered into
    the ``config`` parameter (``-p config.audio.epochs=3`` is ``config={"audio.epochs": 3}``), merged
    with a ``-p config={...}`` given as well; a key given twice is an error."""
    out: dict = {}
    config: dict = {}
    for text in texts:
        key, value = parse_override(text)
        if key.startswith("config."):
            dotted = key[len("config."):]
            if not dotted or dotted in config:
                raise ParameterError(f"bad or repeated configuration key {key!r}")
            config[dotted] = value
        elif key in out:
            raise ParameterError(f"parameter {key!r} is given twice")
        else:
            out[key] = value
    if config:
        given = out.get("config") or {}
        if not isinstance(given, dict):
            raise ParameterError(f"config must be a mapping of dotted keys, not {given!r}")
        twice = sorted(set(given) & set(config))
        if twice:
            raise ParameterError(f"configuration key(s) {twice} given twice")
        out["config"] = {**given, **config}
    return out


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

        self._proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):

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


def describe_device(device=None) -> str:
    """One line for the manifest and the pages: ``"cuda: <name> (sm_90, driver ..., CUDA ...)"`` or
    ``"cpu: <n> cores (<processor>)"``, from :func:`avlib.utils.describe_device`."""
    try:
        f = device_facts(device)
    except Exception:  # noqa: BLE001 - a broken torch must not stop the runner
        return f"cpu: {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    if f["type"] == "cuda":
        return f"cuda: {f['name']} ({f['arch']}, driver {f['driver']}, CUDA {f['cuda']})"
    return f"cpu: {f['cores']} cores ({f['name'] or platform.machine()})"


def _run_device(scale: str, device: str | None) -> str:
    """The ``--device`` of a run: given, else ``"cuda"`` (required) at the paper scale, else ``"auto"``."""
    device = device or ("cuda" if scale == "paper" else "auto")
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ParameterError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return device


def _device_for_facts(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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
    """Keep the parameter cells out of the book page: the defaults cell and papermill's injected
    cell get ``remove-cell`` (the page's settings box, :func:`avlib.report.settings_box`, shows
    the values that ran). The notebooks in ``notebooks/`` keep their parameters cell visible."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if ("injected-parameters" in tags or "parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, path)


def _kernel_python(name: str) -> Path | None:
    """The interpreter a registered kernel starts, or None when ``name`` is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return None
    argv = list(spec.argv or [])
    if not argv:
        return None
    exe = argv[0]
    if exe in ("python", "python3", "{python}"):
        return Path(sys.executable)
    return Path(shutil.which(exe) or exe)


def default_kernel() -> str:
    """``avlib`` when that kernel is registered for this interpreter's environment, else ``python3``.

    A kernel named ``avlib`` that starts another environment's Python (say, one registered with
    ``--user`` from another checkout) is not used: the notebooks must run on the avlib being run.
    """
    try:
        python = _kernel_python(PROJECT_KERNEL)
    except Exception:  # noqa: BLE001 - a broken kernel registry must not stop the runner
        return "python3"
    if python is None:
        return "python3"
    try:
        same = Path(python).resolve().parent == Path(sys.executable).resolve().parent
    except OSError:
        same = False
    return PROJECT_KERNEL if same else "python3"


_ENGINE = "avlib"


def _register_engine():
    """A papermill engine that reports every cell start and starts its kernel through
    :func:`_kernel_manager_class` (IPC transport, no SIGINT at shutdown)."""
    from papermill.engines import NBClientEngine, papermill_engines

    if _ENGINE in papermill_engines._engines:
        return

    class _AvlibEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            on_cell = kwargs.pop("on_cell", None)
            if on_cell is not None:
                total = len(nb_man.nb.cells)
                cell_start = nb_man.cell_start

                def reporting_cell_start(cell, cell_index=None, **kw):
                    on_cell(cell_index, total)
                    return cell_start(cell, cell_index, **kw)

                nb_man.cell_start = reporting_cell_start
            kwargs.setdefault("kernel_manager_class", _kernel_manager_class())
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(_ENGINE, _AvlibEngine)


_KM_CLASS = None


def _kernel_manager_class():
    """jupyter_client's kernel manager with two changes for unattended runs.

    * The kernel listens on IPC sockets (files in Jupyter's runtime folder), not on localhost TCP
      ports: nothing else on the machine can connect, and ipykernel has no reason to print its
      warning about unencrypted TCP for every notebook.
    * At shutdown it asks the kernel to exit without interrupting it first (jupyter_client sends
      SIGINT before the shutdown request, which makes ipykernel log a spurious
      ``KeyboardInterrupt caught in kernel`` ERROR after a notebook that ran fine). A kernel that
      does not exit in time is still terminated. Interrupts at any other time are unchanged.
    """
    global _KM_CLASS
    if _KM_CLASS is None:
        from jupyter_client.manager import AsyncKernelManager
        from traitlets import default

        class RunnerKernelManager(AsyncKernelManager):
            @default("transport")
            def _default_transport(self):
                return "tcp" if os.name == "nt" else "ipc"

            async def _async_interrupt_kernel(self):
                if self.shutting_down:
                    return
                await super()._async_interrupt_kernel()

        _KM_CLASS = RunnerKernelManager
    return _KM_CLASS


def progress_wanted(stream=None) -> bool:
    """Live progress: ``AVLIB_PROGRESS`` when set (``0`` off, anything else on), else on a terminal."""
    flag = os.environ.get("AVLIB_PROGRESS")
    if flag is not None:
        return flag.strip().lower() not in ("0", "false", "no", "off", "")
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _Progress:
    """One status line on stderr: notebook, cell i/n, elapsed and estimated time left.

    On a terminal the line is redrawn in place every second; elsewhere (``AVLIB_PROGRESS=1``
    into a log file) one line is written per cell.
    """

    def __init__(self, stream=None, *, enabled: bool = True, interval: float = 1.0):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._drawn = False
        self.name, self.index, self.count = "", 0, 0
        self.cell, self.cells = None, 0
        self.expected, self.after = None, 0.0
        self.t0 = time.perf_counter()

    def start(self, name: str, index: int, count: int, *, expected: float | None, after: float, unknown_after: bool):
        """A notebook starts: ``expected`` s from its last run (or None); ``after`` s expected for
        the notebooks still to come (``unknown_after``: some of them have no recorded time)."""
        self.name, self.index, self.count = name, index, count
        self.cell, self.cells = None, 0
        self.expected, self.after, self.unknown_after = expected, after, unknown_after
        self.t0 = time.perf_counter()
        if self.enabled and self.tty:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def on_cell(self, index, total):
        """papermill starts cell ``index`` (0-based) of ``total``."""
        with self._lock:
            self.cell, self.cells = index, total
        if self.enabled:
            self._draw(newline=not self.tty)

    def stop(self):
        """The notebook ended: remove the status line."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._drawn and self.tty:
                self.stream.write("\r\033[K")
                self.stream.flush()
            self._drawn = False

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        cell = f"cell {self.cell + 1}/{self.cells}" if self.cell is not None else "starting the kernel"
        text = f"    {self.name}: {cell}, {_clock(elapsed)} elapsed"
        if self.expected is None:
            text += ", no earlier run at this scale to estimate the time left"
            left = 0.0
        else:
            left = self.expected - elapsed
            if left > 0:
                text += f", about {_clock(left)} left (last run {_clock(self.expected)})"
            else:
                text += f", longer than the last run ({_clock(self.expected)})"
        if self.count > self.index and self.after > 0:
            text += (f"; {self.count - self.index} more notebook(s): "
                     f"{'at least ' if self.unknown_after else 'about '}{_clock(max(left, 0) + self.after)} left in all")
        return text

    def _draw(self, *, newline: bool):
        with self._lock:
            text = self.line()
            if newline:
                self.stream.write(text + "\n")
            else:
                width = shutil.get_terminal_size((120, 20)).columns
                self.stream.write("\r\033[K" + text[: max(width - 1, 20)])
                self._drawn = True
            self.stream.flush()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._draw(newline=False)


def _short(text: str, limit: int = 400) -> str:
    """An exception message for the terminal: ANSI colours removed, at most ``limit`` characters."""

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_block(name: str, error: dict, kept: str) -> str:
    """The one short report of a failed notebook: where, what, and where its output is."""
    cell, cells = error.get("cell"), error.get("cells")
    if cell is None:
        where = "before its first cell ran"
    else:
        where = f"cell {cell + 1}" + (f" of {cells}" if cells else "")
        if error.get("execution_count") is not None:
            where += f" (execution count [{error['execution_count']}])"
        elif error.get("ename") not in (None, "") and error.get("kernel_stopped"):
            where += " (running when the kernel stopped)"
    message = _short(error.get("evalue", ""))
    what = f"{error.get('ename') or 'Error'}: {message}" if message else f"{error.get('ename') or 'Error'}"
    what = what.replace("\n", "\n        ")
    return (f"    FAILED: notebook {name}, {where}\n"
            f"        {what}\n"
            f"        executed notebook kept in {kept}")


def _last_seconds(manifest: dict, name: str, scale: str) -> float | None:
    """Seconds the last successful run of ``name`` at ``scale`` took, from the manifest."""
    record = (manifest.get("runs") or {}).get(name) or {}
    if record.get("scale") == scale and record.get("status") == "ok" and record.get("seconds"):
        return float(record["seconds"])
    return None


def plan(*, scale: str = "cpu", only: list[str] | None = None, overrides: dict | None = None,
         data_root: str = "data", results_root: str = "results", registry: Registry | None = None) -> list:
    """``[(entry, parameters)]`` of the notebooks :func:`run` would execute, every name checked.

    Raises :class:`ParameterError` for an unknown scale, notebook or parameter (a parameter must
    be in the parameters cell of at least one selected notebook).
    """
    check_scale(scale)
    registry = registry or load_registry()
    overrides = dict(overrides or {})
    selected = [registry.get(n) for n in only] if only else list(registry.notebooks)
    known = {e.name: notebook_parameters(e.path) for e in selected}
    all_known = set().union(*known.values()) if known else set()
    unknown = [k for k in overrides if k not in all_known]
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} for the selected notebook(s); valid: "
                             f"{', '.join(sorted(all_known))}")
    plans = [(e, resolve_parameters(e, scale, overrides, data_root=data_root, results_root=results_root,
                                    known=known[e.name])) for e in selected]
    for entry, params in plans:
        check_config(entry, scale, params.get("config"))
    return plans


def check_config(entry: NotebookEntry, scale: str, config) -> None:
    """Check the ``config`` parameter (dotted overrides) of a notebook whose registry entry names
    its configuration class: unknown keys and wrong types are errors before anything runs."""
    if not entry.config or not config:
        return
    if not isinstance(config, dict):
        raise ParameterError(f"{entry.name}: config must be a mapping of dotted keys, e.g. "
                             f"'{{\"audio.epochs\": 2}}', not {config!r}")

    module, _, name = entry.config.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ParameterError(f"registry entry {entry.name!r} names config class {entry.config!r}, "
                             f"which cannot be imported ({exc})") from None
    try:
        base = cls.for_scale(scale) if scale in getattr(cls, "SCALES", {scale: {}}) else cls()
        base.with_overrides(config)
    except ParameterError as exc:
        raise ParameterError(f"{entry.name}: {exc}") from None


def _reads_real_data(params: dict) -> bool:
    src = params.get("source")
    return isinstance(src, str) and not src.startswith("embedded")


def not_run_reason(entry: NotebookEntry, params: dict, scale: str) -> str | None:
    """Why ``entry`` cannot run with ``params``, or None when it can.

    At the paper scale a datasheet of the embedded stand-ins does not run (the stand-ins are not
    generated there). A notebook whose ``source`` names real data (``"real"``,
    ``"real_youtube8m"`` or a folder) and whose real datasets (the registry's ``needs``) are not
    under the data root (:func:`avlib.data.real.missing`) does not run either; the others run.
    """
    if scale == "paper" and entry.stand_ins_only:
        return "documents the embedded stand-ins, which the paper scale neither generates nor reads"
    if not entry.needs or not _reads_real_data(params):
        return None
    src, data_root = params["source"], params.get("data_root", "data")
    if src in REAL_SOURCES or src == "real":
        real_root = params.get("real_root")
        gone = {}
        for name in entry.needs:
            if real_root:
                folder = Path(real_root) / name
                miss = [] if folder.is_dir() else [str(folder) + "/"]
            else:
                miss = missing(data_root, name)
            if miss:
                gone[name] = miss
    else:  # a folder given by the user (FCVID layout)
        folder = Path(src).expanduser()
        gone = {} if (folder / "videos.csv").is_file() else {"source": [str(folder / "videos.csv")]}
    if not gone:
        return None
    return "missing real data: " + "; ".join(f"{n} ({', '.join(m)})" for n, m in gone.items())


def _describe_plan(plans, *, scale: str, kernel: str, root: Path, manifest: dict, overrides: dict) -> list[str]:
    lines = [f"dry run (nothing is executed): {len(plans)} notebook(s) at scale {scale} on kernel {kernel}"]
    total, unknown = 0.0, 0
    for i, (entry, params) in enumerate(plans, 1):
        last = _last_seconds(manifest, entry.name, scale)
        if last is None:
            unknown += 1
        else:
            total += last
        try:
            where = entry.path.relative_to(root)
        except ValueError:
            where = entry.path
        when = f"last run {_clock(last)}" if last is not None else "no earlier run at this scale"
        lines.append(f"  [{i}/{len(plans)}] {entry.name} ({where}; {when})")
        reason = not_run_reason(entry, params, scale)
        if reason:
            lines.append(f"        NOT RUN: {reason}")
        for key, value in params.items():
            mark = "  <- -p" if key in overrides else ""
            lines.append(f"        {key} = {value!r}{mark}")
    if total:
        lines.append(f"expected time from the last runs: {'at least ' if unknown else ''}{_clock(total)}")
    return lines


def _hash_update_tree(h, folder: Path):
    """Every file under ``folder`` by relative path and size, and the content of its small
    metadata files (``.json``, ``.csv``, ``.yaml`` up to 1 MB): enough to see a dataset or the
    library change without reading gigabytes of video."""
    if not folder.exists():
        h.update(f"absent {folder.name}\n".encode())
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        h.update(f"{rel} {size}\n".encode())
        if path.suffix in (".json", ".csv", ".yaml", ".yml", ".py") and size <= 2**20:
            h.update(path.read_bytes())


def code_version(root: Path) -> str:
    """A hash of the library's files (``avlib/``: code, reference tables, claims) and the
    registry: what a notebook's numbers depend on besides its own file, parameters and data."""
    h = hashlib.sha256()
    _hash_update_tree(h, Path(__file__).resolve().parent)
    reg = Path(root) / "notebooks" / "registry.yaml"
    if reg.is_file():
        h.update(reg.read_bytes())
    return h.hexdigest()[:16]


def data_version(entry: NotebookEntry, params: dict, scale: str) -> str:
    """A hash of the data a notebook reads: its real datasets when its ``source`` names real
    data, else the embedded stand-ins of ``scale`` (file names, sizes, generation records)."""
    h = hashlib.sha256()
    root = resolve(params.get("data_root", "data"))
    if entry.needs and _reads_real_data(params):
        src = params["source"]
        if src in REAL_SOURCES or src == "real":
            real_root = Path(params["real_root"]) if params.get("real_root") else root / "real"
            for name in entry.needs:
                _hash_update_tree(h, real_root / name)
        else:
            _hash_update_tree(h, Path(src).expanduser())
    else:
        _hash_update_tree(h, root / "embedded" / scale)
    return h.hexdigest()[:16]


def fingerprints(plans: list, scale: str, root: Path, *, order=None, recorded: dict | None = None) -> dict:
    """``{name: fingerprint}`` for the notebooks of ``plans``: a hash of the notebook file, its
    parameters, the code version, the data it reads and the fingerprint of the notebook before
    it in the book (``order``, default the order of ``plans``), so that a change upstream (a
    page whose results or stored runs a later page reads) makes every later notebook run again.
    A notebook of ``order`` that is not in ``plans`` contributes its ``recorded`` fingerprint
    (that of its last run, which made the results on disk)."""
    code = code_version(root)
    by_name = {e.name: (e, p) for e, p in plans}
    recorded = recorded or {}
    out, previous = {}, ""
    for name in (order or list(by_name)):
        if name not in by_name:
            previous = recorded.get(name) or ""
            continue
        entry, params = by_name[name]
        h = hashlib.sha256()
        h.update(entry.path.read_bytes())
        h.update(json.dumps(params, sort_keys=True, default=str).encode())
        h.update(f"{code} {data_version(entry, params, scale)} {previous}".encode())
        previous = out[name] = h.hexdigest()[:16]
    return out


class _KernelEnvironment:
    """``AVLIB_HOME`` (unless the caller set one) and ``AVLIB_DEVICE`` for the kernels started inside
    the block."""

    def __init__(self, home: Path, device: str = "auto"):
        self.home = str(home)
        self.device = device
        self.set = False
        self.old_device = None

    def __enter__(self):
        if not os.environ.get(HOME_ENV):
            os.environ[HOME_ENV] = self.home
            self.set = True
        self.old_device = os.environ.get(DEVICE_ENV)
        os.environ[DEVICE_ENV] = self.device
        return self

    def __exit__(self, *exc):
        if self.set:
            os.environ.pop(HOME_ENV, None)
        if self.old_device is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = self.old_device


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
    dry_run: bool = False,
    device: str | None = None,
    resume: bool = False,
) -> int:
    """Execute the selected notebooks; returns the number of failures (see module docstring).

    ``kernel`` None picks :func:`default_kernel`; ``progress`` None follows
    :func:`progress_wanted`; ``dry_run`` checks everything and logs what would run, with which
    parameters, without executing (returns 0). ``device``: ``"auto"`` (CUDA when usable, else the
    CPU), ``"cuda"`` / ``"cuda:N"`` (required: the run stops with the reason when it is not
    usable), ``"cpu"``; None: ``"cuda"`` at the paper scale (no silent CPU fallback), else
    ``"auto"``. The kernels get it as ``$AVLIB_DEVICE`` (:func:`avlib.utils.get_device`).
    ``resume``: keep a notebook whose last run succeeded with the same :func:`fingerprints`
    (notebook, parameters, code version, data and everything before it in the book) and whose
    executed copy is still there; run the others.
    """
    log = log or (lambda msg: print(msg, flush=True))
    registry = registry or load_registry()
    overrides = dict(overrides or {})
    # Validate everything before executing anything.
    plans = plan(scale=scale, only=only, overrides=overrides, data_root=data_root, results_root=results_root,
                 registry=registry)
    kernel = kernel or default_kernel()
    root = registry.root
    output_dir = Path(output_dir) if output_dir else root / "book" / "generated"
    manifest_path = output_dir / "manifest.json"
    manifest = _load_manifest(manifest_path)
    device = _run_device(scale, device)
    problem = None
    if device.startswith("cuda"):
        why = cuda_problem(int(device.split(":")[1]) if ":" in device else 0)
        if why is not None:
            problem = (f"the {scale} scale trains on a CUDA device ({device}) and none is usable: {why}. "
                       f"--device cpu runs it on the CPU anyway (the papers' trainings took 11-98 hours each "
                       f"on a GPU).")
    if dry_run:
        log(f"device: {device}" + (f" -- a real run would stop here: {problem}" if problem else ""))
        for line in _describe_plan(plans, scale=scale, kernel=kernel, root=root, manifest=manifest,
                                   overrides=overrides):
            log(line)
        return 0
    skipped = {e.name: r for e, p in plans if (r := not_run_reason(e, p, scale))}
    wanted = sorted({n for e, p in plans if _reads_real_data(p) for n in e.needs})
    if wanted and any(_reads_real_data(p) and e.name in skipped for e, p in plans):
        data_pages = [e.name for e, p in plans if e.needs and _reads_real_data(p)]
        pages = {n: [e.name for e, p in plans if n in e.needs and _reads_real_data(p)] for n in wanted}
        message = report(data_root, wanted, pages=pages)
        if all(n in skipped for n in data_pages):
            raise DataError(f"none of the notebooks has its real data; nothing runs.\n{message}")
        log(message)

    if problem is not None:
        raise DeviceUnavailableError(problem)

    import papermill as pm

    _register_engine()
    output_dir.mkdir(parents=True, exist_ok=True)
    work_dir = root / "_build" / "runs"
    failed_dir = root / "_build" / "failed"
    work_dir.mkdir(parents=True, exist_ok=True)
    expected = [_last_seconds(manifest, e.name, scale) for e, _ in plans]
    facts_device = _device_for_facts(device)
    manifest.update({"git_commit": git_commit(root), "device": describe_device(facts_device),
                     "device_facts": device_facts(facts_device), "device_setting": device,
                     "numerics": describe_numerics(),
                     "python": sys.version.split()[0], "kernel": kernel, "last_scale": scale,
                     "last_started": _now()})
    prints = fingerprints(plans, scale, root, order=registry.names(),
                          recorded={n: r.get("fingerprint") for n, r in manifest["runs"].items()
                                    if r.get("status") == "ok"})
    bar = _Progress(enabled=progress_wanted() if progress is None else progress)
    failures = 0
    unchanged = []
    total_t0 = time.perf_counter()
    with _KernelEnvironment(root, device):
        for i, (entry, params) in enumerate(plans, 1):
            if entry.name in skipped:
                log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}): not run, {skipped[entry.name]}")
                manifest["runs"][entry.name] = {
                    "name": entry.name, "title": entry.title, "part": entry.part,
                    "notebook": _shown(entry.path, root), "scale": scale, "parameters": params,
                    "started": _now(), "ended": _now(), "seconds": 0.0, "status": "not run",
                    "reason": skipped[entry.name], "git_commit": manifest["git_commit"]}
                _write_json_atomic(manifest_path, manifest)
                continue
            last = manifest["runs"].get(entry.name) or {}
            if (resume and last.get("status") == "ok" and last.get("fingerprint") == prints[entry.name]
                    and (output_dir / f"{entry.name}.ipynb").is_file()):
                log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}): unchanged since its run of "
                    f"{last.get('ended', '?')}, kept")
                unchanged.append(entry.name)
                continue
            log(f"[{i}/{len(plans)}] {entry.name} (scale {scale}) ...")
            tmp_out = work_dir / f"{entry.name}.ipynb"
            record = {"name": entry.name, "title": entry.title, "part": entry.part,
                      "notebook": _shown(entry.path, root), "scale": scale, "parameters": params,
                      "started": _now(), "git_commit": manifest["git_commit"], "device": manifest["device"],
                      "fingerprint": prints[entry.name]}
            later = expected[i:]
            bar.start(entry.name, i, len(plans), expected=expected[i - 1],
                      after=sum(x for x in later if x is not None), unknown_after=any(x is None for x in later))
            t0 = time.perf_counter()
            error = None
            os.environ[PARAMETERS_ENV] = json.dumps(params, default=str)  # read by the page's settings box
            with _PeakMemory() as mem:
                try:
                    pm.execute_notebook(str(entry.path), str(tmp_out), parameters=params, kernel_name=kernel,
                                        engine_name=_ENGINE, on_cell=bar.on_cell, cwd=str(root),
                                        progress_bar=False, log_output=False)
                except pm.PapermillExecutionError as exc:
                    error = {"cell": exc.cell_index, "execution_count": exc.exec_count, "ename": exc.ename,
                             "evalue": str(exc.evalue)[:500]}
                except Exception as exc:  # kernel death, missing kernel, ...
                    error = {"cell": bar.cell, "execution_count": None, "ename": type(exc).__name__,
                             "evalue": str(exc)[:500], "kernel_stopped": bar.cell is not None}
                finally:
                    bar.stop()
                    os.environ.pop(PARAMETERS_ENV, None)
            seconds = time.perf_counter() - t0
            record.update({"ended": _now(), "seconds": round(seconds, 1),
                           "peak_memory_mb": round(mem.peak / 2**20, 1),
                           "status": "ok" if error is None else "failed"})
            if error is None:
                _tag_injected_cell(tmp_out)
                shutil.move(str(tmp_out), output_dir / f"{entry.name}.ipynb")
                log(f"    ok in {seconds:.1f} s, peak memory {record['peak_memory_mb']:.0f} MB")
            else:
                failures += 1
                error["cells"] = bar.cells or None
                failed_dir.mkdir(parents=True, exist_ok=True)
                kept = failed_dir / f"{entry.name}.ipynb"
                if tmp_out.exists():
                    shutil.move(str(tmp_out), kept)
                record["error"] = error
                record["failed_notebook"] = _shown(kept, root)
                log(failure_block(entry.name, error, record["failed_notebook"]))
            manifest["runs"][entry.name] = record
            _write_json_atomic(manifest_path, manifest)
            if error is not None and fail_fast:
                break
    manifest["last_ended"] = _now()
    manifest["last_seconds"] = round(time.perf_counter() - total_t0, 1)
    _write_json_atomic(manifest_path, manifest)
    if skipped:
        log(f"not run: {', '.join(skipped)}")
    if unchanged:
        log(f"kept from earlier runs (--resume): {', '.join(unchanged)}")
    log(f"{len(plans)} notebook(s), {failures} failed, {len(skipped)} not run, {manifest['last_seconds']:.0f} s in all; "
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
    p.add_argument("--dry-run", action="store_true",
                   help="check the notebooks and -p parameters, print what would run with which parameters, "
                        "execute nothing")
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
        only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        for name in only:
            registry.get(name)
        overrides = collect_overrides(args.param)
        if args.data_root is None and os.environ.get(DATA_ENV):
            args.data_root = os.environ[DATA_ENV]
        if args.data_root is None:
            data_root = "data"
            if not args.dry_run:
                home = Path(os.environ[HOME_ENV]) if os.environ.get(HOME_ENV) else registry.root
                (home / data_root).mkdir(parents=True, exist_ok=True)
        else:
            if not Path(args.data_root).is_dir():
                raise ParameterError(f"data root {args.data_root!r} (--data-root or ${DATA_ENV}) does not exist; "
                                     f"create it or omit both to use ./data")
            data_root = str(Path(args.data_root).resolve())
        failures = run(scale=args.scale, only=only or None, overrides=overrides, data_root=data_root,
                       results_root=args.results_root, output_dir=args.output_dir, registry=registry,
                       kernel=args.kernel, fail_fast=args.fail_fast, dry_run=args.dry_run, device=args.device,
                       resume=args.resume)
    except (ParameterError, DataError, DeviceUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
