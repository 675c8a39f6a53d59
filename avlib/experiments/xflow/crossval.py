"""Speaker-wise cross-validation of the XFlow models and the DTN (Cangea et al., Tables IV-V,
Figures 7-8).

* :func:`xflow_crossval`: every (family, variant, protocol, seed) of one dataset, with the
  settings of an :class:`~avlib.config.xflow.XFlowConfig`, optionally in worker processes;
* :func:`dtn_crossval`: the weakly-shared DTN of Table IV (:func:`dtn_from_config` with the
  configuration's settings);
* :func:`run_crossval`: the whole page: every dataset of ``crossval.datasets``, the
  convergence check (every model again at ``training.check_epochs_factor`` of its epochs,
  on every ``training.check_fold_step``-th fold) and the DTN, as a :class:`CrossvalResults`;
  its runs are stored under ``<data_root>/cache/xflow/runs/<dataset>`` and read back on a
  rerun, and a run in progress resumes from its checkpoint;
* :func:`convergence_curve`: the per-epoch curves of one clean run (to choose epochs).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ...config.xflow import XFlowConfig
from ...data.speech import speaker_folds
from ...models.dtn import DTNLoss, WeaklySharedDTN, pretrain_autoencoders
from ...paths import cache_root
from ...train.loop import TrainConfig
from ...train.parallel import run_tasks
from ...train.protocols import (CVResult, check_protocol, crossval, merge_seeds, paper_rule, run_fold, select_folds,
                                subset, validation_split)
from ...utils import seed_everything
from .inputs import load_xflow_dataset, xflow_arrays, xflow_model_factory, xflow_preprocess

__all__ = [
    "data_key",
    "job_key",
    "xflow_crossval",
    "crossval_job",
    "dtn_crossval",
    "dtn_from_config",
    "CrossvalResults",
    "run_crossval",
    "convergence_curve",
]


def data_key(data, folds, speakers=None) -> str:
    """A hash of the arrays a cross-validation trains on, its folds and speakers (content only)."""
    h = hashlib.sha1()
    for t in data:
        a = t.numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    for tr, te in folds:
        h.update(np.asarray(tr, np.int64).tobytes() + b"|" + np.asarray(te, np.int64).tobytes())
    if speakers is not None:
        h.update("|".join(map(str, speakers)).encode())
    return h.hexdigest()[:16]


def job_key(job: dict) -> str:
    """The stored runs' name of one cross-validation job: its data key and every setting."""
    fields = {k: v for k, v in job.items() if k not in ("data", "folds", "speakers", "device", "store_dir")}
    fields["config"] = dataclasses.asdict(fields["config"])
    return hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def xflow_crossval(ds, cfg: XFlowConfig, *, variants: Optional[Sequence[str]] = None,
                   epochs_factor: float = 1.0, folds=None, fold_ids=None, device=None, log=None,
                   store_dir=None) -> dict:
    """Cross-validate the XFlow models on one dataset (Tables IV-V).

    Runs every family of ``cfg.crossval.families``, every variant of ``variants`` (default:
    :meth:`~avlib.config.xflow.CrossvalSettings.variants`, the ablations only on the ablation
    datasets) under every protocol of ``cfg.crossval.protocols``, once per training seed of
    the family (``cfg.training.<family>.seeds``) on the same speaker folds. Each model trains
    for ``cfg.epochs(dataset, family, variant, epochs_factor)`` epochs. Returns
    ``{(family, variant, protocol): CVResult}`` with the seeds merged
    (:func:`~avlib.train.protocols.merge_seeds`). The clean results also carry the paper's
    selection rule on the same runs (:func:`~avlib.train.protocols.paper_rule`). ``log`` is
    called with a line per finished configuration.

    With ``cfg.training.workers > 1`` the (family, variant, protocol, seed) cross-validations
    run in that many worker processes, one torch thread each (:func:`avlib.train.parallel.run_tasks`);
    each job is seeded by its own seed only, so the numbers are the same for every
    ``workers > 1``; in-process (``workers=1``) the caller's thread count is used.

    ``store_dir``: every finished run is kept there (named by :func:`job_key`, which hashes
    the data, folds, model, configuration and seed) and read back instead of trained again, and
    a run in progress resumes from its per-epoch checkpoint (:func:`avlib.train.protocols.crossval`).
    """
    name = ds.info.name
    variants = cfg.crossval.variants(name) if variants is None else list(variants)
    folds = folds if folds is not None else speaker_folds(ds)
    t = cfg.training
    jobs, meta = [], []
    for fam in cfg.crossval.families:
        data = xflow_arrays(ds, fam, downsample=cfg.data.downsample, time_stride=cfg.data.time_stride)
        dkey = data_key(data, folds, ds.speakers) if store_dir is not None else None
        ft = t.family(fam)
        for var in variants:
            ep = cfg.epochs(name, fam, var, epochs_factor)
            config = TrainConfig(epochs=ep, batch_size=int(ft.batch_size), lr=float(ft.lr), monitor="val_acc",
                                 lr_schedule=t.lr_schedule)
            for prot in cfg.crossval.protocols:
                meta.append(((fam, var, prot), len(ft.seeds), ep))
                for s in ft.seeds:
                    jobs.append(dict(family=fam, dataset=name, variant=var, num_classes=ds.info.n_classes,
                                     data=data, folds=folds, config=config, protocol=prot, runs=int(ft.runs),
                                     speakers=ds.speakers, val_fraction=t.val_fraction,
                                     carry_over=cfg.crossval.carry_over and prot == "paper",
                                     max_folds=cfg.crossval.max_folds, max_train=cfg.data.max_train.of(name),
                                     seed=int(s), device=device, fold_ids=fold_ids,
                                     checkpoint_runs=bool(t.checkpoint_runs),
                                     **({"data_key": dkey, "store_dir": str(store_dir)} if store_dir else {})))
    t0 = time.perf_counter()
    done = run_tasks(crossval_job, jobs, workers=t.workers, threads=1)
    out, k = {}, 0
    for key, n, ep in meta:
        res = merge_seeds(done[k:k + n])
        k += n
        out[key] = res
        if log is not None:
            extra = (f"; paper rule {paper_rule(res).mean:.3f}" if key[2] == "clean" else "")
            log(f"{name} {key[0]} {key[1]} {key[2]}: mean acc {res.mean:.3f} over "
                f"{res.n_folds} folds x {res.n_seeds} seeds{extra} ({ep} epochs)")
    if log is not None:
        log(f"{name}: {len(jobs)} cross-validations in {time.perf_counter() - t0:.0f} s "
            f"({max(1, int(t.workers))} process(es))")
    return out


