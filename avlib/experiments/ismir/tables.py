"""The ISMIR page's tables: the stored results (one row per scheme, seed or category, every
statistic, written as CSV) and the compact views the page shows (a few columns, intervals as
``mean [lo, hi]`` text, yes / no instead of booleans).

Stored: :func:`seed_accuracy_table` (accuracy of both schemes over seeds, the paper's numbers
beside), :func:`accuracy_table` (one run per scheme), :func:`seed_summary_table` (intra- and
inter-modal correlation over seeds), :func:`claim_seed_table` (the statistics behind the Claims
rows, per seed), :func:`claim_table` (the paper's claim beside ours, one seed). Views:
:func:`accuracy_view`, :func:`category_view`, :func:`seeds_view`, :func:`claim_seed_view`,
:func:`claim_view`, :func:`evidence_view`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from ...metrics.stats import mean_ci
from ...report import paper_table
from ..icmr.figures import short_category
from .correspondence import claim_settings, seed_stats

__all__ = [
    "paper_accuracy",
    "accuracy_table",
    "seed_accuracy_table",
    "seed_summary_table",
    "claim_seed_table",
    "claim_table",
    "category_summary",
    "timing_table",
    "interval_text",
    "accuracy_view",
    "category_view",
    "seeds_view",
    "claim_seed_view",
    "claim_view",
    "evidence_view",
]

_METRICS = (("hit_at_1", "Hit@1"), ("hit_at_3", "Hit@3"), ("f1", "F1"))
_SEED_STATS = (("intra", "mean |rho| intra"), ("inter", "mean |rho| inter"),
               ("pct_sig_inter", "% inter pairs significant"),
               ("pct_categories_claim", "% categories where the claim holds"))
#: The range each statistic can take: its interval is cut to it (two seeds give a Student-t
#: interval of +-12.7 standard errors, which would otherwise run below 0 %).
_SEED_BOUNDS = {"intra": (0.0, 1.0), "inter": (0.0, 1.0), "pct_sig_inter": (0.0, 100.0),
                "pct_categories_claim": (0.0, 100.0)}


# --------------------------------------------------------------------------- stored results
def paper_accuracy(audio_model: str, *, dataset: str = "FCVID") -> dict:
    """The paper's numbers beside each scheme: ICMR 2017 Table 4 (FCVID, 50 frames) for the
    feature-extraction scheme; the ISMIR LBD reports no accuracy for either scheme."""
    t = paper_table("icmr2017_table4_multimodal")
    name = {"xception_audio": "Xception", "choi2016": "Choi et al. 2016"}.get(audio_model)
    row = t[(t["method"] == name) & (t["dataset"] == dataset)]
    if row.empty:
        return {}
    r = row.iloc[0]
    return {"feature extraction": {"hit_at_1": float(r["hit_at_1"]), "hit_at_3": float(r["hit_at_3"]),
                                   "f1": float(r["f1"])}}


def accuracy_table(results: list, *, split: str = "test", paper: dict | None = None) -> pd.DataFrame:
    """Hit@1 / Hit@3 / F1 of each scheme (one run each) on ``split`` beside the paper's numbers
    (``paper``: ``{scheme: {"hit_at_1": ..., "hit_at_3": ..., "f1": ...}}``, NaN where the paper
    reports none)."""
    paper = paper or {}
    rows = []
    for r in results:
        m = r.metrics(split)
        p = paper.get(r.scheme, {})
        rows.append({"scheme": r.scheme,
                     "Hit@1 (paper)": p.get("hit_at_1", np.nan), "Hit@1 (ours)": m["hit_at_1"],
                     "Hit@3 (paper)": p.get("hit_at_3", np.nan), "Hit@3 (ours)": m["hit_at_3"],
                     "F1 (paper)": p.get("f1", np.nan), "F1 (ours)": m["f1"],
                     "train seconds": r.seconds, "n test videos": int((r.split == split).sum()),
                     "videos with non-finite output": m["non_finite_videos"]})
    return pd.DataFrame(rows)


def seed_accuracy_table(results: dict, *, split: str = "test", paper: dict | None = None) -> pd.DataFrame:
    """Per scheme: Hit@1 / Hit@3 / F1 as mean with its 95 % Student-t interval over seeds
    (:func:`avlib.metrics.stats.mean_ci`), beside the paper's numbers."""
    paper = paper or {}
    rows = []
    for scheme in dict.fromkeys(k[0] for k in results):
        ms = [results[k].metrics(split) for k in results if k[0] == scheme]
        p = paper.get(scheme, {})
        row = {"scheme": scheme, "seeds": len(ms)}
        for key, label in _METRICS:
            ci = mean_ci([m[key] for m in ms])
            row[f"{label} (paper)"] = p.get(key, np.nan)
            row[f"{label} (ours, mean)"] = ci.mean
            row[f"{label} (ours, 95% lo)"] = ci.lo
            row[f"{label} (ours, 95% hi)"] = ci.hi
        row["videos with non-finite output"] = int(sum(m["non_finite_videos"] for m in ms))
        rows.append(row)
    return pd.DataFrame(rows)


