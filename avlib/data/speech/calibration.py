"""Calibration of the embedded speech stand-ins: single-modality probes and target bands.

The stand-ins are only useful for comparing audiovisual architectures if **each
modality is informative but neither is at the ceiling**, and if the two are
**complementary** (each is right on clips where the other is wrong): otherwise there is
nothing for an exchange of information between the streams to gain. This module measures
that, with cheap probes, and states the bands the generator is tuned to
(:data:`TARGET_BANDS`).

Probes
------
Multinomial logistic regression (scikit-learn, L-BFGS) on the XFlow CNN x MLP inputs, as
the cpu preset feeds them (:data:`PROBE_DOWNSAMPLE` = ``XFlowConfig.for_scale("cpu").data.downsample``):

* **audio**: the sliding-window averaged MFCCs (``26 * m`` values);
* **video**: the window-averaged frames, average-pooled by the preset's factor,
  flattened (AVletters 11 x 20 x 15, Digits 6 x 15 x 20, CUAVE 6 x 22 x 30 values);
* **early fusion**: both concatenated (reference only, never tuned on);
* **late fusion**: the product of the two single-modality probes' class probabilities
  (reference only).

Every feature is standardised with the training fold's statistics and a modality with more
than :data:`PROBE_COMPONENTS` values is projected on its top principal axes (fitted on the
training fold too; this keeps the probes at seconds and changes their accuracy by about
a point). The folds are the
paper's speaker-independent folds (:func:`.layouts.speaker_folds`), so every clip is
predicted once by probes that never saw its speaker. The complementarity table counts,
over these out-of-fold predictions, the clips both probes get right, only audio, only
video, neither.

The probes are a *measurement of the data*, cheap enough (seconds) to tune the generator
with; they are linear, so the deep models of the XFlow chapter may score somewhat higher
on each modality. The bands are set with that margin (see :data:`TARGET_BANDS`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from avlib.errors import ParameterError
from avlib.report import paper_table

from .generate import SPEECH_KNOBS
from .layouts import DATASET_INFO, SpeechDataset, cnn_mlp_inputs, speaker_folds, standardize

__all__ = [
    "TARGET_BANDS",
    "MIN_EXCLUSIVE",
    "PROBE_DOWNSAMPLE",
    "PROBE_C",
    "PROBE_COMPONENTS",
    "CalibrationResult",
    "probe_features",
    "calibration_probe",
    "complementarity_table",
    "calibration_table",
    "target_table",
    "knob_table",
    "run_calibration",
]

#: Target bands of the single-modality probe accuracies (fraction correct, inclusive),
#: per dataset and modality. Justification (also on the datasheet page):
#:
#: * video well below audio, as in every audiovisual speech study (lip reading alone is
#:   hard): AVletters lip-reading 44.6 % (Matthews et al. 2002, AAM + HMM), 58.9 % (Zhao
#:   et al. 2009), 64.4 % (Ngiam et al. 2011, deep features); CUAVE video-only
#:   64-69 % (Gurban & Thiran 2009; Ngiam et al. 2011). A linear probe on pooled pixels is
#:   weaker than those feature pipelines, hence bands a little lower;
#: * audio informative but off the ceiling: clean-audio digit recognition on CUAVE is
#:   ~95 % with strong features, but then no fusion comparison can show anything; the
#:   stand-ins model the recording noise, speaker variability and short clips that put
#:   the paper's *audiovisual* baselines at 73.1 % (AVletters), 78.3 % (Digits) and
#:   90.3 % (CUAVE, CNN x MLP; Table IV), so each single modality is set below that
#:   dataset's audiovisual baseline and the baseline is reachable only by combining
#:   them;
#: * the order of difficulty is the paper's: AVletters (26 letters, 10 speakers) is the
#:   hardest, CUAVE (10 digits, 36 speakers) the easiest.
#:
#: The bands hold for the full speaker sets (``cpu`` and ``paper`` presets); the ``smoke``
#: preset's two or three speakers give lower numbers.
TARGET_BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "avletters": {"audio": (0.50, 0.68), "video": (0.30, 0.48)},
    "digits": {"audio": (0.55, 0.72), "video": (0.35, 0.55)},
    "cuave": {"audio": (0.62, 0.80), "video": (0.40, 0.60)},
}

#: Minimum fraction of clips that only one probe gets right (each of "only audio" and
#: "only video"): below it the modalities are redundant and fusion has nothing to gain.
MIN_EXCLUSIVE = 0.08

#: Frame pooling of the probes = ``XFlowConfig.for_scale("cpu").data.downsample``
#: (:class:`avlib.config.xflow.XFlowConfig`; checked by a test).
PROBE_DOWNSAMPLE: dict[str, int] = {"avletters": 4, "digits": 6, "cuave": 4}

#: Inverse L2 regularisation of the probes (one value for all datasets and modalities,
#: fixed before the generator was tuned).
PROBE_C = 0.05

#: Principal components kept per modality by the probes (the pooled frames have
#: 1800-3960 values; fitted on the training fold).
PROBE_COMPONENTS = 128

_MODS = ("audio", "video", "early_fusion", "late_fusion")


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """Block-average the last two axes by ``k`` (remainders cropped, as ``avg_pool2d``)."""
    if k <= 1:
        return x
    h, w = x.shape[-2] // k * k, x.shape[-1] // k * k
    x = x[..., :h, :w]
    return x.reshape(x.shape[:-2] + (h // k, k, w // k, k)).mean(axis=(-3, -1))


def probe_features(ds: SpeechDataset, *, downsample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flat audio and video probe features ``(N, Da)``, ``(N, Dv)`` of every clip.

    ``downsample`` defaults to :data:`PROBE_DOWNSAMPLE` of the dataset (1 for an unknown
    name).
    """
    k = int(downsample if downsample is not None else PROBE_DOWNSAMPLE.get(ds.info.name, 1))
    if k < 1:
        raise ParameterError(f"downsample must be >= 1, got {downsample}")
    x_img, x_mfcc, _ = cnn_mlp_inputs(ds)
    x_vid = _pool(x_img, k).reshape(len(ds), -1)
    return x_mfcc.astype(np.float32), x_vid.astype(np.float32)


