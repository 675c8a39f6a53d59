"""The ICMR 2017 tables as the book prints them (the saved tables are not changed).

The paper beside ours under a two-level header with intervals in the cell
(:func:`paper_beside_ours`, :func:`fmt_interval`), the secondary columns apart
(:func:`ours_detail`, :func:`bootstrap_display`, :func:`runs_display`, :func:`timings_display`),
the claim rows (:func:`claims_display`), the majority-class and chance baselines
(:func:`class_baselines`), Table 1 (:func:`table1_display`), the fidelity choices of one page
(:func:`fidelity_display`) and the other tables of the pages in readable form. The result
tables themselves are :mod:`avlib.experiments.icmr.tables`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass

import numpy as np
import pandas as pd

from ...config.icmr import ICMRConfig
from ...data import icmr_metadata
from ...metrics.classification import f1_from_labels
from .figures import short_category
from .tables import DASH, F1_LABELS, fidelity_options

__all__ = [
    "METRIC_NAMES",
    "fmt_number",
    "fmt_interval",
    "fmt_p",
    "paper_beside_ours",
    "ours_detail",
    "bootstrap_display",
    "runs_display",
    "timings_display",
    "claims_display",
    "convergence_display",
    "class_baselines",
    "TABLE1_NAMES",
    "table1_display",
    "embedded_table1_display",
    "table1_facts",
    "split_display",
    "data_summary",
    "FIDELITY_ROWS",
    "fidelity_display",
    "titan_x_display",
    "class_counts_display",
    "per_class_display",
    "robustness_display",
    "feature_file_display",
    "feature_file_summary",
    "confusion_diagonals",
    "benchmark_baselines",
    "baseline_text",
]

# --------------------------------------------------------------------------- display tables
# The result tables (avlib.experiments.icmr.tables) are what the pages save (CSV); the functions below shape them for
# reading: the paper's columns beside ours under a two-level header, two decimals as the paper
# prints them, an interval in the same cell as its mean, and the secondary columns (seeds,
# timings, macro F1) in tables of their own. Every cell is text, so the book shows it as built.

#: Metric names as the paper's tables print them (all in %).
METRIC_NAMES = {"hit_at_1": "Hit@1 (%)", "hit_at_3": "Hit@3 (%)", "f1": "weighted F1 (%)",
                "f1_macro": "macro F1 (%)"}


def fmt_number(value, digits: int = 2) -> str:
    """``value`` at ``digits`` decimals with thousands separators; a dash for a missing value."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return DASH if value is None else str(value)
    return DASH if not np.isfinite(v) else f"{v:,.{digits}f}"


def fmt_interval(mean, lo=np.nan, hi=np.nan, digits: int = 2) -> str:
    """``"73.10 [70.60, 75.60]"``: a mean with its interval in one cell; the mean alone when the
    interval is missing (one seed), a dash when the mean is."""
    text = fmt_number(mean, digits)
    if text == DASH:
        return text
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return text
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{text} [{lo:,.{digits}f}, {hi:,.{digits}f}]"
    return text