def seed_summary_table(cors: dict) -> pd.DataFrame:
    """Per scheme, over seeds (mean and 95 % Student-t interval, cut to the range the statistic
    can take): mean |rho| intra and inter (over categories), % of inter-modal pairs significant,
    % of categories where the claim holds."""
    rows = []
    for scheme in dict.fromkeys(k[0] for k in cors):
        st = [seed_stats(cors[k].summary) for k in cors if k[0] == scheme and len(cors[k].summary)]
        if not st:
            continue
        row = {"scheme": scheme, "seeds": len(st)}
        for key, label in _SEED_STATS:
            vals = [x[key] for x in st if np.isfinite(x[key])]
            ci = mean_ci(vals, bounds=_SEED_BOUNDS[key]) if vals else None
            row[label] = ci.mean if ci else np.nan
            row[f"{label} 95% lo"] = ci.lo if ci else np.nan
            row[f"{label} 95% hi"] = ci.hi if ci else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def claim_seed_table(cors: dict, *, strong: float | None = None) -> pd.DataFrame:
    """One row per ``(scheme, seed)``: the per-seed statistics behind the ISMIR Claims rows
    (:func:`.evidence.claim_evidence`): categories analysed, categories with no significant
    inter-modal pair, categories with strong intra-modal correlation, the weakest category's
    intra-modal strength (and minus ``strong``, x 100), mean |rho| intra / inter, % inter pairs
    significant."""
    _, strong, _, _ = claim_settings(cors, None, strong)
    rows = []
    for (scheme, sd), c in cors.items():
        if not len(c.summary):
            continue
        st = seed_stats(c.summary)
        rows.append({"scheme": scheme, "seed": sd, "categories": st["categories"],
                     "categories without significant inter pair": st["n_categories_inter_clean"],
                     "% categories without significant inter pair": st["pct_categories_inter_clean"],
                     "categories with strong intra": st["n_categories_intra_strong"],
                     "weakest intra strength": st["weakest_intra"],
                     "weakest category": st["weakest_intra_category"],
                     f"weakest intra minus {strong:g} (x 100)": 100.0 * (st["weakest_intra"] - strong),
                     "mean |rho| intra": st["intra"], "mean |rho| inter": st["inter"],
                     "% inter pairs significant": st["pct_sig_inter"],
                     "categories where the claim holds": st["n_categories_claim"]})
    return pd.DataFrame(rows)


def claim_table(summaries) -> pd.DataFrame:
    """Per scheme: the paper's claim beside what we measured (over all categories of one seed).

    ``summaries``: the per-category summaries of one seed, as a list of DataFrames or as
    ``{scheme: Correspondence}`` (:func:`.correspondence.first_seed`)."""
    if isinstance(summaries, dict):
        summaries = [c.summary for c in summaries.values()]
    rows = []
    for s in summaries:
        if not len(s):
            continue
        rows.append({
            "scheme": s["scheme"].iloc[0],
            "paper: intra-modal": "strong",
            "ours: mean |rho| intra (median over categories)": float(s["mean_abs_rho_intra"].median()),
            "ours: categories with intra strong": f"{int(s['intra_strong'].sum())}/{len(s)}",
            "paper: inter-modal": "no significant relation",
            "ours: mean |rho| inter (median over categories)": float(s["mean_abs_rho_inter"].median()),
            "ours: significant inter pairs (all categories)":
                f"{int(s['n_sig_inter'].sum())}/{int(s['n_pairs_inter'].sum())}",
            "ours: categories without significant inter pair": f"{int(s['inter_not_significant'].sum())}/{len(s)}",
            "claim holds (categories)": f"{int(s['claim_holds'].sum())}/{len(s)}",
        })
    return pd.DataFrame(rows)


def category_summary(cors: dict) -> pd.DataFrame:
    """Every ``(scheme, seed)``'s per-category summary in one table, with a ``seed`` column."""
    return pd.concat([c.summary.assign(seed=seed) for (_, seed), c in cors.items()], ignore_index=True)


def timing_table(results: dict) -> pd.DataFrame:
    """Seconds of every part of every run (``seconds_by_part``), one row per part; kept apart
    from the result tables, which two runs of the same seeds write identically."""
    return pd.DataFrame([{"scheme": scheme, "seed": seed, "part": part, "seconds": float(sec)}
                         for (scheme, seed), r in results.items() for part, sec in r.seconds_by_part.items()])


# --------------------------------------------------------------------------- views for the page
def interval_text(mean, lo=np.nan, hi=np.nan, *, digits: int = 1) -> str:
    """``"16.7 [12.0, 21.4]"``; the mean alone when there is no interval (one seed), "–" when
    there is no value."""
    if mean is None or not np.isfinite(mean):
        return "–"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _yes(flag) -> str:
    return "yes" if bool(flag) else "no"


