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

import json
import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .errors import ParameterError
from .metrics.stats import corrected_resampled_effect, mean_ci
from .paths import repo_root, resolve
from .report import load_result, save_result

__all__ = [
    "REQUIRED_FIELDS",
    "Evidence",
    "from_paired",
    "from_values",
    "from_folds",
    "from_bootstrap",
    "null_value",
    "p_against",
    "record",
    "load_claims",
    "collect",
    "verdict",
    "claims_table",
    "bh_adjusted",
    "EVIDENCE_FILE",
    "mark_convergence",
    "NOT_CONVERGED",
    "criterion_text",
    "VERDICTS",
    "style_claims",
    "plot_claims",
    "FP_PATHS_FILE",
    "fp_path_record",
    "fp_path_text",
    "FINGERPRINTS_FILE",
    "fingerprint_records",
    "fingerprint_text",
    "machines_record",
    "machines_text",
]

#: File name of a notebook's evidence rows inside its results folder.
EVIDENCE_FILE = "claims_evidence.csv"

#: The kinds of claim: "X beats Y" (null 0) or "X is as good as Y" (null = -margin).
CRITERIA = ("superiority", "non_inferiority")

#: A verdict other than *inconclusive* needs the row's BH-adjusted q below this.
Q_LEVEL = 0.05

#: The row of a claim whose effect still moves with the training length (:func:`mark_convergence`).
NOT_CONVERGED = "not converged"

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
        Number of independent units behind the interval (seeds, folds, ...; ``unit`` says which).
    detail : str
        What minus what, which metric, over what (e.g. "fusion (Choi) - Choi UC audio, Hit@1").
    test : str
        The test and its result, e.g. "paired t over 3 seeds: p = 0.01".
    p : float
        The test's two-sided p-value against an effect of 0 (NaN if none).
    se : float
        Standard error of ``effect`` (NaN if unknown). With ``df`` it gives the p-value against
        any null, e.g. the margin of a non-inferiority claim.
    df : float
        Degrees of freedom of the t distribution of ``(effect - null) / se``; NaN or inf: normal.
    unit : str
        What one independent observation is ("speaker fold (3 seeds averaged)", "seed", ...).
    converged : str
        "yes" / "no" from :func:`mark_convergence` (the effect barely moves when the training
        is halved), "" when not checked. A row that is not converged gets no verdict.
    """

    claim: str
    effect: float
    lo: float
    hi: float
    n: int
    detail: str = ""
    test: str = ""
    p: float = float("nan")
    se: float = float("nan")
    df: float = float("nan")
    unit: str = ""
    converged: str = ""


def from_paired(claim: str, a, b, *, detail: str, unit: str = "seed", confidence: float = 0.95) -> Evidence:
    """Evidence from paired observations, one pair per independent unit: the effect is ``a - b``."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ParameterError(f"paired samples must have the same length, got {a.size} and {b.size}")
    return from_values(claim, a - b, detail=detail, unit=unit, confidence=confidence,
                       test_name="paired t")


def from_values(claim: str, values, *, detail: str, unit: str = "seed", confidence: float = 0.95,
                test_name: str = "one-sample t") -> Evidence:
    """Evidence from per-unit effects (already ``a - b`` or a per-seed statistic), Student-t."""
    from scipy import stats

    x = np.asarray(values, dtype=float).ravel()
    ci = mean_ci(x, confidence=confidence)
    p, se, df = float("nan"), float("nan"), float(x.size - 1)
    constant = x.size >= 2 and np.allclose(x, x[0])
    if x.size >= 2:
        se = 0.0 if constant else float(x.std(ddof=1) / np.sqrt(x.size))
        if not constant:
            p = float(stats.ttest_1samp(x, 0.0).pvalue)
    test = f"{test_name} over {ci.n} {unit}s: p = {p:.3g}" if np.isfinite(p) else f"n = {ci.n}"
    lo, hi = (ci.mean, ci.mean) if constant else (ci.lo, ci.hi)
    return Evidence(claim, ci.mean, lo, hi, ci.n, detail, test, p, se, df, unit)


