"""The ISMIR rows of the Claims page, measured by the paper's own criterion per category, with
the training seed as the unit of replication."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...claims import from_paired, from_values, load_claims, mark_convergence, null_value, p_against
from ...errors import ParameterError
from ..icmr.store import CHECK_SUB
from .correspondence import analyse_seeds, claim_settings, seed_stats
from .schemes import check_config, check_description, run_schemes_seeds

__all__ = ["claim_evidence", "convergence_check"]


def _by_seed(cors: dict, scheme: str) -> dict:
    return {seed: seed_stats(c.summary) for (s, seed), c in cors.items() if s == scheme and len(c.summary)}


def _no_interval_test(effect, n: int) -> str:
    if n >= 2:
        return f"every one of the {n} seeds gave {effect:+.1f}: no spread between seeds, no t test"
    return f"n = {n} seed: no interval"


def claim_evidence(cors: dict, *, alpha: float | None = None, strong: float | None = None) -> list:
    """Evidence rows (:class:`avlib.claims.Evidence`) for the ISMIR claims.

    ``cors``: ``{(scheme, seed): Correspondence}`` (:func:`.correspondence.analyse_seeds`). The
    unit is the seed: one value per seed, then the Student-t interval over seeds
    (:func:`avlib.claims.from_values`); the categories of one seed share the trained networks,
    so they are not independent observations. Per category the paper's claim has two parts,
    "strong intra-modal correspondence" and "no significant inter-modal relations", and "a
    similar pattern for all other categories" makes it a claim about every category. Rows,
    positive = the paper's direction:

    * ``ismir_strong_intra`` (superiority, |rho| x 100): per seed, the weakest category's intra-
      modal strength (the smaller of its mean |rho| over audio-audio and over visual-visual
      pairs) minus ``strong`` (0.5); positive iff every category has strong intra-modal
      correlation in both modalities;
    * ``ismir_no_significant_inter`` (non-inferiority, margin in ``claims.yaml``, points): per
      seed, % of categories in which no inter-modal pair is significant (two-sided Spearman
      test, Benjamini-Hochberg over that category's inter-modal pairs, ``alpha``) minus 100
      (the paper: all categories). Even when the claim is exactly true a calibrated test flags
      about ``alpha`` of the categories, hence the margin;
    * ``ismir_joint_vs_fe`` (superiority, |rho| x 100): mean inter-modal |rho| (mean over
      categories) under joint training minus under feature extraction, paired by seed over the
      seeds that ran both; positive = independently learned (feature-extraction) features are
      less coupled across modalities than jointly learned ones, the contrast the paper draws.

    ``alpha`` and ``strong`` default to the settings the summaries were made with.
    """
    alpha, strong, correction, family = claim_settings(cors, alpha, strong)
    fe, jt = _by_seed(cors, "feature extraction"), _by_seed(cors, "joint")
    fam = "its inter-modal pairs" if family == "inter" else "all pairs of its matrix (NOT the claim's family)"
    ev = []
    if fe:
        sd = sorted(fe)
        per = ", ".join(f"{fe[s]['n_categories_intra_strong']}/{fe[s]['categories']}" for s in sd)
        weakest = ", ".join(f"{fe[s]['weakest_intra']:.2f} ({fe[s]['weakest_intra_category']})" for s in sd)
        ev.append(from_values(
            "ismir_strong_intra", [100.0 * (fe[s]["weakest_intra"] - strong) for s in sd], unit="seed",
            detail=f"feature extraction: per seed, the weakest category's intra-modal |Spearman rho| (smaller of the "
                   f"mean over audio-audio and over visual-visual pairs of the top features) minus {strong:g} "
                   f"('strong'), x 100; > 0 iff every category is strong in both modalities. Weakest per seed: "
                   f"{weakest}; categories strong per seed: {per}; {len(sd)} training seeds (the unit; "
                   f"categories within a seed are not independent)"))
        clean = [fe[s]["pct_categories_inter_clean"] - 100.0 for s in sd]
        per = ", ".join(f"{fe[s]['n_categories_inter_clean']}/{fe[s]['categories']}" for s in sd)
        e = from_values(
            "ismir_no_significant_inter", clean, unit="seed",
            detail=f"feature extraction: per seed, % of categories with no significant inter-modal pair (two-sided "
                   f"Spearman test, {correction} over {fam} per category, alpha {alpha:g}) minus 100 (the paper: all "
                   f"categories). Per seed: {per}; {len(sd)} training seeds (the unit; categories within a seed are "
                   f"not independent)")
        row = load_claims().set_index("id").loc["ismir_no_significant_inter"]
        null = null_value(row["criterion"], row["margin"])
        if np.isfinite(e.se) and e.se > 0:
            pn = p_against(e.effect, e.se, e.df, null)
            test = f"one-sample t over {e.n} seeds against {null:g} (non-inferiority margin): p = {pn:.3g}"
        else:
            test = _no_interval_test(e.effect, e.n)
        ev.append(replace(e, test=test))
    both = sorted(set(fe) & set(jt))
    if both:
        ev.append(from_paired("ismir_joint_vs_fe", [100 * jt[s]["inter"] for s in both],
                              [100 * fe[s]["inter"] for s in both], unit="seed",
                              detail=f"mean inter-modal |Spearman rho| x 100 (mean over categories), joint training "
                                     f"minus feature extraction, paired by training seed; {len(both)} seed(s) ran "
                                     f"both schemes (one seed: no interval)"))
    return ev


def convergence_check(bench, data, cfg, evidence: list, *, data_root, source: str = "embedded", weights=None,
                      device=None, main: dict | None = None):
    """Run both schemes again at :func:`.schemes.check_config` (every training at
    ``cfg.check_epochs_factor`` of its epochs, in each seed's
    :data:`~avlib.experiments.icmr.store.CHECK_SUB` store, where the ICMR pages' shorter audio
    and frame runs already are), measure the claims there with the same analysis, and mark
    each row of ``evidence`` converged or not (:func:`avlib.claims.mark_convergence`, in
    place). Only the seeds of ``cfg.check_seeds`` run again; ``main`` (the page's
    ``{(scheme, seed): Correspondence}``) then gives the same rows on those seeds at full length,
    and each change is measured on the same seeds at both lengths. Returns the comparison table,
    or None when ``cfg`` has no check."""
    short = check_config(cfg)
    if short is None:
        return None
    runs = run_schemes_seeds(bench, data, short, data_root=data_root, source=source, weights=weights,
                             device=device, store_sub=CHECK_SUB)
    cors = analyse_seeds(runs, data.categories, short)
    kw = dict(alpha=cfg.analysis.alpha, strong=cfg.analysis.strong)
    check = claim_evidence(cors, **kw)
    matched = None
    if sorted(short.seeds) != sorted(cfg.seeds):
        if main is None:
            raise ParameterError("the check runs fewer seeds than the page: pass the page's analysis as main=")
        matched = claim_evidence({k: v for k, v in main.items() if k[1] in short.seeds}, **kw)
    return mark_convergence(evidence, check, what=check_description(cfg), matched=matched)