def accuracy_view(acc: pd.DataFrame) -> pd.DataFrame:
    """:func:`seed_accuracy_table` as shown: per metric the paper's value and ours as
    ``mean [95 % interval]``; the non-finite column only when a network diverged."""
    out = acc[["scheme", "seeds"]].copy()
    for _, label in _METRICS:
        out[f"{label} (paper)"] = acc[f"{label} (paper)"]
        out[f"{label} (ours)"] = [interval_text(m, lo, hi) for m, lo, hi in
                                  zip(acc[f"{label} (ours, mean)"], acc[f"{label} (ours, 95% lo)"],
                                      acc[f"{label} (ours, 95% hi)"])]
    if acc["videos with non-finite output"].any():
        out["videos with non-finite output"] = acc["videos with non-finite output"]
    return out


def category_view(summary: pd.DataFrame) -> pd.DataFrame:
    """One seed's per-category summary as shown: short category names, mean |rho| per block,
    significant pairs per family (``significant / pairs``), the smallest corrected inter-modal
    p-value, the verdict."""
    s = summary
    return pd.DataFrame({
        "scheme": s["scheme"],
        "category": [short_category(n) for n in s["name"]],
        "videos": s["n_videos"],
        "audio |rho|": s["mean_abs_rho_intra_audio"],
        "visual |rho|": s["mean_abs_rho_intra_visual"],
        "inter |rho|": s["mean_abs_rho_inter"],
        "sig. intra": [f"{a}/{b}" for a, b in zip(s["n_sig_intra"], s["n_pairs_intra"])],
        "sig. inter": [f"{a}/{b}" for a, b in zip(s["n_sig_inter"], s["n_pairs_inter"])],
        "min q inter": s["min_q_inter"],
        "claim": [_yes(v) for v in s["claim_holds"]],
    })


def seeds_view(over: pd.DataFrame) -> pd.DataFrame:
    """:func:`seed_summary_table` as shown: each statistic as ``mean [95 % interval]``."""
    out = over[["scheme", "seeds"]].copy()
    for _, label in _SEED_STATS:
        digits = 2 if "|rho|" in label else 1
        out[label] = [interval_text(m, lo, hi, digits=digits) for m, lo, hi in
                      zip(over[label], over[f"{label} 95% lo"], over[f"{label} 95% hi"])]
    return out


def claim_seed_view(per_seed: pd.DataFrame) -> pd.DataFrame:
    """:func:`claim_seed_table` as shown: the counts as ``n / categories``, short category names."""
    n = per_seed["categories"]
    return pd.DataFrame({
        "scheme": per_seed["scheme"],
        "seed": per_seed["seed"].astype(str),  # a label, not a number to format
        "no significant inter pair": [f"{a}/{b}" for a, b in
                                      zip(per_seed["categories without significant inter pair"], n)],
        "strong intra": [f"{a}/{b}" for a, b in zip(per_seed["categories with strong intra"], n)],
        "claim holds": [f"{a}/{b}" for a, b in zip(per_seed["categories where the claim holds"], n)],
        "weakest intra strength": per_seed["weakest intra strength"],
        "weakest category": [short_category(n) for n in per_seed["weakest category"]],
    })


def claim_view(claim_rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`claim_table` as shown: one row per part of the claim, the paper and each scheme
    as columns."""
    rows = [("intra-modal correlation", "strong", lambda r: (
                f"median mean |rho| {r['ours: mean |rho| intra (median over categories)']:.2f}; "
                f"strong in {r['ours: categories with intra strong']} categories")),
            ("inter-modal relation", "none significant", lambda r: (
                f"median mean |rho| {r['ours: mean |rho| inter (median over categories)']:.2f}; "
                f"{r['ours: significant inter pairs (all categories)']} pairs significant; "
                f"none in {r['ours: categories without significant inter pair']} categories")),
            ("claim holds", "every category", lambda r: f"{r['claim holds (categories)']} categories")]
    out = {"": [name for name, _, _ in rows], "paper": [paper for _, paper, _ in rows]}
    for _, r in claim_rows.iterrows():
        out[r["scheme"]] = [text(r) for _, _, text in rows]
    return pd.DataFrame(out)


def evidence_view(evidence: list) -> pd.DataFrame:
    """The Claims page's rows as shown: effect with its interval, seeds and the test (the full
    wording is in ``claims_evidence.csv``)."""
    t = pd.DataFrame([asdict(e) for e in evidence])
    if t.empty:
        return pd.DataFrame(columns=["claim", "effect (points)", "seeds", "converged", "test"])
    return pd.DataFrame({
        "claim": t["claim"],
        "effect (points)": [interval_text(m, lo, hi, digits=2) for m, lo, hi in zip(t["effect"], t["lo"], t["hi"])],
        "seeds": t["n"],
        "converged": t["converged"].replace("", "not checked") if "converged" in t else "not checked",
        "test": t["test"],
    })