def from_folds(claim: str, a, b, *, test_train_ratio: float, detail: str,
               unit: str = "speaker fold", confidence: float = 0.95) -> Evidence:
    """Evidence from a cross-validation: folds are the unit of replication.

    ``a``, ``b``: per-fold scores, or ``(n_seeds, n_folds)`` arrays whose seeds are averaged
    within each fold first. The interval and p-value are Nadeau & Bengio's corrected resampled
    t (:func:`avlib.metrics.stats.corrected_resampled_effect`); the plain paired t-test across
    folds (the XFlow paper's test) is reported beside it in ``test``.
    """
    e = corrected_resampled_effect(a, b, test_train_ratio=test_train_ratio, confidence=confidence)
    if np.isfinite(e.p):
        test = (f"corrected resampled t over {e.n} folds (n_test/n_train = {e.test_train_ratio:.3g}): "
                f"p = {e.p:.3g}; paper's paired t across folds: p = {e.p_plain:.3g}")
    else:
        test = f"n = {e.n} folds"
    return Evidence(claim, e.mean, e.lo, e.hi, e.n, detail, test, e.p, e.se, e.df, unit)


def from_bootstrap(claim: str, estimate: float, replicates, *, detail: str, unit: str, n: int | None = None,
                   confidence: float = 0.95) -> Evidence:
    """Evidence from bootstrap replicates of the effect: percentile interval, ``se`` = their
    standard deviation, normal p-value against 0 (``df`` = inf). ``n``: the independent units
    resampled (e.g. test videos); default the number of replicates."""
    from scipy import stats

    r = np.asarray(replicates, dtype=float).ravel()
    if r.size < 2 or not np.isfinite(r).all():
        raise ParameterError("from_bootstrap needs at least 2 finite replicates")
    lo, hi = np.percentile(r, [50 * (1 - confidence), 50 * (1 + confidence)])
    se = float(r.std(ddof=1))
    p = float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else float("nan")
    test = f"bootstrap ({r.size} replicates of {unit}): p = {p:.3g}" if np.isfinite(p) else unit
    return Evidence(claim, float(estimate), float(lo), float(hi), r.size if n is None else int(n), detail, test, p, se,
                    float("inf"), unit)


def mark_convergence(evidence, shorter, *, what: str = "half the epochs", matched=None) -> pd.DataFrame:
    """Compare each row of ``evidence`` with the same claim measured after shorter training.

    A claim's effect is converged when training the models twice as long moves it by less than
    the half-width of its 95 % interval: ``|effect - effect_short| < (hi - lo) / 2`` (or does
    not move at all, as with a degenerate zero-width interval). Sets
    ``converged`` ("yes"/"no") on the rows of ``evidence`` (in place) and adds the shorter
    effect to their ``test`` text; rows without a counterpart stay unchecked. Returns the
    comparison as a table (claim, effect, effect_short, change, half_width, converged).

    ``matched``: when the shorter training ran on part of the units only (the first seed, every
    other fold), the same rows measured on that part of the full-length runs; the change is
    then ``matched.effect - effect_short`` (the same units at both lengths), still against the
    half-width of the full interval.
    """
    short = {e.claim: e for e in shorter}
    same = {e.claim: e for e in matched} if matched is not None else None
    rows = []
    for e in evidence:
        s = short.get(e.claim)
        m = e if same is None else same.get(e.claim)
        if s is None or m is None or not (math.isfinite(e.lo) and math.isfinite(e.hi)):
            continue
        change = m.effect - s.effect
        half = (e.hi - e.lo) / 2
        e.converged = "yes" if abs(change) < half or change == 0 else "no"
        on = "" if same is None else f" on the checked units ({m.effect:+.1f} at full length)"
        e.test = f"{e.test}; at {what}: {s.effect:+.1f}{on} (change {change:+.1f}, half-width {half:.1f})"
        rows.append(dict(claim=e.claim, effect=e.effect, effect_matched=m.effect, effect_short=s.effect,
                         change=change, half_width=half, converged=e.converged))
    return pd.DataFrame(rows, columns=["claim", "effect", "effect_matched", "effect_short", "change", "half_width",
                                       "converged"])


