"""Interpretability analyses of the XFlow paper (Section III-C, Figures 7-11).

* Fig. 9: t-SNE of the outputs of the second 2D->1D cross-connection of a trained CNN x MLP,
  one example per speaker and class (:func:`one_per_speaker_class`,
  :func:`connection_outputs`, :func:`tsne_embedding`, :func:`plot_tsne`); we add the
  silhouette score (:func:`cluster_separation`) so "visible clustering" becomes a number,
  for the first and the second cross-connection.
* Figs. 10-11 and equation (1): per-time-step squared L2 differences of the MFCC inputs and
  of the outputs of the first 1D->2D residual connection of a trained {CNN x MLP}-LSTM
  (:func:`residual_differences`), and those outputs as images (:func:`plot_residual_maps`).
* Figs. 7-8: validation accuracy (5-epoch moving average) and loss per epoch
  (:func:`plot_curves`).

All functions take a model built by :mod:`avlib.models.xflow` and use its
``forward_intermediates`` output convention (no hooks into layers).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import ParameterError
from ..metrics.stats import moving_average

__all__ = [
    "one_per_speaker_class",
    "connection_outputs",
    "tsne_embedding",
    "cluster_separation",
    "residual_differences",
    "residual_maps",
    "plot_tsne",
    "plot_equation1",
    "plot_residual_maps",
    "plot_curves",
    "crossval_evidence",
    "holdout_evidence",
    "convergence_table",
    "run_curves",
    "plot_run_curves",
    "load_convergence",
    "plot_convergence",
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


# ----------------------------------------------------------------------------- plots
def plot_tsne(embedding, labels, *, class_names=None, title: str = "", ax=None):
    """Scatter plot of a 2-D embedding coloured by class (Fig. 9)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5.5, 4.5))[1]
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab10" if len(np.unique(labels)) <= 10 else "tab20")
    for i, c in enumerate(np.unique(labels)):
        sel = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(embedding[sel, 0], embedding[sel, 1], s=18, color=cmap(i % cmap.N), label=name)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="best", frameon=False)
    return ax


def plot_equation1(results: Sequence[dict], *, titles: Optional[Sequence[str]] = None):
    """Fig. 10: per panel, the residual-output differences (top) over the MFCC differences
    (bottom). ``results`` holds one :func:`residual_differences` dict per panel, each with a
    single kernel."""
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 3.6), squeeze=False)
    for j, r in enumerate(results):
        t = np.arange(1, len(r["diff_mfcc"]) + 1)
        axes[0, j].plot(t, r["diff_img"][0], color="tab:blue")
        axes[1, j].plot(t, r["diff_mfcc"], color="tab:orange")
        axes[0, j].set_title(titles[j] if titles else f"kernel {r['kernels'][0]}", fontsize=8)
        axes[1, j].set_xlabel("time step", fontsize=8)
        for a in axes[:, j]:
            a.tick_params(labelsize=6)
    axes[0, 0].set_ylabel("residual output\n$\\|r(x_t)-r(x_{t-1})\\|^2$", fontsize=7)
    axes[1, 0].set_ylabel("MFCC input\n$\\|x_t-x_{t-1}\\|^2$", fontsize=7)
    fig.tight_layout()
    return fig


