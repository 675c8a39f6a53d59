"""Checks of a built book, run by CI: ``python -m avlib.bookcheck --scale smoke``.

Fails (exit 1, one line per problem) when a registered notebook did not run successfully at the
scale, an executed notebook holds an error output, or a chapter of ``_toc.yml`` has no HTML page.

With ``--readers`` it also reads every built page as a reader would and fails on
(:func:`check_pages`, :func:`check_outputs`):

- a figure without a caption or a number;
- a cell output with a traceback, a warning or a Python repr (``PosixPath(``, ``{'``, ``Preset(``);
- a number printed with padding zeros (``73.100``, ``5154.00``) or unrounded (``2.245319446111111``);
- a table wider than the content column (estimated from its widest cells);
- a paragraph repeated on a page.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import nbformat
import yaml
from bs4 import BeautifulSoup

from .paths import repo_root
from .run import load_registry

__all__ = ["toc_files", "check_book", "check_pages", "check_outputs", "REPR_MARKERS", "TABLE_MAX_CHARS"]


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


#: Text that shows a Python object's repr instead of a sentence or a table.
REPR_MARKERS = ("PosixPath(", "{'", "Preset(", "Config(", "<Figure size", "<Axes:", "dtype=")
#: Output text that means something went wrong or is noise.
NOISE_MARKERS = ("Traceback (most recent call last)", "Warning:", "warnings.warn")
#: The content column holds about this many characters of table text at 0.85 rem (a table whose
#: widest cells add up to more cannot fit without scrolling).
TABLE_MAX_CHARS = 150
#: Numbers printed beyond their precision: "73.100", "0.000" (three or more decimals ending in
#: zeros) and integers with decimals ("5154.00").
_PADDED = re.compile(r"(?<![\d.])(?:\d+\.\d+00|\d{4,}\.0+)(?![\d])")
#: Numbers printed unrounded: seven or more decimals ("2.245319446111111").
_UNROUNDED = re.compile(r"(?<![\d.])\d+\.\d{7,}(?![\d])")


def _cell_width(text: str) -> int:
    """A cell's width in characters when wrapped at its longest word (long cells wrap)."""
    words = text.split()
    return min(len(text), max(24, max((len(w) for w in words), default=0)))


def check_pages(html_dir, files=None) -> list[str]:
    """Problems a reader meets on the built HTML pages (``files``: page paths relative to
    ``html_dir``; default every page under ``book/``)."""
    html_dir = Path(html_dir)
    pages = [html_dir / f for f in files] if files else sorted((html_dir / "book").rglob("*.html"))
    problems = []
    for page in pages:
        name = page.relative_to(html_dir)
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        article = soup.find("article") or soup
        for img in article.find_all("img"):
            fig = img.find_parent("figure")
            number = fig.find(class_="caption-number") if fig else None
            if fig is None or fig.find("figcaption") is None or number is None:
                problems.append(f"{name}: figure {img.get('src', '?')} has no numbered caption")
        for table in article.find_all("table"):
            text = " ".join(table.get_text(" ").split())
            for m in _PADDED.finditer(text):
                problems.append(f"{name}: a table prints {m.group(0)!r} (padding zeros)")
                break
            for m in _UNROUNDED.finditer(text):
                problems.append(f"{name}: a table prints {m.group(0)!r} (unrounded)")
                break
            widths = Counter()
            for row in table.find_all("tr"):
                for j, cell in enumerate(row.find_all(["td", "th"])):
                    widths[j] = max(widths[j], _cell_width(" ".join(cell.get_text(" ").split())))
            if sum(widths.values()) > TABLE_MAX_CHARS:
                head = " ".join(text.split()[:6])
                problems.append(f"{name}: table starting {head!r} is about {sum(widths.values())} characters wide "
                                f"(the column holds {TABLE_MAX_CHARS})")
        seen = Counter(" ".join(p.get_text(" ").split()) for p in article.find_all("p"))
        for text, n in seen.items():
            if n > 1 and len(text) >= 80:
                problems.append(f"{name}: a paragraph appears {n} times ({text[:60]!r}...)")
    return problems


def check_outputs(generated) -> list[str]:
    """Cell outputs of the executed notebooks in ``generated`` that show a traceback, a warning
    or a Python repr."""
    problems = []
    for path in sorted(Path(generated).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
                continue
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    text = out.get("text", "")
                    text = "".join(text) if isinstance(text, list) else text
                    if out.get("name") == "stderr" and text.strip():
                        problems.append(f"{path.name}: cell {i} writes to stderr ({text.strip()[:60]!r})")
                        continue
                elif out.get("output_type") in ("execute_result", "display_data"):
                    text = out.get("data", {}).get("text/plain", "") if "text/html" not in out.get("data", {}) \
                        and not any(k.startswith("image/") for k in out.get("data", {})) else ""
                else:
                    continue
                text = "".join(text) if isinstance(text, list) else text
                for marker in NOISE_MARKERS + REPR_MARKERS:
                    if marker in text:
                        problems.append(f"{path.name}: cell {i} prints {marker!r} ({text.strip()[:60]!r})")
                        break
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avlib.bookcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default=None, help="every notebook must have run at this scale")
    parser.add_argument("--root", default=None, help="repository root (default: this checkout)")
    parser.add_argument("--readers", action="store_true",
                        help="also check the pages as a reader sees them (captions, reprs, numbers, widths)")
    args = parser.parse_args(argv)
    problems = check_book(args.root, scale=args.scale)
    if args.readers:
        root = Path(args.root) if args.root else repo_root()
        problems += check_outputs(root / "book" / "generated") + check_pages(root / "_build" / "html")
    for line in problems:
        print(f"book check: {line}", file=sys.stderr)
    if not problems:
        print("book check: all notebooks ran, no error outputs, every chapter has its page")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
