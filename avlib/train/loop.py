"""A lean, resumable training loop shared by every experiment.

Datasets yield ``(*inputs, target)``; the model is called as ``model(*inputs)`` and returns
logits. A checkpoint (model, optimiser, scheduler, epoch, history, config, seed, git commit)
is written after every epoch, so an interrupted run resumes where it stopped. On CUDA the loop
uses automatic mixed precision, pinned memory and (optionally) channels_last.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..errors import ParameterError
from ..utils import get_device, git_commit, progress, seed_everything

__all__ = ["TrainConfig", "History", "fit", "predict", "evaluate", "as_dataset"]

_MONITORS = ("val_loss", "val_acc")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (saved next to every checkpoint)."""

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
    amp: bool = True  # only used on CUDA
    channels_last: bool = False  # only used on CUDA, 4-D inputs
    num_workers: int = 0
    seed: int = 0
    grad_clip: float | None = None

    def __post_init__(self):
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


@dataclass
class History:
    """Per-epoch records of a run; ``best_epoch`` is the epoch whose weights were kept."""

    epochs: list = field(default_factory=list)
    best_epoch: int | None = None
    resumed_from: int | None = None

    def to_frame(self):
        import pandas as pd

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


def _loader(data, batch_size, *, shuffle, device, num_workers, seed):
    """A DataLoader; when training (``shuffle``) a last batch of one example is dropped, since
    batch normalisation cannot train on it."""
    dataset = as_dataset(data)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        generator=generator if shuffle else None,
        drop_last=shuffle and len(dataset) > batch_size and len(dataset) % batch_size == 1,
    )


def _to_device(batch, device, channels_last):
    out = []
    for t in batch:
        t = t.to(device, non_blocking=True)
        if channels_last and t.dim() == 4 and t.is_floating_point():
            t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return out


def _run_epoch(model, loader, device, loss_fn, *, optimizer=None, scaler=None, config=None, use_amp=False,
               channels_last=False, input_transform=None, batch_scheduler=None):
    """One pass over ``loader``; trains when ``optimizer`` is given. Returns (loss, acc, n)."""
    training = optimizer is not None
    model.train(training)
    total_loss, correct, count = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for batch in loader:
            *inputs, target = _to_device(batch, device, channels_last)
            if input_transform is not None:
                inputs = input_transform(inputs, training)
            with torch.autocast(device_type=device.type, enabled=use_amp):
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
            total_loss += float(loss.detach()) * n
            if target.dtype in (torch.int64, torch.int32) and logits.dim() == 2:
                correct += int((logits.detach().argmax(1) == target).sum())
            count += n
    if count == 0:
        return float("nan"), float("nan"), 0
    return total_loss / count, correct / count, count