def crossval_job(job: dict) -> CVResult:
    """One seed's cross-validation of one model (a task of :func:`xflow_crossval`)."""
    job = dict(job)
    if job.get("store_dir"):
        job["store_key"] = job_key(job)
    job.pop("data_key", None)
    data = job.pop("data")
    make = xflow_model_factory(job.pop("family"), job.pop("dataset"), job.pop("variant"), data,
                               num_classes=job.pop("num_classes"))
    prep = xflow_preprocess("lstm" if len(data) == 4 else "cnnxmlp")
    return crossval(make, data, job.pop("folds"), preprocess=prep, **job)


def dtn_crossval(ds, *, epochs: int = 10, pretrain_epochs: int = 10, batch_size: int = 128,
                 lr: float = 1e-3, eta: float = 1e-6, gamma: float = 1e-2,
                 protocol: str = "clean", downsample=2, max_folds: Optional[int] = None,
                 val_fraction: float = 0.2, seed: int = 0, device=None, folds=None,
                 seeds: Optional[Sequence[int]] = None, lr_schedule: Optional[str] = None) -> CVResult:
    """Cross-validate the weakly-shared DTN (Table IV) on the CNN x MLP inputs.

    With ``seeds`` (a list) the cross-validation runs once per seed (:func:`merge_seeds`).
    Per fold a fresh DTN is built, its first two layers per stream are pre-trained as
    autoencoders on the fold's training inputs only, then it is trained with
    :class:`avlib.models.dtn.DTNLoss` (``eta``, ``gamma`` of the XFlow paper).
    """
    if seeds is not None:
        return merge_seeds([dtn_crossval(ds, epochs=epochs, pretrain_epochs=pretrain_epochs,
                                         batch_size=batch_size, lr=lr, eta=eta, gamma=gamma,
                                         protocol=protocol, downsample=downsample,
                                         max_folds=max_folds, val_fraction=val_fraction,
                                         seed=int(s), device=device, folds=folds,
                                         lr_schedule=lr_schedule)
                            for s in seeds])
    check_protocol(protocol)
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
        model = WeaklySharedDTN(int(data[1][0].numel()), int(data[0][0].numel()), ds.info.n_classes)
        pretrain_autoencoders(model, train[0], train[1], epochs=pretrain_epochs,
                              batch_size=batch_size, device=device, seed=run_seed)
        runs.append(run_fold(model, train, test, config=cfg, protocol=protocol, val=val, fold=k,
                             device=device, loss_fn=DTNLoss(model, eta=eta, gamma=gamma)))
        runs[-1].base_seed = int(seed)
    return CVResult(protocol=protocol, runs=runs, chosen=list(runs))


def dtn_from_config(ds, cfg: XFlowConfig, *, device=None) -> CVResult:
    """:func:`dtn_crossval` of one dataset with the settings of ``cfg.dtn`` (clean protocol,
    constant learning rate)."""
    d = cfg.dtn
    return dtn_crossval(ds, epochs=d.epochs, pretrain_epochs=d.pretrain_epochs, batch_size=d.batch_size,
                        lr=d.lr, eta=d.eta, gamma=d.gamma, downsample=d.downsample, max_folds=d.max_folds,
                        val_fraction=cfg.training.val_fraction, seeds=d.seeds, device=device)


