"""Simple per-modality baselines that describe the difficulty of a speech dataset.

Used by the datasheet page (``notebooks/data_speech.ipynb``): multinomial logistic
regression (scikit-learn) on the XFlow CNN x MLP inputs,

* **audio**: the window-averaged MFCCs (``26 * m`` values);
* **video**: the window-averaged frames, each downsampled by block averaging
  (``image_pool`` x ``image_pool`` pixels), flattened;
* **audio+video**: both concatenated (early fusion),

evaluated speaker-independently over :func:`.layouts.speaker_folds`, features
standardised with training-fold statistics. This is a description of the data, not a
reproduction of any number of the XFlow paper.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from avlib.errors import ParameterError

from .layouts import SpeechDataset, cnn_mlp_inputs, speaker_folds, standardize

__all__ = ["modality_features", "modality_baseline", "MODALITIES"]

#: Modalities of :func:`modality_baseline`.
MODALITIES = ("audio", "video", "audio+video")


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """Block-average the last two axes by ``k`` (cropping remainders)."""
    h, w = x.shape[-2] // k * k, x.shape[-1] // k * k
    x = x[..., :h, :w]
    return x.reshape(x.shape[:-2] + (h // k, k, w // k, k)).mean(axis=(-3, -1))


def modality_features(ds: SpeechDataset, modality: str, *, image_pool: int = 5) -> np.ndarray:
    """Flat feature matrix ``(N, D)`` of one modality from the CNN x MLP inputs."""
    if modality not in MODALITIES:
        raise ParameterError(f"unknown modality {modality!r}; valid: {', '.join(MODALITIES)}")
    x_img, x_mfcc, _ = cnn_mlp_inputs(ds)
    parts = []
    if "audio" in modality:
        parts.append(x_mfcc)
    if "video" in modality:
        parts.append(_pool(x_img, image_pool).reshape(len(ds), -1))
    return np.concatenate(parts, axis=1).astype(np.float32)


def modality_baseline(ds: SpeechDataset, *, modalities=MODALITIES, image_pool: int = 5,
                      C: float = 0.1, max_iter: int = 300, max_folds: int | None = None,
                      seed: int = 0, n_threads: int = 1) -> pd.DataFrame:
    """Speaker-independent accuracy of logistic regression per modality.

    Parameters
    ----------
    ds : SpeechDataset
    modalities : sequence of str
        Subset of :data:`MODALITIES`.
    image_pool : int
        Block size of the frame downsampling (80 x 60 -> 16 x 12 with 5).
    C : float
        Inverse L2 regularisation strength.
    max_iter : int
        Iterations of the L-BFGS solver.
    max_folds : int, optional
        Use only the first ``max_folds`` speaker folds (to save time).
    seed : int
    n_threads : int
        BLAS threads for the solver (1 avoids oversubscription when other processes use the cores).

    Returns
    -------
    pandas.DataFrame
        One row per (modality, fold): ``modality``, ``fold``, ``test_speakers``,
        ``n_train``, ``n_test``, ``accuracy``.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    folds = speaker_folds(ds)
    if max_folds is not None:
        folds = folds[:max_folds]
    rows = []
    for modality in modalities:
        x = modality_features(ds, modality, image_pool=image_pool)
        for k, (tr, te) in enumerate(folds):
            xtr, xte = standardize(x[tr], x[te])
            clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
            with warnings.catch_warnings(), threadpool_limits(limits=n_threads):
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(xtr, ds.labels[tr])
            acc = float((clf.predict(xte) == ds.labels[te]).mean())
            rows.append(dict(modality=modality, fold=k, test_speakers=" ".join(dict.fromkeys(ds.speakers[te])),
                             n_train=len(tr), n_test=len(te), accuracy=acc))
    return pd.DataFrame(rows)
