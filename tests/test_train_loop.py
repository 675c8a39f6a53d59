import os

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


def _records(hist):
    return [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_s")} for r in hist.epochs]


@pytest.mark.parametrize("schedule,workers", [(None, 0), ("onecycle", 0), ("onecycle", 2)])
def test_interrupted_run_resumes_to_same_weights(tmp_path, schedule, workers):
    # workers=2: persistent DataLoader workers must not change the order of a resumed epoch
    x, y = _toy()
    cfg = TrainConfig(epochs=4, batch_size=16, seed=5, lr_schedule=schedule, num_workers=workers)
    full = _model()
    full_hist = fit(full, (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path / "a",
                    restore_best=False)
    # "Interrupt" after 2 epochs: run 2 epochs with a config of 4 by truncating.
    part = _model()
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
    torch.manual_seed(1234)  # whatever the random state is now, the checkpoint's comes back
    np.random.seed(1234)
    resumed = _model(seed=99)  # different init: weights must come from the checkpoint
    hist = fit(resumed, (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path / "b",
               restore_best=False)
    assert hist.resumed_from == 2 and len(hist.epochs) == 4
    assert _records(hist) == _records(full_hist)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_holds_every_state_and_is_written_atomically(tmp_path):
    import avlib.train.loop as loop

    x, y = _toy()
    cfg = TrainConfig(epochs=2, batch_size=16, seed=2, lr_step=1)
    fit(_model(), (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert set(state) == set(loop.CHECKPOINT_KEYS)
    assert state["format"] == loop.CHECKPOINT_FORMAT and state["epoch"] == 2 and state["world_size"] == 1
    assert state["scheduler"] is not None and state["scaler"] is None and state["amp"] == "off"
    (rng,) = state["rng"]
    assert set(rng) == {"python", "numpy", "torch", "cuda"}
    assert state["sampler"]["epoch"] == 2 and isinstance(state["sampler"]["generator"], torch.Tensor)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "last.pt"]  # no .tmp left


def test_checkpoint_of_the_first_format_still_resumes(tmp_path):
    # written before the random states of every process, the scaler and the new config fields
    x, y = _toy()
    fit(_model(), (x, y), config=TrainConfig(epochs=2, batch_size=16), progress_bar=False, checkpoint_dir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    old_config = {k: v for k, v in state["config"].items()
                  if k not in ("compile", "deterministic", "pin_memory", "persistent_workers")}
    old_config.update(epochs=3, amp=True, num_workers=0)
    old = {k: state[k] for k in ("model", "optimizer", "scheduler", "batch_scheduler", "epoch", "seed", "git_commit",
                                 "best_state", "best_score", "bad_epochs", "torch_rng", "stopped")}
    old.update(config=old_config, history={k: v for k, v in state["history"].items() if k != "meta"})
    torch.save(old, tmp_path / "last.pt")
    hist = fit(_model(), (x, y), config=TrainConfig(epochs=3, batch_size=16), progress_bar=False,
               checkpoint_dir=tmp_path)
    assert hist.resumed_from == 2 and len(hist.epochs) == 3


def test_early_stopped_checkpoint_is_not_trained_further(tmp_path):
    x, y = _toy()
    cfg = TrainConfig(epochs=30, batch_size=16, seed=0, lr=0.0, patience=1)  # lr 0: no improvement
    first = fit(_model(), (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path)
    assert len(first.epochs) == 2
    again = fit(_model(), (x, y), (x, y), config=cfg, progress_bar=False, checkpoint_dir=tmp_path)
    assert again.resumed_from == 2 and len(again.epochs) == 2


def test_other_config_restarts_with_a_warning_but_loader_settings_do_not(tmp_path):
    x, y = _toy()
    fit(_model(), (x, y), config=TrainConfig(epochs=2, batch_size=16), progress_bar=False, checkpoint_dir=tmp_path)
    same = fit(_model(), (x, y), config=TrainConfig(epochs=2, batch_size=16, num_workers=0, pin_memory=False),
               progress_bar=False, checkpoint_dir=tmp_path)
    assert same.resumed_from == 2
    with pytest.warns(UserWarning, match="another configuration"):
        other = fit(_model(), (x, y), config=TrainConfig(epochs=2, batch_size=16, lr=0.1), progress_bar=False,
                    checkpoint_dir=tmp_path)
    assert other.resumed_from is None and len(other.epochs) == 2


def test_epoch_batch_sampler_splits_global_batches_among_processes():
    from avlib.train.loop import EpochBatchSampler

    for n, batch, world in [(120, 32, 2), (103, 32, 4), (33, 16, 1), (34, 16, 2), (40, 8, 8), (5, 4, 2)]:
        single = EpochBatchSampler(n, batch, seed=3)
        parts = [EpochBatchSampler(n, batch, seed=3, num_replicas=world, rank=r) for r in range(world)]
        for e in (0, 4):
            for s in (single, *parts):
                s.set_epoch(e)
            local = [list(p) for p in parts]
            assert all(len(b) == len(local[0]) == len(p) for b, p in zip(local, parts))
            glob = single.global_batches()
            for k in range(len(local[0])):
                together = sorted(i for r in range(world) for i in local[r][k])
                assert len({len(b[k]) for b in local}) == 1  # the same local batch size everywhere
                if k < n // batch:  # full batches: exactly the single process's
                    assert together == sorted(glob[k])
        assert len(single) == len(list(single))
    # the old rule of one process: a last batch of one example is dropped when there are others
    assert [len(b) for b in EpochBatchSampler(33, 16)] == [16, 16]
    assert [len(b) for b in EpochBatchSampler(1, 16)] == [1]
    # a new epoch, a new order; the same epoch, the same order
    s = EpochBatchSampler(50, 10, seed=1)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    s.set_epoch(0)
    assert list(s) == first
    with pytest.raises(ParameterError, match="divide"):
        EpochBatchSampler(50, 10, num_replicas=3)


# --------------------------------------------------------------------------- GPU settings (mocked on the CPU)


def test_amp_modes_and_their_selection(monkeypatch):
    from avlib.train.loop import resolve_amp

    assert TrainConfig().amp == "auto" and TrainConfig(amp=True).amp == "auto" and TrainConfig(amp=False).amp == "off"
    assert TrainConfig(amp="BF16").amp == "bf16"
    with pytest.raises(ParameterError, match="fp8"):
        TrainConfig(amp="fp8")
    # never on the CPU
    for mode in ("auto", "bf16", "fp16", "off"):
        assert resolve_amp(mode, "cpu") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for bf16, auto in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, v=bf16: v)
        assert resolve_amp("auto", "cuda") == auto
        assert resolve_amp("fp16", torch.device("cuda", 0)) == torch.float16
        assert resolve_amp("off", "cuda") is None
    with pytest.raises(ParameterError, match="bf16"):
        resolve_amp("bf16", "cuda")  # not supported (the last mock)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_amp("bf16", "cuda") == torch.bfloat16
    # a GPU that only emulates bf16 (before compute capability 8.0) gets fp16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_amp("auto", "cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_amp("auto", "cuda") is None


def test_cpu_run_records_what_it_used():
    x, y = _toy(n=32)
    hist = fit(_model(), (x, y), config=TrainConfig(epochs=1, batch_size=16, amp="fp16", channels_last=True),
               progress_bar=False, device="cpu")
    assert hist.meta == {"device": "cpu", "amp": "off", "channels_last": False, "compile": False,
                         "deterministic": False, "world_size": 1, "global_batch": 16}


def test_deterministic_switch_is_on_while_training_and_restored(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = []

    def spy(inputs, training):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                     torch.backends.cudnn.benchmark))
        return inputs

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    x, y = _toy(n=32)
    fit(_model(), (x, y), config=TrainConfig(epochs=1, batch_size=16, deterministic=True), progress_bar=False,
        input_transform=spy)
    assert seen and all(s == (True, True, False) for s in seen)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", ":16:8")
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark) == before
    seen.clear()
    fit(_model(), (x, y), config=TrainConfig(epochs=1, batch_size=16), progress_bar=False, input_transform=spy)
    assert seen and not any(s[0] for s in seen)


def test_loader_defaults_on_cuda_and_on_the_cpu(monkeypatch):
    import avlib.train.loop as loop

    monkeypatch.setattr(loop, "_cpus_per_process", lambda: 32)
    ds = torch.utils.data.Subset(loop.as_dataset((np.zeros((4, 2), np.float32), np.zeros(4))), [0, 1])
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert loop._loader_options(TrainConfig(), cuda, ds) == {"num_workers": 8, "pin_memory": True,
                                                             "persistent_workers": True}
    assert loop._loader_options(TrainConfig(), cpu, ds) == {"num_workers": 0, "pin_memory": False,
                                                            "persistent_workers": False}
    tensors = loop.as_dataset((np.zeros((4, 2), np.float32), np.zeros(4)))
    assert loop._loader_options(TrainConfig(), cuda, tensors)["num_workers"] == 0  # in memory: no workers
    assert loop._loader_options(TrainConfig(num_workers=3, pin_memory=False, persistent_workers=False), cuda,
                                ds) == {"num_workers": 3, "pin_memory": False, "persistent_workers": False}
    monkeypatch.setattr(loop, "_cpus_per_process", lambda: 2)
    assert loop._loader_options(TrainConfig(), cuda, ds)["num_workers"] == 2
    with pytest.raises(ParameterError):
        TrainConfig(num_workers=-1)


def test_compile_wraps_the_model_and_checkpoints_the_plain_weights(tmp_path, monkeypatch):
    compiled = []

    class Wrapped(nn.Module):  # stands in for torch.compile's OptimizedModule
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

        def forward(self, *a):
            return self._orig_mod(*a)

    def fake_compile(module, **kwargs):
        compiled.append(module)
        return Wrapped(module)

    monkeypatch.setattr(torch, "compile", fake_compile)
    x, y = _toy(n=32)
    model = _model()
    hist = fit(model, (x, y), (x, y), config=TrainConfig(epochs=1, batch_size=16, compile=True), progress_bar=False,
               checkpoint_dir=tmp_path)
    assert compiled == [model] and hist.meta["compile"]
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert state["model"].keys() == model.state_dict().keys()


def test_get_device_requires_a_usable_cuda_device(monkeypatch):
    import avlib.utils as utils

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert utils.get_device() == torch.device("cpu")
    assert utils.get_device("cpu", require=True) == torch.device("cpu")  # an explicit CPU is allowed
    for call in (lambda: utils.get_device(require=True), lambda: utils.get_device(require="cuda"),
                 lambda: utils.get_device("cuda")):
        with pytest.raises(utils.DeviceUnavailableError) as err:
            call()
        msg = str(err.value)
        assert "required" in msg and "architectures" in msg and "driver" in msg and "device='cpu'" in msg
    with pytest.raises(ParameterError):
        utils.get_device(require="tpu")
    # a device the wheel has no kernels for
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Old GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (6, 1))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80", "sm_90"])
    with pytest.raises(utils.DeviceUnavailableError, match=r"sm_61.*Old GPU \(capability 6\.1"):
        utils.get_device(require=True)
    # supported architecture, but torch cannot use it (e.g. a driver older than the wheel's CUDA)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (8, 6))
    with pytest.raises(utils.DeviceUnavailableError, match="driver may be too old"):
        utils.get_device(require=True)
    # a wheel without CUDA
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(utils.DeviceUnavailableError, match="without CUDA"):
        utils.get_device(require=True)


def test_cuda_architecture_compatibility():
    from avlib.utils import cuda_problem

    assert cuda_problem() is not None or torch.cuda.is_available()
    import avlib.utils as utils

    check = getattr(utils, "_arch_supported")
    assert check((8, 6), ["sm_80"]) and check((9, 0), ["sm_90a"]) and not check((8, 0), ["sm_86"])
    assert check((12, 0), ["sm_90", "compute_90"]) and not check((12, 0), ["sm_90", "sm_100"])


def test_describe_device_on_the_cpu():
    from avlib.utils import describe_device

    d = describe_device("cpu")
    assert d["type"] == "cpu" and d["cores"] >= 1 and d["torch"] == torch.__version__ and d["name"]


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
    from avlib.experiments.icmr.throughput import measure_throughput

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
