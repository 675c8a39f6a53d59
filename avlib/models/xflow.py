"""XFlow cross-modal networks and their baselines.

Cangea, Veličković and Liò, "XFlow: Cross-modal Deep Neural Networks for Audiovisual
Classification" (IEEE TNNLS 2019). Two model families, one class each:

* :class:`CNNxMLP` -- the CNN x MLP model (paper Section II-A, Table I, Fig. 2). The image
  stream sees ``m`` averaged frames as ``m`` channels, the MLP stream the ``26 m`` MFCCs.
* :class:`CNNxMLPLSTM` -- the {CNN x MLP}-LSTM model (Section II-B, Table II, Figs. 4-5):
  a per-frame CNN x MLP extractor shared over time, followed by an LSTM over the sequence.

Each class has two switches, ``cross_connections`` (inner 2D->1D / 1D->2D cross-connections)
and ``residual_connections`` (cross-modal residual connections from the raw input of the
other stream). Both on = XFlow; both off = the paper's baseline; one on = the ablations of
Table V ("No x-conns" = residual only, "No res-conns" = cross only). See :data:`VARIANTS`.
Both families and both rounds of connections share one implementation of the exchange
(:class:`CrossModalNet`; the rounds differ only in sizes and in their
:class:`RoundRegularisation`). Models are built through the registry of :mod:`avlib.models`
(:func:`build_xflow_model` -> ``get_model("cnn_x_mlp" | "cnn_x_mlp_lstm", ...)``).

Layer details follow the authors' reference implementation as recorded in
``shared/spec/reference-implementations.md``; with them the trainable-parameter counts equal
the paper's Table III in all eight cells except the AVletters {CNN x MLP}-LSTM baseline,
which is 156 lower than printed: 156 = 4 x 39 is exactly what the two "batch normalisation
over the time axis" layers (2 parameters per time step each) add if the sequence length is
78 = 2 x 39 steps instead of 39 (see :func:`lstm_time_bn_parameters` and the book).

Keras details that matter for the counts and are reproduced here:

* PReLU has one learnable slope per element of its input (:class:`ElementwisePReLU`);
* transposed convolutions use "valid" padding: a ``h0 x w0`` map becomes
  ``(h0 + k - 1) x (w0 + k - 1)``; the 1D->2D connections therefore reshape to
  ``(H1 - k + 1) x (W1 - k + 1)`` for a target map ``H1 x W1`` and kernel ``k``;
* "BN over the time axis" has one gamma/beta per time step (:class:`TimeBatchNorm`);
* a Keras LSTM has one bias vector (PyTorch has two): ``bias_hh`` is kept at zero and frozen;
* padded (all-zero) time steps are masked: the per-frame extractor runs on valid frames only,
  padded positions carry zero features and the LSTM skips them (packed sequences).

Dropout / BN / activation inventory (checked layer by layer against the reference files by
``tests/test_xflow_models.py::test_reference_layer_inventory``): CNN x MLP baseline dropout
.25 x 2 and .5 x 3; XFlow .25 x 5 (after both max-pools, both 2D->1D residuals, the first
1D->2D residual) and .5 x 10. Known remaining differences from the Keras code, none of which
changes a parameter count: the LSTM's gates use the logistic sigmoid (the default
``recurrent_activation`` of Keras before 2.3 was the hard sigmoid), PReLU slopes start at
``prelu_init`` = 0.25 (Keras: 0), and BN uses PyTorch's momentum/epsilon (Keras: 0.99 / 1e-3).

Contract (:mod:`avlib.models.base`, two inputs): ``forward_features(x_img, x_mfcc)`` (the LSTM
model also takes an optional ``mask``) gives the pre-logit features, ``forward_head(features,
pre_logits=False)`` the logits (or the features, ``head_dim`` wide: 512 for CNN x MLP, the
LSTM width 64 for the LSTM model), ``forward`` chains them, ``reset_classifier(num_classes)``.
``gradcam_layer``: ``{"image": <last map of the image stream>}`` for CNN x MLP (``img_merge2``
when the variant has connections, ``block2`` otherwise); None for the LSTM model, whose
per-frame extractor runs on the valid frames of the whole batch at once.

Output convention: ``forward`` returns logits ``(N, num_classes)``. For the analyses,
:meth:`CNNxMLP.forward_intermediates` / :meth:`CNNxMLPLSTM.forward_intermediates` return an
:class:`XFlowOutput` ``(logits, intermediates)`` whose dict holds the outputs of every
connection under the keys of :data:`INTERMEDIATE_KEYS` (only those that exist in the
variant): ``"x2d1d_1"``, ``"x2d1d_2"`` (2D->1D cross-connections, ``(N, F)`` or
``(N, T, F)``), ``"x1d2d_1"``, ``"x1d2d_2"`` (1D->2D cross, ``(N, C, H, W)`` or
``(N, T, C, H, W)``), ``"r2d1d_1"``, ``"r2d1d_2"``, ``"r1d2d_1"``, ``"r1d2d_2"`` (residual),
plus ``"features"`` (the pre-logit representation). For the LSTM model, padded time steps of
the per-frame outputs are zero.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from ..errors import ParameterError
from .base import ClassifierModel
from .registry import get_model

__all__ = [
    "VARIANTS",
    "DATASET_CONFIGS",
    "INTERMEDIATE_KEYS",
    "XFlowOutput",
    "ElementwisePReLU",
    "TimeBatchNorm",
    "CNNxMLP",
    "CNNxMLPLSTM",
    "cnn_x_mlp",
    "cnn_x_mlp_lstm",
    "transposed_conv",
    "FULL_CONV_FROM_KERNEL",
    "build_xflow_model",
    "family_key",
    "FAMILY_MODELS",
    "CrossModalNet",
    "RoundRegularisation",
    "count_trainable_parameters",
    "lstm_time_bn_parameters",
    "default_deconv_kernels",
]

#: variant name -> (cross_connections, residual_connections)
VARIANTS = {
    "baseline": (False, False),
    "xflow": (True, True),
    "no_xconns": (False, True),
    "no_resconns": (True, False),
}

#: Dataset configurations of the paper (reference-implementation facts): image height x width,
#: minimum / maximum number of frames (CNN x MLP channels / LSTM sequence length), classes.
#: The reference code's CUAVE config says 26 classes; CUAVE has 10 digits, we use 10.
DATASET_CONFIGS = {
    "avletters": dict(image_hw=(80, 60), min_frames=11, max_frames=39, num_classes=26),
    "digits": dict(image_hw=(90, 120), min_frames=6, max_frames=58, num_classes=10),
    "cuave": dict(image_hw=(90, 120), min_frames=6, max_frames=44, num_classes=10),
}

# Transposed-convolution kernels (first round, second round) of the reference code.
_KNOWN_DECONV = {
    ("cnnxmlp", (80, 60)): (8, 4),
    ("cnnxmlp", (90, 120)): (32, 16),
    ("lstm", (80, 60)): (16, 8),
    ("lstm", (90, 120)): (32, 16),
}

INTERMEDIATE_KEYS = (
    "x2d1d_1", "x2d1d_2", "x1d2d_1", "x1d2d_2",
    "r2d1d_1", "r2d1d_2", "r1d2d_1", "r1d2d_2", "features",
)


class XFlowOutput(NamedTuple):
    """Output of ``forward_intermediates``: logits ``(N, C)`` and a dict of named tensors."""

    logits: torch.Tensor
    intermediates: dict


def default_deconv_kernels(image_hw: Sequence[int], family: str = "cnnxmlp") -> tuple:
    """Transposed-convolution kernel sizes for the two rounds of 1D->2D connections.

    The paper's geometries (80x60 AVletters, 90x120 Digits/CUAVE) get the reference code's
    kernels (Tables I-II: 8/4 and 32/16 for CNN x MLP; 16/8 and 32/16 for the LSTM model).
    Any other geometry gets ``max(1, min(h, w) // 4)`` of the pooled map ``h x w`` (a
    documented fallback for small stand-in images).
    """
    key = ("lstm" if "lstm" in family.lower() else "cnnxmlp", tuple(int(v) for v in image_hw))
    if key in _KNOWN_DECONV:
        return _KNOWN_DECONV[key]
    h, w = int(image_hw[0]), int(image_hw[1])
    h1, w1 = h // 2, w // 2
    h2, w2 = h1 // 2, w1 // 2
    return (max(1, min(h1, w1) // 4), max(1, min(h2, w2) // 4))


def count_trainable_parameters(model: nn.Module) -> int:
    """Number of trainable (``requires_grad``) parameters, as Keras' ``count_params``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lstm_time_bn_parameters(n_frames: int) -> int:
    """Parameters of the two time-axis BN layers of the LSTM models: ``2 * 2 * n_frames``."""
    return 4 * int(n_frames)


