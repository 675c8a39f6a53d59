"""XFlow models: Table III parameter counts, shapes, backward, masking, DTN."""
import pytest
import torch
from torch import nn

from avlib.errors import ParameterError
from avlib.models import xflow
from avlib.models.xflow import (CNNxMLP, CNNxMLPLSTM, ElementwisePReLU, TimeBatchNorm,
                                build_xflow_model, count_trainable_parameters,
                                lstm_time_bn_parameters)
from avlib.report import paper_table

torch.set_num_threads(2)

_FAMILY_ROW = {"cnnxmlp": "CNNxMLP", "lstm": "CNNxMLP-LSTM"}
_COLUMN = {"avletters": "avletters", "digits": "digits_cuave"}


def _paper_count(family, dataset, variant):
    t = paper_table("xflow_table3_params")
    row = t[(t.model == _FAMILY_ROW[family]) & (t.variant == variant)]
    assert len(row) == 1
    return int(row[_COLUMN[dataset]].iloc[0])


@pytest.mark.parametrize("family", ["cnnxmlp", "lstm"])
@pytest.mark.parametrize("dataset", ["avletters", "digits"])
@pytest.mark.parametrize("variant", ["baseline", "xflow"])
def test_table3_parameter_counts(family, dataset, variant):
    model = build_xflow_model(family, dataset, variant)
    ours = count_trainable_parameters(model)
    paper = _paper_count(family, dataset, variant)
    if (family, dataset, variant) == ("lstm", "avletters", "baseline"):
        # documented exception: 156 = 4 x 39 fewer, the two time-axis BN layers of a
        # 78-step (2 x 39) sequence; with n_frames=78 the count equals the paper.
        assert paper - ours == 156
        assert paper - ours == lstm_time_bn_parameters(78) - lstm_time_bn_parameters(39)
        longer = build_xflow_model(family, dataset, variant, n_frames=78)
        assert count_trainable_parameters(longer) == paper
    else:
        assert ours == paper


def test_cuave_uses_digits_geometry_and_ten_classes():
    a = build_xflow_model("cnnxmlp", "cuave", "xflow")
    b = build_xflow_model("cnnxmlp", "digits", "xflow")
    assert count_trainable_parameters(a) == count_trainable_parameters(b)
    assert a.num_classes == 10


def test_elementwise_prelu_has_one_slope_per_element():
    act = ElementwisePReLU((16, 40, 30))
    assert act.weight.numel() == 19_200
    x = torch.tensor([[-2.0, 3.0]])
    act = ElementwisePReLU((2,), init=0.5)
    assert torch.allclose(act(x), torch.tensor([[-1.0, 3.0]]))


def test_time_batch_norm_one_pair_per_step():
    bn = TimeBatchNorm(7)
    assert count_trainable_parameters(bn) == 14
    x = torch.randn(5, 7, 3, 4) * 3 + 2
    y = bn(x)
    per_step = y.transpose(0, 1).reshape(7, -1)
    assert torch.allclose(per_step.mean(1), torch.zeros(7), atol=1e-5)


def test_ablation_variants_are_between_baseline_and_xflow():
    counts = {v: count_trainable_parameters(build_xflow_model("lstm", "avletters", v))
              for v in xflow.VARIANTS}
    assert counts["baseline"] < counts["no_xconns"] < counts["xflow"]
    assert counts["baseline"] < counts["no_resconns"] < counts["xflow"]


HW = (32, 24)


@pytest.mark.parametrize("variant", list(xflow.VARIANTS))
def test_cnnxmlp_forward_backward_tiny(variant):
    torch.manual_seed(0)
    m = CNNxMLP(HW, n_frames=3, n_mfcc=5, num_classes=4, variant=variant)
    x_img, x_mfcc = torch.randn(6, 3, *HW), torch.randn(6, 15)
    logits = m(x_img, x_mfcc)
    assert logits.shape == (6, 4)
    logits.logsumexp(1).mean().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    m.eval()
    out = m.forward_intermediates(x_img, x_mfcc)
    assert torch.allclose(out.logits, m(x_img, x_mfcc), atol=1e-5)
    assert out.intermediates["features"].shape == (6, 512)
    cross, res = xflow.VARIANTS[variant]
    assert ("x2d1d_2" in out.intermediates) == cross
    assert ("r1d2d_1" in out.intermediates) == res
    if cross:
        assert out.intermediates["x2d1d_2"].shape == (6, 128)
        assert out.intermediates["x1d2d_1"].shape == (6, 16, 16, 12)
    if res:
        assert out.intermediates["r1d2d_1"].shape == (6, 16, 16, 12)
    assert m.forward_head(m.forward_features(x_img, x_mfcc), pre_logits=True).shape == (6, 512)
    m.reset_classifier(7)
    assert m(x_img, x_mfcc).shape == (6, 7)


