"""The XFlow tables as the book prints them (the saved tables of
:mod:`avlib.experiments.xflow.tables` are not changed).

Short column names, accuracies at the paper's precision (one decimal) with their interval in one
cell (``"73.1 [70.6, 75.6]"``, :func:`interval_text`), p-values at two significant digits
(:func:`p_text`), the paper's variant names, and wide tables split in two:

* :func:`table3_view`, :func:`lstm_gap_view`, :func:`variant_params_view` (Table III);
* :func:`table4_views` (accuracies beside the paper's; the corrected test of XFlow - baseline),
  :func:`table5_view`, :func:`protocol_gap_view` (Tables IV-V);
* :func:`table6_view` (Table VI);
* :func:`evidence_views`, :func:`convergence_view` (the Claims rows of a page);
* :func:`silhouette_view`, :func:`equation1_view` (the numbers beside Figs. 9-10);
* :func:`design_text` (what a page's cross-validation ran, in words);
* :func:`settings_rows`, :func:`compact_changes`, :class:`CompactSettings` (the settings box).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ...claims import load_claims
from ...config.base import flatten
from ...config.xflow import DATASETS, FAMILIES, VARIANT_NAMES, XFlowConfig
from ...report import paper_table, side_by_side
from .evidence import ARCH_NAMES
from .inputs import DATASET_NAMES, chance_levels
from .tables import table5_frame

__all__ = [
    "VARIANT_LABELS",
    "PROTOCOL_LABELS",
    "design_text",
    "number_text",
    "interval_text",
    "p_text",
    "tidy_numbers",
    "table3_view",
    "lstm_gap_view",
    "variant_params_view",
    "table4_views",
    "table5_view",
    "protocol_gap_view",
    "table6_view",
    "evidence_views",
    "convergence_view",
    "silhouette_view",
    "equation1_view",
    "settings_rows",
    "compact_changes",
    "CompactSettings",
]

#: Variant key -> the name a reader sees (the paper's Table V: both kinds of connections, no
#: cross-connections, no residual connections).
VARIANT_LABELS = {"baseline": "baseline", "xflow": "XFlow", "no_xconns": "no x-conn.",
                  "no_resconns": "no res-conn."}
#: Protocol key -> the words of the captions.
PROTOCOL_LABELS = {"clean": "clean protocol", "paper-rule": "the paper's rule on the same runs",
                   "paper": "the paper's protocol"}
_DASH = "–"


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def number_text(x, precision: int = 1) -> str:
    """``x`` at ``precision`` decimals ("–" when missing; never "-0.0")."""
    if not _finite(x):
        return _DASH
    return f"{round(float(x), precision) + 0.0:.{precision}f}"


def interval_text(mean, lo=None, hi=None, precision: int = 1) -> str:
    """``"73.1 [70.6, 75.6]"``: a value and its interval in one cell (the value alone when the
    interval is missing, "–" when the value is)."""
    if not _finite(mean):
        return _DASH
    text = number_text(mean, precision)
    if _finite(lo) and _finite(hi):
        text += f" [{number_text(lo, precision)}, {number_text(hi, precision)}]"
    return text


def p_text(p) -> str:
    """A p-value at two significant digits as the paper prints them (0.65, 0.002, 0.0012);
    "< 0.001" below that, "–" when missing."""
    if not _finite(p):
        return _DASH
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def tidy_numbers(text: str) -> str:
    """Free text with the padding zeros of its decimals removed ("n_test/n_train = 1.000" ->
    "n_test/n_train = 1", "0.250" -> "0.25")."""
    text = re.sub(r"(?<![\d.])(\d+)\.0+(?![\d])", r"\1", str(text))
    return re.sub(r"(?<![\d.])(\d+\.\d*?[1-9])0+(?![\d])", r"\1", text)


def _variant(v) -> str:
    return VARIANT_LABELS.get(v, v)


def design_text(results: dict) -> str:
    """What a page's cross-validation ran, in words: per dataset its speaker folds and the
    training seeds averaged in each fold per architecture, e.g. ``"Digits: 2 speaker folds
    (CNN x MLP 2 seeds per fold, {CNN x MLP}-LSTM 1 seed per fold)"``. ``results`` maps
    dataset -> :func:`.crossval.xflow_crossval` output."""
    parts = []
    for name, res in results.items():
        folds = sorted({int(r.n_folds) for r in res.values()})
        seeds = {}
        for (fam, _, _), r in res.items():
            seeds.setdefault(fam, int(r.n_seeds))
        per_fold = ", ".join(f"{ARCH_NAMES.get(f, f)} {_plural(n, 'seed')} per fold" for f, n in seeds.items())
        parts.append(f"{DATASET_NAMES.get(name, name)}: {' or '.join(map(str, folds))} speaker folds ({per_fold})")
    return "; ".join(parts)


# --- Table III
_PARAM_COLUMNS = {"avletters": "AVletters", "digits_cuave": "Digits/CUAVE"}


def table3_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`table3_params` as a reader sees it: variant names of the paper, dataset names
    in the column heads (counts stay integers; :func:`avlib.report.show_table` adds the
    thousands separators)."""
    out = table.assign(variant=table["variant"].map(_variant))
    names = {}
    for key, name in _PARAM_COLUMNS.items():
        names.update({f"{key} (paper)": f"{name} (paper)", f"{key} (ours)": f"{name} (ours)",
                      f"{key} diff": f"{name} diff"})
    return out.rename(columns=names)


