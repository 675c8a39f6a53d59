"""Interpretability and convergence analyses of the XFlow paper (Section III-C, Figures 7-11).

* Fig. 9: t-SNE of the outputs of the second 2D->1D cross-connection of a trained CNN x MLP,
  one example per speaker and class (:func:`one_per_speaker_class`,
  :func:`connection_outputs`, :func:`tsne_embedding`); we add the silhouette score
  (:func:`cluster_separation`) so "visible clustering" becomes a number, for the first and
  the second cross-connection (:func:`tsne_analysis` does all of it).
* Figs. 10-11 and equation (1): per-time-step squared L2 differences of the MFCC inputs and
  of the outputs of the first 1D->2D residual connection of a trained {CNN x MLP}-LSTM
  (:func:`residual_differences`), and those outputs as images (:func:`residual_maps`;
  :func:`equation1_analysis` does all of it).
* Figs. 7-8 and the epochs of the reduced scales: the validation curves of the trained runs
  (:func:`run_curves`), where a curve flattens (:func:`flattened_epoch`,
  :func:`convergence_table`) and the measured curves of the benchmark
  (:func:`load_convergence`).

All functions take a model built by :mod:`avlib.models.xflow` and use its
``forward_intermediates`` output convention (no hooks into layers). The plots are in
:mod:`.figures`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ...errors import ParameterError
from ...metrics.stats import moving_average

__all__ = [
    "one_per_speaker_class",
    "connection_outputs",
    "tsne_embedding",
    "cluster_separation",
    "residual_differences",
    "residual_maps",
    "TSNEAnalysis",
    "tsne_analysis",
    "Equation1Analysis",
    "equation1_analysis",
    "run_curves",
    "flattened_epoch",
    "convergence_table",
    "load_convergence",
]


def one_per_speaker_class(speakers, labels, *, seed: int = 0) -> np.ndarray:
    """Indices of one example per (speaker, class) pair, chosen at random with ``seed``."""
    speakers, labels = np.asarray(speakers), np.asarray(labels)
    if speakers.shape != labels.shape:
        raise ParameterError("speakers and labels must have the same length")
    rng = np.random.default_rng(seed)
    out = []
    for s in dict.fromkeys(speakers.tolist()):
        for c in np.unique(labels):
            pos = np.flatnonzero((speakers == s) & (labels == c))
            if len(pos):
                out.append(int(rng.choice(pos)))
    return np.array(sorted(out), dtype=np.int64)


@torch.no_grad()
def connection_outputs(model, inputs: Sequence, keys: Sequence[str], *, batch_size: int = 64,
                       device=None) -> dict:
    """Outputs of the named connections (:data:`avlib.models.xflow.INTERMEDIATE_KEYS`).

    ``inputs`` are the model inputs (without targets). The model runs in eval mode.
    Returns ``{key: np.ndarray [shape=(N, ...)]}``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    n = len(inputs[0])
    acc = {k: [] for k in keys}
    for start in range(0, n, batch_size):
        batch = [torch.as_tensor(x[start:start + batch_size]).to(device) for x in inputs]
        out = model.forward_intermediates(*batch).intermediates
        for k in keys:
            if k not in out:
                raise ParameterError(f"model variant {getattr(model, 'variant', '?')} has no "
                                     f"output {k!r}; available: {sorted(out)}")
            acc[k].append(out[k].float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in acc.items()}


def tsne_embedding(features, *, seed: int = 0, perplexity: Optional[float] = None) -> np.ndarray:
    """Two-dimensional t-SNE (scikit-learn) of ``features [shape=(N, D)]``.

    ``perplexity`` defaults to ``min(30, (N - 1) / 3)`` (must stay below N).
    """
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if len(x) < 5:
        raise ParameterError(f"t-SNE needs at least 5 points, got {len(x)}")
    perp = perplexity if perplexity is not None else min(30.0, (len(x) - 1) / 3.0)
    return TSNE(n_components=2, perplexity=perp, random_state=seed, init="pca").fit_transform(x)


def cluster_separation(features, labels) -> float:
    """Silhouette score of the classes in ``features`` (-1..1; > 0 = classes cluster)."""
    from sklearn.metrics import silhouette_score

    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return float("nan")
    return float(silhouette_score(x, labels))