def fmt_p(value) -> str:
    """A p-value to three significant digits without padding zeros (``0.2``, ``0.254``), ``< 0.001``
    below that, a dash when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return DASH
    if not np.isfinite(v):
        return DASH
    return "< 0.001" if v < 0.001 else f"{v:.3g}"


def _yes_no(v):
    return ("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else v


def _key_text(v) -> str:
    v = _yes_no(v)
    if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
        return f"{int(v):,}"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    return DASH if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)


def _two_level(pairs) -> pd.MultiIndex:
    """Two-level column header from ``[(group, sub), ...]`` (sub "" under a key column)."""
    return pd.MultiIndex.from_tuples([(str(g), str(s)) for g, s in pairs])


def paper_beside_ours(table: pd.DataFrame, summary: pd.DataFrame | None = None, *, keys,
                      metrics=("hit_at_1", "hit_at_3", "f1"), extra=(), key_names=None,
                      digits: int = 2, baselines: pd.DataFrame | None = None,
                      order_by_summary: bool = True) -> pd.DataFrame:
    """A paper-beside-ours table as the book prints it.

    ``table``: a saved side-by-side table (:func:`table3_side_by_side`, :func:`with_intervals`,
    ...) with ``"<name> (paper)"`` / ``"<name> (ours)"`` columns; ``summary``: our means with
    ``<metric>_lo`` / ``<metric>_hi`` (:func:`seed_summary`), so our cell reads
    ``"73.10 [70.60, 75.60]"`` (the 95 % interval over seeds; the mean alone with one seed).
    ``keys``: the key columns (shown first, renamed by ``key_names``); ``metrics``: shown as
    (paper, ours) pairs under :data:`METRIC_NAMES`; ``extra``: ``[(column, header, digits)]``
    pairs before the metrics (a side that is empty in every row is left out). ``baselines``:
    rows appended under the table (:func:`class_baselines`: key ``method``, ours only).
    ``order_by_summary``: our rows in the order of ``summary`` (the order the runs were made),
    the paper's other rows after them; otherwise the order of ``table``.
    Every cell is text at ``digits`` decimals (a dash where a side has no value).
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    key_names = dict(key_names or {})
    t = table.reset_index(drop=True).copy()
    s = None
    if summary is not None:
        s = summary.copy()
        for k in keys:
            if k in s and k in t:
                s[k] = s[k].map(_yes_no)
                t[k] = t[k].map(_yes_no)
        lohi = [c for m in metrics for c in (f"{m}_lo", f"{m}_hi") if f"{m}_lo" in s]
        s = s[keys + lohi].drop_duplicates(keys).assign(_order=lambda d: np.arange(len(d)))
        t = t.merge(s, on=keys, how="left")
        if order_by_summary:
            t = t.assign(_rest=np.arange(len(t))).sort_values(["_order", "_rest"], na_position="last",
                                                              kind="stable").reset_index(drop=True)
    cols, data = [], []
    for k in keys:
        cols.append((key_names.get(k, k), ""))
        data.append([_key_text(v) for v in t[k]])
    for col, header, dig in extra:
        for who in ("paper", "ours"):
            name = f"{col} ({who})"
            if name in t and t[name].notna().any():
                cols.append((header, who))
                data.append([fmt_number(v, dig) for v in t[name]])
    for m in metrics:
        label = F1_LABELS.get(m, m)
        for who in ("paper", "ours"):
            name = f"{label} ({who})"
            if name not in t:
                continue
            if who == "ours" and f"{m}_lo" in t:
                vals = [fmt_interval(v, lo, hi, digits) for v, lo, hi in zip(t[name], t[f"{m}_lo"], t[f"{m}_hi"])]
            else:
                vals = [fmt_number(v, digits) for v in t[name]]
            cols.append((METRIC_NAMES.get(m, m), who))
            data.append(vals)
    out = pd.DataFrame(dict(enumerate(data)))
    out.columns = _two_level(cols)
    if baselines is not None and len(baselines):
        rows = []
        for _, b in baselines.iterrows():
            row = {c: DASH for c in out.columns}
            row[out.columns[0]] = str(b["method"])
            if len(keys) > 1:
                row[out.columns[1]] = "baseline"
            for m in metrics:
                c = (METRIC_NAMES.get(m, m), "ours")
                if c in row and m in b:
                    row[c] = fmt_number(b[m], digits)
            rows.append(row)
        out = pd.concat([out, pd.DataFrame(rows, columns=out.columns)], ignore_index=True)
    return out


