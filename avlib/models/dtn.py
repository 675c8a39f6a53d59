"""Weakly-shared deep transfer network (DTN), the extra baseline of XFlow Table IV.

Shu, Qi, Tang and Wang, "Weakly-shared deep transfer networks for heterogeneous-domain
knowledge propagation" (ACM MM 2015), as the XFlow paper (Section III-A.3) configures it:

* two streams, audio ``N_audio -> 512 -> 256 -> 256 -> 256 -> C`` and image
  ``N_image -> 2048 -> 256 -> 256 -> 256 -> C`` on the flattened CNN x MLP inputs
  (N_audio 286 / 156; N_image 13,200 / 16,200 = 11 x 40 x 30 / 6 x 45 x 60, i.e. the
  window-averaged frames at half resolution);
* the first two layers of each stream pre-trained as single-layer autoencoders
  (:func:`pretrain_autoencoders`);
* training loss (:class:`DTNLoss`): ``J1 + lam * J3 + eta * J2 + gamma * Omega`` with
  J1 the cross-entropy of both streams' classifiers, J2 the co-occurrence loss over all
  (audio, image) pairs of a batch (logistic loss on the inner products of the top hidden
  representations: matching pairs = co-occurring, the others not), J3 the label-transfer
  loss (unused: the XFlow paper sets ``lam = 0``) and Omega the weak-sharing penalty, the
  squared distance between the weights of corresponding upper layers of the two streams
  (the 256 -> 256 layers and the classifiers). XFlow: ``eta = 1e-6``, ``gamma = 1e-2``,
  ``lam = 0``, batch 128.

The prediction averages the two streams' logits. This is our reading of Shu et al.; their
exact J2 form (a logistic co-occurrence loss) is followed, the weighting is the XFlow one.

Contract (:mod:`avlib.models.base`, two inputs): ``forward_features(x_img, x_mfcc) ->
(h_audio, h_image)``, the top hidden representations; ``forward_head(features)`` -> the
averaged logits ``(N, C)``, with ``pre_logits=True`` -> ``[h_audio, h_image]`` (``head_dim`` =
512; ``stream_dims`` = ``{"audio": 256, "image": 256}``); ``stream_logits(features)`` -> both
streams' logits; ``reset_classifier(num_classes)`` replaces both classifiers;
``gradcam_layer`` is None (fully connected streams).

The model keeps no state between calls. :meth:`WeaklySharedDTN.forward_all` returns everything
the loss needs as a :class:`DTNOutput` ``(logits, streams, hidden)``. ``forward`` returns the
same averaged logits as a :class:`DTNLogits` tensor that carries ``streams`` and ``hidden``:
the training loop calls ``loss_fn(model(*inputs), target)`` and scores ``model(*inputs)`` as
logits, so the output must be a logits tensor and, at the same time, hold what
:class:`DTNLoss` needs. :class:`DTNLoss` takes either form.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
from torch import nn

from ..errors import ParameterError
from ..utils import batch_budget
from .base import ClassifierModel
from .xflow import DATASET_CONFIGS

__all__ = ["WeaklySharedDTN", "DTNOutput", "DTNLogits", "DTNLoss", "pretrain_autoencoders", "dtn"]


class DTNOutput(NamedTuple):
    """Everything one pass of a :class:`WeaklySharedDTN` gives (:meth:`~WeaklySharedDTN.forward_all`).

    logits : (N, C) tensor, the average of the two streams' logits (the prediction)
    streams : ``(z_audio, z_image)``, each stream's logits (N, C)
    hidden : ``(h_audio, h_image)``, the top hidden representations (N, 256)
    """

    logits: torch.Tensor
    streams: tuple
    hidden: tuple


def _plain(x):
    """``x`` with every :class:`DTNLogits` in it viewed as a plain tensor (tuples, lists, dicts)."""
    if isinstance(x, DTNLogits):
        return x.as_subclass(torch.Tensor)
    if isinstance(x, (tuple, list)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


class DTNLogits(torch.Tensor):
    """The averaged logits ``(N, C)`` of a :class:`WeaklySharedDTN`, carrying the outputs the
    training loss needs: ``streams = (z_audio, z_image)`` and ``hidden = (h_audio, h_image)``.

    It is a view of the logits tensor (same storage, same autograd graph). Every torch
    operation on it sees plain tensors (its ``__torch_function__`` unwraps them with the public
    ``Tensor.as_subclass``), so results are plain tensors and only the forward's direct output
    carries the extras. :meth:`output` gives them as a :class:`DTNOutput`.
    """

    streams: tuple = ()
    hidden: tuple = ()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return func(*_plain(args), **_plain(kwargs or {}))

    def __hash__(self):  # identity, as torch.Tensor (not the hash of an unwrapped view)
        return id(self)

    @classmethod
    def wrap(cls, logits: torch.Tensor, streams: tuple, hidden: tuple) -> "DTNLogits":
        out = logits.as_subclass(cls)
        out.streams, out.hidden = tuple(streams), tuple(hidden)
        return out

    def output(self) -> DTNOutput:
        """The same outputs as a :class:`DTNOutput` (logits as a plain tensor)."""
        return DTNOutput(self.as_subclass(torch.Tensor), self.streams, self.hidden)


def _mlp(sizes):
    layers = nn.ModuleList()
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
    return layers


class WeaklySharedDTN(ClassifierModel):
    """Two-stream weakly-shared DTN (XFlow Table IV baseline).

    Parameters
    ----------
    n_audio, n_image : int
        Flattened input sizes of the audio (MFCC) and image streams.
    num_classes : int
    audio_hidden, image_hidden : sequence of int
        Hidden widths (512, 256, 256, 256) and (2048, 256, 256, 256).
    n_shared : int
        Number of upper hidden-to-hidden layers whose weights are weakly shared (Omega);
        the classifiers are always included. Needs equal widths in both streams.

    Inputs: ``x_img (N, ...)`` and ``x_mfcc (N, ...)`` (flattened inside). Output: the
    averaged logits as :class:`DTNLogits` (with both streams' logits and hidden
    representations for :class:`DTNLoss`); :meth:`forward_all` gives them as a
    :class:`DTNOutput`.
    """

    def __init__(self, n_audio: int, n_image: int, num_classes: int, *,
                 audio_hidden: Sequence[int] = (512, 256, 256, 256),
                 image_hidden: Sequence[int] = (2048, 256, 256, 256), n_shared: int = 2,
                 dropout: float = 0.0):
        super().__init__()
        if n_audio < 1 or n_image < 1 or num_classes < 1:
            raise ParameterError(f"bad DTN sizes n_audio={n_audio} n_image={n_image} "
                                 f"num_classes={num_classes}")
        top_a, top_i = list(audio_hidden)[-(n_shared + 1):], list(image_hidden)[-(n_shared + 1):]
        if n_shared and top_a != top_i:
            raise ParameterError(f"weakly shared layers need equal widths, got {top_a} / {top_i}")
        self.n_audio, self.n_image, self.num_classes = int(n_audio), int(n_image), int(num_classes)
        self.n_shared = int(n_shared)
        self.audio = _mlp([self.n_audio] + list(audio_hidden))
        self.image = _mlp([self.n_image] + list(image_hidden))
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.num_features = int(audio_hidden[-1])
        self.stream_dims = {"audio": int(audio_hidden[-1]), "image": int(image_hidden[-1])}
        self.head_dim = self.stream_dims["audio"] + self.stream_dims["image"]
        self.audio_head = nn.Linear(audio_hidden[-1], self.num_classes)
        self.image_head = nn.Linear(image_hidden[-1], self.num_classes)

    @staticmethod
    def _run(layers, x, upto=None):
        for layer in list(layers)[:upto]:
            x = torch.relu(layer(x))
        return x

    def shared_pairs(self):
        """(audio, image) parameter pairs entering the weak-sharing penalty Omega."""
        pairs = []
        for k in range(1, self.n_shared + 1):
            a, i = self.audio[-k], self.image[-k]
            pairs += [(a.weight, i.weight), (a.bias, i.bias)]
        pairs += [(self.audio_head.weight, self.image_head.weight),
                  (self.audio_head.bias, self.image_head.bias)]
        return pairs

    def forward_features(self, x_img, x_mfcc):
        """Top hidden representations ``(h_audio, h_image)``, each ``(N, 256)``."""
        ha = self._run(self.audio, torch.flatten(x_mfcc, 1).float())
        hi = self._run(self.image, torch.flatten(x_img, 1).float())
        return ha, hi

    def stream_logits(self, feats):
        """Each stream's logits ``(z_audio, z_image)`` from ``(h_audio, h_image)``."""
        ha, hi = feats
        return self.audio_head(self.drop(ha)), self.image_head(self.drop(hi))

    @staticmethod
    def _average(za, zi):
        return 0.5 * (za + zi)

    def forward_head(self, feats, pre_logits: bool = False):
        """The averaged logits ``(N, C)``; with ``pre_logits=True`` ``[h_audio, h_image]``."""
        if pre_logits:
            ha, hi = feats
            return torch.cat([ha, hi], 1)
        return self._average(*self.stream_logits(feats))

    def forward_all(self, x_img, x_mfcc) -> DTNOutput:
        """One pass giving the averaged logits, both streams' logits and hidden representations."""
        feats = self.forward_features(x_img, x_mfcc)
        za, zi = self.stream_logits(feats)
        return DTNOutput(self._average(za, zi), (za, zi), feats)

    def forward(self, x_img, x_mfcc) -> DTNLogits:
        out = self.forward_all(x_img, x_mfcc)
        return DTNLogits.wrap(out.logits, out.streams, out.hidden)

    def reset_classifier(self, num_classes: int):
        """Fresh classifiers with ``num_classes`` outputs for both streams (at least 1: the
        weak-sharing penalty pairs their weights)."""
        if int(num_classes) < 1:
            raise ParameterError(f"the DTN needs num_classes >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.audio_head = nn.Linear(self.stream_dims["audio"], self.num_classes)
        self.image_head = nn.Linear(self.stream_dims["image"], self.num_classes)


class DTNLoss(nn.Module):
    """``J1 + lam * J3 + eta * J2 + gamma * Omega`` of a :class:`WeaklySharedDTN`.

    Usable as ``loss_fn`` of :func:`avlib.train.loop.fit` (called as ``loss(outputs, y)``):
    in training mode it reads the streams' outputs from the :class:`DTNLogits` (the model's
    ``forward``) or the :class:`DTNOutput` (``forward_all``) it is given; in evaluation (or for
    plain logits) it is the cross-entropy of the averaged logits. ``components`` holds the last
    values of each term.
    """

    def __init__(self, model: WeaklySharedDTN, *, eta: float = 1e-6, gamma: float = 1e-2,
                 lam: float = 0.0):
        super().__init__()
        if lam:
            raise ParameterError("the label-transfer loss J3 is not implemented (XFlow uses lam=0)")
        self.model, self.eta, self.gamma, self.lam = model, float(eta), float(gamma), float(lam)
        self.components = {}

    @staticmethod
    def cooccurrence(ha: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """J2: logistic loss on all inner products <h_audio_i, h_image_j> of a batch; pairs
        with i == j co-occur (target 1), the others do not (target 0); summed over pairs."""
        scores = ha @ hi.t()
        target = torch.eye(len(ha), device=ha.device, dtype=scores.dtype)
        return nn.functional.binary_cross_entropy_with_logits(scores, target, reduction="sum")

    def omega(self) -> torch.Tensor:
        """Weak-sharing penalty: sum of squared differences of paired upper-layer weights."""
        return sum(((a - b) ** 2).sum() for a, b in self.model.shared_pairs())

    def forward(self, outputs, target):
        ce = nn.functional.cross_entropy
        if isinstance(outputs, DTNLogits):
            outputs = outputs.output()
        if not isinstance(outputs, DTNOutput):
            outputs = DTNOutput(outputs, (), ())
        if not self.model.training or not outputs.streams:
            return ce(outputs.logits, target)
        za, zi = outputs.streams
        ha, hi = outputs.hidden
        j1 = ce(za.float(), target) + ce(zi.float(), target)
        j2 = self.cooccurrence(ha.float(), hi.float())
        om = self.omega()
        self.components = {"J1": j1.item(), "J2": j2.item(), "Omega": om.item()}
        return j1 + self.eta * j2 + self.gamma * om


def pretrain_autoencoders(model: WeaklySharedDTN, x_img, x_mfcc, *, epochs: int = 20,
                          batch_size: int = 128, lr: float = 1e-3, n_layers: int = 2,
                          tol: Optional[float] = 1e-4, device=None, seed: int = 0) -> dict:
    """Pre-train the first ``n_layers`` layers of both streams as single-layer autoencoders.

    Each layer ``h = relu(W x + b)`` is trained with a linear decoder to reconstruct its
    input (MSE), greedily layer by layer, for at most ``epochs`` epochs or until the epoch
    loss improves by less than ``tol`` (relative), the paper's "until convergence".
    Returns ``{"audio": [loss per layer], "image": [...]}`` (final reconstruction MSE). A dry
    run's ``$AVLIB_MAX_BATCHES`` (:func:`avlib.utils.batch_budget`) caps the batches per epoch.
    """
    max_batches = batch_budget()
    device = torch.device(device) if device is not None else torch.device("cpu")
    g = torch.Generator().manual_seed(seed)
    model.to(device)
    out = {}
    for name, layers, x in (("audio", model.audio, x_mfcc), ("image", model.image, x_img)):
        x = torch.flatten(torch.as_tensor(x), 1).float()
        losses = []
        for li in range(min(n_layers, len(layers))):
            enc = layers[li]
            dec = nn.Linear(enc.out_features, enc.in_features).to(device)
            opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=lr)
            prev = None
            for _ in range(epochs):
                perm = torch.randperm(len(x), generator=g)
                total, seen = 0.0, 0
                for b, s in enumerate(range(0, len(x), batch_size)):
                    if max_batches is not None and b >= max_batches:
                        break
                    xb = x[perm[s:s + batch_size]].to(device)
                    with torch.no_grad():
                        xb = model._run(layers, xb, upto=li)
                    loss = nn.functional.mse_loss(dec(torch.relu(enc(xb))), xb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(xb)
                    seen += len(xb)
                total /= max(seen, 1)
                if tol is not None and prev is not None and abs(prev - total) <= tol * abs(prev):
                    prev = total
                    break
                prev = total
            losses.append(prev)
        out[name] = losses
    return out


def dtn(dataset: str = "avletters", **kwargs) -> WeaklySharedDTN:
    """The XFlow Table IV DTN for a dataset configuration (half-resolution image input).

    ``kwargs`` override ``n_audio``, ``n_image``, ``num_classes`` (e.g. for a stand-in).
    """
    key = str(dataset).lower()
    if key not in DATASET_CONFIGS:
        raise ParameterError(f"unknown dataset {dataset!r}; choose from {sorted(DATASET_CONFIGS)}")
    cfg = DATASET_CONFIGS[key]
    h, w = cfg["image_hw"]
    m = cfg["min_frames"]
    args = dict(n_audio=26 * m, n_image=m * (h // 2) * (w // 2), num_classes=cfg["num_classes"])
    args.update(kwargs)
    return WeaklySharedDTN(**args)