@torch.no_grad()
def residual_maps(model, mfcc_seq, *, connection: str = "r1d2d_1") -> np.ndarray:
    """Outputs of a 1D->2D connection of an LSTM model applied frame by frame.

    Parameters
    ----------
    model : CNNxMLPLSTM with residual connections
    mfcc_seq : array-like [shape=(T, n_mfcc)]
        The (standardised, as fed to the model) MFCCs of the valid frames of one example.

    Returns
    -------
    np.ndarray [shape=(T, C, H, W)]
    """
    conn = getattr(model, connection, None)
    if conn is None:
        raise ParameterError(f"model variant {getattr(model, 'variant', '?')} has no {connection}")
    model.eval()
    p = next(model.parameters())
    x = torch.as_tensor(np.asarray(mfcc_seq), dtype=p.dtype, device=p.device)
    return conn(x).float().cpu().numpy()


def residual_differences(model, mfcc_seq, *, kernels: Optional[Sequence[int]] = None,
                         connection: str = "r1d2d_1") -> dict:
    """Equation (1) of the paper for one example.

    ``diff_mfcc[t] = ||x_t - x_{t-1}||^2`` and, per deconvolution kernel ``k``,
    ``diff_img[k, t] = ||res_conn(x_t)[k] - res_conn(x_{t-1})[k]||^2`` for t = 1..T-1.

    Returns
    -------
    dict
        ``diff_mfcc (T-1,)``, ``diff_img (K, T-1)``, ``kernels``, and ``pearson (K,)``: the
        correlation of each kernel's curve with the MFCC curve (how well the connection
        preserves the temporal changes of its input; NaN for constant curves).
    """
    x = np.asarray(mfcc_seq, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ParameterError(f"mfcc_seq must be (T >= 3, n_mfcc), got {x.shape}")
    maps = residual_maps(model, x, connection=connection).astype(np.float64)  # T x C x H x W
    ks = list(range(maps.shape[1])) if kernels is None else list(kernels)
    diff_mfcc = np.sum(np.diff(x, axis=0) ** 2, axis=1)
    d = np.diff(maps[:, ks], axis=0)                                           # T-1 x K x H x W
    diff_img = np.sum(d.reshape(d.shape[0], d.shape[1], -1) ** 2, axis=2).T   # K x T-1
    pearson = []
    for row in diff_img:
        if np.std(row) == 0 or np.std(diff_mfcc) == 0:
            pearson.append(float("nan"))
        else:
            pearson.append(float(np.corrcoef(row, diff_mfcc)[0, 1]))
    return {"diff_mfcc": diff_mfcc, "diff_img": diff_img, "kernels": ks,
            "pearson": np.array(pearson)}


@dataclass
class TSNEAnalysis:
    """Fig. 9: ``embedding`` (x, y, label, speaker per example) of the second 2D->1D
    cross-connection's outputs and ``silhouette`` (per cross-connection: the classes'
    silhouette in the raw outputs and in their 2-D t-SNE); ``points`` (N, 2) and ``labels``
    for the plot."""

    embedding: pd.DataFrame
    silhouette: pd.DataFrame
    points: np.ndarray
    labels: np.ndarray


def tsne_analysis(model, inputs, ds, *, seed: int = 0,
                  keys: Sequence[str] = ("x2d1d_1", "x2d1d_2"), shown: str = "x2d1d_2") -> TSNEAnalysis:
    """Fig. 9 on a trained CNN x MLP XFlow: one example per speaker and class
    (:func:`one_per_speaker_class`), the outputs of the cross-connections ``keys``, the
    t-SNE of ``shown`` and the silhouette of every connection (raw and after t-SNE)."""
    idx = one_per_speaker_class(ds.speakers, ds.labels, seed=seed)
    labels = np.asarray(ds.labels)[idx]
    outs = connection_outputs(model, [x[idx] for x in inputs], list(keys))
    emb = tsne_embedding(outs[shown], seed=seed)
    sil = pd.DataFrame([dict(connection=k, examples=len(idx), silhouette_raw=cluster_separation(v, labels))
                        for k, v in outs.items()])
    sil["silhouette_tsne_2d"] = [cluster_separation(tsne_embedding(outs[k], seed=seed), labels)
                                 if k != shown else cluster_separation(emb, labels) for k in outs]
    table = pd.DataFrame({"x": emb[:, 0], "y": emb[:, 1], "label": labels,
                          "speaker": np.asarray(ds.speakers)[idx]})
    return TSNEAnalysis(embedding=table, silhouette=sil, points=emb, labels=labels)


@dataclass
class Equation1Analysis:
    """Figs. 10-11: ``table`` (kernel, example, label, steps, pearson_r), the
    :func:`residual_differences` of each panel (``curves``) and the middle-frame output map
    of each kernel (``maps``)."""

    table: pd.DataFrame
    curves: list
    maps: list


def equation1_analysis(model, inputs, ds, *, n_kernels: int = 6, seed: int = 0,
                       min_steps: int = 4) -> Equation1Analysis:
    """Equation (1) and Figs. 10-11 on a trained {CNN x MLP}-LSTM XFlow: for each of the first
    ``n_kernels`` deconvolution kernels of the first 1D->2D residual connection, one example
    (drawn with ``seed`` among those with at least ``min_steps`` valid frames), as in the
    paper."""
    x_mfcc, mask = inputs[1], inputs[2]
    rng = np.random.default_rng(seed)
    examples = rng.choice(np.flatnonzero(mask.sum(1).numpy() >= min_steps), size=n_kernels, replace=False)
    curves, maps, rows = [], [], []
    for k, ex in enumerate(examples):
        seq = x_mfcc[ex][mask[ex]].numpy()
        r = residual_differences(model, seq, kernels=[k])
        curves.append(r)
        m = residual_maps(model, seq)
        maps.append(m[len(m) // 2, k])
        rows.append(dict(kernel=k, example=int(ex), label=ds.info.class_names[ds.labels[ex]], steps=len(seq),
                         pearson_r=float(r["pearson"][0])))
    return Equation1Analysis(table=pd.DataFrame(rows), curves=curves, maps=maps)


# ----------------------------------------------------------------------------- convergence
def run_curves(results: dict, *, protocol: str = "clean"):
    """Validation and training accuracy per epoch of the runs a page trained, averaged over
    their folds and seeds: one row per (dataset, family, variant, epoch) with ``val_acc``,
    ``train_acc`` (fractions), ``val_sd`` (standard deviation over the runs) and ``runs``.

    ``results`` maps dataset -> :func:`.crossval.xflow_crossval` output. These are the
    curves of the very trainings behind the tables (the schedule included), so they show
    whether the preset's epochs let each model settle.
    """
    rows = []
    for name, res in results.items():
        for (fam, var, prot), r in res.items():
            if prot != protocol:
                continue
            for run in r.chosen:
                for h in run.history:
                    if "val_acc" in h:
                        rows.append(dict(dataset=name, family=fam, variant=var, epoch=int(h["epoch"]),
                                         val_acc=float(h["val_acc"]), train_acc=float(h.get("train_acc", np.nan))))
    cols = ["dataset", "family", "variant", "epoch", "val_acc", "val_sd", "train_acc", "runs"]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    g = df.groupby(["dataset", "family", "variant", "epoch"], sort=False)
    out = g.agg(val_acc=("val_acc", "mean"), val_sd=("val_acc", "std"), train_acc=("train_acc", "mean"),
                runs=("val_acc", "size")).reset_index()
    return out[cols]


def flattened_epoch(acc, *, window: int = 5, tol: float = 0.01) -> int:
    """First epoch (1-based) from which a validation-accuracy curve has flattened.

    The curve is smoothed with a trailing ``window``-epoch moving average (as the paper's
    Fig. 7); the answer is the first epoch whose smoothed value is within ``tol`` (absolute,
    accuracy in [0, 1]) of the best smoothed value of the whole curve. Used to set the
    epochs of the reduced scales from measured curves.
    """
    a = np.asarray(acc, dtype=float)
    if a.size == 0 or not np.isfinite(a).all():
        raise ParameterError("flattened_epoch needs a non-empty finite curve")
    sm = moving_average(a, window=int(window))
    return int(np.flatnonzero(sm >= sm.max() - float(tol))[0]) + 1


def convergence_table(curves, *, window: int = 5, tol: float = 0.01):
    """Per (dataset, family, variant, batch, lr) curve: epochs run, the epoch where the
    smoothed validation accuracy has flattened (:func:`flattened_epoch`),
    best smoothed validation accuracy and the final smoothed test accuracy (%)."""
    rows = []
    keys = ["dataset", "family", "variant", "batch_size", "lr"]
    for key, g in curves.groupby(keys, sort=False):
        g = g.sort_values("epoch")
        sm_val = moving_average(g.val_acc.to_numpy(), window=window)
        sm_test = moving_average(g.test_acc.to_numpy(), window=window)
        rows.append(dict(zip(keys, key), epochs_run=int(g.epoch.max()),
                         flat_epoch=flattened_epoch(g.val_acc.to_numpy(), window=window, tol=tol),
                         best_val_pct=100 * float(sm_val.max()),
                         final_test_pct=100 * float(sm_test[-1])))
    return pd.DataFrame(rows)


def load_convergence(path=None):
    """The measured convergence curves (``benchmarks/results/xflow_convergence.csv`` of the
    repository, written by ``benchmarks/bench_xflow.py --convergence``), or None if absent."""
    p = Path(path) if path is not None else \
        Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "xflow_convergence.csv"
    return pd.read_csv(p) if p.exists() else None
