"""The ICMR 2017 result tables: the paper's numbers beside ours, as the pages save them.

* Tables 2-4 side by side with the paper (:func:`table2_side_by_side`,
  :func:`table3_side_by_side`, :func:`table4_side_by_side`, :func:`pretraining_effect`); the
  paper's F1 is the support-weighted F1, our macro F1 is shown beside it and labelled;
* results over several seeds: :func:`seed_summary` (mean and Student-t interval),
  :func:`with_intervals`, :func:`split_timings` (wall-clock columns kept apart so that two runs
  of the same seeds write identical result tables);
* each page's tables from its runs in one call (:func:`audio_page_tables`,
  :func:`visual_page_tables`, :func:`fusion_page_tables`, :func:`youtube8m_page_tables`) and
  Table 1's split sizes and embedded statistics (:func:`official_split_sizes`,
  :func:`embedded_table1`);
* :func:`fidelity_options`: which variant ran where the paper leaves a choice open.

How the pages print these tables is :mod:`avlib.experiments.icmr.display`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...config.icmr import FusionConfig, ICMRConfig, YouTube8MConfig
from ...data import icmr_metadata
from ...metrics.stats import mean_ci
from ...models.late_fusion import FUSION_HIDDEN
from ...report import paper_table, side_by_side
from .evidence import bootstrap_summary

__all__ = [
    "TIMING_COLUMNS",
    "DASH",
    "F1_LABELS",
    "split_timings",
    "seed_summary",
    "with_intervals",
    "paired_metric",
    "table2_side_by_side",
    "table3_side_by_side",
    "table4_side_by_side",
    "pretraining_effect",
    "audio_page_tables",
    "visual_page_tables",
    "fusion_page_tables",
    "youtube8m_page_tables",
    "same_as_memory_fusion",
    "official_split_sizes",
    "embedded_table1",
    "fidelity_options",
]

_PAPER_METRICS = ["hit_at_1", "hit_at_3", "f1"]

#: Display names of the F1 columns: the paper's F1 is the support-weighted F1 (scikit-learn's
#: "avg / total" of 2017, :mod:`avlib.metrics.classification`); the macro F1 is ours only.
F1_LABELS = {"f1": "weighted F1", "f1_macro": "macro F1"}


def _paper_beside_ours(ours: pd.DataFrame, paper: pd.DataFrame, *, on: list, columns: list) -> pd.DataFrame:
    """:func:`avlib.report.side_by_side` of ``columns`` + the metrics, F1 labelled.

    ``f1 (paper)`` / ``f1 (ours)`` become ``weighted F1 (paper)`` / ``weighted F1 (ours)`` (the
    paper's F1 is the support-weighted one); our macro F1, when ``ours`` has ``f1_macro``, is
    added as ``macro F1 (ours)`` (the paper reports none).
    """
    cols = list(columns) + _PAPER_METRICS
    paper = paper.copy()
    if "f1_macro" in ours:
        paper["f1_macro"] = np.nan
        cols.append("f1_macro")
    out = side_by_side(ours, paper, on=on, columns=cols).drop(columns=["f1_macro (paper)"], errors="ignore")
    return out.rename(columns={f"{m} ({who})": f"{F1_LABELS[m]} ({who})" for m in F1_LABELS
                               for who in ("paper", "ours")})


def table3_side_by_side(ours: pd.DataFrame, *, dataset: str = "FCVID") -> pd.DataFrame:
    """Table 3 with the paper's ``dataset`` rows beside ours (keyed on method); F1 = weighted F1
    (the paper's), our macro F1 beside it (:func:`_paper_beside_ours`)."""
    paper = paper_table("icmr2017_table3_audio")
    paper = paper[paper["dataset"] == dataset].copy()
    paper["params_M"] = paper["params_millions"]
    ours = ours.copy()
    ours["params_M"] = ours["params_paper_input"] / 1e6
    return _paper_beside_ours(ours, paper, on=["method"], columns=["params_M"])


def table2_side_by_side(ours: pd.DataFrame, *, dataset: str = "FCVID") -> pd.DataFrame:
    """Table 2: paper rows (frames 20-100) and our rows (the configuration's frames) on one key.

    Keys are ``frames`` and ``pretrained`` ("yes"/"no"); rows present on one side only have
    NaN on the other (the smaller scales use fewer frames than the paper). F1 = weighted F1 (the
    paper's), our macro F1 beside it.
    """
    paper = paper_table("icmr2017_table2_visual")
    paper = paper[paper["dataset"] == dataset].copy()
    paper["hours"] = paper["train_hours"]
    ours = ours.copy()
    ours["pretrained"] = ours["pretrained"].map(lambda b: "yes" if b else "no")
    ours["hours"] = (ours["train_seconds"] + ours["pretrain_seconds"].where(ours["pretrained"] == "yes", 0)) / 3600
    out = _paper_beside_ours(ours, paper, on=["frames", "pretrained"], columns=["steps", "hours"])
    return out.sort_values(["frames", "pretrained"]).reset_index(drop=True)


def pretraining_effect(ours: pd.DataFrame, *, dataset: str = "FCVID") -> pd.DataFrame:
    """Weighted F1 (the paper's F1) and Hit@1 gain of pre-training at equal frames, paper vs ours (Table 2)."""
    rows = []
    paper = paper_table("icmr2017_table2_visual")
    paper = paper[paper["dataset"] == dataset]
    for who, df in (("paper", paper.assign(pretrained=paper["pretrained"] == "yes")), ("ours", ours)):
        for k, grp in df.groupby("frames"):
            if grp["pretrained"].nunique() < 2:
                continue
            yes, no = grp[grp["pretrained"]].iloc[0], grp[~grp["pretrained"]].iloc[0]
            rows.append({"who": who, "frames": k, "hit_at_1 gain": yes["hit_at_1"] - no["hit_at_1"],
                         "f1 gain": yes["f1"] - no["f1"]})
    return pd.DataFrame(rows)


def table4_side_by_side(ours: pd.DataFrame, *, dataset: str = "FCVID", paper_frames: int = FusionConfig.frames) -> pd.DataFrame:
    """Table 4 (fusion) plus the unimodal rows it is compared with, paper beside ours.

    Paper values: fusion from Table 4, audio-only from Table 3 (UC), video-only from Table 2
    (``paper_frames`` frames, pre-trained). For YouTube-8M the paper's human listeners are a
    row too (method "human listeners", model "human": F1 only, Sec. 4.4; we have no human
    study, so our side is empty). F1 = weighted F1 (the paper's), our macro F1 beside it.
    """
    t4 = paper_table("icmr2017_table4_multimodal")
    t3 = paper_table("icmr2017_table3_audio")
    t2 = paper_table("icmr2017_table2_visual")
    t4, t3, t2 = (t[t["dataset"] == dataset] for t in (t4, t3, t2))
    rows = []
    for _, r in t4.iterrows():
        rows.append({"method": r["method"], "model": "fusion", **{m: r[m] for m in _PAPER_METRICS}})
    for name, key in (("Xception", "Xception + UC"), ("Choi et al. 2016", "Choi et al. 2016 + UC")):
        r = t3[t3["method"] == key]
        if len(r):
            rows.append({"method": name, "model": "audio only", **{m: r.iloc[0][m] for m in _PAPER_METRICS}})
    r = t2[(t2["frames"] == paper_frames) & (t2["pretrained"] == "yes")]
    if len(r):
        rows.append({"method": "Inception v3", "model": "video only", **{m: r.iloc[0][m] for m in _PAPER_METRICS}})
    human = paper_table("icmr2017_human")
    human = human[human["dataset"] == dataset]
    if len(human):
        rows.append({"method": "human listeners", "model": "human", "hit_at_1": np.nan, "hit_at_3": np.nan,
                     "f1": float(human.iloc[0]["f1"])})
    paper = pd.DataFrame(rows)
    return _paper_beside_ours(ours, paper, on=["method", "model"], columns=[])


_SEED_METRICS = ("hit_at_1", "hit_at_3", "f1", "f1_macro")  # f1: weighted (the paper's); f1_macro: ours only

#: Columns that measure time or say where a number came from (stored run or fresh): they
#: differ between two runs of the same seed and are kept out of the result tables.
TIMING_COLUMNS = ("train_seconds", "pretrain_seconds", "examples_per_s", "cached", "seconds")


def split_timings(df: pd.DataFrame, *, keys=("seed", "method", "crop", "frames", "pretrained", "model")):
    """``(results, timings)``: ``df`` without :data:`TIMING_COLUMNS`, and those columns with the keys."""
    tcols = [c for c in df.columns if c in TIMING_COLUMNS]
    kcols = [c for c in keys if c in df.columns]
    return df.drop(columns=tcols), df[kcols + tcols].copy()


def seed_summary(runs: pd.DataFrame, *, by, metrics=_SEED_METRICS, carry=(), confidence: float = 0.95) -> pd.DataFrame:
    """Mean over seeds with its Student-t interval, per group of ``by``.

    ``runs``: one row per (group, seed) with the ``metrics``. Returns one row per group (in
    first-appearance order) with ``<metric>`` (the mean), ``<metric>_lo``, ``<metric>_hi``,
    ``<metric>_sd``, ``n_seeds`` and the first value of each ``carry`` column (e.g. params).
    Metrics absent from ``runs`` are skipped.
    """
    by = [by] if isinstance(by, str) else list(by)
    metrics = [m for m in metrics if m in runs]
    rows = []
    for key, grp in runs.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        for m in metrics:
            vals = grp[m].dropna().to_numpy(float)
            if len(vals) == 0:
                row.update({m: np.nan, f"{m}_lo": np.nan, f"{m}_hi": np.nan, f"{m}_sd": np.nan})
                continue
            ci = mean_ci(vals, confidence=confidence, bounds=(0, 100))  # metrics in %
            row.update({m: ci.mean, f"{m}_lo": ci.lo, f"{m}_hi": ci.hi,
                        f"{m}_sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else np.nan})
        row["n_seeds"] = int(grp["seed"].nunique()) if "seed" in grp else len(grp)
        row.update({c: grp[c].iloc[0] for c in carry if c in grp})
        rows.append(row)
    return pd.DataFrame(rows)


def with_intervals(table: pd.DataFrame, summary: pd.DataFrame, *, on, boot: pd.DataFrame | None = None,
                   metrics=_SEED_METRICS, digits: int = 1) -> pd.DataFrame:
    """A paper-beside-ours table plus, per metric, ``ours ± 95 % (seeds)`` text columns.

    ``table``: e.g. :func:`table3_side_by_side` of ``summary``; ``boot``:
    :func:`bootstrap_summary` (adds ``hit_at_1 95% CI (seeds x test videos)``). F1 columns are
    labelled as in the paper-beside-ours tables (``weighted F1``, ``macro F1``).
    """
    on = [on] if isinstance(on, str) else list(on)
    s = summary.copy()
    cols = []
    for m in [m for m in metrics if f"{m}_lo" in summary]:
        name = f"{F1_LABELS.get(m, m)} 95% CI (seeds)"
        s[name] = [f"[{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
                   for lo, hi in zip(s[f"{m}_lo"], s[f"{m}_hi"])]
        cols.append(name)
    keep = on + cols + ["n_seeds"]
    if boot is not None:
        b = boot.copy()
        name = "hit_at_1 95% CI (seeds x test videos)"
        b[name] = [f"[{lo:.{digits}f}, {hi:.{digits}f}]" for lo, hi in zip(b["lo"], b["hi"])]
        s = s.merge(b[on + [name, "n_test"]], on=on, how="left")
        keep += [name, "n_test"]
    t = table.copy()
    for c in on:  # the tables may carry keys as text ("yes"/"no")
        if c in t and c in s and t[c].dtype != s[c].dtype:
            s[c] = s[c].map(lambda v: ("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else v)
    return t.merge(s[keep], on=on, how="left")


def paired_metric(runs: pd.DataFrame, a: dict, b: dict, *, metric: str = "hit_at_1", pair=("seed",)):
    """Arrays ``(a_values, b_values)`` of ``metric`` for the rows selected by ``a`` and ``b``
    (column -> value), paired on the ``pair`` columns (inner join, sorted)."""
    pair = list(pair)

    def sel(cond):
        m = np.ones(len(runs), bool)
        for c, v in cond.items():
            m &= (runs[c] == v).to_numpy()
        return runs[m][pair + [metric]]

    j = sel(a).merge(sel(b), on=pair, suffixes=("_a", "_b")).sort_values(pair)
    return j[f"{metric}_a"].to_numpy(float), j[f"{metric}_b"].to_numpy(float)


#: What a table shows where it has no value.
DASH = "–"


def fidelity_options(cfg: ICMRConfig) -> pd.DataFrame:
    """Which variant of each choice the paper leaves open (or states differently from the
    authors' code) ``cfg`` runs: one row per option, with the paper's text and the code's.
    The ICMR pages print it, so a reader sees which options ran."""
    hidden = tuple(cfg.fusion.hidden)
    fusion = ("reference" if hidden == FUSION_HIDDEN["reference"] else
              "paper_text" if hidden == FUSION_HIDDEN["paper_text"] else "custom")
    rows = [
        ("log-mel scale", cfg.audio.logmel_scale,
         "log-mel spectrograms (no scale given)",
         "dB of the squared power, 80 dB floor",
         "the authors' code; 'power' is librosa's power_to_db"),
        ("Han et al. segment", f"{cfg.audio.han_segment_seconds:g} s ({cfg.audio.han_segments} per video)",
         "128 x 43 input, about 3 s, 10 segments", DASH, ""),
        ("Han et al. dropout", f"{cfg.audio.han_dropout[0]:g} after each conv pair, {cfg.audio.han_dropout[1]:g} after FC1024",
         "after every second conv layer (rate not given)", DASH, "Han et al. 2016: .25 and .5"),
        ("Xception exit", "728 filters, 2 x 2 max-pool, linear exit",
         "768 filters (10.6 M parameters)", "728 filters (9.65 M, Table 3's 9.6 M)",
         "reproduces Table 3's count"),
        ("frame classifier", "no dropout before the classifier", DASH, "no dropout", ""),
        ("frames per video", "k frames spread over the video (1 fps)",
         "k frames chosen at random per video", DASH, "test and fusion frames span the video"),
        ("late-fusion hidden layers", f"{fusion}: {len(hidden)} x FC-{hidden[0] if hidden else 0}",
         "two FC-1024 layers", "one FC-1024 layer (106.1 M parameters at k = 50)",
         "fusion.hidden = [1024, 1024] gives the text's"),
        ("frame backbone", cfg.visual.backbone,
         "Inception v3 fine-tuned end to end", DASH,
         "'frozen': cached backbone features, only the classifier trains"),
        ("F1 average", "support-weighted F1, macro F1 beside it",
         "F1-measure (no average named)",
         "classification_report's 'avg / total' row (support-weighted in 2017)",
         ""),
        ("ties and missing modalities", "ties go to the lower class index; a video without input is "
         "left out and counted", DASH, DASH, ""),
    ]
    return pd.DataFrame(rows, columns=["option", "this run", "paper's text", "authors' code", "note"])


# --------------------------------------------------------------------------- the pages' tables
def audio_page_tables(res: dict) -> dict:
    """Table 3 page from :func:`~avlib.experiments.icmr.seeds.run_audio_seeds`'s result.

    Returns ``runs`` (one row per network and seed, no wall-clock columns), ``timings``,
    ``summary`` (means and intervals over seeds), ``bootstrap`` (seed-averaged Hit@1 with its
    two-level bootstrap interval) and ``table`` (the paper beside ours, with the intervals).
    """
    runs, timings = split_timings(res["runs"])
    summary = seed_summary(runs, by="method", carry=("crop", "params", "params_paper_input"))
    boot = bootstrap_summary(res["y_test"], res["probs"])
    table = with_intervals(table3_side_by_side(summary), summary, on="method", boot=boot)
    return {"runs": runs, "timings": timings, "summary": summary, "bootstrap": boot, "table": table}


def visual_page_tables(res: dict) -> dict:
    """Table 2 page from :func:`~avlib.experiments.icmr.seeds.run_visual_seeds`'s result.

    As :func:`audio_page_tables` (our hours are left to the timings table), plus ``effect``
    (:func:`pretraining_effect` of the seed means) and ``pretrain_source`` (of the pre-trained
    rows, "none" without one).
    """
    runs, timings = split_timings(res["runs"])
    summary = seed_summary(runs, by=["frames", "pretrained"], carry=("pretrain_source", "steps"))
    summary["train_seconds"] = summary["pretrain_seconds"] = float("nan")  # wall clock: the timings table
    boot = bootstrap_summary(res["y_test"], res["probs"], key="run")
    table = with_intervals(table2_side_by_side(summary), summary, on=["frames", "pretrained"])
    source = runs.loc[runs["pretrained"], "pretrain_source"].iloc[0] if runs["pretrained"].any() else "none"
    return {"runs": runs, "timings": timings, "summary": summary, "bootstrap": boot, "table": table,
            "effect": pretraining_effect(summary), "pretrain_source": source}


def fusion_page_tables(res: dict) -> dict:
    """Table 4 page from :func:`~avlib.experiments.icmr.seeds.run_fusion_seeds`'s result (as
    :func:`audio_page_tables`; the bootstrap rows include the fusion with a modality missing)."""
    runs, timings = split_timings(res["runs"])
    summary = seed_summary(runs, by=["method", "model"], carry=("frames",))
    boot = bootstrap_summary(res["y_test"], res["probs"], key="run")
    table = with_intervals(table4_side_by_side(summary), summary, on=["method", "model"])
    return {"runs": runs, "timings": timings, "summary": summary, "bootstrap": boot, "table": table}


def youtube8m_page_tables(res: dict, *, paper_frames: int = YouTube8MConfig.frames) -> dict:
    """The YouTube-8M rows of Tables 2-4 from :func:`~avlib.experiments.icmr.seeds.run_youtube8m_seeds`.

    Returns ``table2``, ``table3``, ``table4`` (the paper's YouTube-8M rows beside ours, with
    intervals over seeds; Table 4 with the paper's human listeners and its video-only row at
    ``paper_frames`` frames), ``runs4`` (Table 4 per seed), ``timings`` (of the three tables)
    ``bootstrap`` and ``summary2`` / ``summary3`` / ``summary4`` (means and intervals over seeds,
    :func:`seed_summary`, for the display tables).
    """
    r4, tim4 = split_timings(res["table4"])
    r3, tim3 = split_timings(res["table3"])
    r2, tim2 = split_timings(res["table2"])
    timings = pd.concat([tim2.assign(table=2), tim3.assign(table=3), tim4.assign(table=4)], ignore_index=True)
    boot = bootstrap_summary(res["y_test"], res["probs"], key="run")
    s3 = seed_summary(r3, by="method", carry=("crop", "params", "params_paper_input"))
    t3 = with_intervals(table3_side_by_side(s3, dataset="YT-8M"), s3, on="method")
    s2 = seed_summary(r2, by=["frames", "pretrained"], carry=("pretrain_source", "steps"))
    s2["train_seconds"] = s2["pretrain_seconds"] = float("nan")  # wall clock: the timings table
    t2 = with_intervals(table2_side_by_side(s2, dataset="YT-8M"), s2, on=["frames", "pretrained"])
    s4 = seed_summary(r4, by=["method", "model"], carry=("frames",))
    t4 = with_intervals(table4_side_by_side(s4, dataset="YT-8M", paper_frames=paper_frames), s4,
                        on=["method", "model"])
    return {"table2": t2, "table3": t3, "table4": t4, "runs4": r4, "timings": timings, "bootstrap": boot,
            "summary2": s2, "summary3": s3, "summary4": s4}


def same_as_memory_fusion(table4: pd.DataFrame, file_row: pd.DataFrame,
                          metrics=("hit_at_1", "hit_at_3", "f1")) -> bool:
    """Whether the fusion trained from an exported feature file scored exactly as the in-memory
    Table 4 fusion of the same audio network and seed (``table4``: one seed's Table 4)."""
    metrics = list(metrics)
    method = file_row["method"].iloc[0]
    memory = table4[(table4["method"] == method) & (table4["model"] == "fusion")][metrics]
    return bool(np.array_equal(memory.to_numpy(), file_row[metrics].to_numpy()))


def official_split_sizes(metadata_dir, *, download: bool = False) -> pd.DataFrame:
    """Sizes of the reference code's 70/15/15 splits of the real FCVID and YouTube-8M lists."""
    sizes = {}
    for name, loader in (("FCVID", icmr_metadata.load_fcvid_list), ("YouTube-8M", icmr_metadata.load_yt8m_list)):
        lst = loader(metadata_dir, download=download)
        splits = icmr_metadata.official_splits(lst["video_id"], lst["label"])
        sizes[name] = {k: len(v[0]) for k, v in splits.items()}
    return pd.DataFrame(sizes).T.reset_index(names="dataset")


def embedded_table1(benchmark_root, metadata_dir, *, download: bool = False) -> pd.DataFrame:
    """Table 1's statistics of the embedded benchmark in ``benchmark_root`` beside those of the
    real FCVID lists (durations of unlisted videos included, as the paper's totals)."""
    emb = pd.read_csv(Path(benchmark_root) / "videos.csv")
    unlisted = None if download else icmr_metadata.load_unlisted_durations("fcvid", metadata_dir)
    fc = icmr_metadata.table1_stats(icmr_metadata.load_fcvid_list(metadata_dir, download=download), unlisted)
    es = icmr_metadata.table1_stats(emb)
    return pd.DataFrame({"property": list(es), "FCVID (real lists)": [fc[k] for k in es],
                         "embedded benchmark": list(es.values())})
