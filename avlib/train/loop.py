"""A lean, resumable training loop shared by every experiment.

Datasets yield ``(*inputs, target)``; the model is called as ``model(*inputs)`` and returns
logits.

Resuming
    With ``checkpoint_dir`` the loop writes ``last.pt`` after every epoch, atomically (a
    temporary file, flushed and synced, then renamed over the old one), so a run killed at any
    moment leaves the checkpoint of its last complete epoch. It holds everything the next
    epoch depends on: model, optimiser, both schedulers, the AMP gradient scaler, the epoch,
    the history, the best weights and early-stopping counters, and the random states of
    Python, NumPy, torch (CPU and CUDA) of every process together with the state of the
    shuffling (see :data:`CHECKPOINT_KEYS`). Started again with the same configuration, ``fit``
    continues after that epoch, and the weights and metrics at the end are the same bits as
    those of an uninterrupted run on the same machine (on a GPU with ``deterministic=True``;
    without it cuDNN and atomics make even two uninterrupted runs differ slightly). Random
    transforms inside DataLoader workers are reproduced only with ``persistent_workers=False``:
    persistent workers keep their random state across epochs, which no checkpoint can reach.

GPU
    ``amp`` picks the autocast precision (:func:`resolve_amp`: bf16 where the GPU has it, else
    fp16 with a gradient scaler; never on the CPU), ``channels_last`` stores the model and
    every 4-D input in NHWC on CUDA, ``compile`` runs the model through :func:`torch.compile`,
    ``deterministic`` switches on deterministic algorithms (and off cuDNN's autotuner, which
    is on otherwise). DataLoaders get worker processes, pinned memory and persistent workers
    on CUDA unless set explicitly.

Several GPUs (``torchrun --nproc_per_node N ...``)
    ``fit`` sees the launch (``WORLD_SIZE`` > 1 or an initialised process group), starts the
    process group if needed (NCCL on CUDA, gloo on the CPU), puts each process on
    ``cuda:LOCAL_RANK``, wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel`
    and splits every global batch of ``config.batch_size`` examples among the processes
    (:class:`EpochBatchSampler`), so the optimisation is that of one process with the same
    batch. Losses and accuracies are summed over the processes (sums and counts, not means of
    means); evaluation data are sharded and reduced the same way, so every process gets the
    same numbers, the same best epoch and the same early stop. Only rank 0 writes the
    checkpoint and shows progress.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from ..errors import ParameterError
from ..utils import batch_budget, get_device, git_commit, progress, seed_everything

__all__ = ["TrainConfig", "History", "fit", "predict", "evaluate", "as_dataset", "resolve_amp", "AMP_MODES",
           "EpochBatchSampler", "CHECKPOINT_KEYS", "CHECKPOINT_FORMAT"]

_MONITORS = ("val_loss", "val_acc")
#: Values of :attr:`TrainConfig.amp` (``True`` means ``"auto"``, ``False`` ``"off"``).
AMP_MODES = ("auto", "bf16", "fp16", "off")
#: Settings that change how batches reach the model, never which ones or their numbers: a
#: checkpoint resumes across a change of them.
_LOADER_FIELDS = frozenset({"num_workers", "pin_memory", "persistent_workers"})
#: Version of the layout of ``last.pt`` (1: before the random states of every process were kept).
CHECKPOINT_FORMAT = 2
#: What ``last.pt`` holds.
CHECKPOINT_KEYS = {
    "format": "CHECKPOINT_FORMAT",
    "epoch": "number of complete epochs",
    "model": "state_dict of the model (unwrapped from DDP / torch.compile)",
    "optimizer": "state_dict of the optimiser",
    "scheduler": "state_dict of the per-epoch StepLR, or None",
    "batch_scheduler": "state_dict of the per-batch OneCycleLR, or None",
    "scaler": "state_dict of the fp16 GradScaler, or None",
    "history": "History as a dict",
    "best_state": "weights of the best epoch so far (CPU tensors), or None",
    "best_score": "its monitored value (signed so that larger is better), or None",
    "bad_epochs": "epochs since the best one (early stopping)",
    "stopped": "True once early stopping ended the run",
    "rng": "per process (rank order): python random, NumPy global, torch CPU and CUDA states",
    "sampler": "seed and next epoch of the shuffling, and the DataLoader generator state",
    "config": "TrainConfig as a dict",
    "seed": "config.seed",
    "world_size": "number of processes that trained",
    "amp": "the autocast precision in use (bf16, fp16 or off)",
    "device": "the device of rank 0",
    "git_commit": "commit of the code that wrote it",
    "torch_rng": "torch CPU state of rank 0 (for readers of format 1)",
}


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (saved next to every checkpoint).

    ``batch_size`` is the global batch: under torchrun each of the N processes takes
    ``batch_size / N`` examples of every step.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step: int | None = None  # halve (lr_gamma) the learning rate every lr_step epochs
    lr_gamma: float = 0.5
    # "onecycle": the learning rate rises to ``lr`` over the first 30 % of the steps and anneals
    # (cosine) to ~0 by the last epoch, stepped per batch (Smith & Topin 2019); converges in far
    # fewer epochs than a constant rate. None: constant, or halved every ``lr_step`` epochs.
    lr_schedule: str | None = None
    patience: int | None = None  # early stopping on `monitor`
    monitor: str = "val_loss"
    # autocast precision on CUDA: "auto" (bf16 where supported, else fp16 + GradScaler), "bf16",
    # "fp16" or "off"; the CPU always trains in fp32. True / False are read as "auto" / "off".
    amp: str = "auto"
    channels_last: bool = False  # NHWC model and 4-D inputs, on CUDA only
    # DataLoader worker processes; None: on CUDA min(8, CPUs per process) for datasets that do
    # work per item, 0 for in-memory tensors (gathered in the main process, where workers would
    # only add copies) and always 0 on the CPU.
    num_workers: int | None = None
    seed: int = 0
    grad_clip: float | None = None
    compile: bool = False  # torch.compile the model
    # deterministic algorithms everywhere (torch.use_deterministic_algorithms, cuDNN deterministic
    # and no autotuning, CUBLAS_WORKSPACE_CONFIG); otherwise cuDNN autotunes on CUDA
    deterministic: bool = False
    pin_memory: bool | None = None  # None: on CUDA
    persistent_workers: bool | None = None  # None: whenever there are workers
    # at most this many batches per epoch, in training and in the per-epoch evaluations; None:
    # all. Default ``$AVLIB_MAX_BATCHES`` (set by the runner's ``--dry-run``), else None.
    max_batches: int | None = field(default_factory=batch_budget)

    def __post_init__(self):
        self.amp = _amp_mode(self.amp)
        if self.optimizer not in ("adam", "sgd"):
            raise ParameterError(f"unknown optimizer {self.optimizer!r}; valid: adam, sgd")
        if self.lr_schedule not in (None, "onecycle"):
            raise ParameterError(f"unknown lr_schedule {self.lr_schedule!r}; valid: None, 'onecycle'")
        if self.lr_schedule and self.lr_step:
            raise ParameterError("lr_schedule='onecycle' and lr_step cannot be combined")
        if self.monitor not in _MONITORS:
            raise ParameterError(f"unknown monitor {self.monitor!r}; valid: {', '.join(_MONITORS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ParameterError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.max_batches is not None and self.max_batches < 1:
            raise ParameterError(f"max_batches must be None or >= 1, got {self.max_batches}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ParameterError(f"num_workers must be None or >= 0, got {self.num_workers}")


def _amp_mode(value) -> str:
    if value is True:
        return "auto"
    if value is False or value is None:
        return "off"
    if isinstance(value, str) and value.lower() in AMP_MODES:
        return value.lower()
    raise ParameterError(f"unknown amp {value!r}; valid: {', '.join(AMP_MODES)} (or True / False)")


def resolve_amp(mode, device) -> torch.dtype | None:
    """The autocast dtype of AMP ``mode`` on ``device``; None: full precision (fp32).

    ``"auto"``: bf16 where the GPU computes it natively (``torch.cuda.is_bf16_supported``,
    compute capability 8.0 and later), else fp16, which the loop pairs with a
    :class:`torch.amp.GradScaler`. ``"bf16"`` / ``"fp16"``: that precision (bf16 on a GPU
    without it raises :class:`~avlib.errors.ParameterError`). ``"off"``: None. On a device
    other than an available CUDA device every mode gives None.
    """
    mode = _amp_mode(mode)
    if mode == "off" or torch.device(device).type != "cuda" or not torch.cuda.is_available():
        return None
    try:
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # older signature
        bf16 = torch.cuda.is_bf16_supported()
    if mode == "bf16" and not bf16:
        raise ParameterError("amp='bf16' needs a GPU with native bf16 (compute capability >= 8.0); "
                             "use amp='fp16' or 'auto'")
    if mode == "fp16" or (mode == "auto" and not bf16):
        return torch.float16
    return torch.bfloat16


def _amp_name(dtype) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "off")


@dataclass
class History:
    """Per-epoch records of a run; ``best_epoch`` is the epoch whose weights were kept.

    ``meta`` says how the run was computed (device, AMP precision, channels_last, compile,
    deterministic, number of processes, global batch).
    """

    epochs: list = field(default_factory=list)
    best_epoch: int | None = None
    resumed_from: int | None = None
    meta: dict = field(default_factory=dict)

    def to_frame(self):
        return pd.DataFrame(self.epochs)

    def best(self, key: str, mode: str = "max") -> float:
        values = [e[key] for e in self.epochs if key in e and e[key] is not None]
        if not values:
            return float("nan")
        return max(values) if mode == "max" else min(values)


def as_dataset(data) -> Dataset:
    """Accept a Dataset or a tuple of tensors/arrays (last one = targets)."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)):
        tensors = [t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t)) for t in data]
        return TensorDataset(*tensors)
    raise ParameterError(f"expected a torch Dataset or a tuple of arrays, got {type(data).__name__}")


