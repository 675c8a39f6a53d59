"""Readers for AVletters, Digits and CUAVE in one simple on-disk layout, and XFlow inputs.

On-disk layout (the same for real copies and the embedded stand-ins)
--------------------------------------------------------------------
::

    <root>/
      <speaker>/                         one folder per speaker (e.g. Bill, s07, p03)
        <word>_<take>.frames.npy         uint8 (T, H, W) grayscale mouth-region frames
        <word>_<take>.mfcc.npy           float32 (T, 26): 26 MFCCs per video frame
        <word>_<take>.avi (or .mp4)     optional: the original video (with sound)
        <word>_<take>.mfcc_snr<k>.npy    optional: MFCCs of the track with noise at k dB SNR
        <word>_<take>.spec.npy           optional (Digits): log-mel spectrogram (64, t)
      clips.csv, speakers.csv            optional metadata (written by the generator)

* ``<word>``: ``A`` .. ``Z`` (AVletters) or ``zero`` .. ``nine`` (Digits, CUAVE);
* ``<take>``: repetition ``1``..``3`` (AVletters), ``1``..``5`` (CUAVE), or the speaking
  style ``low``, ``normal``, ``loud``, ``slow``, ``quick`` (Digits);
* ``H x W`` is the natural image size: 60 x 80 (AVletters lip images are 80 pixels
  wide, 60 high), 90 x 120 (Digits, CUAVE).

To use a real copy, convert each clip to this layout: decode the mouth-region video to
grayscale frames and compute the MFCCs from its sound track with
:func:`avlib.features.audio.mfcc_per_video_frame` (``n_frames`` = number of frames), as
the generator does (:mod:`.generate`). AVletters ships pre-cropped lip images and
pre-computed MFCCs: save them as the two arrays.

What the loader returns
-----------------------
:func:`load_speech_dataset` returns a :class:`SpeechDataset`: per clip the frames as
float32 in [0, 1] in the **model orientation** ``DatasetInfo.frame_hw`` (AVletters:
80 x 60, i.e. the 60 x 80 images transposed, which is how the XFlow reference code feeds
them: first pooled map 40 x 30; Digits/CUAVE: 90 x 120), the MFCCs, labels, speakers.
Clips with missing files, frame/MFCC counts that disagree, or fewer than ``min_frames``
(more than ``max_frames``) frames are skipped and listed in ``SpeechDataset.skipped``.

XFlow inputs (xflow-cross-modal-networks.txt, Sec. III; reference-implementations.md):

* :func:`cnn_mlp_inputs`: sliding-window averaging to ``m`` = min frames (11 / 6 / 6):
  channel ``j`` is the mean of frames ``j .. j + n - m``; same for the MFCC rows, which
  are concatenated into ``26 * m`` values (row 0's 26 coefficients first);
* :func:`sequence_inputs`: whole sequences zero-padded to max frames (39 / 58 / 44) with
  a boolean mask of the real time steps;
* :func:`standardize`: per-feature standardisation with statistics of the training part
  only (mask-aware for padded sequences; padded steps stay 0). Frames are left in [0, 1]
  (the XFlow models start with batch normalisation);
* :func:`speaker_folds`: leave-one-speaker-out (AVletters 10, Digits 15), CUAVE 9 folds of
  4 consecutive speakers; :func:`holdout_split`: the hold-out partition of Ngiam et al.
  (2011) used for Table VI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from avlib.errors import DataError, ParameterError

__all__ = [
    "DatasetInfo",
    "DATASET_INFO",
    "dataset_info",
    "clip_stem",
    "SpeechDataset",
    "load_speech_dataset",
    "with_mfcc",
    "window_average",
    "cnn_mlp_inputs",
    "pad_sequences",
    "sequence_inputs",
    "standardize",
    "speaker_folds",
    "holdout_split",
]


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one of the three datasets (real and embedded).

    Attributes
    ----------
    name : str
    n_classes : int
    class_names : tuple of str
        Words in class-index order.
    frame_hw : (int, int)
        Frame size fed to the models (H, W) = the XFlow reference code's image input.
    disk_hw : (int, int)
        Frame size stored on disk (natural image rows, columns).
    min_frames, max_frames : int
        Shortest / longest clip in frames (XFlow: 11/39, 6/58, 6/44).
    fps : float
        Video frame rate.
    speaker_names : tuple of str
        Speakers of the real dataset, in order (the stand-ins use the same names).
    speaker_female : tuple of bool or None
        Gender of the stand-in voices (None: drawn at random).
    takes : tuple
        Repetition numbers or Digits speaking styles.
    fold_size : int
        Speakers per cross-validation fold (1 = leave one speaker out; CUAVE 4).
    n_examples : int
        Clips in the real dataset.
    """

    name: str
    n_classes: int
    class_names: tuple
    frame_hw: tuple
    disk_hw: tuple
    min_frames: int
    max_frames: int
    fps: float
    speaker_names: tuple
    speaker_female: tuple | None
    takes: tuple
    fold_size: int
    n_examples: int
    n_mfcc: int = 26

    @property
    def transpose(self) -> bool:
        """True when frames on disk are transposed to ``frame_hw`` by the loader."""
        return tuple(self.frame_hw) != tuple(self.disk_hw)


