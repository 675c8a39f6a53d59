"""The shape of the library's imports, checked statically with :mod:`ast` over every module.

(a) The import graph between avlib modules has no cycles: layers import downwards only.
(b) No private name (one leading underscore, not a dunder) crosses a module boundary: it is
    neither imported from another avlib module nor read as an attribute of an imported one;
    a private *module* (``models/_contract.py``) is imported only from inside its own package.
(c) Imports sit at the top of a module, not inside a function or method, except the optional
    or heavy third-party packages of :data:`LAZY_OK`.

Every check returns all its offenders as ``"path:line: what"`` lines, so a failure lists them
all; the ``planted_*`` tests write tiny fake packages to show that each check can fail.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AVLIB = Path(__file__).resolve().parents[1] / "avlib"

#: Third-party packages that may be imported inside a function, each for a stated reason: it
#: takes a second or more to import (so a module that needs it in one function does not make
#: ``import avlib.x`` slow for every caller), it is a native library only some readers need, or
#: it belongs to the ``book`` extra that a plain library install lacks. Every other import,
#: avlib's own included, sits at the top of its module.
LAZY_OK = frozenset({
    "torch", "torchvision", "torchaudio",  # ~2.5 s; a CPU-only reader of tables never needs them
    "pytorch_grad_cam",                    # ~7 s (pulls in torch, cv2, ...)
    "sklearn", "scipy",                    # ~1.5 s; submodules (scipy.stats) load on demand
    "librosa",                             # numba-compiled feature code, first call only
    "matplotlib", "seaborn",               # ~1-4 s; only the plotting functions need them
    "av", "h5py",                          # native media / HDF5 libraries: real-data readers only
    "cv2",                                 # comes with grad-cam, not a declared dependency; worker
                                           # processes set their thread count before loading it
    "IPython", "papermill", "nbformat",    # the ``book`` extra, absent from a library install
    "jupyter_client", "traitlets",         # the ``book`` extra: kernel machinery of the runner only
    "threadpoolctl",                       # comes with scikit-learn; names the loaded BLAS's kernels
})


# --------------------------------------------------------------------------- parsing


@dataclass
class Module:
    """One source file of the package."""

    name: str  # dotted, e.g. "avlib.data.speech" for avlib/data/speech/__init__.py
    path: Path  # relative to the folder holding the package, e.g. avlib/data/speech/__init__.py
    is_package: bool
    tree: ast.Module = field(repr=False)

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class ImportRef:
    """One avlib module named by an import statement."""

    source: str  # importing module
    target: str  # imported module
    line: int
    inner: bool  # inside a function or method
    type_checking: bool  # under ``if TYPE_CHECKING:`` (never executed)


def load_modules(root: Path) -> dict[str, Module]:
    """Every ``*.py`` under the package directory ``root``, by dotted name."""
    root = Path(root)
    mods = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        mods[name] = Module(name, path.relative_to(root.parent), is_package, tree)
    return mods


def _where(mod: Module, line: int) -> str:
    return f"{mod.path.as_posix()}:{line}"


def _resolve_from(mod: Module, node: ast.ImportFrom) -> str | None:
    """The absolute module of ``from <module> import ...`` (``None`` if it leaves the tree)."""
    if node.level == 0:
        return node.module
    base = mod.package.split(".")
    if node.level - 1 >= len(base):
        return None
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_imports(tree: ast.AST):
    """``(node, inner, type_checking)`` for every import statement, in source order."""

    def visit(node, inner, tc):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, inner, tc
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, True, tc)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), inner, True)
                for stmt in child.orelse:
                    yield from visit(ast.Module(body=[stmt], type_ignores=[]), inner, tc)
            else:
                yield from visit(child, inner, tc)

    yield from visit(tree, False, False)


def import_refs(mods: dict[str, Module]) -> list[ImportRef]:
    """Every import of an avlib module by an avlib module.

    ``import a.b.c`` and ``from a.b import c`` (``c`` a module) name ``a.b.c``;
    ``from .x import y`` names module ``x`` (its ``__init__`` when ``x`` is a package) and also
    ``x.y`` when ``y`` is a submodule. ``from . import y`` names only the submodule ``y`` when
    there is one (the importing module's own package is already being imported). Each import
    also names the packages above its target that do not hold the importing module.
    """
    refs = []
    for mod in mods.values():
        for node, inner, tc in _walk_imports(mod.tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name in mods]
            else:
                base = _resolve_from(mod, node)
                if base is None or base not in mods:
                    continue
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                own_package = node.level > 0 and base == mod.package
                if not (own_package and len(subs) == len(node.names)):
                    targets.append(base)
                targets += subs
            for t in dict.fromkeys(targets + [a for t in targets for a in _outer_packages(t, mod.name)]):
                if t != mod.name:
                    refs.append(ImportRef(mod.name, t, node.lineno, inner, tc))
    return refs


def _outer_packages(target: str, importer: str) -> list[str]:
    """The packages Python initialises before ``target``, other than those holding ``importer``
    (those are already being imported): importing ``avlib.data.fcvid`` from ``avlib.train.icmr``
    runs ``avlib/data/__init__.py`` too."""
    parts = target.split(".")
    out = []
    for i in range(1, len(parts)):
        pkg = ".".join(parts[:i])
        if not (importer == pkg or importer.startswith(pkg + ".")):
            out.append(pkg)
    return out


# --------------------------------------------------------------------------- (a) cycles


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components, each a sorted list of modules."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    comps.append(sorted(comp))
    return comps


def _one_cycle(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``comp`` (breadth-first search)."""
    start = min(comp)
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & comp):
                if nxt == start:
                    path = [node]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return [start] + path[::-1][1:] + [start]
                if nxt not in prev:
                    prev[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return [start]


def check_cycles(mods: dict[str, Module]) -> list[str]:
    """One block per import cycle: the modules, one cycle through them, and every import
    statement inside the cycle (imports under ``if TYPE_CHECKING:`` do not count; imports inside
    functions do, and are marked)."""
    refs = [r for r in import_refs(mods) if not r.type_checking]
    graph = {m: set() for m in mods}
    for r in refs:
        graph[r.source].add(r.target)
    problems = []
    for comp in _strongly_connected(graph):
        members = set(comp)
        if len(comp) == 1:
            continue
        cycle = " -> ".join(_one_cycle(graph, members))
        edges = sorted({(r.source, r.line, r.target, r.inner) for r in refs
                        if r.source in members and r.target in members})
        lines = [f"{_where(mods[s], ln)}: imports {t}{' (inside a function)' if inner else ''}"
                 for s, ln, t, inner in edges]
        problems.append(f"cycle among {len(comp)} modules: {cycle}\n    " + "\n    ".join(lines))
    return problems


# --------------------------------------------------------------------------- (b) private names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_module_outside(target: str, importer: Module) -> bool:
    """``target`` has a private component whose package does not contain ``importer``."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            owner = ".".join(parts[:i])
            if not (importer.name == owner or importer.name.startswith(owner + ".")):
                return True
    return False


def check_private(mods: dict[str, Module]) -> list[str]:
    """Private names imported from, or read off, another avlib module."""
    problems = []
    for mod in mods.values():
        bound: dict[str, str] = {}  # local name -> avlib module it refers to
        for node, _inner, _tc in _walk_imports(mod.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        if _private_module_outside(a.name, mod):
                            problems.append(f"{_where(mod, node.lineno)}: imports private module {a.name}")
                        if a.asname:
                            bound[a.asname] = a.name
                        else:
                            top = a.name.split(".")[0]
                            bound[top] = top
                continue
            base = _resolve_from(mod, node)
            if base is None or base not in mods:
                continue
            if base != mod.name and _private_module_outside(base, mod):
                problems.append(f"{_where(mod, node.lineno)}: imports from private module {base}")
            for a in node.names:
                full = f"{base}.{a.name}"
                if full in mods:
                    if _private_module_outside(full, mod):
                        problems.append(f"{_where(mod, node.lineno)}: imports private module {full}")
                    bound[a.asname or a.name] = full
                elif _private(a.name):
                    problems.append(f"{_where(mod, node.lineno)}: imports private name {a.name} from {base}")
        if not bound:
            continue
        for node in ast.walk(mod.tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain, cur = [], node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if not isinstance(cur, ast.Name) or cur.id not in bound:
                continue
            target = bound[cur.id]
            for attr in reversed(chain):  # follow submodules, stop at the first non-module
                if _private(attr) and not (f"{target}.{attr}" in mods
                                           and not _private_module_outside(f"{target}.{attr}", mod)):
                    problems.append(f"{_where(mod, node.lineno)}: reads private {target}.{attr}")
                    break
                if f"{target}.{attr}" not in mods:
                    break
                target = f"{target}.{attr}"
    return sorted(set(problems), key=lambda p: (p.split(":")[0], int(p.split(":")[1])))


# --------------------------------------------------------------------------- (c) inner imports


def check_inner_imports(mods: dict[str, Module], allowed=LAZY_OK) -> list[str]:
    """Import statements inside a function or method, other than of :data:`LAZY_OK` packages."""
    problems = []
    for mod in mods.values():
        for node, inner, _tc in _walk_imports(mod.tree):
            if not inner:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                bad = [n for n in names if n.split(".")[0] not in allowed]
            else:
                target = _resolve_from(mod, node) if node.level else node.module
                bad = [] if node.level == 0 and target.split(".")[0] in allowed else [
                    "." * node.level + (node.module or "")]
            if bad:
                problems.append(f"{_where(mod, node.lineno)}: imports {', '.join(bad)} inside a function")
    return problems


# --------------------------------------------------------------------------- the tree


def _report(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def avlib_modules():
    return load_modules(AVLIB)


def test_every_module_parses_and_is_found(avlib_modules):
    assert "avlib" in avlib_modules and "avlib.claims" in avlib_modules
    assert avlib_modules["avlib.data.speech"].is_package
    assert len(avlib_modules) == len(list(AVLIB.rglob("*.py")))


def test_no_import_cycles(avlib_modules):
    problems = check_cycles(avlib_modules)
    assert not problems, _report(problems, "import cycles")


def test_no_private_names_across_modules(avlib_modules):
    problems = check_private(avlib_modules)
    assert not problems, _report(problems, "private names used across modules")


def test_imports_at_module_top(avlib_modules):
    problems = check_inner_imports(avlib_modules)
    assert not problems, _report(problems, "imports inside functions")


# --------------------------------------------------------------------------- planted offenders


def _plant(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    root = tmp_path / "fakelib"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return load_modules(root)


def test_planted_cycle_is_found_with_its_lines(tmp_path):
    mods = _plant(tmp_path, {
        "__init__.py": "",
        "a.py": "from .b import f\n",
        "b.py": "import os\n\n\ndef f():\n    from . import c\n",
        "c.py": "from fakelib.a import g\n",
        "d.py": "from . import a, b\n",  # imports the cycle, is not part of it
        "pkg/__init__.py": "from .leaf import x\n",
        "pkg/leaf.py": "from . import other\nx = 1\n",  # own package, submodule: no edge to pkg
        "pkg/other.py": "",
        "tc.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .tc2 import T\n",
        "tc2.py": "from .tc import x\n",  # cycle only through TYPE_CHECKING: not a cycle
    })
    problems = check_cycles(mods)
    assert len(problems) == 1, problems
    text = problems[0]
    assert "cycle among 3 modules: fakelib.a -> fakelib.b -> fakelib.c -> fakelib.a" in text
    assert "fakelib/a.py:1: imports fakelib.b" in text
    assert "fakelib/b.py:5: imports fakelib.c (inside a function)" in text
    assert "fakelib/c.py:1: imports fakelib.a" in text
    assert "d.py" not in text and "tc" not in text


def test_planted_package_init_cycle_is_found(tmp_path):
    # ``from ..pkg import y`` imports pkg/__init__, which imports the module back
    mods = _plant(tmp_path, {
        "__init__.py": "",
        "pkg/__init__.py": "from .leaf import x\ny = 2\n",
        "pkg/leaf.py": "from ..pkg import y\nx = 1\n",
    })
    problems = check_cycles(mods)
    assert len(problems) == 1 and "fakelib.pkg -> fakelib.pkg.leaf -> fakelib.pkg" in problems[0]


def test_planted_cycle_through_an_outer_package(tmp_path):
    # importing data.reader from models runs data/__init__.py, which imports models back
    mods = _plant(tmp_path, {
        "__init__.py": "",
        "data/__init__.py": "from ..models import build\n",
        "data/reader.py": "x = 1\n",
        "models/__init__.py": "from .net import build\n",
        "models/net.py": "from ..data.reader import x\n\n\ndef build():\n    return x\n",
    })
    problems = check_cycles(mods)
    assert len(problems) == 1, problems
    assert "fakelib/models/net.py:1: imports fakelib.data\n" in problems[0] + "\n"
    assert "fakelib/data/__init__.py:1: imports fakelib.models" in problems[0]


def test_planted_private_names_are_found(tmp_path):
    mods = _plant(tmp_path, {
        "__init__.py": "",
        "icmr.py": "_config = 1\n__all__ = []\n",
        "sub/__init__.py": "",
        "sub/_contract.py": "Base = object\n",
        "sub/model.py": "from ._contract import Base\n",  # private module, own package: fine
        "user.py": """\
            from .icmr import _config
            from . import icmr
            import fakelib.icmr as ic
            from .sub import _contract
            from .icmr import __all__


            def f():
                return icmr.__all__, icmr._config

            ic._config
            """,
    })
    problems = check_private(mods)
    assert problems == [
        "fakelib/user.py:1: imports private name _config from fakelib.icmr",
        "fakelib/user.py:4: imports private module fakelib.sub._contract",
        "fakelib/user.py:9: reads private fakelib.icmr._config",
        "fakelib/user.py:11: reads private fakelib.icmr._config",
    ], problems


def test_planted_attribute_through_package_chain(tmp_path):
    mods = _plant(tmp_path, {
        "__init__.py": "",
        "train/__init__.py": "",
        "train/protocols.py": "def _per_model():\n    pass\n",
        "x.py": "import fakelib.train.protocols\n\nfakelib.train.protocols._per_model()\n",
    })
    assert check_private(mods) == ["fakelib/x.py:3: reads private fakelib.train.protocols._per_model"]


def test_planted_inner_imports_are_found(tmp_path):
    mods = _plant(tmp_path, {
        "__init__.py": "",
        "a.py": """\
            import json


            class Model:
                import math  # class body runs at import time: fine

                def fit(self):
                    import torch
                    from scipy import stats
                    from .b import helper
                    import yaml, torchvision
                    return lambda: None


            def outer():
                def inner():
                    from fakelib import b
                return inner
            """,
        "b.py": "def helper():\n    pass\n",
    })
    problems = check_inner_imports(mods)
    assert problems == [
        "fakelib/a.py:10: imports .b inside a function",
        "fakelib/a.py:11: imports yaml inside a function",
        "fakelib/a.py:17: imports fakelib inside a function",
    ], problems

