"""Evidence rows of the XFlow pages for the Claims page (:mod:`avlib.claims`): the claims of
Cangea et al. about Tables IV-VI, measured in percentage points.

* :func:`crossval_evidence`: XFlow minus baseline per dataset and architecture (Table IV),
  the two ablation rows of Table V (:data:`ABLATION_ROWS`) and the optimism of the paper's
  protocol; the speaker fold is the unit (:func:`avlib.claims.from_folds`);
* :func:`holdout_evidence`: XFlow LSTM minus its baseline on the hold-out split (Table VI),
  paired over seeds;
* :func:`with_convergence_check`: the rows and the comparison with the same rows after
  shorter training (:func:`avlib.claims.mark_convergence`).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ...claims import from_folds, from_paired, mark_convergence
from ...train.protocols import paper_rule, test_train_ratio

__all__ = ["ARCH_NAMES", "ABLATION_ROWS", "fold_pairs", "crossval_evidence", "holdout_evidence",
           "with_convergence_check"]

#: Architecture names of the evidence texts.
ARCH_NAMES = {"cnnxmlp": "CNN x MLP", "lstm": "{CNN x MLP}-LSTM"}


def fold_pairs(results: dict, datasets, fam: str, a: str, b: str, protocol: str = "clean"):
    """Per-fold scores (seeds averaged within each fold) of variants a and b, dataset after
    dataset, with the mean ``n_test / n_train`` of their folds; None if no dataset has both."""
    xa, xb, ratios, used = [], [], [], []
    for name in datasets:
        res = results.get(name, {})
        ka, kb = (fam, a, protocol), (fam, b, protocol)
        if ka in res and kb in res:
            xa.append(res[ka].fold_means())
            xb.append(res[kb].fold_means())
            ratios.append(test_train_ratio(res[ka]))
            used.append(name)
    if not used:
        return None
    return np.concatenate(xa), np.concatenate(xb), float(np.mean(ratios)), used


def _units(results: dict, used, fam: str, variant: str) -> str:
    """"10 speaker folds (3 seeds averaged)" for the datasets ``used``."""
    r = [results[n][(fam, variant, "clean")] for n in used]
    folds = sum(x.n_folds for x in r)
    return f"{folds} speaker folds ({r[0].n_seeds} seeds averaged per fold)"


#: Claim id -> (variant a, variant b) of the ablation rows (effect = a - b, Table V).
ABLATION_ROWS = {
    # "removing [residual connections] results in the biggest accuracy drop": the drop from
    # removing them exceeds the drop from removing the cross-connections, i.e.
    # (both - no res) - (both - no x) = residual-only minus cross-only
    "xflow_connection_residual": ("no_xconns", "no_resconns"),
    # "keeping [residual connections] as the only means of cross-modal exchange often results
    # in an even better accuracy than using both": residual-only minus both, non-inferiority
    "xflow_residual_only_as_good": ("no_xconns", "xflow"),
}


def crossval_evidence(results: dict, *, ablation_datasets: Sequence[str] = ()) -> list:
    """Evidence rows (:class:`avlib.claims.Evidence`, percentage points) of the
    cross-validation page. Speaker folds are the unit of replication: the seeds of a fold are
    averaged, and the interval is the corrected resampled t across folds
    (:func:`avlib.claims.from_folds`), with the paper's plain paired t across folds beside it.

    * ``xflow_beats_baseline_<dataset>_<arch>``: XFlow minus baseline, clean protocol;
    * ``xflow_connection_residual_<arch>``: residual-only (no cross-connections) minus
      cross-only (no residual connections), Table V, over the ablation datasets' folds;
    * ``xflow_residual_only_as_good_<arch>``: residual-only minus both kinds (non-inferiority);
    * ``xflow_paper_protocol_optimistic``: the paper's rule (best test-fold epoch) minus the
      clean protocol on the same runs, averaged per fold over models, variants and seeds.

    ``results`` maps dataset -> :func:`.crossval.xflow_crossval` output.
    """
    ev = []
    for name in results:
        for fam in ("cnnxmlp", "lstm"):
            pr = fold_pairs(results, [name], fam, "xflow", "baseline")
            if pr is None:
                continue
            ev.append(from_folds(
                f"xflow_beats_baseline_{name}_{fam}", 100 * pr[0], 100 * pr[1], test_train_ratio=pr[2],
                unit="speaker fold", detail=f"{ARCH_NAMES[fam]} XFlow - baseline, test accuracy (clean "
                f"protocol), {_units(results, pr[3], fam, 'xflow')}"))
    for fam in ("cnnxmlp", "lstm"):
        for claim, (a, b) in ABLATION_ROWS.items():
            pr = fold_pairs(results, ablation_datasets, fam, a, b)
            if pr is None:
                continue
            ev.append(from_folds(
                f"{claim}_{fam}", 100 * pr[0], 100 * pr[1], test_train_ratio=pr[2], unit="speaker fold",
                detail=f"{ARCH_NAMES[fam]}: {a.replace('_', ' ')} - {b.replace('_', ' ')}, test accuracy "
                       f"(clean), {_units(results, pr[3], fam, a)} of {', '.join(pr[3])}"))
    diffs, ratios = [], []
    for name, res in results.items():
        per_fold = [paper_rule(r).fold_means() - r.fold_means()
                    for (fam, var, prot), r in res.items() if prot == "clean"]
        if per_fold:
            diffs.append(np.mean(per_fold, axis=0))
            ratios.append(np.mean([test_train_ratio(r) for (_, _, prot), r in res.items() if prot == "clean"]))
    if diffs:
        ev.append(from_folds(
            "xflow_paper_protocol_optimistic", 100 * np.concatenate(diffs), None,
            test_train_ratio=float(np.mean(ratios)), unit="speaker fold",
            detail="paper rule (best test-fold epoch) - clean protocol (epoch chosen on a "
                   "validation split), same runs, averaged per fold over models, variants and seeds"))
    return ev


def holdout_evidence(holdout: dict) -> list:
    """``xflow_lstm_holdout_<dataset>``: XFlow LSTM minus its baseline on the hold-out split,
    paired over seeds (``holdout`` maps dataset -> :func:`.holdout.xflow_holdout` output)."""
    ev = []
    for name, res in holdout.items():
        kx, kb = ("lstm", "xflow", "clean"), ("lstm", "baseline", "clean")
        if kx in res and kb in res:
            ev.append(from_paired(
                f"xflow_lstm_holdout_{name}", 100 * res[kx].fold_scores,
                100 * res[kb].fold_scores,
                detail=f"{{CNN x MLP}}-LSTM XFlow - baseline, hold-out test accuracy (clean), "
                       f"{res[kx].n_seeds} seeds"))
    return ev


def with_convergence_check(evidence: list, shorter: Optional[list], factor: Optional[float],
                           matched: Optional[list] = None):
    """Mark each row of ``evidence`` converged or not against ``shorter`` (the same rows after
    training at ``factor`` of the epochs, :func:`avlib.claims.mark_convergence`); ``matched``:
    the rows on the folds the check trained, at full length (the check on part of the folds).
    Returns the comparison table, or None without a check (``shorter`` None)."""
    if shorter is None or not factor:
        return None
    return mark_convergence(evidence, shorter, what=f"{factor:g} x the epochs", matched=matched)