@dataclass
class CalibrationResult:
    """Out-of-fold predictions of the calibration probes on one dataset.

    Attributes
    ----------
    dataset : str
    labels : np.ndarray [shape=(N,)]
    pred : dict of str -> np.ndarray
        Predicted class per clip for ``audio``, ``video``, ``early_fusion``,
        ``late_fusion`` (clips of unused folds are -1).
    fold : np.ndarray [shape=(N,)]
        Test fold of every clip (-1 = not evaluated).
    n_classes : int
    seconds : float
        Wall-clock time of the probes.
    """

    dataset: str
    labels: np.ndarray
    pred: dict
    fold: np.ndarray
    n_classes: int
    seconds: float = 0.0
    bands: dict = field(default_factory=dict)

    @property
    def evaluated(self) -> np.ndarray:
        return self.fold >= 0

    def accuracy(self, modality: str) -> float:
        """Fraction of the evaluated clips the probe of ``modality`` gets right."""
        ok = self.evaluated
        return float((self.pred[modality][ok] == self.labels[ok]).mean())

    def fold_accuracy(self, modality: str) -> np.ndarray:
        """Accuracy per evaluated fold."""
        return np.array([float((self.pred[modality][self.fold == f] == self.labels[self.fold == f]).mean())
                         for f in np.unique(self.fold[self.evaluated])])

    def complementarity(self) -> dict:
        """Fractions of clips: ``both``, ``only_audio``, ``only_video``, ``neither`` right."""
        return complementarity_table(self.labels[self.evaluated], self.pred["audio"][self.evaluated],
                                     self.pred["video"][self.evaluated])

    def summary(self) -> dict:
        """Accuracies, complementarity, chance and whether each modality is in its band."""
        present = len(np.unique(self.labels))       # a reduced preset may use fewer words
        out = dict(dataset=self.dataset, n_clips=int(self.evaluated.sum()),
                   folds=int(len(np.unique(self.fold[self.evaluated]))), chance=1.0 / max(present, 1))
        for m in _MODS:
            out[m] = self.accuracy(m)
        out.update(self.complementarity())
        for m in ("audio", "video"):
            lo, hi = self.bands.get(m, (np.nan, np.nan))
            out[f"{m}_band"] = (lo, hi)
            out[f"{m}_in_band"] = bool(lo <= out[m] <= hi)
        out["complementary"] = bool(min(out["only_audio"], out["only_video"]) >= MIN_EXCLUSIVE)
        out["seconds"] = round(self.seconds, 2)
        return out


