"""Small helpers shared by the whole library: seeding, devices, progress bars, git."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import platform
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import AvlibError, ParameterError

__all__ = ["seed_everything", "get_device", "describe_device", "cuda_problem", "DeviceUnavailableError", "DEVICE_ENV",
           "BATCHES_ENV", "batch_budget",
           "progress", "progress_enabled", "git_commit", "worker_context", "worker_init"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


#: The device every training of a run uses when the caller names none (set by the runner's ``--device``).
DEVICE_ENV = "AVLIB_DEVICE"
#: Environment variable capping the batches per epoch of every training (the runner's dry run).
BATCHES_ENV = "AVLIB_MAX_BATCHES"


def batch_budget() -> int | None:
    """``$AVLIB_MAX_BATCHES`` as a number (the default of :class:`avlib.train.loop.TrainConfig`'s
    ``max_batches``), or None when it is unset or empty."""
    value = os.environ.get(BATCHES_ENV, "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"${BATCHES_ENV} must be a whole number of batches, not {value!r}") from None
    if n < 1:
        raise ValueError(f"${BATCHES_ENV} must be at least 1, not {n}")
    return n


class DeviceUnavailableError(AvlibError, RuntimeError):
    """A CUDA device was required but none is usable; the message says why."""


def _cuda_driver_api_version() -> str | None:
    """CUDA version the installed driver supports (``cuDriverGetVersion``), e.g. ``"12.8"``."""
    try:
        lib = ctypes.CDLL("libcuda.so.1" if sys.platform != "win32" else "nvcuda.dll")
        version = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(version)) != 0 or version.value <= 0:
            return None
    except (OSError, AttributeError):
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


def _nvidia_driver_release() -> str | None:
    """Release of the NVIDIA kernel driver (e.g. ``"570.86.15"``), or None without one."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        for word in text.split():
            if word.count(".") >= 1 and word.replace(".", "").isdigit():
                return word
    except OSError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _arch_supported(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a wheel built for ``arch_list`` runs kernels on a device of ``capability``.

    A ``sm_XY`` binary runs on devices of the same major version and a minor version >= Y;
    ``compute_XY`` (PTX) is compiled by the driver for any device >= X.Y.
    """
    major, minor = capability
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        digits = digits.rstrip("af")  # sm_90a, sm_100f: family-specific variants
        if not digits.isdigit() or len(digits) < 2:
            continue
        a_major, a_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return False


def _cuda_facts(index: int = 0) -> dict:
    """What torch, the driver and the device say about CUDA (only cheap, non-failing queries)."""
    import torch

    facts = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
             "arch_list": list(torch.cuda.get_arch_list()) if torch.version.cuda else [],
             "driver_cuda": _cuda_driver_api_version(), "driver": _nvidia_driver_release(),
             "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    try:
        facts["device_count"] = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - a broken driver raises here
        facts["device_count"] = 0
    if facts["device_count"] > index:
        try:
            facts["name"] = torch.cuda.get_device_name(index)
            facts["capability"] = tuple(torch.cuda.get_device_capability(index))
        except Exception as exc:  # noqa: BLE001
            facts["query_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def _facts_line(f: dict) -> str:
    cap = f.get("capability")
    device = (f"{f.get('name')} (capability {cap[0]}.{cap[1]}, sm_{cap[0]}{cap[1]})" if cap else
              f"{f.get('device_count', 0)} visible")
    return (f"torch {f['torch']} built for CUDA {f['torch_cuda']} with architectures "
            f"{', '.join(f['arch_list']) or 'none'}; device: {device}; driver: {f.get('driver') or 'not found'} "
            f"(supports CUDA {f.get('driver_cuda') or 'unknown'}); CUDA_VISIBLE_DEVICES={f.get('visible_devices')}")


def cuda_problem(index: int = 0) -> str | None:
    """None when CUDA device ``index`` can run this torch's kernels, else why not (one paragraph).

    Checks in order: a CUDA build of torch, a driver, a visible device, the device's compute
    capability against :func:`torch.cuda.get_arch_list`, and finally a tiny kernel on the device
    (which catches a driver too old for the wheel's CUDA version).
    """
    import torch

    facts = _cuda_facts(index)
    reason = None
    if not torch.version.cuda:
        reason = "this torch wheel is built without CUDA (a CPU-only build)"
    elif facts.get("query_error"):
        reason = f"querying the device failed ({facts['query_error']})"
    elif facts["device_count"] <= index:
        if facts["driver"] is None and facts["driver_cuda"] is None:
            reason = "no NVIDIA driver was found (libcuda.so.1 cannot be loaded)"
        elif facts["device_count"] == 0:
            reason = "the driver sees no CUDA device (check CUDA_VISIBLE_DEVICES and the container's GPU access)"
        else:
            reason = f"cuda:{index} does not exist; {facts['device_count']} device(s) visible"
    elif facts.get("capability") and not _arch_supported(facts["capability"], facts["arch_list"]):
        major, minor = facts["capability"]
        reason = (f"this torch wheel has no kernels for the device's architecture sm_{major}{minor} "
                  "(install a wheel built for it)")
    elif not torch.cuda.is_available():
        reason = "torch.cuda.is_available() is False (the driver may be too old for this wheel's CUDA version)"
    else:
        try:
            x = torch.ones(8, device=f"cuda:{index}")
            float((x * 2).sum())
        except Exception as exc:  # noqa: BLE001 - whatever the driver says is the reason
            reason = f"a test kernel failed on cuda:{index}: {type(exc).__name__}: {exc}"
    return None if reason is None else f"{reason}. {_facts_line(facts)}"


def get_device(prefer: str | None = None, *, require: bool | str = False):
    """The torch device to run on.

    Parameters
    ----------
    prefer : str, optional
        ``"cpu"`` (always honoured), ``"cuda"`` / ``"cuda:1"`` (checked: an unusable CUDA device
        raises :class:`DeviceUnavailableError`), any other torch device string, or None: CUDA
        when available, else the CPU.
        With ``prefer`` None, ``$AVLIB_DEVICE`` decides when set (the runner's ``--device``):
        ``"cpu"``, or ``"cuda"`` / ``"cuda:N"``, which then is required as below.
    require : bool or "cuda"
        True / ``"cuda"``: a CUDA device is needed (the paper scale); when none is usable the
        call raises :class:`DeviceUnavailableError` naming the reason (no CUDA build, no driver,
        no device, an architecture the wheel lacks, a failing kernel) with the wheel's
        architectures, the device capability and the driver, instead of falling back to the
        CPU. An explicit ``prefer="cpu"`` still returns the CPU.
    """
    import torch

    if require not in (False, None, True, "cuda"):
        raise ParameterError(f"require must be False, True or 'cuda', got {require!r}")
    if prefer is not None and not isinstance(prefer, str):
        prefer = str(prefer)
    if prefer is None and os.environ.get(DEVICE_ENV, "auto") not in ("", "auto"):
        # the runner's --device (the paper scale: "cuda", a required device)
        prefer = os.environ[DEVICE_ENV]
        require = require or prefer.startswith("cuda")
    if prefer == "cpu":
        return torch.device("cpu")
    wants_cuda = bool(require) or (prefer is not None and prefer.startswith("cuda"))
    if prefer and not prefer.startswith("cuda"):
        if require:
            raise DeviceUnavailableError(f"a CUDA device is required but device {prefer!r} was asked for")
        return torch.device(prefer)
    if wants_cuda:
        device = torch.device(prefer or "cuda")
        problem = cuda_problem(device.index or 0)
        if problem is not None:
            raise DeviceUnavailableError(
                f"a CUDA device is required but none is usable: {problem}. Pass device='cpu' to run on the CPU.")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device=None) -> dict:
    """Facts about the device a run used, for its manifest.

    CUDA: ``type``, ``index``, ``name``, ``capability`` ("9.0"), ``arch`` ("sm_90"),
    ``memory_gib``, ``device_count``, ``driver`` (kernel driver release), ``driver_cuda`` (CUDA
    version the driver supports), ``cuda`` (torch's CUDA runtime), ``cudnn``, ``arch_list`` and
    ``torch``. CPU: ``type``, ``name`` (the processor), ``cores``, ``threads`` and ``torch``.
    ``device`` None: CUDA device 0 when available, else the CPU.
    """
    import torch

    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        facts = _cuda_facts(index)
        props = torch.cuda.get_device_properties(index)
        major, minor = props.major, props.minor
        return {"type": "cuda", "index": index, "name": props.name, "capability": f"{major}.{minor}",
                "arch": f"sm_{major}{minor}", "memory_gib": round(props.total_memory / 2**30, 1),
                "device_count": facts["device_count"], "driver": facts["driver"], "driver_cuda": facts["driver_cuda"],
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                "arch_list": facts["arch_list"], "torch": torch.__version__}
    return {"type": device.type, "name": _cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def progress_enabled() -> bool:
    """Progress bars show only on a terminal and unless ``AVLIB_PROGRESS=0``."""
    flag = os.environ.get("AVLIB_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress(iterable=None, **tqdm_kwargs):
    """A tqdm progress bar that switches itself off in notebooks run by papermill and in CI."""
    tqdm_kwargs.setdefault("disable", not progress_enabled())
    tqdm_kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **tqdm_kwargs)


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit of the repository holding ``cwd`` (or avlib), or None."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def worker_context():
    """Multiprocessing context for worker pools.

    spawn: fresh workers (forking a process whose thread pools hold locks, e.g. OpenCV's or BLAS's,
    deadlocks). Falls back to fork only when the main module cannot be re-imported (code piped
    through stdin).
    """
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file is not None and not Path(main_file).exists() and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return mp.get_context("spawn")


def worker_init() -> None:
    """Initializer of a worker process: one OpenMP and one OpenCV thread (the pool itself uses the
    cores)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover
        pass