#: The three datasets as the XFlow paper uses them.
DATASET_INFO: dict[str, DatasetInfo] = {
    "avletters": DatasetInfo(
        name="avletters", n_classes=26, class_names=tuple(chr(ord("A") + i) for i in range(26)),
        frame_hw=(80, 60), disk_hw=(60, 80), min_frames=11, max_frames=39, fps=25.0,
        speaker_names=("Anya", "Bill", "Faye", "John", "Kate", "Nicola", "Stephen", "Steve", "Verity", "Yi"),
        speaker_female=(True, False, True, False, True, True, False, False, True, False),
        takes=(1, 2, 3), fold_size=1, n_examples=780),
    "digits": DatasetInfo(
        name="digits", n_classes=10,
        class_names=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
        frame_hw=(90, 120), disk_hw=(90, 120), min_frames=6, max_frames=58, fps=30.0,
        speaker_names=tuple(f"p{i:02d}" for i in range(1, 16)), speaker_female=None,
        takes=("low", "normal", "loud", "slow", "quick"), fold_size=1, n_examples=750),
    "cuave": DatasetInfo(
        name="cuave", n_classes=10,
        class_names=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
        frame_hw=(90, 120), disk_hw=(90, 120), min_frames=6, max_frames=44, fps=30000 / 1001,
        speaker_names=tuple(f"s{i:02d}" for i in range(1, 37)), speaker_female=None,
        takes=(1, 2, 3, 4, 5), fold_size=4, n_examples=1800),
}


def dataset_info(dataset: str) -> DatasetInfo:
    """:class:`DatasetInfo` of ``dataset`` ("avletters", "digits" or "cuave")."""
    try:
        return DATASET_INFO[dataset]
    except KeyError:
        raise ParameterError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASET_INFO)}") from None


def clip_stem(dataset: str, word: str, take) -> str:
    """File stem of a clip inside its speaker folder: ``<word>_<take>``."""
    return f"{word}_{take}"


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


class _FrameList(Sequence):
    """Read-only list of clips' frames, converted to float32 [0, 1] on access.

    Keeps the uint8 arrays (4x less memory than float32); indexing returns
    ``(T, H, W) float32`` in the model orientation.
    """

    def __init__(self, raw: list, transpose: bool):
        self._raw = raw
        self._transpose = transpose

    def __len__(self):
        return len(self._raw)

    def _convert(self, a):
        x = a.astype(np.float32) * np.float32(1 / 255)
        return np.ascontiguousarray(x.transpose(0, 2, 1)) if self._transpose else x

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._convert(a) for a in self._raw[i]]
        return self._convert(self._raw[i])

    def raw(self, i) -> np.ndarray:
        """The stored uint8 frames of clip ``i`` (disk orientation)."""
        return self._raw[i]