def plot_residual_maps(maps: Sequence[np.ndarray], *, titles: Optional[Sequence[str]] = None):
    """Fig. 11: one 2-D output map per panel (e.g. the middle frame of one example)."""
    import matplotlib.pyplot as plt

    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 2.2), squeeze=False)
    for j, m in enumerate(maps):
        axes[0, j].imshow(m, cmap="viridis", aspect="auto")
        axes[0, j].set_xticks([]), axes[0, j].set_yticks([])
        if titles:
            axes[0, j].set_title(titles[j], fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(histories: dict, *, acc_key: str = "test_acc", loss_key: str = "test_loss",
                window: int = 5, title: str = ""):
    """Figs. 7-8: accuracy (raw and ``window``-epoch moving average) and loss per epoch.

    ``histories`` maps a label (e.g. "baseline", "XFlow") to a per-epoch DataFrame or list of
    dicts from :func:`avlib.train.loop.fit`.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (name, h) in enumerate(histories.items()):
        df = pd.DataFrame(h)
        color = f"C{i}"
        a1.plot(df["epoch"], df[acc_key], color=color, alpha=0.3)
        a1.plot(df["epoch"], moving_average(df[acc_key], window=window), color=color,
                label=f"{name} ({window}-epoch average)")
        a2.plot(df["epoch"], df[loss_key], color=color, label=name)
    a1.set_xlabel("epoch"), a1.set_ylabel("accuracy"), a1.legend(fontsize=8)
    a2.set_xlabel("epoch"), a2.set_ylabel("cross-entropy loss"), a2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- evidence
_ARCH = {"cnnxmlp": "CNN x MLP", "lstm": "{CNN x MLP}-LSTM"}


def _fold_pairs(results: dict, datasets, fam: str, a: str, b: str, protocol: str = "clean"):
    """Per-fold scores (seeds averaged within each fold) of variants a and b, dataset after
    dataset, with the mean ``n_test / n_train`` of their folds; None if no dataset has both."""
    from ..train.protocols import test_train_ratio

    xa, xb, ratios, used = [], [], [], []
    for name in datasets:
        res = results.get(name, {})
        ka, kb = (fam, a, protocol), (fam, b, protocol)
        if ka in res and kb in res:
            xa.append(res[ka].fold_means())
            xb.append(res[kb].fold_means())
            ratios.append(test_train_ratio(res[ka]))
            used.append(name)
    if not used:
        return None
    return np.concatenate(xa), np.concatenate(xb), float(np.mean(ratios)), used


def _units(results: dict, used, fam: str, variant: str) -> str:
    """"10 speaker folds (3 seeds averaged)" for the datasets ``used``."""
    r = [results[n][(fam, variant, "clean")] for n in used]
    folds = sum(x.n_folds for x in r)
    return f"{folds} speaker folds ({r[0].n_seeds} seeds averaged per fold)"


#: Claim id -> (variant a, variant b) of the ablation rows (effect = a - b, Table V).
ABLATION_ROWS = {
    # "removing [residual connections] results in the biggest accuracy drop": the drop from
    # removing them exceeds the drop from removing the cross-connections, i.e.
    # (both - no res) - (both - no x) = residual-only minus cross-only
    "xflow_connection_residual": ("no_xconns", "no_resconns"),
    # "keeping [residual connections] as the only means of cross-modal exchange often results
    # in an even better accuracy than using both": residual-only minus both, non-inferiority
    "xflow_residual_only_as_good": ("no_xconns", "xflow"),
}


def crossval_evidence(results: dict, *, ablation_datasets: Sequence[str] = ()) -> list:
    """Evidence rows (:class:`avlib.claims.Evidence`, percentage points) of the
    cross-validation page. Speaker folds are the unit of replication: the seeds of a fold are
    averaged, and the interval is the corrected resampled t across folds
    (:func:`avlib.claims.from_folds`), with the paper's plain paired t across folds beside it.

    * ``xflow_beats_baseline_<dataset>_<arch>``: XFlow minus baseline, clean protocol;
    * ``xflow_connection_residual_<arch>``: residual-only (no cross-connections) minus
      cross-only (no residual connections), Table V, over the ablation datasets' folds;
    * ``xflow_residual_only_as_good_<arch>``: residual-only minus both kinds (non-inferiority);
    * ``xflow_paper_protocol_optimistic``: the paper's rule (best test-fold epoch) minus the
      clean protocol on the same runs, averaged per fold over models, variants and seeds.

    ``results`` maps dataset -> :func:`avlib.train.protocols.xflow_crossval` output.
    """
    from ..claims import from_folds
    from ..train.protocols import paper_rule, test_train_ratio

    ev = []
    for name in results:
        for fam in ("cnnxmlp", "lstm"):
            pr = _fold_pairs(results, [name], fam, "xflow", "baseline")
            if pr is None:
                continue
            ev.append(from_folds(
                f"xflow_beats_baseline_{name}_{fam}", 100 * pr[0], 100 * pr[1], test_train_ratio=pr[2],
                unit="speaker fold", detail=f"{_ARCH[fam]} XFlow - baseline, test accuracy (clean "
                f"protocol), {_units(results, pr[3], fam, 'xflow')}"))
    for fam in ("cnnxmlp", "lstm"):
        for claim, (a, b) in ABLATION_ROWS.items():
            pr = _fold_pairs(results, ablation_datasets, fam, a, b)
            if pr is None:
                continue
            ev.append(from_folds(
                f"{claim}_{fam}", 100 * pr[0], 100 * pr[1], test_train_ratio=pr[2], unit="speaker fold",
                detail=f"{_ARCH[fam]}: {a.replace('_', ' ')} - {b.replace('_', ' ')}, test accuracy "
                       f"(clean), {_units(results, pr[3], fam, a)} of {', '.join(pr[3])}"))
    diffs, ratios = [], []
    for name, res in results.items():
        per_fold = [paper_rule(r).fold_means() - r.fold_means()
                    for (fam, var, prot), r in res.items() if prot == "clean"]
        if per_fold:
            diffs.append(np.mean(per_fold, axis=0))
            ratios.append(np.mean([test_train_ratio(r) for (_, _, prot), r in res.items() if prot == "clean"]))
    if diffs:
        ev.append(from_folds(
            "xflow_paper_protocol_optimistic", 100 * np.concatenate(diffs), None,
            test_train_ratio=float(np.mean(ratios)), unit="speaker fold",
            detail="paper rule (best test-fold epoch) - clean protocol (epoch chosen on a "
                   "validation split), same runs, averaged per fold over models, variants and seeds"))
    return ev


def holdout_evidence(holdout: dict) -> list:
    """``xflow_lstm_holdout_<dataset>``: XFlow LSTM minus its baseline on the hold-out split,
    paired over seeds (``holdout`` maps dataset -> :func:`xflow_holdout` output)."""
    from ..claims import from_paired

    ev = []
    for name, res in holdout.items():
        kx, kb = ("lstm", "xflow", "clean"), ("lstm", "baseline", "clean")
        if kx in res and kb in res:
            ev.append(from_paired(
                f"xflow_lstm_holdout_{name}", 100 * res[kx].fold_scores,
                100 * res[kb].fold_scores,
                detail=f"{{CNN x MLP}}-LSTM XFlow - baseline, hold-out test accuracy (clean), "
                       f"{res[kx].n_seeds} seeds"))
    return ev


# ----------------------------------------------------------------------------- convergence
def run_curves(results: dict, *, protocol: str = "clean"):
    """Validation and training accuracy per epoch of the runs a page trained, averaged over
    their folds and seeds: one row per (dataset, family, variant, epoch) with ``val_acc``,
    ``train_acc`` (fractions), ``val_sd`` (standard deviation over the runs) and ``runs``.

    ``results`` maps dataset -> :func:`avlib.train.protocols.xflow_crossval` output. These are the
    curves of the very trainings behind the tables (the schedule included), so they show
    whether the preset's epochs let each model settle.
    """
    import pandas as pd

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


def plot_run_curves(curves, *, window: int = 3):
    """Mean validation accuracy (%) per epoch of every variant, one panel per dataset and
    family (:func:`run_curves`); thin lines: the raw mean, thick: a ``window``-epoch moving
    average. A curve still rising at its last epoch has not settled."""
    import matplotlib.pyplot as plt

    panels = list(curves.groupby(["dataset", "family"], sort=False))
    ncol = min(3, max(1, len(panels)))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for ax, ((dsname, fam), g) in zip(axes.ravel(), panels):
        for i, (var, c) in enumerate(g.groupby("variant", sort=False)):
            c = c.sort_values("epoch")
            ax.plot(c.epoch, 100 * c.val_acc, color=f"C{i}", alpha=0.3, lw=0.8)
            ax.plot(c.epoch, 100 * moving_average(c.val_acc.to_numpy(), window=window), color=f"C{i}",
                    label=f"{var} ({int(c.runs.iloc[0])} runs)")
        ax.set_title(f"{dsname}, {_ARCH.get(fam, fam)}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def convergence_table(curves, *, window: int = 5, tol: float = 0.01):
    """Per (dataset, family, variant, batch, lr) curve: epochs run, the epoch where the
    smoothed validation accuracy has flattened (:func:`avlib.train.protocols.flattened_epoch`),
    best smoothed validation accuracy and the final smoothed test accuracy (%)."""
    import pandas as pd

    from ..train.protocols import flattened_epoch

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


def plot_convergence(curves, *, window: int = 5, presets: Optional[dict] = None):
    """Smoothed validation accuracy per epoch, one panel per dataset and family; a dashed
    line marks the cpu preset's epochs (``presets``: the preset's ``epochs`` dict, keyed as in
    :func:`avlib.train.protocols.xflow_crossval`)."""
    import matplotlib.pyplot as plt

    panels = list(curves.groupby(["dataset", "family"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), squeeze=False)
    for ax, ((dsname, fam), g) in zip(axes[0], panels):
        for (var, bs, lr), c in g.groupby(["variant", "batch_size", "lr"], sort=False):
            c = c.sort_values("epoch")
            line, = ax.plot(c.epoch, 100 * moving_average(c.val_acc.to_numpy(), window=window),
                            label=f"{var} (b{bs}, lr {lr:g})")
            if presets and fam != "dtn":
                from ..train.protocols import per_model

                ep = per_model(presets, fam, var, default=0, dataset=dsname)
                if ep:
                    ax.axvline(ep, ls="--", color=line.get_color(), lw=0.8)
        ax.set_title(f"{dsname} {fam}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("val. acc. (%)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def load_convergence(path=None):
    """The measured convergence curves (``benchmarks/results/xflow_convergence.csv`` of the
    repository, written by ``benchmarks/bench_xflow.py --convergence``), or None if absent."""
    from pathlib import Path

    import pandas as pd

    p = Path(path) if path is not None else \
        Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "xflow_convergence.csv"
    return pd.read_csv(p) if p.exists() else None