def ours_detail(summary: pd.DataFrame, *, keys, boot: pd.DataFrame | None = None, key_names=None,
                digits: int = 2) -> pd.DataFrame:
    """The secondary columns of a paper-beside-ours table: per row of ``summary``
    (:func:`seed_summary`) our macro F1 with its interval over seeds (no paper counterpart), the
    number of seeds and, with ``boot`` (:func:`bootstrap_summary` keyed like ``summary``), Hit@1
    with its two-level bootstrap interval (seeds, then test videos) and the test videos."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    key_names = dict(key_names or {})
    out = pd.DataFrame({key_names.get(k, k): [_key_text(v) for v in summary[k]] for k in keys})
    if "f1_macro" in summary:
        out["macro F1 (%)"] = [fmt_interval(v, lo, hi, digits) for v, lo, hi in
                               zip(summary["f1_macro"], summary.get("f1_macro_lo", np.nan),
                                   summary.get("f1_macro_hi", np.nan))]
    if boot is not None:
        b = summary[keys].merge(boot, on=keys, how="left")
        out["Hit@1 (%), seeds x test videos"] = [fmt_interval(v, lo, hi, digits)
                                                 for v, lo, hi in zip(b["hit_at_1"], b["lo"], b["hi"])]
        out["test videos"] = [_key_text(v) for v in b["n_test"]]
    out["seeds"] = [_key_text(v) for v in summary["n_seeds"]]
    return out


def bootstrap_display(boot: pd.DataFrame, *, key: str = "run", digits: int = 2) -> pd.DataFrame:
    """:func:`bootstrap_summary` as the book prints it: the model, Hit@1 averaged over seeds with
    its two-level bootstrap 95 % interval in one cell, the test videos and the seeds."""
    names = [re.sub(r"\b1 frames\b", "1 frame", str(n)).replace(", PT", ", pre-trained") for n in boot[key]]
    return pd.DataFrame({
        "model": names,
        "Hit@1 (%) [95 % interval]": [fmt_interval(v, lo, hi, digits)
                                      for v, lo, hi in zip(boot["hit_at_1"], boot["lo"], boot["hi"])],
        "test videos": [_key_text(v) for v in boot["n_test"]],
        "seeds": [_key_text(v) for v in boot["n_seeds"]],
    })


#: Column names of the per-run tables as a reader says them.
_RUN_NAMES = {"params": "parameters", "params_paper_input": "parameters at the paper's input",
              "pretrained": "pre-trained", "pretrain_source": "pre-training", "epochs_run": "epochs run",
              "best_epoch": "best epoch", "n_missing": "videos left out", "frames": "frames"}


def runs_display(runs: pd.DataFrame, *, digits: int = 2, drop=()) -> pd.DataFrame:
    """A per-seed result table (``table*_runs``) for reading: metrics at ``digits`` decimals
    under :data:`METRIC_NAMES`, yes/no for flags, counts with thousands separators, readable
    column names; ``drop``: columns left out."""
    out = pd.DataFrame(index=runs.index)
    for c in runs.columns:
        if c in drop:
            continue
        if c in METRIC_NAMES:
            out[METRIC_NAMES[c]] = [fmt_number(v, digits) for v in runs[c]]
        else:
            out[_RUN_NAMES.get(c, c.replace("_", " "))] = [_key_text(v) for v in runs[c]]
    return out.reset_index(drop=True)


def _run_label(row, keys) -> str:
    parts = []
    for k in keys:
        v = row.get(k)
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            continue
        if k == "pretrained":
            parts.append("pre-trained" if bool(v) else "scratch")
        elif k == "frames":
            if float(v) > 0:
                parts.append(f"{int(v)} frame{'' if int(v) == 1 else 's'}")
        elif k == "table":
            parts.insert(0, f"Table {int(v)}:")
        elif k == "crop":
            continue  # part of the method's name
        else:
            parts.append(str(v))
    return " ".join(parts)


def timings_display(timings: pd.DataFrame) -> pd.DataFrame:
    """The wall-clock table of a page (:func:`split_timings`) for reading: one ``run`` label
    (table, method, model, frames, pre-training), the seed, seconds of training and pre-training
    at one decimal, examples per second and whether the run was reused from the feature store."""
    keys = [k for k in ("table", "method", "model", "frames", "pretrained", "crop") if k in timings]
    out = pd.DataFrame({"run": [_run_label(r, keys) for _, r in timings.iterrows()]})
    if "seed" in timings:
        out["seed"] = [_key_text(v) for v in timings["seed"]]
    for col, name, dig in (("train_seconds", "training (s)", 1), ("pretrain_seconds", "pre-training (s)", 1),
                           ("examples_per_s", "examples per second", 1)):
        if col in timings and timings[col].notna().any():
            out[name] = [fmt_number(v, dig) for v in timings[col]]
    if "cached" in timings and timings["cached"].notna().any():
        out["reused"] = [DASH if pd.isna(v) else _yes_no(bool(v)) for v in timings["cached"]]
    return out


def claims_display(evidence, *, digits: int = 2) -> pd.DataFrame:
    """A page's claim rows (:class:`avlib.claims.Evidence` objects or their table) for reading:
    the claim, what is compared (the detail up to its test description), the effect with its
    95 % interval in one cell, the p-value against 0 and, when checked, convergence."""

    df = pd.DataFrame([asdict(e) if is_dataclass(e) else dict(e) for e in evidence]) \
        if not isinstance(evidence, pd.DataFrame) else evidence
    out = pd.DataFrame({
        "claim": df["claim"].astype(str),
        "comparison": [str(d).split(", two-level")[0].split(", paired")[0] for d in df["detail"]],
        "effect (points) [95 % interval]": [fmt_interval(v, lo, hi, digits)
                                            for v, lo, hi in zip(df["effect"], df["lo"], df["hi"])],
        "p": [fmt_p(v) for v in df["p"]],
    })
    if "converged" in df and (df["converged"].astype(str) != "").any():
        out["converged"] = df["converged"].astype(str).replace("", DASH)
    return out


def convergence_display(check: pd.DataFrame, *, digits: int = 2) -> pd.DataFrame:
    """:func:`avlib.claims.mark_convergence`'s table for reading (effects in points): the effect
    over every seed, then on the seeds the check trains again (``check_seeds``) as trained and
    with shorter training; the change on those seeds is compared with the full half-width."""
    return pd.DataFrame({
        "claim": check["claim"].astype(str),
        "effect, as trained": [fmt_number(v, digits) for v in check["effect"]],
        "checked seeds, as trained": [fmt_number(v, digits) for v in check.get("effect_matched", check["effect"])],
        "checked seeds, shorter training": [fmt_number(v, digits) for v in check["effect_short"]],
        "change": [fmt_number(v, digits) for v in check["change"]],
        "interval half-width": [fmt_number(v, digits) for v in check["half_width"]],
        "converged": check["converged"].astype(str),
    })


def class_baselines(y_train, y_test, n_classes: int, *, categories=None) -> pd.DataFrame:
    """What a classifier that ignores its input scores on ``y_test`` (metrics in %).

    Two rows, computed from the labels: ``chance`` (a uniform guess: Hit@1 = 100 / C, Hit@3 =
    300 / C, and the weighted F1 of the expected confusion matrix, in which class c has
    precision = its test share and recall = 1 / C) and ``majority class`` (always the most
    frequent class of ``y_train``, ties to the lower index; Hit@3 = the three most frequent).
    The method column names the majority class (its ``categories`` name when given).
    """

    C = int(n_classes)
    yt = np.asarray(y_test, dtype=np.int64).ravel()
    counts = np.bincount(np.asarray(y_train, dtype=np.int64).ravel(), minlength=C)
    order = np.argsort(-counts, kind="stable")
    share = np.bincount(yt, minlength=C) / max(1, len(yt))
    f1_chance = np.divide(2 * share / C, share + 1 / C, out=np.zeros(C), where=(share + 1 / C) > 0)
    major = int(order[0])
    name = str(categories[major]) if categories is not None else str(major)

    rows = [
        {"method": "chance (uniform guess)", "hit_at_1": 100.0 / C, "hit_at_3": 100.0 * min(3, C) / C,
         "f1": 100.0 * float((share * f1_chance).sum()), "f1_macro": np.nan},
        {"method": f"majority class ({short_category(name)})", "hit_at_1": 100.0 * share[major],
         "hit_at_3": 100.0 * float(share[order[:3]].sum()),
         "f1": f1_from_labels(yt, np.full_like(yt, major), average="weighted", n_classes=C) if len(yt) else np.nan,
         "f1_macro": f1_from_labels(yt, np.full_like(yt, major), average="macro", n_classes=C) if len(yt) else np.nan},
    ]
    return pd.DataFrame(rows)


#: Table 1's properties as a reader says them; the counts are integers.
TABLE1_NAMES = {
    "total_categories": "categories",
    "total_categories_before_undersampling": "categories before undersampling",
    "total_videos": "videos",
    "total_videos_before_undersampling": "videos before undersampling",
    "videos_with_duration": "videos with a duration",
    "total_duration_hours": "total duration (h)",
    "mean_duration_minutes": "mean duration (min)",
    "videos_per_category_mean": "videos per category, mean",
    "videos_per_category_std": "videos per category, s.d.",
    "videos_used_in_experiments": "videos used in experiments",
}
_TABLE1_COUNTS = {"total_categories", "total_categories_before_undersampling", "total_videos",
                  "total_videos_before_undersampling", "videos_with_duration", "videos_used_in_experiments"}


def _table1_value(prop: str, v, *, paper: bool = False) -> str:
    """Counts as integers, the rest at two decimals; the paper's integers (its 429 videos per
    category) as it prints them."""
    whole = paper and isinstance(v, (int, float, np.number)) and np.isfinite(v) and float(v).is_integer()
    return fmt_number(v, 0 if prop in _TABLE1_COUNTS or whole else 2)


def table1_display(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 (:func:`avlib.data.icmr_metadata.table1_comparison`) as the book prints it: the
    properties in words, counts as integers, durations and per-category statistics at two
    decimals (the paper's integers as it prints them), paper beside ours under each dataset."""
    props = table["property"].tolist()
    cols, data = [("property", "")], [[TABLE1_NAMES.get(p, p.replace("_", " ")) for p in props]]
    for c in table.columns[1:]:
        dataset, _, who = str(c).rpartition(" (")
        cols.append((dataset, who.rstrip(")")) if dataset else (str(c), ""))
        data.append([_table1_value(p, v, paper=who == "paper)") for p, v in zip(props, table[c])])
    out = pd.DataFrame(dict(enumerate(data)))
    out.columns = _two_level(cols)
    return out