@dataclass
class SpeechDataset:
    """Clips of one dataset.

    Attributes
    ----------
    info : DatasetInfo
    frames : sequence of np.ndarray [shape=(T_i, H, W), dtype=float32]
        Frames in [0, 1] in ``info.frame_hw`` orientation (converted on access).
    mfcc : list of np.ndarray [shape=(T_i, 26), dtype=float32]
    labels : np.ndarray [shape=(N,), dtype=int64]
    speakers : np.ndarray [shape=(N,), dtype=str]
    takes : np.ndarray [shape=(N,), dtype=object]
        Repetition number (int) or Digits speaking style (str).
    ids : list of str
        ``<speaker>/<word>_<take>``.
    skipped : list of (str, str)
        ``(clip id or file, reason)`` of every clip left out.
    root : Path
    mfcc_kind : str
        Which MFCC files were read (``mfcc`` or ``mfcc_snr<k>``).
    """

    info: DatasetInfo
    frames: Sequence
    mfcc: list
    labels: np.ndarray
    speakers: np.ndarray
    takes: np.ndarray
    ids: list
    skipped: list = field(default_factory=list)
    root: Path | None = None
    mfcc_kind: str = "mfcc"

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        """Number of frames of each clip."""
        return np.array([len(m) for m in self.mfcc], dtype=np.int64)

    @property
    def speaker_order(self) -> list:
        """Distinct speakers in dataset order."""
        return list(dict.fromkeys(self.speakers.tolist()))

    def report(self) -> str:
        """One line per skipped clip, after a summary line."""
        head = f"{self.info.name}: {len(self)} clips loaded from {self.root}, {len(self.skipped)} skipped"
        return "\n".join([head] + [f"  skipped {cid}: {why}" for cid, why in self.skipped])

    def spectrogram(self, i: int) -> np.ndarray:
        """Log-mel spectrogram of clip ``i`` (Digits; file ``<stem>.spec.npy``)."""
        path = Path(self.root) / f"{self.ids[i]}.spec.npy"
        if not path.exists():
            raise DataError(f"{path}: no spectrogram file for clip {self.ids[i]}")
        return np.load(path)