def lstm_gap_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`lstm_baseline_gap` with words for its column heads."""
    return table.rename(columns={"time_steps": "time steps", "time_axis_bn_params": "time-axis BN parameters",
                                 "trainable": "trainable (ours)", "paper": "trainable (paper)",
                                 "diff": "diff"})


def variant_params_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`variant_params` with the paper's variant names and the datasets' names."""
    return table.assign(variant=table["variant"].map(_variant)).rename(columns=_PARAM_COLUMNS)


# --- Tables IV-V
def table4_views(table: pd.DataFrame) -> tuple:
    """Table IV (:func:`table4`) in two narrow tables: ``(accuracy, test)``.

    ``accuracy``: per model and dataset the baseline and XFlow accuracy (%) of the paper and
    ours with our corrected 95 % interval across speaker folds, and the p-value of the paper's
    plain paired t-test across folds, the paper's and ours. ``test``: the rows we ran, XFlow -
    baseline in points, the paper's difference beside ours with its corrected resampled t
    interval and p-value, and the seeds averaged per fold."""
    t = table

    def col(name):
        return t[name] if name in t else pd.Series(np.nan, index=t.index)

    accuracy = pd.DataFrame({
        "model": t["model"], "dataset": t["dataset"],
        "baseline (paper)": [number_text(v) for v in col("baseline_pct (paper)")],
        "baseline (ours)": [interval_text(m, lo, hi) for m, lo, hi in
                            zip(col("baseline_pct (ours)"), col("baseline_ci_lo_pct"), col("baseline_ci_hi_pct"))],
        "XFlow (paper)": [number_text(v) for v in col("xflow_pct (paper)")],
        "XFlow (ours)": [interval_text(m, lo, hi) for m, lo, hi in
                         zip(col("xflow_pct (ours)"), col("xflow_ci_lo_pct"), col("xflow_ci_hi_pct"))],
        "p (paper)": [p_text(v) for v in col("p_value (paper)")],
        "p (ours)": [p_text(v) for v in col("p_value (ours)")],
    })
    ran = col("xflow_pct (ours)").map(_finite) & col("baseline_pct (ours)").map(_finite)
    r = t[ran.to_numpy()]
    paper_diff = (r["xflow_pct (paper)"] - r["baseline_pct (paper)"]) if len(r) else []
    test = pd.DataFrame({
        "model": r["model"], "dataset": r["dataset"],
        "XFlow − baseline (paper)": [number_text(v) for v in paper_diff],
        "XFlow − baseline (ours)": [interval_text(m, lo, hi) for m, lo, hi in
                                    zip(r.get("diff_pct", []), r.get("diff_lo_pct", []), r.get("diff_hi_pct", []))],
        "p (corrected t)": [p_text(v) for v in r.get("p_corrected", [])],
        "seeds per fold": [int(v) if _finite(v) else _DASH for v in r.get("n_seeds", [])],
    })
    return accuracy.reset_index(drop=True), test.reset_index(drop=True)