def embedded_table1_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`embedded_table1` with Table 1's formatting (:func:`table1_display`), one column per
    collection."""
    props = table["property"].tolist()
    out = pd.DataFrame({"property": [TABLE1_NAMES.get(p, p.replace("_", " ")) for p in props]})
    for c in table.columns[1:]:
        out[c] = [_table1_value(p, v) for p, v in zip(props, table[c])]
    return out


def table1_facts(metadata_dir=None, *, download: bool = False) -> dict:
    """The counts the Table 1 page explains, from the authors' files (text, thousands separators):
    listed videos, videos with a duration, unlisted durations, per dataset (``fcvid_*``,
    ``yt8m_*``), and the per-category mean and s.d. over the listed videos."""
    out = {}
    for key, loader in (("fcvid", icmr_metadata.load_fcvid_list), ("yt8m", icmr_metadata.load_yt8m_list)):
        listed = loader(metadata_dir, download=download)
        unlisted = None if download else icmr_metadata.load_unlisted_durations(key, metadata_dir)
        s = icmr_metadata.table1_stats(listed, unlisted)
        out.update({f"{key}_listed": f"{s['total_videos']:,}", f"{key}_durations": f"{s['videos_with_duration']:,}",
                    f"{key}_unlisted": f"{0 if unlisted is None else len(unlisted):,}",
                    f"{key}_per_class_mean": f"{s['videos_per_category_mean']:,.1f}",
                    f"{key}_per_class_std": f"{s['videos_per_category_std']:,.1f}"})
    return out


def split_display(split_table: pd.DataFrame) -> pd.DataFrame:
    """:func:`official_split_sizes` with readable split names and thousands separators."""
    out = pd.DataFrame({"dataset": split_table["dataset"].astype(str)})
    for c, name in (("train", "training"), ("val", "validation"), ("test", "test")):
        out[name] = [_key_text(v) for v in split_table[c]]
    return out


def data_summary(bench) -> str:
    """One sentence on a benchmark's size for the settings box: ``"36 (25 training, 5 validation,
    6 test) in 12 categories"``."""
    split = bench.videos["split"].value_counts()
    parts = ", ".join(f"{int(split.get(s, 0)):,} {w}" for s, w in (("train", "training"), ("val", "validation"),
                                                                    ("test", "test")))
    return f"{len(bench.videos):,} videos ({parts}) in {bench.num_classes} categories"


