"""Evaluation protocols of the XFlow paper, and a clean alternative.

Cangea et al. (XFlow, Section III-B) evaluate by speaker-wise k-fold cross-validation
(AVletters 10, Digits 15, CUAVE 9 folds), keep for each fold the best of five runs for the
large models, average over folds, and compare models by a paired t-test across folds; Table
VI uses the hold-out split of Ngiam et al. The authors' code reports, per fold, the MAXIMUM
TEST-FOLD ACCURACY OVER ALL EPOCHS (the test fold doubles as validation set) and does not
re-initialise the model between folds. This module runs both:

``protocol="paper"``
    train on all non-test speakers; evaluate the test fold after every epoch; the fold's score
    is the best test accuracy over epochs (and over ``runs``); with ``carry_over=True`` the
    model of fold k starts from the weights left by fold k-1 (as the reference code).
``protocol="clean"``
    a fresh model per fold and run; a speaker-wise validation split carved out of the training
    speakers selects the epoch (``config.monitor``) and the best run; the test fold is only
    read for the final number. Each clean run also records the paper's selection rule on its
    own curve (``max_test_acc``) so the optimism of "best test epoch" alone can be read off.

Training uses the shared trainer :func:`avlib.train.loop.fit`. Data are tuples of tensors
``(*inputs, y)`` as the trainer takes them (e.g. ``(x_img, x_mfcc, y)`` or
``(x_img, x_mfcc, mask, y)``).

The machinery is model-agnostic: :func:`crossval`, :func:`holdout`, :func:`run_fold`,
:func:`speaker_kfold`, :func:`validation_split`, :func:`standardize_features`,
:func:`paper_rule`, :func:`merge_seeds`, :func:`compare_protocols`, :func:`test_train_ratio`,
:func:`scale_epochs`. The XFlow experiments built on it are in :mod:`avlib.experiments.xflow`.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import ParameterError
from ..utils import progress, seed_everything
from .loop import TrainConfig, fit

__all__ = [
    "select_folds",
    "PROTOCOLS",
    "RunResult",
    "CVResult",
    "check_protocol",
    "subset",
    "speaker_kfold",
    "validation_split",
    "standardize_features",
    "run_fold",
    "crossval",
    "holdout",
    "compare_protocols",
    "paper_rule",
    "merge_seeds",
    "test_train_ratio",
    "scale_epochs",
]

PROTOCOLS = ("paper", "clean")


@dataclass
class RunResult:
    """One training run on one fold."""

    fold: int
    run: int
    seed: int
    protocol: str
    test_acc: float            # the protocol's number for this run
    max_test_acc: float        # best test accuracy over epochs (the paper's rule)
    val_acc: float             # validation accuracy of the selected epoch (clean) or NaN
    selected_epoch: int
    seconds: float
    n_train: int
    n_val: int
    n_test: int
    history: list = field(default_factory=list, repr=False)
    base_seed: int = 0         # the cross-validation's seed (one of the notebook's ``seeds``)


@dataclass
class CVResult:
    """All runs of a cross-validation (or hold-out) under one protocol.

    ``fold_scores`` is one number per fold: the protocol's choice among the fold's runs
    (paper: the maximum test accuracy; clean: the run with the best validation accuracy).
    With several seeds (:func:`merge_seeds`) ``chosen`` holds ``n_seeds x n_folds`` runs,
    seed-major, and :meth:`score_matrix` / :meth:`fold_means` give them per seed / per fold.
    """

    protocol: str
    runs: list
    chosen: list               # RunResult per fold, in fold order (seed-major for n_seeds > 1)
    n_seeds: int = 1

    def score_matrix(self) -> np.ndarray:
        """Accuracies as ``(n_seeds, n_folds)``."""
        return self.fold_scores.reshape(int(self.n_seeds), -1)

    def fold_means(self) -> np.ndarray:
        """Per-fold accuracy averaged over seeds (what the paper's t-test across folds takes)."""
        return self.score_matrix().mean(0)

    @property
    def n_folds(self) -> int:
        return len(self.chosen) // max(1, int(self.n_seeds))

    @property
    def fold_scores(self) -> np.ndarray:
        return np.array([r.test_acc for r in self.chosen], dtype=float)

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.chosen else float("nan")

    @property
    def seconds(self) -> float:
        return float(sum(r.seconds for r in self.runs))

    def to_frame(self):
        rows = [{k: v for k, v in dataclasses.asdict(r).items() if k != "history"}
                for r in self.runs]
        df = pd.DataFrame(rows)
        if len(df):
            chosen = {(r.fold, r.run) for r in self.chosen}
            df["chosen"] = [(f, r) in chosen for f, r in zip(df.fold, df.run)]
        return df

    def history(self, fold: int = 0):
        """Per-epoch history (DataFrame) of the chosen run of ``fold`` (position in order)."""
        return pd.DataFrame(self.chosen[fold].history)


# ----------------------------------------------------------------------------- helpers
def subset(data: Sequence, idx) -> tuple:
    """Rows ``idx`` of every tensor/array in ``data`` (returned as tensors)."""
    idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    out = []
    for t in data:
        t = t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t))
        out.append(t.index_select(0, idx))
    return tuple(out)