def _seq_batch(n=5, t=6, d=5, hw=HW, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([6, 3, 1, 4, 6][:n])
    mask = torch.arange(t)[None] < lengths[:, None]
    x_img = torch.randn(n, t, 1, *hw, generator=g) * mask[..., None, None, None]
    x_mfcc = torch.randn(n, t, d, generator=g) * mask[..., None]
    return x_img, x_mfcc, mask


@pytest.mark.parametrize("variant", list(xflow.VARIANTS))
def test_lstm_forward_backward_tiny(variant):
    torch.manual_seed(0)
    m = CNNxMLPLSTM(HW, n_frames=6, n_mfcc=5, num_classes=4, variant=variant)
    x_img, x_mfcc, mask = _seq_batch()
    logits = m(x_img, x_mfcc, mask)
    assert logits.shape == (5, 4)
    logits.logsumexp(1).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.requires_grad)
    assert not m.lstm.bias_hh_l0.requires_grad  # Keras LSTM: one bias
    m.eval()
    out = m.forward_intermediates(x_img, x_mfcc, mask)
    assert torch.allclose(out.logits, m(x_img, x_mfcc, mask), atol=1e-5)
    if xflow.VARIANTS[variant][1]:
        r = out.intermediates["r1d2d_1"]
        assert r.shape == (5, 6, 8, 16, 12)
        assert torch.all(r[~mask] == 0)  # padded steps: zero


@pytest.mark.parametrize("train_mode", [False, True])
def test_lstm_padded_steps_do_not_change_output(train_mode):
    torch.manual_seed(0)
    m = CNNxMLPLSTM(HW, n_frames=6, n_mfcc=5, num_classes=4, variant="xflow")
    m.train(train_mode)
    if train_mode:  # dropout off, batch statistics on
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
    x_img, x_mfcc, mask = _seq_batch()
    ref = m(x_img, x_mfcc, mask)
    junk_img = x_img + torch.randn_like(x_img) * (~mask)[..., None, None, None]
    junk_mfcc = x_mfcc + torch.randn_like(x_mfcc) * (~mask)[..., None]
    assert torch.allclose(m(junk_img, junk_mfcc, mask), ref, atol=1e-5)
    # the mask inferred from all-zero steps (Keras Masking) gives the same result
    assert torch.allclose(m(x_img, x_mfcc), ref, atol=1e-5)


def test_lstm_mask_not_a_prefix_is_compacted():
    torch.manual_seed(0)
    m = CNNxMLPLSTM(HW, n_frames=6, n_mfcc=5, num_classes=4, variant="no_resconns").eval()
    # time-axis BN is per step: make it the identity so steps can move
    x_img, x_mfcc, mask = _seq_batch(n=2)
    perm_mask = mask.clone()
    perm_mask[1] = torch.tensor([False, True, False, True, True, False])  # 3 valid, scattered
    xi2, xm2 = torch.zeros_like(x_img), torch.zeros_like(x_mfcc)
    xi2[1, perm_mask[1]] = x_img[1, :3]
    xm2[1, perm_mask[1]] = x_mfcc[1, :3]
    xi2[0], xm2[0] = x_img[0], x_mfcc[0]
    for tbn in (m.img_tbn, m.merge_tbn):  # identity in eval mode
        tbn.bn.running_mean.zero_(); tbn.bn.running_var.fill_(1 - tbn.bn.eps)
    assert torch.allclose(m(xi2, xm2, perm_mask), m(x_img, x_mfcc, mask), atol=1e-5)


