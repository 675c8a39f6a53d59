"""Provenance-labelled tables for the book: our numbers beside the papers' numbers.

Every number the book shows says where it came from (:class:`Provenance`) and, where the
paper has one, stands beside the paper's value (:func:`side_by_side`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import ParameterError
from .paths import resolve

__all__ = [
    "Provenance",
    "paper_table",
    "paper_table_names",
    "side_by_side",
    "save_result",
    "load_result",
    "show_table",
    "style_table",
]


@dataclass
class Provenance:
    """Where a result comes from.

    Parameters
    ----------
    source : str
        ``"embedded benchmark"`` or the real dataset's name (e.g. ``"FCVID"``).
    scale : str
        The runner's scale preset (``smoke``, ``cpu``, ``paper``).
    seed : int or list of int
        The seed(s) the result was computed with.
    notes : str
        What else a reader must know (e.g. what the preset changes from the paper).
    """

    source: str
    scale: str
    seed: int | list = 0
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_embedded(self) -> bool:
        return "embedded" in self.source.lower()

    def caption(self, title: str) -> str:
        """A caption such as ``"Table 3. Ours: embedded benchmark, scale cpu, seed 0 ..."``."""
        where = (
            f"{self.source} (synthetic stand-in, not the paper's dataset)"
            if self.is_embedded
            else self.source
        )
        text = f"{title}. Ours: {where}; scale preset `{self.scale}`; seed {self.seed}."
        if self.notes:
            text += f" {self.notes}"
        return text

    def to_dict(self) -> dict:
        return asdict(self)


def paper_table_names() -> list[str]:
    """Names of the papers' published tables shipped with avlib."""
    folder = resources.files("avlib") / "reference"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csv"))


def paper_table(name: str) -> pd.DataFrame:
    """A published table of one of the papers (percentages as printed).

    ``name`` is a file of ``avlib/reference`` without ``.csv``, e.g.
    ``"xflow_table4_cv_accuracy"`` or ``"icmr2017_table3_audio"``.
    """
    names = paper_table_names()
    if name not in names:
        raise ParameterError(f"unknown paper table {name!r}; valid names: {', '.join(names)}")
    with (resources.files("avlib") / "reference" / f"{name}.csv").open() as fh:
        return pd.read_csv(fh)


def side_by_side(
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    *,
    on: list[str],
    columns: list[str],
    labels: tuple[str, str] = ("paper", "ours"),
) -> pd.DataFrame:
    """Join our results and the paper's on the key columns ``on``.

    For each metric in ``columns`` the result has ``"<metric> (paper)"`` followed by
    ``"<metric> (ours)"``. Rows present in only one table are kept (NaN on the other side).
    ``paper`` may name a metric differently: pass ``columns`` as ``[(ours_name, paper_name)]``.
    """
    pairs = [(c, c) if isinstance(c, str) else tuple(c) for c in columns]
    left = paper[on + [p for _, p in pairs]].rename(
        columns={p: f"{o} ({labels[0]})" for o, p in pairs}
    )
    right = ours[on + [o for o, _ in pairs]].rename(columns={o: f"{o} ({labels[1]})" for o, _ in pairs})
    merged = pd.merge(left, right, on=on, how="outer", sort=False)
    order = list(on)
    for o, _ in pairs:
        order += [f"{o} ({labels[0]})", f"{o} ({labels[1]})"]
    return merged[order]


def save_result(df: pd.DataFrame, path, provenance: Provenance) -> Path:
    """Write ``df`` as CSV at ``path`` (``.csv`` added) and the provenance as a JSON sidecar.

    A relative ``path`` is inside the project home (:func:`avlib.paths.resolve`), not the
    current folder."""
    path = resolve(path)
    if path.suffix != ".csv":
        path = path.with_suffix(".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(provenance.to_dict(), indent=2, default=str))
    return path


def load_result(path) -> tuple[pd.DataFrame, Provenance]:
    """Read a table written by :func:`save_result` with its provenance (relative paths as in
    :func:`save_result`)."""
    path = resolve(path).with_suffix(".csv")
    meta = json.loads(path.with_suffix(".json").read_text())
    return pd.read_csv(path), Provenance(**meta)


def style_table(df: pd.DataFrame, provenance: Provenance, title: str, *, precision: int = 2):
    """A pandas Styler of ``df`` with the provenance caption on top."""
    styler = df.style.format(precision=precision, na_rep="–").hide(axis="index")
    styler = styler.set_caption(provenance.caption(title))
    styler = styler.set_table_styles(
        [{"selector": "caption", "props": "caption-side: top; text-align: left; font-style: italic;"}]
    )
    return styler


def show_table(df: pd.DataFrame, provenance: Provenance, title: str, *, precision: int = 2) -> None:
    """Display ``df`` in a notebook with a provenance caption (see :func:`style_table`)."""
    from IPython.display import display

    display(style_table(df, provenance, title, precision=precision))
