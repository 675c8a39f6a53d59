"""The run manifest (``book/generated/manifest.json``): what ran where, for how long, with how much
memory, and the facts about the machine its numbers depend on."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import threading
from pathlib import Path

import numpy as np
import psutil

from .. import numerics
from ..errors import ParameterError
from ..paths import RUN_NAME_ENV
from ..utils import describe_device as device_facts

__all__ = ["PeakMemory", "describe_device", "run_device", "device_for_facts", "describe_numerics", "now",
           "load_manifest", "write_json_atomic", "last_seconds", "shown"]


def kernel_rss(name: str):
    """A :class:`PeakMemory` measure: the resident memory of this process's descendants whose
    environment names notebook ``name`` (``$AVLIB_RUN_NAME``: its kernel and that kernel's
    workers), so that two notebooks running side by side are measured apart."""
    me = psutil.Process()

    def measure() -> int:
        total = 0
        try:
            children = me.children(recursive=True)
        except psutil.Error:
            return 0
        for child in children:
            try:
                if child.environ().get(RUN_NAME_ENV) == name:
                    total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    return measure


class PeakMemory:
    """Samples memory in a thread while the block runs and keeps the peak (``.peak``, bytes).

    ``measure``: what is sampled, a function returning bytes; default the resident memory of
    this process's children (the kernel a notebook runs in).
    """

    def __init__(self, interval: float = 0.25, measure=None):
        self._proc = psutil.Process()
        self.measure = measure or self._children_rss
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _children_rss(self) -> int:
        total = 0
        try:
            for child in self._proc.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return total

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, int(self.measure()))
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


def run_device(scale: str, device: str | None) -> str:
    """The ``--device`` of a run: given, else ``"cuda"`` (required) at the paper scale, else ``"auto"``."""
    device = device or ("cuda" if scale == "paper" else "auto")
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise ParameterError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return device


def device_for_facts(device: str):
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
    out.update(numerics.in_effect())  # the path in effect, with torch's kernel level (torch_cpu_capability)
    return out


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def load_manifest(path: Path) -> dict:
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    return {"runs": {}}


def write_json_atomic(path: Path, data: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def last_seconds(manifest: dict, name: str, scale: str) -> float | None:
    """Seconds the last successful run of ``name`` at ``scale`` took, from the manifest."""
    record = (manifest.get("runs") or {}).get(name) or {}
    if record.get("scale") == scale and record.get("status") == "ok" and record.get("seconds"):
        return float(record["seconds"])
    return None


def shown(path: Path, root: Path) -> str:
    """``path`` relative to the repository when it is inside it, else absolute."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())