_TABLE5_VARIANTS = (("both_pct", "both"), ("no_xconns_pct", "no x-conn."), ("no_resconns_pct", "no res-conn."))


def table5_view(results: dict, *, ablation_datasets: Sequence[str], protocol: str = "clean") -> pd.DataFrame:
    """Table V (:func:`table5`) as a reader sees it: the paper's accuracy (%) beside ours with
    its corrected 95 % interval across speaker folds (:func:`table5_frame`), for both kinds of
    connections, without the cross-connections and without the residual connections. Empty
    when no ablation ran."""
    ours = table5_frame({k: v for k, v in results.items() if k in ablation_datasets}, protocol=protocol)
    if len(ours) == 0:
        return pd.DataFrame()
    shown = ours[["model", "dataset"]].copy()
    for c, _ in _TABLE5_VARIANTS:
        shown[c] = [interval_text(m, lo, hi) for m, lo, hi in zip(ours[c], ours[c + "_lo"], ours[c + "_hi"])]
    paper = paper_table("xflow_table5_ablation")
    paper = paper.assign(**{c: paper[c].map(number_text) for c, _ in _TABLE5_VARIANTS})
    t = side_by_side(shown, paper, on=["model", "dataset"], columns=[c for c, _ in _TABLE5_VARIANTS])
    names = {}
    for c, label in _TABLE5_VARIANTS:
        names.update({f"{c} (paper)": f"{label} (paper)", f"{c} (ours)": f"{label} (ours)"})
    return t.rename(columns=names).astype(object).fillna(_DASH)


def protocol_gap_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`protocol_gap` as a reader sees it: mean accuracy (%) under each protocol and the
    gaps in points, one decimal, the paper's variant names."""
    names = {"paper-rule": "paper's rule", "paper": "paper protocol",
             "gap (paper-rule - clean)": "gap (rule − clean)", "gap (paper - clean)": "gap (paper − clean)"}
    out = table[["dataset", "model", "variant"]].assign(variant=table["variant"].map(_variant))
    for c in table.columns[3:]:
        out[names.get(c, c)] = [number_text(v) for v in table[c]]
    return out.reset_index(drop=True)


# --- Table VI
def table6_view(table: pd.DataFrame) -> pd.DataFrame:
    """One protocol's Table VI (:func:`table6`) as a reader sees it: per dataset the paper's
    accuracy (%) and ours with its 95 % interval over training seeds in one cell."""
    out = table[["model"]].copy()
    for key, name in DATASET_NAMES.items():
        if f"{key}_pct (ours)" not in table:
            continue
        ci = table[f"{key}_ci"] if f"{key}_ci" in table else pd.Series("", index=table.index)
        out[f"{name} (paper)"] = [number_text(v) for v in table[f"{key}_pct (paper)"]]
        out[f"{name} (ours)"] = [f"{number_text(m)} {c}".strip() if _finite(m) else _DASH
                                 for m, c in zip(table[f"{key}_pct (ours)"], ci.fillna(""))]
    return out.reset_index(drop=True)


# --- the Claims rows of a page
def _plural(n, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 or not unit else "s")


_DETAIL_WORDS = ((r"\bno xconns\b", "no x-conn."), (r"\bno resconns\b", "no res-conn."),
                 (r"(?<=- )xflow\b", "XFlow (both)"), (r"\b1 seeds\b", "1 seed"),
                 (r"\bavletters\b", "AVletters"), (r"\bdigits\b", "Digits"), (r"\bcuave\b", "CUAVE"))


def _readable_detail(text: str) -> str:
    """An evidence row's ``detail`` in the words of the tables (variant names, dataset names,
    "1 seed")."""
    for pattern, words in _DETAIL_WORDS:
        text = re.sub(pattern, words, str(text))
    return text


def _claims(ids) -> tuple:
    """The claims of ``claims.yaml`` in words and the paper's values, for the claim ids ``ids``
    (an id not in the file stands for itself)."""

    known = load_claims().set_index("id")
    words = [known.at[i, "claim"] if i in known.index else i for i in ids]
    paper = [known.at[i, "paper_value"] if i in known.index else _DASH for i in ids]
    return words, paper