#: Which choices of :func:`fidelity_options` each page shows.
FIDELITY_ROWS = {
    "audio": ("log-mel scale", "Han et al. segment", "Han et al. dropout", "Xception exit", "F1 average",
              "ties and missing modalities"),
    "visual": ("frame classifier", "frames per video", "frame backbone", "F1 average",
               "ties and missing modalities"),
    "fusion": ("late-fusion hidden layers", "frames per video", "frame backbone", "F1 average",
               "ties and missing modalities"),
    "youtube8m": ("log-mel scale", "frames per video", "frame backbone", "late-fusion hidden layers",
                  "F1 average"),
}


def fidelity_display(cfg: ICMRConfig, page: str | None = None) -> pd.DataFrame:
    """:func:`fidelity_options` for one page (:data:`FIDELITY_ROWS`; all rows with
    ``page=None``): the choice, what this run does, the paper's text and the authors' code (the
    note is added to the run's cell in brackets). Short enough for the content column."""
    t = fidelity_options(cfg)
    if page is not None:
        if page not in FIDELITY_ROWS:
            raise ValueError(f"page must be one of {sorted(FIDELITY_ROWS)}, not {page!r}")
        t = t.set_index("option").loc[list(FIDELITY_ROWS[page])].reset_index()
    run = [f"{r} ({n})" if n else r for r, n in zip(t["this run"], t["note"])]
    return pd.DataFrame({"choice": t["option"], "this run": run, "paper": t["paper's text"],
                         "authors' code": t["authors' code"]})


