"""Configuration of the XFlow experiments (Cangea, Veličković, Liò, IEEE TNNLS 2019: Tables III-VI,
Figures 7-11).

One frozen object describes the three XFlow pages::

    cfg = XFlowConfig.for_scale("cpu").with_overrides({"training.epochs.avletters.cnnxmlp.baseline": 3})

The dataclass defaults are the paper's settings (Sec. III-A/B: speaker-wise cross-validation,
300 epochs, Adam at 1e-3, batch 128 for the CNN x MLP and 32 for the {CNN x MLP}-LSTM, the
best of five runs per fold for the CNN x MLP; the DTN as configured in Sec. III-A.3).
``SCALES`` holds the dotted overrides of the smaller scales and ``NOTES`` says in a few
sentences what they change.

Per-model settings are nested sections, never keys with slashes:

* ``training.epochs.<dataset>.<family>.<variant>``: the epochs of one model (datasets
  ``avletters``, ``digits``, ``cuave``; families ``cnnxmlp``, ``lstm``; variants ``baseline``,
  ``xflow``, ``no_xconns``, ``no_resconns``), every one of the 24 written out;
* ``training.<family>.{batch_size, lr, runs, seeds}``: per family;
* ``data.downsample.<dataset>``, ``data.max_train.<dataset>``, ``dtn.downsample.<dataset>``.

A ``*`` in a dotted key stands for every section at its level that has the rest of the
key, and a key with fewer ``*`` wins over one with more::

    {"training.epochs.*.*.*": 3}                        # every model
    {"training.epochs.avletters.cnnxmlp.*": 40,         # the AVletters CNN x MLP models ...
     "training.epochs.avletters.cnnxmlp.baseline": 24}  # ... but its baseline
    {"training.*.seeds": [0, 1]}                        # both families
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

from ..errors import ParameterError
from .base import Config, flatten

__all__ = [
    "DATASETS",
    "FAMILIES",
    "VARIANT_NAMES",
    "PerDataset",
    "PerDatasetLimit",
    "VariantEpochs",
    "FamilyEpochs",
    "Epochs",
    "FamilyTraining",
    "DataSettings",
    "TrainingSettings",
    "CrossvalSettings",
    "DTNSettings",
    "HoldoutSettings",
    "AnalysisSettings",
    "XFlowConfig",
    "expand_wildcards",
    "CPU_FULL",
]

#: The three datasets, the two model families and the four variants of the paper.
DATASETS = ("avletters", "digits", "cuave")
FAMILIES = ("cnnxmlp", "lstm")
VARIANT_NAMES = ("baseline", "xflow", "no_xconns", "no_resconns")


def _check_name(value: str, valid, what: str) -> str:
    key = str(value).lower()
    if key not in valid:
        raise ParameterError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return key


@dataclass(frozen=True)
class PerDataset:
    """One integer per dataset (frame pooling factors)."""

    avletters: int = 1
    digits: int = 1
    cuave: int = 1

    def of(self, dataset: str) -> int:
        return getattr(self, _check_name(dataset, DATASETS, "dataset"))


@dataclass(frozen=True)
class PerDatasetLimit:
    """An optional integer per dataset (None: no limit)."""

    avletters: Optional[int] = None
    digits: Optional[int] = None
    cuave: Optional[int] = None

    def of(self, dataset: str) -> Optional[int]:
        return getattr(self, _check_name(dataset, DATASETS, "dataset"))


@dataclass(frozen=True)
class VariantEpochs:
    """Training epochs of each variant of one family on one dataset (the paper: 300)."""

    baseline: int = 300
    xflow: int = 300
    no_xconns: int = 300
    no_resconns: int = 300


@dataclass(frozen=True)
class FamilyEpochs:
    cnnxmlp: VariantEpochs = field(default_factory=VariantEpochs)
    lstm: VariantEpochs = field(default_factory=VariantEpochs)


@dataclass(frozen=True)
class Epochs:
    """``epochs.<dataset>.<family>.<variant>``: the epochs of every model, written out."""

    avletters: FamilyEpochs = field(default_factory=FamilyEpochs)
    digits: FamilyEpochs = field(default_factory=FamilyEpochs)
    cuave: FamilyEpochs = field(default_factory=FamilyEpochs)

    def of(self, dataset: str, family: str, variant: str) -> int:
        fam = getattr(getattr(self, _check_name(dataset, DATASETS, "dataset")),
                      _check_name(family, FAMILIES, "family"))
        return getattr(fam, _check_name(variant, VARIANT_NAMES, "variant"))

    def as_dict(self) -> dict:
        """``{(dataset, family, variant): epochs}`` of all 24 models."""
        return {(d, f, v): self.of(d, f, v) for d in DATASETS for f in FAMILIES for v in VARIANT_NAMES}


@dataclass(frozen=True)
class FamilyTraining:
    """Training of one family: ``batch_size``, Adam's ``lr``, ``runs`` per fold (the best is
    kept: the validation accuracy chooses under the clean protocol, the test accuracy under
    the paper's) and the cross-validation's training ``seeds`` (each seed repeats the whole
    cross-validation on the same folds)."""

    batch_size: int = 128
    lr: float = 1e-3
    runs: int = 1
    seeds: Tuple[int, ...] = (0,)


@dataclass(frozen=True)
class DataSettings:
    """Model inputs: frames average-pooled by ``downsample.<dataset>``; the LSTM models see
    every ``time_stride``-th frame; at most ``max_train.<dataset>`` training clips per fold (a
    random subset per seed; the test fold is never cut). The paper: full frames, every frame,
    every clip."""

    downsample: PerDataset = field(default_factory=PerDataset)
    time_stride: int = 1
    max_train: PerDatasetLimit = field(default_factory=PerDatasetLimit)


@dataclass(frozen=True)
class TrainingSettings:
    """How every XFlow model is trained (cross-validation, hold-out and the analysis models).

    ``lr_schedule``: None (constant rate, the paper) or ``"onecycle"``
    (:class:`avlib.train.loop.TrainConfig`); ``val_fraction``: the share of the training
    speakers that selects the epoch under the clean protocol; ``check_epochs_factor``: the
    convergence check trains every model again at this fraction of its epochs (None: no
    check) on every ``check_fold_step``-th speaker fold of the cross-validation (1: all),
    compared with the same folds at full length; ``checkpoint_runs``: every run checkpoints each
    epoch and resumes from it (finished runs are stored either way); ``workers``: processes for the independent
    cross-validations (one torch thread each when more than one; the numbers do not depend on
    it beyond that).
    """

    cnnxmlp: FamilyTraining = field(default_factory=lambda: FamilyTraining(batch_size=128, runs=5))
    lstm: FamilyTraining = field(default_factory=lambda: FamilyTraining(batch_size=32, runs=1))
    epochs: Epochs = field(default_factory=Epochs)
    lr_schedule: Optional[str] = None
    val_fraction: float = 0.2
    check_epochs_factor: Optional[float] = None
    check_fold_step: int = 1
    checkpoint_runs: bool = True
    workers: int = 1

    def family(self, family: str) -> FamilyTraining:
        return getattr(self, _check_name(family, FAMILIES, "family"))


@dataclass(frozen=True)
class CrossvalSettings:
    """Tables IV-V and Figures 7-8: the ``datasets`` cross-validated, the ``families``, the
    ablations (Table V) on ``ablation_datasets``, the ``protocols`` (``"clean"`` and the
    paper's own ``"paper"``), the first ``max_folds`` speaker folds (None: all), ``carry_over``
    (the paper protocol does not re-initialise the model between folds, as the reference
    code) and the dataset of the per-epoch curves (``curve_dataset``)."""

    datasets: Tuple[str, ...] = DATASETS
    families: Tuple[str, ...] = FAMILIES
    ablation_datasets: Tuple[str, ...] = DATASETS
    protocols: Tuple[str, ...] = ("clean", "paper")
    max_folds: Optional[int] = None
    carry_over: bool = True
    curve_dataset: str = "avletters"

    def variants(self, dataset: str) -> list:
        """The variants cross-validated on ``dataset``: the ablations only on the ablation datasets."""
        return ["baseline", "xflow"] + (["no_xconns", "no_resconns"] if dataset in self.ablation_datasets else [])


@dataclass(frozen=True)
class DTNSettings:
    """The weakly-shared DTN of Table IV (Sec. III-A.3): ``pretrain_epochs`` of autoencoder
    pre-training, then ``epochs`` at ``lr`` and ``batch_size`` with the loss weights ``eta``,
    ``gamma``; its image input at half resolution (``downsample`` 2, 11 x 40 x 30 values for
    AVletters); ``seeds``; the first ``max_folds`` speaker folds (None: all)."""

    epochs: int = 300
    pretrain_epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    eta: float = 1e-6
    gamma: float = 1e-2
    downsample: PerDataset = field(default_factory=lambda: PerDataset(2, 2, 2))
    seeds: Tuple[int, ...] = (0,)
    max_folds: Optional[int] = None


@dataclass(frozen=True)
class HoldoutSettings:
    """Table VI: the {CNN x MLP}-LSTM baseline and XFlow on the hold-out splits of Ngiam et al.
    (``datasets``), ``epochs`` each, once per training seed of ``seeds`` (batch size and rate
    of ``training.lstm``)."""

    datasets: Tuple[str, ...] = ("avletters", "cuave")
    epochs: int = 300
    seeds: Tuple[int, ...] = (0,)


@dataclass(frozen=True)
class AnalysisSettings:
    """Figures 9-11: models trained on ``dataset`` (first speaker fold held out): the CNN x MLP
    XFlow for the t-SNE of Fig. 9 (``tsne_epochs``) and the {CNN x MLP}-LSTM XFlow for the
    residual connection of Figs. 10-11 (``residual_epochs``), ``n_kernels`` of whose
    deconvolution kernels are shown (one example each)."""

    dataset: str = "digits"
    tsne_epochs: int = 300
    residual_epochs: int = 300
    n_kernels: int = 6


def expand_wildcards(config, overrides: Mapping[str, Any] | None) -> dict:
    """Flat dotted overrides with every ``*`` expanded over ``config``'s sections.

    A ``*`` matches every field at its level under which the rest of the key exists. Keys
    are applied from the most general (most ``*``) to the most specific, so a specific key
    wins; the same concrete key given twice is an error.
    """
    flat: list = []
    for key, value in (overrides or {}).items():
        if not isinstance(key, str) or not key:
            raise ParameterError(f"configuration keys are non-empty strings, not {key!r}")
        if isinstance(value, Mapping):
            flat.extend((f"{key}.{k}", v) for k, v in flatten(value).items())
        else:
            flat.append((key, value))
    explicit = [k for k, _ in flat if "*" not in k]
    twice = sorted({k for k in explicit if explicit.count(k) > 1})
    if twice:
        raise ParameterError(f"configuration key {twice[0]!r} is given twice")
    out: dict = {}
    for key, value in sorted(flat, key=lambda kv: -kv[0].count("*")):
        targets = _expand(config, key.split("."), key) if "*" in key else [key]
        for t in targets:
            out[t] = value
    return out


def _expand(node, parts, key) -> list:
    if not parts:
        return [""]
    head, rest = parts[0], parts[1:]
    if not (dataclasses.is_dataclass(node) and not isinstance(node, type)):
        raise ParameterError(f"configuration key {key!r}: {head!r} is below a plain value")
    names = [f.name for f in dataclasses.fields(node)]
    if head != "*":
        if head not in names:
            raise ParameterError(f"configuration key {key!r}: no section or key {head!r} "
                                 f"(valid here: {', '.join(names)})")
        return [f"{head}.{t}" if t else head for t in _expand(getattr(node, head), rest, key)]
    out = []
    for name in names:
        child = getattr(node, name)
        try:
            tails = _expand(child, rest, key)
        except ParameterError:
            continue
        out.extend(f"{name}.{t}" if t else name for t in tails)
    if not out:
        raise ParameterError(f"configuration key {key!r}: '*' matches nothing")
    return out


@dataclass(frozen=True)
class XFlowConfig(Config):
    """Every setting of the three XFlow pages (Tables III-VI, Figures 7-11); the defaults are
    the paper's.

    Top level: ``scale``; ``torch_threads`` (intra-op threads of a page, applied by
    :func:`avlib.train.parallel.use_threads`). Sections: ``data`` (input sizes), ``training``
    (per-model epochs, per-family batch size / rate / runs / seeds, schedule, convergence
    check, worker processes), ``crossval`` (Tables IV-V, Figs. 7-8), ``dtn`` (the DTN row of
    Table IV), ``holdout`` (Table VI) and ``analysis`` (Figs. 9-11). See the module docstring
    for the dotted keys and the ``*`` wildcard.
    """

    scale: str = "paper"
    torch_threads: int = 2
    data: DataSettings = field(default_factory=DataSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    crossval: CrossvalSettings = field(default_factory=CrossvalSettings)
    dtn: DTNSettings = field(default_factory=DTNSettings)
    holdout: HoldoutSettings = field(default_factory=HoldoutSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    SCALES = {
        "paper": {},
        "cpu": {
            "data.downsample.avletters": 4,
            # Digits pooled by 6 halves its training cost; CUAVE stays at 4 (pooled by 5 or 6
            # its CNN x MLP XFlow loses more than its baseline on the smaller frames).
            "data.downsample.digits": 6,
            "data.downsample.cuave": 4,
            "data.time_stride": 4,
            "data.max_train.cuave": 600,
            # Epochs where the one-cycle validation curves settle. With the reference's
            # dropouts the XFlow CNN x MLP variants fit slowly on AVletters, hence 40 there.
            "training.epochs.*.*.*": 20,
            "training.epochs.avletters.cnnxmlp.*": 40,
            "training.epochs.avletters.cnnxmlp.baseline": 24,
            "training.epochs.avletters.lstm.*": 30,
            "training.*.batch_size": 64,
            "training.*.lr": 1e-2,
            "training.*.runs": 1,
            "training.lr_schedule": "onecycle",
            "training.check_epochs_factor": 0.5,
            "training.check_fold_step": 2,
            "training.checkpoint_runs": False,
            "training.workers": 2,
            "crossval.ablation_datasets": ["avletters"],
            "crossval.protocols": ["clean"],
            "crossval.carry_over": False,
            "dtn.epochs": 15,
            "dtn.pretrain_epochs": 5,
            "dtn.downsample.avletters": 4,
            "dtn.downsample.digits": 6,
            "dtn.downsample.cuave": 4,
            "dtn.max_folds": 2,
            "holdout.epochs": 30,
            "holdout.seeds": [0, 1, 2],
            "analysis.tsne_epochs": 10,
            "analysis.residual_epochs": 10,
        },
        "smoke": {
            "data.downsample.*": 4,
            "data.time_stride": 2,
            "training.epochs.*.cnnxmlp.*": 2,
            "training.epochs.*.lstm.*": 1,
            "training.checkpoint_runs": False,
            "training.cnnxmlp.batch_size": 64,
            "training.*.lr": 3e-3,
            "training.*.runs": 1,
            "training.cnnxmlp.seeds": [0, 1],
            "crossval.datasets": ["digits"],
            "crossval.ablation_datasets": ["digits"],
            "crossval.protocols": ["clean"],
            "crossval.max_folds": 2,
            "crossval.carry_over": False,
            "crossval.curve_dataset": "digits",
            "dtn.epochs": 1,
            "dtn.pretrain_epochs": 1,
            "dtn.downsample.*": 4,
            "dtn.max_folds": 2,
            "holdout.datasets": ["cuave"],
            "holdout.epochs": 1,
            "holdout.seeds": [0, 1],
            "analysis.tsne_epochs": 1,
            "analysis.residual_epochs": 1,
        },
    }

    DRY_RUN = {
        "training.epochs.*.*.*": 1,
        "training.*.runs": 1,
        "training.*.batch_size": 2,
        "dtn.batch_size": 2,
        "crossval.max_folds": 2,
        "dtn.epochs": 1,
        "dtn.pretrain_epochs": 1,
        "dtn.max_folds": 1,
        "holdout.epochs": 1,
        "analysis.tsne_epochs": 1,
        "analysis.residual_epochs": 1,
    }

    NOTES = {
        "cpu": (
            "Sized for two CPU cores. Every speaker fold runs, with one training seed per fold (the "
            "fold is the unit of replication), for both architectures. Each model trains for 20 to 40 "
            "epochs with a one-cycle learning rate (Adam up to 1e-2, batch 64) instead of 300 epochs "
            "at 1e-3, and is trained again at half its epochs on every other speaker fold as a convergence "
            "check (compared with the same folds at full length). Frames are "
            "average-pooled by 4 (Digits by 6), the LSTM models see every 4th frame, and CUAVE trains "
            "on at most 600 clips per fold. The clean protocol runs and the paper's selection rule is "
            "read off the same runs. Ablations on AVletters only; the DTN on the first 2 folds for 15 "
            "epochs; the hold-out split on 3 seeds for 30 epochs; two worker processes."
        ),
        "smoke": (
            "A test of the pipeline only: Digits (CUAVE for the hold-out split), 2 speaker folds, 1 or "
            "2 epochs, frames pooled by 4. The numbers mean nothing."
        ),
    }

    def with_overrides(self, overrides: Mapping[str, Any] | None = None):
        """A copy with dotted ``overrides`` applied; ``*`` expands as the module docstring says."""
        return super().with_overrides(expand_wildcards(self, overrides))

    # ------------------------------------------------------------------ reading
    def epochs(self, dataset: str, family: str, variant: str, factor: float = 1.0) -> int:
        """Epochs of one model, times ``factor`` (rounded, at least 1) for the convergence check."""
        ep = self.training.epochs.of(dataset, family, variant)
        return ep if factor == 1.0 else max(1, int(round(ep * float(factor))))

    def holdout_epochs(self, factor: float = 1.0) -> int:
        """Epochs of the hold-out models, times ``factor`` (rounded, at least 1)."""
        ep = self.holdout.epochs
        return ep if factor == 1.0 else max(1, int(round(ep * float(factor))))

    def training_seeds(self) -> list:
        """Every training seed of the cross-validation (all families), sorted: the captions name them."""
        return sorted({int(s) for f in self.crossval.families for s in self.training.family(f).seeds})

    def summary(self) -> str:
        """One line per section with the values a reader checks first."""
        t, cv = self.training, self.crossval
        ep = sorted(set(t.epochs.as_dict().values()))
        return "\n".join([
            f"scale {self.scale}: {self.note() or 'the paper settings'}",
            f"cross-validation on {', '.join(cv.datasets)} (ablations on {', '.join(cv.ablation_datasets) or 'none'}), "
            f"protocols {', '.join(cv.protocols)}, folds {cv.max_folds or 'all'}",
            f"epochs {ep[0]}-{ep[-1]} per model, lr schedule {t.lr_schedule or 'constant'}, convergence check "
            f"{'at ' + format(t.check_epochs_factor, 'g') + ' x the epochs' if t.check_epochs_factor else 'off'}"
            f"{', every ' + str(t.check_fold_step) + 'nd fold' if t.check_epochs_factor and t.check_fold_step == 2 else ''}"
            f"{', every ' + str(t.check_fold_step) + 'th fold' if t.check_epochs_factor and t.check_fold_step > 2 else ''}",
            "; ".join(f"{f}: batch {t.family(f).batch_size}, lr {t.family(f).lr:g}, runs {t.family(f).runs}, "
                      f"seeds {list(t.family(f).seeds)}" for f in FAMILIES),
            f"hold-out on {', '.join(self.holdout.datasets)}: {self.holdout.epochs} epochs, seeds {list(self.holdout.seeds)}; "
            f"analyses on {self.analysis.dataset}",
        ])


#: Longer cpu trainings (where the constant-rate validation curves of
#: ``benchmarks/results/xflow_convergence.csv`` flatten; several hours on two cores), as
#: dotted overrides of the cpu configuration: ``XFlowConfig.for_scale("cpu").with_overrides(CPU_FULL)``.
CPU_FULL = {
    "training.epochs.*.cnnxmlp.*": 75,
    "training.epochs.*.lstm.*": 60,
    "training.epochs.avletters.cnnxmlp.baseline": 65,
    "training.epochs.digits.cnnxmlp.*": 30,
    "training.epochs.digits.cnnxmlp.baseline": 50,
    "training.epochs.cuave.cnnxmlp.*": 20,
    "training.epochs.cuave.cnnxmlp.baseline": 50,
    "training.cnnxmlp.batch_size": 128,
    "training.lstm.batch_size": 64,
    "training.*.lr": 3e-3,
    "training.lr_schedule": None,
    "data.time_stride": 2,
    "data.max_train.cuave": 720,
}
