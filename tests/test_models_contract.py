"""One contract for every registered model (avlib.models.base) and the model registry."""

import subprocess
import sys

import pytest
import torch

from avlib.errors import ParameterError
from avlib.models import MODELS, LazyBuilder, get_model, list_models, register_model
from avlib.models import registry
from avlib.models.base import ClassifierModel, PooledClassifierModel

torch.set_num_threads(2)


def _mask(n, t):
    return torch.arange(t)[None] < torch.tensor([t, max(1, t // 2)] * n)[:n, None]


def _lstm_inputs(g):
    mask = _mask(2, 6)
    return (torch.randn(2, 6, 1, 32, 24, generator=g) * mask[..., None, None, None],
            torch.randn(2, 6, 5, generator=g) * mask[..., None], mask)


#: name -> (builder keywords at a small size, inputs for a batch of 2)
SMALL = {
    "han2016": ({}, lambda g: (torch.randn(2, 1, 128, 43, generator=g),)),
    "choi2016": ({"input_size": (96, 160)}, lambda g: (torch.randn(2, 1, 96, 160, generator=g),)),
    "xception_audio": ({}, lambda g: (torch.randn(2, 1, 96, 96, generator=g),)),
    "inception_frames": ({}, lambda g: (torch.randn(2, 3, 75, 75, generator=g),)),
    "late_fusion": ({"n_frames": 3}, lambda g: (torch.randn(2, 7, 1024, generator=g),)),
    "audio_visual_net": (
        {"n_frames": 2, "audio": "choi2016", "audio_kwargs": {"input_size": (96, 160)}},
        lambda g: (torch.randn(2, 1, 96, 160, generator=g), torch.randn(2, 2, 3, 75, 75, generator=g)),
    ),
    "cnn_x_mlp": ({"image_hw": (32, 24), "n_frames": 3, "n_mfcc": 5},
                  lambda g: (torch.randn(2, 3, 32, 24, generator=g), torch.randn(2, 15, generator=g))),
    "cnn_x_mlp_lstm": ({"image_hw": (32, 24), "n_frames": 6, "n_mfcc": 5}, _lstm_inputs),
    "dtn": ({"n_audio": 12, "n_image": 30, "audio_hidden": (16, 8, 8, 8), "image_hidden": (20, 8, 8, 8)},
            lambda g: (torch.randn(2, 5, 6, generator=g), torch.randn(2, 12, generator=g))),
}


def _build(name, num_classes=3):
    torch.manual_seed(0)
    kwargs, make_inputs = SMALL[name]
    model = get_model(name, num_classes=num_classes, **kwargs).eval()
    return model, make_inputs(torch.Generator().manual_seed(0))


def test_every_registered_model_has_a_small_configuration_here():
    assert set(list_models()) == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_contract(name):
    model, inputs = _build(name)
    assert isinstance(model, ClassifierModel)
    for attr in ("forward_features", "forward_head", "reset_classifier"):
        assert callable(getattr(model, attr))
    assert isinstance(model.head_dim, int) and model.head_dim > 0
    assert model.num_classes == 3
    with torch.no_grad():
        feats = model.forward_features(*inputs)
        logits = model(*inputs)
        assert torch.equal(logits, model.forward_head(feats))  # forward = head(features)
        assert logits.shape == (2, 3)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_dim)
    if model.stream_dims is not None:
        assert all(isinstance(v, int) and v > 0 for v in model.stream_dims.values())
    model.reset_classifier(5)
    assert model.num_classes == 5
    with torch.no_grad():
        assert model(*inputs).shape == (2, 5)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_gradcam_layer_names_an_existing_module_or_none(name):
    model, _ = _build(name)
    layer = model.gradcam_layer
    assert layer is None or isinstance(layer, (str, dict))
    names = list(layer.values()) if isinstance(layer, dict) else [layer]
    for n in names:
        if n is not None:
            assert isinstance(model.get_submodule(n), torch.nn.Module)


def test_gradcam_layers_agree_with_the_analysis():
    from avlib.analysis.gradcam import gradcam_layer_name, trace_spatial_layer

    for name in ("han2016", "choi2016", "xception_audio", "inception_frames"):
        model, _ = _build(name)
        assert model.gradcam_layer == type(model).gradcam_layer == gradcam_layer_name(model)
    av, _ = _build("audio_visual_net")
    assert av.gradcam_layer == {"audio": "audio." + av.audio.gradcam_layer,
                                "frames": "visual." + av.visual.gradcam_layer}
    assert av.stream_dims == {"audio": 1024, "frames": 2048}
    for name in ("late_fusion", "cnn_x_mlp_lstm", "dtn"):
        assert _build(name)[0].gradcam_layer is None
    # CNN x MLP: the image stream's last map is what a tracer finds, in every variant
    for variant in ("baseline", "xflow", "no_xconns", "no_resconns"):
        torch.manual_seed(0)
        m = get_model("cnn_x_mlp", variant=variant, num_classes=3, **SMALL["cnn_x_mlp"][0])
        inputs = SMALL["cnn_x_mlp"][1](torch.Generator().manual_seed(0))
        assert m.gradcam_layer == {"image": trace_spatial_layer(m, inputs)}


def test_pooled_models_share_one_head():
    for name in ("xception_audio", "inception_frames"):
        model, inputs = _build(name)
        assert isinstance(model, PooledClassifierModel)
        assert type(model).forward_head is PooledClassifierModel.forward_head
        with torch.no_grad():
            f = model.forward_features(*inputs)
            pooled = f.mean((2, 3))
            torch.testing.assert_close(model.forward_head(f, pre_logits=True), pooled)
            torch.testing.assert_close(model.forward_head(f), model.classifier(pooled))


def test_reset_classifier_zero_removes_the_classifier():
    model, inputs = _build("han2016")
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(*inputs).shape == (2, model.head_dim)


def test_get_model_rejects_unknown_names_and_positional_arguments():
    with pytest.raises(ParameterError, match="no_such_model"):
        get_model("no_such_model")
    with pytest.raises(TypeError):
        get_model("han2016", 12)
    with pytest.raises(TypeError):
        MODELS["han2016"](12)


def test_register_model_spellings_and_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))

    def tiny(*, num_classes=2):
        return torch.nn.Linear(3, num_classes)

    register_model("tiny_a", tiny)

    @register_model("tiny_b")
    def _b(*, num_classes=2):
        return tiny(num_classes=num_classes)

    @register_model
    def tiny_c(*, num_classes=2):
        return tiny(num_classes=num_classes)

    register_model("tiny_lazy", LazyBuilder("avlib.models.han2016", "han2016"))
    for n in ("tiny_a", "tiny_b", "tiny_c"):
        assert registry.get_model(n, num_classes=4).out_features == 4
    assert "tiny_c" in registry.list_models()
    assert registry.get_model("tiny_lazy", num_classes=4).num_classes == 4
    with pytest.raises(ParameterError, match="already registered"):
        register_model("tiny_a", tiny)
    register_model("tiny_a", _b, overwrite=True)
    with pytest.raises(ParameterError):
        register_model("", tiny)
    with pytest.raises(ParameterError):
        register_model("tiny_d", 3)