def speaker_kfold(speakers, n_folds: Optional[int] = None) -> list:
    """Speaker-wise folds as ``[(train_idx, test_idx), ...]``.

    ``n_folds=None`` = leave-one-speaker-out (AVletters 10, Digits 15 folds). Otherwise the
    sorted unique speakers are cut into ``n_folds`` consecutive groups of equal size (CUAVE:
    36 speakers, 9 folds of 4 consecutive speakers).
    """
    speakers = np.asarray(speakers)
    uniq = np.unique(speakers)
    n_folds = len(uniq) if n_folds is None else int(n_folds)
    if not 2 <= n_folds <= len(uniq):
        raise ParameterError(f"n_folds must be in [2, {len(uniq)}] for {len(uniq)} speakers, "
                             f"got {n_folds}")
    groups = np.array_split(uniq, n_folds)
    folds = []
    for g in groups:
        test = np.flatnonzero(np.isin(speakers, g))
        train = np.flatnonzero(~np.isin(speakers, g))
        folds.append((train, test))
    return folds


def validation_split(train_idx, *, speakers=None, labels=None, fraction: float = 0.2,
                     seed: int = 0) -> tuple:
    """Split training indices into (train, val) without touching the test fold.

    With ``speakers``, whole speakers go to validation (``max(1, round(fraction * n))``
    of them, chosen with ``seed``), as the test folds are speaker-wise. Otherwise a random
    stratified (by ``labels`` when given) split of ``fraction`` of the examples.
    """
    train_idx = np.asarray(train_idx)
    if not 0.0 < fraction < 1.0:
        raise ParameterError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    if speakers is not None:
        spk = np.asarray(speakers)[train_idx]
        uniq = np.unique(spk)
        if len(uniq) >= 2:
            n_val = min(len(uniq) - 1, max(1, int(round(fraction * len(uniq)))))
            val_spk = rng.choice(uniq, size=n_val, replace=False)
            is_val = np.isin(spk, val_spk)
            return train_idx[~is_val], train_idx[is_val]
    if labels is not None:
        lab = np.asarray(labels)[train_idx]
        is_val = np.zeros(len(train_idx), dtype=bool)
        for c in np.unique(lab):
            pos = np.flatnonzero(lab == c)
            k = int(round(fraction * len(pos)))
            if k:
                is_val[rng.choice(pos, size=k, replace=False)] = True
    else:
        is_val = np.zeros(len(train_idx), dtype=bool)
        is_val[rng.permutation(len(train_idx))[:max(1, int(round(fraction * len(train_idx))))]] = True
    return train_idx[~is_val], train_idx[is_val]


def standardize_features(train: tuple, *others: tuple, which: Sequence[int] = (1,),
                         mask_index: Optional[int] = None) -> tuple:
    """Z-score the inputs at positions ``which`` with statistics of ``train`` only.

    Statistics are per feature (last axis). With ``mask_index`` (position of a ``(N, T)``
    mask in the tuples) only valid time steps enter the statistics and padded steps stay 0.
    Returns ``(train, *others)`` as new tuples.
    """
    train = list(train)
    others = [list(o) for o in others]
    for i in which:
        x = train[i].float()
        if mask_index is not None:
            m = train[mask_index].bool()
            flat = x[m]
        else:
            flat = x.reshape(-1, x.shape[-1])
        mu = flat.mean(0)
        sd = flat.std(0).clamp_min(1e-6)
        for tup in [train] + others:
            z = (tup[i].float() - mu) / sd
            if mask_index is not None:
                z = z * tup[mask_index].bool().unsqueeze(-1)
            tup[i] = z
    return (tuple(train),) + tuple(tuple(o) for o in others)


