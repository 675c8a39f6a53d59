"""Statistics for comparing models across seeds, folds and test videos.

The XFlow paper (Cangea et al., Section III-B, Table IV) compares each XFlow model with its
baseline by a paired t-test across the per-fold accuracies (significance at p <= 0.05), and
smooths validation-accuracy curves with a 5-epoch sliding window (Fig. 7).

The book's intervals (issue "Evidence"): :func:`mean_ci` (Student-t interval of a mean over
seeds), :func:`bootstrap_ci` (resampling test examples), :func:`paired_effect` (mean of paired
differences over seeds x folds with its t interval and paired t-test).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ParameterError

__all__ = [
    "PairedTTest",
    "paired_ttest",
    "moving_average",
    "mean_and_sem",
    "CI",
    "mean_ci",
    "bootstrap_ci",
    "PairedEffect",
    "paired_effect",
]


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


class CI(NamedTuple):
    """A point estimate with its interval: ``mean`` in ``[lo, hi]`` from ``n`` observations."""

    mean: float
    lo: float
    hi: float
    n: int

    def format(self, digits: int = 1) -> str:
        """``"56.8 ± 3.1"`` (half-width of the interval) or ``"56.8"`` when there is no interval."""
        if not np.isfinite(self.lo) or not np.isfinite(self.hi):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {(self.hi - self.lo) / 2:.{digits}f}"


def _check_confidence(confidence: float) -> None:
    if not 0.0 < float(confidence) < 1.0:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")


def mean_ci(values, *, confidence: float = 0.95, bounds: tuple | None = None) -> CI:
    """Mean of ``values`` (e.g. one accuracy per seed) with its Student-t interval.

    ``mean ± t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with the sample standard deviation
    ``s`` (ddof 1). With one value the interval is ``(nan, nan)``; non-finite values raise.
    ``bounds=(low, high)`` truncates the interval to the values the quantity can take (e.g.
    ``(0, 100)`` for an accuracy in percent: a t interval near the ceiling can pass 100).
    """
    from scipy import stats

    _check_confidence(confidence)
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ParameterError("mean_ci needs at least one value")
    if not np.isfinite(x).all():
        raise ParameterError("mean_ci: values contain NaN or inf")
    m = float(x.mean())
    if x.size < 2:
        return CI(m, float("nan"), float("nan"), 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    lo, hi = m - half, m + half
    if bounds is not None:
        low, high = (float(b) for b in bounds)
        if not low <= m <= high:
            raise ParameterError(f"mean_ci: mean {m} lies outside bounds {bounds}")
        lo, hi = max(lo, low), min(hi, high)
    return CI(m, lo, hi, int(x.size))


def bootstrap_ci(y_true, scores, metric, *, n_boot: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> CI:
    """Percentile bootstrap interval of ``metric(y_true, scores)`` over test examples.

    Parameters
    ----------
    y_true : array-like [shape=(n,)]
    scores : array-like [shape=(n, ...)]
        Whatever ``metric`` takes as its second argument (scores or predicted labels).
    metric : callable ``(y_true, scores) -> float``
    n_boot : int
        Resamples (with replacement, size ``n``) drawn from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    CI
        ``mean`` is the metric on the full test set; ``lo``/``hi`` the percentiles of the resamples.
    """
    _check_confidence(confidence)
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if y.shape[0] != s.shape[0]:
        raise ParameterError(f"y_true ({y.shape[0]}) and scores ({s.shape[0]}) differ in length")
    if y.shape[0] == 0:
        raise ParameterError("bootstrap_ci needs at least one example")
    if int(n_boot) < 1:
        raise ParameterError(f"n_boot must be >= 1, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    stats_ = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        idx = rng.integers(0, y.shape[0], y.shape[0])
        stats_[b] = metric(y[idx], s[idx])
    lo, hi = np.percentile(stats_, [50 * (1 - confidence), 50 * (1 + confidence)])
    return CI(float(metric(y, s)), float(lo), float(hi), int(y.shape[0]))


class PairedEffect(NamedTuple):
    """Mean paired difference ``a - b`` with its t interval and the paired t-test."""

    mean: float
    lo: float
    hi: float
    n: int
    t: float
    p: float

    def format(self, digits: int = 1) -> str:
        return CI(self.mean, self.lo, self.hi, self.n).format(digits)


def paired_effect(a, b, *, confidence: float = 0.95) -> PairedEffect:
    """``a - b`` over paired observations (seeds, folds or seeds x folds, flattened alike).

    The interval is the Student-t interval of the mean difference (:func:`mean_ci` of
    ``a - b``), the test SciPy's ``ttest_rel`` (two-sided). With zero variance of the
    differences the interval collapses to the mean and ``t``/``p`` are NaN.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ParameterError(f"paired samples must have the same length, got {a.size} and {b.size}")
    d = a - b
    ci = mean_ci(d, confidence=confidence)
    if d.size >= 2 and np.allclose(d, d[0]):
        return PairedEffect(ci.mean, ci.mean, ci.mean, ci.n, float("nan"), float("nan"))
    test = paired_ttest(a, b)
    return PairedEffect(ci.mean, ci.lo, ci.hi, ci.n, test.statistic, test.pvalue)
