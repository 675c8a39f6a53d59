"""The notebook registry (``notebooks/registry.yaml``) and the parameters each notebook gets.

A notebook's parameters are its registry preset for the scale, then the ``-p`` overrides; every
name is checked against the notebook's parameters cell, and a ``config`` parameter (dotted
overrides) against the configuration class the registry names, before anything executes.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..data.real import REAL_DATASETS
from ..errors import ParameterError
from ..paths import SCALES, check_scale, repo_root

__all__ = ["ALWAYS_INJECTED", "NotebookEntry", "Registry", "load_registry", "notebook_parameters", "parse_override",
           "collect_overrides", "resolve_parameters", "plan", "check_config"]

ALWAYS_INJECTED = ("scale", "data_root", "results_root")


@dataclass
class NotebookEntry:
    """One notebook of the registry."""

    name: str
    path: Path
    title: str
    part: str
    presets: dict = field(default_factory=dict)
    config: str | None = None  # "module.Class" of the notebook's configuration (its `config` parameter)
    needs: tuple = ()  # the real datasets (avlib.data.real) it reads when its `source` names real data
    stand_ins_only: bool = False  # documents the embedded stand-ins: not run at the paper scale
    dry_run: dict = field(default_factory=dict)  # parameters of a dry run (avlib.run.dryrun), no config class
    after: tuple | None = None  # what it waits for with --jobs > 1 (None: every notebook before it)


@dataclass
class Registry:
    """All notebooks in execution order, plus the parts of the book."""

    notebooks: list
    parts: dict
    root: Path

    def names(self) -> list[str]:
        return [e.name for e in self.notebooks]

    def get(self, name: str) -> NotebookEntry:
        for entry in self.notebooks:
            if entry.name == name:
                return entry
        raise ParameterError(f"unknown notebook {name!r}; valid names: {', '.join(self.names())}")


def load_registry(path=None) -> Registry:
    """Read ``notebooks/registry.yaml`` (or ``path``)."""
    path = Path(path) if path else repo_root() / "notebooks" / "registry.yaml"
    raw = yaml.safe_load(path.read_text())
    root = path.parent.parent
    entries = []
    for item in raw["notebooks"]:
        presets = item.get("presets") or {}
        unknown = set(presets) - set(SCALES)
        if unknown:
            raise ParameterError(f"{path}: notebook {item['name']!r} has unknown scale(s) {sorted(unknown)}; "
                                 f"valid scales: {', '.join(SCALES)}")
        needs = tuple(item.get("needs") or ())
        bad = [n for n in needs if n not in REAL_DATASETS]
        if bad:
            raise ParameterError(f"{path}: notebook {item['name']!r} needs unknown real dataset(s) {bad}; "
                                 f"valid: {', '.join(REAL_DATASETS)}")
        after = item.get("after")
        if after is not None:
            earlier = [e.name for e in entries]
            bad = [n for n in after if n not in earlier]
            if bad:
                raise ParameterError(f"{path}: notebook {item['name']!r} comes after {bad}, which are not "
                                     f"earlier notebooks of the registry")
            after = tuple(after)
        entries.append(NotebookEntry(name=item["name"], path=root / item["path"], title=item["title"],
                                     part=item["part"], presets=presets, config=item.get("config"), needs=needs,
                                     stand_ins_only=bool(item.get("stand_ins_only", False)),
                                     dry_run=dict(item.get("dry_run") or {}), after=after))
    return Registry(notebooks=entries, parts=raw.get("parts", {}), root=root)


def notebook_parameters(path: Path) -> dict:
    """Names and defaults (source text) of the cell tagged ``parameters`` of a notebook.

    The cell is read as Python (top-level assignments), so a comment holding ``=`` or a value
    spread over several lines is understood; papermill's own line-based reader is the fallback
    for a cell that does not parse.
    """

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])),
                None)
    if cell is None:
        return {}
    source = cell.source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        import papermill as pm

        return {name: info["default"] for name, info in pm.inspect_notebook(str(path)).items()}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = ast.get_source_segment(source, value)
    return out


def parse_override(text: str) -> tuple[str, object]:
    """``"key=value"`` -> (key, value), the value read as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ParameterError(f"bad parameter {text!r}; expected key=value")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def collect_overrides(texts) -> dict:
    """The ``-p`` values as one mapping. ``config.<dotted key>=value`` entries are gathered into
    the ``config`` parameter (``-p config.audio.epochs=3`` is ``config={"audio.epochs": 3}``), merged
    with a ``-p config={...}`` given as well; a key given twice is an error."""
    out: dict = {}
    config: dict = {}
    for text in texts:
        key, value = parse_override(text)
        if key.startswith("config."):
            dotted = key[len("config."):]
            if not dotted or dotted in config:
                raise ParameterError(f"bad or repeated configuration key {key!r}")
            config[dotted] = value
        elif key in out:
            raise ParameterError(f"parameter {key!r} is given twice")
        else:
            out[key] = value
    if config:
        given = out.get("config") or {}
        if not isinstance(given, dict):
            raise ParameterError(f"config must be a mapping of dotted keys, not {given!r}")
        twice = sorted(set(given) & set(config))
        if twice:
            raise ParameterError(f"configuration key(s) {twice} given twice")
        out["config"] = {**given, **config}
    return out


