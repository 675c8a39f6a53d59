"""Statistics for comparing models across cross-validation folds.

The XFlow paper (Cangea et al., Section III-B, Table IV) compares each XFlow model with its
baseline by a paired t-test across the per-fold accuracies (significance at p <= 0.05), and
smooths validation-accuracy curves with a 5-epoch sliding window (Fig. 7).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ParameterError

__all__ = ["PairedTTest", "paired_ttest", "moving_average", "mean_and_sem"]


class PairedTTest(NamedTuple):
    """Result of :func:`paired_ttest`."""

    statistic: float
    pvalue: float
    mean_difference: float  # mean of (a - b)
    n: int
    alternative: str


def paired_ttest(a, b, *, alternative: str = "two-sided") -> PairedTTest:
    """Paired t-test of per-fold scores ``a`` (e.g. XFlow) against ``b`` (baseline).

    Parameters
    ----------
    a, b : array-like [shape=(n_folds,)]
        Scores of the two models on the same folds, in the same order.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` tests mean(a - b) > 0 (SciPy's ``ttest_rel`` convention).

    Returns
    -------
    PairedTTest
        ``pvalue`` is NaN when fewer than 2 folds or when every difference is identical
        (zero variance; SciPy returns NaN too).
    """
    from scipy import stats

    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ParameterError(f"paired samples must have the same length, got {a.size} and {b.size}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ParameterError(f"unknown alternative {alternative!r}; valid: two-sided, greater, less")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ParameterError("paired samples contain NaN or inf")
    diff = float(np.mean(a - b)) if a.size else float("nan")
    if a.size < 2:
        return PairedTTest(float("nan"), float("nan"), diff, int(a.size), alternative)
    d = a - b
    if np.allclose(d, d[0]):
        return PairedTTest(float("nan"), float("nan"), diff, int(a.size), alternative)
    res = stats.ttest_rel(a, b, alternative=alternative)
    return PairedTTest(float(res.statistic), float(res.pvalue), diff, int(a.size), alternative)


def moving_average(values, *, window: int = 5) -> np.ndarray:
    """Trailing moving average with the same length as ``values``.

    Element ``i`` is the mean of ``values[max(0, i - window + 1) : i + 1]`` (the first
    ``window - 1`` points average what is available), as the 5-epoch smoothing of Fig. 7.

    Parameters
    ----------
    values : array-like [shape=(n,)]
    window : int >= 1
    """
    x = np.asarray(values, dtype=float).ravel()
    if int(window) != window or window < 1:
        raise ParameterError(f"window must be a positive integer, got {window!r}")
    if x.size == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - int(window), 0)
    return (c[idx] - c[lo]) / (idx - lo)


def mean_and_sem(values) -> tuple[float, float]:
    """Mean and standard error of the mean (ddof=1; SEM NaN for fewer than 2 values)."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        return float("nan"), float("nan")
    sem = float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")
    return float(np.mean(x)), sem
