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

Two variants (``importance=`` in :func:`avlib.experiments.ismir.correspondence.analyse_correspondence`):

* ``"linear"`` (default, the paper's definition): a **linear read-out**, one dense
  softmax layer ``y_c = sum_i w_i^c x_i + b_c`` trained (:func:`fit_linear_readout`) on the
  concatenated penultimate audio + visual features, as the paper's decision rule; its
  weights give ``w^c`` and ``F(d)`` is its predicted category (:func:`readout_importance`);
  ``L^c_{D,i} = 1/N_c sum_{d: F(d)=c} max(w_i^c x_i(d), 0)`` (:func:`linear_importance`).
* ``"gradient"`` (option): the ICMR late-fusion head has two hidden layers, so
  ``a_i^c = dy_c/dx_i`` depends on the example; the gradient at each example of the head's
  logit for its predicted category (:func:`decision_gradients`,
  :func:`category_importance`); it reduces to ``w_i^c`` for a dense layer (tested).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..errors import ParameterError
from ..metrics.classification import predicted_labels

__all__ = [
    "IMPORTANCE_VARIANTS",
    "fit_linear_readout",
    "readout_importance",
    "category_importance",
    "linear_importance",
    "decision_gradients",
    "top_k_features",
    "select_features",
]


#: ``importance=`` choices: the paper's linear read-out (default) or per-example gradients.
IMPORTANCE_VARIANTS = ("linear", "gradient")


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


def fit_linear_readout(
    features,
    labels,
    *,
    num_classes: int,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Train one dense softmax layer ``y = W x + b`` on fixed features (the paper's decision rule).

    Full-batch L-BFGS (``scipy.optimize.minimize``, method L-BFGS-B, deterministic for given
    inputs) on the mean cross-entropy plus ``weight_decay / 2 * ||W||^2``, from zero weights,
    in float64 with the analytic gradient, one BLAS thread (fast on a busy machine).

    Parameters
    ----------
    features : array [shape=(n, K)]
        Penultimate features (audio and visual concatenated) of the training videos.
    labels : array of int [shape=(n,)]
    num_classes : int
    weight_decay : float
        L2 penalty on ``W`` (keeps the problem well posed when classes are separable).
    max_iter : int
        L-BFGS iterations.
    seed : int
        Unused by the optimiser (zero start); kept so callers can record it.

    Returns
    -------
    weight : np.ndarray [shape=(C, K)]
        ``w^c`` per row.
    bias : np.ndarray [shape=(C,)]
    """
    from scipy.optimize import minimize

    x = _as_numpy(features).astype(np.float64)
    y = _as_numpy(labels).astype(np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ParameterError(f"features (n, K) and labels (n,) do not match: {x.shape}, {y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ParameterError(f"labels must lie in [0, {num_classes})")
    n, k = x.shape
    onehot = np.eye(num_classes)[y]

    def objective(theta):
        w = theta[: num_classes * k].reshape(num_classes, k)
        b = theta[num_classes * k:]
        z = x @ w.T + b
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = -(onehot * logp).sum() / n + 0.5 * weight_decay * (w * w).sum()
        r = (np.exp(logp) - onehot) / n
        grad = np.concatenate([(r.T @ x + weight_decay * w).ravel(), r.sum(0)])
        return loss, grad

    theta0 = np.zeros(num_classes * (k + 1))
    with threadpool_limits(limits=1):  # small products: a BLAS thread pool only adds waiting on a busy machine
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": int(max_iter), "gtol": 1e-10, "ftol": 1e-15})
    w = res.x[: num_classes * k].reshape(num_classes, k)
    return w, res.x[num_classes * k:].copy()


def readout_importance(
    audio,
    visual,
    labels,
    *,
    train,
    num_classes: int,
    analyse=None,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> dict:
    """The paper's ``L^c_{D,i}`` with a linear read-out over ``[x^audio, x^visual]``.

    Parameters
    ----------
    audio : array [shape=(n, Ka)]
    visual : array [shape=(n, Kv)]
    labels : array of int [shape=(n,)]
    train : array of bool or int indices
        Videos the read-out is trained on (the training split).
    num_classes : int
    analyse : array of bool or int indices, optional
        The dataset ``D`` (all videos when omitted).

    Returns
    -------
    dict
        ``audio`` ``(C, Ka)`` and ``visual`` ``(C, Kv)`` importances (rows of categories the
        read-out predicts for no video of ``D`` are NaN), ``weight`` ``(C, Ka + Kv)``,
        ``bias``, ``predictions`` ``(len(D),)`` (``F(d)``, lowest index on ties) and
        ``train_accuracy`` (percent).
    """
    xa = _as_numpy(audio).astype(np.float64)
    xv = _as_numpy(visual).astype(np.float64)
    if xa.ndim != 2 or xv.ndim != 2 or xa.shape[0] != xv.shape[0]:
        raise ParameterError(f"audio (n, Ka) and visual (n, Kv) must share n, got {xa.shape}, {xv.shape}")
    x = np.concatenate([xa, xv], axis=1)
    y = _as_numpy(labels).astype(np.int64)
    tr = np.arange(len(x))[np.asarray(train)] if np.asarray(train).dtype == bool else np.asarray(train, np.int64)
    d = np.arange(len(x)) if analyse is None else (
        np.arange(len(x))[np.asarray(analyse)] if np.asarray(analyse).dtype == bool else np.asarray(analyse, np.int64))
    w, b = fit_linear_readout(x[tr], y[tr], num_classes=num_classes, weight_decay=weight_decay, max_iter=max_iter)
    pred = predicted_labels(x[d] @ w.T + b)
    imp = linear_importance(x[d], w, pred)
    ka = xa.shape[1]
    train_acc = 100.0 * float(np.mean(predicted_labels(x[tr] @ w.T + b) == y[tr]))
    return {"audio": imp[:, :ka], "visual": imp[:, ka:], "weight": w, "bias": b, "predictions": pred,
            "train_accuracy": train_acc}


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
