"""On-disk feature cache keyed by file content and extraction parameters.

An entry's key is the SHA-256 of (the file's content fingerprint, feature kind, parameters,
cache format version, log-mel backend): change the file or a parameter and the entry is not
found. The fingerprint (:func:`content_fingerprint`) reads the file's size and bytes, never its
path or modification time, so a cache copied to another machine (or a dataset moved to another
folder) is found again. The ``backend`` and ``device`` parameters of the log-mel features
enter the key as one tag (:func:`avlib.features.audio.logmel_backend_tag`: ``"librosa"``,
``"torchaudio:cpu"``, ``"torchaudio:cuda"``), so arrays from the two backends, which agree
only to a tolerance, never mix. Entries are ``.npy`` files written to a temporary name in the same folder
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

__all__ = ["FeatureCache", "file_key", "content_fingerprint"]

CACHE_VERSION = 2

#: Bytes read from each end of a large file by :func:`content_fingerprint`.
FINGERPRINT_CHUNK = 1 << 20


def content_fingerprint(path) -> str:
    """SHA-256 of a file's size and content: all of it up to 3 MiB, else its first, middle and
    last MiB (a media file differs in those whenever it differs at all in practice, and a
    100 GB dataset is fingerprinted without reading it whole). Independent of the path and of
    the modification time."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(f"{size}:".encode())
    with open(p, "rb") as fh:
        if size <= 3 * FINGERPRINT_CHUNK:
            h.update(fh.read())
        else:
            for start in (0, (size - FINGERPRINT_CHUNK) // 2, size - FINGERPRINT_CHUNK):
                fh.seek(start)
                h.update(fh.read(FINGERPRINT_CHUNK))
    return h.hexdigest()


def file_key(path, kind: str, params: dict) -> str:
    """Hex key of (file content, kind, params, log-mel backend).

    ``params["backend"]`` and ``params["device"]`` (absent = None) are replaced by their
    backend tag: the same key for every way of asking for librosa (``backend`` None or
    ``"librosa"``, ``device`` None or ``"cpu"``), another for torchaudio on the CPU, another
    for torchaudio on a CUDA device (any index). Raises
    :class:`~avlib.errors.ParameterError` for an unknown backend or device.
    """
    params = dict(params)
    tag = logmel_backend_tag(params.pop("backend", None), params.pop("device", None))
    fields = {"content": content_fingerprint(path), "kind": kind, "params": params, "v": CACHE_VERSION}
    if tag != "librosa":  # the default backend adds nothing to the key
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

    def _get_text(self, kind: str, key: str, suffix: str, field: str) -> str | None:
        """``field`` of the small JSON record ``suffix`` beside an entry, or None."""
        path = self._path(kind, key, suffix)
        try:
            return json.loads(path.read_text())[field] if path.exists() else None
        except (ValueError, KeyError, OSError):
            return None

    def _put_text(self, kind: str, key: str, suffix: str, field: str, text: str) -> None:
        """Write the small JSON record ``suffix`` beside an entry atomically."""
        path = self._path(kind, key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp{suffix}")
        tmp.write_text(json.dumps({field: text}))
        os.replace(tmp, path)

    def get_error(self, kind: str, key: str) -> str | None:
        """The remembered failure reason for this file and parameters, or None."""
        return self._get_text(kind, key, ".err.json", "reason")

    def put_error(self, kind: str, key: str, reason: str) -> None:
        self._put_text(kind, key, ".err.json", "reason", reason)

    def get_note(self, kind: str, key: str) -> str | None:
        """The note stored with an entry (e.g. ``"silent track"``), or None."""
        return self._get_text(kind, key, ".note.json", "note")

    def put_note(self, kind: str, key: str, note: str) -> None:
        """Keep a note with an entry (written before the entry, so a found entry has its note)."""
        self._put_text(kind, key, ".note.json", "note", note)

    def clear(self, kind: str | None = None) -> None:
        target = self.root / kind if kind else self.root
        if target.exists():
            shutil.rmtree(target)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"
