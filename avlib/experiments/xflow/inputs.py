"""Data of the XFlow experiments: the datasets, the models' input tensors and the per-fold
preprocessing (Cangea et al., Sec. III-A: AVletters, Digits, CUAVE; CNN x MLP and
{CNN x MLP}-LSTM inputs).

* :func:`load_xflow_dataset`: the embedded stand-in of a scale, or the real dataset;
* :func:`xflow_arrays`: a dataset as model inputs (frames pooled by a factor, every n-th
  frame for the LSTM models), kept in memory for the session;
* :func:`xflow_preprocess`: MFCCs z-scored with the training part's statistics;
* :func:`xflow_model_factory`: ``make_model(seed)`` for the cross-validation, with the
  geometry of the inputs;
* :func:`chance_levels`, :data:`DATASET_NAMES`: what the captions and tables print.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import numpy as np
import torch

from ...data.real import speech_folder
from ...data.speech import (DATASET_INFO, cnn_mlp_inputs, ensure_speech_benchmark, load_speech_dataset,
                            sequence_inputs)
from ...errors import ParameterError
from ...models.xflow import build_xflow_model, family_key
from ...train.protocols import standardize_features

__all__ = [
    "DATASET_NAMES",
    "chance_levels",
    "load_xflow_dataset",
    "downsample_images",
    "dataset_setting",
    "xflow_arrays",
    "xflow_preprocess",
    "xflow_model_factory",
]

#: Dataset key -> the name the paper's tables print.
DATASET_NAMES = {"avletters": "AVletters", "digits": "Digits", "cuave": "CUAVE"}


def chance_levels(datasets) -> dict:
    """``{dataset: 1 / number of classes}`` (AVletters 26 letters, Digits and CUAVE 10 digits)."""
    return {str(n).lower(): 1.0 / DATASET_INFO[str(n).lower()].n_classes for n in datasets}


def load_xflow_dataset(dataset: str, *, source: str = "embedded", data_root="data",
                       scale: str = "cpu", seed: int = 0):
    """Load one XFlow dataset and name its source for the provenance caption.

    ``source="embedded"``: the stand-in of ``scale`` (generated if missing, via
    :func:`avlib.data.speech.ensure_speech_benchmark`); ``source="real"``: the real dataset
    in ``<data_root>/real/<dataset>`` (:mod:`avlib.data.real`); any other ``source``: a folder
    holding ``avletters/``, ``digits/``, ``cuave/`` (:func:`avlib.data.real.speech_folder`), in
    the layout :func:`avlib.data.speech.load_speech_dataset` reads. Returns ``(SpeechDataset, source_label)``.
    """
    if source == "embedded":
        root = ensure_speech_benchmark(data_root, dataset, scale=scale, seed=seed, progress=False)
        return load_speech_dataset(root, dataset), "embedded benchmark"
    folder = speech_folder(source, data_root, dataset)
    if not folder.is_dir():
        raise ParameterError(f"source {source!r}: no folder {folder} (valid sources: embedded, real, "
                             "or a folder holding avletters/, digits/, cuave/)")
    return load_speech_dataset(folder, dataset), DATASET_NAMES.get(dataset, dataset)


def downsample_images(x, factor: int):
    """Average-pool the last two axes of ``x`` by an integer ``factor`` (floor of the size).

    Used by the reduced scales: e.g. 80x60 -> 20x15 and 90x120 -> 22x30 with ``factor=4``.
    ``factor=1`` returns ``x`` unchanged. Works on NumPy arrays and tensors (returns a tensor).
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    f = int(factor)
    if f < 1:
        raise ParameterError(f"downsample factor must be >= 1, got {factor}")
    if f == 1:
        return t
    lead = t.shape[:-2]
    h, w = t.shape[-2:]
    out = torch.nn.functional.avg_pool2d(t.reshape(-1, 1, h, w).float(), f)
    return out.reshape(*lead, h // f, w // f)


def dataset_setting(value, dataset: str, name: str = "setting"):
    """The entry of ``dataset`` in a per-dataset setting: a dict keyed by dataset, or a
    configuration section with one field per dataset (:class:`avlib.config.xflow.PerDataset`);
    any other value is returned as it is."""
    key = str(dataset).lower()
    if isinstance(value, dict):
        if key not in value:
            raise ParameterError(f"{name} {value} has no entry for dataset {dataset!r}")
        return value[key]
    if hasattr(value, "of") and hasattr(value, "avletters"):
        return value.of(key)
    return value


_ARRAY_CACHE: dict = {}


def xflow_arrays(ds, family: str, *, indices=None, downsample=1, time_stride: int = 1,
                 chunk: int = 96, cache: bool = True) -> tuple:
    """Model inputs of a :class:`avlib.data.speech.SpeechDataset` as tensors.

    ``family="cnnxmlp"``: ``(x_img (N, m, H', W'), x_mfcc (N, 26 m), y)``;
    ``family="lstm"``: ``(x_img (N, T', 1, H', W'), x_mfcc (N, T', 26), mask (N, T'), y)``,
    with ``H' = H // downsample`` (an int, or a per-dataset setting, see
    :func:`dataset_setting`) and, for the LSTM inputs, every ``time_stride``-th frame
    (``T' = ceil(T / time_stride)``; 1 in the paper). Built ``chunk`` clips at a time so the
    full-resolution sequences of a large dataset never sit in memory at once. With ``cache``
    the result for the whole dataset is kept in memory for the session (keyed by dataset
    root, size, family and options), as decoding the frames is the slow part.
    """
    downsample = dataset_setting(downsample, ds.info.name, "downsample")
    lstm = family_key(family) == "lstm"
    ts = int(time_stride) if lstm else 1
    if ts < 1:
        raise ParameterError(f"time_stride must be >= 1, got {time_stride}")
    key = (str(getattr(ds, "root", id(ds))), id(ds), len(ds), lstm, int(downsample), ts)
    if cache and indices is None and key in _ARRAY_CACHE:
        return _ARRAY_CACHE[key]
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices)
    parts = []
    for start in range(0, len(idx), chunk):
        sel = idx[start:start + chunk]
        arrs = list(sequence_inputs(ds, sel) if lstm else cnn_mlp_inputs(ds, sel))
        if lstm and ts > 1:
            arrs[:3] = [a[:, ::ts] for a in arrs[:3]]
        arrs[0] = downsample_images(arrs[0], downsample)
        parts.append([torch.as_tensor(np.ascontiguousarray(a)) for a in arrs])
    out = tuple(torch.cat([p[i] for p in parts]) for i in range(len(parts[0])))
    if cache and indices is None:
        if len(_ARRAY_CACHE) >= 8:
            _ARRAY_CACHE.clear()
        _ARRAY_CACHE[key] = out
    return out


def xflow_preprocess(family: str):
    """Per-fold preprocessing for XFlow inputs: MFCCs z-scored with training statistics
    (masked for the LSTM inputs); images are normalised by the models' input BN."""
    if family_key(family) == "lstm":
        return partial(standardize_features, which=(1,), mask_index=2)
    return partial(standardize_features, which=(1,))


def xflow_model_factory(family: str, dataset: str, variant: str, data: tuple, *,
                        num_classes: Optional[int] = None, **kwargs) -> Callable:
    """A ``make_model(seed)`` for :func:`avlib.train.protocols.crossval` whose geometry comes
    from ``data`` (built through the model registry, :func:`avlib.models.xflow.build_xflow_model`)."""
    x_img = data[0]
    hw = tuple(int(v) for v in x_img.shape[-2:])
    n_frames = int(x_img.shape[1])
    ncls = int(num_classes) if num_classes else None

    def make_model(seed: int):
        extra = dict(image_hw=hw, n_frames=n_frames, **kwargs)
        if ncls:
            extra["num_classes"] = ncls
        return build_xflow_model(family, dataset, variant, **extra)

    return make_model