def titan_x_display(est: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The visual page's workload estimate (:func:`avlib.experiments.icmr.throughput.
    inception_workloads`) as two narrow tables: ``(hours, compute)``.

    ``hours``: each Table 2 workload (dataset, frames, pre-training, steps, frames seen) with the
    paper's hours on one Titan X beside our estimated hours. ``compute``: the hours at a Titan
    X's peak FP32 rate and the share of that peak the paper's hours imply, for both Titan X.
    """
    key = pd.DataFrame({"dataset": est["dataset"].astype(str), "frames": [_key_text(v) for v in est["frames"]],
                        "pre-trained": [_key_text(v) for v in est["pretrained"]]})
    device = str(est["our_device"].iloc[0]) if "our_device" in est and len(est) else "ours"
    hours = key.assign(**{"steps": [_key_text(v) for v in est["steps"]],
                          "frames seen": [_key_text(v) for v in est["frames_seen"]],
                          "hours, paper (Titan X)": [fmt_number(v, 0) for v in est["train_hours"]],
                          f"hours, our code ({device})": [fmt_number(v, 1) for v in est["our_hours"]]})
    compute = key.copy()
    for gpu in ("Maxwell", "Pascal"):
        h = f"compute hours at peak, Titan X ({gpu})"
        u = f"paper utilisation %, Titan X ({gpu})"
        if h in est:
            compute[f"{gpu}: hours at peak"] = [fmt_number(v, 2) for v in est[h]]
            compute[f"{gpu}: paper's share of peak (%)"] = [fmt_number(v, 1) for v in est[u]]
    return hours, compute


def class_counts_display(counts: pd.DataFrame) -> pd.DataFrame:
    """:func:`avlib.experiments.icmr.youtube8m.youtube8m_class_counts` for reading: the real
    YouTube-8M class (authors' list: videos, share) beside our category (videos, share, the
    official split, shots without the instrument, mislabelled videos), two-level header."""

    cols = [(("category", ""), [short_category(c) for c in counts["category"]]),
            (("YouTube-8M (authors' list)", "class"), counts["yt8m_class"].astype(str).tolist()),
            (("YouTube-8M (authors' list)", "videos"), [_key_text(v) for v in counts["yt8m_videos"]]),
            (("YouTube-8M (authors' list)", "share (%)"), [fmt_number(v, 1) for v in counts["yt8m_share"]]),
            (("this variant", "videos"), [_key_text(v) for v in counts["videos"]]),
            (("this variant", "share (%)"), [fmt_number(v, 1) for v in counts["share"]])]
    for s, w in (("train", "train"), ("val", "val."), ("test", "test")):
        cols.append((("this variant", w), [_key_text(v) for v in counts[s]]))
    if "no_instrument" in counts:
        cols.append((("this variant", "no instrument (% of shots)"),
                     [fmt_number(v, 1) for v in counts["no_instrument"]]))
    if "mislabelled" in counts:
        cols.append((("this variant", "mislabelled"), [_key_text(v) for v in counts["mislabelled"]]))
    out = pd.DataFrame({i: v for i, (_, v) in enumerate(cols)})
    out.columns = _two_level([c for c, _ in cols])
    return out


def per_class_display(per_class: pd.DataFrame) -> pd.DataFrame:
    """Figure 3's diagonals (:func:`avlib.experiments.icmr.youtube8m.per_class_recall`) for
    reading: short category names, test videos, recall per model in % at two decimals (a dash
    for a class without test videos)."""

    out = pd.DataFrame({"category": [short_category(c) for c in per_class["category"]],
                        "test videos": [_key_text(v) for v in per_class["test_videos"]]})
    for c in per_class.columns[2:]:
        out[f"recall (%), {c}"] = [fmt_number(v, 2) for v in per_class[c]]
    return out


def robustness_display(deg: pd.DataFrame, *, digits: int = 2) -> pd.DataFrame:
    """The robustness table (:func:`avlib.experiments.icmr.robustness.degradation_table`) for
    reading: the condition in words (SNR in dB, share of frames kept in %), the model, the four
    metrics and the test videos left out (no frame left)."""
    def cond(c, lvl):
        if c == "audio noise":
            return f"audio noise, SNR {lvl:g} dB"
        if c == "frames kept":
            return f"{100 * lvl:g} % of the frames kept"
        return str(c)

    out = pd.DataFrame({"condition": [cond(c, lvl) for c, lvl in zip(deg["condition"], deg["level"])],
                        "model": deg["model"].astype(str)})
    for m in ("hit_at_1", "hit_at_3", "f1", "f1_macro"):
        if m in deg:
            out[METRIC_NAMES[m]] = [fmt_number(v, digits) for v in deg[m]]
    if "n_missing" in deg:
        out["videos left out"] = [_key_text(v) for v in deg["n_missing"]]
    return out


def feature_file_display(table: pd.DataFrame, *, identical: bool | None = None, left_out: int = 0,
                         digits: int = 2) -> pd.DataFrame:
    """The fusion trained from a feature file (:func:`~avlib.experiments.icmr.feature_files.
    run_fusion_from_feature_file`'s ``table``) for reading: frames, videos per split, the four
    metrics, the videos left out of the file and, for an exported file, whether it scored exactly
    as the in-memory Table 4 fusion."""
    r = table.iloc[0]
    row = {"method": str(r["method"]), "frames": _key_text(r["frames"]),
           "videos (train / val. / test)": f"{int(r['n_train']):,} / {int(r['n_val']):,} / {int(r['n_test']):,}"}
    row.update({METRIC_NAMES[m]: fmt_number(r[m], digits) for m in ("hit_at_1", "hit_at_3", "f1", "f1_macro")})
    row["videos without features"] = f"{int(left_out):,}"
    if identical is not None:
        row["same as Table 4's fusion"] = "yes" if identical else "no"
    return pd.DataFrame([row])


def feature_file_summary(features: dict, *, name: str, label: str = "") -> pd.DataFrame:
    """A format test of a feature file in the authors' layout (:func:`avlib.data.fcvid.
    read_feature_file`'s dict): the file name, its videos, the shapes of the audio and video
    datasets (every distinct shape, with its count when several) and the late-fusion matrix
    ``(2k + 1) x 1024`` the largest frame count gives."""
    def shapes(kind):
        found = pd.Series([("missing" if f.get(kind) is None else " x ".join(str(d) for d in np.shape(f[kind])))
                           for f in features.values()]).value_counts()
        return "; ".join(s if len(found) == 1 else f"{s} ({n:,} videos)" for s, n in found.items())

    k = max((0 if f.get("video") is None else len(f["video"])) for f in features.values()) if features else 0
    dim = next((np.shape(f["audio"])[-1] for f in features.values() if f.get("audio") is not None), 1024)
    row = {"file": name, "videos": f"{len(features):,}", "audio": shapes("audio"), "video": shapes("video"),
           "fusion matrix": f"{2 * k + 1} x {dim}"}
    if label:
        row["label"] = label
    return pd.DataFrame([row])


def confusion_diagonals(confusions: dict, categories, y_test) -> pd.DataFrame:
    """The diagonals of a set of confusion matrices (Figures 2-3) as a table: per category its
    test videos and, per matrix, the recall in % (NaN for a class without test videos); the
    columns as :func:`avlib.experiments.icmr.youtube8m.per_class_recall` (display them with
    :func:`per_class_display`)."""
    n = np.bincount(np.asarray(y_test, dtype=np.int64), minlength=len(categories))
    out = pd.DataFrame({"category": list(categories), "test_videos": n})
    for name, cm in confusions.items():
        out[name] = np.where(n > 0, 100.0 * np.diag(np.asarray(cm, dtype=float)), np.nan)
    return out


def benchmark_baselines(bench, y_test) -> pd.DataFrame | None:
    """:func:`class_baselines` of a benchmark (:class:`~avlib.experiments.icmr.data.Benchmark`):
    its training videos' labels against ``y_test``; None when ``bench`` lists no videos with a
    split (nothing to count)."""
    videos = getattr(bench, "videos", None)
    if videos is None or "split" not in videos or "label" not in videos:
        return None
    train = videos.loc[videos["split"] == "train", "label"]
    return class_baselines(train, y_test, bench.num_classes, categories=bench.categories)


def baseline_text(base: pd.DataFrame | None) -> dict:
    """The baselines for a page's prose: ``chance`` and ``majority`` (Hit@1 in %, two decimals)
    and ``majority_name`` (the majority class); dashes without baselines."""
    if base is None or len(base) < 2:
        return {"chance": DASH, "majority": DASH, "majority_name": DASH}
    name = str(base["method"].iloc[1])
    return {"chance": fmt_number(base["hit_at_1"].iloc[0]), "majority": fmt_number(base["hit_at_1"].iloc[1]),
            "majority_name": name[name.find("(") + 1:name.rfind(")")] if "(" in name else name}
