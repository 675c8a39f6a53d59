"""On-disk feature cache keyed by file identity and extraction parameters.

An entry's key is the SHA-256 of (absolute path, size, modification time in ns, feature
kind, parameters, cache format version, log-mel backend): change the file or a parameter and
the entry is not found. The ``backend`` and ``device`` parameters of the log-mel features
enter the key as one tag (:func:`avlib.features.audio.logmel_backend_tag`: ``"librosa"``,
``"torchaudio:cpu"``, ``"torchaudio:cuda"``), so arrays from the two backends, which agree
only to a tolerance, never mix; the librosa tag leaves the key as it was before backends
existed, so caches written then stay valid. Entries are ``.npy`` files written to a temporary name in the same folder
and renamed with :func:`os.replace` (atomic on POSIX and Windows), so an interrupted run
never leaves a half-written entry under a valid name; a damaged entry is treated as a miss
and removed. Files that cannot be decoded are remembered as small ``.err.json`` entries
so a second run neither decodes them again nor loses the reason.

Layout: ``<cache_dir>/<kind>/<key[:2]>/<key>.npy``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from .audio import logmel_backend_tag

__all__ = ["FeatureCache", "file_key"]

CACHE_VERSION = 1


def file_key(path, kind: str, params: dict) -> str:
    """Hex key of (file identity, kind, params, log-mel backend).

    ``params["backend"]`` and ``params["device"]`` (absent = None) are replaced by their
    backend tag: the same key for every way of asking for librosa (``backend`` None or
    ``"librosa"``, ``device`` None or ``"cpu"``), another for torchaudio on the CPU, another
    for torchaudio on a CUDA device (any index). Raises
    :class:`~avlib.errors.ParameterError` for an unknown backend or device.
    """
    params = dict(params)
    tag = logmel_backend_tag(params.pop("backend", None), params.pop("device", None))
    p = Path(path).resolve()
    st = p.stat()
    fields = {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "kind": kind,
              "params": params, "v": CACHE_VERSION}
    if tag != "librosa":  # librosa keys stay those of the caches written before backends existed
        fields["backend"] = tag
    blob = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureCache:
    """A folder of cached feature arrays.

    Parameters
    ----------
    cache_dir : path
        Usually ``avlib.paths.cache_root(data_root) / "<dataset>"``.
    """

    def __init__(self, cache_dir):
        self.root = Path(cache_dir)

    def _path(self, kind: str, key: str, suffix: str = ".npy") -> Path:
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def get(self, kind: str, key: str, *, mmap: bool = False):
        """The cached array, or None. ``mmap=True`` memory-maps it (read-only)."""
        path = self._path(kind, key)
        if not path.exists():
            return None
        try:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)  # damaged entry: recompute
            return None

    def put(self, kind: str, key: str, array: np.ndarray) -> Path:
        """Store ``array`` atomically; returns its path."""
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp.npy")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def get_error(self, kind: str, key: str) -> str | None:
        """The remembered failure reason for this file and parameters, or None."""
        path = self._path(kind, key, ".err.json")
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())["reason"]
        except (ValueError, KeyError, OSError):
            return None

    def put_error(self, kind: str, key: str, reason: str) -> None:
        path = self._path(kind, key, ".err.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp.json")
        tmp.write_text(json.dumps({"reason": reason}))
        os.replace(tmp, path)

    def clear(self, kind: str | None = None) -> None:
        target = self.root / kind if kind else self.root
        if target.exists():
            shutil.rmtree(target)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"
