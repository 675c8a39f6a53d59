"""One floating-point path on every x86-64 machine, so that the same seed gives the same numbers.

PyTorch, oneDNN, MKL, OpenBLAS and NumPy each pick their kernels by the instruction set of the
CPU they find. On a machine with AVX-512 they take other kernels than on one with AVX2 only, and
the results differ in the last bits: ``numpy.log10`` of a float64 array, one convolution, one
matrix product. One last bit is enough to send a training run elsewhere, and a verdict of the
Claims page that sits near its threshold then changes with the machine.

Importing :mod:`avlib` therefore holds every library to its AVX2 kernels (the ``portable``
path), through the environment variables each library documents:

=========================  ====================  ==============================================
library                    variable              value
=========================  ====================  ==============================================
PyTorch (ATen kernels)     ATEN_CPU_CAPABILITY   ``avx2``
oneDNN (convolutions)      DNNL_MAX_CPU_ISA      ``AVX2``
MKL (torch's BLAS)         MKL_CBWR              ``COMPATIBLE`` (conditional numerical reproducibility)
MKL                        MKL_ENABLE_INSTRUCTIONS ``AVX2``
OpenBLAS (NumPy, SciPy)    OPENBLAS_CORETYPE     ``Haswell`` (its AVX2 kernels)
NumPy (ufunc loops)        NPY_DISABLE_CPU_FEATURES the AVX-512 dispatch targets
=========================  ====================  ==============================================

MKL is the exception to "AVX2": its reproducible AVX2 branch (``MKL_CBWR=AVX2``) holds on Intel CPUs
only; on any other CPU MKL documents that it falls back to its ``AUTO`` branch, and an AMD EPYC on
that branch computed other torch results than an Intel Xeon (``benchmarks/fp_fingerprint.py``).
``COMPATIBLE`` is the branch MKL documents as the same on Intel and non-Intel CPUs (SSE2 code
without the approximate reciprocals). It costs little here: MKL computes torch's matrix products,
a small share of these models' time next to the oneDNN convolutions.

A machine whose CPU has AVX2 then runs the same kernels whether it also has AVX-512 or not. The
thread counts, which also change the order of sums, are fixed by each experiment's
configuration (``torch_threads``). What this does not cover: CPUs without AVX2 and other
architectures (they keep their own kernels, ``native``), a different build of any of these
libraries (the versions are pinned), and GPUs.

The variables are read when each library loads, so they are set when :mod:`avlib` is imported,
before it loads NumPy or PyTorch, and every process started from there (notebook kernels,
workers) inherits them. A variable the user has set is left alone. ``AVLIB_FP_PATH=native``
keeps each library's own choice (faster on some machines, not comparable across machines). The
run manifest records which path was in effect (:func:`in_effect`).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

__all__ = ["FP_PATH_ENV", "PORTABLE", "cpu_flags", "portable_environment", "select_fp_path", "in_effect",
           "add_to_kernel_spec"]

#: ``portable`` (default) or ``native``.
FP_PATH_ENV = "AVLIB_FP_PATH"

#: The portable path: every library held to its AVX2 kernels.
PORTABLE = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",  # the one branch MKL keeps identical on Intel and other CPUs
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    # NumPy's dispatch targets above AVX2 (names of NumPy 2.x and 1.x; unknown names are ignored).
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX "
                                "AVX512_CNL AVX512_ICL AVX512_SPR AVX512FP16",
}

#: CPU flags the portable kernels need (Haswell: AVX2, FMA3).
_NEEDED_FLAGS = ("avx2", "fma")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (or the given text); empty when unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def portable_environment(*, machine: str | None = None, flags: set[str] | None = None) -> dict:
    """The variables of the portable path for this machine, or ``{}`` where it does not apply: a
    CPU that is not x86-64, or one without AVX2 and FMA (it would crash on the AVX2 kernels)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return {}
    flags = cpu_flags() if flags is None else flags
    if not all(f in flags for f in _NEEDED_FLAGS):
        return {}
    return dict(PORTABLE)


def select_fp_path(environ=None, **machine) -> dict:
    """Set the portable path's variables in ``environ`` (default ``os.environ``) unless
    ``AVLIB_FP_PATH=native`` or the machine cannot take it; variables already set are kept.
    Returns the variables this call set."""
    environ = os.environ if environ is None else environ
    choice = str(environ.get(FP_PATH_ENV, "portable")).strip().lower() or "portable"
    if choice == "native":
        return {}
    if choice != "portable":
        raise ValueError(f"{FP_PATH_ENV} is 'portable' or 'native', not {choice!r}")
    added = {k: v for k, v in portable_environment(**machine).items() if k not in environ}
    environ.update(added)
    return added


def in_effect() -> dict:
    """What this process runs on: the path's name (``portable (AVX2)`` when every library is held
    to AVX2, ``native`` otherwise), PyTorch's kernel level, NumPy's highest enabled dispatch target
    (once NumPy is loaded) and OpenBLAS's core type, plus the path's variables as they are set."""
    out = {"fp_path": "native"}
    env = {k: os.environ[k] for k in PORTABLE if k in os.environ}
    out["fp_env"] = env
    try:
        import torch

        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - the record must not fail
        pass
    umath = sys.modules.get("numpy._core._multiarray_umath")  # NumPy 2.x, once loaded
    if umath is not None and hasattr(umath, "__cpu_dispatch__"):
        on = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
        out["numpy_dispatch"] = on[-1] if on else "baseline"
    try:
        from threadpoolctl import threadpool_info

        cores = sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") == "openblas"})
        if cores:
            out["openblas_core"] = ", ".join(cores)
    except Exception:  # noqa: BLE001
        pass
    held = (env == portable_environment() and env != {}
            and str(out.get("torch_cpu_capability", "")).upper() == "AVX2"
            and not str(out.get("numpy_dispatch", "")).startswith(("X86_V4", "AVX512")))
    if held:
        out["fp_path"] = "portable (AVX2)"
    return out


def add_to_kernel_spec(path) -> dict:
    """Write this machine's portable-path variables into the ``env`` of a Jupyter kernel spec
    (``kernel.json``), so that a kernel JupyterLab starts takes the path before its first cell
    loads NumPy. Variables the spec already sets are kept. Returns the variables added."""
    path = Path(path)
    spec = json.loads(path.read_text())
    env = spec.setdefault("env", {})
    added = {k: v for k, v in portable_environment().items() if k not in env}
    env.update(added)
    path.write_text(json.dumps(spec, indent=1) + "\n")
    return added

