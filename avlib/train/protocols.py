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

Generic pieces: :func:`crossval`, :func:`holdout`, :func:`run_fold`, :func:`speaker_kfold`,
:func:`validation_split`, :func:`standardize_features`, :func:`paper_rule`,
:func:`compare_protocols`. XFlow experiment helpers used by the notebooks (so that the
notebooks only call and show): :func:`load_xflow_dataset`, :func:`xflow_arrays`
(with the reduced presets' ``downsample`` / ``time_stride``), :func:`xflow_crossval`,
:func:`xflow_holdout`, :func:`dtn_crossval`, :func:`train_xflow_model`,
:func:`summarize_cv`, :func:`table4_frame`, :func:`table5_frame`.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..errors import ParameterError
from ..utils import progress, seed_everything
from .loop import TrainConfig, fit

__all__ = [
    "PROTOCOLS",
    "RunResult",
    "CVResult",
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
    "training_seeds",
    "dataset_setting",
    "downsample_images",
    "xflow_arrays",
    "xflow_preprocess",
    "xflow_model_factory",
    "xflow_crossval",
    "load_xflow_dataset",
    "dtn_crossval",
    "summarize_cv",
    "table4_frame",
    "table5_frame",
    "xflow_holdout",
    "train_xflow_model",
    "convergence_curve",
    "flattened_epoch",
    "XFLOW_PRESETS",
    "XFLOW_CPU_FULL",
    "xflow_preset",
    "scale_epochs",
    "crossval_from_preset",
    "holdout_from_preset",
    "test_train_ratio",
    "per_model",
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
        import pandas as pd

        rows = [{k: v for k, v in dataclasses.asdict(r).items() if k != "history"}
                for r in self.runs]
        df = pd.DataFrame(rows)
        if len(df):
            chosen = {(r.fold, r.run) for r in self.chosen}
            df["chosen"] = [(f, r) in chosen for f, r in zip(df.fold, df.run)]
        return df

    def history(self, fold: int = 0):
        """Per-epoch history (DataFrame) of the chosen run of ``fold`` (position in order)."""
        import pandas as pd

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


def _check_protocol(protocol):
    if protocol not in PROTOCOLS:
        raise ParameterError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")


def run_fold(model, train: tuple, test: tuple, *, config: TrainConfig, protocol: str,
             val: Optional[tuple] = None, fold: int = 0, run: int = 0, device=None,
             loss_fn=None, input_transform=None) -> RunResult:
    """Train ``model`` once on ``train`` and score it on ``test`` under ``protocol``.

    ``paper``: ``val`` must be None; score = max test accuracy over epochs.
    ``clean``: ``val`` required; the best epoch by ``config.monitor`` is restored; score =
    test accuracy of that epoch.
    """
    _check_protocol(protocol)
    if protocol == "clean" and val is None:
        raise ParameterError("the clean protocol needs a validation split (val=...)")
    if protocol == "paper" and val is not None:
        raise ParameterError("the paper protocol selects on the test fold; pass val=None")
    t0 = time.perf_counter()
    hist = fit(model, train, val, config=config, extra_eval={"test": test}, loss_fn=loss_fn,
               device=device, progress_bar=False, restore_best=(protocol == "clean"),
               input_transform=input_transform)
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
             input_transform=None) -> CVResult:
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
    """
    _check_protocol(protocol)
    if runs < 1:
        raise ParameterError(f"runs must be >= 1, got {runs}")
    if carry_over and protocol != "paper":
        raise ParameterError("carry_over is the reference code's flaw; only with protocol='paper'")
    folds = list(folds)[: max_folds or None]
    labels = np.asarray(data[-1])
    all_runs, chosen = [], []
    carried = {}
    for k, (tr_idx, te_idx) in enumerate(progress(folds, desc=f"{protocol} folds", leave=False)):
        if len(np.intersect1d(tr_idx, te_idx)):
            raise ParameterError(f"fold {k}: train and test indices overlap")
        fold_runs = []
        if max_train is not None and len(tr_idx) > max_train:
            sub_rng = np.random.default_rng(int(seed) + 1000 * k)
            tr_idx = np.sort(sub_rng.choice(tr_idx, size=int(max_train), replace=False))
        for r in range(runs):
            run_seed = int(seed) + 1000 * k + r
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
                           device=device, loss_fn=loss_fn, input_transform=input_transform)
            res.base_seed = int(seed)
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


# ----------------------------------------------------------------------------- XFlow runs
def downsample_images(x, factor: int):
    """Average-pool the last two axes of ``x`` by an integer ``factor`` (floor of the size).

    Used by the reduced presets: e.g. 80x60 -> 20x15 and 90x120 -> 22x30 with ``factor=4``.
    ``factor=1`` returns ``x`` unchanged. Works on NumPy arrays and tensors (returns a tensor).
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    f = int(factor)
    if f < 1:
        raise ParameterError(f"downsample factor must be >= 1, got {factor}")
    if f == 1:
        return t
    lead = t.shape[:-2]
    h, w = t.shape[-2:]
    out = torch.nn.functional.avg_pool2d(t.reshape(-1, 1, h, w).float(), f)
    return out.reshape(*lead, h // f, w // f)


def dataset_setting(value, dataset: str, name: str = "setting"):
    """``value[dataset]`` when ``value`` is a dict keyed by dataset (e.g. the cpu preset's
    ``downsample``), else ``value`` itself."""
    if not isinstance(value, dict):
        return value
    key = str(dataset).lower()
    if key not in value:
        raise ParameterError(f"{name} {value} has no entry for dataset {dataset!r}")
    return value[key]


_ARRAY_CACHE: dict = {}


def xflow_arrays(ds, family: str, *, indices=None, downsample: int | dict = 1, time_stride: int = 1,
                 chunk: int = 96, cache: bool = True) -> tuple:
    """Model inputs of a :class:`avlib.data.speech.SpeechDataset` as tensors.

    ``family="cnnxmlp"``: ``(x_img (N, m, H', W'), x_mfcc (N, 26 m), y)``;
    ``family="lstm"``: ``(x_img (N, T', 1, H', W'), x_mfcc (N, T', 26), mask (N, T'), y)``,
    with ``H' = H // downsample`` (an int, or a dict keyed by dataset name) and, for the LSTM inputs, every ``time_stride``-th frame
    (``T' = ceil(T / time_stride)``; a reduced-preset option, 1 in the paper). Built ``chunk``
    clips at a time so the full-resolution sequences of a large dataset never sit in memory
    at once. With ``cache`` the result for the whole dataset is kept in memory for the
    session (keyed by dataset root, size, family and options), as decoding the frames is
    the slow part.
    """
    from ..data.speech import cnn_mlp_inputs, sequence_inputs

    if isinstance(downsample, dict):
        downsample = dataset_setting(downsample, ds.info.name, "downsample")
    lstm = "lstm" in family.lower()
    ts = int(time_stride) if lstm else 1
    if ts < 1:
        raise ParameterError(f"time_stride must be >= 1, got {time_stride}")
    key = (str(getattr(ds, "root", id(ds))), id(ds), len(ds), lstm, int(downsample), ts)
    if cache and indices is None and key in _ARRAY_CACHE:
        return _ARRAY_CACHE[key]
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices)
    parts = []
    for start in range(0, len(idx), chunk):
        sel = idx[start:start + chunk]
        arrs = list(sequence_inputs(ds, sel) if lstm else cnn_mlp_inputs(ds, sel))
        if lstm and ts > 1:
            arrs[:3] = [a[:, ::ts] for a in arrs[:3]]
        arrs[0] = downsample_images(arrs[0], downsample)
        parts.append([torch.as_tensor(np.ascontiguousarray(a)) for a in arrs])
    out = tuple(torch.cat([p[i] for p in parts]) for i in range(len(parts[0])))
    if cache and indices is None:
        if len(_ARRAY_CACHE) >= 8:
            _ARRAY_CACHE.clear()
        _ARRAY_CACHE[key] = out
    return out


def xflow_preprocess(family: str):
    """Per-fold preprocessing for XFlow inputs: MFCCs z-scored with training statistics
    (masked for the LSTM inputs); images are normalised by the models' input BN."""
    from functools import partial

    if "lstm" in family.lower():
        return partial(standardize_features, which=(1,), mask_index=2)
    return partial(standardize_features, which=(1,))


def xflow_model_factory(family: str, dataset: str, variant: str, data: tuple, *,
                        num_classes: Optional[int] = None, **kwargs) -> Callable:
    """A ``make_model(seed)`` for :func:`crossval` whose geometry comes from ``data``."""
    from ..models.xflow import build_xflow_model

    x_img = data[0]
    hw = tuple(int(v) for v in x_img.shape[-2:])
    n_frames = int(x_img.shape[1])
    ncls = int(num_classes) if num_classes else None

    def make_model(seed: int):
        extra = dict(image_hw=hw, n_frames=n_frames, **kwargs)
        if ncls:
            extra["num_classes"] = ncls
        return build_xflow_model(family, dataset, variant, **extra)

    return make_model


def training_seeds(seeds) -> list[int]:
    """Every training seed named by a ``seeds`` setting (a list, or a dict of lists keyed as
    :func:`per_model` reads them), sorted; ``[]`` for None. Captions and the Claims page say these."""
    if seeds is None:
        return []
    values = seeds.values() if isinstance(seeds, dict) else [seeds]
    out = set()
    for v in values:
        out.update(int(s) for s in (v if isinstance(v, (list, tuple)) else [v]))
    return sorted(out)


def per_model(value, family: str, variant: str, default=None, dataset: str = ""):
    """``value`` itself, or its most specific entry among ``"<dataset>/<family>/<variant>"``,
    ``"<dataset>/<family>"``, ``"<family>/<variant>"``, ``"<family>"``."""
    if not isinstance(value, dict):
        return default if value is None else value
    for key in (f"{dataset}/{family}/{variant}", f"{dataset}/{family}", f"{family}/{variant}",
                family):
        if key in value:
            return value[key]
    if default is not None:
        return default
    raise ParameterError(f"no setting for {family}/{variant} in {value}")


def xflow_crossval(ds, *, families=("cnnxmlp", "lstm"),
                   variants=("baseline", "xflow", "no_xconns", "no_resconns"),
                   protocols=("clean",), epochs: dict | int = 10, batch_size: dict | None = None,
                   runs: dict | int = 1, max_folds: Optional[int] = None, downsample: int | dict = 1,
                   val_fraction: float = 0.2, carry_over: bool = False, seed: int = 0,
                   seeds: Optional[Sequence[int]] = None, lr: dict | float = 1e-3,
                   time_stride: int = 1, max_train: dict | int | None = None, device=None,
                   folds=None, log=None, n_jobs: int = 1, lr_schedule: Optional[str] = None) -> dict:
    """Cross-validate XFlow models on one dataset under one or both protocols.

    Returns ``{(family, variant, protocol): CVResult}``; with ``seeds`` (a list) every
    configuration is cross-validated once per seed on the same folds and the results are
    merged (:func:`merge_seeds`, ``n_seeds x n_folds`` scores). ``epochs``, ``runs``,
    ``batch_size``, ``lr``, ``max_train`` and ``seeds`` may be dicts keyed by
    ``"<family>/<variant>"`` or ``"<family>"`` (``epochs`` also by ``"<dataset>/<family>"`` and
    ``"<dataset>/<family>/<variant>"``) (the paper: 300 epochs; batch 128 CNN x MLP,
    32 LSTM; best of 5 runs for the large models; the cpu preset sets epochs per model from
    measured convergence, see :func:`xflow_preset`; ``lr_schedule="onecycle"`` anneals the rate per
    batch, see :class:`avlib.train.loop.TrainConfig`). The clean results also carry the paper's
    selection rule on the same runs (see :func:`paper_rule`). ``log`` is called with a line
    per finished configuration.

    ``n_jobs > 1`` runs the (model, variant, protocol, seed) cross-validations in that many
    worker processes (spawned, one torch thread each; results are collected in job order, so
    they do not depend on which worker finishes first). Each job is seeded by its own seed
    only, so the numbers are the same for every ``n_jobs > 1``; the in-process path
    (``n_jobs=1``) uses the caller's torch thread count.
    """
    from ..data.speech import speaker_folds

    folds = folds if folds is not None else speaker_folds(ds)
    bs = {"cnnxmlp": 128, "lstm": 32}
    bs.update(batch_size or {})
    jobs, meta = [], []
    for fam in families:
        data = xflow_arrays(ds, fam, downsample=downsample, time_stride=time_stride)
        for var in variants:
            ep = int(per_model(epochs, fam, var, dataset=ds.info.name))
            nr = int(per_model(runs, fam, var))
            lr_ = float(per_model(lr, fam, var))
            mt = per_model(max_train, fam, var) if isinstance(max_train, dict) else max_train
            sd = list(per_model(seeds, fam, var)) if seeds is not None else [int(seed)]
            cfg = TrainConfig(epochs=ep, batch_size=int(per_model(bs, fam, var)), lr=lr_,
                              monitor="val_acc", seed=seed, lr_schedule=lr_schedule)
            for prot in protocols:
                meta.append(((fam, var, prot), len(sd), ep))
                for s in sd:
                    jobs.append(dict(family=fam, dataset=ds.info.name, variant=var,
                                     num_classes=ds.info.n_classes, data=data, folds=folds,
                                     config=cfg, protocol=prot, runs=nr, speakers=ds.speakers,
                                     val_fraction=val_fraction,
                                     carry_over=carry_over and prot == "paper",
                                     max_folds=max_folds, max_train=mt, seed=int(s),
                                     device=device))
    t0 = time.perf_counter()
    if int(n_jobs) > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(int(n_jobs), len(jobs)),
                                 mp_context=mp.get_context("spawn")) as ex:
            done = list(ex.map(_crossval_job, jobs))
    else:
        done = [_crossval_job(j, threads=None) for j in jobs]
    out, k = {}, 0
    for key, n, ep in meta:
        res = merge_seeds(done[k:k + n])
        k += n
        out[key] = res
        if log is not None:
            extra = (f"; paper rule {paper_rule(res).mean:.3f}" if key[2] == "clean" else "")
            log(f"{ds.info.name} {key[0]} {key[1]} {key[2]}: mean acc {res.mean:.3f} over "
                f"{res.n_folds} folds x {res.n_seeds} seeds{extra} ({ep} epochs)")
    if log is not None:
        log(f"{ds.info.name}: {len(jobs)} cross-validations in {time.perf_counter() - t0:.0f} s "
            f"({max(1, int(n_jobs))} process(es))")
    return out


