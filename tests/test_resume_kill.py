"""A training process killed with SIGKILL mid-run and started again ends exactly as one that ran
through: same per-epoch metrics, same best epoch, same final and last-epoch weights (bit for bit).

The training script is this file run with ``--child``: a small network with dropout and batch
normalisation, Adam with a one-cycle schedule stepped per batch, early-stopping bookkeeping, and an
input transform that draws from Python's ``random``, NumPy's global generator and torch's, so
every random state the checkpoint keeps is needed for the resumed run to match.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 7
TIMING = ("seconds", "examples_per_s")


def _train(out: Path, slow: float) -> None:
    import random
    from dataclasses import asdict

    import numpy as np
    from torch import nn

    from avlib.train import TrainConfig, fit

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 8)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))

    def augment(inputs, training):
        if slow:
            time.sleep(slow)
        if not training:
            return inputs
        (xb,) = inputs
        scale = 1.0 + 0.1 * random.random() + 0.05 * float(np.random.standard_normal())
        return [xb * scale + 0.05 * torch.randn_like(xb)]

    cfg = TrainConfig(epochs=EPOCHS, batch_size=16, lr=3e-2, seed=13, lr_schedule="onecycle", patience=50,
                      monitor="val_acc")
    hist = fit(model, (x[:80], y[:80]), (x[80:], y[80:]), config=cfg, checkpoint_dir=out / "ckpt",
               progress_bar=False, input_transform=augment, extra_eval={"all": (x, y)})
    torch.save({"history": asdict(hist), "weights": model.state_dict()}, out / "final.pt")


def _start(out: Path, slow: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "AVLIB_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, __file__, "--child", str(out), "--slow", str(slow)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# generous limits: on a quiet 2-core machine the test takes ~20 s, on a loaded one much longer
LIMIT_S = 900


def _finish(proc: subprocess.Popen, timeout: float = LIMIT_S) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out


def _checkpoint_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
    except (FileNotFoundError, EOFError, RuntimeError):  # not written yet
        return 0


def _records(history: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history["epochs"]]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_run_resumes_to_identical_metrics_and_weights(tmp_path):
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    procs = []
    try:
        full = _start(full_dir)
        victim = _start(killed_dir, slow=0.05)  # >= 0.5 s per epoch: time to kill it mid-run
        procs += [full, victim]
        ckpt = killed_dir / "ckpt" / "last.pt"
        deadline, seen = time.monotonic() + LIMIT_S, None
        while True:
            assert victim.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint of epoch 2 appeared"
            stamp = ckpt.stat().st_mtime_ns if ckpt.exists() else None
            if stamp != seen:  # a new checkpoint (the file is replaced whole, never rewritten)
                seen = stamp
                if _checkpoint_epoch(ckpt) >= 2:
                    break
            time.sleep(0.01)
        time.sleep(0.15)  # inside the next epoch
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
        assert victim.returncode == -signal.SIGKILL
        killed_at = _checkpoint_epoch(ckpt)
        assert 2 <= killed_at < EPOCHS
        assert not (killed_dir / "final.pt").exists()

        resumed = _start(killed_dir)  # restarted: resumes from the last complete epoch
        procs.append(resumed)
        _finish(resumed)
        _finish(full)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    a = torch.load(full_dir / "final.pt", weights_only=False)
    b = torch.load(killed_dir / "final.pt", weights_only=False)
    assert b["history"]["resumed_from"] == killed_at and a["history"]["resumed_from"] is None
    assert len(b["history"]["epochs"]) == EPOCHS
    assert _records(a["history"]) == _records(b["history"])  # exact float equality
    assert a["history"]["best_epoch"] == b["history"]["best_epoch"]
    assert a["history"]["meta"] == b["history"]["meta"]
    assert a["weights"].keys() == b["weights"].keys()
    for k in a["weights"]:  # the restored best weights
        assert torch.equal(a["weights"][k], b["weights"][k]), k
    last_a = torch.load(full_dir / "ckpt" / "last.pt", weights_only=False)
    last_b = torch.load(ckpt, weights_only=False)
    for k in last_a["model"]:  # the weights of the last epoch, and the optimiser's moments
        assert torch.equal(last_a["model"][k], last_b["model"][k]), k
    for sa, sb in zip(last_a["optimizer"]["state"].values(), last_b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=Path, required=True)
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    _train(args.child, args.slow)
