"""Classification metrics of ICMR 2017 (Section 4.3): Hit@1, Hit@3, F1, confusion.

Metrics are returned as percentages where the paper prints percentages.

**F1 is the support-weighted F1, as the paper's.** The paper's F1 column is the "avg / total"
row of scikit-learn's ``classification_report`` (the authors' code prints it), which in the
scikit-learn versions of 2017 (0.18/0.19) was the average of the per-class F1 **weighted by
each class's support** (``f1_score(average="weighted")``), not the unweighted macro average.
:func:`weighted_f1` is that number and is the ``"f1"`` of :func:`classification_summary`, so
every paper-vs-ours F1 column compares like with like; :func:`macro_f1` (every class counts
the same) is reported beside it as ``"f1_macro"``. The two differ when classes are imbalanced
and the per-class F1 differ (YouTube-8M).

**One tie rule for every metric.** Exact ties between class scores happen (non-finite logits
set to 0, uniform probabilities for a video without frames). Every metric here ranks classes
with :func:`rank_classes`: by decreasing score, ties broken toward the **lower class index**
(the rule of ``numpy.argmax``), NaN ranked last. Hit@1 is therefore the accuracy of the
labels that F1 and the confusion matrix score. (scikit-learn's ``top_k_accuracy_score``
breaks ties toward the higher index, so Hit@k is computed here; it equals scikit-learn's on
untied scores, tested.) Segment/frame predictions are averaged per video with
:func:`video_average` before scoring, as in the paper (Han et al.: 10 segments per video;
Inception v3: frames per video).
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from avlib.errors import ParameterError

__all__ = [
    "softmax",
    "rank_classes",
    "predicted_labels",
    "hit_at_k",
    "macro_f1",
    "weighted_f1",
    "f1_from_labels",
    "confusion",
    "video_average",
    "classification_summary",
]


def _check(y_true, scores):
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ParameterError(f"scores must be (n_samples, n_classes), got shape {scores.shape}")
    if y_true.shape != (scores.shape[0],):
        raise ParameterError(f"y_true has shape {y_true.shape}, expected ({scores.shape[0]},)")
    if len(y_true) == 0:
        raise ParameterError("no samples to score")
    if y_true.min() < 0 or y_true.max() >= scores.shape[1]:
        raise ParameterError(f"labels must lie in [0, {scores.shape[1]}), got {y_true.min()}..{y_true.max()}")
    return y_true.astype(int), scores


def softmax(logits, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of ``logits`` along ``axis``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def rank_classes(scores, k: int | None = None) -> np.ndarray:
    """Class indices of each row by decreasing score, ties toward the lower index.

    Parameters
    ----------
    scores : np.ndarray [shape=(n, n_classes)]
    k : int, optional
        Keep the first ``k`` columns (all when None).

    Returns
    -------
    np.ndarray of int [shape=(n, k)]
        ``out[:, 0]`` equals ``np.argmax(scores, 1)`` on finite scores; NaN ranks last.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ParameterError(f"scores must be (n_samples, n_classes), got shape {s.shape}")
    key = np.where(np.isnan(s), np.inf, -s)  # ascending sort of -score; NaN last
    order = np.argsort(key, axis=1, kind="stable")  # stable: equal scores keep index order
    return order if k is None else order[:, :k]


def predicted_labels(scores) -> np.ndarray:
    """The top-ranked class of each row (:func:`rank_classes`; ``argmax`` with NaN last)."""
    return rank_classes(scores, 1)[:, 0]


def hit_at_k(y_true, scores, k: int = 1) -> float:
    """Hit@k in percent: share of samples whose label is among the ``k`` top-scored classes.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)] int labels in ``[0, n_classes)``.
    scores : np.ndarray [shape=(n, n_classes)] logits or probabilities.
    k : int
        1 gives accuracy; the paper also reports k = 3.
    """
    y_true, scores = _check(y_true, scores)
    if k < 1:
        raise ParameterError(f"k must be >= 1, got {k}")
    top = rank_classes(scores, min(k, scores.shape[1]))  # ties toward the lower index, as argmax
    return 100.0 * float(np.mean((top == y_true[:, None]).any(axis=1)))


def _labels_of(y_true, y_pred_or_scores):
    y_pred = np.asarray(y_pred_or_scores)
    if y_pred.ndim == 2:
        y_true, scores = _check(y_true, y_pred)
        y_pred = predicted_labels(scores)
    return np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)


def macro_f1(y_true, y_pred_or_scores) -> float:
    """Macro-averaged F1 in percent (scikit-learn ``f1_score(average="macro")``).

    Accepts predicted labels ``(n,)`` or scores ``(n, n_classes)`` (:func:`predicted_labels`,
    the tie rule of Hit@1). The macro
    average runs over the classes present in ``y_true`` or in the predictions (scikit-learn's
    default); a class with no true and no predicted sample is not averaged in. **Not the
    paper's F1** (see the module docstring and :func:`weighted_f1`).
    """
    y_true, y_pred = _labels_of(y_true, y_pred_or_scores)
    return 100.0 * skm.f1_score(y_true, y_pred, average="macro", zero_division=0)