#: The fields every entry of ``claims.yaml`` must give.
REQUIRED_FIELDS = ("id", "claim", "paper_value", "paper", "wording", "paper_effect", "effect", "page")


def load_claims() -> pd.DataFrame:
    """The claims of ``claims.yaml`` as a table (one row per claim, in file order)."""
    text = resources.files("avlib").joinpath("reference/claims.yaml").read_text(encoding="utf-8")
    rows = yaml.safe_load(text)
    df = pd.DataFrame(rows)
    missing = [c for c in REQUIRED_FIELDS if c not in df or df[c].isna().any()]
    if missing:
        raise ParameterError(f"every claim in claims.yaml needs the fields {list(REQUIRED_FIELDS)}; "
                             f"missing or empty: {missing}")
    if df["id"].duplicated().any():
        raise ParameterError(f"duplicate claim ids: {sorted(df.loc[df['id'].duplicated(), 'id'])}")
    if "criterion" not in df:
        df["criterion"] = "superiority"
    if "margin" not in df:
        df["margin"] = np.nan
    df["criterion"] = df["criterion"].fillna("superiority")
    bad = sorted(set(df["criterion"]) - set(CRITERIA))
    if bad:
        raise ParameterError(f"unknown criterion {bad} in claims.yaml; valid: {list(CRITERIA)}")
    ni = df["criterion"] == "non_inferiority"
    margin = pd.to_numeric(df["margin"], errors="coerce")
    if (ni & ~(margin > 0)).any():
        raise ParameterError(f"non-inferiority claims need a positive margin: "
                             f"{sorted(df.loc[ni & ~(margin > 0), 'id'])}")
    df["margin"] = margin
    return df


def null_value(criterion: str, margin: float = float("nan")) -> float:
    """The effect a claim's test is against: 0 for superiority, ``-margin`` for non-inferiority
    ("as good as, within ``margin`` points")."""
    if criterion == "superiority":
        return 0.0
    if criterion == "non_inferiority":
        if not float(margin) > 0:
            raise ParameterError(f"non-inferiority needs a positive margin, got {margin!r}")
        return -float(margin)
    raise ParameterError(f"unknown criterion {criterion!r}; valid: {list(CRITERIA)}")


def p_against(effect: float, se: float, df: float, null: float = 0.0,
              fallback_p: float = float("nan")) -> float:
    """Two-sided p-value of ``(effect - null) / se`` (Student-t with ``df``, normal when ``df`` is
    NaN or inf). Without a standard error: ``fallback_p`` if the null is 0, else NaN; with a zero
    standard error (every unit gave the same effect) there is no test: NaN."""
    from scipy import stats

    if se is None or not math.isfinite(se):
        return float(fallback_p) if null == 0.0 else float("nan")
    if se <= 0:
        return float("nan")
    t = (effect - null) / se
    if df is not None and math.isfinite(df) and df > 0:
        return float(2 * stats.t.sf(abs(t), df))
    return float(2 * stats.norm.sf(abs(t)))