# --------------------------------------------------------------------------- batches


class EpochBatchSampler(Sampler):
    """Shuffled training batches of one process, reshuffled by :meth:`set_epoch`.

    Epoch ``e`` visits the examples in a permutation drawn from a generator seeded with
    ``seed * 100003 + e``: the order depends on nothing else (not on the epochs before, so a
    resumed run shuffles as an uninterrupted one; not on the DataLoader's workers). The global
    batches are consecutive runs of ``batch_size`` examples of that permutation. With
    ``num_replicas`` W > 1 (distributed training) replica ``r`` takes items ``r, r + W, ...``
    of every global batch, so together the replicas see exactly the batches of one process;
    a last global batch that W does not divide is completed with examples from the start of
    the permutation. A last batch of one example per replica is dropped when there is more
    than one batch (batch normalisation cannot train on it).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        if batch_size % num_replicas:
            raise ParameterError(f"the global batch ({batch_size}) must divide among {num_replicas} processes")
        if not 0 <= rank < num_replicas:
            raise ParameterError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.num_replicas, self.rank, self.epoch = int(num_replicas), int(rank), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def epoch_seed(self) -> int:
        return self.seed * 100003 + self.epoch

    def permutation(self) -> list[int]:
        g = torch.Generator().manual_seed(self.epoch_seed())
        # one 64-bit draw first, as the DataLoader made when it shuffled with this generator
        # (it takes its workers' base seed from it): the orders of earlier runs stay the same
        torch.empty((), dtype=torch.int64).random_(generator=g)
        return torch.randperm(self.n, generator=g).tolist()

    def global_batches(self) -> list[list[int]]:
        perm, b, w = self.permutation(), self.batch_size, self.num_replicas
        full, tail = divmod(self.n, b)
        batches = [perm[i * b:(i + 1) * b] for i in range(full)]
        if tail:
            last = perm[full * b:]
            if len(last) % w:
                last = last + perm[:w - len(last) % w]
            if not (full and len(last) == w):
                batches.append(last)
        return batches

    def __iter__(self):
        for batch in self.global_batches():
            yield batch[self.rank::self.num_replicas]

    def __len__(self) -> int:
        full, tail = divmod(self.n, self.batch_size)
        one_each = -(-tail // self.num_replicas) == 1
        return full + (1 if tail and not (full and one_each) else 0)


def _cpus_per_process() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def _loader_options(config: TrainConfig, device, dataset) -> dict:
    cuda = device.type == "cuda"
    workers = config.num_workers
    if workers is None:
        workers = min(8, _cpus_per_process()) if cuda and not isinstance(dataset, TensorDataset) else 0
    pin = cuda if config.pin_memory is None else bool(config.pin_memory)
    persistent = workers > 0 if config.persistent_workers is None else bool(config.persistent_workers)
    return {"num_workers": workers, "pin_memory": pin, "persistent_workers": persistent and workers > 0}


def _train_loader(data, config, device, world, rank):
    dataset = as_dataset(data)
    sampler = EpochBatchSampler(len(dataset), config.batch_size, seed=config.seed, num_replicas=world, rank=rank)
    # the generator only seeds the workers (reseeded every epoch with the order's seed)
    generator = torch.Generator().manual_seed(sampler.epoch_seed())
    return DataLoader(dataset, batch_sampler=sampler, generator=generator,
                      **_loader_options(config, device, dataset))


def _eval_loader(data, batch_size, config, device, world=1, rank=0):
    """In data order; with several processes each takes every ``world``-th example."""
    dataset = as_dataset(data)
    sampler = range(rank, len(dataset), world) if world > 1 else None
    options = _loader_options(config, device, dataset)
    # Each new iterator takes its workers' base seed from the loader's generator, or else from
    # the global torch stream (dropout, augmentation). Persistent workers make one iterator
    # only, in the first epoch of a process: with the global stream, a resumed run would draw
    # where the uninterrupted one does not. Loaders with workers therefore get a generator of
    # their own; without workers every pass draws once from the global stream, as always.
    generator = torch.Generator().manual_seed(0) if options["num_workers"] > 0 else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler, generator=generator,
                      **options)


def _to_device(batch, device, channels_last):
    out = []
    for t in batch:
        t = t.to(device, non_blocking=True)
        if channels_last and t.dim() == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return out


def _autocast(device, amp_dtype):
    if amp_dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def _run_epoch(model, loader, device, loss_fn, *, optimizer=None, scaler=None, config=None, amp_dtype=None,
               channels_last=False, input_transform=None, batch_scheduler=None, max_batches=None):
    """One pass over ``loader``; trains when ``optimizer`` is given.

    ``max_batches`` stops after that many batches (a dry run). Returns the sums
    ``(loss * n, correct, n)`` over the batches. They are accumulated on the
    device (one synchronisation per epoch, not per batch), the loss in float64.
    """
    training = optimizer is not None
    model.train(training)
    acc_dtype = torch.float64 if device.type in ("cpu", "cuda") else torch.float32
    loss_sum = torch.zeros((), dtype=acc_dtype, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    with torch.set_grad_enabled(training):
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            *inputs, target = _to_device(batch, device, channels_last)
            if input_transform is not None:
                inputs = input_transform(inputs, training)
            with _autocast(device, amp_dtype):
                logits = model(*inputs)
                loss = loss_fn(logits, target)
            if training:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    if config.grad_clip:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    if config.grad_clip:
                        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                    optimizer.step()
                if batch_scheduler is not None:
                    batch_scheduler.step()
            n = target.shape[0]
            loss_sum += loss.detach().to(acc_dtype) * n
            if target.dtype in (torch.int64, torch.int32) and logits.dim() == 2:
                correct += (logits.detach().argmax(1) == target).sum()
            count += n
    return float(loss_sum), int(correct), count


def _means(loss_sum, correct, count):
    if count == 0:
        return float("nan"), float("nan")
    return loss_sum / count, correct / count


def _make_optimizer(model, config):
    params = [p for p in model.parameters() if p.requires_grad]
    # foreach: one fused kernel per step for all parameters (the per-parameter loop is PyTorch's
    # CPU default and costs ~10 % of a step for the small XFlow models); same arithmetic.
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               foreach=True)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


# --------------------------------------------------------------------------- numerics, processes


@contextlib.contextmanager
def _numerics(config: TrainConfig, device):
    """Deterministic algorithms (``config.deterministic``) or cuDNN autotuning (CUDA) while
    training; the process's previous settings come back afterwards."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if config.deterministic:
            # read by cuBLAS when it makes its workspace: effective if set before the first
            # CUDA matmul of the process (set it in the environment to be sure)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]


