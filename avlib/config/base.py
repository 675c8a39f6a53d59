"""One way to configure an experiment: a frozen, nested dataclass per paper.

Every experiment of the book is described by one configuration object (``ICMRConfig``,
``ISMIRConfig``, ``XFlowConfig``). Its defaults are the paper's settings; a *scale* (``smoke``,
``cpu``, ``paper``) is a set of dotted overrides of those defaults kept next to the class
(``SCALES``), and a reader's changes are more dotted overrides::

    cfg = ICMRConfig.for_scale("cpu").with_overrides({"audio.epochs": 3})

OmegaConf's structured configs do the merging and the validation: an unknown key is an error
that names the key (and the nearest valid one), and a value of the wrong type is an error
too. ``cfg.to_json()`` is stored next to every result, and ``cfg.key("audio", "data")`` is a
short hash of the named parts, so a stored run is reused only by a configuration that would
produce it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import ParameterError

__all__ = ["Config", "nest_dotted", "flatten"]


def nest_dotted(overrides: Mapping[str, Any] | None) -> dict:
    """``{"audio.epochs": 3, "fusion": {"lr": 1e-3}}`` -> ``{"audio": {"epochs": 3}, "fusion": {"lr": 1e-3}}``.

    Dotted keys and nested mappings may be mixed; a key given twice is an error.
    """
    out: dict = {}
    for key, value in (overrides or {}).items():
        if not isinstance(key, str) or not key:
            raise ParameterError(f"configuration keys are non-empty strings, not {key!r}")
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ParameterError(f"configuration key {key!r} is given twice")
        leaf = parts[-1]
        if isinstance(value, Mapping):
            value = nest_dotted(value)
            if isinstance(node.get(leaf), dict):
                _merge_into(node[leaf], value, key)
                continue
        if leaf in node:
            raise ParameterError(f"configuration key {key!r} is given twice")
        node[leaf] = value
    return out


def _merge_into(dst: dict, src: dict, where: str) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge_into(dst[k], v, f"{where}.{k}")
        elif k in dst:
            raise ParameterError(f"configuration key {where}.{k!r} is given twice")
        else:
            dst[k] = v


def flatten(tree: Mapping, prefix: str = "") -> dict:
    """A nested mapping as ``{"a.b.c": value}`` (the inverse of :func:`nest_dotted`)."""
    out = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


def _tuplify(value):
    """Lists (as OmegaConf returns sequences) to tuples, all the way down, so configurations are
    hashable and compare equal however they were built."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuplify(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _tuplify(getattr(value, f.name))
                                             for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {k: _tuplify(v) for k, v in value.items()}
    return value


