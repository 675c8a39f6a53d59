"""XFlow models: Table III parameter counts, shapes, backward, masking, DTN."""
import pytest
import torch

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


def _dropouts(model):
    return sorted((name, float(mod.p)) for name, mod in model.named_modules()
                  if isinstance(mod, torch.nn.Dropout))


def test_cnnxmlp_dropouts_follow_the_reference_code():
    """Issue 11 item 9: the XFlow CNN x MLP has dropout .5 at the merge points and NO dropout
    .25 after the two max-pools (the baseline keeps them); dropouts are parameter-free, so
    Table III is unchanged."""
    xf = _dropouts(build_xflow_model("cnnxmlp", "avletters", "xflow"))
    ps = [p for _, p in xf]
    # .5: mlp1, 2 x (1D->2D cross), 2 merges after round 1, mlp2, image merge 2, merge, head
    # .25: the two 2D->1D and the two 1D->2D residual connections
    assert (ps.count(0.5), ps.count(0.25), len(ps)) == (9, 4, 13)
    assert not [n for n, _ in xf if n.startswith(("block1", "block2"))]
    base = _dropouts(build_xflow_model("cnnxmlp", "avletters", "baseline"))
    assert [p for n, p in base if n.startswith(("block1", "block2"))] == [0.25, 0.25]
    assert len(base) == 5
    for variant in ("no_xconns", "no_resconns"):   # every merge variant has the merge dropouts
        names = [n for n, _ in _dropouts(build_xflow_model("cnnxmlp", "digits", variant))]
        assert not [n for n in names if n.startswith(("block1", "block2"))]
        assert any(n.startswith("img_merge1") for n in names)


def test_cnnxmlp_xflow_pool_output_reaches_connections_without_dropout():
    torch.manual_seed(0)
    m = CNNxMLP(HW, n_frames=3, n_mfcc=5, num_classes=4, variant="xflow").train()
    x = m.img_bn(torch.randn(6, 3, *HW))
    a, b = m.block1(x), m.block1(x)      # train mode: any dropout would make these differ
    assert torch.equal(a, b)