@dataclass
class CrossvalResults:
    """What the cross-validation page trained: ``results`` and ``check`` (the convergence
    check, empty without one) map dataset -> ``{(family, variant, protocol): CVResult}``,
    ``check_folds`` dataset -> the numbers of the folds the check trained, ``dtn`` maps
    dataset -> the DTN's CVResult, ``sources`` dataset -> source label."""

    results: dict = field(default_factory=dict)
    check: dict = field(default_factory=dict)
    check_folds: dict = field(default_factory=dict)
    dtn: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)

    def matched(self) -> dict:
        """``results`` restricted to the folds of the convergence check (:func:`select_folds`):
        the full-length side of the check's comparison."""
        return {name: {key: select_folds(r, self.check_folds[name]) for key, r in self.results[name].items()}
                for name in self.check}

    @property
    def source(self) -> str:
        """The source label of the caption (one label, or all of them)."""
        labels = list(self.sources.values())
        return labels[0] if len(set(labels)) == 1 else ", ".join(labels)


def run_crossval(cfg: XFlowConfig, *, source: str = "embedded", data_root="data", seed: int = 0,
                 device=None, log=print) -> CrossvalResults:
    """Tables IV-V: every dataset of ``cfg.crossval.datasets`` cross-validated
    (:func:`xflow_crossval`), again at ``cfg.training.check_epochs_factor`` of the epochs when
    set (the convergence check, on every ``cfg.training.check_fold_step``-th speaker fold with
    the folds' own numbers, so its runs are those folds' runs of a full check), and the DTN
    (:func:`dtn_from_config`). ``seed`` is the data generation seed of the embedded stand-ins."""
    out = CrossvalResults()
    factor = cfg.training.check_epochs_factor
    for name in cfg.crossval.datasets:
        ds, out.sources[name] = load_xflow_dataset(name, source=source, data_root=data_root, scale=cfg.scale,
                                                   seed=seed)
        if log is not None:
            log(f"{name}: {len(ds)} clips, {len(set(ds.speakers))} speakers, {ds.info.n_classes} classes")
        store = Path(cache_root(data_root)) / "xflow" / "runs" / name
        out.results[name] = xflow_crossval(ds, cfg, device=device, log=log, store_dir=store)
        if factor:
            folds = list(speaker_folds(ds))[: cfg.crossval.max_folds or None]
            ids = list(range(0, len(folds), max(1, int(cfg.training.check_fold_step))))
            out.check_folds[name] = ids
            out.check[name] = xflow_crossval(ds, cfg, epochs_factor=factor, folds=[folds[i] for i in ids],
                                             fold_ids=ids, device=device, log=log, store_dir=store)
        out.dtn[name] = dtn_from_config(ds, cfg, device=device)
        if log is not None:
            log(f"{name} DTN: mean acc {out.dtn[name].mean:.3f}")
    return out


def convergence_curve(ds, family: str, variant: str = "xflow", *, epochs: int = 60,
                      batch_size: int = 128, lr: float = 1e-3, downsample=4,
                      time_stride: int = 2, fold: int = 0, seed: int = 0,
                      val_fraction: float = 0.2, max_train: Optional[int] = None,
                      device=None) -> pd.DataFrame:
    """Validation/test curves of one clean-protocol run (speaker fold ``fold`` held out).

    Returns the per-epoch history (``epoch, train_loss, train_acc, val_loss, val_acc,
    test_loss, test_acc, seconds``) with columns ``dataset, family, variant, batch_size,
    lr``. ``variant="dtn"`` trains the weakly-shared DTN instead (``family`` ignored).
    """
    folds = speaker_folds(ds)
    if variant == "dtn":
        res = dtn_crossval(ds, epochs=epochs, pretrain_epochs=max(1, epochs // 5),
                           batch_size=batch_size, lr=lr, downsample=downsample,
                           folds=[folds[fold]], val_fraction=val_fraction, seed=seed,
                           device=device)
    else:
        data = xflow_arrays(ds, family, downsample=downsample, time_stride=time_stride)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, monitor="val_acc", seed=seed)
        make = xflow_model_factory(family, ds.info.name, variant, data, num_classes=ds.info.n_classes)
        res = crossval(make, data, [folds[fold]], config=config, protocol="clean",
                       speakers=ds.speakers, val_fraction=val_fraction,
                       preprocess=xflow_preprocess(family), max_train=max_train, seed=seed,
                       device=device)
    df = pd.DataFrame(res.runs[0].history)
    return df.assign(dataset=ds.info.name, family=family if variant != "dtn" else "dtn",
                     variant=variant, batch_size=batch_size, lr=lr)
