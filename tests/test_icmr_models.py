"""ICMR 2017 models: shapes, parameter counts vs the paper, contract, registry, weights."""

import warnings

import pytest
import torch

from avlib.errors import ParameterError
from avlib.models import MODELS, get_model, list_models
from avlib.models.choi2016 import Choi2016
from avlib.models.han2016 import Han2016
from avlib.models.inception_frames import InceptionFrames, inception_frames
from avlib.models.late_fusion import LateFusion
from avlib.models.xception_audio import XceptionAudio

torch.set_num_threads(2)


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# (builder kwargs, paper's millions for 12 classes) -- ICMR 2017 Table 3
@pytest.mark.parametrize(
    "name, paper_millions",
    [("han2016", 1.5), ("choi2016", 2.4), ("xception_audio", 9.6)],
)
def test_audio_param_counts_match_paper(name, paper_millions):
    model = get_model(name, num_classes=12)
    assert abs(n_params(model) / 1e6 - paper_millions) < 0.1, n_params(model)


def test_xception_768_filters_does_not_match_paper():
    # the paper's text says 768 separable filters; only the code's 728 gives 9.6 M
    assert abs(n_params(XceptionAudio(12, width=768)) / 1e6 - 9.6) > 0.5


def test_param_count_follows_num_classes():
    a, b = Han2016(12), Han2016(13)
    assert n_params(b) - n_params(a) == 1024 + 1


