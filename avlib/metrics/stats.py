"""Statistics for comparing models across seeds, folds and test videos.

The XFlow paper (Cangea et al., Section III-B, Table IV) compares each XFlow model with its
baseline by a paired t-test across the per-fold accuracies (significance at p <= 0.05), and
smooths validation-accuracy curves with a 5-epoch sliding window (Fig. 7).

The book's intervals: :func:`mean_ci` (Student-t interval of a mean over seeds),
:func:`bootstrap_ci` (resampling test examples), :func:`paired_effect` (mean of paired
differences with its t interval and paired t-test), :func:`corrected_resampled_effect`
(cross-validation: folds are the unit, Nadeau & Bengio's corrected resampled t) and
:func:`two_level_bootstrap` (seeds, then test items: both sources of variation of a fixed
test set).
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
    "FoldEffect",
    "corrected_resampled_effect",
    "corrected_resampled_ci",
    "BootstrapEffect",
    "two_level_bootstrap",
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


class FoldEffect(NamedTuple):
    """Mean per-fold difference with the corrected resampled t interval (:func:`corrected_resampled_effect`).

    ``se`` is the corrected standard error, ``df = n - 1``; ``t``/``p`` the corrected test,
    ``t_plain``/``p_plain`` the plain paired t-test across the same folds (the XFlow paper's test).
    """

    mean: float
    lo: float
    hi: float
    n: int
    se: float
    df: float
    t: float
    p: float
    t_plain: float
    p_plain: float
    test_train_ratio: float


def _fold_vector(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:  # (seeds, folds): the seeds of one fold are not independent, average them
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ParameterError(f"{name}: expected per-fold values or (seeds, folds), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ParameterError(f"{name} contains NaN or inf")
    return x


def corrected_resampled_effect(a, b=None, *, test_train_ratio: float,
                               confidence: float = 0.95) -> FoldEffect:
    """Effect ``a - b`` across cross-validation folds, folds as the unit of replication.

    The training sets of different folds overlap, so per-fold differences are positively
    correlated and the plain paired t-test across folds is too liberal. Nadeau & Bengio
    (2003, *Inference for the generalization error*, Machine Learning 52) replace the
    variance of the mean, ``s^2 / k``, by ``s^2 (1/k + n_test/n_train)``; the statistic has
    ``k - 1`` degrees of freedom.

    Parameters
    ----------
    a, b : array-like [shape=(k,) or (n_seeds, k)]
        Per-fold scores of two models on the same folds (``b=None``: the effect is ``a``).
        A 2-D array is averaged over its first axis (the seeds of one fold) first.
    test_train_ratio : float > 0
        ``n_test / n_train`` of a fold (mean over folds when they differ).

    Returns
    -------
    FoldEffect
        With fewer than 2 folds or zero variance the interval collapses to the mean and the
        tests are NaN.
    """
    from scipy import stats

    _check_confidence(confidence)
    x = _fold_vector(a, "a")
    if b is not None:
        y = _fold_vector(b, "b")
        if y.shape != x.shape:
            raise ParameterError(f"paired folds must match, got {x.size} and {y.size}")
        x = x - y
    if not float(test_train_ratio) > 0:
        raise ParameterError(f"test_train_ratio must be positive, got {test_train_ratio!r}")
    k = x.size
    if k == 0:
        raise ParameterError("corrected_resampled_effect needs at least one fold")
    m = float(x.mean())
    nan = float("nan")
    if k < 2 or np.allclose(x, x[0]):
        return FoldEffect(m, m if k >= 2 else nan, m if k >= 2 else nan, k, 0.0 if k >= 2 else nan,
                          float(k - 1), nan, nan, nan, nan, float(test_train_ratio))
    s2 = float(x.var(ddof=1))
    se = float(np.sqrt(s2 * (1.0 / k + float(test_train_ratio))))
    se_plain = float(np.sqrt(s2 / k))
    df = k - 1
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    t, t_plain = m / se, m / se_plain
    p = float(2 * stats.t.sf(abs(t), df))
    p_plain = float(2 * stats.t.sf(abs(t_plain), df))
    return FoldEffect(m, m - half, m + half, k, se, float(df), t, p, t_plain, p_plain,
                      float(test_train_ratio))


def corrected_resampled_ci(values, *, test_train_ratio: float, confidence: float = 0.95,
                           bounds: tuple | None = None) -> CI:
    """Mean of per-fold scores (``(k,)`` or ``(n_seeds, k)``, seeds averaged per fold) with the
    corrected resampled t interval of :func:`corrected_resampled_effect`, truncated to
    ``bounds`` like :func:`mean_ci`."""
    e = corrected_resampled_effect(values, test_train_ratio=test_train_ratio, confidence=confidence)
    lo, hi = e.lo, e.hi
    if bounds is not None and np.isfinite(lo):
        lo, hi = max(lo, float(bounds[0])), min(hi, float(bounds[1]))
    return CI(e.mean, lo, hi, e.n)


class BootstrapEffect(NamedTuple):
    """Result of :func:`two_level_bootstrap`: ``mean`` on the full data, percentile interval,
    ``se`` (standard deviation of the replicates) and the replicates themselves."""

    mean: float
    lo: float
    hi: float
    se: float
    n_seeds: int
    n_items: int
    replicates: np.ndarray


def two_level_bootstrap(y_true, pred_a, pred_b=None, metric=None, *, n_boot: int = 1000,
                        seed: int = 0, confidence: float = 0.95) -> BootstrapEffect:
    """Two-level (hierarchical) bootstrap of ``metric(a) - metric(b)`` over seeds and test items.

    A fixed test set and a few training seeds are two independent sources of variation: the
    seed interval alone ignores which test videos happened to be drawn, a bootstrap over
    videos alone ignores the training randomness. Each replicate draws ``n_seeds`` seeds with
    replacement, then ``n_items`` test items with replacement (one draw shared by ``a`` and
    ``b`` and by every drawn seed: the comparison is paired per item), and averages
    ``metric(y[idx], a[s][idx]) - metric(y[idx], b[s][idx])`` over the drawn seeds.

    Parameters
    ----------
    y_true : array-like [shape=(n_items,)]
    pred_a, pred_b : array-like [shape=(n_seeds, n_items, ...)]
        What ``metric`` takes as its second argument (labels or scores), per training seed;
        seed ``i`` of ``a`` is paired with seed ``i`` of ``b``. ``pred_b=None``: the interval
        of ``metric(a)`` alone.
    metric : callable ``(y_true, pred) -> float``

    Returns
    -------
    BootstrapEffect
        ``mean`` = mean over seeds of the metric difference on the full test set.
    """
    _check_confidence(confidence)
    if metric is None:
        raise ParameterError("two_level_bootstrap needs a metric")
    y = np.asarray(y_true)
    a = np.asarray(pred_a)
    b = None if pred_b is None else np.asarray(pred_b)
    if a.ndim < 2 or a.shape[1] != y.shape[0]:
        raise ParameterError(f"pred_a must be (n_seeds, n_items, ...) with n_items = {y.shape[0]}, "
                             f"got {a.shape}")
    if b is not None and b.shape[:2] != a.shape[:2]:
        raise ParameterError(f"pred_a {a.shape} and pred_b {b.shape} must pair seeds and items")
    if int(n_boot) < 2:
        raise ParameterError(f"n_boot must be >= 2, got {n_boot!r}")
    n_seeds, n_items = a.shape[0], a.shape[1]

    def effect(seeds, idx):
        yy = y[idx]
        vals = [metric(yy, a[s][idx]) - (metric(yy, b[s][idx]) if b is not None else 0.0) for s in seeds]
        return float(np.mean(vals))

    full = effect(range(n_seeds), np.arange(n_items))
    rng = np.random.default_rng(seed)
    reps = np.empty(int(n_boot))
    for i in range(int(n_boot)):
        seeds = rng.integers(0, n_seeds, n_seeds)
        idx = rng.integers(0, n_items, n_items)
        reps[i] = effect(seeds, idx)
    lo, hi = np.percentile(reps, [50 * (1 - confidence), 50 * (1 + confidence)])
    return BootstrapEffect(full, float(lo), float(hi), float(reps.std(ddof=1)), int(n_seeds), int(n_items), reps)
