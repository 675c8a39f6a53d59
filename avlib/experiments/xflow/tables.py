"""The XFlow tables, ours beside the paper's (Cangea et al., Tables III-VI): the full tables
the pages save as CSV.

* Table III: :func:`table3_params` (trainable parameters), :func:`lstm_baseline_gap` (the
  156 parameters of the AVletters {CNN x MLP}-LSTM baseline), :func:`variant_params` (every
  variant and the DTN);
* Tables IV-V: :func:`summarize_cv` (long table of every result), :func:`table4_frame` /
  :func:`table4` (baseline vs XFlow, with the paper's columns), :func:`table5_frame` /
  :func:`table5` (ablations), :func:`protocol_gap` (the paper's rule vs the clean protocol),
  :func:`table_protocols` (which protocols a page tabulates);
* Table VI: :func:`table6` (hold-out accuracy per protocol).

Speaker folds are the unit of the cross-validation tables (the seeds of a fold are averaged
first; intervals are the corrected resampled t of Nadeau & Bengio); on the hold-out split the
training seeds are. What a reader sees of these tables is :mod:`avlib.experiments.xflow.display`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ...config.xflow import XFlowConfig
from ...metrics.stats import corrected_resampled_ci, corrected_resampled_effect, mean_ci, paired_ttest
from ...models.dtn import dtn
from ...models.xflow import DATASET_CONFIGS, VARIANTS, build_xflow_model, count_trainable_parameters, \
    lstm_time_bn_parameters
from ...report import paper_table, side_by_side
from ...train.protocols import CVResult, paper_rule, test_train_ratio
from .inputs import DATASET_NAMES

__all__ = [
    "MODEL_NAMES",
    "table3_params",
    "lstm_baseline_gap",
    "variant_params",
    "summarize_cv",
    "table_protocols",
    "table4_frame",
    "table4",
    "table5_frame",
    "table5",
    "protocol_gap",
    "table6",
]

#: Family key -> the model name of the paper's tables.
MODEL_NAMES = {"cnnxmlp": "CNNxMLP", "lstm": "CNNxMLP-LSTM"}


# ----------------------------------------------------------------------------- Table III
def _count(family: str, dataset: str, variant: str, **kwargs) -> int:
    return count_trainable_parameters(build_xflow_model(family, dataset, variant, **kwargs))


def _param_rows(variants) -> list:
    return [dict(model=MODEL_NAMES[fam], variant=v, avletters=_count(fam, "avletters", v),
                 digits_cuave=_count(fam, "digits", v))
            for fam in MODEL_NAMES for v in variants]


def table3_params() -> pd.DataFrame:
    """Table III: trainable parameters of the baseline and XFlow models, AVletters and
    Digits/CUAVE geometry, ours beside the paper's with the differences."""
    t = side_by_side(pd.DataFrame(_param_rows(("baseline", "xflow"))), paper_table("xflow_table3_params"),
                     on=["model", "variant"], columns=["avletters", "digits_cuave"])
    for c in ("avletters", "digits_cuave"):
        t[f"{c} diff"] = t[f"{c} (ours)"] - t[f"{c} (paper)"]
    return t


def lstm_baseline_gap() -> pd.DataFrame:
    """The AVletters {CNN x MLP}-LSTM baseline built for its 39 time steps and for twice as
    many, beside the paper's count: the two time-axis BN layers of a 78-step sequence are the
    156 parameters the 39-step model lacks."""
    paper = paper_table("xflow_table3_params").set_index(["model", "variant"])
    published = paper.loc[(MODEL_NAMES["lstm"], "baseline"), "avletters"]
    steps = DATASET_CONFIGS["avletters"]["max_frames"]
    t = pd.DataFrame([dict(model="CNNxMLP-LSTM baseline (AVletters)", time_steps=n,
                           time_axis_bn_params=lstm_time_bn_parameters(n),
                           trainable=_count("lstm", "avletters", "baseline", n_frames=n))
                      for n in (steps, 2 * steps)])
    t["paper"] = published
    t["diff"] = t["trainable"] - t["paper"]
    return t


def variant_params() -> pd.DataFrame:
    """Trainable parameters of every variant (Table V's ablations too) and of the DTN."""
    dtn_row = dict(model="DTN (weakly shared)", variant="-", avletters=count_trainable_parameters(dtn("avletters")),
                   digits_cuave=count_trainable_parameters(dtn("digits")))
    return pd.DataFrame(_param_rows(VARIANTS) + [dtn_row])