def _crossval_job(job: dict, threads: Optional[int] = 1) -> CVResult:
    """One seed's cross-validation of one model (a worker job of :func:`xflow_crossval`)."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    job = dict(job)
    data = job.pop("data")
    make = xflow_model_factory(job.pop("family"), job.pop("dataset"), job.pop("variant"), data,
                               num_classes=job.pop("num_classes"))
    fam_prep = xflow_preprocess("lstm" if len(data) == 4 else "cnnxmlp")
    return crossval(make, data, job.pop("folds"), preprocess=fam_prep, **job)


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


def load_xflow_dataset(dataset: str, *, source: str = "embedded", data_root="data",
                       scale: str = "cpu", seed: int = 0, real_root=None):
    """Load one XFlow dataset and name its source for the provenance caption.

    ``source="embedded"``: the stand-in of ``scale`` (generated if missing, via
    :func:`avlib.data.speech.ensure_speech_benchmark`); ``source="real"``: the real dataset
    in ``<real_root>/<dataset>`` in the layout :func:`avlib.data.speech.load_speech_dataset`
    reads. Returns ``(SpeechDataset, source_label)``.
    """
    from pathlib import Path

    from ..data.speech import ensure_speech_benchmark, load_speech_dataset

    if source == "embedded":
        root = ensure_speech_benchmark(data_root, dataset, scale=scale, seed=seed, progress=False)
        return load_speech_dataset(root, dataset), "embedded benchmark"
    if source == "real":
        if real_root is None:
            raise ParameterError("source='real' needs real_root (folder holding <dataset>/)")
        names = {"avletters": "AVletters", "digits": "Digits", "cuave": "CUAVE"}
        return load_speech_dataset(Path(real_root) / dataset, dataset), names.get(dataset, dataset)
    raise ParameterError(f"unknown source {source!r}; valid: embedded, real")


def dtn_crossval(ds, *, epochs: int = 10, pretrain_epochs: int = 10, batch_size: int = 128,
                 lr: float = 1e-3, eta: float = 1e-6, gamma: float = 1e-2,
                 protocol: str = "clean", downsample: int | dict = 2, max_folds: Optional[int] = None,
                 val_fraction: float = 0.2, seed: int = 0, device=None, folds=None,
                 seeds: Optional[Sequence[int]] = None, lr_schedule: Optional[str] = None) -> CVResult:
    """Cross-validate the weakly-shared DTN (Table IV) on the CNN x MLP inputs.

    With ``seeds`` (a list) the cross-validation runs once per seed (:func:`merge_seeds`).

    Per fold a fresh DTN is built, its first two layers per stream are pre-trained as
    autoencoders on the fold's training inputs only, then it is trained with
    :class:`avlib.models.dtn.DTNLoss` (``eta``, ``gamma`` of the XFlow paper).
    """
    from ..data.speech import speaker_folds
    from ..models.dtn import DTNLoss, WeaklySharedDTN, pretrain_autoencoders

    if seeds is not None:
        return merge_seeds([dtn_crossval(ds, epochs=epochs, pretrain_epochs=pretrain_epochs,
                                         batch_size=batch_size, lr=lr, eta=eta, gamma=gamma,
                                         protocol=protocol, downsample=downsample,
                                         max_folds=max_folds, val_fraction=val_fraction,
                                         seed=int(s), device=device, folds=folds,
                                         lr_schedule=lr_schedule)
                            for s in seeds])
    _check_protocol(protocol)
    data = xflow_arrays(ds, "cnnxmlp", downsample=downsample)
    folds = list(folds if folds is not None else speaker_folds(ds))[: max_folds or None]
    prep = xflow_preprocess("cnnxmlp")
    cfg0 = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, monitor="val_acc", seed=seed,
                       lr_schedule=lr_schedule)
    runs = []
    for k, (tr, te) in enumerate(folds):
        run_seed = int(seed) + 1000 * k
        cfg = dataclasses.replace(cfg0, seed=run_seed)
        if protocol == "clean":
            fit_idx, val_idx = validation_split(tr, speakers=ds.speakers, labels=data[-1],
                                                fraction=val_fraction, seed=run_seed)
            train, test, val = prep(subset(data, fit_idx), subset(data, te), subset(data, val_idx))
        else:
            (train, test), val = prep(subset(data, tr), subset(data, te)), None
        # the image stream sees z-scored pixels (the CNN models have an input BN instead)
        mu, sd = train[0].mean(0, keepdim=True), train[0].std(0, keepdim=True).clamp_min(1e-3)
        norm = lambda t: (t[0] - mu) / sd  # noqa: E731
        train, test = (norm(train),) + train[1:], (norm(test),) + test[1:]
        if val is not None:
            val = (norm(val),) + val[1:]
        seed_everything(run_seed)
        model = WeaklySharedDTN(int(data[1][0].numel()), int(data[0][0].numel()),
                                ds.info.n_classes)
        pretrain_autoencoders(model, train[0], train[1], epochs=pretrain_epochs,
                              batch_size=batch_size, device=device, seed=run_seed)
        runs.append(run_fold(model, train, test, config=cfg, protocol=protocol, val=val, fold=k,
                             device=device, loss_fn=DTNLoss(model, eta=eta, gamma=gamma)))
        runs[-1].base_seed = int(seed)
    return CVResult(protocol=protocol, runs=runs, chosen=list(runs))


_MODEL_NAMES = {"cnnxmlp": "CNNxMLP", "lstm": "CNNxMLP-LSTM"}
_DATASET_NAMES = {"avletters": "AVletters", "digits": "Digits", "cuave": "CUAVE"}


def test_train_ratio(result: CVResult) -> float:
    """Mean ``n_test / n_train`` over the chosen runs of a cross-validation (the correction of
    :func:`avlib.metrics.stats.corrected_resampled_effect`)."""
    runs = [r for r in result.chosen if r.n_train > 0]
    if not runs:
        raise ParameterError("no run with a training set: cannot form n_test / n_train")
    return float(np.mean([r.n_test / r.n_train for r in runs]))


def summarize_cv(results: dict) -> "pd.DataFrame":
    """Long table of cross-validation results.

    ``results`` maps dataset -> ``{(family, variant, protocol): CVResult}`` (as returned by
    :func:`xflow_crossval`; clean results are also summarised under the paper's selection
    rule as protocol ``"paper-rule"``). Speaker folds are the unit: the seeds of a fold are
    averaged first; with a single fold (a hold-out split) the seeds are the unit (Student-t). Columns: dataset, model, variant, protocol, mean_pct, ci_lo_pct, ci_hi_pct
    (95 % corrected resampled t interval across folds,
    :func:`avlib.metrics.stats.corrected_resampled_ci`), n_folds, n_seeds, fold_pct (per-fold
    means over seeds).
    """
    import pandas as pd

    from ..metrics.stats import corrected_resampled_ci, mean_ci

    rows = []
    for dsname, res in results.items():
        for (fam, var, prot), r in res.items():
            views = [(prot, r)] + ([("paper-rule", paper_rule(r))] if prot == "clean" else [])
            for pname, v in views:
                if v.n_folds == 1:  # a hold-out split: the training seeds are the unit
                    ci = mean_ci(v.fold_scores, bounds=(0, 1))
                else:
                    ci = corrected_resampled_ci(v.fold_means(), test_train_ratio=test_train_ratio(v), bounds=(0, 1))
                rows.append(dict(dataset=_DATASET_NAMES.get(dsname, dsname),
                                 model=_MODEL_NAMES.get(fam, fam), variant=var, protocol=pname,
                                 mean_pct=100 * ci.mean, ci_lo_pct=100 * ci.lo,
                                 ci_hi_pct=100 * ci.hi, n_folds=v.n_folds, n_seeds=v.n_seeds,
                                 fold_pct=[round(100 * float(x), 2) for x in v.fold_means()]))
    return pd.DataFrame(rows)


def table4_frame(results: dict, *, protocol: str = "clean", dtn: Optional[dict] = None,
                 alternative: str = "two-sided") -> "pd.DataFrame":
    """Table IV: per model and dataset the baseline and XFlow accuracy (%), under ``protocol``
    ("clean", "paper" or "paper-rule"). ``dtn`` maps dataset -> CVResult of the DTN (baseline
    column only).

    Speaker folds are the unit: the seeds of a fold are averaged first. ``p_value`` is the
    paper's plain paired t-test across folds; ``p_corrected`` with ``diff_pct`` /
    ``diff_lo_pct`` / ``diff_hi_pct`` the corrected resampled t (Nadeau & Bengio) of XFlow -
    baseline across the same folds; ``*_ci_lo/hi_pct`` the corrected 95 % intervals of each
    accuracy."""
    import pandas as pd

    from ..metrics.stats import corrected_resampled_ci, corrected_resampled_effect, paired_ttest

    nan = float("nan")
    rows = []
    for dsname, res in (dtn or {}).items():
        ci = corrected_resampled_ci(res.fold_means(), test_train_ratio=test_train_ratio(res), bounds=(0, 1))
        rows.append(dict(model="DTN", dataset=_DATASET_NAMES.get(dsname, dsname),
                         baseline_pct=100 * res.mean, xflow_pct=nan, p_value=nan,
                         n_folds=res.n_folds, n_seeds=res.n_seeds,
                         baseline_ci_lo_pct=100 * ci.lo, baseline_ci_hi_pct=100 * ci.hi))
    for fam in ("cnnxmlp", "lstm"):
        for dsname, res in results.items():
            def get(var):
                key = (fam, var, "clean" if protocol == "paper-rule" else protocol)
                if key not in res:
                    return None
                return paper_rule(res[key]) if protocol == "paper-rule" else res[key]
            b, x = get("baseline"), get("xflow")
            if b is None or x is None:
                continue
            ratio = test_train_ratio(x)
            t = paired_ttest(x.fold_means(), b.fold_means(), alternative=alternative)
            bc = corrected_resampled_ci(b.fold_means(), test_train_ratio=ratio, bounds=(0, 1))
            xc = corrected_resampled_ci(x.fold_means(), test_train_ratio=ratio, bounds=(0, 1))
            pe = corrected_resampled_effect(x.fold_means(), b.fold_means(), test_train_ratio=ratio)
            rows.append(dict(model=_MODEL_NAMES[fam], dataset=_DATASET_NAMES.get(dsname, dsname),
                             baseline_pct=100 * b.mean, xflow_pct=100 * x.mean,
                             p_value=t.pvalue, n_folds=b.n_folds, n_seeds=b.n_seeds,
                             baseline_ci_lo_pct=100 * bc.lo, baseline_ci_hi_pct=100 * bc.hi,
                             xflow_ci_lo_pct=100 * xc.lo, xflow_ci_hi_pct=100 * xc.hi,
                             diff_pct=100 * pe.mean, diff_lo_pct=100 * pe.lo,
                             diff_hi_pct=100 * pe.hi, p_corrected=pe.p))
    return pd.DataFrame(rows)


def table5_frame(results: dict, *, protocol: str = "clean") -> "pd.DataFrame":
    """Table V: accuracy (%) of XFlow with both kinds of connections and the two ablations,
    each with its corrected resampled 95 % interval across speaker folds (``*_lo`` / ``*_hi``)."""
    import pandas as pd

    from ..metrics.stats import corrected_resampled_ci

    rows = []
    for fam in ("cnnxmlp", "lstm"):
        for dsname, res in results.items():
            row = dict(model=_MODEL_NAMES[fam], dataset=_DATASET_NAMES.get(dsname, dsname))
            for var, col in (("xflow", "both_pct"), ("no_xconns", "no_xconns_pct"),
                             ("no_resconns", "no_resconns_pct")):
                key = (fam, var, "clean" if protocol == "paper-rule" else protocol)
                if key in res:
                    r = paper_rule(res[key]) if protocol == "paper-rule" else res[key]
                    ci = corrected_resampled_ci(r.fold_means(), test_train_ratio=test_train_ratio(r),
                                                bounds=(0, 1))
                    row[col], row[col + "_lo"], row[col + "_hi"] = 100 * ci.mean, 100 * ci.lo, 100 * ci.hi
                else:
                    row[col] = row[col + "_lo"] = row[col + "_hi"] = float("nan")
            if any(np.isfinite(row[c]) for c in ("both_pct", "no_xconns_pct", "no_resconns_pct")):
                rows.append(row)
    return pd.DataFrame(rows)


def xflow_holdout(ds, *, family: str = "lstm", variants=("baseline", "xflow"),
                  protocols=("clean",), epochs: int = 10, batch_size: int = 32, runs: int = 1,
                  downsample: int | dict = 1, val_fraction: float = 0.2, lr: float = 1e-3,
                  time_stride: int = 1, seed: int = 0, device=None, log=None,
                  seeds: Optional[Sequence[int]] = None, lr_schedule: Optional[str] = None) -> dict:
    """Table VI: the hold-out split of Ngiam et al. (:func:`avlib.data.speech.holdout_split`).

    With ``seeds`` (a list) every model is trained once per seed; the result then holds one
    score per seed (:func:`merge_seeds`).

    The validation split of the clean protocol is speaker-wise when train and test speakers
    are disjoint (CUAVE) and a stratified random split otherwise (AVletters "third-test",
    where the same speakers appear in both parts). Returns ``{(family, variant, protocol):
    CVResult}`` with one "fold".
    """
    from ..data.speech import holdout_split

    tr, te = holdout_split(ds)
    disjoint = not np.isin(ds.speakers[tr], ds.speakers[te]).any()
    data = xflow_arrays(ds, family, downsample=downsample, time_stride=time_stride)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, monitor="val_acc", seed=seed,
                      lr_schedule=lr_schedule)
    out = {}
    for var in variants:
        make = xflow_model_factory(family, ds.info.name, var, data, num_classes=ds.info.n_classes)
        for prot in protocols:
            t0 = time.perf_counter()
            out[(family, var, prot)] = res = merge_seeds([holdout(
                make, data, tr, te, config=cfg, protocol=prot, runs=runs,
                speakers=ds.speakers if disjoint else None, val_fraction=val_fraction,
                preprocess=xflow_preprocess(family), seed=int(s), device=device)
                for s in (seeds if seeds is not None else [seed])])
            if log is not None:
                log(f"{ds.info.name} hold-out {family} {var} {prot}: acc {res.mean:.3f} "
                    f"({time.perf_counter() - t0:.0f} s)")
    return out


def train_xflow_model(ds, family: str, variant: str = "xflow", *, epochs: int = 10,
                      batch_size: int = 32, downsample: int | dict = 1, lr: float = 1e-3,
                      val_fraction: float = 0.2, time_stride: int = 1, seed: int = 0,
                      device=None, lr_schedule: Optional[str] = None) -> tuple:
    """Train one model for the analyses (Figs. 9-11) with the clean protocol.

    The first speaker fold is the test part, a speaker-wise validation split of the rest
    selects the epoch. Returns ``(model, inputs, run)``: the trained model (eval mode), the
    standardised inputs of ALL examples as fed to the model (tuple without targets, in
    dataset order) and the :class:`RunResult`.
    """
    from ..data.speech import speaker_folds

    data = xflow_arrays(ds, family, downsample=downsample, time_stride=time_stride)
    tr, te = speaker_folds(ds)[0]
    fit_idx, val_idx = validation_split(tr, speakers=ds.speakers, labels=data[-1],
                                        fraction=val_fraction, seed=seed)
    prep = xflow_preprocess(family)
    train, test, val, everything = prep(subset(data, fit_idx), subset(data, te),
                                        subset(data, val_idx), tuple(data))
    seed_everything(seed)
    model = xflow_model_factory(family, ds.info.name, variant, data,
                                num_classes=ds.info.n_classes)(seed)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, monitor="val_acc", seed=seed,
                      lr_schedule=lr_schedule)
    run = run_fold(model, train, test, config=cfg, protocol="clean", val=val, device=device)
    model.eval()
    return model, tuple(everything[:-1]), run


# ----------------------------------------------------------------------------- convergence
def flattened_epoch(acc, *, window: int = 5, tol: float = 0.01) -> int:
    """First epoch (1-based) from which a validation-accuracy curve has flattened.

    The curve is smoothed with a trailing ``window``-epoch moving average (as the paper's
    Fig. 7); the answer is the first epoch whose smoothed value is within ``tol`` (absolute,
    accuracy in [0, 1]) of the best smoothed value of the whole curve. Used to set the
    ``epochs`` of the cpu presets from measured curves (issue "Fidelity", item 9).
    """
    from ..metrics.stats import moving_average

    a = np.asarray(acc, dtype=float)
    if a.size == 0 or not np.isfinite(a).all():
        raise ParameterError("flattened_epoch needs a non-empty finite curve")
    sm = moving_average(a, window=int(window))
    return int(np.flatnonzero(sm >= sm.max() - float(tol))[0]) + 1


def convergence_curve(ds, family: str, variant: str = "xflow", *, epochs: int = 60,
                      batch_size: int = 128, lr: float = 1e-3, downsample: int | dict = 4,
                      time_stride: int = 2, fold: int = 0, seed: int = 0,
                      val_fraction: float = 0.2, max_train: Optional[int] = None,
                      device=None) -> "pd.DataFrame":
    """Validation/test curves of one clean-protocol run (speaker fold ``fold`` held out).

    Returns the per-epoch history (``epoch, train_loss, train_acc, val_loss, val_acc,
    test_loss, test_acc, seconds``) with columns ``dataset, family, variant, batch_size,
    lr``. ``variant="dtn"`` trains the weakly-shared DTN instead (``family`` ignored).
    """
    import pandas as pd

    from ..data.speech import speaker_folds

    folds = speaker_folds(ds)
    if variant == "dtn":
        res = dtn_crossval(ds, epochs=epochs, pretrain_epochs=max(1, epochs // 5),
                           batch_size=batch_size, lr=lr, downsample=downsample,
                           folds=[folds[fold]], val_fraction=val_fraction, seed=seed,
                           device=device)
        hist = res.runs[0].history
    else:
        data = xflow_arrays(ds, family, downsample=downsample, time_stride=time_stride)
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, monitor="val_acc",
                          seed=seed)
        make = xflow_model_factory(family, ds.info.name, variant, data,
                                   num_classes=ds.info.n_classes)
        res = crossval(make, data, [folds[fold]], config=cfg, protocol="clean",
                       speakers=ds.speakers, val_fraction=val_fraction,
                       preprocess=xflow_preprocess(family), max_train=max_train, seed=seed,
                       device=device)
        hist = res.runs[0].history
    df = pd.DataFrame(hist)
    return df.assign(dataset=ds.info.name, family=family if variant != "dtn" else "dtn",
                     variant=variant, batch_size=batch_size, lr=lr)


def scale_epochs(epochs, factor: float):
    """``epochs`` (an int or a dict as :func:`xflow_crossval` takes it) times ``factor``,
    rounded, at least 1 per model."""
    if isinstance(epochs, dict):
        return {k: max(1, int(round(v * factor))) for k, v in epochs.items()}
    return max(1, int(round(int(epochs) * factor)))


def crossval_from_preset(ds, preset: dict, *, epochs_factor: float = 1.0, log=None) -> dict:
    """:func:`xflow_crossval` of one dataset with the settings of an XFlow preset
    (:func:`xflow_preset`): its variants (the ablations only on ``ablation_datasets``), epochs
    times ``epochs_factor`` (the convergence check runs at ``check_epochs_factor``)."""
    name = ds.info.name
    variants = ["baseline", "xflow"] + (["no_xconns", "no_resconns"] if name in preset["ablation_datasets"] else [])
    return xflow_crossval(ds, families=preset["families"], variants=variants, protocols=preset["protocols"],
                          epochs=scale_epochs(preset["epochs"], epochs_factor), batch_size=preset["batch_size"],
                          runs=preset["runs"], max_folds=preset["max_folds"], downsample=preset["downsample"],
                          time_stride=preset["time_stride"], lr=preset["lr"], carry_over=preset["carry_over"],
                          max_train=preset["max_train"].get(name), seeds=preset["seeds"],
                          n_jobs=preset["n_jobs"], lr_schedule=preset["lr_schedule"], log=log)


def holdout_from_preset(ds, preset: dict, *, epochs_factor: float = 1.0, log=None) -> dict:
    """:func:`xflow_holdout` of the {CNN x MLP}-LSTM baseline and XFlow on one dataset with the
    settings of an XFlow preset, at ``holdout_epochs`` times ``epochs_factor``."""
    return xflow_holdout(ds, family="lstm", variants=("baseline", "xflow"), protocols=("clean",),
                         epochs=scale_epochs(preset["holdout_epochs"], epochs_factor),
                         batch_size=preset["batch_size"]["lstm"], downsample=preset["downsample"],
                         time_stride=preset["time_stride"], lr=preset["lr"]["lstm"],
                         seeds=preset["holdout_seeds"], lr_schedule=preset["lr_schedule"], log=log)


# ----------------------------------------------------------------------------- presets
_ALL_DATASETS = ["avletters", "digits", "cuave"]

#: Per-scale settings of the three XFlow pages (notebook parameters come from here; a page's
#: ``overrides`` parameter replaces single keys). Keys of ``epochs``, ``batch_size``, ``lr``,
#: ``seeds``: ``"<family>/<variant>"`` or ``"<family>"``. ``max_train`` is keyed by dataset.
#: ``changes`` lists every difference from the paper's setting; the pages print it.
XFLOW_PRESETS: dict = {
    "smoke": dict(
        datasets=["digits"], ablation_datasets=["digits"], families=["cnnxmlp", "lstm"],
        protocols=["clean"], max_folds=2, max_train={}, downsample=4, time_stride=2,
        epochs={"cnnxmlp": 2, "lstm": 1}, batch_size={"cnnxmlp": 64, "lstm": 32},
        lr={"cnnxmlp": 3e-3, "lstm": 3e-3}, runs={"cnnxmlp": 1, "lstm": 1},
        seeds={"cnnxmlp": [0, 1], "lstm": [0]}, carry_over=False, n_jobs=1,
        dtn_epochs=1, dtn_pretrain_epochs=1, dtn_downsample=4, dtn_seeds=[0],
        dtn_batch_size=128, dtn_lr=1e-3, curve_dataset="digits",
        holdout_datasets=["cuave"], holdout_epochs=1, holdout_seeds=[0, 1], check_epochs_factor=None,
        analysis_dataset="digits", tsne_epochs=1, residual_epochs=1,
        changes=["smoke test of the pipeline only: 2 folds, 1-2 epochs; numbers meaningless"]),
    "cpu": dict(
        datasets=list(_ALL_DATASETS), ablation_datasets=["avletters"],
        families=["cnnxmlp", "lstm"], protocols=["clean"], max_folds=None,
        max_train={"cuave": 600}, downsample={"avletters": 4, "digits": 6, "cuave": 4}, time_stride=4,
        # Digits pooled by 6 halves its training cost; CUAVE stays at 4 (pooled by 5 or 6 its
        # CNN x MLP XFlow loses more than its baseline on the smaller frames).
        # Speaker folds are the unit of replication, so one training seed per fold; the budget
        # that frees goes to longer trainings (twice the earlier one-cycle epochs) and to the
        # convergence check: every model is trained again at half these epochs
        # (check_epochs_factor) and a claim whose effect moves by more than its interval's
        # half-width between the two is marked "not converged" on the Claims page.
        # With the reference's dropouts (0.25 after both pools, 0.5 in the second 1D->2D residual)
        # the XFlow CNN x MLP variants fit slowly: on AVletters folds 0-1 the variant without
        # residual connections scored 37 % after 20 epochs and 65 % after 60 (baseline 81 %).
        epochs={"avletters/cnnxmlp/baseline": 24, "avletters/cnnxmlp": 40, "avletters/lstm": 30,
                "digits/cnnxmlp": 20, "digits/lstm": 20, "cuave/cnnxmlp": 20, "cuave/lstm": 20,
                "cnnxmlp": 30, "lstm": 24},
        check_epochs_factor=0.5,
        batch_size={"cnnxmlp": 64, "lstm": 64}, lr={"cnnxmlp": 1e-2, "lstm": 1e-2},
        lr_schedule="onecycle", runs={"cnnxmlp": 1, "lstm": 1},
        seeds={"cnnxmlp": [0], "lstm": [0]}, carry_over=False, n_jobs=2,
        dtn_epochs=15, dtn_pretrain_epochs=5, dtn_downsample={"avletters": 4, "digits": 6, "cuave": 4},
        dtn_seeds=[0], dtn_max_folds=2,
        dtn_batch_size=128, dtn_lr=1e-3, curve_dataset="avletters",
        holdout_datasets=["avletters", "cuave"], holdout_epochs=30, holdout_seeds=[0, 1, 2],
        analysis_dataset="digits", tsne_epochs=10, residual_epochs=10,
        changes=[
            "2 CPU cores: every speaker fold (10 / 15 / 9), one training seed per fold (the fold is "
            "the unit of replication), both architectures; a one-cycle learning-rate schedule "
            "(Adam, rate up to 1e-2 over the first 30 % of the steps, then cosine to ~0; batch 64) "
            "for 20-40 epochs per model instead of 300 epochs at 1e-3 (AVletters CNN x MLP: "
            "baseline 24, XFlow variants 40; LSTM 30; Digits and CUAVE 20). Convergence check: every "
            "model is trained again at half these epochs; a claim whose effect moves by more "
            "than its interval's half-width is marked not converged",
            "frames average-pooled: AVletters and CUAVE by 4 (80x60 -> 20x15, 90x120 -> 22x30), "
            "Digits by 6 (90x120 -> 15x20, for the budget); the LSTM models see every 4th frame",
            "CUAVE: at most 600 training clips per fold (a random subset per seed; the test "
            "fold is complete)",
            "clean protocol; the paper's rule is read off the same runs",
            "ablations (Table V) on AVletters only (the cheapest dataset that is not at the "
            "ceiling)",
            "DTN: first 2 speaker folds, 1 seed, 15 epochs",
            "hold-out (Table VI): 3 seeds (the unit on one fixed split), 30 epochs, same schedule, "
            "checked at 15",
            "2 worker processes (one torch thread each)"]),
    "paper": dict(
        datasets=list(_ALL_DATASETS), ablation_datasets=list(_ALL_DATASETS),
        families=["cnnxmlp", "lstm"], protocols=["clean", "paper"], max_folds=None,
        max_train={}, downsample=1, time_stride=1, epochs={"cnnxmlp": 300, "lstm": 300},
        batch_size={"cnnxmlp": 128, "lstm": 32}, lr={"cnnxmlp": 1e-3, "lstm": 1e-3},
        runs={"cnnxmlp": 5, "lstm": 1}, seeds={"cnnxmlp": [0], "lstm": [0]}, carry_over=True,
        check_epochs_factor=None,
        n_jobs=1,
        dtn_epochs=300, dtn_pretrain_epochs=100, dtn_downsample=2, dtn_seeds=[0],
        dtn_batch_size=128, dtn_lr=1e-3, curve_dataset="avletters",
        holdout_datasets=["avletters", "cuave"], holdout_epochs=300, holdout_seeds=[0],
        analysis_dataset="digits", tsne_epochs=300, residual_epochs=300,
        changes=["the paper's settings (DTN image input pooled by 2 for memory)"]),
}


#: Longer cpu trainings (the epochs where the constant-rate validation curves of
#: benchmarks/results/xflow_convergence.csv flatten; several hours on 2 cores): pass as
#: ``overrides`` to the XFlow pages to check a claim that the book's short trainings leave open.
XFLOW_CPU_FULL = dict(
    epochs={"avletters/cnnxmlp/baseline": 65, "avletters/cnnxmlp": 75, "avletters/lstm": 60,
            "digits/cnnxmlp/baseline": 50, "digits/cnnxmlp": 30, "digits/lstm": 60,
            "cuave/cnnxmlp/baseline": 50, "cuave/cnnxmlp": 20, "cuave/lstm": 60,
            "cnnxmlp": 75, "lstm": 60},
    batch_size={"cnnxmlp": 128, "lstm": 64}, lr={"cnnxmlp": 3e-3, "lstm": 3e-3}, lr_schedule=None,
    time_stride=2, max_train={"cuave": 720})


def xflow_preset(scale: str, **overrides) -> dict:
    """A copy of :data:`XFLOW_PRESETS` ``[scale]`` with single keys replaced by ``overrides``
    (an override is also listed in ``changes``)."""
    import copy

    if scale not in XFLOW_PRESETS:
        raise ParameterError(f"unknown scale {scale!r}; valid: {', '.join(XFLOW_PRESETS)}")
    p = copy.deepcopy(XFLOW_PRESETS[scale])
    p.setdefault("lr_schedule", None)
    p.setdefault("dtn_max_folds", p["max_folds"])
    bad = sorted(set(overrides) - set(p))
    if bad:
        raise ParameterError(f"unknown XFlow preset keys {bad}; valid: {sorted(p)}")
    for k, v in overrides.items():
        p[k] = v
        p["changes"].append(f"override {k}={v!r}")
    p["scale"] = scale
    return p