@dataclass
class _Processes:
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _destroy_process_group():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _setup_processes(device) -> tuple[torch.device, _Processes]:
    """This process's device and place among the processes of a torchrun launch (or of a
    process group started by the caller); starts the process group when needed."""
    initialised = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if initialised else int(os.environ.get("WORLD_SIZE", "1"))
    if not isinstance(device, torch.device):
        device = get_device(device)
    if world <= 1:
        return device, _Processes()
    if not dist.is_available():
        raise ParameterError(f"WORLD_SIZE={world} but this torch has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not initialised:
        if device.type == "cuda":
            dist.init_process_group(backend="nccl", device_id=device)
        else:
            dist.init_process_group(backend="gloo")
        atexit.register(_destroy_process_group)
    return device, _Processes(dist.get_world_size(), dist.get_rank(), local_rank)


def _reduce_sums(values, procs: _Processes, device):
    """``values`` summed over the processes (float64)."""
    if not procs.distributed:
        return list(values)
    where = device if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=where)
    dist.all_reduce(t)
    return t.tolist()


def _rng_state(device) -> dict:
    cuda = None
    if device.type == "cuda":
        cuda = torch.cuda.get_rng_state(device)
    elif torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": cuda}


def _set_rng_state(state: dict, device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if isinstance(cuda, (list, tuple)):
            torch.cuda.set_rng_state_all(cuda)
        elif device.type == "cuda":
            torch.cuda.set_rng_state(cuda, device)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_atomic(obj, path: Path):
    """Write ``obj`` to ``path`` so that ``path`` is always either the old or the new file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _same_run(saved: dict | None, config: TrainConfig) -> bool:
    """Whether a checkpoint's config is ``config`` (loader settings aside; fields added since
    it was written count at their defaults)."""
    if not isinstance(saved, dict):
        return False
    names = {f.name for f in fields(TrainConfig)}
    if set(saved) - names:
        return False
    try:
        old = asdict(TrainConfig(**saved))
    except (TypeError, ParameterError):
        return False
    new = asdict(config)
    return all(old[k] == new[k] for k in names - _LOADER_FIELDS)


def _load_checkpoint(path: Path, config: TrainConfig, procs: _Processes, device):
    """The checkpoint to resume from, or None; every process must agree on it."""
    state = None
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not _same_run(state.get("config"), config):
            if procs.main:
                warnings.warn(f"{path} was written with another configuration; training from the start "
                              "(it will be overwritten)", stacklevel=3)
            state = None
    if procs.distributed:
        epochs = [None] * procs.world
        dist.all_gather_object(epochs, None if state is None else state["epoch"])
        if len(set(epochs)) > 1:
            raise ParameterError(f"the processes see different checkpoints in {path.parent} (epochs {epochs}); "
                                 "give every process the same (shared) checkpoint_dir")
    return state


# --------------------------------------------------------------------------- training


def fit(
    model: nn.Module,
    train,
    val=None,
    *,
    config: TrainConfig,
    extra_eval: dict | None = None,
    loss_fn=None,
    checkpoint_dir=None,
    device=None,
    progress_bar: bool = True,
    restore_best: bool = True,
    input_transform=None,
) -> History:
    """Train ``model`` and return its :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(*inputs)``; returns logits ``(N, C)``.
    train, val : Dataset or tuple of arrays
        Items ``(*inputs, target)``. ``val`` drives early stopping and the kept weights.
    config : TrainConfig
    extra_eval : dict of name -> Dataset, optional
        Also evaluated every epoch (``<name>_loss``, ``<name>_acc`` in the history); never used
        for model selection.
    checkpoint_dir : path, optional
        ``last.pt`` (:data:`CHECKPOINT_KEYS`) is written atomically after every epoch together
        with ``config.json``; when it exists and its config matches, training resumes after its
        epoch and ends exactly as an uninterrupted run. Under torchrun every process must see
        the same directory.
    device : str or torch.device, optional
        Default: CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else the CPU.
    restore_best : bool
        Load the weights of the best epoch by ``config.monitor`` at the end (needs ``val``).
    input_transform : callable(inputs, training) -> inputs, optional
        Applied on the device to every batch (e.g. augmentation).
    """
    device, procs = _setup_processes(device)
    # each process its own random stream (dropout masks, augmentation); rank 0 = a single process
    seed_everything(config.seed + procs.rank)
    with _numerics(config, device):
        return _fit(model, train, val, config=config, extra_eval=extra_eval, loss_fn=loss_fn or nn.CrossEntropyLoss(),
                    checkpoint_dir=checkpoint_dir, device=device, procs=procs, progress_bar=progress_bar,
                    restore_best=restore_best, input_transform=input_transform)


def _fit(model, train, val, *, config, extra_eval, loss_fn, checkpoint_dir, device, procs, progress_bar,
         restore_best, input_transform):
    amp_dtype = resolve_amp(config.amp, device)
    channels_last = bool(config.channels_last and device.type == "cuda")
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(model, config)
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
        if config.lr_step
        else None
    )
    train_loader = _train_loader(train, config, device, procs.world, procs.rank)
    sampler = train_loader.batch_sampler
    batch_scheduler = None
    if config.lr_schedule == "onecycle":
        batch_scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * max(1, len(train_loader)),
            pct_start=0.3, anneal_strategy="cos")
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    history = History()
    best_state, best_score, bad_epochs, start_epoch, stopped = None, None, 0, 0, False

    ckpt_path, commit = None, None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        ckpt_path = checkpoint_dir / "last.pt"
        if procs.main:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            (checkpoint_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
            commit = git_commit()
        state = _load_checkpoint(ckpt_path, config, procs, device)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler"):
                scheduler.load_state_dict(state["scheduler"])
            if batch_scheduler is not None and state.get("batch_scheduler"):
                batch_scheduler.load_state_dict(state["batch_scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            history = History(**state["history"])
            history.resumed_from = state["epoch"]
            best_state, best_score, bad_epochs = state["best_state"], state["best_score"], state["bad_epochs"]
            start_epoch, stopped = state["epoch"], bool(state.get("stopped"))
            rngs = state.get("rng")
            if rngs and len(rngs) == procs.world:
                _set_rng_state(rngs[procs.rank], device)
            elif rngs or "torch_rng" in state:
                if rngs:
                    warnings.warn(f"checkpoint written by {len(rngs)} process(es), resumed by {procs.world}: "
                                  "the random streams restart from the seed", stacklevel=2)
                    seed_everything(config.seed + procs.rank + 1000003 * start_epoch)
                else:  # format 1
                    torch.set_rng_state(state["torch_rng"])
            if state.get("sampler") and state["sampler"].get("generator") is not None:
                train_loader.generator.set_state(state["sampler"]["generator"])
    history.meta = {"device": str(device), "amp": _amp_name(amp_dtype), "channels_last": channels_last,
                    "compile": bool(config.compile), "deterministic": bool(config.deterministic),
                    "world_size": procs.world, "global_batch": config.batch_size}

    train_model = eval_model = model
    if procs.distributed:
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        eval_model = torch.compile(model)
        train_model = torch.compile(train_model) if procs.distributed else eval_model

    eval_batch = max(1, config.batch_size * 2 // procs.world)
    eval_loaders = {}
    if val is not None:
        eval_loaders["val"] = _eval_loader(val, eval_batch, config, device, procs.world, procs.rank)
    for name, data in (extra_eval or {}).items():
        eval_loaders[name] = _eval_loader(data, eval_batch, config, device, procs.world, procs.rank)
    sign = -1.0 if config.monitor == "val_loss" else 1.0
    epochs = range(start_epoch, config.epochs if not stopped else start_epoch)
    show = progress_bar and procs.main
    for epoch in progress(epochs, desc="epochs", leave=False) if show else epochs:
        # the order of epoch e depends on the seed and e alone (resumed runs shuffle the same)
        sampler.set_epoch(epoch)
        train_loader.generator.manual_seed(sampler.epoch_seed())
        t0 = time.perf_counter()
        sums = _run_epoch(train_model, train_loader, device, loss_fn, optimizer=optimizer, scaler=scaler,
                          config=config, amp_dtype=amp_dtype, channels_last=channels_last,
                          input_transform=input_transform, batch_scheduler=batch_scheduler,
                          max_batches=config.max_batches)
        seconds = time.perf_counter() - t0
        if procs.distributed:  # batch-norm statistics of rank 0 everywhere: one model, one evaluation
            for buffer in model.buffers():
                dist.broadcast(buffer.data, 0)
        loss_sum, correct, n = _reduce_sums(sums, procs, device)
        tr_loss, tr_acc = _means(loss_sum, correct, n)
        record = {"epoch": epoch + 1, "train_loss": tr_loss, "train_acc": tr_acc, "seconds": seconds,
                  "examples_per_s": n / seconds if seconds > 0 else float("nan"),
                  "lr": optimizer.param_groups[0]["lr"]}
        for name, loader in eval_loaders.items():
            sums = _run_epoch(eval_model, loader, device, loss_fn, amp_dtype=amp_dtype,
                              channels_last=channels_last, input_transform=input_transform,
                              max_batches=config.max_batches)
            record[f"{name}_loss"], record[f"{name}_acc"] = _means(*_reduce_sums(sums, procs, device))
        history.epochs.append(record)
        if scheduler is not None:
            scheduler.step()
        if "val" in eval_loaders:
            score = sign * record[config.monitor]
            if best_score is None or score > best_score:
                best_score, bad_epochs = score, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                history.best_epoch = epoch + 1
            else:
                bad_epochs += 1
            stopped = config.patience is not None and bad_epochs >= config.patience
        if ckpt_path is not None:
            rng = _rng_state(device)
            rngs = [None] * procs.world if procs.distributed else [rng]
            if procs.distributed:
                dist.all_gather_object(rngs, rng)
            if procs.main:
                _save_atomic({
                    "format": CHECKPOINT_FORMAT, "epoch": epoch + 1,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "batch_scheduler": batch_scheduler.state_dict() if batch_scheduler is not None else None,
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "history": asdict(history), "best_state": best_state, "best_score": best_score,
                    "bad_epochs": bad_epochs, "stopped": stopped, "rng": rngs,
                    "sampler": {"seed": config.seed, "epoch": epoch + 1,
                                "generator": train_loader.generator.get_state()},
                    "config": asdict(config), "seed": config.seed, "world_size": procs.world,
                    "amp": _amp_name(amp_dtype), "device": str(device), "git_commit": commit,
                    "torch_rng": rng["torch"],
                }, ckpt_path)
        if stopped:
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history


@torch.no_grad()
def predict(model: nn.Module, data, *, batch_size: int = 64, device=None, input_transform=None,
            has_targets: bool = True, amp="auto", channels_last: bool = False) -> np.ndarray:
    """Logits (float32, in data order) of ``model`` over ``data``.

    Items are ``(*inputs, target)`` (the target is ignored) or, with ``has_targets=False``,
    just the inputs. ``amp`` and ``channels_last`` as in :class:`TrainConfig` (CUDA only).
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    amp_dtype = resolve_amp(amp, device)
    channels_last = bool(channels_last and device.type == "cuda")
    model.to(device).eval()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    dataset = as_dataset(data)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, pin_memory=device.type == "cuda")
    outputs = []
    for batch in loader:
        batch = _to_device(batch, device, channels_last)
        inputs = batch[:-1] if has_targets else batch
        if input_transform is not None:
            inputs = input_transform(inputs, False)
        with _autocast(device, amp_dtype):
            outputs.append(model(*inputs).float().cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros((0,), dtype=np.float32)


def evaluate(model: nn.Module, data, *, batch_size: int = 64, device=None) -> dict:
    """Loss and accuracy of ``model`` on ``data``."""
    device = get_device(device) if not isinstance(device, torch.device) else device
    loader = _eval_loader(data, batch_size, TrainConfig(num_workers=0), device)
    model.to(device)
    loss_sum, correct, n = _run_epoch(model, loader, device, nn.CrossEntropyLoss())
    loss, acc = _means(loss_sum, correct, n)
    return {"loss": loss, "acc": acc, "n": n}