def check_protocol(protocol: str) -> None:
    """Raise unless ``protocol`` is one of :data:`PROTOCOLS`."""
    if protocol not in PROTOCOLS:
        raise ParameterError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")


def run_fold(model, train: tuple, test: tuple, *, config: TrainConfig, protocol: str,
             val: Optional[tuple] = None, fold: int = 0, run: int = 0, device=None,
             loss_fn=None, input_transform=None, checkpoint_dir=None) -> RunResult:
    """Train ``model`` once on ``train`` and score it on ``test`` under ``protocol``.

    ``paper``: ``val`` must be None; score = max test accuracy over epochs.
    ``clean``: ``val`` required; the best epoch by ``config.monitor`` is restored; score =
    test accuracy of that epoch. ``checkpoint_dir``: checkpoint every epoch and resume
    (:func:`avlib.train.loop.fit`).
    """
    check_protocol(protocol)
    if protocol == "clean" and val is None:
        raise ParameterError("the clean protocol needs a validation split (val=...)")
    if protocol == "paper" and val is not None:
        raise ParameterError("the paper protocol selects on the test fold; pass val=None")
    t0 = time.perf_counter()
    hist = fit(model, train, val, config=config, extra_eval={"test": test}, loss_fn=loss_fn,
               device=device, progress_bar=False, restore_best=(protocol == "clean"),
               input_transform=input_transform, checkpoint_dir=checkpoint_dir)
    seconds = time.perf_counter() - t0
    recs = hist.epochs
    test_curve = [r["test_acc"] for r in recs]
    max_test = float(np.max(test_curve))
    if protocol == "paper":
        sel = int(np.argmax(test_curve)) + 1
        score, val_acc = max_test, float("nan")
    else:
        sel = int(hist.best_epoch or len(recs))
        score = float(recs[sel - 1]["test_acc"])
        val_acc = float(recs[sel - 1]["val_acc"])
    return RunResult(fold=fold, run=run, seed=config.seed, protocol=protocol, test_acc=score,
                     max_test_acc=max_test, val_acc=val_acc, selected_epoch=sel,
                     seconds=seconds, n_train=len(train[-1]),
                     n_val=0 if val is None else len(val[-1]), n_test=len(test[-1]),
                     history=recs)