def evidence_views(rows: Sequence) -> tuple:
    """The evidence rows of a page (:class:`avlib.claims.Evidence`) in two tables:
    ``(summary, detail)``. ``summary``: the claim in the words of the Claims page, the paper's
    value, our effect in points with its 95 % interval, the p-value, the independent units
    behind it and (after a convergence check) whether it converged; ``detail``: what each row
    compares and its test, in words."""
    words, paper = _claims([e.claim for e in rows])
    summary = pd.DataFrame({
        "claim": words,
        "paper": paper,
        "ours (points) [95 % interval]": [interval_text(e.effect, e.lo, e.hi) for e in rows],
        "p": [p_text(e.p) for e in rows],
        "units": [_plural(e.n, e.unit) for e in rows],
    })
    if any(getattr(e, "converged", "") for e in rows):
        summary["converged"] = [e.converged or _DASH for e in rows]
    detail = pd.DataFrame({"claim": words,
                           "what is compared": [_readable_detail(e.detail) for e in rows],
                           "test": [tidy_numbers(e.test) for e in rows]})
    return summary, detail


def convergence_view(table: Optional[pd.DataFrame], factor: float = 0.5) -> Optional[pd.DataFrame]:
    """The convergence check (:func:`avlib.claims.mark_convergence`) in points, one decimal:
    each claim's effect at the configured epochs, on the folds the check trains again
    (``training.check_fold_step``) at the configured epochs and at ``factor`` of them, the change
    on those folds and the full interval's half-width it is compared with."""
    if table is None:
        return None
    matched = table["effect_matched"] if "effect_matched" in table else table["effect"]
    part = not np.allclose(np.asarray(matched, float), np.asarray(table["effect"], float), equal_nan=True)
    cols = {"claim": _claims(list(table["claim"]))[0], "effect": [number_text(v) for v in table["effect"]]}
    if part:  # the check trained part of the folds: both lengths on those folds
        cols["effect, checked folds"] = [number_text(v) for v in matched]
        cols[f"checked folds at {factor:g} × the epochs"] = [number_text(v) for v in table["effect_short"]]
    else:
        cols[f"effect at {factor:g} × the epochs"] = [number_text(v) for v in table["effect_short"]]
    return pd.DataFrame({
        **cols,
        "change": [number_text(v) for v in table["change"]],
        "half-width": [number_text(v) for v in table["half_width"]],
        "converged": table["converged"],
    })


# --- Figures 9-10
_CONNECTIONS = {"x2d1d_1": "first 2D→1D", "x2d1d_2": "second 2D→1D"}


def silhouette_view(table: pd.DataFrame) -> pd.DataFrame:
    """The silhouette of the classes per cross-connection (:func:`.analysis.tsne_analysis`),
    two decimals."""
    return pd.DataFrame({
        "cross-connection": [_CONNECTIONS.get(c, c) for c in table["connection"]],
        "examples": table["examples"],
        "silhouette, raw outputs": [number_text(v, 2) for v in table["silhouette_raw"]],
        "silhouette, 2-D t-SNE": [number_text(v, 2) for v in table["silhouette_tsne_2d"]],
    })


def equation1_view(table: pd.DataFrame) -> pd.DataFrame:
    """The correlation of the two difference curves of equation 1 per kernel
    (:func:`.analysis.equation1_analysis`), two decimals."""
    return pd.DataFrame({"kernel": table["kernel"], "example": table["example"], "word": table["label"],
                         "time steps": table["steps"],
                         "Pearson r": [number_text(v, 2) for v in table["pearson_r"]]})


# --- the settings box
def _names(keys) -> str:
    return ", ".join(DATASET_NAMES.get(k, k) for k in keys) or "none"


