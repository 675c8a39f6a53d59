"""Provenance-labelled tables for the book: our numbers beside the papers' numbers.

Every number the book shows says where it came from (:class:`Provenance`) and, where the
paper has one, stands beside the paper's value (:func:`side_by_side`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import ParameterError
from .paths import PARAMETERS_ENV, resolve

__all__ = [
    "Provenance",
    "paper_table",
    "paper_table_names",
    "side_by_side",
    "save_result",
    "load_result",
    "show_table",
    "style_table",
    "settings_box",
    "readable_column",
    "format_column",
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
        """A short caption: ``"Table 3 .... Ours: synthetic stand-in, scale cpu, seeds 0, 1."``.

        What the scale changes from the paper (``notes``) is said once per page, in its settings
        box (:func:`settings_box`), not under every table."""
        where = "synthetic stand-in" if self.is_embedded else self.source
        seeds = ", ".join(str(s) for s in self.seed) if isinstance(self.seed, (list, tuple)) else str(self.seed)
        label = "seeds" if isinstance(self.seed, (list, tuple)) and len(self.seed) > 1 else "seed"
        return f"{title.rstrip('.')}. Ours: {where}, scale {self.scale}, {label} {seeds}."

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


#: Column names as a reader says them.
_WORDS = {"hit_at_1": "Hit@1", "hit_at_3": "Hit@3", "f1": "weighted F1", "f1_macro": "macro F1", "n": "n",
          "n_test": "test videos", "params": "parameters", "lr": "learning rate", "ci": "95 % interval",
          "acc": "accuracy", "std": "s.d.", "se": "s.e.", "df": "d.f.", "p": "p", "q_bh": "q (BH)"}


def readable_column(name) -> str:
    """``"hit_at_1 (ours)"`` -> ``"Hit@1 (ours)"``; other snake_case names become words."""
    text = str(name)
    for key in sorted(_WORDS, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![A-Za-z0-9])", _WORDS[key], text)
    return text.replace("_", " ")


def format_column(values: pd.Series, precision: int = 2):
    """A formatter for one column: integers (also integers stored as floats, e.g. counts after a
    merge) with thousands separators, other numbers at ``precision`` decimals, the rest as text."""
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return lambda v: "–" if pd.isna(v) else f"{v:,.0f}"  # counts, even when all are 0
    num = pd.to_numeric(values, errors="coerce")
    numeric = values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)) | values.isna()
    if not numeric.all() or num.notna().sum() == 0:
        return lambda v: "–" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
    finite = num.dropna()
    if ((finite % 1) == 0).all() and (finite.abs() >= 1).any():
        return lambda v: "–" if pd.isna(v) else f"{v:,.0f}"
    return lambda v: "–" if pd.isna(v) else f"{v:,.{precision}f}"


def style_table(df: pd.DataFrame, provenance: Provenance, title: str, *, precision: int = 2):
    """A pandas Styler of ``df`` for the book: readable column names, integers as integers with
    thousands separators, other numbers at ``precision`` decimals, a short caption on top."""
    shown = df.rename(columns=readable_column)
    fmt = {c: format_column(shown[c], precision) for c in shown.columns}
    styler = shown.style.format(fmt).hide(axis="index")
    styler = styler.set_caption(provenance.caption(title))
    styler = styler.set_table_styles(
        [{"selector": "caption", "props": "caption-side: top; text-align: left;"}]
    )
    return styler


def show_table(df: pd.DataFrame, provenance: Provenance, title: str, *, precision: int = 2) -> None:
    """Display ``df`` in a notebook with a short caption (see :func:`style_table`)."""
    from IPython.display import display  # the book extra; tables are built without it

    display(style_table(df, provenance, title, precision=precision))


def _value_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k} = {_value_text(v)}" for k, v in value.items()) or "none"
    return str(value)


def settings_box(provenance: Provenance, *, cfg=None, parameters: dict | None = None,
                 extra: dict | None = None, topics=None, show: bool = True) -> str | None:
    """The page's settings, once: data, scale, seeds, what the scale changes from the paper,
    and the parameters that were injected into this run.

    ``cfg``: the page's configuration (:class:`avlib.config.Config`): its scale note is shown and
    its differences from the paper's settings are listed as a table in a second, folded box. ``parameters``: the injected values; by
    default those the runner passes (the ``AVLIB_PARAMETERS`` environment variable), so a page
    shows what ran, not its defaults. ``extra``: more rows (``{"folds": "5 speaker folds"}``).
    ``topics``: the sections of ``cfg`` this page reads (``("audio",)``): only their part of
    the scale note (:meth:`avlib.config.Config.note`) and their changed values are shown, with
    the top-level values (seeds, workers, ...); None shows everything.
    Displays a MyST admonition (rendered by the book; ``show=False`` returns its text instead).
    """
    if parameters is None:
        raw = os.environ.get(PARAMETERS_ENV)
        parameters = json.loads(raw) if raw else None
    where = (f"{provenance.source}: a synthetic stand-in in the real dataset's format, not the paper's data"
             if provenance.is_embedded else provenance.source)
    rows = [("data", where), ("scale", provenance.scale), ("seeds", _value_text(provenance.seed))]
    rows += [(k, _value_text(v)) for k, v in (extra or {}).items()]
    if parameters:
        rows.append(("run with", "; ".join(f"`{k}` = `{_value_text(v)}`" for k, v in parameters.items())))
    else:
        rows.append(("run with", "the defaults of the notebook's parameters cell"))
    lines = [":::{admonition} Settings of this page", ":class: note", ""]
    lines += [f"- **{k}**: {v}" for k, v in rows]
    changes, of_page = {}, ""
    if cfg is not None:
        changes = cfg.changes()
        changes.pop("scale", None)
        note = cfg.note() if topics is None else cfg.note(topics)
        if topics is not None:
            if isinstance(topics, str):
                raise ParameterError(f"topics is a sequence of section names, e.g. ({topics!r},), not a string")
            changes = {k: v for k, v in changes.items() if "." not in k or k.split(".", 1)[0] in topics}
            of_page = " for this page"
        if note:
            lines.append(f"- **how this scale differs from the paper**: {note}")
        if changes:
            lines.append(f"- **changed from the paper's settings{of_page}**: {len(changes)} value(s), listed in "
                         f"the box below (every value: the page's `config.json`)")
    elif provenance.notes:
        lines.append(f"- **how this scale differs from the paper**: {provenance.notes}")
    lines.append(":::")
    if changes:  # one row per value, folded away: the box above stays short
        lines += ["", f":::{{admonition}} The {len(changes)} value(s) changed from the paper's settings{of_page}",
                  ":class: dropdown", "", "| setting | the paper | this run |", "|---|---|---|"]
        lines += [f"| `{k}` | {_value_text(a)} | {_value_text(b)} |" for k, (a, b) in changes.items()]
        lines.append(":::")
    text = "\n".join(lines)
    if show:
        from IPython.display import Markdown, display  # the book extra

        display(Markdown(text))
        return None
    return text