def crossval(make_model: Callable[[int], torch.nn.Module], data: Sequence, folds: Sequence,
             *, config: TrainConfig, protocol: str = "clean", runs: int = 1,
             speakers=None, val_fraction: float = 0.2, carry_over: bool = False,
             preprocess: Optional[Callable] = None, max_folds: Optional[int] = None,
             max_train: Optional[int] = None, seed: int = 0, device=None, loss_fn=None,
             input_transform=None, fold_ids: Optional[Sequence[int]] = None, store_dir=None,
             store_key: str = "", checkpoint_runs: bool = True) -> CVResult:
    """K-fold cross-validation of a model family under one protocol.

    Parameters
    ----------
    make_model : callable(seed) -> nn.Module
        Builds a FRESH model; called with the run's seed after seeding everything with it.
    data : tuple of tensors ``(*inputs, y)``
    folds : list of ``(train_idx, test_idx)``
        E.g. :func:`speaker_kfold` or the data module's ``speaker_folds``.
    config : TrainConfig
        Its ``seed`` is replaced per run: ``seed + 1000 * fold + run``.
    protocol : {"paper", "clean"}
    runs : int
        Runs per fold; the paper keeps the best of 5 for its large models. Paper protocol:
        best test accuracy; clean: best validation accuracy.
    speakers : array-like, optional
        Speaker of each example, for the speaker-wise validation split (clean protocol).
    carry_over : bool
        Paper protocol only: do not re-initialise the model between folds (reference code).
    preprocess : callable(train, *others) -> (train, *others), optional
        Per-fold preprocessing fitted on the training part only, e.g.
        ``functools.partial(standardize_features, which=(1,))``.
    max_folds : int, optional
        Only the first ``max_folds`` folds (reduced presets).
    max_train : int, optional
        Train on at most this many examples per fold (a random subset drawn with the run's
        seed; reduced presets only). The test fold is never subsampled.
    fold_ids : sequence of int, optional
        The number of each fold of ``folds`` (default 0, 1, ...): it names the fold in the
        results and enters every run's seed, so cross-validating a subset of the folds with
        their numbers gives exactly the runs of those folds in the full cross-validation.
    store_dir, store_key : optional
        Keep every finished run as ``<store_dir>/<store_key>-f<fold>-r<run>.json`` and read it
        back instead of training it again; with ``checkpoint_runs`` a run in progress also
        checkpoints every epoch in the folder of the same name and resumes from it (worth it for
        long runs; hundreds of short ones would spend more time writing checkpoints than they
        could save). ``store_key`` must name everything the runs depend on (data, folds, model,
        configuration, seed). Not with ``carry_over`` (the carried model is not stored).
    """
    check_protocol(protocol)
    if runs < 1:
        raise ParameterError(f"runs must be >= 1, got {runs}")
    if carry_over and protocol != "paper":
        raise ParameterError("carry_over is the reference code's flaw; only with protocol='paper'")
    folds = list(folds)[: max_folds or None]
    ids = list(range(len(folds))) if fold_ids is None else [int(i) for i in fold_ids][: len(folds)]
    if len(ids) != len(folds) or len(set(ids)) != len(ids):
        raise ParameterError(f"fold_ids must name each of the {len(folds)} folds once, got {fold_ids}")
    labels = np.asarray(data[-1])
    all_runs, chosen = [], []
    carried = {}
    for k, (tr_idx, te_idx) in zip(ids, progress(folds, desc=f"{protocol} folds", leave=False)):
        if len(np.intersect1d(tr_idx, te_idx)):
            raise ParameterError(f"fold {k}: train and test indices overlap")
        fold_runs = []
        if max_train is not None and len(tr_idx) > max_train:
            sub_rng = np.random.default_rng(int(seed) + 1000 * k)
            tr_idx = np.sort(sub_rng.choice(tr_idx, size=int(max_train), replace=False))
        for r in range(runs):
            run_seed = int(seed) + 1000 * k + r
            stored = Path(store_dir) / f"{store_key}-f{k}-r{r}" if store_dir is not None and not carry_over else None
            if stored is not None and stored.with_suffix(".json").is_file():
                try:
                    fold_runs.append(RunResult(**json.loads(stored.with_suffix(".json").read_text())))
                    continue
                except (ValueError, TypeError):  # damaged or from another version: train again
                    pass
            cfg = dataclasses.replace(config, seed=run_seed)
            if protocol == "clean":
                fit_idx, val_idx = validation_split(tr_idx, speakers=speakers, labels=labels,
                                                    fraction=val_fraction, seed=run_seed)
                parts = [subset(data, fit_idx), subset(data, te_idx), subset(data, val_idx)]
            else:
                parts = [subset(data, tr_idx), subset(data, te_idx)]
            if preprocess is not None:
                parts = list(preprocess(*parts))
            if carry_over and r in carried:
                model = carried[r]
            else:
                seed_everything(run_seed)
                model = make_model(run_seed)
            res = run_fold(model, parts[0], parts[1], config=cfg, protocol=protocol,
                           val=parts[2] if protocol == "clean" else None, fold=k, run=r,
                           device=device, loss_fn=loss_fn, input_transform=input_transform,
                           checkpoint_dir=stored if checkpoint_runs else None)
            res.base_seed = int(seed)
            if stored is not None:
                stored.parent.mkdir(parents=True, exist_ok=True)
                tmp = stored.with_suffix(".tmp")
                tmp.write_text(json.dumps(dataclasses.asdict(res)))
                tmp.replace(stored.with_suffix(".json"))
                shutil.rmtree(stored, ignore_errors=True)
            if carry_over:
                carried[r] = model
            fold_runs.append(res)
        key = (lambda x: x.test_acc) if protocol == "paper" else (lambda x: x.val_acc)
        chosen.append(max(fold_runs, key=key))
        all_runs.extend(fold_runs)
    return CVResult(protocol=protocol, runs=all_runs, chosen=chosen)


