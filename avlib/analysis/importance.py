"""Category-wise feature importance and top-k feature selection (ISMIR 2017 LBD, Sec. 2.1).

Slizovskaia, Gómez & Haro, "Correspondence between audio and visual deep models for
musical instrument detection in video recordings", ISMIR 2017 late-breaking demo.

Definitions of the paper, with ``X = (x_1, ..., x_K)`` the feature vector that enters the
decision rule and ``y_c`` the pre-softmax output (logit) for category ``c``:

* importance of feature ``i`` for category ``c``: ``a_i^c = dy_c / dx_i``; with a single
  dense layer ``y_c = sum_i w_i^c x_i`` this is the weight ``w_i^c``;
* category-wise importance over a dataset ``D`` with network predictions ``F(d)``::

      L^c_{D,i} = 1/N_c * sum_{d in D, F(d) = c} max(a_i^c x_i(d), 0)

  where ``N_c`` is the number of examples predicted as ``c``;
* the top-10 audio and top-20 visual features of each category are kept for the
  correlation study (:mod:`avlib.analysis.correlation`).

When the decision rule is not a single dense layer (the ICMR late-fusion head has two
hidden layers), ``a_i^c`` depends on the example; we then use the gradient at the example,
``a_i^c(d)``, which reduces to ``w_i^c`` for a dense layer (tested).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import ParameterError

__all__ = [
    "category_importance",
    "linear_importance",
    "decision_gradients",
    "top_k_features",
    "select_features",
]


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_predictions(predictions, n: int, num_classes: int | None) -> tuple[np.ndarray, int]:
    pred = _as_numpy(predictions)
    if pred.ndim != 1 or pred.shape[0] != n:
        raise ParameterError(f"predictions must have shape ({n},), got {pred.shape}")
    if not np.issubdtype(pred.dtype, np.integer):
        raise ParameterError(f"predictions must be integer class indices, got dtype {pred.dtype}")
    if num_classes is None:
        num_classes = int(pred.max()) + 1 if n else 0
    if n and (pred.min() < 0 or pred.max() >= num_classes):
        raise ParameterError(f"predictions must lie in [0, {num_classes}), got [{pred.min()}, {pred.max()}]")
    return pred.astype(np.int64), int(num_classes)


def category_importance(
    features,
    gradients,
    predictions,
    *,
    num_classes: int | None = None,
) -> np.ndarray:
    """Category-wise feature importance ``L^c_{D,i}`` (ISMIR 2017 LBD, Sec. 2.1).

    Parameters
    ----------
    features : np.ndarray or torch.Tensor [shape=(n, K)]
        Feature vectors ``x(d)`` of the ``n`` examples of ``D``.
    gradients : np.ndarray or torch.Tensor [shape=(n, K)]
        Per-example importances ``a^{F(d)}(d) = dy_{F(d)}/dx`` at each example (see
        :func:`decision_gradients`); for class-wise dense weights use
        :func:`linear_importance`.
    predictions : array-like of int [shape=(n,)]
        ``F(d)``, the network's predicted category of each example.
    num_classes : int, optional
        Number of categories ``C`` (``max(predictions) + 1`` when omitted).

    Returns
    -------
    np.ndarray [shape=(C, K), dtype=float64]
        ``L[c, i] = mean_{d: F(d)=c} max(a_i^c(d) x_i(d), 0)``; rows of categories that no
        example is predicted as are NaN.
    """
    x = _as_numpy(features).astype(np.float64)
    a = _as_numpy(gradients).astype(np.float64)
    if x.ndim != 2:
        raise ParameterError(f"features must have shape (n, K), got {x.shape}")
    if a.shape != x.shape:
        raise ParameterError(f"gradients must have the shape of features {x.shape}, got {a.shape}")
    pred, num_classes = _check_predictions(predictions, x.shape[0], num_classes)
    return _per_example_importance(x, a, pred, num_classes)


def linear_importance(features, weight, predictions) -> np.ndarray:
    """``L^c_{D,i}`` for a single dense decision layer, where ``a_i^c = w_i^c``.

    Parameters
    ----------
    features : array [shape=(n, K)]
    weight : array [shape=(C, K)]
        The dense layer's weight (``nn.Linear.weight``); the bias does not enter ``a``.
    predictions : array of int [shape=(n,)]

    Returns
    -------
    np.ndarray [shape=(C, K)]
    """
    w = _as_numpy(weight).astype(np.float64)
    x = _as_numpy(features).astype(np.float64)
    if w.ndim != 2 or x.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ParameterError(f"weight (C, K) and features (n, K) do not match: {w.shape}, {x.shape}")
    pred, c = _check_predictions(predictions, x.shape[0], w.shape[0])
    return _per_example_importance(x, w[pred], pred, c)


def _per_example_importance(x, a, pred, num_classes):
    contrib = np.maximum(a * x, 0.0)  # (n, K)
    sums = np.zeros((num_classes, x.shape[1]), dtype=np.float64)
    np.add.at(sums, pred, contrib)
    counts = np.bincount(pred, minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts[:, None]
    out[counts == 0] = np.nan
    return out


def decision_gradients(
    head: Callable[..., torch.Tensor],
    inputs: Sequence,
    *,
    predictions=None,
    batch_size: int = 256,
    device=None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-example ``a^{F(d)}(d) = dy_{F(d)} / dx`` for every input of a decision head.

    Parameters
    ----------
    head : callable
        ``head(*inputs) -> logits [shape=(b, C)]``; examples must not interact (call
        ``head.eval()`` first so batch normalisation uses its running statistics).
    inputs : sequence of arrays [shape=(n, ...)]
        The features entering the head (e.g. audio ``(n, 1024)`` and visual ``(n, 2048)``).
    predictions : array of int [shape=(n,)], optional
        ``F(d)``; the head's own arg-max when omitted.
    batch_size : int
    device : torch.device, optional

    Returns
    -------
    gradients : list of np.ndarray, one per input, same shapes as ``inputs``
    predictions : np.ndarray of int [shape=(n,)]
    """
    tensors = [torch.as_tensor(_as_numpy(t), dtype=torch.float32) for t in inputs]
    if not tensors:
        raise ParameterError("inputs must hold at least one array")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ParameterError(f"all inputs must have the same number of examples, got {[t.shape[0] for t in tensors]}")
    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    if device is None and isinstance(head, torch.nn.Module):
        p = next(head.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    device = device or torch.device("cpu")
    pred_given = None if predictions is None else _check_predictions(predictions, n, None)[0]
    grads = [np.zeros(tuple(t.shape), dtype=np.float32) for t in tensors]
    preds = np.zeros(n, dtype=np.int64)
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        xs = [t[sl].to(device).requires_grad_(True) for t in tensors]
        with torch.enable_grad():
            logits = head(*xs)
            if logits.ndim != 2:
                raise ParameterError(f"head must return logits of shape (b, C), got {tuple(logits.shape)}")
            if pred_given is None:
                p = logits.detach().argmax(dim=1)
            else:
                p = torch.as_tensor(pred_given[sl], device=logits.device)
            chosen = logits.gather(1, p[:, None]).sum()
            gs = torch.autograd.grad(chosen, xs, allow_unused=True)
        for j, g in enumerate(gs):
            if g is not None:
                grads[j][sl] = g.detach().cpu().numpy()
        preds[sl] = p.cpu().numpy()
    return grads, preds


def top_k_features(importance, k: int) -> np.ndarray:
    """Indices of the ``k`` most important features of each category.

    Parameters
    ----------
    importance : array [shape=(C, K)]
        ``L^c_{D,i}`` from :func:`category_importance`.
    k : int
        Number of features to keep per category (10 audio, 20 visual in the paper).

    Returns
    -------
    np.ndarray of int [shape=(C, k)]
        Per row, feature indices by decreasing importance; ties are broken by the lower
        index; NaN (category never predicted) ranks last.
    """
    imp = _as_numpy(importance).astype(np.float64)
    if imp.ndim != 2:
        raise ParameterError(f"importance must have shape (C, K), got {imp.shape}")
    if not 1 <= k <= imp.shape[1]:
        raise ParameterError(f"k must be in [1, {imp.shape[1]}], got {k}")
    key = np.where(np.isnan(imp), -np.inf, imp)
    order = np.argsort(-key, axis=1, kind="stable")
    return order[:, :k]


def select_features(
    audio_importance,
    visual_importance,
    *,
    k_audio: int = 10,
    k_visual: int = 20,
) -> dict[int, dict[str, np.ndarray]]:
    """The paper's selection: top-``k_audio`` audio and top-``k_visual`` visual features.

    Returns
    -------
    dict
        ``{category: {"audio": indices [shape=(k_audio,)], "visual": indices [shape=(k_visual,)]}}``
    """
    a = top_k_features(audio_importance, k_audio)
    v = top_k_features(visual_importance, k_visual)
    if a.shape[0] != v.shape[0]:
        raise ParameterError(f"audio and visual importances have {a.shape[0]} and {v.shape[0]} categories")
    return {c: {"audio": a[c], "visual": v[c]} for c in range(a.shape[0])}