# ----------------------------------------------------------------------------- Tables IV-V
def summarize_cv(results: dict) -> pd.DataFrame:
    """Long table of cross-validation results.

    ``results`` maps dataset -> ``{(family, variant, protocol): CVResult}`` (as returned by
    :func:`.crossval.xflow_crossval`; clean results are also summarised under the paper's
    selection rule as protocol ``"paper-rule"``). Speaker folds are the unit: the seeds of a
    fold are averaged first; with a single fold (a hold-out split) the seeds are the unit
    (Student-t). Columns: dataset, model, variant, protocol, mean_pct, ci_lo_pct, ci_hi_pct
    (95 % corrected resampled t interval across folds,
    :func:`avlib.metrics.stats.corrected_resampled_ci`), n_folds, n_seeds, fold_pct (per-fold
    means over seeds).
    """
    rows = []
    for dsname, res in results.items():
        for (fam, var, prot), r in res.items():
            views = [(prot, r)] + ([("paper-rule", paper_rule(r))] if prot == "clean" else [])
            for pname, v in views:
                if v.n_folds == 1:  # a hold-out split: the training seeds are the unit
                    ci = mean_ci(v.fold_scores, bounds=(0, 1))
                else:
                    ci = corrected_resampled_ci(v.fold_means(), test_train_ratio=test_train_ratio(v), bounds=(0, 1))
                rows.append(dict(dataset=DATASET_NAMES.get(dsname, dsname),
                                 model=MODEL_NAMES.get(fam, fam), variant=var, protocol=pname,
                                 mean_pct=100 * ci.mean, ci_lo_pct=100 * ci.lo,
                                 ci_hi_pct=100 * ci.hi, n_folds=v.n_folds, n_seeds=v.n_seeds,
                                 fold_pct=[round(100 * float(x), 2) for x in v.fold_means()]))
    return pd.DataFrame(rows)


def table_protocols(cfg: XFlowConfig) -> list:
    """The protocols a cross-validation table is shown for: the clean protocol, the paper's
    rule on the same runs, and the paper's own protocol when it ran."""
    return ["clean", "paper-rule"] + (["paper"] if "paper" in cfg.crossval.protocols else [])


def _view(res: dict, fam: str, var: str, protocol: str) -> Optional[CVResult]:
    key = (fam, var, "clean" if protocol == "paper-rule" else protocol)
    if key not in res:
        return None
    return paper_rule(res[key]) if protocol == "paper-rule" else res[key]


def table4_frame(results: dict, *, protocol: str = "clean", dtn: Optional[dict] = None,
                 alternative: str = "two-sided") -> pd.DataFrame:
    """Table IV: per model and dataset the baseline and XFlow accuracy (%), under ``protocol``
    ("clean", "paper" or "paper-rule"). ``dtn`` maps dataset -> CVResult of the DTN (baseline
    column only).

    Speaker folds are the unit: the seeds of a fold are averaged first. ``p_value`` is the
    paper's plain paired t-test across folds; ``p_corrected`` with ``diff_pct`` /
    ``diff_lo_pct`` / ``diff_hi_pct`` the corrected resampled t (Nadeau & Bengio) of XFlow -
    baseline across the same folds; ``*_ci_lo/hi_pct`` the corrected 95 % intervals of each
    accuracy."""
    nan = float("nan")
    rows = []
    for dsname, res in (dtn or {}).items():
        ci = corrected_resampled_ci(res.fold_means(), test_train_ratio=test_train_ratio(res), bounds=(0, 1))
        rows.append(dict(model="DTN", dataset=DATASET_NAMES.get(dsname, dsname),
                         baseline_pct=100 * res.mean, xflow_pct=nan, p_value=nan,
                         n_folds=res.n_folds, n_seeds=res.n_seeds,
                         baseline_ci_lo_pct=100 * ci.lo, baseline_ci_hi_pct=100 * ci.hi))
    for fam in MODEL_NAMES:
        for dsname, res in results.items():
            b, x = _view(res, fam, "baseline", protocol), _view(res, fam, "xflow", protocol)
            if b is None or x is None:
                continue
            ratio = test_train_ratio(x)
            t = paired_ttest(x.fold_means(), b.fold_means(), alternative=alternative)
            bc = corrected_resampled_ci(b.fold_means(), test_train_ratio=ratio, bounds=(0, 1))
            xc = corrected_resampled_ci(x.fold_means(), test_train_ratio=ratio, bounds=(0, 1))
            pe = corrected_resampled_effect(x.fold_means(), b.fold_means(), test_train_ratio=ratio)
            rows.append(dict(model=MODEL_NAMES[fam], dataset=DATASET_NAMES.get(dsname, dsname),
                             baseline_pct=100 * b.mean, xflow_pct=100 * x.mean,
                             p_value=t.pvalue, n_folds=b.n_folds, n_seeds=b.n_seeds,
                             baseline_ci_lo_pct=100 * bc.lo, baseline_ci_hi_pct=100 * bc.hi,
                             xflow_ci_lo_pct=100 * xc.lo, xflow_ci_hi_pct=100 * xc.hi,
                             diff_pct=100 * pe.mean, diff_lo_pct=100 * pe.lo,
                             diff_hi_pct=100 * pe.hi, p_corrected=pe.p))
    return pd.DataFrame(rows)


_TABLE4_EXTRA = ["n_seeds", "baseline_ci_lo_pct", "baseline_ci_hi_pct", "xflow_ci_lo_pct", "xflow_ci_hi_pct",
                 "diff_pct", "diff_lo_pct", "diff_hi_pct", "p_corrected"]