def test_importing_the_registry_imports_no_model():
    code = ("import sys, avlib.models as m; m.list_models(); "
            "assert 'torch' not in sys.modules and not any(k.startswith('avlib.models.') and "
            "k not in ('avlib.models.registry',) for k in sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- DTN outputs
def test_dtn_forward_all_and_loss_accept_both_output_forms():
    from avlib.models.dtn import DTNLogits, DTNLoss, DTNOutput

    model, inputs = _build("dtn")
    model.train()
    torch.manual_seed(1)
    out = model(*inputs)
    torch.manual_seed(1)
    full = model.forward_all(*inputs)
    assert isinstance(out, DTNLogits) and isinstance(full, DTNOutput)
    assert type(full.logits) is torch.Tensor and torch.equal(out, full.logits)
    assert all(torch.equal(a, b) for a, b in zip(out.streams + out.hidden, full.streams + full.hidden))
    assert type(out + 1) is torch.Tensor and type(out.detach()) is torch.Tensor
    y = torch.tensor([0, 2])
    loss_fn = DTNLoss(model, eta=1e-2, gamma=1e-1)
    assert torch.equal(loss_fn(out, y), loss_fn(full, y))
    assert loss_fn(out, y) > torch.nn.functional.cross_entropy(full.logits, y)  # J1 of both + penalties
    with pytest.raises(ParameterError):
        model.reset_classifier(0)


def test_dtn_trains_in_the_shared_loop():
    from avlib.models.dtn import DTNLoss
    from avlib.train.loop import TrainConfig, fit

    model, _ = _build("dtn")
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(16, 5, 6, generator=g), torch.randn(16, 12, generator=g), torch.arange(16) % 3)
    loss_fn = DTNLoss(model, eta=1e-2, gamma=1e-1)
    hist = fit(model, data, data, config=TrainConfig(epochs=2, batch_size=8), loss_fn=loss_fn,
               device="cpu", progress_bar=False)
    assert len(hist.epochs) == 2 and set(loss_fn.components) == {"J1", "J2", "Omega"}
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in hist.epochs)


# ----------------------------------------------------------------------------- wrappers
def test_wrappers_keep_the_contract():
    from avlib.analysis.gradcam import gradcam_layer_name
    from avlib.models.wrappers import FrozenHead, Standardise

    inner, (x,) = _build("choi2016")
    model = Standardise(inner, 1.0, 2.0).eval()
    assert model.head_dim == 1024 and model.num_classes == 3
    assert model.gradcam_layer == "model." + inner.gradcam_layer == gradcam_layer_name(model)
    with torch.no_grad():
        assert torch.equal(model(x), inner((x - 1.0) / 2.0))
        assert torch.equal(model(x), model.forward_head(model.forward_features(x)))
    model.reset_classifier(5)
    assert inner.num_classes == 5 and model.num_classes == 5

    torch.manual_seed(0)
    head = FrozenHead(4, torch.ones(8), 2 * torch.ones(8), dim=8).eval()
    f = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(head(f), head.classifier((f - 1) / 2))
        assert head.forward_head(head.forward_features(f), pre_logits=True).shape == (3, head.head_dim)
    assert head.gradcam_layer is None
    head.reset_classifier(6)
    assert head(f).shape == (3, 6)
