"""Fidelity of the ISMIR analyses: Grad-CAM target layers named by
each model, the paper's linear-read-out importance, frames spread over the video."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from avlib.analysis import gradcam as gc
from avlib.analysis import importance as imp
from avlib.errors import ParameterError
from avlib.models import get_model

torch.set_num_threads(1)

# every registered CNN with a spatial feature map, at two input sizes (one example each)
CNNS = {
    "han2016": [(1, 128, 43), (1, 128, 86)],
    "choi2016": [(1, 96, 192), (1, 96, 384)],
    "xception_audio": [(1, 96, 128), (1, 96, 256)],
    "inception_frames": [(3, 80, 80), (3, 224, 224)],
}


def _build(name, shape):
    if name == "choi2016":  # its time-axis batch norm is sized for the input
        return get_model(name, num_classes=4, input_size=tuple(shape[-2:]))
    return get_model(name, num_classes=4)


def _name_of(model, module):
    return next(n for n, m in model.named_modules() if m is module)


@pytest.mark.parametrize("name", sorted(CNNS))
def test_gradcam_layer_is_the_named_one_at_every_size_and_seed(name):
    for seed in range(3):
        torch.manual_seed(seed)
        m = _build(name, CNNS[name][0]).eval()
        declared = getattr(type(m), "gradcam_layer", None)
        assert isinstance(declared, str) and declared, f"{name} must name its Grad-CAM layer"
        if name == "inception_frames":
            assert declared == "backbone.Mixed_7c"  # the last spatial block of Inception v3
        for shape in CNNS[name]:
            if name == "choi2016":
                m = _build(name, shape).eval()
            layers = gc.find_target_layers(m, torch.zeros((1, *shape)))
            assert len(layers) == 1 and _name_of(m, layers[0]) == declared
            # the named layer really produces a 4-D map for this input
            seen = []
            h = layers[0].register_forward_hook(lambda mod, i, o: seen.append(o.shape))
            with torch.no_grad():
                m(torch.zeros((1, *shape)))
            h.remove()
            assert len(seen) == 1 and len(seen[0]) == 4


def _unnamed(name):
    model = get_model(name, num_classes=4)
    cls = type(model)
    model.__class__ = type(cls.__name__ + "Unnamed", (cls,), {"gradcam_layer": None})
    return model


@pytest.mark.parametrize("name,shape,want", [
    ("han2016", (1, 128, 43), "features.9"),  # last conv pair (the global pool is 1 x 1)
    ("han2016", (1, 128, 86), "features.9"),
    ("inception_frames", (3, 224, 224), "backbone.Mixed_7c"),  # 5 x 5 at 224 px
])
def test_tracer_fallback_keeps_tensors_alive_and_is_stable(name, shape, want):
    got = set()
    for seed in range(3):
        torch.manual_seed(seed)
        m = _unnamed(name).eval()
        assert gc.gradcam_layer_name(m) is None
        got.add(gc.trace_spatial_layer(m, torch.zeros((2, *shape))))
        assert sum(len(x._forward_hooks) for x in m.modules()) == 0
    assert got == {want}


def test_named_layer_found_through_wrappers_and_used_by_sessions():
    from avlib.models.audiovisual import AudioVisualNet

    torch.manual_seed(0)
    audio = nn.Sequential(get_model("choi2016", num_classes=3))  # a wrapper, as the ICMR standardiser
    visual = get_model("inception_frames", num_classes=3)
    assert gc.gradcam_layer_name(audio) == "0." + type(audio[0]).gradcam_layer
    net = AudioVisualNet(audio, visual, nn.Sequential(nn.Flatten(), nn.Linear(3 * 1024, 3)))
    cam = gc.multimodal_gradcam(net, "frames")
    assert cam.target_layers == [visual.backbone.Mixed_7c]
    cam = gc.multimodal_gradcam(net, "audio")
    assert cam.target_layers == [audio.get_submodule(gc.gradcam_layer_name(audio))]
    with pytest.raises(ParameterError):
        gc.target_layer_name(nn.Linear(3, 3))  # no named layer and nothing to trace


# --------------------------------------------------------------------------- importance


def _numpy_L(x, w, pred, C):
    out = np.full((C, x.shape[1]), np.nan)
    for c in range(C):
        members = x[pred == c]
        if len(members):
            out[c] = np.maximum(members * w[c], 0).mean(0)
    return out


def test_linear_readout_is_the_optimum_and_importance_matches_numpy():
    rng = np.random.default_rng(0)
    n, ka, kv, C = 60, 6, 9, 4
    y = rng.integers(0, C, n)
    xa = rng.normal(size=(n, ka)) + 0.5 * y[:, None]
    xv = np.abs(rng.normal(size=(n, kv))) * (1 + (y[:, None] == np.arange(kv) % C))
    train = np.arange(n) < 40
    wd = 1e-2
    out = imp.readout_importance(xa, xv, y, train=train, num_classes=C, weight_decay=wd)
    w, b = out["weight"], out["bias"]
    assert w.shape == (C, ka + kv) and b.shape == (C,)
    # stationary point of mean cross-entropy + wd/2 ||W||^2, gradient computed with numpy
    x = np.concatenate([xa, xv], 1)[train]
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    r = (p - np.eye(C)[y[train]]) / len(x)
    assert np.abs(r.T @ x + wd * w).max() < 1e-5 and np.abs(r.sum(0)).max() < 1e-5
    # the paper's L^c over all videos, D_c = videos the read-out predicts as c
    xall = np.concatenate([xa, xv], 1)
    pred = (xall @ w.T + b).argmax(1)
    np.testing.assert_array_equal(out["predictions"], pred)
    want = _numpy_L(xall, w, pred, C)
    np.testing.assert_allclose(out["audio"], want[:, :ka], rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(out["visual"], want[:, ka:], rtol=1e-10, equal_nan=True)
    # deterministic
    again = imp.readout_importance(xa, xv, y, train=train, num_classes=C, weight_decay=wd)
    np.testing.assert_array_equal(again["weight"], w)


class _LinearFusionNet(nn.Module):
    """A stand-in for AudioVisualNet whose fusion head is one dense layer."""

    def __init__(self, ka, kv, k, C):
        super().__init__()
        self.k = k
        self.lin = nn.Linear(ka + k * kv, C).double()

    def fuse(self, a, f):
        return self.lin(torch.cat([a.double(), f.double().flatten(1)], 1))


def _fake_result(scheme="feature extraction", k=2, seed=0):
    from avlib.experiments.ismir.schemes import SchemeResult

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    n, ka, kv, C = 48, 12, 24, 3
    labels = np.arange(n) % C
    a = rng.normal(size=(n, ka)) + labels[:, None] * (np.arange(ka) % C == 0)
    f = np.abs(rng.normal(size=(n, k, kv)))
    net = _LinearFusionNet(ka, kv, k, C)
    with torch.no_grad():
        logits = net.fuse(torch.from_numpy(a), torch.from_numpy(f)).numpy()
    split = np.array(["train", "val", "test"])[np.arange(n) % 4 % 3]
    return SchemeResult(scheme, net, a, f, logits, labels, split), net


@pytest.mark.parametrize("variant", ["linear", "gradient"])
def test_analyse_correspondence_importance_variants_match_numpy(variant):
    from avlib.experiments.ismir import correspondence

    res, net = _fake_result()
    cor = correspondence.analyse_correspondence(res, ["a", "b", "c"], k_audio=3, k_visual=4, importance=variant)
    assert cor.settings["importance"] == variant
    xa, xv = res.audio_features, res.frame_features.mean(1)
    if variant == "gradient":
        # dense head: a^c = w^c; the visual vector's weight is the sum over its frames' weights
        w = net.lin.weight.detach().numpy()
        wa = w[:, :12]
        wv = w[:, 12:].reshape(3, 2, 24).sum(1)
        pred = res.logits.argmax(1)
    else:
        ro = imp.readout_importance(xa, xv, res.labels, train=res.split == "train", num_classes=3)
        wa, wv = ro["weight"][:, :12], ro["weight"][:, 12:]
        pred = (np.concatenate([xa, xv], 1) @ ro["weight"].T + ro["bias"]).argmax(1)
    np.testing.assert_allclose(cor.importance_audio, _numpy_L(xa, wa, pred, 3), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(cor.importance_visual, _numpy_L(xv, wv, pred, 3), rtol=1e-6, equal_nan=True)
    with pytest.raises(ParameterError):
        correspondence.analyse_correspondence(res, ["a", "b", "c"], importance="saliency")


# --------------------------------------------------------------------------- frames and presets


def test_frames_spread_over_a_long_video():
    from avlib.experiments.ismir.data import AVData, AVDataset, frame_positions

    n_cached = 100  # e.g. a 200 s video cached as 100 frames spread over it
    frames = [np.arange(n_cached, dtype=np.uint8)[:, None, None, None].repeat(3, 1).repeat(2, 2).repeat(2, 3),
              np.arange(3, dtype=np.uint8)[:, None, None, None].repeat(3, 1).repeat(2, 2).repeat(2, 3)]
    data = AVData(np.zeros((2, 1, 4, 4)), frames, [0, 1], ["train", "test"], ["long", "short"], ["a", "b"])
    got = data.frames_array(5)[:, :, 0, 0, 0]
    np.testing.assert_array_equal(got[0], [10, 30, 50, 70, 90])  # not the first five
    np.testing.assert_array_equal(got[1], [0, 1, 2, 0, 1])  # fewer frames than k: cycled
    item = AVDataset(data, [0], k=4)[0][1][:, 0, 0, 0].numpy()
    np.testing.assert_array_equal(item, frame_positions(100, 4))
    assert item[-1] > 50


def test_paper_preset_uses_1s_audio_and_one_frame_per_segment():
    from avlib.config.icmr import ICMRConfig
    from avlib.config.ismir import ISMIRConfig

    p = ISMIRConfig.for_scale("paper")
    assert p.icmr.audio.choi_seconds == 1.0 and p.network.n_frames == 1 and p.analysis.importance == "linear"
    assert p.network.audio_model == "xception_audio"
    cpu = ISMIRConfig.for_scale("cpu")
    assert cpu.icmr.audio == ICMRConfig.for_scale("cpu").audio
    assert cpu.with_overrides({"analysis.importance": "gradient"}).analysis.importance == "gradient"
    with pytest.raises(ParameterError):
        cpu.with_overrides({"analysis.importance": "saliency"})


def test_seed_tables_and_claim_evidence_orientation():
    from avlib.config.ismir import ISMIRConfig
    from avlib.experiments.ismir import correspondence, evidence, tables
    from avlib.metrics.stats import mean_ci

    runs = {}
    for sd in (0, 1, 2):
        runs[("feature extraction", sd)] = _fake_result("feature extraction", seed=sd)[0]
        if sd < 2:
            runs[("joint", sd)] = _fake_result("joint", seed=10 + sd)[0]
    cfg = ISMIRConfig.for_scale("smoke").with_overrides({"analysis.k_audio": 3, "analysis.k_visual": 4,
                                                         "analysis.groups": "label"})
    cors = correspondence.analyse_seeds(runs, ["a", "b", "c"], cfg)
    assert set(cors) == set(runs)
    acc = tables.seed_accuracy_table(runs)
    h = [runs[("feature extraction", s)].metrics("test")["hit_at_1"] for s in range(3)]
    row = acc[acc["scheme"] == "feature extraction"].iloc[0]
    assert row["seeds"] == 3 and row["Hit@1 (ours, mean)"] == pytest.approx(np.mean(h))
    assert row["Hit@1 (ours, 95% lo)"] == pytest.approx(mean_ci(h).lo)
    ev = {e.claim: e for e in evidence.claim_evidence(cors, alpha=0.05)}
    assert set(ev) == {"ismir_strong_intra", "ismir_no_significant_inter", "ismir_joint_vs_fe"}
    fe = [cors[("feature extraction", s)].summary for s in range(3)]
    # the paper's criterion per seed: the weakest category's intra strength above "strong", and the
    # share of categories with no significant inter-modal pair (all of them in the paper)
    want = np.mean([100 * (np.nan_to_num(s["intra_strength"].to_numpy(), nan=0.0).min() - cfg.analysis.strong) for s in fe])
    assert ev["ismir_strong_intra"].effect == pytest.approx(want) and ev["ismir_strong_intra"].n == 3
    assert ev["ismir_no_significant_inter"].effect == pytest.approx(
        np.mean([100 * s["inter_not_significant"].mean() - 100 for s in fe]))
    jt = [cors[("joint", s)].summary["mean_abs_rho_inter"].mean() for s in (0, 1)]
    want = np.mean([100 * (jt[s] - fe[s]["mean_abs_rho_inter"].mean()) for s in (0, 1)])
    assert ev["ismir_joint_vs_fe"].effect == pytest.approx(want) and ev["ismir_joint_vs_fe"].n == 2
    over = tables.seed_summary_table(cors)
    assert list(over["seeds"]) == [3, 2]


def test_seed_intervals_stay_inside_the_range_of_their_statistic():
    """Two seeds give a Student-t interval of +-12.7 standard errors: a share of categories of
    0 % and 25 % must not print as 12.5 [-146, 171]."""
    from avlib.experiments.ismir import tables
    from avlib.metrics.stats import mean_ci

    class _Cors:
        def __init__(self, summary):
            self.summary = summary

    def summary(strong_cats: int, rho: float):
        import pandas as pd

        n = 4
        return pd.DataFrame({"name": list("abcd"), "mean_abs_rho_intra": [rho] * n,
                             "mean_abs_rho_inter": [0.05] * n, "n_sig_inter": [0] * n, "n_pairs_inter": [10] * n,
                             "inter_not_significant": [True] * n, "intra_strong": [i < strong_cats for i in range(n)],
                             "intra_strength": [0.9 if i < strong_cats else 0.1 for i in range(n)],
                             "claim_holds": [i < strong_cats for i in range(n)]})

    cors = {("joint", 0): _Cors(summary(0, 0.2)), ("joint", 1): _Cors(summary(1, 0.9))}
    row = tables.seed_summary_table(cors).iloc[0]
    label = "% categories where the claim holds"
    assert mean_ci([0.0, 25.0]).lo < 0  # what the plain interval would say
    assert row[f"{label} 95% lo"] == 0.0 and row[f"{label} 95% hi"] == 100.0
    assert 0.0 <= row["mean |rho| intra 95% lo"] and row["mean |rho| intra 95% hi"] <= 1.0
