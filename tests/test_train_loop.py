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


def test_interrupted_run_resumes_to_same_weights(tmp_path):
    x, y = _toy()
    full = _model()
    fit(full, (x, y), (x, y), config=TrainConfig(epochs=4, batch_size=16, seed=5), progress_bar=False,
        checkpoint_dir=tmp_path / "a", restore_best=False)
    # "Interrupt" after 2 epochs: run 2 epochs with a config of 4 by truncating.
    part = _model()
    cfg = TrainConfig(epochs=4, batch_size=16, seed=5)
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
