"""Spearman correlation between the selected audio and visual features (ISMIR 2017 LBD).

For each category the paper keeps the top-10 audio and top-20 visual features (see
:mod:`avlib.analysis.importance`) and shows the 30 x 30 Spearman correlation matrix over
videos (its Figure 2, SaxophonePerformance, feature-extraction scheme). Its claim: "even
though audio and visual features have strong intra-modal correspondence, there are no
significant inter-modal relations", with "a similar pattern for all other categories".

This module computes the matrix and its p-values with :func:`scipy.stats.spearmanr`,
splits the pairs into intra-modal (audio-audio, visual-visual) and inter-modal
(audio-visual), corrects the p-values for multiple comparisons (Benjamini-Hochberg false
discovery rate by default, Holm or Bonferroni on request) and tests the claim as stated,
with its thresholds explicit.

The family of the correction is the family of the claim: "no significant inter-modal
relation" is a statement about the 200 audio-visual pairs of one category, so those pairs
are corrected together and only with each other (``family="inter"``, the default); the 235
intra-modal pairs are a second, separate family. Correcting all 435 pairs together
(``family="all"``) lets the many strong, tiny-p intra-modal pairs raise the
Benjamini-Hochberg threshold of the inter-modal ones: with independent modalities and strong
intra-modal correlation (10 audio + 20 visual features, n = 150) a "significant" inter-modal
pair then turns up in about 40 % of categories instead of at most ``alpha``
(``tests/test_ismir_analysis.py`` simulates it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ParameterError

__all__ = [
    "spearman_matrix",
    "adjust_pvalues",
    "FeatureCorrelation",
    "feature_correlation",
    "category_correlations",
    "modality_summary",
    "summarize_correlations",
    "CORRECTIONS",
    "FAMILIES",
]

CORRECTIONS = ("fdr_bh", "holm", "bonferroni", "none")

#: Families of the multiple-comparison correction in :func:`modality_summary`: ``"inter"``
#: (inter-modal pairs corrected among themselves, intra-modal pairs a separate family) or
#: ``"all"`` (one family of all pairs of the matrix; kept to show why it is wrong for the claim).
FAMILIES = ("inter", "all")


def spearman_matrix(x) -> tuple[np.ndarray, np.ndarray]:
    """Spearman rank correlation between all columns of ``x`` and its two-sided p-values.

    Parameters
    ----------
    x : np.ndarray [shape=(n, p)]
        ``n`` observations (videos) of ``p`` variables (features); ``n >= 3``, ``p >= 2``.

    Returns
    -------
    rho : np.ndarray [shape=(p, p)]
        ``scipy.stats.spearmanr`` (average ranks for ties); NaN for a constant column.
    pvalue : np.ndarray [shape=(p, p)]
        Two-sided p-values (t distribution with ``n - 2`` degrees of freedom); NaN where
        ``rho`` is NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ParameterError(f"x must have shape (n, p), got {x.shape}")
    n, p = x.shape
    if n < 3 or p < 2:
        raise ParameterError(f"need at least 3 observations and 2 variables, got shape {x.shape}")
    rho = np.full((p, p), np.nan)
    pval = np.full((p, p), np.nan)
    ok = np.flatnonzero(~np.all(x == x[0], axis=0))  # constant columns have no rank order
    if ok.size >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.spearmanr(x[:, ok], axis=0)
        r = np.asarray(res.statistic, dtype=np.float64)
        q = np.asarray(res.pvalue, dtype=np.float64)
        if r.ndim == 0:  # SciPy returns scalars for two variables
            r = np.array([[1.0, float(r)], [float(r), 1.0]])
            q = np.array([[0.0, float(q)], [float(q), 0.0]])
        rho[np.ix_(ok, ok)] = r
        pval[np.ix_(ok, ok)] = q
    return rho, pval


