import numpy as np
import pytest
import torch
from torch import nn

from avlib.errors import ParameterError
from avlib.train import TrainConfig, fit, predict


def _toy(seed=0, n=96):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def test_fit_learns_and_records_history():
    x, y = _toy()
    cfg = TrainConfig(epochs=15, batch_size=16, lr=1e-2, seed=1)
    hist = fit(_model(), (x[:64], y[:64]), (x[64:], y[64:]), config=cfg, progress_bar=False)
    frame = hist.to_frame()
    assert len(frame) == 15
    assert {"train_loss", "val_loss", "val_acc", "examples_per_s"} <= set(frame.columns)
    assert frame["train_loss"].iloc[-1] < frame["train_loss"].iloc[0]
    assert hist.best("val_acc") > 0.75


def test_same_seed_same_result():
    x, y = _toy()
    cfg = TrainConfig(epochs=3, batch_size=16, seed=3)
    h1 = fit(_model(), (x, y), (x, y), config=cfg, progress_bar=False)
    h2 = fit(_model(), (x, y), (x, y), config=cfg, progress_bar=False)
    assert h1.to_frame()["train_loss"].tolist() == h2.to_frame()["train_loss"].tolist()


@pytest.mark.parametrize("schedule", [None, "onecycle"])
def test_interrupted_run_resumes_to_same_weights(tmp_path, schedule):
    x, y = _toy()
    full = _model()
    fit(full, (x, y), (x, y), config=TrainConfig(epochs=4, batch_size=16, seed=5, lr_schedule=schedule),
        progress_bar=False, checkpoint_dir=tmp_path / "a", restore_best=False)
    # "Interrupt" after 2 epochs: run 2 epochs with a config of 4 by truncating.
    part = _model()
    cfg = TrainConfig(epochs=4, batch_size=16, seed=5, lr_schedule=schedule)
    import avlib.train.loop as loop

    class Stop(Exception):
        pass

    calls = {"n": 0}
    orig = loop._save_atomic

    def save_then_maybe_stop(obj, path):
        orig(obj, path)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Stop

    loop._save_atomic = save_then_maybe_stop
    try:
        with pytest.raises(Stop):
            fit(part, (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path / "b",
                restore_best=False)
    finally:
        loop._save_atomic = orig
    resumed = _model(seed=99)  # different init: weights must come from the checkpoint
    hist = fit(resumed, (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path / "b",
               restore_best=False)
    assert hist.resumed_from == 2 and len(hist.epochs) == 4
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_onecycle_rises_to_lr_then_anneals():
    x, y = _toy()
    seen = []

    class Spy(torch.optim.Adam):
        def step(self, *a, **k):
            seen.append(self.param_groups[0]["lr"])
            return super().step(*a, **k)

    import avlib.train.loop as loop

    orig = loop._make_optimizer
    loop._make_optimizer = lambda model, config: Spy(model.parameters(), lr=config.lr)
    try:
        fit(_model(), (x, y), config=TrainConfig(epochs=10, batch_size=16, lr=0.01, lr_schedule="onecycle"),
            progress_bar=False)
    finally:
        loop._make_optimizer = orig
    steps = 10 * 6  # 96 examples, batch 16
    assert len(seen) == steps
    peak = int(np.argmax(seen))
    assert seen[peak] == pytest.approx(0.01) and abs(peak - 0.3 * steps) <= 2
    assert seen[0] < 0.001 and seen[-1] < 1e-4
    assert all(a <= b for a, b in zip(seen[:peak], seen[1:peak + 1]))
    with pytest.raises(ParameterError, match="cosine"):
        TrainConfig(lr_schedule="cosine")
    with pytest.raises(ParameterError):
        TrainConfig(lr_schedule="onecycle", lr_step=5)


def test_predict_order_and_shape():
    x, y = _toy(n=10)
    model = _model()
    logits = predict(model, (x, y), batch_size=3)
    assert logits.shape == (10, 2)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict(model, (x,), has_targets=False), expected, rtol=1e-5, atol=1e-6)


def test_bad_config_names_value():
    with pytest.raises(ParameterError, match="rmsprop"):
        TrainConfig(optimizer="rmsprop")


def test_last_training_batch_of_one_is_dropped_for_batchnorm():
    x, y = _toy(n=33)  # 33 = 2 * 16 + 1
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    hist = fit(model, (x, y), None, config=TrainConfig(epochs=1, batch_size=16), progress_bar=False)
    assert len(hist.epochs) == 1 and np.isfinite(hist.epochs[0]["train_loss"])
    assert predict(model, (x, y), batch_size=16).shape == (33, 2)  # evaluation keeps every example


# --------------------------------------------------------------------------- throughput helper


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(3, 4)
        self.num_classes = 4

    def forward(self, x, z):
        return self.a(x) + self.b(z)


def test_time_steps_trains_times_and_reports():
    from avlib.train.throughput import time_steps

    torch.manual_seed(0)
    model = _TwoInputs()
    before = [p.detach().clone() for p in model.parameters()]
    x, z, y = torch.randn(6, 8), torch.randn(6, 3), torch.randint(0, 4, (6,))
    seen = []

    def transform(inputs, training):
        seen.append(training)
        return inputs

    r = time_steps(model, (x, z), y, steps=3, warmup=2, amp=True, input_transform=transform,
                   optimizer=lambda params: torch.optim.Adam(params, lr=1e-2))
    assert r["batch_size"] == 6 and r["steps"] == 3 and r["train"] and r["device"] == "cpu"
    assert r["amp"] is False  # AMP only on CUDA
    assert r["seconds"] > 0 and r["examples_per_s"] == pytest.approx(6 * 3 / r["seconds"])
    assert seen == [True] * 5  # warm-up + timed steps, each through the transform
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # 5 Adam steps


def test_time_steps_inference_leaves_weights_and_needs_target_to_train():
    from avlib.train.throughput import time_steps

    model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r = time_steps(model, torch.randn(5, 8), steps=2, warmup=0, train=False)
    assert not r["train"] and not model.training and r["batch_size"] == 5
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # no BN update either
    with pytest.raises(ParameterError):
        time_steps(model, torch.randn(5, 8), steps=1)
    with pytest.raises(ParameterError):
        time_steps(model, torch.randn(5, 8), torch.zeros(5, dtype=torch.long), steps=0)


def test_icmr_measure_throughput_uses_the_helper():
    from avlib.train.icmr import measure_throughput

    model = _model()
    model.num_classes = 2
    r = measure_throughput(model, (8,), batch_size=4, steps=2, warmup=1, device="cpu")
    assert r["input_shape"] == [8] and r["batch_size"] == 4 and r["examples_per_s"] > 0
    assert r["amp"] is False and r["channels_last"] is False and r["threads"] == torch.get_num_threads()


def test_save_benchmark_writes_meta_and_records(tmp_path):
    import json

    from avlib.train.throughput import save_benchmark

    out = save_benchmark(tmp_path / "sub" / "b.json", [{"step": "x", "videos_per_s": 2.0}], threads=2, note="n")
    d = json.loads(out.read_text())
    assert d["results"] == [{"step": "x", "videos_per_s": 2.0}]
    assert d["meta"]["threads"] == 2 and d["meta"]["note"] == "n" and d["meta"]["torch"] == torch.__version__