# tiny inputs (the full 96 x 1366 forward is exercised by the benchmark)
TINY = {
    "han2016": ({}, (2, 1, 128, 43), 1024),
    "choi2016": ({"input_size": (96, 160)}, (2, 1, 96, 160), 1024),
    "xception_audio": ({}, (2, 1, 96, 96), 1024),
    "inception_frames": ({}, (2, 3, 75, 75), 2048),
    "late_fusion": ({"n_frames": 3}, (2, 7, 1024), 1024),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_contract_shapes_backward(name):
    torch.manual_seed(0)
    kwargs, shape, feat_dim = TINY[name]
    model = get_model(name, num_classes=5, **kwargs)
    x = torch.randn(shape)
    logits = model(x)
    assert logits.shape == (shape[0], 5)
    feats = model.forward_head(model.forward_features(x), pre_logits=True)
    assert feats.shape == (shape[0], feat_dim)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.reset_classifier(3)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (shape[0], 3)


def test_choi_full_input_shape_and_features():
    model = Choi2016(12).eval()
    with torch.no_grad():
        f = model.forward_features(torch.randn(1, 1, 96, 1366))
    assert f.shape == (1, 128 * 15)  # 96 x 1440 pooled by 2, 3, 4, 4


def test_choi_rejects_too_small_input():
    with pytest.raises(ParameterError):
        Choi2016(12, input_size=(16, 20))


def test_eval_is_deterministic():
    model = Han2016(4).eval()
    x = torch.randn(3, 1, 128, 43)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_registry_lists_icmr_models_and_rejects_unknown():
    for name in ["han2016", "choi2016", "xception_audio", "inception_frames", "late_fusion"]:
        assert name in MODELS and name in list_models()
    with pytest.raises(ParameterError):
        get_model("no_such_model")


def test_inception_missing_weights_falls_back_with_warning(tmp_path):
    with pytest.warns(UserWarning, match="random initialisation"):
        model = inception_frames(num_classes=4, weights=tmp_path / "absent.pth")
    assert "random initialisation" in model.pretrained_source


def test_inception_loads_local_torchvision_state_dict(tmp_path):
    from torchvision.models.inception import Inception3

    torch.manual_seed(1)
    ref = Inception3(num_classes=1000, aux_logits=True, init_weights=False)
    path = tmp_path / "inception_v3_local.pth"
    torch.save(ref.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = inception_frames(num_classes=4, weights=path)
    assert "local file" in model.pretrained_source
    assert torch.equal(model.backbone.Conv2d_1a_3x3.conv.weight, ref.Conv2d_1a_3x3.conv.weight)


def test_inception_corrupt_weights_file_falls_back(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning):
        model = InceptionFrames(3)
        from avlib.models.inception_frames import load_local_weights

        load_local_weights(model, path)
    assert "random initialisation" in model.pretrained_source


def test_late_fusion_paper_and_code_variants():
    code = LateFusion(12, n_frames=50)  # default: the reference code's one FC1024
    paper = LateFusion(12, n_frames=50, hidden=(1024, 1024))  # the paper's text
    assert n_params(paper) - n_params(code) == 1024 * 1024 + 1024


def test_config_and_book_tables():
    import pandas as pd

    from avlib.config.icmr import ICMRConfig
    from avlib.experiments.icmr.tables import table3_side_by_side, table4_side_by_side
    from avlib.experiments.icmr.throughput import titan_x_estimate

    assert ICMRConfig.for_scale("cpu").with_overrides({"audio.epochs": 2}).audio.epochs == 2
    with pytest.raises(ParameterError):
        ICMRConfig.for_scale("cpu").with_overrides({"no_such_field": 1})
    with pytest.raises(ParameterError):
        ICMRConfig.for_scale("laptop")
    ours = pd.DataFrame({"method": ["Han et al. 2016", "Xception + UC"], "params_paper_input": [1.45e6, 9.65e6],
                         "hit_at_1": [1.0, 2.0], "hit_at_3": [3.0, 4.0], "f1": [5.0, 6.0]})
    t3 = table3_side_by_side(ours)
    row = t3[t3["method"] == "Xception + UC"].iloc[0]
    assert row["hit_at_1 (paper)"] == pytest.approx(78.69) and row["hit_at_1 (ours)"] == 2.0
    ours4 = pd.DataFrame({"method": ["Xception"], "model": ["fusion"], "hit_at_1": [50.0], "hit_at_3": [60.0],
                          "f1": [40.0]})
    t4 = table4_side_by_side(ours4)
    assert t4.loc[(t4["method"] == "Xception") & (t4["model"] == "fusion"), "hit_at_1 (paper)"].item() == 88.28
    est = titan_x_estimate(64.0)
    first = est.iloc[0]
    assert first["our_hours"] == pytest.approx(first["steps"] * 64 / 64.0 / 3600)


def test_xception_cpu_depthwise_gradient_matches_native():
    from avlib.models.xception_audio import _SeparableConv

    torch.manual_seed(0)
    conv = _SeparableConv(3, 4, (3, 5))
    x = torch.randn(2, 3, 6, 11, requires_grad=True)
    conv(x).square().sum().backward()
    gx, gw = x.grad.clone(), conv.depthwise.weight.grad.clone()
    x.grad = None
    conv.depthwise.weight.grad = None
    conv.pointwise(conv.depthwise(conv.pad(x))).square().sum().backward()  # PyTorch's own path
    torch.testing.assert_close(gx, x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gw, conv.depthwise.weight.grad, rtol=1e-4, atol=1e-5)


def test_training_flops_counts_forward_and_backward_by_hand():
    from avlib.experiments.icmr.throughput import training_flops

    # fwd 2*(10*8 + 8*3); bwd: grad weights of both layers (2*80 + 2*24) + grad input of layer 2 (2*24)
    mlp = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    assert training_flops(mlp, (10,), batch_size=4) == pytest.approx(2 * (80 + 24) + 2 * (80 + 24) + 2 * 24)
    assert all(p.grad is None for p in mlp.parameters())


def test_titan_x_estimate_compute_bound_and_utilisation():
    from avlib.experiments.icmr.throughput import titan_x_estimate

    est = titan_x_estimate(10.0, flops_per_frame=17e9, peak_tflops={"G": 10.0})
    r = est.iloc[0]
    assert r["compute hours at peak, G"] == pytest.approx(r["frames_seen"] * 17e9 / 10e12 / 3600)
    implied = r["steps"] * 64 / (r["train_hours"] * 3600)
    assert r["paper utilisation %, G"] == pytest.approx(100 * implied * 17e9 / 10e12)
    assert "compute hours at peak, G" not in titan_x_estimate(10.0).columns


def test_han_initialisation_keeps_the_signal():
    # PyTorch's default init shrinks the signal through the eight plain ReLU convolutions until
    # training cannot start; He init keeps the penultimate features at unit scale
    torch.manual_seed(0)
    model = Han2016().eval()
    x = torch.randn(4, 1, 128, 43)
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
    assert 0.1 < feats.std().item() < 100
    assert all(float(m.bias.abs().max()) == 0.0 for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def test_audio_training_does_not_depend_on_earlier_random_draws():
    # the model's initial weights come from the seed, not from whatever consumed the RNG before
    import numpy as np

    from avlib.experiments.icmr.audio import train_audio_model
    from avlib.train.loop import TrainConfig

    rng = np.random.default_rng(0)
    x = [rng.normal(size=(2, 128, 43)).astype(np.float32) for _ in range(6)]
    y = np.arange(6) % 2
    cfg = TrainConfig(epochs=1, batch_size=4, seed=3)
    weights = []
    for burn in (0, 5):
        torch.rand(burn)  # unrelated random draws before training
        model, _ = train_audio_model("han2016", x, y, x[:2], y[:2], num_classes=2, config=cfg)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_audio_training_accepts_read_only_labels_without_warning():
    # labels from pandas (copy-on-write) are read-only; torch must not warn about writing to them
    import warnings

    import numpy as np

    from avlib.experiments.icmr.audio import train_audio_model
    from avlib.train.loop import TrainConfig

    rng = np.random.default_rng(1)
    x = [rng.normal(size=(96, 69)).astype(np.float32) for _ in range(6)]
    y = np.arange(6) % 2
    y.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model, hist = train_audio_model("choi2016", x, y, x[:2], y[:2], num_classes=2,
                                        config=TrainConfig(epochs=1, batch_size=4, seed=0))
    assert len(hist.epochs) == 1 and not y.flags.writeable


def test_han_dropout_comes_from_the_config_and_keys_the_stored_run():
    # the cpu scale trains Han et al. without dropout (one epoch with it stays at chance);
    # the paper scale keeps .25 / .5; a different dropout must not reuse a stored run
    import numpy as np

    from avlib.config.icmr import ICMRConfig
    from avlib.experiments.icmr import audio as icmr
    from avlib.train.loop import TrainConfig

    cpu, paper = ICMRConfig.for_scale("cpu"), ICMRConfig.for_scale("paper")
    assert icmr.audio_model_kwargs(paper, "han2016") == {"conv_dropout": 0.25, "dropout": 0.5}
    assert icmr.audio_model_kwargs(cpu, "han2016") == {"conv_dropout": 0.0, "dropout": 0.0}
    assert icmr.audio_model_kwargs(cpu, "choi2016") == {}
    key = icmr.audio_run_key(cpu, "han2016", "UC", 0)
    assert key == icmr.audio_run_key(ICMRConfig.for_scale("cpu"), "han2016", "UC", 0)
    assert key != icmr.audio_run_key(cpu.with_overrides({"audio.han_dropout": [0.1, 0.0]}), "han2016", "UC", 0)
    assert key != icmr.audio_run_key(cpu, "han2016", "UC", 1)
    # the key follows the audio settings only: the seeds, the frames or the fusion do not change an audio run
    assert key == icmr.audio_run_key(cpu.with_overrides({"seeds": [5], "fusion.epochs": 9}), "han2016", "UC", 0)
    assert key != icmr.audio_run_key(cpu.with_overrides({"audio.epochs": 3}), "han2016", "UC", 0)

    rng = np.random.default_rng(0)
    x = [rng.normal(size=(2, 128, 43)).astype(np.float32) for _ in range(4)]
    y = np.arange(4) % 2
    model, _ = icmr.train_audio_model("han2016", x, y, x[:2], y[:2], num_classes=2,
                                      config=TrainConfig(epochs=1, batch_size=4, seed=0),
                                      model_kwargs=icmr.audio_model_kwargs(cpu, "han2016"))
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates and all(r == 0.0 for r in rates)
    assert n_params(model.model) == n_params(get_model("han2016", num_classes=2))  # same network otherwise


def test_inception_workloads_read_the_benchmark_json(tmp_path):
    """The visual page's throughput section: a CUDA record of the benchmark file is preferred."""
    import json

    from avlib.experiments.icmr.throughput import inception_workloads

    rec = {"model": "inception_frames", "train": True, "input_shape": [3, 75, 75], "device": "cuda:0", "amp": True,
           "channels_last": True, "examples_per_s": 100.0}
    path = tmp_path / "icmr.json"
    path.write_text(json.dumps({"results": [dict(rec, device="cpu", examples_per_s=2.0), rec]}))
    work = inception_workloads(path, size=75)
    assert work["device"] == "cuda:0 AMP channels_last" and work["measured"]["examples_per_s"] == 100.0
    first = work["estimate"].iloc[0]
    assert first["our_hours"] == pytest.approx(first["steps"] * 64 / 100.0 / 3600)
    assert work["flops"] > 0 and "paper utilisation %, Titan X (Pascal)" in work["estimate"]


def test_table1_split_sizes_and_embedded_statistics(tmp_path):
    from avlib.data import icmr_metadata as M
    from avlib.experiments.icmr.tables import embedded_table1, official_split_sizes

    meta = M.default_metadata_dir()
    if meta is None:
        pytest.skip("ICMR metadata absent")
    sizes = official_split_sizes(meta).set_index("dataset")
    assert list(sizes.columns) == ["train", "val", "test"]
    assert sizes.loc["FCVID"].sum() == len(M.load_fcvid_list(meta))
    M.load_fcvid_list(meta).head(24).to_csv(tmp_path / "videos.csv", index=False)
    table = embedded_table1(tmp_path, meta).set_index("property")
    assert table.loc["total_videos", "embedded benchmark"] == 24
    assert table.loc["total_videos", "FCVID (real lists)"] == len(M.load_fcvid_list(meta))


def test_same_as_memory_fusion_compares_the_fusion_row_of_the_same_method():
    import pandas as pd

    from avlib.experiments.icmr.tables import same_as_memory_fusion

    t4 = pd.DataFrame({"method": ["Xception", "Xception", "Choi et al. 2016"], "model": ["fusion", "audio only", "fusion"],
                       "hit_at_1": [50.0, 40.0, 45.0], "hit_at_3": [70.0, 60.0, 65.0], "f1": [48.0, 38.0, 44.0]})
    row = pd.DataFrame({"method": ["Xception"], "model": ["fusion"], "hit_at_1": [50.0], "hit_at_3": [70.0],
                        "f1": [48.0]})
    assert same_as_memory_fusion(t4, row)
    assert not same_as_memory_fusion(t4, row.assign(f1=47.0))