def resolve_parameters(entry: NotebookEntry, scale: str, overrides: dict, *, data_root: str,
                       results_root: str, known: dict | None = None) -> dict:
    """Parameters injected into one notebook: preset of ``scale`` + overrides; names checked.

    ``overrides`` may name parameters that only some notebooks have; a name no selected notebook
    knows is rejected by :func:`run` before anything executes.
    """
    check_scale(scale)
    known = notebook_parameters(entry.path) if known is None else known
    params = {"scale": scale, "data_root": data_root, "results_root": results_root}
    preset = dict(entry.presets.get(scale) or {})
    bad = [k for k in preset if k not in known]
    bad_dry = [k for k in entry.dry_run if k not in known]
    if bad_dry:
        raise ParameterError(f"registry dry_run of {entry.name!r} sets unknown parameter(s) {bad_dry}; "
                             f"the notebook's parameters: {', '.join(sorted(known))}")
    if bad:
        raise ParameterError(f"registry preset {scale!r} of {entry.name!r} sets unknown parameter(s) {bad}; "
                             f"the notebook's parameters: {', '.join(sorted(known))}")
    params.update(preset)
    params.update({k: v for k, v in overrides.items() if k in known})
    return {k: v for k, v in params.items() if k in known}


def plan(*, scale: str = "cpu", only: list[str] | None = None, overrides: dict | None = None,
         data_root: str = "data", results_root: str = "results", registry: Registry | None = None) -> list:
    """``[(entry, parameters)]`` of the notebooks :func:`run` would execute, every name checked.

    Raises :class:`ParameterError` for an unknown scale, notebook or parameter (a parameter must
    be in the parameters cell of at least one selected notebook).
    """
    check_scale(scale)
    registry = registry or load_registry()
    overrides = dict(overrides or {})
    selected = [registry.get(n) for n in only] if only else list(registry.notebooks)
    known = {e.name: notebook_parameters(e.path) for e in selected}
    all_known = set().union(*known.values()) if known else set()
    unknown = [k for k in overrides if k not in all_known]
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} for the selected notebook(s); valid: "
                             f"{', '.join(sorted(all_known))}")
    plans = [(e, resolve_parameters(e, scale, overrides, data_root=data_root, results_root=results_root,
                                    known=known[e.name])) for e in selected]
    for entry, params in plans:
        check_config(entry, scale, params.get("config"))
    return plans


def check_config(entry: NotebookEntry, scale: str, config) -> None:
    """Check the ``config`` parameter (dotted overrides) of a notebook whose registry entry names
    its configuration class: unknown keys and wrong types are errors before anything runs."""
    if not entry.config or not config:
        return
    if not isinstance(config, dict):
        raise ParameterError(f"{entry.name}: config must be a mapping of dotted keys, e.g. "
                             f"'{{\"audio.epochs\": 2}}', not {config!r}")

    module, _, name = entry.config.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ParameterError(f"registry entry {entry.name!r} names config class {entry.config!r}, "
                             f"which cannot be imported ({exc})") from None
    try:
        base = cls.for_scale(scale) if scale in getattr(cls, "SCALES", {scale: {}}) else cls()
        base.with_overrides(config)
    except ParameterError as exc:
        raise ParameterError(f"{entry.name}: {exc}") from None
