"""Models of the three papers, one file per family, behind one contract and one registry.

Every model follows the contract of :mod:`avlib.models.base` (timm-like, for any number of
inputs): ``forward_features(*inputs)``, ``forward_head(features, pre_logits=False)``,
``forward(*inputs)``, ``reset_classifier(num_classes)``, ``head_dim`` (the width of
``forward_head(..., pre_logits=True)``) and ``gradcam_layer``. Models are built by name with
:func:`get_model` (keyword arguments only); :data:`MODELS` maps names to builders that
import their module only when called, so importing :mod:`avlib.models` is cheap, and
:func:`register_model` adds a name (:mod:`avlib.models.registry`).

=====================  ==========================================  ========  ======================
name                   inputs                                      head_dim  ``gradcam_layer``
=====================  ==========================================  ========  ======================
``han2016``            (N, 1, 128, 43) log-mel segment              1024      ``features.9``
``choi2016``           (N, 1, 96, 1366) log-mel (CC or UC)          1024      ``features.14``
``xception_audio``     (N, 1, 96, 1366) log-mel                     1024      ``exit``
``inception_frames``   (N, 3, H, W) frames in [-1, 1], H >= 75      2048      ``backbone.Mixed_7c``
``late_fusion``        (N, 2k+1, 1024) feature matrix               1024      None
``audio_visual_net``   log-mels (N, 1, F, T), frames (N, k, 3, H, W)  1024    per modality
``cnn_x_mlp``          frames (N, m, H, W), MFCCs (N, 26 m)         512       ``{"image": ...}``
``cnn_x_mlp_lstm``     frames (N, T, 1, H, W), MFCCs (N, T, 26)     64        None
``dtn``                frames (N, ...), MFCCs (N, ...) (flattened)  512       None
=====================  ==========================================  ========  ======================

ICMR 2017 (Han, Choi, Xception, Inception v3, late fusion); ISMIR 2017 (the end-to-end
audio-visual network, :mod:`avlib.models.audiovisual`); XFlow (:mod:`avlib.models.xflow`:
``dataset=``, ``variant=`` and geometry keywords, also built by family name with
:func:`avlib.models.xflow.build_xflow_model`; the DTN baseline, :mod:`avlib.models.dtn`).
"""

from __future__ import annotations

from .registry import MODELS, LazyBuilder, get_model, list_models, register_model

__all__ = ["MODELS", "LazyBuilder", "get_model", "list_models", "register_model"]