def load_speech_dataset(root, dataset: str, *, mfcc: str = "mfcc", strict: bool = False,
                        speakers: Sequence[str] | None = None) -> SpeechDataset:
    """Read a dataset stored in the layout of this module.

    Parameters
    ----------
    root : path
        Dataset folder (``ensure_speech_benchmark`` returns it for embedded data).
    dataset : {"avletters", "digits", "cuave"}
    mfcc : str
        Which MFCC files to read: ``"mfcc"`` (as recorded) or ``"mfcc_snr<k>"``.
    strict : bool
        Raise :class:`~avlib.errors.DataError` on the first bad clip instead of skipping.
    speakers : sequence of str, optional
        Read only these speakers.

    Returns
    -------
    SpeechDataset
        Ordered by speaker (the dataset's speaker order, else natural sort), class, take.
        ``skipped`` names every clip left out and why (missing file, frame/MFCC count
        mismatch, too few or too many frames, wrong frame size, unknown word).
    """
    info = dataset_info(dataset)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist (expected <root>/<speaker>/<word>_<take>.frames.npy)")
    frame_files = sorted(root.glob("*/*.frames.npy"))
    mfcc_suffix = f".{mfcc}.npy"
    mfcc_files = sorted(root.glob(f"*/*{mfcc_suffix}"))
    if not frame_files and not mfcc_files:
        raise DataError(f"{root}: no clips found; expected <root>/<speaker>/<word>_<take>.frames.npy "
                        f"and .{mfcc}.npy files (see avlib.data.speech.layouts)")
    skipped: list = []

    def skip(cid, reason):
        if strict:
            raise DataError(f"{cid}: {reason}")
        skipped.append((cid, reason))

    stems = {}
    for f in frame_files:
        stems[(f.parent.name, f.name[: -len(".frames.npy")])] = f
    for f in mfcc_files:
        key = (f.parent.name, f.name[: -len(mfcc_suffix)])
        if key not in stems:
            skip(f"{key[0]}/{key[1]}", f"missing frames file {f.parent / (key[1] + '.frames.npy')}")
    if speakers is not None:
        wanted = set(speakers)
        stems = {k: v for k, v in stems.items() if k[0] in wanted}
    order = {s: i for i, s in enumerate(info.speaker_names)}
    takes_order = {str(t): i for i, t in enumerate(info.takes)}
    entries = []
    for (spk, stem), fpath in stems.items():
        cid = f"{spk}/{stem}"
        word, _, take = stem.rpartition("_")
        if word not in info.class_names:
            skip(cid, f"unknown word {word!r} in file name (expected one of {info.class_names[0]}..{info.class_names[-1]})")
            continue
        mpath = fpath.parent / f"{stem}{mfcc_suffix}"
        if not mpath.exists():
            skip(cid, f"missing MFCC file {mpath}")
            continue
        try:
            fr = np.load(fpath)
            mf = np.load(mpath)
        except (OSError, ValueError) as exc:
            skip(cid, f"unreadable file ({exc})")
            continue
        if fr.ndim != 3 or tuple(fr.shape[1:]) != tuple(info.disk_hw):
            skip(cid, f"frames have shape {fr.shape}, expected (T, {info.disk_hw[0]}, {info.disk_hw[1]})")
            continue
        if mf.ndim != 2 or mf.shape[1] != info.n_mfcc:
            skip(cid, f"MFCCs have shape {mf.shape}, expected (T, {info.n_mfcc})")
            continue
        if len(fr) != len(mf):
            skip(cid, f"{len(fr)} frames but {len(mf)} MFCC rows")
            continue
        if len(fr) < info.min_frames:
            skip(cid, f"{len(fr)} frames, fewer than the minimum {info.min_frames}")
            continue
        if len(fr) > info.max_frames:
            skip(cid, f"{len(fr)} frames, more than the maximum {info.max_frames}")
            continue
        if fr.dtype != np.uint8:
            fr = np.clip(np.round(fr * 255 if fr.max() <= 1.0 else fr), 0, 255).astype(np.uint8)
        take_val = int(take) if take.isdigit() else take
        key = (order.get(spk, len(order)), _natural_key(spk), info.class_names.index(word),
               takes_order.get(take, len(takes_order)), _natural_key(take))
        entries.append((key, cid, spk, word, take_val, fr, mf.astype(np.float32, copy=False)))
    if not entries:
        raise DataError(f"{root}: no usable clips ({len(skipped)} skipped; first: "
                        f"{skipped[0] if skipped else 'none'})")
    entries.sort(key=lambda e: e[0])
    takes = np.empty(len(entries), dtype=object)
    takes[:] = [e[4] for e in entries]
    return SpeechDataset(
        info=info,
        frames=_FrameList([e[5] for e in entries], info.transpose),
        mfcc=[e[6] for e in entries],
        labels=np.array([info.class_names.index(e[3]) for e in entries], dtype=np.int64),
        speakers=np.array([e[2] for e in entries]),
        takes=takes,
        ids=[e[1] for e in entries],
        skipped=skipped,
        root=root,
        mfcc_kind=mfcc,
    )


def with_mfcc(ds: SpeechDataset, mfcc: str) -> SpeechDataset:
    """The same clips with another MFCC set (e.g. ``"mfcc_snr0"``), sharing the frames.

    Raises :class:`~avlib.errors.DataError` naming the clip if a file is missing or its
    row count differs from the clip's frame count.
    """
    new = []
    for cid, old in zip(ds.ids, ds.mfcc):
        path = Path(ds.root) / f"{cid}.{mfcc}.npy"
        if not path.exists():
            raise DataError(f"{cid}: missing MFCC file {path}")
        m = np.load(path).astype(np.float32, copy=False)
        if m.shape != old.shape:
            raise DataError(f"{cid}: {path.name} has shape {m.shape}, expected {old.shape}")
        new.append(m)
    return replace(ds, mfcc=new, mfcc_kind=mfcc)


# ----------------------------------------------------------------------------- inputs

def window_average(x: np.ndarray, m: int) -> np.ndarray:
    """Sliding-window average of a sequence down to ``m`` steps.

    Parameters
    ----------
    x : np.ndarray [shape=(n, ...)]
        Sequence of ``n >= m`` steps.
    m : int
        Output length (XFlow: the dataset's minimum number of frames).

    Returns
    -------
    np.ndarray [shape=(m, ...), dtype=float32]
        Step ``j`` = mean of ``x[j : j + n - m + 1]`` (window of ``n - m + 1`` steps).
    """
    x = np.asarray(x)
    n = x.shape[0]
    if m < 1 or n < m:
        raise ParameterError(f"window_average needs 1 <= m <= n, got m={m}, n={n}")
    win = n - m + 1
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x.astype(np.float64)]), axis=0)
    return ((c[win:win + m] - c[:m]) / win).astype(np.float32)


