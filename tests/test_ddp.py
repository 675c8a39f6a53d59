"""Two processes launched by torchrun (gloo backend, CPU) train as one process with the same global
batch: the same per-epoch training losses (within 1e-5), the same evaluation numbers on both ranks,
and one checkpoint written by rank 0. A two-process run that crashes after an epoch and is launched
again ends exactly (bit for bit) as one that ran through, random augmentation of each process
included.

The worker is this file run with ``--worker`` under ``python -m torch.distributed.run``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
# 120 training examples: 3 full global batches of 32 and a tail of 24 (12 per process);
# 41 validation examples: shards of 21 and 20
CONFIG = dict(epochs=4, batch_size=32, lr=1e-2, seed=5, monitor="val_acc")


def _gloo_missing() -> str | None:
    if not dist.is_available():
        return "torch.distributed is not available in this torch build"
    if not dist.is_gloo_available():
        return "the gloo backend is not available in this torch build"
    return None


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(161, 8)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64))
    return (x[:120], y[:120]), (x[120:], y[120:])


def _model():
    from torch import nn

    torch.manual_seed(0)  # no dropout / batch norm: their randomness and statistics are per process
    return nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 3))


def _noise(inputs, training):
    """Augmentation from each process's own torch stream (restored from the checkpoint on resume)."""
    return [x + 0.1 * torch.randn_like(x) for x in inputs] if training else inputs


def _train(checkpoint_dir=None, noise=False):
    from avlib.train import TrainConfig, fit

    torch.set_num_threads(1)
    train, val = _data()
    model = _model()
    hist = fit(model, train, val, config=TrainConfig(**CONFIG), device="cpu", progress_bar=False,
               checkpoint_dir=checkpoint_dir, extra_eval={"train_eval": train},
               input_transform=_noise if noise else None)
    return hist, model


def _worker(out: Path, noise: bool, crash_after: int | None) -> None:
    if crash_after:  # rank 0 dies right after writing its crash_after-th checkpoint
        import avlib.train.loop as loop

        save, saved = loop._save_atomic, []

        def save_then_crash(obj, path):
            save(obj, path)
            saved.append(path)
            if len(saved) == crash_after:
                os._exit(3)

        loop._save_atomic = save_then_crash
    hist, model = _train(out / "ckpt", noise=noise)
    rank = dist.get_rank()
    records = [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_s")} for r in hist.epochs]
    (out / f"rank{rank}.json").write_text(json.dumps({"epochs": records, "best_epoch": hist.best_epoch,
                                                      "meta": hist.meta, "world": dist.get_world_size(),
                                                      "resumed_from": hist.resumed_from}))
    torch.save(model.state_dict(), out / f"weights{rank}.pt")


def _launch(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "AVLIB_PROGRESS": "0"}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).resolve()), "--worker", str(out), *extra]
    # a session of its own: if the test gives up, the launcher and its workers end together
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait(launches) -> list[tuple[int, str]]:
    """Return codes and outputs; every launch is ended, whatever happens."""
    results = []
    try:
        for launch in launches:
            out, _ = launch.communicate(timeout=900)
            results.append((launch.returncode, out))
    finally:
        for launch in launches:
            if launch.poll() is None:
                os.killpg(launch.pid, signal.SIGKILL)
                launch.communicate()
    return results


@pytest.mark.skipif(_gloo_missing() is not None, reason=str(_gloo_missing()))
def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    launch = _launch(tmp_path)
    try:
        single, single_model = _train()  # meanwhile, one process with the same global batch
    finally:
        ((code, out),) = _wait([launch])
    assert code == 0, out[-4000:]

    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and ranks[0]["meta"]["world_size"] == 2
    assert ranks[0] == ranks[1]  # every rank gets the same numbers, best epoch and meta
    ddp = ranks[0]["epochs"]
    assert len(ddp) == len(single.epochs) == CONFIG["epochs"]
    for d, s in zip(ddp, single.epochs):
        for key in ("train_loss", "val_loss", "train_eval_loss"):
            assert abs(d[key] - s[key]) < 1e-5, (key, d, s)
        for key in ("train_acc", "val_acc", "train_eval_acc"):
            assert d[key] == pytest.approx(s[key], abs=1e-12), (key, d, s)
    assert ranks[0]["best_epoch"] == single.best_epoch
    w0, w1 = (torch.load(tmp_path / f"weights{r}.pt") for r in (0, 1))
    for k, v in single_model.state_dict().items():
        assert torch.equal(w0[k], w1[k])
        torch.testing.assert_close(w0[k], v, rtol=0, atol=1e-5)
    ckpt = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == CONFIG["epochs"] and len(ckpt["rng"]) == 2
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "ckpt").iterdir())


@pytest.mark.skipif(_gloo_missing() is not None, reason=str(_gloo_missing()))
def test_two_processes_resume_after_a_crash_exactly(tmp_path):
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    (code_full, out_full), (code_crash, out_crash) = _wait([_launch(full, "--noise"),
                                                            _launch(crashed, "--noise", "--crash-after", "2")])
    assert code_full == 0, out_full[-4000:]
    assert code_crash != 0 and not (crashed / "rank0.json").exists(), out_crash[-4000:]
    assert torch.load(crashed / "ckpt" / "last.pt", weights_only=False)["epoch"] == 2
    ((code, out),) = _wait([_launch(crashed, "--noise")])  # launched again: resumes after epoch 2
    assert code == 0, out[-4000:]
    for r in (0, 1):
        a = json.loads((full / f"rank{r}.json").read_text())
        b = json.loads((crashed / f"rank{r}.json").read_text())
        assert b.pop("resumed_from") == 2 and a.pop("resumed_from") is None
        assert a == b  # exact equality of every metric
        wa, wb = torch.load(full / f"weights{r}.pt"), torch.load(crashed / f"weights{r}.pt")
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=Path, required=True)
    parser.add_argument("--noise", action="store_true")
    parser.add_argument("--crash-after", type=int, default=None)
    args = parser.parse_args()
    _worker(args.worker, args.noise, args.crash_after)