def table4(results: dict, *, protocol: str = "clean", dtn: Optional[dict] = None) -> pd.DataFrame:
    """Table IV under ``protocol`` beside the paper's (baseline, XFlow, p-value), followed by
    our intervals and corrected test (:func:`table4_frame`). The DTN rows are shown except
    under the paper's own protocol (the DTN runs the clean one)."""
    ours = table4_frame(results, protocol=protocol, dtn=dtn if protocol != "paper" else None)
    t = side_by_side(ours, paper_table("xflow_table4_cv_accuracy"), on=["model", "dataset"],
                     columns=["baseline_pct", "xflow_pct", "p_value"])
    return t.merge(ours[["model", "dataset"] + [c for c in _TABLE4_EXTRA if c in ours]],
                   on=["model", "dataset"], how="left")


def table5_frame(results: dict, *, protocol: str = "clean") -> pd.DataFrame:
    """Table V: accuracy (%) of XFlow with both kinds of connections and the two ablations,
    each with its corrected resampled 95 % interval across speaker folds (``*_lo`` / ``*_hi``)."""
    rows = []
    for fam in MODEL_NAMES:
        for dsname, res in results.items():
            row = dict(model=MODEL_NAMES[fam], dataset=DATASET_NAMES.get(dsname, dsname))
            for var, col in (("xflow", "both_pct"), ("no_xconns", "no_xconns_pct"),
                             ("no_resconns", "no_resconns_pct")):
                r = _view(res, fam, var, protocol)
                if r is not None:
                    ci = corrected_resampled_ci(r.fold_means(), test_train_ratio=test_train_ratio(r),
                                                bounds=(0, 1))
                    row[col], row[col + "_lo"], row[col + "_hi"] = 100 * ci.mean, 100 * ci.lo, 100 * ci.hi
                else:
                    row[col] = row[col + "_lo"] = row[col + "_hi"] = float("nan")
            if any(np.isfinite(row[c]) for c in ("both_pct", "no_xconns_pct", "no_resconns_pct")):
                rows.append(row)
    return pd.DataFrame(rows)


def table5(results: dict, *, ablation_datasets: Sequence[str], protocol: str = "clean") -> pd.DataFrame:
    """Table V on the ``ablation_datasets`` under ``protocol`` beside the paper's; empty when no
    ablation ran."""
    ours = table5_frame({k: v for k, v in results.items() if k in ablation_datasets}, protocol=protocol)
    if len(ours) == 0:
        return ours
    return side_by_side(ours, paper_table("xflow_table5_ablation"), on=["model", "dataset"],
                        columns=["both_pct", "no_xconns_pct", "no_resconns_pct"])


def protocol_gap(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy (%) of every model under each protocol of ``summary``
    (:func:`summarize_cv`) and the gaps paper-rule - clean and paper - clean (points)."""
    piv = summary.pivot_table(index=["dataset", "model", "variant"], columns="protocol",
                              values="mean_pct").reset_index()
    if "paper-rule" in piv and "clean" in piv:
        piv["gap (paper-rule - clean)"] = piv["paper-rule"] - piv["clean"]
    if "paper" in piv and "clean" in piv:
        piv["gap (paper - clean)"] = piv["paper"] - piv["clean"]
    return piv


# ----------------------------------------------------------------------------- Table VI
def table6(results: dict, datasets: Sequence[str]) -> dict:
    """Table VI per protocol: ``{protocol: table}`` with the hold-out accuracy (%, mean over
    seeds) of the {CNN x MLP}-LSTM baseline and XFlow on ``datasets`` beside the paper's, and
    each accuracy's 95 % interval over seeds (``<dataset>_ci``). ``results`` maps dataset ->
    :func:`.holdout.xflow_holdout` output."""
    long = summarize_cv(results)
    rows = []
    for prot in sorted(set(long.protocol)):
        for var, label in (("baseline", "CNNxMLP-LSTM baseline"), ("xflow", "CNNxMLP-LSTM XFlow")):
            sel = long[(long.protocol == prot) & (long.variant == var)]
            row = {"model": label, "protocol": prot}
            for name in datasets:
                v = sel[sel.dataset.str.lower() == name]
                row[f"{name}_pct"] = float(v.mean_pct.iloc[0]) if len(v) else float("nan")
                row[f"{name}_ci"] = (f"[{v.ci_lo_pct.iloc[0]:.1f}, {v.ci_hi_pct.iloc[0]:.1f}]" if len(v) else "")
            rows.append(row)
    ours = pd.DataFrame(rows)
    cols = [c for c in ("avletters_pct", "cuave_pct") if c in ours]
    out = {}
    for prot in sorted(set(ours.protocol)):
        sel = ours[ours.protocol == prot].drop(columns="protocol")
        t = side_by_side(sel[["model"] + cols], paper_table("xflow_table6_holdout"), on=["model"], columns=cols)
        out[prot] = t.merge(sel[["model"] + [c for c in sel if c.endswith("_ci")]], on="model", how="left")
    return out
