"""The Jupyter side of a run: which kernel, how papermill starts it (local IPC sockets, a quiet
shutdown, a report at every cell), the environment it gets, and the executed copy's cell tags."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

from jupyter_core.paths import jupyter_runtime_dir

from ..paths import HOME_ENV
from ..utils import BATCHES_ENV, DEVICE_ENV

__all__ = ["PROJECT_KERNEL", "ENGINE", "kernel_python", "default_kernel", "register_engine", "kernel_manager_class",
           "tag_injected_cell", "KernelEnvironment"]

#: Name of the Jupyter kernel ``make kernel`` registers for the project's environment.
PROJECT_KERNEL = "avlib"


def tag_injected_cell(path: Path):
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


def kernel_python(name: str) -> Path | None:
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
        python = kernel_python(PROJECT_KERNEL)
    except Exception:  # noqa: BLE001 - a broken kernel registry must not stop the runner
        return "python3"
    if python is None:
        return "python3"
    try:
        same = Path(python).resolve().parent == Path(sys.executable).resolve().parent
    except OSError:
        same = False
    return PROJECT_KERNEL if same else "python3"


ENGINE = "avlib"


def register_engine():
    """A papermill engine that reports every cell start and starts its kernel through
    :func:`kernel_manager_class` (IPC transport, no SIGINT at shutdown; ``kernel_env``: variables
    of this kernel alone)."""
    from papermill.engines import NBClientEngine, papermill_engines

    if ENGINE in papermill_engines._engines:
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
            kwargs.setdefault("kernel_manager_class", kernel_manager_class(kwargs.pop("kernel_env", None)))
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, _AvlibEngine)


_KM_CLASS = None


def kernel_manager_class(extra_env: dict | None = None):
    """jupyter_client's kernel manager with two changes for unattended runs; with ``extra_env``, a
    subclass whose kernels also get those variables (this kernel's own, unlike ``os.environ``,
    which every kernel started at the same time would share).

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

            @default("ip")
            def _default_ip(self):
                # jupyter_client names IPC sockets "kernel-ipc-<n>" and takes the first free n: two
                # kernels started at the same moment (--jobs) could pick the same sockets and read
                # each other's messages. A prefix of its own per kernel rules that out.
                if self.transport != "ipc":
                    return super()._ip_default()
                folder = Path(jupyter_runtime_dir())
                folder.mkdir(parents=True, exist_ok=True)
                return str(folder / f"avlib-{uuid.uuid4().hex[:12]}-ipc")

            async def _async_interrupt_kernel(self):
                if self.shutting_down:
                    return
                await super()._async_interrupt_kernel()

        _KM_CLASS = RunnerKernelManager
    if not extra_env:
        return _KM_CLASS
    own = {str(k): str(v) for k, v in extra_env.items()}

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = {**(kw.get("env") or os.environ), **own}
        return await _KM_CLASS._async_pre_start_kernel(self, **kw)

    return type("RunnerKernelManagerWithEnv", (_KM_CLASS,), {"_async_pre_start_kernel": _async_pre_start_kernel})


class KernelEnvironment:
    """``AVLIB_HOME`` (unless the caller set one), ``AVLIB_DEVICE`` and ``AVLIB_MAX_BATCHES`` (a dry
    run's training budget; unset otherwise) for the kernels started inside the block."""

    def __init__(self, home: Path, device: str = "auto", max_batches: int | None = None):
        self.home = str(home)
        self.device = device
        self.max_batches = max_batches
        self.set = False
        self.old_device = None
        self.old_batches = None

    def __enter__(self):
        if not os.environ.get(HOME_ENV):
            os.environ[HOME_ENV] = self.home
            self.set = True
        self.old_device = os.environ.get(DEVICE_ENV)
        os.environ[DEVICE_ENV] = self.device
        self.old_batches = os.environ.pop(BATCHES_ENV, None)
        if self.max_batches is not None:
            os.environ[BATCHES_ENV] = str(self.max_batches)
        return self

    def __exit__(self, *exc):
        if self.set:
            os.environ.pop(HOME_ENV, None)
        if self.old_device is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = self.old_device
        os.environ.pop(BATCHES_ENV, None)
        if self.old_batches is not None:
            os.environ[BATCHES_ENV] = self.old_batches