def _select(ds: SpeechDataset, indices):
    return np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)


def cnn_mlp_inputs(ds: SpeechDataset, indices=None, *, m: int | None = None):
    """Fixed-size inputs of the CNN x MLP models (window averaging to ``m`` frames).

    Parameters
    ----------
    ds : SpeechDataset
    indices : array-like of int, optional
        Clips to use (default all).
    m : int, optional
        Number of averaged frames; default ``ds.info.min_frames`` (11 / 6 / 6).

    Returns
    -------
    x_img : np.ndarray [shape=(N, m, H, W), dtype=float32]
        Averaged frames as channels (AVletters 11 x 80 x 60; Digits, CUAVE 6 x 90 x 120).
    x_mfcc : np.ndarray [shape=(N, 26 * m), dtype=float32]
        Averaged MFCC rows concatenated (286 / 156).
    y : np.ndarray [shape=(N,), dtype=int64]
    """
    idx = _select(ds, indices)
    m = int(m or ds.info.min_frames)
    h, w = ds.info.frame_hw
    x_img = np.empty((len(idx), m, h, w), np.float32)
    x_mfcc = np.empty((len(idx), ds.info.n_mfcc * m), np.float32)
    for k, i in enumerate(idx):
        x_img[k] = window_average(ds.frames[i], m)
        x_mfcc[k] = window_average(ds.mfcc[i], m).reshape(-1)
    return x_img, x_mfcc, ds.labels[idx].copy()


def pad_sequences(seqs: Sequence[np.ndarray], t_max: int):
    """Zero-pad sequences ``(T_i, ...)`` to ``(N, t_max, ...)``; also return the mask.

    Returns
    -------
    x : np.ndarray [shape=(N, t_max, ...), dtype=float32]
    mask : np.ndarray [shape=(N, t_max), dtype=bool]
        True on real time steps.
    """
    if not len(seqs):
        raise ParameterError("pad_sequences needs at least one sequence")
    tail = np.asarray(seqs[0]).shape[1:]
    x = np.zeros((len(seqs), t_max) + tail, np.float32)
    mask = np.zeros((len(seqs), t_max), bool)
    for k, s in enumerate(seqs):
        s = np.asarray(s)
        if s.shape[0] > t_max:
            raise ParameterError(f"sequence {k} has {s.shape[0]} steps > t_max={t_max}")
        x[k, : s.shape[0]] = s
        mask[k, : s.shape[0]] = True
    return x, mask


def sequence_inputs(ds: SpeechDataset, indices=None, *, t_max: int | None = None):
    """Zero-padded sequences for the {CNN x MLP}-LSTM models.

    Memory: ``N * t_max * H * W * 4`` bytes for the frames (CUAVE, all 1800 clips:
    3.4 GB): pass ``indices`` to build one fold or one batch at a time.

    Returns
    -------
    x_img : np.ndarray [shape=(N, t_max, 1, H, W), dtype=float32]
    x_mfcc : np.ndarray [shape=(N, t_max, 26), dtype=float32]
    mask : np.ndarray [shape=(N, t_max), dtype=bool]
        True on real frames; padded steps are all-zero in both inputs.
    y : np.ndarray [shape=(N,), dtype=int64]
    """
    idx = _select(ds, indices)
    t_max = int(t_max or ds.info.max_frames)
    h, w = ds.info.frame_hw
    x_img = np.zeros((len(idx), t_max, 1, h, w), np.float32)
    for k, i in enumerate(idx):
        f = ds.frames[i]
        if len(f) > t_max:
            raise ParameterError(f"clip {ds.ids[i]} has {len(f)} frames > t_max={t_max}")
        x_img[k, : len(f), 0] = f
    x_mfcc, mask = pad_sequences([ds.mfcc[i] for i in idx], t_max)
    return x_img, x_mfcc, mask, ds.labels[idx].copy()