def complementarity_table(labels, pred_audio, pred_video) -> dict:
    """Fractions of clips right by both, only audio, only video, neither (they sum to 1).

    >>> complementarity_table([0, 1, 2, 3], [0, 1, 0, 0], [0, 0, 2, 0])
    {'both': 0.25, 'only_audio': 0.25, 'only_video': 0.25, 'neither': 0.25}
    """
    y = np.asarray(labels)
    a = np.asarray(pred_audio) == y
    v = np.asarray(pred_video) == y
    n = max(len(y), 1)
    return dict(both=float((a & v).sum() / n), only_audio=float((a & ~v).sum() / n),
                only_video=float((~a & v).sum() / n), neither=float((~a & ~v).sum() / n))


def _pca(ztr: np.ndarray, zte: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Project standardised features on the top ``k`` principal axes of the training part.

    Computed from the smaller of the Gram (``N x N``) and covariance (``D x D``) matrices
    in float32 (the probes need the subspace, not its last digit). Features with at most
    ``k`` dimensions are returned unchanged.
    """
    from scipy.linalg import eigh

    n, d = ztr.shape
    if d <= k:
        return ztr, zte
    k = min(k, n - 1)
    a = np.asarray(ztr, np.float32)
    if n < d:
        g = a @ a.T
        w, u = eigh(g, subset_by_index=[n - k, n - 1])
        axes = (a.T @ u) / np.sqrt(np.maximum(w, 1e-6))[None, :]      # (d, k), unit columns
    else:
        w, axes = eigh(a.T @ a, subset_by_index=[d - k, d - 1])
    axes = axes[:, ::-1].astype(np.float32)
    return a @ axes, np.asarray(zte, np.float32) @ axes


def _fit_predict(xtr, ytr, xte, n_classes, C, max_iter, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    proba = np.zeros((len(xte), n_classes))
    proba[:, clf.classes_] = clf.predict_proba(xte)
    return proba


def calibration_probe(ds: SpeechDataset, *, downsample: int | None = None, C: float = PROBE_C,
                      n_components: int = PROBE_COMPONENTS, max_iter: int = 200, max_folds: int | None = None,
                      seed: int = 0, n_threads: int = 1, features: tuple | None = None) -> CalibrationResult:
    """Run the audio, video and fusion probes over the speaker folds of ``ds``.

    Parameters
    ----------
    ds : SpeechDataset
    downsample : int, optional
        Frame pooling (default :data:`PROBE_DOWNSAMPLE` of the dataset).
    C : float
        Inverse L2 regularisation of every probe.
    n_components : int
        Features of a modality with more dimensions are first projected on their top
        ``n_components`` principal axes (fitted on the training fold): keeps the probes fast.
    max_iter : int
        L-BFGS iterations.
    max_folds : int, optional
        Evaluate only the first ``max_folds`` speaker folds (the others' clips get fold -1).
    seed : int
    n_threads : int
        BLAS threads (1 avoids oversubscription when other processes use the cores).
    features : (audio, video), optional
        Precomputed :func:`probe_features` (or hand-made ``(N, D)`` arrays, for tests).

    Returns
    -------
    CalibrationResult
        Its :meth:`~CalibrationResult.summary` has the accuracies, the complementarity
        table and the band checks against :data:`TARGET_BANDS`.
    """
    t0 = time.perf_counter()
    xa, xv = features if features is not None else probe_features(ds, downsample=downsample)
    y = np.asarray(ds.labels)
    n_classes = int(ds.info.n_classes)
    folds = speaker_folds(ds)
    if max_folds is not None:
        folds = folds[:max_folds]
    pred = {m: np.full(len(y), -1, np.int64) for m in _MODS}
    fold_of = np.full(len(y), -1, np.int64)
    with threadpool_limits(limits=n_threads):
        for k, (tr, te) in enumerate(folds):
            za_tr, za_te = _pca(*standardize(xa[tr], xa[te]), n_components)
            zv_tr, zv_te = _pca(*standardize(xv[tr], xv[te]), n_components)
            pa = _fit_predict(za_tr, y[tr], za_te, n_classes, C, max_iter, seed)
            pv = _fit_predict(zv_tr, y[tr], zv_te, n_classes, C, max_iter, seed)
            pf = _fit_predict(np.concatenate([za_tr, zv_tr], 1), y[tr], np.concatenate([za_te, zv_te], 1),
                              n_classes, C, max_iter, seed)
            pred["audio"][te] = pa.argmax(1)
            pred["video"][te] = pv.argmax(1)
            pred["early_fusion"][te] = pf.argmax(1)
            pred["late_fusion"][te] = (np.log(pa + 1e-9) + np.log(pv + 1e-9)).argmax(1)
            fold_of[te] = k
    return CalibrationResult(dataset=ds.info.name, labels=y, pred=pred, fold=fold_of, n_classes=n_classes,
                             seconds=time.perf_counter() - t0, bands=dict(TARGET_BANDS.get(ds.info.name, {})))


def calibration_table(results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables of the datasheet page from several :class:`CalibrationResult`.

    Returns
    -------
    accuracy : pandas.DataFrame
        One row per dataset and probe: ``dataset``, ``probe``, ``accuracy``, ``fold_std``,
        ``band`` ("lo–hi" for the single modalities), ``in_band`` (True / False / None),
        ``chance``.
    complementarity : pandas.DataFrame
        One row per dataset: ``both``, ``only_audio``, ``only_video``, ``neither``,
        ``complementary`` (both exclusive fractions >= :data:`MIN_EXCLUSIVE`).
    """
    acc_rows, comp_rows = [], []
    for r in results:
        s = r.summary()
        for m in _MODS:
            band = s.get(f"{m}_band")
            fa = r.fold_accuracy(m)
            acc_rows.append(dict(dataset=r.dataset, probe=m.replace("_", " "), accuracy=s[m],
                                 fold_std=float(fa.std(ddof=1)) if len(fa) > 1 else np.nan,
                                 band="–" if band is None else f"{band[0]:.2f}–{band[1]:.2f}",
                                 in_band=s.get(f"{m}_in_band"), chance=s["chance"]))
        comp_rows.append(dict(dataset=r.dataset, clips=s["n_clips"], folds=s["folds"],
                              **{k: s[k] for k in ("both", "only_audio", "only_video", "neither")},
                              complementary=s["complementary"], probe_seconds=s["seconds"]))
    return pd.DataFrame(acc_rows), pd.DataFrame(comp_rows)


def target_table() -> pd.DataFrame:
    """The target bands with chance and the XFlow paper's audiovisual baselines (Table IV).

    The paper's numbers are the *audiovisual* baselines (both streams, no cross-modal
    connections) on the real datasets: context for the bands (each single modality is set
    below them), not targets of the probes.
    """
    t4 = paper_table("xflow_table4_cv_accuracy")
    paper = {(r.dataset.lower(), r.model): r.baseline_pct for r in t4.itertuples()}
    rows = []
    for name, bands in TARGET_BANDS.items():
        row = dict(dataset=name, chance=1.0 / DATASET_INFO[name].n_classes)
        for mod, (lo, hi) in bands.items():
            row[f"{mod} band"] = f"{lo:.2f}–{hi:.2f}"
        row["min only-audio / only-video"] = MIN_EXCLUSIVE
        row["paper AV baseline CNNxMLP (%)"] = paper.get((name, "CNNxMLP"))
        row["paper AV baseline LSTM (%)"] = paper.get((name, "CNNxMLP-LSTM"))
        rows.append(row)
    return pd.DataFrame(rows)


_KNOB_DOC = {
    "snr_db": ("audio", "per-clip room-noise SNR range (dB, uniform); lower hides the word's sounds"),
    "formant_spread": ("audio", "per-speaker F1-F3 bias half-range (accent / anatomy)"),
    "articulation": ("video", "per-speaker articulation gain range (lip movement relative to the viseme targets)"),
    "token_var": ("video", "token-to-token variability of jaw opening and rounding (factor 1 +- value)"),
}


def knob_table(knobs: dict | None = None) -> pd.DataFrame:
    """The generator's information knobs per dataset (default :data:`.generate.SPEECH_KNOBS`)."""
    knobs = SPEECH_KNOBS if knobs is None else knobs
    rows = []
    for name, kn in knobs.items():
        for key, value in kn.items():
            mod, effect = _KNOB_DOC.get(key, ("", ""))
            shown = " to ".join(f"{v:g}" for v in value) if isinstance(value, (list, tuple)) else f"{value:g}"
            rows.append(dict(dataset=name, modality=mod, knob=key, value=shown, effect=effect))
    return pd.DataFrame(rows)


def run_calibration(datasets: dict, *, max_folds: int | None = None, seed: int = 0,
                    n_threads: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """:func:`calibration_probe` on each dataset, then :func:`calibration_table`.

    Parameters
    ----------
    datasets : dict of str -> SpeechDataset

    Returns
    -------
    accuracy, complementarity : pandas.DataFrame
    results : dict of str -> CalibrationResult
    """
    results = {name: calibration_probe(ds, max_folds=max_folds, seed=seed, n_threads=n_threads)
               for name, ds in datasets.items()}
    acc, comp = calibration_table(results.values())
    return acc, comp, results
