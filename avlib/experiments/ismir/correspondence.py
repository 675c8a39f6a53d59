"""The ISMIR analysis (Sec. 2.1): category-wise importance, the top features, their Spearman
matrices and the paper's claim measured per category.

Per video the audio features ``x^a`` and the visual vector ``x^v`` (mean of the frame
features) of a trained scheme; the importance ``L^c_{D,i}`` of every feature for every category
(:mod:`avlib.analysis.importance`), the top ``k_audio`` / ``k_visual`` features per category,
their Spearman matrix over the category's videos and the intra- / inter-modal summary with
two-sided Spearman tests corrected within each category's inter-modal pairs
(:mod:`avlib.analysis.correlation`). :func:`seed_stats` condenses one seed's per-category
summary into the statistics of the claim rows (:mod:`.evidence`) and tables (:mod:`.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...analysis.correlation import category_correlations, summarize_correlations
from ...analysis.importance import (IMPORTANCE_VARIANTS, category_importance, decision_gradients,
                                    readout_importance, select_features)
from ...config.ismir import ISMIRConfig
from ...errors import ParameterError
from .schemes import SchemeResult

__all__ = ["Correspondence", "analyse_correspondence", "analyse_seeds", "first_seed", "importance_text",
           "seed_stats", "claim_settings"]


@dataclass
class Correspondence:
    """Category-wise importance, selected features and Spearman matrices of one scheme."""

    scheme: str
    importance_audio: np.ndarray  # (C, Da)
    importance_visual: np.ndarray  # (C, Dv)
    selection: dict
    correlations: list
    summary: pd.DataFrame
    settings: dict


def analyse_correspondence(result: SchemeResult, categories, *, k_audio: int = 10, k_visual: int = 20,
                           split: str = "all", groups: str = "predicted", alpha: float = 0.05,
                           correction: str = "fdr_bh", strong: float = 0.5,
                           importance: str = "linear") -> Correspondence:
    """The ISMIR analysis (Sec. 2.1) of one trained scheme.

    Per video: audio features ``x^a`` and the visual vector ``x^v`` = mean of the frame
    features. Category-wise importance ``L^c_{D,i}`` over the videos ``D`` of ``split``:

    * ``importance="linear"`` (default, the paper's definition): ``w^c`` are the weights of a
      linear read-out (one dense softmax layer, the paper's decision rule
      ``y_c = sum_i w_i^c x_i``) trained on ``[x^a, x^v]`` of the training videos
      (:func:`avlib.analysis.importance.readout_importance`); ``D_c`` = videos the read-out
      predicts as ``c`` (the paper's ``F(d) = c``);
    * ``importance="gradient"``: ``a_i^c = dy_c/dx_i`` of the late-fusion head at each video,
      for the network's predicted category (for the visual vector the sum of the gradients
      over its frames, the chain rule when all frames move with the mean); ``D_c`` = videos
      the network predicts as ``c``.

    Then the top ``k_audio`` / ``k_visual`` per category; Spearman matrix over the videos of
    ``split`` whose group (``"predicted"``: the ``F(d)`` above, or ``"label"``) is ``c``;
    intra/inter summary with ``correction`` at ``alpha``.
    """
    if importance not in IMPORTANCE_VARIANTS:
        raise ParameterError(f"importance must be one of {IMPORTANCE_VARIANTS}, got {importance!r}")
    model = result.model
    model.eval()
    idx = np.arange(len(result.labels)) if split == "all" else np.flatnonzero(result.split == split)
    xa = result.audio_features[idx]
    xf = result.frame_features[idx]
    xv = xf.mean(1)
    pred = result.predictions[idx]  # F(d) of the whole network
    C = len(categories)
    extra = {}
    if importance == "linear":
        tr = np.flatnonzero(result.split == "train")
        ro = readout_importance(result.audio_features, result.frame_features.mean(1), result.labels, train=tr,
                                num_classes=C, analyse=idx)
        imp_a, imp_v = ro["audio"], ro["visual"]
        decision = ro["predictions"]  # F(d): the read-out is the decision rule whose weights are used
        extra = {"readout_train_accuracy": ro["train_accuracy"],
                 "readout_agreement_with_network": 100.0 * float(np.mean(ro["predictions"] == pred))}
    else:
        (ga, gf), _ = decision_gradients(model.fuse, [xa, xf], predictions=pred)
        imp_a = category_importance(xa, ga, pred, num_classes=C)
        imp_v = category_importance(xv, gf.sum(1), pred, num_classes=C)
        decision = pred
    sel = select_features(imp_a, imp_v, k_audio=k_audio, k_visual=k_visual)
    grp = decision if groups == "predicted" else result.labels[idx]
    corrs = category_correlations(xa, xv, grp, sel, names=list(categories))
    summary = summarize_correlations(corrs, alpha=alpha, correction=correction, strong=strong)
    summary.insert(0, "scheme", result.scheme)
    settings = {"k_audio": k_audio, "k_visual": k_visual, "split": split, "groups": groups, "alpha": alpha,
                "correction": correction, "strong": strong, "n_videos": int(len(idx)), "importance": importance,
                **extra}
    return Correspondence(result.scheme, imp_a, imp_v, sel, corrs, summary, settings)


def analyse_seeds(results: dict, categories, cfg: ISMIRConfig) -> dict:
    """:func:`analyse_correspondence` with the settings of ``cfg.analysis`` for every
    ``(scheme, seed)`` of ``results``."""
    a = cfg.analysis
    return {key: analyse_correspondence(r, categories, k_audio=a.k_audio, k_visual=a.k_visual, split=a.split,
                                        groups=a.groups, alpha=a.alpha, correction=a.correction, strong=a.strong,
                                        importance=a.importance)
            for key, r in results.items()}


def first_seed(by_key: dict, seed: int) -> dict:
    """``{scheme: value}`` of training seed ``seed`` from ``{(scheme, seed): value}`` (the
    figures and the one-seed tables use the first seed; a scheme not run for it is absent)."""
    return {scheme: value for (scheme, s), value in by_key.items() if s == seed}


def importance_text(cors: dict) -> str:
    """A sentence on how the importance was computed for ``{scheme: Correspondence}`` of one
    seed: the linear read-out's training accuracy and its agreement with the network, or the
    gradient variant."""
    if not cors:
        return ""
    first = next(iter(cors.values())).settings
    if first.get("importance") != "linear":
        return ("Importance from the gradients of the late-fusion head's logit of the predicted category "
                "(`analysis.importance = \"gradient\"`).")
    parts = [f"{scheme}: {c.settings['readout_train_accuracy']:.1f} % on the training videos, the network's "
             f"category for {c.settings['readout_agreement_with_network']:.1f} % of the analysed videos"
             for scheme, c in cors.items()]
    return "Linear read-out (`analysis.importance = \"linear\"`, first seed): " + "; ".join(parts) + "."


def seed_stats(summary: pd.DataFrame) -> dict:
    """Per-seed statistics of one scheme's per-category summary
    (:func:`avlib.analysis.correlation.modality_summary` rows).

    Means over categories (``intra``, ``inter``: mean |rho|), the share of significant
    inter-modal pairs, and the claim's per-category criterion: ``pct_categories_inter_clean``
    (% of categories with no significant inter-modal pair, the correction within each
    category's inter-modal family), ``pct_categories_intra_strong`` (% of categories with strong
    intra-modal correlation in both modalities), ``weakest_intra`` (the smallest
    ``intra_strength`` over categories, a category without a defined one counting as 0) and
    ``pct_categories_claim`` (% of categories where both hold).
    """
    n_inter = float(summary["n_pairs_inter"].sum())
    if "intra_strength" in summary:
        strength = summary["intra_strength"].to_numpy(dtype=float)
    else:  # summaries written before intra_strength existed
        strength = summary[["mean_abs_rho_intra_audio", "mean_abs_rho_intra_visual"]].min(axis=1).to_numpy(float)
    strength = np.where(np.isfinite(strength), strength, 0.0)
    weakest = int(np.argmin(strength)) if strength.size else -1
    return {"intra": float(summary["mean_abs_rho_intra"].mean()),
            "inter": float(summary["mean_abs_rho_inter"].mean()),
            "pct_sig_inter": 100.0 * float(summary["n_sig_inter"].sum()) / n_inter if n_inter else np.nan,
            "pct_categories_claim": 100.0 * float(summary["claim_holds"].mean()),
            "pct_categories_inter_clean": 100.0 * float(summary["inter_not_significant"].mean()),
            "pct_categories_intra_strong": 100.0 * float(summary["intra_strong"].mean()),
            "n_categories_inter_clean": int(summary["inter_not_significant"].sum()),
            "n_categories_intra_strong": int(summary["intra_strong"].sum()),
            "n_categories_claim": int(summary["claim_holds"].sum()),
            "weakest_intra": float(strength[weakest]) if strength.size else np.nan,
            "weakest_intra_category": str(summary["name"].iloc[weakest]) if strength.size else "",
            "categories": int(len(summary))}


def claim_settings(cors: dict, alpha: float | None = None, strong: float | None = None) -> tuple:
    """``(alpha, strong, correction, family)`` the summaries of ``cors`` were made with
    (``alpha`` / ``strong`` when given replace the stored ones)."""
    st = next((c.settings for c in cors.values() if getattr(c, "settings", None)), {})
    fam = next((str(c.summary["family"].iloc[0]) for c in cors.values()
                if len(c.summary) and "family" in c.summary), "inter")
    return (float(st.get("alpha", 0.05) if alpha is None else alpha),
            float(st.get("strong", 0.5) if strong is None else strong),
            str(st.get("correction", "fdr_bh")), fam)
