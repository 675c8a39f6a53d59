"""Stored runs of the ICMR 2017 experiments: features, probabilities and weights per run.

Every trained model of Tables 2-4 leaves an entry in a :class:`FeatureStore`, one store per
(source, scale, training seed, benchmark generation) under
``cache_root(data_root)/icmr/<source>/<scale>/seed<seed><generation tag>``:
``<tag>.npz`` with ``ids``, ``split``, ``labels``, ``features`` (audio ``(n, 1024)``, frames
``(n, k, 2048)``), ``probs`` (video-level class probabilities) and a JSON ``meta``, plus
``<tag>.pt`` for the weights a later page needs. An entry is reused only when its ``key``
(a hash of the configuration parts the run depends on, :meth:`avlib.config.Config.key`)
matches. While a run trains, :meth:`FeatureStore.checkpoint_dir` holds its per-epoch checkpoint
(:func:`avlib.train.loop.fit`), so an interrupted run resumes where it stopped; the folder is
removed once the run is stored (:meth:`FeatureStore.finish`). The fusion page, the YouTube-8M page and the ISMIR chapter read these entries.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import DataError
from ...paths import cache_root, embedded_root
from .data import EMBEDDED_NAMES

__all__ = [
    "CHECK_SUB",
    "FeatureStore",
    "generation_tag",
    "seed_store",
    "audio_tag",
    "visual_tag",
    "frozen_cache_dir",
    "stored_test_probs",
]

#: Sub-folder of a seed's store that holds the convergence check's shorter runs, so that they
#: never replace the full-length runs the other pages read.
CHECK_SUB = "check"


def generation_tag(data_root, scale: str, source: str) -> str:
    """``-<hash>`` of an embedded benchmark's generation parameters ("" for real data or none yet).

    Keeps the runs of a regenerated benchmark (other generator version, size or seed) apart
    from the old ones, so that they are never silently reused.
    """
    if source not in EMBEDDED_NAMES:
        return ""
    marker = embedded_root(data_root, scale, EMBEDDED_NAMES[source]) / "generation.json"
    try:
        params = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    params = {k: v for k, v in params.items() if k not in ("seconds", "n_jobs", "n_videos")}
    return "-" + hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


class FeatureStore:
    """Exported features and video-level probabilities of the ICMR runs, one folder.

    ``store.save(tag, ...)`` / ``store.load(tag, key=...)``: an ``.npz`` per run; a ``key`` that
    differs from the stored one counts as missing. Model weights go in ``<tag>.pt``
    (:meth:`save_model`, :meth:`load_model`).
    """

    def __init__(self, root):
        self.root = Path(root)

    @classmethod
    def for_run(cls, data_root, *, scale: str, seed: int, source: str = "embedded") -> "FeatureStore":
        """The store of one training seed on one benchmark (see the module's docstring)."""
        src = source if source in EMBEDDED_NAMES else hashlib.sha1(str(source).encode()).hexdigest()[:8]
        tag = generation_tag(data_root, scale, source)
        return cls(Path(cache_root(data_root)) / "icmr" / src / scale / f"seed{seed}{tag}")

    def path(self, tag: str) -> Path:
        return self.root / f"{tag}.npz"

    def checkpoint_dir(self, tag: str, key: str) -> Path:
        """The checkpoint folder of run ``tag`` with configuration ``key`` (one per key, so a
        changed setting never resumes another run's checkpoint)."""
        return self.root / "checkpoints" / f"{tag}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"

    def finish(self, tag: str, key: str) -> None:
        """Remove the checkpoint folder of a run that is now stored."""
        shutil.rmtree(self.checkpoint_dir(tag, key), ignore_errors=True)

    def save(self, tag: str, *, key: str, ids, split, labels, features, probs, meta: dict | None = None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(tag)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=np.asarray(ids, dtype=str), split=np.asarray(split, dtype=str),
                 labels=np.asarray(labels), features=np.asarray(features, dtype=np.float32),
                 probs=np.asarray(probs, dtype=np.float32),
                 meta=json.dumps({"key": key, **(meta or {})}, default=str))
        tmp.replace(path)
        return path

    def load(self, tag: str, *, key: str | None = None) -> dict | None:
        path = self.path(tag)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
        out["meta"] = json.loads(str(out["meta"]))
        if key is not None and out["meta"].get("key") != key:
            return None
        return out

    def save_model(self, tag: str, model: nn.Module, *, key: str, extra: dict | None = None) -> None:
        self.save_state(tag, {"state": model.state_dict(), "key": key, **(extra or {})})

    def save_state(self, tag: str, state: dict) -> None:
        """Store ``state`` (a dict with at least ``state`` and ``key``) as ``<tag>.pt``."""
        self.root.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.root / f"{tag}.pt")

    def load_model(self, tag: str, *, key: str | None = None) -> dict | None:
        path = self.root / f"{tag}.pt"
        if not path.is_file():
            return None
        state = torch.load(path, map_location="cpu", weights_only=False)
        return state if key is None or state.get("key") == key else None


def seed_store(data_root, scale: str, seed: int, source: str, sub: str = "") -> FeatureStore:
    """The store of training seed ``seed``; ``sub`` names a folder inside it (:data:`CHECK_SUB`)."""
    store = FeatureStore.for_run(data_root, scale=scale, seed=seed, source=source)
    return FeatureStore(store.root / sub) if sub else store


def audio_tag(name: str, crop: str) -> str:
    """Store tag of the audio run of network ``name`` with ``crop`` (Table 3)."""
    return f"audio_{name}_{crop.upper()}"


def visual_tag(k: int, pretrained: bool) -> str:
    """Store tag of the frame-model run with ``k`` frames per training video (Table 2)."""
    return f"visual_k{k}_{'pt' if pretrained else 'scratch'}"


def frozen_cache_dir(store: FeatureStore) -> Path:
    """The folder of the shared frozen backbones beside the per-seed stores (same generation
    tag); a seed's :data:`CHECK_SUB` folder shares its seed's backbones."""
    root = store.root.parent if store.root.name == CHECK_SUB else store.root
    name = root.name
    gen = name[name.index("-"):] if "-" in name else ""
    return root.parent / f"frozen_backbone{gen}"


def stored_test_probs(store: FeatureStore, tag: str, test_ids) -> np.ndarray:
    """Stored probabilities of run ``tag`` in the order of ``test_ids`` (NaN rows where absent)."""
    r = store.load(tag)
    if r is None:
        raise DataError(f"{store.root} holds no run {tag}")
    pos = {str(v): i for i, v in enumerate(r["ids"])}
    C = r["probs"].shape[1]
    return np.stack([r["probs"][pos[v]] if v in pos else np.full(C, np.nan) for v in test_ids])
