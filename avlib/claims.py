"""The book's verdict on the papers' claims: every checkable claim, our effect, its interval.

A claim is defined once, from the papers, in ``avlib/reference/claims.yaml`` (id, paper,
wording, the paper's number, what our effect measures, the page that measures it). The page
that measures a claim records an :class:`Evidence` row with :func:`record`; the "Claims"
page collects every row with :func:`claims_table` and computes the verdict from the interval
(:func:`verdict`). Nothing on that page is typed by hand.

Effects are in percentage points (or the unit the claim's ``effect`` text names), oriented
so that a positive effect is the paper's direction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ParameterError

__all__ = [
    "Evidence",
    "from_paired",
    "from_values",
    "record",
    "load_claims",
    "collect",
    "verdict",
    "claims_table",
    "bh_adjusted",
    "EVIDENCE_FILE",
    "VERDICTS",
    "style_claims",
    "plot_claims",
]

#: File name of a notebook's evidence rows inside its results folder.
EVIDENCE_FILE = "claims_evidence.csv"

#: The three verdicts, in the order the page sorts them.
VERDICTS = ("holds", "contradicted", "inconclusive on the stand-ins")


@dataclass
class Evidence:
    """Our measurement of one claim.

    Parameters
    ----------
    claim : str
        Id from ``claims.yaml``.
    effect, lo, hi : float
        Mean effect and its interval (95 % unless ``detail`` says otherwise).
    n : int
        Number of (paired) observations behind the interval: seeds, folds or seeds x folds.
    detail : str
        What minus what, which metric, over what (e.g. "fusion (Choi) - Choi UC audio, Hit@1, 3 seeds").
    test : str
        The test and its result, e.g. "paired t over 3 seeds: p = 0.01".
    p : float
        The test's p-value (NaN if none).
    """

    claim: str
    effect: float
    lo: float
    hi: float
    n: int
    detail: str = ""
    test: str = ""
    p: float = float("nan")


def from_paired(claim: str, a, b, *, detail: str, confidence: float = 0.95) -> Evidence:
    """Evidence from paired observations: the effect is ``a - b`` (e.g. per seed x fold)."""
    from .metrics.stats import paired_effect

    e = paired_effect(a, b, confidence=confidence)
    test = f"paired t over {e.n}: t = {e.t:.2f}, p = {e.p:.3g}" if np.isfinite(e.p) else f"n = {e.n}"
    return Evidence(claim, e.mean, e.lo, e.hi, e.n, detail, test, e.p)


def from_values(claim: str, values, *, detail: str, confidence: float = 0.95) -> Evidence:
    """Evidence from per-observation effects (already ``a - b`` or a per-seed statistic)."""
    from .metrics.stats import mean_ci
    from scipy import stats

    x = np.asarray(values, dtype=float).ravel()
    ci = mean_ci(x, confidence=confidence)
    p = float("nan")
    if x.size >= 2 and not np.allclose(x, x[0]):
        p = float(stats.ttest_1samp(x, 0.0).pvalue)
    test = f"one-sample t over {ci.n}: p = {p:.3g}" if np.isfinite(p) else f"n = {ci.n}"
    lo, hi = (ci.lo, ci.hi) if x.size < 2 or not np.allclose(x, x[0]) else (ci.mean, ci.mean)
    return Evidence(claim, ci.mean, lo, hi, ci.n, detail, test, p)


def load_claims() -> pd.DataFrame:
    """The claims of ``claims.yaml`` as a table (one row per claim, in file order)."""
    import yaml

    text = resources.files("avlib").joinpath("reference/claims.yaml").read_text(encoding="utf-8")
    rows = yaml.safe_load(text)
    df = pd.DataFrame(rows)
    if df["id"].duplicated().any():
        raise ParameterError(f"duplicate claim ids: {sorted(df.loc[df['id'].duplicated(), 'id'])}")
    return df


def record(results_dir, evidence, provenance) -> Path:
    """Write ``evidence`` (a list of :class:`Evidence`) to ``<results_dir>/claims_evidence.csv``.

    Unknown claim ids raise, so a typo cannot drop a row from the Claims page.
    """
    from .report import save_result

    known = set(load_claims()["id"])
    rows = [asdict(e) for e in evidence]
    bad = sorted({r["claim"] for r in rows} - known)
    if bad:
        raise ParameterError(f"unknown claim id(s) {bad}; add them to avlib/reference/claims.yaml")
    df = pd.DataFrame(rows, columns=[f for f in Evidence.__dataclass_fields__])
    return save_result(df, Path(results_dir) / EVIDENCE_FILE, provenance)


def collect(results_root, scale: str) -> pd.DataFrame:
    """Every evidence row under ``<results_root>/<scale>/*/claims_evidence.csv``.

    Adds ``page`` (the notebook folder) and the provenance columns ``source``, ``seed``.
    """
    from .report import load_result

    frames = []
    base = Path(results_root) / scale
    for path in sorted(base.glob(f"*/{EVIDENCE_FILE}")):
        df, prov = load_result(path)
        df = df.copy()
        df["measured_on"] = path.parent.name
        df["source"] = prov.source
        df["seed"] = str(prov.seed)
        frames.append(df)
    cols = list(Evidence.__dataclass_fields__) + ["measured_on", "source", "seed"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def verdict(lo: float, hi: float) -> str:
    """*holds* when the whole interval is above 0, *contradicted* when it is below 0, else
    *inconclusive on the stand-ins* (also when there is no interval)."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return VERDICTS[2]
    if lo > 0:
        return VERDICTS[0]
    if hi < 0:
        return VERDICTS[1]
    return VERDICTS[2]


def bh_adjusted(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q) of the finite entries of ``p``; NaN elsewhere.

    The Claims page runs one test per row, so at the 5 % level about one row in twenty can come
    out *holds* or *contradicted* by chance; ``q <= 0.05`` keeps the false-discovery rate over
    the page's rows at 5 %. (SciPy's ``false_discovery_control``.)
    """
    from scipy import stats

    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return q


def claims_table(results_root, scale: str) -> pd.DataFrame:
    """One row per claim (and per evidence row): the paper's side, ours, the verdict.

    Claims without evidence get the verdict ``"not measured"`` so a missing page shows.
    ``q_bh``: the row's p-value adjusted for the number of rows (:func:`bh_adjusted`).
    """
    claims = load_claims().rename(columns={"effect": "measures"})
    ev = collect(results_root, scale)
    merged = claims.merge(ev, left_on="id", right_on="claim", how="left")
    verdicts, ours = [], []
    for _, r in merged.iterrows():
        if pd.isna(r["effect"]):
            verdicts.append("not measured")
            ours.append("")
            continue
        verdicts.append(verdict(r["lo"], r["hi"]))
        if math.isfinite(r["lo"]) and math.isfinite(r["hi"]):
            ours.append(f"{r['effect']:+.1f} [{r['lo']:+.1f}, {r['hi']:+.1f}]")
        else:
            ours.append(f"{r['effect']:+.1f} (no interval)")
    merged["ours"] = ours
    merged["verdict"] = verdicts
    merged["q_bh"] = bh_adjusted(merged["p"])  # collect() always has the Evidence columns
    cols = ["id", "paper", "wording", "paper_effect", "measures", "ours", "effect", "lo", "hi", "n",
            "detail", "test", "q_bh", "verdict", "page", "measured_on", "source", "seed"]
    return merged[cols].reset_index(drop=True)


def style_claims(table: pd.DataFrame, *, link_suffix: str = ".html"):
    """The Claims page's table: paper wording and number, ours with its interval, the verdict,
    and a link to the page that measured it (``<page><link_suffix>``, pages are siblings)."""
    colours = {"holds": "#d8f0d8", "contradicted": "#f6d6d6", "not measured": "#eeeeee"}
    show = table.assign(
        page=[f'<a href="{p}{link_suffix}">{p}</a>' for p in table["page"]],
    )[["paper", "wording", "paper_effect", "measures", "ours", "n", "test", "q_bh", "verdict", "page", "source"]]
    show = show.rename(columns={"paper_effect": "paper's number", "ours": "ours: effect [95 % interval]",
                                "n": "observations", "q_bh": "q (BH, all rows)", "page": "measured on"})
    show.index = table["id"]

    def colour(v):
        return f"background-color: {colours.get(v, '#fff6d5')}"

    return show.style.map(colour, subset=["verdict"]).format(
        {"observations": lambda v: "" if pd.isna(v) else f"{int(v)}", "test": lambda v: "" if pd.isna(v) else v,
         "source": lambda v: "" if pd.isna(v) else v,
         "q (BH, all rows)": lambda v: "" if pd.isna(v) else f"{v:.3g}"})


def plot_claims(table: pd.DataFrame, ax=None):
    """Forest plot: each measured claim's effect with its interval, coloured by verdict."""
    import matplotlib.pyplot as plt

    t = table[table["verdict"] != "not measured"].iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.32 * max(len(t), 3) + 1))
    colours = {"holds": "tab:green", "contradicted": "tab:red", VERDICTS[2]: "tab:orange"}
    y = np.arange(len(t))
    for yi, (_, r) in zip(y, t.iterrows()):
        c = colours[r["verdict"]]
        if math.isfinite(r["lo"]) and math.isfinite(r["hi"]):
            ax.plot([r["lo"], r["hi"]], [yi, yi], color=c, lw=2)
        ax.plot(r["effect"], yi, "o", color=c)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, t["id"])
    ax.set_xlabel("effect in the paper's direction (points), 95 % interval")
    ax.set_title("Claims on the embedded stand-ins")
    return ax
