"""The experiment runner: execute the book's notebooks with papermill at a scale preset.

Usage::

    python -m avlib.run --scale cpu                 # every notebook, the main job
    python -m avlib.run --scale smoke --only xflow_params -p seed=1
    python -m avlib.run --only icmr_audio -p seeds=[0] --plan   # check names, show what would run
    python -m avlib.run --scale paper --dry-run     # the paper settings on tiny stand-ins, on a CPU
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

The package: :mod:`~avlib.run.registry` (notebooks, parameters, checks),
:mod:`~avlib.run.inputs` (real data a notebook needs, fingerprints for ``--resume``),
:mod:`~avlib.run.kernel` (kernel and papermill engine), :mod:`~avlib.run.progress`,
:mod:`~avlib.run.manifest` (run records and machine facts), :mod:`~avlib.run.runner` (the run
itself) and :mod:`~avlib.run.cli` (the command line).
"""

from .cli import main
from .inputs import code_version, data_version, fingerprints, not_run_reason, real_folders
from .kernel import PROJECT_KERNEL, default_kernel
from .manifest import describe_device, describe_numerics
from .progress import failure_block, progress_wanted
from .registry import (NotebookEntry, Registry, check_config, collect_overrides, load_registry, notebook_parameters,
                       parse_override, plan, resolve_parameters)
from .runner import dependencies, run, run_side_by_side

__all__ = ["Registry", "NotebookEntry", "load_registry", "notebook_parameters", "parse_override", "collect_overrides",
           "resolve_parameters", "plan", "check_config", "default_kernel", "run", "run_side_by_side", "dependencies", "main",
           "PROJECT_KERNEL",
           "not_run_reason", "real_folders", "code_version", "data_version", "fingerprints", "describe_device",
           "describe_numerics", "progress_wanted", "failure_block"]