def _make_optimizer(model, config):
    params = [p for p in model.parameters() if p.requires_grad]
    # foreach: one fused kernel per step for all parameters (the per-parameter loop is PyTorch's
    # CPU default and costs ~10 % of a step for the small XFlow models); same arithmetic.
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               foreach=True)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def _save_atomic(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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
        ``last.pt`` is written after every epoch (atomically) together with ``config.json``;
        when it exists and its config matches, training resumes from it.
    restore_best : bool
        Load the weights of the best epoch by ``config.monitor`` at the end (needs ``val``).
    input_transform : callable(inputs, training) -> inputs, optional
        Applied on the device to every batch (e.g. augmentation).
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    seed_everything(config.seed)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    use_amp = bool(config.amp and device.type == "cuda")
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
    train_loader = _loader(train, config.batch_size, shuffle=True, device=device,
                           num_workers=config.num_workers, seed=config.seed)
    batch_scheduler = None
    if config.lr_schedule == "onecycle":
        batch_scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * max(1, len(train_loader)),
            pct_start=0.3, anneal_strategy="cos")
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    history = History()
    best_state, best_score, bad_epochs, start_epoch = None, None, 0, 0

    ckpt_path = None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        ckpt_path = checkpoint_dir / "last.pt"
        (checkpoint_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
        if ckpt_path.exists():
            state = torch.load(ckpt_path, map_location=device, weights_only=False)
            if state.get("config") == asdict(config):
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                if scheduler is not None and state.get("scheduler"):
                    scheduler.load_state_dict(state["scheduler"])
                if batch_scheduler is not None and state.get("batch_scheduler"):
                    batch_scheduler.load_state_dict(state["batch_scheduler"])
                history = History(**state["history"])
                history.resumed_from = state["epoch"]
                best_state, best_score, bad_epochs = state["best_state"], state["best_score"], state["bad_epochs"]
                start_epoch = state["epoch"]
                torch.set_rng_state(state["torch_rng"])

    eval_loaders = {}
    if val is not None:
        eval_loaders["val"] = _loader(val, config.batch_size * 2, shuffle=False, device=device,
                                      num_workers=config.num_workers, seed=0)
    for name, data in (extra_eval or {}).items():
        eval_loaders[name] = _loader(data, config.batch_size * 2, shuffle=False, device=device,
                                     num_workers=config.num_workers, seed=0)
    sign = -1.0 if config.monitor == "val_loss" else 1.0
    stopped = False
    epochs = range(start_epoch, config.epochs)
    for epoch in progress(epochs, desc="epochs", leave=False) if progress_bar else epochs:
        # Reseed per epoch so a resumed run shuffles exactly as an uninterrupted one.
        train_loader.generator.manual_seed(config.seed * 100003 + epoch)
        t0 = time.perf_counter()
        tr_loss, tr_acc, n = _run_epoch(model, train_loader, device, loss_fn, optimizer=optimizer, scaler=scaler,
                                        config=config, use_amp=use_amp, channels_last=channels_last,
                                        input_transform=input_transform, batch_scheduler=batch_scheduler)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "train_loss": tr_loss, "train_acc": tr_acc, "seconds": seconds,
                  "examples_per_s": n / seconds if seconds > 0 else float("nan"),
                  "lr": optimizer.param_groups[0]["lr"]}
        for name, loader in eval_loaders.items():
            loss, acc, _ = _run_epoch(model, loader, device, loss_fn, use_amp=use_amp,
                                      channels_last=channels_last, input_transform=input_transform)
            record[f"{name}_loss"], record[f"{name}_acc"] = loss, acc
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
            _save_atomic({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "batch_scheduler": batch_scheduler.state_dict() if batch_scheduler is not None else None,
                "epoch": epoch + 1, "history": asdict(history), "config": asdict(config),
                "seed": config.seed, "git_commit": git_commit(), "best_state": best_state,
                "best_score": best_score, "bad_epochs": bad_epochs, "torch_rng": torch.get_rng_state(),
                "stopped": stopped,
            }, ckpt_path)
        if stopped:
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history


@torch.no_grad()
def predict(model: nn.Module, data, *, batch_size: int = 64, device=None, input_transform=None,
            has_targets: bool = True) -> np.ndarray:
    """Logits (float32, in data order) of ``model`` over ``data``.

    Items are ``(*inputs, target)`` (the target is ignored) or, with ``has_targets=False``,
    just the inputs.
    """
    device = get_device(device) if not isinstance(device, torch.device) else device
    model.to(device).eval()
    dataset = as_dataset(data)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, pin_memory=device.type == "cuda")
    outputs = []
    for batch in loader:
        batch = _to_device(batch, device, False)
        inputs = batch[:-1] if has_targets else batch
        if input_transform is not None:
            inputs = input_transform(inputs, False)
        with torch.autocast(device_type=device.type, enabled=device.type == "cuda"):
            outputs.append(model(*inputs).float().cpu())
    return torch.cat(outputs).numpy() if outputs else np.zeros((0,), dtype=np.float32)


def evaluate(model: nn.Module, data, *, batch_size: int = 64, device=None) -> dict:
    """Loss and accuracy of ``model`` on ``data``."""
    device = get_device(device) if not isinstance(device, torch.device) else device
    loader = _loader(data, batch_size, shuffle=False, device=device, num_workers=0, seed=0)
    model.to(device)
    loss, acc, n = _run_epoch(model, loader, device, nn.CrossEntropyLoss())
    return {"loss": loss, "acc": acc, "n": n}