def weighted_f1(y_true, y_pred_or_scores) -> float:
    """Support-weighted F1 in percent (scikit-learn ``f1_score(average="weighted")``): the paper's F1.

    The per-class F1 averaged with weights = the number of true samples of each class, the
    "avg / total" row of ``classification_report`` in the scikit-learn of 2017 that the
    paper's Tables 2-4 print. Accepts labels ``(n,)`` or scores ``(n, n_classes)`` (ties as
    Hit@1). Equals :func:`macro_f1` on balanced classes with equal per-class F1 only.
    """
    y_true, y_pred = _labels_of(y_true, y_pred_or_scores)
    return 100.0 * skm.f1_score(y_true, y_pred, average="weighted", zero_division=0)


def f1_from_labels(y_true, y_pred, *, average: str = "weighted", n_classes: int | None = None) -> float:
    """F1 in percent of integer labels, computed with ``bincount`` (fast enough for bootstraps).

    Same numbers as :func:`weighted_f1` (``average="weighted"``) and :func:`macro_f1`
    (``average="macro"``), i.e. scikit-learn's ``f1_score`` with ``zero_division=0``: per class
    F1 = 2 TP / (2 TP + FP + FN); the weighted average uses the classes' true counts, the macro
    average the classes present in ``y_true`` or ``y_pred``. NaN for no samples.
    """
    yt = np.asarray(y_true, dtype=np.int64).ravel()
    yp = np.asarray(y_pred, dtype=np.int64).ravel()
    if yt.shape != yp.shape:
        raise ParameterError(f"y_true {yt.shape} and y_pred {yp.shape} differ")
    if yt.size == 0:
        return float("nan")
    C = int(max(yt.max(), yp.max()) + 1) if n_classes is None else int(n_classes)
    support = np.bincount(yt, minlength=C).astype(float)
    pred_n = np.bincount(yp, minlength=C).astype(float)
    tp = np.bincount(yt[yt == yp], minlength=C).astype(float)
    denom = support + pred_n  # 2 TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros(C), where=denom > 0)
    if average == "weighted":
        return 100.0 * float((f1 * support).sum() / support.sum())
    if average == "macro":
        present = denom > 0
        return 100.0 * float(f1[present].mean())

    raise ParameterError(f"average must be 'weighted' or 'macro', got {average!r}")


def confusion(y_true, y_pred_or_scores, *, n_classes: int | None = None, normalize: str | None = "true") -> np.ndarray:
    """Confusion matrix ``(n_classes, n_classes)``; rows = true class, columns = predicted.

    ``normalize="true"`` (default) gives row fractions as in the paper's Figures 2-3 (a
    class without samples gives a zero row); ``None`` gives counts.
    """
    y_pred = np.asarray(y_pred_or_scores)
    if y_pred.ndim == 2:
        n_classes = n_classes or y_pred.shape[1]
        y_pred = predicted_labels(y_pred)
    y_true = np.asarray(y_true, dtype=int)
    if n_classes is None:
        n_classes = int(max(y_true.max(), y_pred.max())) + 1
    cm = skm.confusion_matrix(y_true, y_pred, labels=np.arange(n_classes)).astype(np.float64)
    if normalize == "true":
        rows = cm.sum(1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    elif normalize is not None:
        raise ParameterError(f"normalize must be 'true' or None, got {normalize!r}")
    return cm


def video_average(scores, video_ids, *, apply_softmax: bool = False):
    """Average segment- or frame-level predictions per video.

    Parameters
    ----------
    scores : np.ndarray [shape=(n_items, n_classes)]
        Per-segment (or per-frame) logits or probabilities.
    video_ids : sequence [shape=(n_items,)]
        The video each row belongs to.
    apply_softmax : bool
        Turn logits into probabilities before averaging (the paper averages softmax outputs).

    Returns
    -------
    ids : np.ndarray [shape=(n_videos,)]
        Video ids in order of first appearance.
    mean : np.ndarray [shape=(n_videos, n_classes)]
    """
    scores = np.asarray(scores, dtype=np.float64)
    video_ids = np.asarray(video_ids)
    if scores.ndim != 2 or len(video_ids) != len(scores):
        raise ParameterError(f"scores {scores.shape} and video_ids ({len(video_ids)},) do not match")
    if apply_softmax:
        scores = softmax(scores, axis=1)
    uniq, first, inverse = np.unique(video_ids, return_index=True, return_inverse=True)
    sums = np.zeros((len(uniq), scores.shape[1]))
    np.add.at(sums, inverse, scores)
    counts = np.bincount(inverse, minlength=len(uniq))[:, None]
    mean = sums / counts
    order = np.argsort(first)  # order of first appearance
    return uniq[order], mean[order]


def classification_summary(y_true, scores) -> dict:
    """``{"hit_at_1", "hit_at_3", "f1", "f1_macro"}`` in percent.

    ``hit_at_1``, ``hit_at_3`` and ``f1`` are the columns of the paper's Tables 2-4; ``f1`` is
    the support-weighted F1 (:func:`weighted_f1`, the paper's "avg / total"), ``f1_macro`` the
    unweighted macro F1 (:func:`macro_f1`), reported beside it and labelled as such.
    """
    return {
        "hit_at_1": hit_at_k(y_true, scores, 1),
        "hit_at_3": hit_at_k(y_true, scores, 3),
        "f1": weighted_f1(y_true, scores),
        "f1_macro": macro_f1(y_true, scores),
    }
