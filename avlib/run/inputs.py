"""What a notebook reads, and whether it changed: the real datasets a notebook needs (and why it
cannot run without them), and the fingerprints ``--resume`` compares (notebook, parameters,
library code, data)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..data.real import REAL_DATASETS, REAL_FOLDER, REAL_SOURCES, missing, speech_folder
from ..paths import resolve
from .registry import NotebookEntry

__all__ = ["reads_real_data", "real_folders", "not_run_reason", "code_version", "data_version", "fingerprints"]


def reads_real_data(params: dict) -> bool:
    """Whether a notebook's ``source`` parameter names real data (not the embedded stand-ins)."""
    src = params.get("source")
    return isinstance(src, str) and not src.startswith("embedded")


def real_folders(entry: NotebookEntry, params: dict) -> dict[str, Path]:
    """``{dataset: folder}`` of the real data a notebook reads with ``params``; empty when it reads
    the embedded stand-ins or needs no real data.

    ``source="real"`` / ``"real_youtube8m"``: each dataset of the registry's ``needs`` in
    ``<data_root>/real/<dataset>``. Any other folder is the user's own: for the speech datasets
    (AVletters, Digits, CUAVE) the folder holding them, so ``<source>/<dataset>``
    (:func:`avlib.data.real.speech_folder`); for the video pages a folder in the FCVID layout (key
    ``"source"``).
    """
    if not entry.needs or not reads_real_data(params):
        return {}
    src = params["source"]
    data_root = params.get("data_root", "data")
    if src in REAL_SOURCES or src == "real":
        return {name: resolve(data_root) / REAL_FOLDER / name for name in entry.needs}
    if all(REAL_DATASETS[n].kind == "speech" for n in entry.needs):
        return {name: speech_folder(src, data_root, name) for name in entry.needs}
    return {"source": Path(src).expanduser()}


def not_run_reason(entry: NotebookEntry, params: dict, scale: str) -> str | None:
    """Why ``entry`` cannot run with ``params``, or None when it can.

    At the paper scale a datasheet of the embedded stand-ins does not run (the stand-ins are not
    generated there). A notebook whose ``source`` names real data (``"real"``,
    ``"real_youtube8m"`` or a folder) and whose real datasets (the registry's ``needs``) are not
    there (:func:`avlib.data.real.missing`) does not run either; the others run.
    """
    if scale == "paper" and entry.stand_ins_only:
        return "documents the embedded stand-ins, which the paper scale neither generates nor reads"
    gone = {}
    for name, folder in real_folders(entry, params).items():
        if name == "source":  # a folder given by the user (FCVID layout)
            miss = [] if (folder / "videos.csv").is_file() else [str(folder / "videos.csv")]
        else:
            miss = missing(params.get("data_root", "data"), name, folder)
        if miss:
            gone[name] = miss
    if not gone:
        return None
    return "missing real data: " + "; ".join(f"{n} ({', '.join(m)})" for n, m in gone.items())


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
    _hash_update_tree(h, Path(__file__).resolve().parents[1])
    reg = Path(root) / "notebooks" / "registry.yaml"
    if reg.is_file():
        h.update(reg.read_bytes())
    return h.hexdigest()[:16]


def data_version(entry: NotebookEntry, params: dict, scale: str) -> str:
    """A hash of the data a notebook reads: its real datasets when its ``source`` names real
    data (:func:`real_folders`), else the embedded stand-ins of ``scale`` (file names, sizes,
    generation records)."""
    h = hashlib.sha256()
    folders = real_folders(entry, params)
    for folder in folders.values():
        _hash_update_tree(h, folder)
    if not folders:
        _hash_update_tree(h, resolve(params.get("data_root", "data")) / "embedded" / scale)
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