# --------------------------------------------------------------------------- blocks
class ElementwisePReLU(nn.Module):
    """PReLU with one learnable slope per element of its input (Keras' default).

    ``shape`` is the per-example shape, e.g. ``(16, 40, 30)`` -> 19,200 slopes.
    ``init`` is the initial slope (0.25 as in He et al. 2015; Keras' default is 0).
    """

    def __init__(self, shape: Sequence[int], init: float = 0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full(tuple(int(s) for s in shape), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, x, x * self.weight)


class TimeBatchNorm(nn.Module):
    """Batch normalisation over the time axis: one gamma/beta per time step.

    Input ``(N, T, ...)``; statistics per ``t`` over the batch and all other axes
    (Keras ``BatchNormalization(axis=1)`` on a sequence).
    """

    def __init__(self, n_steps: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(int(n_steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        return self.bn(x.reshape(n, t, -1)).reshape(x.shape)


class _Cross2Dto1D(nn.Module):
    """2D->1D cross-connection: conv1x1 -> PReLU -> [BN] -> flatten -> FC -> PReLU."""

    def __init__(self, chw, out_features, *, batch_norm, prelu_init):
        super().__init__()
        c, h, w = chw
        self.conv = nn.Conv2d(c, c, 1)
        self.act1 = ElementwisePReLU((c, h, w), prelu_init)
        self.bn = nn.BatchNorm2d(c) if batch_norm else nn.Identity()
        self.fc = nn.Linear(c * h * w, out_features)
        self.act2 = ElementwisePReLU((out_features,), prelu_init)

    def forward(self, x):
        x = self.bn(self.act1(self.conv(x)))
        return self.act2(self.fc(torch.flatten(x, 1)))


class _Res2Dto1D(nn.Module):
    """2D->1D residual connection: max-pool of the raw image -> [dropout] -> FC -> PReLU."""

    def __init__(self, chw, kernel, stride, out_features, *, dropout, prelu_init):
        super().__init__()
        c, h, w = chw
        self.pool = nn.MaxPool2d(kernel, stride)
        ph = (h - kernel[0]) // stride[0] + 1
        pw = (w - kernel[1]) // stride[1] + 1
        if ph < 1 or pw < 1:
            raise ParameterError(f"image {h}x{w} too small for the residual max-pool {kernel}")
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(c * ph * pw, out_features)
        self.act = ElementwisePReLU((out_features,), prelu_init)

    def forward(self, x):
        return self.act(self.fc(torch.flatten(self.drop(self.pool(x)), 1)))


#: Kernel size from which :func:`transposed_conv` computes the transposed convolution as a full
#: convolution (the paper's 90 x 120 frames have 32 x 32 and 16 x 16 kernels).
FULL_CONV_FROM_KERNEL = 8


def transposed_conv(x: torch.Tensor, deconv: nn.ConvTranspose2d) -> torch.Tensor:
    """``deconv(x)`` for a stride-1, unpadded transposed convolution.

    From a kernel of :data:`FULL_CONV_FROM_KERNEL` on, it runs as the equivalent ordinary
    convolution with the kernel flipped and its in/out channels swapped, padded by the kernel
    size minus one ("full" convolution): the same map (equal up to float rounding) and its
    gradient, several times faster on the CPU than PyTorch's transposed convolution for these
    one-channel inputs with large kernels. Smaller kernels use ``deconv`` itself.
    """
    kh, kw = deconv.kernel_size
    if max(kh, kw) < FULL_CONV_FROM_KERNEL or deconv.stride != (1, 1) or deconv.padding != (0, 0) \
            or deconv.dilation != (1, 1) or deconv.groups != 1:
        return deconv(x)
    weight = deconv.weight.transpose(0, 1).flip(-2, -1)
    return F.conv2d(x, weight, deconv.bias, padding=(kh - 1, kw - 1))


class _Conn1Dto2D(nn.Module):
    """1D->2D cross / residual connection.

    FC(h0*w0) -> PReLU -> [BN] -> [dropout] -> reshape (1, h0, w0) -> transposed conv k x k
    (valid, ``channels`` filters) -> PReLU -> [BN]. ``h0 = H - k + 1``, ``w0 = W - k + 1``.
    """

    def __init__(self, in_features, target_chw, kernel, *, fc_bn, dropout, out_bn, prelu_init):
        super().__init__()
        c, h, w = target_chw
        h0, w0 = h - kernel + 1, w - kernel + 1
        if h0 < 1 or w0 < 1:
            raise ParameterError(f"deconvolution kernel {kernel} too large for a {h}x{w} map")
        self.h0, self.w0 = h0, w0
        self.fc = nn.Linear(in_features, h0 * w0)
        self.act1 = ElementwisePReLU((h0 * w0,), prelu_init)
        self.bn1 = nn.BatchNorm1d(h0 * w0) if fc_bn else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.deconv = nn.ConvTranspose2d(1, c, kernel)
        self.act2 = ElementwisePReLU((c, h, w), prelu_init)
        self.bn2 = nn.BatchNorm2d(c) if out_bn else nn.Identity()

    def forward(self, x):
        x = self.drop(self.bn1(self.act1(self.fc(x))))
        x = x.view(-1, 1, self.h0, self.w0)
        return self.bn2(self.act2(transposed_conv(x, self.deconv)))


def _keras_init(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases (Keras defaults); LSTM: orthogonal recurrent
    weights, forget-gate bias 1, the second PyTorch bias frozen at zero."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            hs = m.hidden_size
            for name, p in m.named_parameters():
                if name.startswith("weight_ih"):
                    for g in range(4):
                        nn.init.xavier_uniform_(p.data[g * hs:(g + 1) * hs])
                elif name.startswith("weight_hh"):
                    for g in range(4):
                        nn.init.orthogonal_(p.data[g * hs:(g + 1) * hs])
                elif name.startswith("bias_ih"):
                    nn.init.zeros_(p)
                    p.data[hs:2 * hs] = 1.0  # PyTorch gate order i, f, g, o
                elif name.startswith("bias_hh"):
                    nn.init.zeros_(p)
                    p.requires_grad_(False)


class RoundRegularisation(NamedTuple):
    """Regularisation of one round of connections (reference code, per family and round)."""

    batch_norm: bool           # BN in the 2D->1D cross-connection and after the FC of both 1D->2D ones
    cross_dropout: float       # dropout of the 1D->2D cross-connection
    res2d1d_dropout: float     # dropout of the 2D->1D residual connection
    res1d2d_dropout: float     # dropout of the 1D->2D residual connection
    res1d2d_out_bn: bool       # BN after the 1D->2D residual connection's deconvolution


class CrossModalNet(ClassifierModel):
    """What both XFlow families share: the variant switches and the cross-modal exchange.

    After each of the two blocks of the image and MLP streams (Figs. 2 and 4) a *round* of
    connections exchanges information between them. Round ``r`` has up to four connections,
    registered as ``x2d1d_r``, ``x1d2d_r`` (cross-connections, from the other stream's block
    output) and ``r2d1d_r``, ``r1d2d_r`` (residual connections, from the other stream's raw
    input). :meth:`_add_round` creates them and :meth:`_exchange` applies them; both families
    and both rounds go through these two methods. The model contract (``forward``,
    ``reset_classifier``) is :class:`~avlib.models.base.ClassifierModel`'s.
    """

    def _init_variant(self, cross_connections, residual_connections, variant):
        cross, res = _check_variant(cross_connections, residual_connections, variant)
        self.cross_connections, self.residual_connections = cross, res
        self.variant = _variant_name(cross, res)
        return cross, res

    def _add_round(self, r: int, *, img_chw, mlp_width: int, cross_width: int, raw_chw,
                   raw_width: int, pool, kernel: int, reg: RoundRegularisation, prelu_init: float):
        """Create round ``r``'s connections.

        ``img_chw``: the image block's output map (what the 1D->2D connections produce);
        ``mlp_width``: the MLP block's output width (what the 2D->1D residual produces and the
        1D->2D cross-connection reads); ``cross_width``: the 2D->1D cross-connection's width;
        ``raw_chw`` / ``raw_width``: the raw image / MFCC input the residual connections read;
        ``pool``: ``(kernel, stride)`` of the 2D->1D residual max-pool; ``kernel``: the
        deconvolution kernel. The four connections are created in the order x2d1d, x1d2d,
        r2d1d, r1d2d, which fixes the parameter order and the draws of the initialisation.
        """
        if self.cross_connections:
            setattr(self, f"x2d1d_{r}", _Cross2Dto1D(img_chw, cross_width, batch_norm=reg.batch_norm,
                                                     prelu_init=prelu_init))
            setattr(self, f"x1d2d_{r}", _Conn1Dto2D(mlp_width, img_chw, kernel, fc_bn=reg.batch_norm,
                                                    dropout=reg.cross_dropout, out_bn=False,
                                                    prelu_init=prelu_init))
        if self.residual_connections:
            setattr(self, f"r2d1d_{r}", _Res2Dto1D(raw_chw, pool[0], pool[1], mlp_width,
                                                   dropout=reg.res2d1d_dropout, prelu_init=prelu_init))
            setattr(self, f"r1d2d_{r}", _Conn1Dto2D(raw_width, img_chw, kernel, fc_bn=reg.batch_norm,
                                                    dropout=reg.res1d2d_dropout,
                                                    out_bn=reg.res1d2d_out_bn, prelu_init=prelu_init))

    def _exchange(self, r: int, img, mlp, raw_img, raw_mfcc, store=None, *, join_mlp: bool = True):
        """Round ``r`` of the exchange on the block outputs ``img`` / ``mlp``.

        Residual connections are added to the streams (``img + r1d2d(raw_mfcc)``,
        ``mlp + r2d1d(raw_img)``), cross-connections concatenated (``[img, x1d2d(mlp)]``, and
        ``[mlp, x2d1d(img)]`` when ``join_mlp``; otherwise the 2D->1D output is returned apart,
        as the last round feeds it to the merge directly). Returns ``(img, mlp, x2d1d or
        None)``; ``store`` (a dict) receives every connection's output.
        """
        img_new, mlp_new, side = img, mlp, None
        if self.residual_connections:
            r1d2d = getattr(self, f"r1d2d_{r}")(raw_mfcc)
            r2d1d = getattr(self, f"r2d1d_{r}")(raw_img)
            img_new, mlp_new = img + r1d2d, mlp + r2d1d
        if self.cross_connections:
            x1d2d = getattr(self, f"x1d2d_{r}")(mlp)
            x2d1d = getattr(self, f"x2d1d_{r}")(img)
            img_new = torch.cat([img_new, x1d2d], 1)
            if join_mlp:
                mlp_new = torch.cat([mlp_new, x2d1d], 1)
            else:
                side = x2d1d
        if store is not None:
            if self.residual_connections:
                store.update({f"r1d2d_{r}": r1d2d, f"r2d1d_{r}": r2d1d})
            if self.cross_connections:
                store.update({f"x1d2d_{r}": x1d2d, f"x2d1d_{r}": x2d1d})
        return img_new, mlp_new, side


def _check_variant(cross_connections, residual_connections, variant):
    if variant is not None:
        if variant not in VARIANTS:
            raise ParameterError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
        return VARIANTS[variant]
    return bool(cross_connections), bool(residual_connections)


def _variant_name(cross, res):
    return {v: k for k, v in VARIANTS.items()}[(cross, res)]


#: CNN x MLP rounds (reference code x21 / x12 / short1_* / short2_*): BN inside the
#: connections, dropout .5 in the 1D->2D cross-connections and .25 in the 2D->1D residuals;
#: the first 1D->2D residual drops out with .25 and ends in BN, the second drops out with .5
#: and has no trailing BN (short2_1dto2d).
_CNNXMLP_ROUNDS = (
    RoundRegularisation(batch_norm=True, cross_dropout=0.5, res2d1d_dropout=0.25,
                        res1d2d_dropout=0.25, res1d2d_out_bn=True),
    RoundRegularisation(batch_norm=True, cross_dropout=0.5, res2d1d_dropout=0.25,
                        res1d2d_dropout=0.5, res1d2d_out_bn=False),
)
#: {CNN x MLP}-LSTM rounds: no BN and no dropout inside the per-frame connections.
_LSTM_ROUNDS = (RoundRegularisation(batch_norm=False, cross_dropout=0.0, res2d1d_dropout=0.0,
                                    res1d2d_dropout=0.0, res1d2d_out_bn=False),) * 2


# --------------------------------------------------------------------------- CNN x MLP
class CNNxMLP(CrossModalNet):
    """CNN x MLP baseline / XFlow model (XFlow paper, Section II-A, Table I, Fig. 2-3).

    Parameters
    ----------
    image_hw : (int, int)
        Frame height and width (80x60 AVletters, 90x120 Digits/CUAVE).
    n_frames : int
        ``m``, the number of averaged frames = image channels; the MLP input is ``n_mfcc * m``.
    n_mfcc : int
        MFCCs per frame (26).
    num_classes : int
    cross_connections, residual_connections : bool
        Switch the two kinds of cross-modal connections (both = XFlow, none = baseline).
    variant : str, optional
        One of :data:`VARIANTS`; overrides the two switches.
    deconv_kernels : (int, int), optional
        Transposed-convolution kernels of the two 1D->2D rounds
        (default :func:`default_deconv_kernels`).
    prelu_init : float
        Initial PReLU slope.

    Inputs: ``x_img (N, m, H, W)``, ``x_mfcc (N, n_mfcc * m)``. Output: logits ``(N, C)``.
    Trainable parameters (Table III): 2,740,512 / 8,852,962 (AVletters baseline / XFlow),
    5,664,054 / 17,764,002 (Digits/CUAVE).
    """

    family = "cnnxmlp"

    def __init__(self, image_hw=(80, 60), n_frames=11, n_mfcc=26, num_classes=26, *,
                 cross_connections=True, residual_connections=True, variant=None,
                 deconv_kernels=None, prelu_init=0.25):
        super().__init__()
        cross, res = self._init_variant(cross_connections, residual_connections, variant)
        h, w = (int(v) for v in image_hw)
        if h < 8 or w < 8 or n_frames < 1 or n_mfcc < 1 or num_classes < 1:
            raise ParameterError(f"bad CNNxMLP geometry image_hw={image_hw} n_frames={n_frames}")
        self.image_hw, self.n_frames, self.n_mfcc = (h, w), int(n_frames), int(n_mfcc)
        self.num_classes = int(num_classes)
        m, d_in = self.n_frames, self.n_mfcc * self.n_frames
        k1, k2 = deconv_kernels or default_deconv_kernels((h, w), "cnnxmlp")
        self.deconv_kernels = (int(k1), int(k2))
        h1, w1, h2, w2 = h // 2, w // 2, h // 4, w // 4
        xflow = cross or res
        pi = prelu_init

        # Regularisation layer by layer as in the reference code (Models/cnn_mlp_baseline.py,
        # Models/av_cnn_x_mlp.py, Models/digits_cnn_x_mlp.py; the last two differ only in
        # sizes). The reference has no separate files for the ablations of Table V: "No x-conns"
        # / "No res-conns" are the XFlow model with the cross- / residual connections removed
        # and everything else kept (merge-point BN -> dropout .5, the BN -> dropout .5 after the
        # second MLP layer), which is how the paper describes them (Sec. III-A4).
        #
        # image stream, block 1: BN -> conv x2 -> BN -> pool -> dropout .25  # N x 16 x H/2 x W/2
        # Dropout .25 follows BOTH max-pools in every variant (paper, Sec. II-A: "p=0.25 after
        # every max-pooling layer"; the reference XFlow code keeps it too): in the XFlow models
        # the dropped-out pool output is what the cross-connections and the residual sum see,
        # and the merge point after them adds BN -> dropout .5 on top.
        self.img_bn = nn.BatchNorm2d(m)
        self.block1 = nn.Sequential(
            nn.Conv2d(m, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.BatchNorm2d(16), nn.MaxPool2d(2), nn.Dropout(0.25))
        c1 = 16 + (16 if cross else 0)
        # MLP, block 1: FC128 -> BN -> dropout .5                            # N x 128
        self.mlp1 = nn.Sequential(nn.Linear(d_in, 128), nn.ReLU(inplace=True),
                                  nn.BatchNorm1d(128), nn.Dropout(0.5))
        d1 = 128 + (64 if cross else 0)
        self._add_round(1, img_chw=(16, h1, w1), mlp_width=128, cross_width=64, raw_chw=(m, h, w),
                        raw_width=d_in, pool=((4, 4), (4, 4)), kernel=k1, reg=_CNNXMLP_ROUNDS[0],
                        prelu_init=pi)
        if xflow:  # merge points: BN -> dropout .5
            self.img_merge1 = nn.Sequential(nn.BatchNorm2d(c1), nn.Dropout(0.5))
            self.mlp_merge1 = nn.Sequential(nn.BatchNorm1d(d1), nn.Dropout(0.5))
        # image stream, block 2: conv x2 -> BN -> pool -> dropout .25        # N x 32 x H/4 x W/4
        self.block2 = nn.Sequential(
            nn.Conv2d(c1, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.Dropout(0.25))
        # MLP block 2: FC128 (XFlow: -> BN -> dropout .5)                    # N x 128
        mlp2 = [nn.Linear(d1, 128), nn.ReLU(inplace=True)]
        if xflow:
            mlp2 += [nn.BatchNorm1d(128), nn.Dropout(0.5)]
        self.mlp2 = nn.Sequential(*mlp2)
        c2 = 32 + (32 if cross else 0)
        self._add_round(2, img_chw=(32, h2, w2), mlp_width=128, cross_width=128, raw_chw=(m, h, w),
                        raw_width=d_in, pool=((8, 8), (8, 4)), kernel=k2, reg=_CNNXMLP_ROUNDS[1],
                        prelu_init=pi)
        if xflow:
            self.img_merge2 = nn.Sequential(nn.BatchNorm2d(c2), nn.Dropout(0.5))
        self.img_fc = nn.Sequential(nn.Flatten(), nn.Linear(c2 * h2 * w2, 256),
                                    nn.ReLU(inplace=True))
        d_merge = 256 + 128 + (128 if cross else 0)
        # merge -> BN -> dropout .5 -> FC512 -> dropout .5 -> softmax
        self.merge = nn.Sequential(nn.BatchNorm1d(d_merge), nn.Dropout(0.5),
                                   nn.Linear(d_merge, 512), nn.ReLU(inplace=True))
        self.head_drop = nn.Dropout(0.5)
        self.num_features = self.head_dim = 512
        self.classifier = nn.Linear(512, self.num_classes)
        _keras_init(self)

    # timm-like contract ---------------------------------------------------------------
    def _features(self, x_img, x_mfcc, store=None):
        xi = self.img_bn(x_img)                         # N x m x H x W (normalised image)
        img = self.block1(xi)                           # N x 16 x H/2 x W/2
        mlp = self.mlp1(x_mfcc)                         # N x 128
        img, mlp, _ = self._exchange(1, img, mlp, xi, x_mfcc, store)  # N x 32 x H/2 x W/2, N x 192
        if self.cross_connections or self.residual_connections:
            img, mlp = self.img_merge1(img), self.mlp_merge1(mlp)
        img = self.block2(img)                          # N x 32 x H/4 x W/4
        mlp = self.mlp2(mlp)                            # N x 128
        img, mlp, x2d1d = self._exchange(2, img, mlp, xi, x_mfcc, store, join_mlp=False)
        if self.cross_connections or self.residual_connections:
            img = self.img_merge2(img)                  # N x 64 x H/4 x W/4
        img = self.img_fc(img)                          # N x 256
        extra = [] if x2d1d is None else [x2d1d]        # N x 128
        merged = torch.cat(extra + [img, mlp], 1)       # N x 512 (XFlow) / 384
        return self.merge(merged)                       # N x 512

    def forward_features(self, x_img, x_mfcc):
        """Pre-logit features ``(N, 512)`` (after FC512)."""
        return self._features(x_img, x_mfcc)

    def forward_head(self, x, pre_logits: bool = False):
        x = self.head_drop(x)
        return x if pre_logits else self.classifier(x)

    @property
    def gradcam_layer(self) -> dict:
        """The image stream's last map ``(N, C, H/4, W/4)`` (before its flatten): the second
        merge point when the variant has connections, the second block otherwise."""
        return {"image": "img_merge2" if (self.cross_connections or self.residual_connections) else "block2"}

    def forward_intermediates(self, x_img, x_mfcc) -> XFlowOutput:
        """Logits plus the outputs of all connections (see module docstring for keys)."""
        store = {}
        feats = self._features(x_img, x_mfcc, store)
        store["features"] = feats
        return XFlowOutput(self.forward_head(feats), store)

# --------------------------------------------------------------------------- LSTM model
class CNNxMLPLSTM(CrossModalNet):
    """{CNN x MLP}-LSTM baseline / XFlow model (XFlow paper, Section II-B, Table II, Fig. 4-5).

    Per time step (weights shared over time) a small CNN x MLP extractor with optional
    cross-/residual connections; BN over the time axis on the image input and on the merged
    per-frame features, dropout, LSTM(64), softmax.

    Parameters
    ----------
    image_hw : (int, int)
    n_frames : int
        Padded sequence length ``T`` (39 AVletters, 58 Digits, 44 CUAVE); the time-axis BN
        layers have ``2 T`` parameters each.
    n_mfcc, num_classes, cross_connections, residual_connections, variant, deconv_kernels,
    prelu_init : see :class:`CNNxMLP`.
    lstm_hidden : int
        LSTM width (64).

    Inputs: ``x_img (N, T, 1, H, W)`` (or ``(N, T, H, W)``), ``x_mfcc (N, T, n_mfcc)`` and an
    optional ``mask (N, T)`` (True = real frame). Without a mask, time steps whose image and
    MFCCs are all zero count as padding (Keras ``Masking``). Padded steps never influence
    the output. Trainable parameters (Table III): 353,494 (paper 353,650) / 1,387,488
    (AVletters baseline / XFlow), 721,170 / 2,967,388 (Digits).
    """

    family = "lstm"

    def __init__(self, image_hw=(80, 60), n_frames=39, n_mfcc=26, num_classes=26, *,
                 cross_connections=True, residual_connections=True, variant=None,
                 deconv_kernels=None, prelu_init=0.25, lstm_hidden=64):
        super().__init__()
        cross, res = self._init_variant(cross_connections, residual_connections, variant)
        h, w = (int(v) for v in image_hw)
        if h < 8 or w < 8 or n_frames < 1 or n_mfcc < 1 or num_classes < 1:
            raise ParameterError(f"bad CNNxMLPLSTM geometry image_hw={image_hw} "
                                 f"n_frames={n_frames}")
        self.image_hw, self.n_frames, self.n_mfcc = (h, w), int(n_frames), int(n_mfcc)
        self.num_classes = int(num_classes)
        k1, k2 = deconv_kernels or default_deconv_kernels((h, w), "lstm")
        self.deconv_kernels = (int(k1), int(k2))
        h1, w1, h2, w2 = h // 2, w // 2, h // 4, w // 4
        pi, d = prelu_init, self.n_mfcc

        # Regularisation as in the reference code (Models/lstm_cnn_mlp_baseline.py,
        # Models/av_lstm_cnn_x_mlp.py, Models/digits_lstm_cnn_x_mlp.py): BN over time on the
        # image input and on the merged per-frame features, dropout only after the latter
        # (.25 baseline, .5 XFlow); no BN or dropout inside the per-frame extractor or its
        # connections. The ablations (no separate reference files) are the XFlow model with the
        # cross- or residual connections removed, keeping the XFlow merge dropout .5.
        self.img_tbn = TimeBatchNorm(self.n_frames)
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2))                     # 8 x H/2 x W/2
        self.fc1 = nn.Sequential(nn.Linear(d, 32), nn.ReLU(inplace=True))  # 32
        self._add_round(1, img_chw=(8, h1, w1), mlp_width=32, cross_width=32, raw_chw=(1, h, w),
                        raw_width=d, pool=((4, 4), (4, 4)), kernel=k1, reg=_LSTM_ROUNDS[0],
                        prelu_init=pi)
        c1, d1 = 8 + (8 if cross else 0), 32 + (32 if cross else 0)
        self.conv2 = nn.Sequential(nn.Conv2d(c1, 16, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2))                     # 16 x H/4 x W/4
        self.fc2 = nn.Sequential(nn.Linear(d1, 32), nn.ReLU(inplace=True))
        self._add_round(2, img_chw=(16, h2, w2), mlp_width=32, cross_width=64, raw_chw=(1, h, w),
                        raw_width=d, pool=((8, 8), (8, 4)), kernel=k2, reg=_LSTM_ROUNDS[1],
                        prelu_init=pi)
        c2 = 16 + (16 if cross else 0)
        self.img_fc = nn.Sequential(nn.Flatten(), nn.Linear(c2 * h2 * w2, 64),
                                    nn.ReLU(inplace=True))
        self.frame_features = 64 + 32 + (64 if cross else 0)           # 96 / 160
        self.merge_tbn = TimeBatchNorm(self.n_frames)
        self.merge_drop = nn.Dropout(0.5 if (cross or res) else 0.25)
        self.lstm = nn.LSTM(self.frame_features, lstm_hidden, batch_first=True)
        self.num_features = self.head_dim = int(lstm_hidden)
        self.classifier = nn.Linear(self.num_features, self.num_classes)
        _keras_init(self)

    # per-frame extractor on M valid frames ------------------------------------------------
    def _frame(self, xi, xm, store=None):
        img = self.conv1(xi)                                # M x 8 x H/2 x W/2
        mlp = self.fc1(xm)                                  # M x 32
        img, mlp, _ = self._exchange(1, img, mlp, xi, xm, store)  # M x 16 x H/2 x W/2, M x 64
        img = self.conv2(img)                               # M x 16 x H/4 x W/4
        mlp = self.fc2(mlp)                                 # M x 32
        img, mlp, x2d1d = self._exchange(2, img, mlp, xi, xm, store, join_mlp=False)
        img = self.img_fc(img)                              # M x 64
        extra = [] if x2d1d is None else [x2d1d]            # M x 64
        return torch.cat([img, mlp] + extra, 1)             # M x 96 / 160

    @staticmethod
    def infer_mask(x_img, x_mfcc):
        """True where a time step is not all-zero in both inputs (Keras ``Masking``)."""
        n, t = x_mfcc.shape[:2]
        return (x_mfcc.reshape(n, t, -1).abs().sum(-1) > 0) | \
            (x_img.reshape(n, t, -1).abs().sum(-1) > 0)

    def _check(self, x_img, x_mfcc, mask):
        if x_img.dim() == 4:
            x_img = x_img.unsqueeze(2)
        n, t = x_img.shape[:2]
        if t != self.n_frames or tuple(x_img.shape[-2:]) != self.image_hw:
            raise ParameterError(f"expected x_img (N, {self.n_frames}, 1, {self.image_hw[0]}, "
                                 f"{self.image_hw[1]}), got {tuple(x_img.shape)}")
        if tuple(x_mfcc.shape) != (n, t, self.n_mfcc):
            raise ParameterError(f"expected x_mfcc ({n}, {t}, {self.n_mfcc}), "
                                 f"got {tuple(x_mfcc.shape)}")
        if mask is None:
            mask = self.infer_mask(x_img, x_mfcc)
        return x_img, x_mfcc, mask.to(device=x_img.device).bool()

    def _sequence(self, x_img, x_mfcc, mask, store=None):
        x_img, x_mfcc, mask = self._check(x_img, x_mfcc, mask)
        n, t = mask.shape
        # padded steps enter the time-axis BN statistics as zeros (as Keras' zero padding)
        x_img = x_img * mask.view(n, t, 1, 1, 1).to(x_img.dtype)
        xi = self.img_tbn(x_img)                            # N x T x 1 x H x W
        idx = mask.reshape(-1).nonzero(as_tuple=True)[0]    # valid frames only
        frames = xi.reshape(n * t, *xi.shape[2:]).index_select(0, idx)
        mf = x_mfcc.reshape(n * t, -1).index_select(0, idx)
        sub = {} if store is not None else None
        f = self._frame(frames, mf, sub)                    # M x F
        feats = f.new_zeros(n * t, f.shape[1]).index_copy(0, idx, f).view(n, t, -1)
        if store is not None:
            for k, v in sub.items():
                full = v.new_zeros((n * t,) + tuple(v.shape[1:])).index_copy(0, idx, v)
                store[k] = full.view((n, t) + tuple(v.shape[1:]))
        seq = self.merge_drop(self.merge_tbn(feats))       # N x T x F
        # masked LSTM: valid steps moved to the front (stable), padded steps skipped
        order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
        seq = torch.gather(seq, 1, order.unsqueeze(-1).expand(-1, -1, seq.shape[-1]))
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(seq, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return h_n[-1]                                      # N x 64

    def forward_features(self, x_img, x_mfcc, mask=None):
        """LSTM summary ``(N, 64)`` of the masked sequence."""
        return self._sequence(x_img, x_mfcc, mask)

    def forward_head(self, x, pre_logits: bool = False):
        return x if pre_logits else self.classifier(x)

    # forward(x_img, x_mfcc, mask=None) = forward_head(forward_features(...)) (ClassifierModel);
    # gradcam_layer = None: the per-frame maps are those of the valid frames of the whole batch.

    def forward_intermediates(self, x_img, x_mfcc, mask=None) -> XFlowOutput:
        """Logits plus per-time-step connection outputs ``(N, T, ...)`` (zero when padded)."""
        store = {}
        feats = self._sequence(x_img, x_mfcc, mask, store)
        store["features"] = feats
        return XFlowOutput(self.forward_head(feats), store)

# --------------------------------------------------------------------------- builders
def _dataset_cfg(dataset):
    key = str(dataset).lower()
    if key not in DATASET_CONFIGS:
        raise ParameterError(f"unknown dataset {dataset!r}; choose from {sorted(DATASET_CONFIGS)}")
    return DATASET_CONFIGS[key]


def cnn_x_mlp(dataset: str = "avletters", variant: str = "xflow", **kwargs) -> CNNxMLP:
    """CNN x MLP for a dataset configuration of the paper (Table I / III).

    ``kwargs`` override the configuration, e.g. ``image_hw``/``n_frames`` of a stand-in.
    """
    cfg = _dataset_cfg(dataset)
    args = dict(image_hw=cfg["image_hw"], n_frames=cfg["min_frames"],
                num_classes=cfg["num_classes"])
    args.update(kwargs)
    return CNNxMLP(variant=variant, **args)


def cnn_x_mlp_lstm(dataset: str = "avletters", variant: str = "xflow", **kwargs) -> CNNxMLPLSTM:
    """{CNN x MLP}-LSTM for a dataset configuration of the paper (Table II / III)."""
    cfg = _dataset_cfg(dataset)
    args = dict(image_hw=cfg["image_hw"], n_frames=cfg["max_frames"],
                num_classes=cfg["num_classes"])
    args.update(kwargs)
    return CNNxMLPLSTM(variant=variant, **args)


#: XFlow family -> the name its builder is registered under in :data:`avlib.models.MODELS`.
FAMILY_MODELS = {"cnnxmlp": "cnn_x_mlp", "lstm": "cnn_x_mlp_lstm"}


def family_key(family: str) -> str:
    """``"cnnxmlp"`` or ``"lstm"`` for any spelling of a family ("CNNxMLP", "CNNxMLP-LSTM", ...)."""
    f = str(family).lower().replace("-", "").replace("_", "")
    if f == "cnnxmlp":
        return "cnnxmlp"
    if f in ("lstm", "cnnxmlplstm"):
        return "lstm"
    raise ParameterError(f"unknown XFlow model family {family!r}")


def build_xflow_model(family: str, dataset: str = "avletters", variant: str = "xflow",
                      **kwargs) -> nn.Module:
    """The model of ``family`` ("cnnxmlp" or "lstm", any spelling of :func:`family_key`) from
    the model registry (:func:`avlib.models.get_model` with the name of :data:`FAMILY_MODELS`)."""
    return get_model(FAMILY_MODELS[family_key(family)], dataset=dataset, variant=variant, **kwargs)