def settings_rows(cfg: XFlowConfig, page: str) -> dict:
    """The rows a page adds to its settings box (:func:`avlib.report.settings_box`, ``extra``):
    what runs, the unit of replication and the interval, the chance levels. ``page``:
    ``"params"``, ``"crossval"`` or ``"holdout"``."""

    def chance(keys):
        return ", ".join(f"{DATASET_NAMES.get(k, k)} {100 * v:.1f} %" for k, v in chance_levels(keys).items())

    if page == "params":
        return {"what is counted": "trainable parameters (batch-norm γ and β included) of the models of "
                                   "`avlib.models.xflow`; no data and no training, so the counts are the same "
                                   "at every scale"}
    if page == "crossval":
        cv = cfg.crossval
        folds = "all" if cv.max_folds is None else f"the first {cv.max_folds}"
        protocols = "clean (epoch chosen on a validation split of the training speakers); the paper's rule " \
                    "(best test-fold epoch) read off the same runs"
        if "paper" in cv.protocols:
            protocols += "; the paper's own protocol"
        return {"cross-validation": f"{_names(cv.datasets)}, {folds} speaker folds of each",
                "ablations (Table V)": _names(cv.ablation_datasets),
                "protocols": protocols,
                "unit of replication": "the speaker fold (the seeds of a fold averaged first); 95 % intervals "
                                       "by the corrected resampled t across folds",
                "chance level": chance(cv.datasets)}
    if page == "holdout":
        a = cfg.analysis
        return {"hold-out split (Table VI)": f"{_names(cfg.holdout.datasets)}, {_plural(cfg.holdout.epochs, 'epoch')} "
                                             f"per model",
                "unit of replication": "the training seed (hold-out split fixed); 95 % intervals by Student's t "
                                       "over seeds, XFlow − baseline paired over seeds",
                "analysis models (Figs. 9-11)": f"XFlow CNN×MLP ({_plural(a.tsne_epochs, 'epoch')}) and "
                                                f"{{CNN×MLP}}-LSTM ({_plural(a.residual_epochs, 'epoch')}) on "
                                                f"{_names([a.dataset])}, first speaker fold held out",
                "chance level": chance(cfg.holdout.datasets)}
    raise ValueError(f"unknown page {page!r}; valid: params, crossval, holdout")


_MODEL_KEYS = set(DATASETS) | set(FAMILIES) | set(VARIANT_NAMES)


def _value(v):
    return tuple(v) if isinstance(v, list) else v


def compact_changes(cfg: XFlowConfig) -> dict:
    """``cfg.changes()`` (the dotted keys that differ from the paper's settings) with the keys
    that differ only in a dataset, family or variant collapsed into one ``*`` key when they
    change from the same value: ``training.epochs.*.*.*: (300, "20–40")``. A ``*`` key that
    covers only some of its keys says how many (``"(3 of 24)"``). ``config.json`` beside the
    results keeps every key."""
    changes = cfg.changes()
    changes.pop("scale", None)
    every = {}
    for key in flatten(cfg.to_dict()):
        every.setdefault(_pattern(key), []).append(key)
    groups = {}
    for key, (old, new) in changes.items():
        groups.setdefault(_pattern(key), []).append((key, old, new))
    out = {}
    for pattern, items in groups.items():
        olds = {repr(_value(o)) for _, o, _ in items}
        news = [n for _, _, n in items]
        numeric = all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in news)
        if len(items) == 1 or len(olds) != 1 or not (numeric or len({repr(_value(n)) for n in news}) == 1):
            out.update({k: (o, n) for k, o, n in items})
            continue
        name = pattern if len(items) == len(every.get(pattern, ())) else \
            f"{pattern} ({len(items)} of {len(every.get(pattern, ()))})"
        if numeric:
            lo, hi = min(news), max(news)
            new = f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
        else:
            new = news[0]
        out[name] = (items[0][1], new)
    return out


def _pattern(key: str) -> str:
    return ".".join("*" if part in _MODEL_KEYS else part for part in key.split("."))


@dataclass(frozen=True)
class CompactSettings:
    """A configuration as the settings box (:func:`avlib.report.settings_box`, ``cfg=``) shows
    it: its :func:`compact_changes` from the paper's settings and its note."""

    cfg: XFlowConfig

    def changes(self) -> dict:
        return compact_changes(self.cfg)

    def note(self) -> str:
        return self.cfg.note()