def record(results_dir, evidence, provenance) -> Path:
    """Write ``evidence`` (a list of :class:`Evidence`) to ``<results_dir>/claims_evidence.csv``.

    Unknown claim ids raise, so a typo cannot drop a row from the Claims page.
    """
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
    frames = []
    base = resolve(results_root) / scale
    for path in sorted(base.glob(f"*/{EVIDENCE_FILE}")):
        df, prov = load_result(path)
        df = df.copy()
        df["measured_on"] = path.parent.name
        df["source"] = prov.source
        df["seed"] = str(prov.seed)
        frames.append(df)
    cols = list(Evidence.__dataclass_fields__) + ["measured_on", "source", "seed"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    for c in ("se", "df"):  # evidence written before these fields existed
        if c not in out:
            out[c] = np.nan
    for c in ("unit", "converged"):
        if c not in out:
            out[c] = ""
    out["converged"] = ["" if pd.isna(v) else str(v) for v in out["converged"]]
    return out


def verdict(lo: float, hi: float, *, q: float, null: float = 0.0) -> str:
    """*holds* when the whole interval is above ``null`` and the row's BH-adjusted ``q`` is below
    :data:`Q_LEVEL`; *contradicted* when the whole interval is below ``null`` and ``q`` is below
    it; else *inconclusive on the stand-ins* (also when there is no interval or no test)."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return VERDICTS[2]
    if q is None or not math.isfinite(q) or q >= Q_LEVEL:
        return VERDICTS[2]
    if lo > null:
        return VERDICTS[0]
    if hi < null:
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

    Each row is tested against its null (0 for superiority, ``-margin`` for non-inferiority,
    :func:`null_value`); ``p_null`` is that test (:func:`p_against`), ``q_bh`` its
    Benjamini-Hochberg adjustment over all rows of the page (:func:`bh_adjusted`), and the
    verdict needs both the interval and ``q_bh`` (:func:`verdict`). Claims without evidence get
    the verdict ``"not measured"`` so a missing page shows.
    """
    claims = load_claims().rename(columns={"effect": "measures"})
    ev = collect(results_root, scale)
    merged = claims.merge(ev.rename(columns={"claim": "id"}), on="id", how="left")
    nulls, p_null, ours = [], [], []
    for _, r in merged.iterrows():
        null = null_value(r["criterion"], r["margin"])
        nulls.append(null)
        if pd.isna(r["effect"]):
            p_null.append(np.nan)
            ours.append("")
            continue
        p_null.append(p_against(float(r["effect"]), float(r["se"]), float(r["df"]), null,
                                fallback_p=float(r["p"])))
        if math.isfinite(r["lo"]) and math.isfinite(r["hi"]):
            ours.append(f"{r['effect']:+.1f} [{r['lo']:+.1f}, {r['hi']:+.1f}]")
        else:
            ours.append(f"{r['effect']:+.1f} (no interval)")
    merged["null"] = nulls
    merged["p_null"] = p_null
    merged["ours"] = ours
    merged["q_bh"] = bh_adjusted(merged["p_null"])
    merged["verdict"] = [
        "not measured" if pd.isna(r["effect"]) else
        NOT_CONVERGED if r["converged"] == "no" else verdict(r["lo"], r["hi"], q=r["q_bh"], null=r["null"])
        for _, r in merged.iterrows()]
    cols = ["id", "claim", "paper_value", "paper", "wording", "paper_effect", "measures", "criterion", "margin", "null", "ours",
            "effect", "lo", "hi", "n", "unit", "detail", "test", "p_null", "q_bh", "converged", "verdict", "page",
            "measured_on", "source", "seed"]
    return merged[cols].reset_index(drop=True)


def criterion_text(criterion: str, margin: float = float("nan")) -> str:
    """What a row must show: ``"> 0"`` (superiority) or ``"> -2 (non-inferiority)"``."""
    null = null_value(criterion, margin)
    return "> 0" if criterion == "superiority" else f"> {null:g} (non-inferiority)"


def style_claims(table: pd.DataFrame, *, link_suffix: str = ".html", details: bool | str = False):
    """The Claims page's tables.

    The compact view (default) has four columns that fit the page: the claim in words (linked
    to the page that measured it, ``<page><link_suffix>``; pages are siblings), the paper's
    number, ours (effect [95 % interval], percentage points in the paper's direction) and the
    verdict. ``details=True`` gives, per claim, what the row must show, q, whether the effect
    held at half the training ("not checked" where the page ran no such check) and the
    independent units behind the interval; ``details="text"`` the paper's full statement and
    number, what our effect measures and the tests (two tables, so that each fits the page).
    """
    colours = {"holds": "#d8f0d8", "contradicted": "#f6d6d6", "not measured": "#eeeeee"}
    t = table.assign(
        claim=[f'<a href="{p}{link_suffix}">{c}</a>' for c, p in zip(table["claim"], table["page"])],
        must=[criterion_text(c, m) for c, m in zip(table["criterion"], table["margin"])],
        units=["" if pd.isna(n) else f"{int(n)} {u}".strip() for n, u in zip(table["n"], table["unit"].fillna(""))],
        conv=["" if pd.isna(e) else {"yes": "yes", "no": "no"}.get(c, "not checked")
              for e, c in zip(table["effect"], table["converged"])],
        q=["" if pd.isna(q) else f"{q:.2g}" for q in table["q_bh"]],
    )
    if details == "text":
        show = t[["claim", "wording", "paper_effect", "measures", "test"]].rename(
            columns={"wording": "the paper says", "paper_effect": "paper's number",
                     "measures": "our effect measures", "test": "tests"})
    elif details:
        show = t[["claim", "must", "q", "conv", "units"]].rename(
            columns={"must": "must show", "q": "q (BH)", "conv": "converged (half the epochs)",
                     "units": "independent units"})
    else:
        show = t[["claim", "paper_value", "ours", "verdict"]].rename(
            columns={"paper_value": "paper", "ours": "ours [95 % interval]"})
    show = show.fillna("")

    def colour(v):
        return f"background-color: {colours.get(v, '#fff6d5')}"

    sty = show.style.hide(axis="index")
    return sty.map(colour, subset=["verdict"]) if "verdict" in show.columns else sty


def plot_claims(table: pd.DataFrame, ax=None):
    """Forest plot: each measured claim's effect with its interval, coloured by verdict."""
    import matplotlib.pyplot as plt

    t = table[table["verdict"] != "not measured"].iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.3 * max(len(t), 3) + 1.2))
    colours = {"holds": "tab:green", "contradicted": "tab:red", VERDICTS[2]: "tab:orange",
               NOT_CONVERGED: "tab:gray"}
    y = np.arange(len(t))
    for yi, (_, r) in zip(y, t.iterrows()):
        c = colours[r["verdict"]]
        if math.isfinite(r["lo"]) and math.isfinite(r["hi"]):
            ax.plot([r["lo"], r["hi"]], [yi, yi], color=c, lw=2)
        ax.plot(r["effect"], yi, "o", color=c)
        if r.get("null", 0.0) != 0.0:  # a non-inferiority row's margin
            ax.plot(r["null"], yi, "|", color="k", ms=10)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [f"{c} (paper {p})" for c, p in zip(t["claim"], t["paper_value"])], fontsize=8)
    ax.set_xlabel("effect in the paper's direction (percentage points), with its 95 % interval")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in colours.items()
               if v in set(t["verdict"])]
    handles.append(Line2D([], [], color="k", marker="|", ls="", ms=10, label="non-inferiority margin"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="verdict",
              title_fontsize=8, frameon=False)
    return ax


def _table_with_summary(relative: Path, root=None):
    """``(summary, table)``: the CSV at ``relative`` under ``root`` (default the repository) and the
    JSON of the same name beside it (``{}`` when absent), or None when the CSV is not there."""
    path = Path(root or repo_root()) / relative
    if not path.is_file():
        return None
    summary_path = path.with_suffix(".json")
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return summary, pd.read_csv(path)


#: The recorded check of the verdicts on a second floating-point path (``benchmarks/claims_fp_paths.py``).
FP_PATHS_FILE = Path("benchmarks") / "results" / "claims_fp_paths.csv"


def fp_path_record(root=None):
    """The last recorded floating-point-path check: ``(summary, table)`` read from
    :data:`FP_PATHS_FILE` and its JSON beside it under ``root`` (default the repository), or
    None when none is recorded. ``table``: one row per claim, both paths' verdicts."""
    return _table_with_summary(FP_PATHS_FILE, root)


#: Two machines' cpu books of the same trainings, claim by claim (recorded by hand from two builds).
MACHINES_FILE = Path("benchmarks") / "results" / "claims_two_machines.csv"


def machines_record(root=None):
    """The recorded comparison of two machines' books: ``(summary, table)`` from
    :data:`MACHINES_FILE` and its JSON beside it under ``root`` (default the repository), or None.
    ``table``: ``id``, then ``effect_k, lo_k, hi_k, verdict_k`` for machines 1 and 2."""
    return _table_with_summary(MACHINES_FILE, root)


def machines_text(record) -> str:
    """Markdown: how many verdicts two machines' books gave differently, those rows, and the
    effects that moved by more than their interval's half-width (an interval too narrow for the
    spread between runs)."""
    if record is None:
        return "No two machines' books are recorded side by side in this checkout."
    summary, t = record
    t = t.copy()
    t["changed"] = t["verdict_1"] != t["verdict_2"]
    half = ((t["hi_1"] - t["lo_1"]) / 2).combine((t["hi_2"] - t["lo_2"]) / 2, max)
    t["moved"] = (t["effect_2"] - t["effect_1"]).abs()
    beyond = t[t["moved"] > half]
    words = load_claims().set_index("id")["claim"].to_dict()
    m1, m2 = summary.get("machine 1", "machine 1"), summary.get("machine 2", "machine 2")
    lines = [f"The same cpu trainings at the same seeds, built on two machines ({m1}, commit "
             f"`{summary.get('commit 1', '?')}`; {m2}, commit `{summary.get('commit 2', '?')}`): "
             f"**{int(t['changed'].sum())} of {len(t)} verdicts differ**. Read a verdict listed here as the "
             "machine's, not the method's."]
    if t["changed"].any():
        short = [m.split(":")[0].strip() for m in (m1, m2)]
        lines += ["", f"| claim | machine {short[0]} | machine {short[1]} |", "|---|---|---|"]
        for _, r in t[t["changed"]].iterrows():
            lines.append(f"| {words.get(r['id'], r['id'])} | {r['verdict_1']}, {r['effect_1']:+.1f} "
                         f"[{r['lo_1']:+.1f}, {r['hi_1']:+.1f}] | {r['verdict_2']}, {r['effect_2']:+.1f} "
                         f"[{r['lo_2']:+.1f}, {r['hi_2']:+.1f}] |")
    if len(beyond):
        lines += ["", f"{len(beyond)} effect(s) moved between the machines by more than their interval's half-width "
                      f"({', '.join(f'`{i}`' for i in beyond['id'])}): those intervals are too narrow for the spread "
                      "between two runs of the same training."]
    return "\n".join(lines)


#: The recorded fingerprints of the floating-point path, one per machine (``benchmarks/fp_fingerprint.py``).
FINGERPRINTS_FILE = Path("benchmarks") / "results" / "fp_fingerprint.json"


def fingerprint_records(root=None) -> list:
    """The machines recorded by ``benchmarks/fp_fingerprint.py --record`` under ``root`` (default
    the repository): CPU model, floating-point path, library versions and the workload's hashes."""
    path = Path(root or repo_root()) / FINGERPRINTS_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _path_label(record) -> str:
    """A recorded path's name with its MKL branch (the one variable whose value changed since the
    first records)."""
    branch = (record.get("fp_env") or {}).get("MKL_CBWR")
    return f"{record['fp_path']}, MKL {branch}" if branch else record["fp_path"]


def fingerprint_text(records) -> str:
    """Markdown: which machines were recorded on which path, and whether those on the same path
    (name and variables) and library versions computed the same numbers bit for bit, on the parts
    of the workload they all recorded; the parts that differ are named."""
    if not records:
        return "No machine's floating-point fingerprint is recorded (`python benchmarks/fp_fingerprint.py --record`)."
    groups = {}
    for r in records:
        key = (_path_label(r), json.dumps([r.get("fp_env") or {}, r["versions"]], sort_keys=True))
        groups.setdefault(key, []).append(r)
    lines = ["| path | machines (CPU model) | same numbers on all of them |", "|---|---|---|"]
    for (label, _), rs in sorted(groups.items()):
        shared = set.intersection(*(set(r["hashes"]) for r in rs))
        differ = sorted(k for k in shared if len({r["hashes"][k] for r in rs}) > 1)
        if len(rs) == 1:
            verdict = "only one machine recorded"
        else:
            verdict = "yes" if not differ else f"**no**: {', '.join(differ)} differ"
        lines.append(f"| {label} | {'; '.join(r['cpu_model'] for r in rs)} | {verdict} |")
    by_path = {}
    for (label, _), rs in groups.items():
        by_path.setdefault(label, rs[0]["hashes"])
    if len(by_path) > 1:
        (la, a), (lb, b) = sorted(by_path.items())[:2]
        shared = sorted(set(a) & set(b))
        differ = [k for k in shared if a[k] != b[k]]
        lines += ["", f"Between the paths {la} and {lb}, {len(differ)} of the {len(shared)} parts of the workload "
                      f"both recorded differ ({', '.join(differ)})."]
    return "\n".join(lines)


def fp_path_text(record, current: dict | None = None) -> str:
    """Markdown for the Claims page: the floating-point path this build ran on (``current``, from
    :func:`avlib.numerics.in_effect`), and what the recorded check of a second path found before
    the path was held (the rows whose verdict changed: both verdicts, the effect's change against
    the interval's half-width)."""
    lines = []
    if current is not None:
        if current.get("fp_path", "").startswith("portable"):
            mkl = (current.get("fp_env") or {}).get("MKL_CBWR")
            lines += [f"This build ran on the **{current['fp_path']}** path: PyTorch, oneDNN, OpenBLAS and NumPy "
                      "were held to their AVX2 kernels"
                      + (f" and MKL to its `{mkl}` branch" if mkl else "")
                      + " (`avlib.numerics`), so an x86-64 machine with AVX2 takes the "
                      "same kernels whether or not it also has AVX-512, at the same seeds and thread counts. "
                      "MKL's own AVX2 branch holds on Intel CPUs only (on an AMD EPYC the torch results differed "
                      "from an Intel Xeon's, the last table); its `COMPATIBLE` branch is the one MKL documents as the "
                      "same on both. That a machine computes the same bits is checked by its fingerprint.", ""]
        else:
            lines += [f"This build ran on the **{current.get('fp_path', 'native')}** path (each library chose its "
                      "own kernels): its numbers, and a verdict near its threshold, can differ on another machine.", ""]
    if record is None:
        lines.append("No check of the verdicts on a second floating-point path is recorded in this checkout "
                     "(`python benchmarks/claims_fp_paths.py` makes one).")
        return "\n".join(lines)
    summary, table = record
    numerics = summary.get("other path numerics") or {}
    changed = table[table["verdict changed"].astype(bool)]
    words = load_claims().set_index("id")["claim"].to_dict()
    lines += [f"Why the path is held: a check recorded before the path was held reran the `{summary.get('page rerun', '?')}` "
             f"page at the `{summary.get('scale', '?')}` scale with PyTorch, oneDNN and MKL held to the "
             f"{numerics.get('torch_cpu_capability', 'other')} "
             f"instruction set (commit `{str(summary.get('other path commit', '?'))[:7]}`), as another CPU would run "
             f"it, and compared the Claims table with the reference build's (commit "
             f"`{str(summary.get('reference commit') or '?')[:7]}`, the machine's own "
             f"{(summary.get('reference numerics') or {}).get('torch_cpu_capability', 'instruction set')}). "
             f"**{len(changed)} of {len(table)} "
             f"verdicts changed**; the effects moved by up to {summary.get('largest effect change / half-width', float('nan')):.2f} "
             "of their interval's half-width. This was measured once, on one build; it is not recomputed by this page. "
             "The verdicts that changed were those next to a threshold (q near 0.05, or a convergence change near "
             "the half-width): on two paths, a near-threshold row is decided by the last bits of the arithmetic."]
    if len(changed):
        lines += ["", "| claim | reference | other path | effect change (points) | half-width |", "|---|---|---|---|---|"]
        for _, r in changed.iterrows():
            lines.append(f"| {words.get(r['id'], r['id'])} | {r['verdict (reference)']} | {r['verdict (other path)']} | "
                         f"{r['effect change']:+.1f} | {r['half-width (reference)']:.1f} |")
    return "\n".join(lines)
