"""Checks of a built book, run by CI: ``python -m avlib.bookcheck --scale smoke``.

Fails (exit 1, one line per problem) when a registered notebook did not run successfully at the
scale, an executed notebook holds an error output, or a chapter of ``_toc.yml`` has no HTML page.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat
import yaml

from .paths import repo_root
from .run import load_registry

__all__ = ["toc_files", "check_book"]


def toc_files(toc_path) -> list[str]:
    """Every ``file:`` entry of a Jupyter Book ``_toc.yml`` (root included), in order."""
    toc = yaml.safe_load(Path(toc_path).read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def check_book(root=None, *, scale: str | None = None) -> list[str]:
    """All problems found (an empty list means the book is good)."""
    root = Path(root) if root else repo_root()
    problems = []
    registry = load_registry(root / "notebooks" / "registry.yaml")
    generated = root / "book" / "generated"
    manifest_path = generated / "manifest.json"
    runs = json.loads(manifest_path.read_text())["runs"] if manifest_path.exists() else {}
    for entry in registry.notebooks:
        run = runs.get(entry.name)
        if run is None:
            problems.append(f"notebook {entry.name}: not run (no manifest record)")
        elif run.get("status") != "ok":
            err = run.get("error", {})
            problems.append(f"notebook {entry.name}: failed in cell {err.get('cell')}: "
                            f"{err.get('ename')}: {err.get('evalue')}")
        elif scale and run.get("scale") != scale:
            problems.append(f"notebook {entry.name}: ran at scale {run.get('scale')}, expected {scale}")
    for path in sorted(generated.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    problems.append(f"{path.relative_to(root)}: cell {i} has an error output "
                                    f"({out.get('ename')}: {out.get('evalue')})")
    html = root / "_build" / "html"
    for file in toc_files(root / "_toc.yml"):
        stem = file.rsplit(".", 1)[0] if file.endswith((".md", ".ipynb")) else file
        if not (html / f"{stem}.html").exists():
            problems.append(f"chapter {file}: no page {stem}.html in {html.relative_to(root)}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avlib.bookcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default=None, help="every notebook must have run at this scale")
    parser.add_argument("--root", default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    problems = check_book(args.root, scale=args.scale)
    for line in problems:
        print(f"book check: {line}", file=sys.stderr)
    if not problems:
        print("book check: all notebooks ran, no error outputs, every chapter has its page")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