def _plain(value):
    """A configuration value as JSON-ready data (tuples as lists, nested dataclasses as dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class Config:
    """Methods shared by the experiment configurations (frozen dataclasses).

    A subclass is a ``@dataclass(frozen=True)`` whose fields are plain values or nested frozen
    dataclasses, with the paper's settings as defaults, and sets ``SCALES``: for each scale
    the dotted overrides of those defaults (``{"paper": {}, "cpu": {"audio.epochs": 4}}``).
    ``NOTES`` may give, per scale, a sentence or two on why the scale departs from the paper:
    one text, or ``{topic: text}`` with ``""`` for what every page says, so that a page shows
    only its own part (:meth:`note`).
    """

    SCALES: ClassVar[Mapping[str, Mapping[str, Any]]] = {"paper": {}}
    NOTES: ClassVar[Mapping[str, Any]] = {}
    #: Dotted overrides of a dry run (``python -m avlib.run --scale paper --dry-run``): only how much
    #: is trained (seeds, folds, epochs, batch sizes, rows of a grid, analysis counts) changes; models, input sizes,
    #: frame counts, optimisers and schedules stay the paper's. The runner also caps every
    #: training at two batches per epoch (``$AVLIB_MAX_BATCHES``).
    DRY_RUN: ClassVar[Mapping[str, Any]] = {}
    #: The top-level names and sections a dry run may change (checked by the tests).
    DRY_RUN_BUDGET: ClassVar[tuple] = ("seeds", "workers", "torch_threads", "epochs", "batch", "batch_size", "runs",
                                       "max_folds", "images_per_class", "per_category", "categories", "grid")

    @classmethod
    def for_dry_run(cls, scale: str = "paper"):
        """The configuration of ``scale`` with :attr:`DRY_RUN` applied."""
        return cls.for_scale(scale).with_overrides(dict(cls.DRY_RUN))

    # ------------------------------------------------------------------ building
    @classmethod
    def scales(cls) -> list[str]:
        """The scales this configuration knows."""
        return list(cls.SCALES)

    @classmethod
    def for_scale(cls, scale: str):
        """The configuration of ``scale``: the paper's defaults with the scale's overrides."""
        if scale not in cls.SCALES:
            raise ParameterError(f"unknown scale {scale!r} for {cls.__name__}; valid: {', '.join(cls.SCALES)}")
        cfg = cls()
        overrides = dict(cls.SCALES[scale])
        if any(f.name == "scale" for f in dataclasses.fields(cls)):
            overrides.setdefault("scale", scale)
        return cfg.with_overrides(overrides)

    def with_overrides(self, overrides: Mapping[str, Any] | None = None):
        """A copy with ``overrides`` applied (dotted keys or nested mappings).

        Unknown keys and values of the wrong type raise :class:`~avlib.errors.ParameterError`
        naming the key; nothing is changed in place.
        """
        nested = nest_dotted(overrides)
        if not nested:
            return self
        base = OmegaConf.structured(self)
        try:
            merged = OmegaConf.merge(base, nested)
            obj = OmegaConf.to_object(merged)
        except OmegaConfBaseException as e:
            first = str(e).splitlines()[0]
            key = getattr(e, "full_key", None)
            where = f" (key {key!r})" if key else ""
            raise ParameterError(f"{type(self).__name__}: {first}{where}") from None
        return _tuplify(obj)

    # ------------------------------------------------------------------ reading
    def get(self, dotted: str):
        """The value at a dotted path (``cfg.get("audio.epochs")``)."""
        node = self
        for part in dotted.split("."):
            if not (dataclasses.is_dataclass(node) and any(f.name == part for f in dataclasses.fields(node))):
                raise ParameterError(f"{type(self).__name__} has no key {dotted!r}")
            node = getattr(node, part)
        return node

    def to_dict(self) -> dict:
        """The whole configuration as nested plain data (lists for sequences)."""
        return _plain(self)

    def to_json(self, **kwargs) -> str:
        """The configuration as JSON with sorted keys (stored next to every result)."""
        return json.dumps(self.to_dict(), sort_keys=True, **({"indent": 1} | kwargs))

    def key(self, *parts: str) -> str:
        """A 10-character hash of the named dotted parts (all of the configuration when none).

        A stage passes the parts its result depends on, so a stored result is found again by
        exactly the configurations that would produce it."""
        data = self.to_dict() if not parts else {p: _plain(self.get(p)) for p in parts}
        return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:10]

    def changes(self, reference=None) -> dict:
        """The dotted keys whose values differ from ``reference`` (default: the paper's
        settings), as ``{key: (reference value, this value)}``."""
        ref = reference if reference is not None else type(self)()
        mine, theirs = flatten(self.to_dict()), flatten(ref.to_dict())
        return {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}

    def note(self, topics=None) -> str:
        """Why this configuration's scale departs from the paper (``NOTES``), or "".

        When the scale's note is split by topic, ``topics`` (a sequence of names) keeps the
        general part and those topics, in the note's order; None keeps every topic. A
        topic the note does not have adds nothing (a page may read settings the scale leaves
        as the paper's).
        """
        scale = getattr(self, "scale", None)
        note = self.NOTES.get(scale, "") if scale else ""
        if isinstance(note, str):
            return note
        if isinstance(topics, str):
            raise ParameterError(f"topics is a sequence of names, e.g. ({topics!r},), not a string")
        wanted = None if topics is None else {""} | set(topics)
        return " ".join(text for topic, text in note.items() if wanted is None or topic in wanted)