def holdout(make_model, data, train_idx, test_idx, *, config: TrainConfig,
            protocol: str = "clean", runs: int = 1, speakers=None, val_fraction: float = 0.2,
            preprocess=None, seed: int = 0, device=None, loss_fn=None,
            input_transform=None) -> CVResult:
    """The hold-out evaluation (Table VI): a single "fold" with the given split."""
    return crossval(make_model, data, [(np.asarray(train_idx), np.asarray(test_idx))],
                    config=config, protocol=protocol, runs=runs, speakers=speakers,
                    val_fraction=val_fraction, preprocess=preprocess, seed=seed, device=device,
                    loss_fn=loss_fn, input_transform=input_transform)


def compare_protocols(paper: CVResult, clean: CVResult) -> dict:
    """Means of both protocols, their gap (paper - clean) and the selection-only optimism of
    the clean runs (mean over folds of max-over-epochs minus selected test accuracy)."""
    sel_gap = [r.max_test_acc - r.test_acc for r in clean.chosen]
    return {
        "paper_mean": paper.mean,
        "clean_mean": clean.mean,
        "gap": paper.mean - clean.mean,
        "selection_optimism": float(np.mean(sel_gap)) if sel_gap else float("nan"),
    }


def paper_rule(result: CVResult) -> CVResult:
    """The paper's selection rule applied to the runs of a clean cross-validation: per fold
    (and seed) the best test accuracy over epochs and runs (same models, test fold used for
    selection)."""
    chosen = []
    for r in result.chosen:
        fold_runs = [x for x in result.runs if x.fold == r.fold and x.base_seed == r.base_seed]
        best = max(fold_runs, key=lambda x: x.max_test_acc)
        chosen.append(dataclasses.replace(best, protocol="paper-rule", test_acc=best.max_test_acc))
    return CVResult(protocol="paper-rule", runs=result.runs, chosen=chosen,
                    n_seeds=result.n_seeds)


def merge_seeds(results: Sequence[CVResult]) -> CVResult:
    """One :class:`CVResult` from the cross-validations of several seeds (same folds)."""
    results = list(results)
    if not results:
        raise ParameterError("merge_seeds needs at least one result")
    n = {len(r.chosen) for r in results}
    if len(n) != 1:
        raise ParameterError(f"seeds with different numbers of folds: {sorted(n)}")
    return CVResult(protocol=results[0].protocol,
                    runs=[x for r in results for x in r.runs],
                    chosen=[x for r in results for x in r.chosen],
                    n_seeds=sum(int(r.n_seeds) for r in results))


def select_folds(result: CVResult, fold_ids: Sequence[int]) -> CVResult:
    """The runs of ``result`` on the folds numbered ``fold_ids`` (every seed), as if only those
    folds had been cross-validated (:func:`crossval`'s ``fold_ids``)."""
    wanted = [int(i) for i in fold_ids]
    S = max(1, int(result.n_seeds))
    F = result.n_folds
    numbers = [r.fold for r in result.chosen[:F]]
    missing = [i for i in wanted if i not in numbers]
    if missing:
        raise ParameterError(f"folds {missing} are not in the result (its folds: {numbers})")
    pos = [numbers.index(i) for i in wanted]
    keep = set(wanted)
    return CVResult(protocol=result.protocol, runs=[r for r in result.runs if r.fold in keep],
                    chosen=[result.chosen[s * F + p] for s in range(S) for p in pos], n_seeds=S)


def test_train_ratio(result: CVResult) -> float:
    """Mean ``n_test / n_train`` over the chosen runs of a cross-validation (the correction of
    :func:`avlib.metrics.stats.corrected_resampled_effect`)."""
    runs = [r for r in result.chosen if r.n_train > 0]
    if not runs:
        raise ParameterError("no run with a training set: cannot form n_test / n_train")
    return float(np.mean([r.n_test / r.n_train for r in runs]))


def scale_epochs(epochs, factor: float):
    """``epochs`` (an int or a dict as ``{name: epochs}``) times ``factor``,
    rounded, at least 1 per model."""
    if isinstance(epochs, dict):
        return {k: max(1, int(round(v * factor))) for k, v in epochs.items()}
    return max(1, int(round(int(epochs) * factor)))