def adjust_pvalues(pvalues, method: str = "fdr_bh") -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons; NaNs are left out and kept.

    Parameters
    ----------
    pvalues : array [shape=(m,)]
    method : {"fdr_bh", "holm", "bonferroni", "none"}
        Benjamini-Hochberg (``scipy.stats.false_discovery_control``), Holm step-down,
        Bonferroni, or no correction.

    Returns
    -------
    np.ndarray [shape=(m,)]
        Adjusted p-values (compare them with alpha).
    """
    p = np.asarray(pvalues, dtype=np.float64).copy()
    if method not in CORRECTIONS:
        raise ParameterError(f"unknown correction {method!r}; valid: {', '.join(CORRECTIONS)}")
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0 or method == "none":
        return p
    if method == "fdr_bh":
        adj = stats.false_discovery_control(q, method="bh")
    elif method == "bonferroni":
        adj = np.minimum(q * m, 1.0)
    else:  # holm
        order = np.argsort(q, kind="stable")
        stepped = (m - np.arange(m)) * q[order]
        stepped = np.minimum(np.maximum.accumulate(stepped), 1.0)
        adj = np.empty(m)
        adj[order] = stepped
    p[ok] = adj
    return p


@dataclass
class FeatureCorrelation:
    """The correlation matrix of one category's selected features.

    Attributes
    ----------
    category : int
    name : str
    labels : list of str
        ``"A<i>"`` for audio feature ``i``, ``"V<j>"`` for visual feature ``j`` (audio first).
    modality : np.ndarray of str [shape=(p,)]
        ``"audio"`` or ``"visual"`` per row/column.
    rho, pvalue : np.ndarray [shape=(p, p)]
    n_samples : int
        Number of videos the correlations are computed over.
    """

    category: int
    name: str
    labels: list
    modality: np.ndarray
    rho: np.ndarray
    pvalue: np.ndarray
    n_samples: int
    extra: dict = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """``rho`` as a labelled DataFrame."""
        return pd.DataFrame(self.rho, index=self.labels, columns=self.labels)


def feature_correlation(
    audio,
    visual,
    audio_idx,
    visual_idx,
    *,
    category: int = 0,
    name: str = "",
) -> FeatureCorrelation:
    """Spearman matrix over the selected audio columns followed by the visual columns.

    Parameters
    ----------
    audio : array [shape=(n, K_a)]
    visual : array [shape=(n, K_v)]
    audio_idx, visual_idx : array of int
        Selected feature indices (e.g. top-10 and top-20 of the category).
    """
    audio = np.asarray(audio, dtype=np.float64)
    visual = np.asarray(visual, dtype=np.float64)
    if audio.ndim != 2 or visual.ndim != 2 or audio.shape[0] != visual.shape[0]:
        raise ParameterError(f"audio (n, K_a) and visual (n, K_v) must share n, got {audio.shape}, {visual.shape}")
    ai = np.asarray(audio_idx, dtype=np.int64)
    vi = np.asarray(visual_idx, dtype=np.int64)
    x = np.concatenate([audio[:, ai], visual[:, vi]], axis=1)
    rho, pval = spearman_matrix(x)
    labels = [f"A{i}" for i in ai] + [f"V{j}" for j in vi]
    modality = np.array(["audio"] * len(ai) + ["visual"] * len(vi))
    return FeatureCorrelation(category, name, labels, modality, rho, pval, audio.shape[0])


def category_correlations(
    audio,
    visual,
    groups,
    selection: dict,
    *,
    names=None,
    min_samples: int = 3,
) -> list[FeatureCorrelation]:
    """:func:`feature_correlation` for every category over the videos of that category.

    Parameters
    ----------
    audio : array [shape=(n, K_a)]
    visual : array [shape=(n, K_v)]
    groups : array of int [shape=(n,)]
        The category each video counts for (the paper's ``F(d)``, the predicted category,
        or the label).
    selection : dict
        ``{category: {"audio": idx, "visual": idx}}`` from
        :func:`avlib.analysis.importance.select_features`.
    names : list of str, optional
        Category names.
    min_samples : int
        Categories with fewer videos are skipped (a Spearman p-value needs n >= 3).
    """
    groups = np.asarray(groups)
    audio = np.asarray(audio)
    visual = np.asarray(visual)
    out = []
    for c, sel in selection.items():
        mask = groups == c
        if mask.sum() < max(min_samples, 3):
            continue
        name = names[c] if names is not None else str(c)
        out.append(
            feature_correlation(audio[mask], visual[mask], sel["audio"], sel["visual"], category=c, name=name)
        )
    return out


def modality_summary(
    result: FeatureCorrelation,
    *,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
    strong: float = 0.5,
    family: str = "inter",
) -> dict:
    """Intra- vs inter-modal |rho| of one matrix and the test of the paper's claim.

    Test: the two-sided Spearman test of each pair (:func:`spearman_matrix`, t with ``n - 2``
    degrees of freedom over the category's videos), corrected with ``correction`` within a
    family and compared with ``alpha``. Families (``family``):

    * ``"inter"`` (default, the family of the claim): the ``k_a k_v`` inter-modal pairs (200 for
      10 + 20 features) are one family; the intra-modal pairs (235) are another;
    * ``"all"``: all ``p(p-1)/2`` pairs (435) in one family; the strong intra-modal pairs then
      make the correction lenient for the inter-modal pairs (kept only to document the flaw).

    Pairs with an undefined rho (constant feature) are counted in ``n_undefined`` and left out.

    Claim parts, as measured:

    * ``intra_strong``: "audio and visual features have strong intra-modal correspondence":
      the mean |rho| over the audio-audio pairs and the mean |rho| over the visual-visual pairs
      are both >= ``strong`` (0.5: a strong correlation by the usual convention);
      ``intra_strength`` is the smaller of the two (NaN without defined intra pairs);
    * ``inter_not_significant``: "there are no significant inter-modal relations": no
      inter-modal pair significant at ``alpha`` after the correction; ``min_q_inter`` is the
      smallest corrected inter-modal p-value (the pair closest to significance);
    * ``claim_holds``: both.
    """
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha}")
    if family not in FAMILIES:
        raise ParameterError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    p = len(result.labels)
    iu = np.triu_indices(p, k=1)
    rho = result.rho[iu]
    pv = result.pvalue[iu]
    mod = result.modality
    a, b = mod[iu[0]], mod[iu[1]]
    inter = a != b
    intra_audio = (a == "audio") & (b == "audio")
    intra_visual = (a == "visual") & (b == "visual")
    intra = ~inter
    defined = ~np.isnan(rho)
    if family == "all":
        adj = adjust_pvalues(pv, correction)
    else:
        adj = np.full(pv.shape, np.nan)
        adj[inter] = adjust_pvalues(pv[inter], correction)
        adj[intra] = adjust_pvalues(pv[intra], correction)
    sig = defined & (adj < alpha)
    absr = np.abs(rho)

    def _mean(mask):
        m = mask & defined
        return float(absr[m].mean()) if m.any() else float("nan")

    def _median(mask):
        m = mask & defined
        return float(np.median(absr[m])) if m.any() else float("nan")

    row = {
        "category": result.category,
        "name": result.name,
        "n_videos": result.n_samples,
        "mean_abs_rho_intra": _mean(intra),
        "mean_abs_rho_intra_audio": _mean(intra_audio),
        "mean_abs_rho_intra_visual": _mean(intra_visual),
        "mean_abs_rho_inter": _mean(inter),
        "median_abs_rho_intra": _median(intra),
        "median_abs_rho_inter": _median(inter),
        "max_abs_rho_inter": float(absr[inter & defined].max()) if (inter & defined).any() else float("nan"),
        "n_pairs_intra": int((intra & defined).sum()),
        "n_pairs_inter": int((inter & defined).sum()),
        "n_undefined": int((~defined).sum()),
        "n_sig_intra": int((sig & intra).sum()),
        "n_sig_inter": int((sig & inter).sum()),
        "min_q_inter": float(np.nanmin(adj[inter & defined])) if (inter & defined).any() else float("nan"),
        "family": family,
    }
    row["frac_sig_intra"] = row["n_sig_intra"] / row["n_pairs_intra"] if row["n_pairs_intra"] else float("nan")
    row["frac_sig_inter"] = row["n_sig_inter"] / row["n_pairs_inter"] if row["n_pairs_inter"] else float("nan")
    blocks = [row["mean_abs_rho_intra_audio"], row["mean_abs_rho_intra_visual"]]
    blocks = [x for x in blocks if np.isfinite(x)]  # a modality with one feature has no intra pair
    row["intra_strength"] = float(min(blocks)) if blocks else float("nan")
    row["intra_strong"] = bool(np.isfinite(row["intra_strength"]) and row["intra_strength"] >= strong)
    row["inter_not_significant"] = bool(row["n_sig_inter"] == 0 and row["n_pairs_inter"] > 0)
    row["claim_holds"] = row["intra_strong"] and row["inter_not_significant"]
    return row


def summarize_correlations(
    results: list[FeatureCorrelation],
    *,
    alpha: float = 0.05,
    correction: str = "fdr_bh",
    strong: float = 0.5,
    family: str = "inter",
) -> pd.DataFrame:
    """One row of :func:`modality_summary` per category (each category its own families)."""
    rows = [modality_summary(r, alpha=alpha, correction=correction, strong=strong, family=family)
            for r in results]
    return pd.DataFrame(rows)