def test_bad_inputs_raise_parameter_error():
    with pytest.raises(ParameterError):
        CNNxMLP(HW, 3, 5, 4, variant="nope")
    with pytest.raises(ParameterError):
        build_xflow_model("cnnxmlp", "timit")
    m = CNNxMLPLSTM(HW, n_frames=6, n_mfcc=5, num_classes=4)
    with pytest.raises(ParameterError):
        m(torch.zeros(2, 5, 1, *HW), torch.zeros(2, 5, 5))
    with pytest.raises(ParameterError):
        CNNxMLP(HW, 3, 5, 4, deconv_kernels=(40, 4))


# ----------------------------------------------------------------------------- DTN
from avlib.models.dtn import DTNLoss, WeaklySharedDTN, dtn, pretrain_autoencoders  # noqa: E402


def test_dtn_layer_sizes_of_the_paper():
    m = dtn("avletters")
    assert (m.n_audio, m.n_image, m.num_classes) == (286, 13_200, 26)
    assert [l.out_features for l in m.audio] == [512, 256, 256, 256]
    assert [l.out_features for l in m.image] == [2048, 256, 256, 256]
    d = dtn("digits")
    assert (d.n_audio, d.n_image, d.num_classes) == (156, 16_200, 10)


def test_dtn_forward_and_losses():
    torch.manual_seed(0)
    m = WeaklySharedDTN(12, 30, 3, audio_hidden=(16, 8, 8, 8), image_hidden=(20, 8, 8, 8))
    x_img, x_mfcc, y = torch.randn(6, 5, 6), torch.randn(6, 12), torch.randint(0, 3, (6,))
    loss_fn = DTNLoss(m, eta=1e-2, gamma=1e-1)
    m.train()
    logits = m(x_img, x_mfcc)
    assert logits.shape == (6, 3)
    loss = loss_fn(logits, y)
    c = loss_fn.components
    assert c["J2"] > 0 and c["Omega"] > 0
    assert loss.item() == pytest.approx(c["J1"] + 1e-2 * c["J2"] + 1e-1 * c["Omega"], rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    # Omega vanishes when the shared layers are equal
    for a, b in m.shared_pairs():
        with torch.no_grad():
            b.copy_(a)
    assert loss_fn.omega().item() == 0.0
    # J2 is lower when co-occurring pairs have larger inner products than the others
    h = torch.eye(4) * 5
    assert DTNLoss.cooccurrence(h, h) < DTNLoss.cooccurrence(h, h.flip(0))
    m.eval()
    with torch.no_grad():
        assert float(loss_fn(m(x_img, x_mfcc), y)) == pytest.approx(
            float(torch.nn.functional.cross_entropy(m(x_img, x_mfcc), y)))


def test_dtn_autoencoder_pretraining_reduces_reconstruction_error():
    torch.manual_seed(0)
    m = WeaklySharedDTN(12, 30, 3, audio_hidden=(16, 8, 8, 8), image_hidden=(20, 8, 8, 8))
    x_img, x_mfcc = torch.randn(64, 30), torch.randn(64, 12)
    one = pretrain_autoencoders(m, x_img, x_mfcc, epochs=1, tol=None)
    more = pretrain_autoencoders(m, x_img, x_mfcc, epochs=30, tol=None)
    assert len(one["audio"]) == 2 and len(one["image"]) == 2
    assert more["audio"][0] < one["audio"][0]
    with pytest.raises(ParameterError):
        WeaklySharedDTN(12, 30, 3, audio_hidden=(16, 8, 8, 4), image_hidden=(20, 8, 8, 8))


# ----------------------------------------------------------------- reference layer inventory
# Transcribed by hand from the authors' Keras code (catalina17/XFlow, Models/*.py). For every
# stage of each reference graph, in forward order, its regularisation and activation layers:
# B = BatchNormalization, TB = BatchNormalization(axis=1) over the time axis, R = a layer
# with activation='relu', P = PReLU(), D25 / D50 = Dropout(0.25) / Dropout(0.5). Convolutions,
# dense layers without activation, pools, reshapes, sums and concatenations carry nothing.
# The softmax output layer is checked apart (the models return logits).
R, P, B, TB = "relu", "prelu", "bn", "tbn"
D25, D50 = ("dropout", 0.25), ("dropout", 0.5)

_CNN_X_MLP = {  # Models/av_cnn_x_mlp.py (Digits file: same layers, other sizes; see below)
    "inputNorm": [B],
    "conv block 1 (conv relu, conv relu, BN, pool, dropout)": [R, R, B, D25],
    "fcMLP 1": [R, B, D50],
    "x21 round 1": [P, B, P],                # conv1x1 PReLU BN flatten dense PReLU
    "short1_2dto1d": [D25, P],               # maxpool4 dropout flatten dense PReLU
    "x12 round 1": [P, B, D50, P],           # dense PReLU BN dropout reshape deconv PReLU
    "short1_1dto2d": [P, B, D25, P, B],      # ... with dropout .25 and a trailing BN
    "CNN merge 1 (x12map)": [B, D50],
    "conv block 2": [R, R, B, D25],
    "MLP merge 1 (x21map)": [B, D50],
    "fcMLP 2": [R, B, D50],
    "x21 round 2": [P, B, P],
    "short2_2dto1d": [D25, P],
    "x12 round 2": [P, B, D50, P],
    "short2_1dto2d": [P, B, D50, P],         # dropout .5, no trailing BN
    "CNN merge 2 (x12map)": [B, D50],
    "fcCNN": [R],
    "merged (BN, dropout, fc512 relu)": [B, D50, R],
    "fc dropout": [D50],
}
_LSTM_CNN_X_MLP = {  # Models/av_lstm_cnn_x_mlp.py (Digits file: same layers)
    "inputNorm": [TB],
    "conv11": [R],
    "fc1": [R],
    "x21 round 1": [P, P],
    "short1_2dto1d": [P],
    "x12 round 1": [P, P],
    "short1_1dto2d": [P, P],
    "conv21": [R],
    "fc2": [R],
    "x21 round 2": [P, P],
    "short2_2dto1d": [P],
    "x12 round 2": [P, P],
    "short2_1dto2d": [P, P],
    "fcCNN": [R],
    "mergebn": [TB],
    "mergedrop": [D50],
}
REFERENCE_INVENTORY = {
    "cnn_mlp_baseline.py": {
        "inputNorm": [B],
        "conv block 1 (conv relu, conv relu, BN, pool, dropout)": [R, R, B, D25],
        "conv block 2": [R, R, B, D25],
        "fcCNN": [R],
        "fcMLP 1": [R, B, D50],
        "fcMLP 2": [R],
        "merged (BN, dropout, fc512 relu)": [B, D50, R],
        "fc dropout": [D50],
    },
    "av_cnn_x_mlp.py": _CNN_X_MLP,
    # `diff` of the two files: only layer sizes and layer names differ
    "digits_cnn_x_mlp.py": dict(_CNN_X_MLP),
    "lstm_cnn_mlp_baseline.py": {
        "inputNorm": [TB], "conv11": [R], "conv21": [R], "fcCNN": [R], "fc1": [R], "fc2": [R],
        "mergebn": [TB], "mergedrop": [D25],
    },
    "av_lstm_cnn_x_mlp.py": _LSTM_CNN_X_MLP,
    "digits_lstm_cnn_x_mlp.py": dict(_LSTM_CNN_X_MLP),
}
# The ablations of Table V have no reference files: the XFlow graph without these stages.
_CROSS_STAGES = ("x21 round 1", "x12 round 1", "x21 round 2", "x12 round 2")
_RES_STAGES = ("short1_2dto1d", "short1_1dto2d", "short2_2dto1d", "short2_1dto2d")

# Totals per (family, variant), counted separately from the files (both datasets):
# dropout .25, dropout .5, BN, BN over time, PReLU, ReLU.
REFERENCE_COUNTS = {
    ("cnnxmlp", "baseline"): dict(d25=2, d50=3, bn=5, tbn=0, prelu=0, relu=8),
    ("cnnxmlp", "xflow"): dict(d25=5, d50=10, bn=16, tbn=0, prelu=14, relu=8),
    ("cnnxmlp", "no_xconns"): dict(d25=5, d50=8, bn=12, tbn=0, prelu=6, relu=8),
    ("cnnxmlp", "no_resconns"): dict(d25=2, d50=9, bn=13, tbn=0, prelu=8, relu=8),
    ("lstm", "baseline"): dict(d25=1, d50=0, bn=0, tbn=2, prelu=0, relu=5),
    ("lstm", "xflow"): dict(d25=0, d50=1, bn=0, tbn=2, prelu=14, relu=5),
    ("lstm", "no_xconns"): dict(d25=0, d50=1, bn=0, tbn=2, prelu=6, relu=5),
    ("lstm", "no_resconns"): dict(d25=0, d50=1, bn=0, tbn=2, prelu=8, relu=5),
}

# avlib module (top-level attribute) -> reference stage
_AVLIB_STAGE = {
    "cnnxmlp": {
        "img_bn": "inputNorm", "block1": "conv block 1 (conv relu, conv relu, BN, pool, dropout)",
        "mlp1": "fcMLP 1", "x2d1d_1": "x21 round 1", "r2d1d_1": "short1_2dto1d",
        "x1d2d_1": "x12 round 1", "r1d2d_1": "short1_1dto2d", "img_merge1": "CNN merge 1 (x12map)",
        "block2": "conv block 2", "mlp_merge1": "MLP merge 1 (x21map)", "mlp2": "fcMLP 2",
        "x2d1d_2": "x21 round 2", "r2d1d_2": "short2_2dto1d", "x1d2d_2": "x12 round 2",
        "r1d2d_2": "short2_1dto2d", "img_merge2": "CNN merge 2 (x12map)", "img_fc": "fcCNN",
        "merge": "merged (BN, dropout, fc512 relu)", "head_drop": "fc dropout",
    },
    "lstm": {
        "img_tbn": "inputNorm", "conv1": "conv11", "fc1": "fc1", "x2d1d_1": "x21 round 1",
        "r2d1d_1": "short1_2dto1d", "x1d2d_1": "x12 round 1", "r1d2d_1": "short1_1dto2d",
        "conv2": "conv21", "fc2": "fc2", "x2d1d_2": "x21 round 2", "r2d1d_2": "short2_2dto1d",
        "x1d2d_2": "x12 round 2", "r1d2d_2": "short2_1dto2d", "img_fc": "fcCNN",
        "merge_tbn": "mergebn", "merge_drop": "mergedrop",
    },
}


def reference_inventory(family, variant, dataset):
    """Expected stages of a (family, variant, dataset) model, from the transcribed files."""
    prefix = {"avletters": "av_", "digits": "digits_", "cuave": "digits_"}[dataset]
    if variant == "baseline":
        name = "cnn_mlp_baseline.py" if family == "cnnxmlp" else "lstm_cnn_mlp_baseline.py"
        return dict(REFERENCE_INVENTORY[name])
    name = prefix + ("cnn_x_mlp.py" if family == "cnnxmlp" else "lstm_cnn_x_mlp.py")
    cross, res = xflow.VARIANTS[variant]
    drop = (() if cross else _CROSS_STAGES) + (() if res else _RES_STAGES)
    return {k: v for k, v in REFERENCE_INVENTORY[name].items() if k not in drop}


def _layer_kind(mod):
    if isinstance(mod, xflow.TimeBatchNorm):
        return TB
    if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
        return B
    if isinstance(mod, torch.nn.modules.dropout._DropoutNd):
        return ("dropout", float(mod.p))
    if isinstance(mod, (xflow.ElementwisePReLU, torch.nn.PReLU)):
        return P
    kinds = {torch.nn.ReLU: R, torch.nn.ELU: "elu", torch.nn.Softmax: "softmax",
             torch.nn.LogSoftmax: "softmax", torch.nn.Sigmoid: "sigmoid", torch.nn.Tanh: "tanh",
             torch.nn.LeakyReLU: "leaky_relu", torch.nn.GELU: "gelu"}
    return next((v for k, v in kinds.items() if isinstance(mod, k)), None)


def avlib_inventory(model, inputs):
    """Stages of a built model as EXECUTED by one training-mode forward pass: per reference
    stage, the kinds of the layers that ran, in order (forward hooks on every layer of a kind
    of interest; the inner BN of a TimeBatchNorm is part of it). Also returns the registered
    layers that never ran."""
    family = model.family
    layers = {}
    for name, mod in model.named_modules():
        kind = _layer_kind(mod)
        if kind is None or any(name.startswith(t + ".") for t in layers
                               if layers[t][1] == TB):
            continue
        layers[name] = (mod, kind)
    ran, handles = [], []
    for name, (mod, kind) in layers.items():
        handles.append(mod.register_forward_hook(
            lambda m, i, o, name=name, kind=kind: ran.append((name, kind))))
    try:
        model.train()
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    stages = {}
    for name, kind in ran:
        top = name.split(".")[0]
        stage = _AVLIB_STAGE[family].get(top, f"unmapped avlib module {top}")
        stages.setdefault(stage, []).append(kind)
    return stages, sorted(set(layers) - {n for n, _ in ran})


def _build(family, variant, dataset):
    # the paper geometry for CNN x MLP; a short sequence for the LSTM (the layers do not
    # depend on its length)
    kw = {} if family == "cnnxmlp" else dict(n_frames=3)
    return build_xflow_model(family, dataset, variant, **kw)


def _inputs(model, n=2):
    g = torch.Generator().manual_seed(0)
    h, w = model.image_hw
    if model.family == "cnnxmlp":
        return (torch.randn(n, model.n_frames, h, w, generator=g),
                torch.randn(n, model.n_mfcc * model.n_frames, generator=g))
    t = model.n_frames
    return (torch.randn(n, t, 1, h, w, generator=g), torch.randn(n, t, model.n_mfcc, generator=g),
            torch.ones(n, t, dtype=torch.bool))


def _counts(stages):
    flat = [k for v in stages.values() for k in v]
    return dict(d25=flat.count(D25), d50=flat.count(D50), bn=flat.count(B), tbn=flat.count(TB),
                prelu=flat.count(P), relu=flat.count(R))


@pytest.mark.parametrize("family", ["cnnxmlp", "lstm"])
@pytest.mark.parametrize("variant", list(xflow.VARIANTS))
def test_reference_counts_match_transcribed_table(family, variant):
    """The stage table and the separately counted totals agree (a transcription check)."""
    for dataset in ("avletters", "digits"):
        assert _counts(reference_inventory(family, variant, dataset)) == \
            REFERENCE_COUNTS[(family, variant)]


@pytest.mark.parametrize("family", ["cnnxmlp", "lstm"])
@pytest.mark.parametrize("variant", list(xflow.VARIANTS))
@pytest.mark.parametrize("dataset", ["avletters", "digits"])
def test_reference_layer_inventory(family, variant, dataset):
    """Every dropout (with its p), BN and activation of the built model, stage by stage and in
    order, equals the reference Keras code (issue: XFlow kept dropout .25 after the pools,
    short2_1dto2d dropout .5)."""
    torch.manual_seed(0)
    model = _build(family, variant, dataset)
    with torch.no_grad():
        ours, unused = avlib_inventory(model, _inputs(model))
    assert unused == []
    ref = reference_inventory(family, variant, dataset)
    assert ours == ref
    assert _counts(ours) == REFERENCE_COUNTS[(family, variant)]
    # softmax output: a plain linear classifier producing logits (softmax in the loss)
    assert isinstance(model.classifier, torch.nn.Linear)


@pytest.mark.parametrize("variant", list(xflow.VARIANTS))
def test_cnnxmlp_dropout_p_sequence(variant):
    """The dropout rates in forward order of the image stream (both pools .25) and the totals
    named in the review: XFlow .25 x 5 and .5 x 10."""
    m = _build("cnnxmlp", variant, "avletters")
    assert [mod.p for mod in m.block1 if isinstance(mod, torch.nn.Dropout)] == [0.25]
    assert [mod.p for mod in m.block2 if isinstance(mod, torch.nn.Dropout)] == [0.25]
    ps = [mod.p for mod in m.modules() if isinstance(mod, torch.nn.Dropout)]
    want = REFERENCE_COUNTS[("cnnxmlp", variant)]
    assert (ps.count(0.25), ps.count(0.5), len(ps)) == \
        (want["d25"], want["d50"], want["d25"] + want["d50"])
    if xflow.VARIANTS[variant][1]:
        assert (m.r1d2d_1.drop.p, m.r1d2d_2.drop.p) == (0.25, 0.5)
        assert isinstance(m.r1d2d_1.bn2, torch.nn.BatchNorm2d)
        assert isinstance(m.r1d2d_2.bn2, torch.nn.Identity)


@pytest.mark.parametrize("variant", ["xflow", "no_xconns", "no_resconns"])
def test_cnnxmlp_connection_wiring(variant):
    """What every connection reads (reference graph): cross-connections the dropped-out pool
    output / the MLP block output, 2D->1D residuals the normalised image, 1D->2D residuals the
    raw MFCCs; the merge points see (stream [+ residual]) [++ cross]."""
    torch.manual_seed(0)
    m = CNNxMLP(HW, n_frames=3, n_mfcc=5, num_classes=4, variant=variant).train()
    seen, handles = {}, []
    for name in ("img_bn", "block1", "mlp1", "block2", "mlp2", "x2d1d_1", "x1d2d_1", "r2d1d_1",
                 "r1d2d_1", "x2d1d_2", "x1d2d_2", "r2d1d_2", "r1d2d_2", "img_merge1",
                 "mlp_merge1", "img_merge2", "merge"):
        if hasattr(m, name):
            handles.append(getattr(m, name).register_forward_hook(
                lambda mod, i, o, name=name: seen.__setitem__(name, (i[0], o))))
    x_img, x_mfcc = torch.randn(6, 3, *HW), torch.randn(6, 15)
    m(x_img, x_mfcc)
    for h in handles:
        h.remove()
    out = {k: v[1] for k, v in seen.items()}
    inp = {k: v[0] for k, v in seen.items()}
    cross, res = xflow.VARIANTS[variant]
    if cross:
        assert inp["x2d1d_1"] is out["block1"] and inp["x1d2d_1"] is out["mlp1"]
        assert inp["x2d1d_2"] is out["block2"] and inp["x1d2d_2"] is out["mlp2"]
    if res:
        assert inp["r2d1d_1"] is out["img_bn"] and inp["r2d1d_2"] is out["img_bn"]
        assert inp["r1d2d_1"] is x_mfcc and inp["r1d2d_2"] is x_mfcc
    img1, mlp1 = out["block1"], out["mlp1"]
    if res:
        img1, mlp1 = img1 + out["r1d2d_1"], mlp1 + out["r2d1d_1"]
    if cross:
        img1 = torch.cat([img1, out["x1d2d_1"]], 1)
        mlp1 = torch.cat([mlp1, out["x2d1d_1"]], 1)
    assert torch.equal(inp["img_merge1"], img1) and torch.equal(inp["mlp_merge1"], mlp1)
    assert inp["block2"] is out["img_merge1"]
    img2 = out["block2"] + out["r1d2d_2"] if res else out["block2"]
    if cross:
        img2 = torch.cat([img2, out["x1d2d_2"]], 1)
    assert torch.equal(inp["img_merge2"], img2)
    mlp_final = out["mlp2"] + out["r2d1d_2"] if res else out["mlp2"]
    assert torch.equal(inp["merge"][:, -128:], mlp_final)
    if cross:
        assert torch.equal(inp["merge"][:, :128], out["x2d1d_2"])


# ----------------------------------------------------------------- registry, shared exchange, DTN output
def test_xflow_models_are_built_through_the_model_registry(monkeypatch):
    from avlib import models

    a = build_xflow_model("CNNxMLP-LSTM", "digits", "baseline")
    b = models.get_model("cnn_x_mlp_lstm", dataset="digits", variant="baseline")
    assert type(a) is type(b) is CNNxMLPLSTM
    assert count_trainable_parameters(a) == count_trainable_parameters(b)
    seen = []
    monkeypatch.setitem(models.MODELS, "cnn_x_mlp", lambda **kw: seen.append(kw) or "built")
    assert build_xflow_model("cnnxmlp", "cuave", "xflow", n_frames=4) == "built"
    assert seen == [dict(dataset="cuave", variant="xflow", n_frames=4)]
    with pytest.raises(ParameterError):
        xflow.family_key("transformer")


@pytest.mark.parametrize("family", ["cnnxmlp", "lstm"])
def test_both_rounds_of_both_families_use_the_shared_exchange(family, monkeypatch):
    calls = []
    original = xflow.CrossModalNet._exchange

    def spy(self, r, *args, **kwargs):
        calls.append((r, kwargs.get("join_mlp", True)))
        return original(self, r, *args, **kwargs)

    monkeypatch.setattr(xflow.CrossModalNet, "_exchange", spy)
    torch.manual_seed(0)
    if family == "cnnxmlp":
        m = CNNxMLP(HW, n_frames=3, n_mfcc=5, num_classes=4, variant="xflow")
        m(torch.randn(2, 3, *HW), torch.randn(2, 15))
    else:
        m = CNNxMLPLSTM(HW, n_frames=6, n_mfcc=5, num_classes=4, variant="xflow")
        m(*_seq_batch(n=2))
    assert calls == [(1, True), (2, False)]


def test_dtn_returns_its_outputs_and_keeps_no_state():
    from avlib.models.dtn import DTNLogits

    torch.manual_seed(0)
    m = WeaklySharedDTN(12, 30, 3, audio_hidden=(16, 8, 8, 8), image_hidden=(20, 8, 8, 8)).train()
    x_img, x_mfcc, y = torch.randn(6, 5, 6), torch.randn(6, 12), torch.randint(0, 3, (6,))
    out = m(x_img, x_mfcc)
    assert isinstance(out, DTNLogits) and len(out.streams) == 2 and len(out.hidden) == 2
    za, zi = out.streams
    assert torch.equal(out, 0.5 * (za + zi))
    assert type(out.argmax(1)) is torch.Tensor  # derived tensors are plain
    assert not any(k.startswith("last_") for k in vars(m))
    loss_fn = DTNLoss(m, eta=1e-2, gamma=1e-1)
    ce = torch.nn.functional.cross_entropy
    assert loss_fn(out.as_subclass(torch.Tensor), y).item() == pytest.approx(ce(out, y).item())
    assert loss_fn(out, y).item() > (ce(za, y) + ce(zi, y)).item() - 1e-6


@pytest.mark.parametrize("kernel", [(32, 32), (16, 8), (3, 3)])
def test_transposed_conv_equals_the_module_with_its_gradients(kernel):
    from torch.nn import functional as F

    from avlib.models.xflow import FULL_CONV_FROM_KERNEL, transposed_conv

    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(1, 5, kernel)
    x = torch.randn(6, 1, 7, 9, requires_grad=True)
    ours = transposed_conv(x, deconv)
    ref = F.conv_transpose2d(x, deconv.weight, deconv.bias)
    assert ours.shape == (6, 5, 7 + kernel[0] - 1, 9 + kernel[1] - 1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(ours, (x, deconv.weight, deconv.bias), g)
    ref_grads = torch.autograd.grad(ref, (x, deconv.weight, deconv.bias), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    if max(kernel) < FULL_CONV_FROM_KERNEL:  # small kernels: the module itself, bit for bit
        assert torch.equal(ours, deconv(x))


def test_transposed_conv_keeps_other_geometries_on_the_module():
    from avlib.models.xflow import transposed_conv

    deconv = nn.ConvTranspose2d(1, 2, 9, stride=2)
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(transposed_conv(x, deconv), deconv(x))


@pytest.mark.parametrize("scale", ["smoke", "cpu"])
def test_the_small_scales_keep_the_transposed_convolution_module(scale):
    """Their pooled frames give kernels below the full-convolution threshold, so their numbers do
    not depend on :func:`avlib.models.xflow.transposed_conv`'s faster path."""
    from avlib.config.xflow import XFlowConfig
    from avlib.models.xflow import DATASET_CONFIGS, FULL_CONV_FROM_KERNEL, _Conn1Dto2D

    cfg = XFlowConfig.for_scale(scale)
    kernels = []
    for dataset in ("avletters", "digits", "cuave"):
        h, w = DATASET_CONFIGS[dataset]["image_hw"]
        f = cfg.data.downsample.of(dataset)
        for family in ("cnnxmlp", "lstm"):
            model = build_xflow_model(family, dataset, "xflow", image_hw=(h // f, w // f))
            kernels += [max(m.deconv.kernel_size) for m in model.modules() if isinstance(m, _Conn1Dto2D)]
    assert kernels and max(kernels) < FULL_CONV_FROM_KERNEL
    paper = build_xflow_model("lstm", "digits", "xflow")  # the paper's 90 x 120 frames take the fast path
    assert max(max(m.deconv.kernel_size) for m in paper.modules() if isinstance(m, _Conn1Dto2D)) >= FULL_CONV_FROM_KERNEL
