"""Trainings on one fixed split: the hold-out comparison of Table VI and the models behind
the analyses of Figures 9-11 (Cangea et al., Sec. III-B/C).

* :func:`xflow_holdout`: the {CNN x MLP}-LSTM baseline and XFlow on the hold-out split of
  Ngiam et al. (:func:`avlib.data.speech.holdout_split`), once per training seed;
* :func:`run_holdout`: every dataset of ``holdout.datasets``, with the convergence check,
  as a :class:`HoldoutResults`;
* :func:`train_xflow_model` / :func:`train_for_analysis`: one model trained with the clean
  protocol, the first speaker fold held out, for the analyses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ...config.xflow import XFlowConfig
from ...data.speech import holdout_split, speaker_folds
from ...train.loop import TrainConfig
from ...train.protocols import holdout, merge_seeds, run_fold, subset, validation_split
from ...utils import seed_everything
from .inputs import load_xflow_dataset, xflow_arrays, xflow_model_factory, xflow_preprocess

__all__ = ["xflow_holdout", "HoldoutResults", "run_holdout", "train_xflow_model", "train_for_analysis"]


def xflow_holdout(ds, cfg: XFlowConfig, *, family: str = "lstm", variants: Sequence[str] = ("baseline", "xflow"),
                  protocols: Sequence[str] = ("clean",), epochs_factor: float = 1.0, device=None,
                  log=None) -> dict:
    """Table VI: the hold-out split of Ngiam et al. (:func:`avlib.data.speech.holdout_split`).

    Every variant of ``family`` trains for ``cfg.holdout_epochs(epochs_factor)`` epochs with
    the family's batch size, rate and runs (``cfg.training.<family>``), once per seed of
    ``cfg.holdout.seeds``; the result holds one score per seed (:func:`merge_seeds`). The
    validation split of the clean protocol is speaker-wise when train and test speakers are
    disjoint (CUAVE) and a stratified random split otherwise (AVletters "third-test", where
    the same speakers appear in both parts). Returns ``{(family, variant, protocol):
    CVResult}`` with one "fold".
    """
    tr, te = holdout_split(ds)
    disjoint = not np.isin(ds.speakers[tr], ds.speakers[te]).any()
    data = xflow_arrays(ds, family, downsample=cfg.data.downsample, time_stride=cfg.data.time_stride)
    ft = cfg.training.family(family)
    epochs = cfg.holdout_epochs(epochs_factor)
    config = TrainConfig(epochs=epochs, batch_size=int(ft.batch_size), lr=float(ft.lr), monitor="val_acc",
                         lr_schedule=cfg.training.lr_schedule)
    out = {}
    for var in variants:
        make = xflow_model_factory(family, ds.info.name, var, data, num_classes=ds.info.n_classes)
        for prot in protocols:
            out[(family, var, prot)] = res = merge_seeds([holdout(
                make, data, tr, te, config=config, protocol=prot, runs=int(ft.runs),
                speakers=ds.speakers if disjoint else None, val_fraction=cfg.training.val_fraction,
                preprocess=xflow_preprocess(family), seed=int(s), device=device)
                for s in cfg.holdout.seeds])
            if log is not None:
                log(f"{ds.info.name} hold-out {family} {var} {prot}: acc {res.mean:.3f} ({epochs} epochs)")
    return out


@dataclass
class HoldoutResults:
    """What the hold-out page trained: ``results`` and ``check`` (the convergence check,
    empty without one) map dataset -> ``{(family, variant, protocol): CVResult}``;
    ``sources`` dataset -> source label."""

    results: dict = field(default_factory=dict)
    check: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        return ", ".join(sorted(set(self.sources.values())))


def run_holdout(cfg: XFlowConfig, *, source: str = "embedded", data_root="data", seed: int = 0,
                device=None, log=print) -> HoldoutResults:
    """Table VI on every dataset of ``cfg.holdout.datasets`` (:func:`xflow_holdout` of the
    {CNN x MLP}-LSTM baseline and XFlow), again at ``cfg.training.check_epochs_factor`` of
    the epochs when set (the convergence check). ``seed`` is the data generation seed."""
    out = HoldoutResults()
    factor = cfg.training.check_epochs_factor
    for name in cfg.holdout.datasets:
        ds, out.sources[name] = load_xflow_dataset(name, source=source, data_root=data_root, scale=cfg.scale,
                                                   seed=seed)
        out.results[name] = xflow_holdout(ds, cfg, device=device, log=log)
        if factor:
            out.check[name] = xflow_holdout(ds, cfg, epochs_factor=factor, device=device, log=log)
    return out


def train_xflow_model(ds, family: str, variant: str = "xflow", *, epochs: int = 10,
                      batch_size: int = 32, downsample=1, lr: float = 1e-3,
                      val_fraction: float = 0.2, time_stride: int = 1, seed: int = 0,
                      device=None, lr_schedule: Optional[str] = None) -> tuple:
    """Train one model for the analyses (Figs. 9-11) with the clean protocol.

    The first speaker fold is the test part, a speaker-wise validation split of the rest
    selects the epoch. Returns ``(model, inputs, run)``: the trained model (eval mode), the
    standardised inputs of ALL examples as fed to the model (tuple without targets, in
    dataset order) and the :class:`~avlib.train.protocols.RunResult`.
    """
    data = xflow_arrays(ds, family, downsample=downsample, time_stride=time_stride)
    tr, te = speaker_folds(ds)[0]
    fit_idx, val_idx = validation_split(tr, speakers=ds.speakers, labels=data[-1],
                                        fraction=val_fraction, seed=seed)
    prep = xflow_preprocess(family)
    train, test, val, everything = prep(subset(data, fit_idx), subset(data, te),
                                        subset(data, val_idx), tuple(data))
    seed_everything(seed)
    model = xflow_model_factory(family, ds.info.name, variant, data, num_classes=ds.info.n_classes)(seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, monitor="val_acc", seed=seed,
                         lr_schedule=lr_schedule)
    run = run_fold(model, train, test, config=config, protocol="clean", val=val, device=device)
    model.eval()
    return model, tuple(everything[:-1]), run


def train_for_analysis(ds, cfg: XFlowConfig, family: str, *, seed: int = 0, device=None) -> tuple:
    """The XFlow model of ``family`` behind the analyses: the CNN x MLP for the t-SNE of Fig. 9
    (``cfg.analysis.tsne_epochs``), the {CNN x MLP}-LSTM for the residual connection of Figs.
    10-11 (``cfg.analysis.residual_epochs``); batch size and rate of ``cfg.training.<family>``.
    Returns what :func:`train_xflow_model` returns."""
    ft = cfg.training.family(family)
    epochs = cfg.analysis.tsne_epochs if family == "cnnxmlp" else cfg.analysis.residual_epochs
    return train_xflow_model(ds, family, "xflow", epochs=epochs, batch_size=int(ft.batch_size),
                             downsample=cfg.data.downsample, lr=float(ft.lr),
                             val_fraction=cfg.training.val_fraction, time_stride=cfg.data.time_stride,
                             seed=seed, device=device, lr_schedule=cfg.training.lr_schedule)
