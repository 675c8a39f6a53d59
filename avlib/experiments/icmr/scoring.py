"""Scores of the ICMR 2017 tables: predictions, penultimate features and the metrics.

The paper reports clip-level Hit@1, Hit@3 and F1 (Tables 2-4); its F1 is scikit-learn's
support-weighted F1 of 2017 (:mod:`avlib.metrics.classification`). :func:`metric_summary`
computes them over the videos that have scores and counts the others; :func:`export_features`
and :func:`logits_and_features` give the penultimate features that late fusion stacks
(Sec. 3.3); :func:`count_params` is the tables' "#Params".
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ...errors import ParameterError
from ...metrics.classification import classification_summary
from ...models.wrappers import LogitsAndFeatures, Penultimate
from ...train.loop import predict

__all__ = [
    "count_params",
    "metric_summary",
    "rescored_meta",
    "predict_array",
    "export_features",
    "logits_and_features",
]


def count_params(model: nn.Module) -> int:
    """Trainable parameters (the paper's #Params)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def metric_summary(y_true, scores) -> dict:
    """:func:`~avlib.metrics.classification.classification_summary` over the videos that have scores.

    A row of ``scores`` with a non-finite value is a video with no usable modality for that
    model (e.g. no frame): it is left out of Hit@1/Hit@3/F1 (neither set to 0 nor given
    uniform, tied scores) and counted in ``n_missing``. Returns ``hit_at_1``, ``hit_at_3``,
    ``f1`` (support-weighted F1, the paper's), ``f1_macro`` (NaN when no video is left) and
    ``n_missing``.
    """
    y = np.asarray(y_true)
    sc = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(sc).all(axis=1) if sc.ndim == 2 else np.ones(len(y), bool)
    n_missing = int((~ok).sum())
    if ok.any():
        out = classification_summary(y[ok], sc[ok])
    else:
        out = {"hit_at_1": float("nan"), "hit_at_3": float("nan"), "f1": float("nan"), "f1_macro": float("nan")}
    return {**out, "n_missing": n_missing}


def rescored_meta(hit: dict) -> dict:
    """The meta of a stored run, with its test metrics recomputed from the stored probabilities
    when the entry predates the weighted F1 (``f1`` was the macro F1 and ``f1_macro`` absent).

    The metrics are a function of the stored test probabilities, not of the training, so the
    stored runs stay valid.
    """
    meta = dict(hit["meta"])
    if "f1_macro" not in meta:
        test = np.asarray(hit["split"]) == "test"
        meta.update(metric_summary(np.asarray(hit["labels"]).astype(int)[test],
                                   np.asarray(hit["probs"], dtype=np.float64)[test]))
    return meta


def predict_array(model: nn.Module, x, *, batch_size: int, device=None, input_transform=None) -> np.ndarray:
    """``model``'s outputs on the array or tensor ``x`` ``(N, ...)``, or on a Dataset of
    ``(input,)`` items (read batch by batch), in batches, as float32."""
    if isinstance(x, Dataset):
        return predict(model, x, batch_size=batch_size, device=device, has_targets=False,
                       input_transform=input_transform)
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    return predict(model, (x,), batch_size=batch_size, device=device, has_targets=False,
                   input_transform=input_transform)


def export_features(model: nn.Module, x, *, batch_size: int = 32, device=None, input_transform=None) -> np.ndarray:
    """Penultimate-layer features ``forward_head(forward_features(x), pre_logits=True)``.

    ``x``: array or tensor ``(N, ...)`` of model inputs, or a Dataset of ``(input,)`` items.
    Returns float32 ``(N, D)``.
    """
    if not isinstance(x, (torch.Tensor, Dataset)):
        x = torch.as_tensor(np.asarray(x))
    if len(x) == 0:
        return np.zeros((0, getattr(model, "head_dim", 0)), np.float32)
    return predict_array(Penultimate(model), x, batch_size=batch_size, device=device,
                         input_transform=input_transform)


def logits_and_features(model: nn.Module, x, *, batch_size: int, device=None, input_transform=None):
    """Logits ``(N, C)`` and penultimate features ``(N, D)`` in one pass over the inputs (an array,
    a tensor or a Dataset of ``(input,)`` items, as :func:`predict_array`)."""
    out = predict_array(LogitsAndFeatures(model), x, batch_size=batch_size, device=device,
                        input_transform=input_transform)
    C = int(getattr(getattr(model, "model", model), "num_classes", 0) or 0)
    if C <= 0:
        raise ParameterError("the model does not say its number of classes")
    return out[:, :C], out[:, C:]