def standardize(train: np.ndarray, *others: np.ndarray, masks: Sequence[np.ndarray] | None = None,
                eps: float = 1e-6, return_stats: bool = False):
    """Per-feature standardisation with the statistics of ``train`` only.

    Parameters
    ----------
    train, *others : np.ndarray [shape=(N, D) or (N, T, D)]
        Features in the last axis; statistics over all other axes of ``train``.
    masks : sequence of np.ndarray [shape=(N, T), dtype=bool], optional
        One mask per array (train first) for padded sequences: statistics use only the
        real steps of ``train`` and padded steps stay exactly 0 in every output.
    eps : float
        Added to the standard deviation.
    return_stats : bool
        Also return ``(mean, std)``.

    Returns
    -------
    tuple of np.ndarray
        The standardised arrays in input order (float32), then ``(mean, std)`` if asked.
    """
    arrays = (train,) + others
    if masks is not None and len(masks) != len(arrays):
        raise ParameterError(f"got {len(masks)} masks for {len(arrays)} arrays")
    tr = np.asarray(train, np.float64)
    if masks is not None:
        rows = tr[np.asarray(masks[0], bool)]
    else:
        rows = tr.reshape(-1, tr.shape[-1])
    mean = rows.mean(axis=0)
    std = rows.std(axis=0) + eps
    out = []
    for k, a in enumerate(arrays):
        z = ((np.asarray(a, np.float64) - mean) / std).astype(np.float32)
        if masks is not None:
            z[~np.asarray(masks[k], bool)] = 0.0
        out.append(z)
    if return_stats:
        out.append((mean.astype(np.float32), std.astype(np.float32)))
    return tuple(out)


# ----------------------------------------------------------------------------- splits

def speaker_folds(ds: SpeechDataset, *, fold_size: int | None = None):
    """Speaker-independent cross-validation folds of the XFlow paper.

    Speakers are taken in dataset order and grouped into consecutive blocks of
    ``fold_size`` (default ``ds.info.fold_size``): 1 = leave one speaker out (AVletters
    10 folds, Digits 15 folds), 4 for CUAVE (9 folds of 4 consecutive speakers). A last
    incomplete block (only with a smaller embedded preset) forms its own fold.

    Returns
    -------
    list of (train_idx, test_idx)
        Index arrays (int64, sorted); each clip is in exactly one test fold.
    """
    size = int(fold_size or ds.info.fold_size)
    if size < 1:
        raise ParameterError(f"fold_size must be >= 1, got {size}")
    spk = ds.speaker_order
    if len(spk) <= size:
        raise DataError(f"{ds.info.name}: {len(spk)} speaker(s) cannot make speaker folds of {size}")
    folds = []
    for start in range(0, len(spk), size):
        test_spk = set(spk[start:start + size])
        test = np.isin(ds.speakers, list(test_spk))
        folds.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def _speaker_number(name: str, fallback: int) -> int:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else fallback


def holdout_split(ds: SpeechDataset):
    """The hold-out partition of Ngiam et al. (2011), used for XFlow Table VI.

    * AVletters: the "third-test" protocol (Matthews et al. 2002, used by Ngiam et al.):
      the first two repetitions of each letter by every speaker for training, the third
      for testing (520 / 260 clips on the real set).
    * CUAVE: speaker independent, odd-numbered speakers (s01, s03, ...) for testing and
      even-numbered ones for training (Ngiam et al. Sec. 4.1: 18 / 18 speakers).
    * Digits: the XFlow paper defines no hold-out split (it is only cross-validated):
      raises :class:`~avlib.errors.ParameterError`.

    Returns
    -------
    train_idx, test_idx : np.ndarray of int64
    """
    name = ds.info.name
    if name == "avletters":
        rep = np.array([int(t) for t in ds.takes])
        test = rep == 3
    elif name == "cuave":
        order = ds.speaker_order
        number = {s: _speaker_number(s, i + 1) for i, s in enumerate(order)}
        test = np.array([number[s] % 2 == 1 for s in ds.speakers])
    else:
        raise ParameterError(f"{name}: the XFlow paper defines no hold-out split; use speaker_folds")
    if test.all() or not test.any():
        raise DataError(f"{name}: hold-out split leaves an empty train or test part")
    return np.flatnonzero(~test), np.flatnonzero(test)
