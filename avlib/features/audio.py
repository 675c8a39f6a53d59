"""Audio features: decoding, MFCCs per video frame, log-mel inputs of the ICMR 2017 models.

All functions are pure and keyword-only after the signal. Shapes follow librosa:
``(n_mels, t)`` for spectrograms.

* :func:`load_audio` - decode any container's sound track with PyAV, mix to mono,
  resample with soxr (the engine librosa uses).
* :func:`mfcc_per_video_frame` - one MFCC vector per video frame (XFlow inputs).
* :func:`logmel` - log-mel spectrogram in dB, on one of two scales (:data:`LOGMEL_SCALES`):
  ``"power"`` (librosa ``power_to_db`` of the mel power spectrogram) or ``"power_squared"``
  (the ICMR authors' ``logamplitude(melspectrogram(...) ** 2, ref_power=1.0)`` of librosa 0.4).
* :func:`han_target_sr` - sample rate that makes Han et al.'s 43 frames last a given time.
* :func:`crop_choi` / :func:`logmel_choi` - the 29.12 s input of Choi et al. and the audio
  Xception (ICMR 2017, Sec. 4.2 / Table 3, and the authors' reference code): 12 kHz,
  n_fft 512, hop 256, 96 mels,
  dB (ref 1.0) -> ``(96, 1366)``; "UC" (uniform crops) or "CC" (central crop).
* :func:`logmel_han` - the ``(10, 128, 43)`` segments of Han et al. 2016.
"""
from __future__ import annotations

import numpy as np
import soxr

from avlib.errors import MediaError, ParameterError
from avlib.media import read_audio

__all__ = [
    "load_audio",
    "resample",
    "mfcc_per_video_frame",
    "logmel",
    "mel_to_db",
    "crop_choi",
    "logmel_choi",
    "logmel_han",
    "han_target_sr",
    "LOGMEL_SCALES",
    "ICMR_LOGMEL_SCALE",
    "CHOI_SR",
    "CHOI_SECONDS",
    "CHOI_N_FRAMES",
    "HAN_SR",
]

#: Sample rate of the Choi/Xception input (Hz).
CHOI_SR = 12_000
#: Length of the Choi/Xception input in seconds (1366 frames of hop 256 at 12 kHz).
CHOI_SECONDS = 29.12
#: Number of spectrogram frames of the Choi/Xception input.
CHOI_N_FRAMES = 1366
#: Sample rate of Han et al.'s input (43 hops of 512 = 0.998 s).
HAN_SR = 22_050
#: dB scales of :func:`logmel`: ``"power"`` = ``10 log10(S)`` of the mel power spectrogram S
#: (librosa ``power_to_db``); ``"power_squared"`` = ``10 log10(S ** 2) = 20 log10(S)``, the ICMR
#: reference code's ``logamplitude(melspectrogram(...) ** 2, ref_power=1.0)`` (librosa 0.4).
#: Both have ref 1.0, amin 1e-10 (on the value whose log is taken) and a floor ``top_db``
#: below the maximum, so with ``top_db=80`` the squared scale keeps 40 dB of power range.
LOGMEL_SCALES = ("power", "power_squared")
#: The scale of the ICMR inputs (:func:`logmel_choi`, :func:`logmel_han`): the authors'.
ICMR_LOGMEL_SCALE = "power_squared"


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality). Returns float32."""
    y = np.asarray(y, dtype=np.float32)
    if int(orig_sr) == int(target_sr):
        return y

    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32)
    return np.stack([soxr.resample(ch, orig_sr, target_sr, quality="HQ") for ch in y]).astype(np.float32)


def load_audio(path, *, sr: int | None, mono: bool = True, min_seconds: float = 0.0) -> np.ndarray:
    """Decode the sound track of any file PyAV opens (mp4, mkv, avi, wav, ...).

    Parameters
    ----------
    path : str or Path
    sr : int or None
        Target sample rate; None keeps the native rate.
    mono : bool
        Average the channels.
    min_seconds : float
        Raise :class:`~avlib.errors.MediaError` if the track is shorter than this.

    Returns
    -------
    np.ndarray [shape=(n,) if mono else (C, n), dtype=float32]

    Raises
    ------
    MediaError
        Missing, empty, truncated-beyond-use or corrupt file; no audio stream; too short.
    """
    audio, native = read_audio(path)
    if not np.all(np.isfinite(audio)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    if audio.shape[1] < max(1, min_seconds * native):
        raise MediaError(path, f"audio too short ({audio.shape[1] / native:.3f} s < {min_seconds} s)")
    if mono:
        audio = audio.mean(axis=0)
    if sr is not None:
        audio = resample(audio, orig_sr=native, target_sr=sr)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _mel_basis(sr, n_fft, n_mels, fmin, fmax):
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


def mfcc_per_video_frame(
    y: np.ndarray,
    *,
    sr: int,
    fps: float,
    n_frames: int,
    n_mfcc: int = 26,
    n_mels: int = 40,
    win_length: int | None = None,
    n_fft: int | None = None,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """One MFCC vector per video frame, the analysis window centred on each frame.

    Video frame ``i`` spans ``[i / fps, (i + 1) / fps)``; its MFCCs are computed on a
    Hann window of ``win_length`` samples centred at ``(i + 0.5) / fps`` (zero padding
    beyond the signal), power spectrum -> mel filter bank -> dB (librosa's
    ``power_to_db``, ref 1.0, top_db 80 over the clip) -> DCT-II (orthonormal), as in
    ``librosa.feature.mfcc``. This is the audio stream of XFlow (26 MFCCs per frame).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform.
    sr : int
        Sample rate of ``y``.
    fps : float
        Video frame rate.
    n_frames : int
        Number of video frames (output rows); frames after the end of ``y`` see zeros.
    n_mfcc : int
        Coefficients per frame (26 in XFlow).
    n_mels : int
        Mel bands before the DCT.
    win_length : int, optional
        Window length in samples; default one video frame, ``round(sr / fps)``.
    n_fft : int, optional
        FFT size; default the next power of two >= ``win_length``.

    Returns
    -------
    np.ndarray [shape=(n_frames, n_mfcc), dtype=float32]
    """
    import librosa
    import scipy.fft

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"y must be mono (n,), got shape {y.shape}")
    if fps <= 0 or sr <= 0 or n_frames < 0:
        raise ParameterError(f"need sr > 0, fps > 0, n_frames >= 0 (got {sr}, {fps}, {n_frames})")
    if n_mfcc > n_mels:
        raise ParameterError(f"n_mfcc ({n_mfcc}) must be <= n_mels ({n_mels})")
    if n_frames == 0:
        return np.zeros((0, n_mfcc), np.float32)
    win = int(win_length or round(sr / fps))
    nfft = int(n_fft or 1 << int(np.ceil(np.log2(max(win, 2)))))
    if nfft < win:
        raise ParameterError(f"n_fft ({nfft}) must be >= win_length ({win})")
    centres = np.round((np.arange(n_frames) + 0.5) * sr / fps).astype(np.int64)
    half = nfft // 2
    pad = np.zeros(len(y) + 2 * half + nfft, np.float32)
    pad[half:half + len(y)] = y
    # frame of nfft samples centred on each centre (like librosa's center=True framing)
    idx = centres[:, None] + np.arange(nfft)[None, :]
    idx = np.clip(idx, 0, len(pad) - 1)
    window = librosa.filters.get_window("hann", win, fftbins=True).astype(np.float32)
    window = librosa.util.pad_center(window, size=nfft)
    frames = pad[idx] * window[None, :]
    power = np.abs(np.fft.rfft(frames, n=nfft, axis=1)) ** 2  # (n_frames, 1 + nfft/2)
    mel = power @ _mel_basis(sr, nfft, n_mels, fmin, fmax).T  # (n_frames, n_mels)
    db = librosa.power_to_db(mel.T, ref=1.0, top_db=80.0)  # (n_mels, n_frames)
    mfcc = scipy.fft.dct(db, axis=0, type=2, norm="ortho")[:n_mfcc]
    return np.ascontiguousarray(mfcc.T, dtype=np.float32)


def logmel(
    y: np.ndarray,
    *,
    sr: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    top_db: float | None = 80.0,
    fmin: float = 0.0,
    fmax: float | None = None,
    scale: str = "power",
) -> np.ndarray:
    """Mel spectrogram in dB, ref 1.0, floored ``top_db`` below its maximum.

    Parameters
    ----------
    scale : {"power", "power_squared"}
        ``"power"`` (default, generic): ``10 log10(max(S, 1e-10))`` of the mel power
        spectrogram ``S`` (librosa ``power_to_db(S, ref=1.0)``). ``"power_squared"``: the ICMR
        2017 reference code's ``logamplitude(melspectrogram(...) ** 2, ref_power=1.0)`` in
        librosa 0.4, i.e. ``10 log10(max(S ** 2, 1e-10)) = 20 log10(S)``: values twice as large,
        and the ``top_db`` = 80 floor sits 40 dB of power below the maximum (about 30 % of the
        bins of the authors' ``demo.wav.spec.npy`` are at the floor). See :data:`LOGMEL_SCALES`.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + len(y) // hop_length), dtype=float32]
        Centred frames (librosa ``center=True``, zero padding).
    """
    import librosa

    if scale not in LOGMEL_SCALES:
        raise ParameterError(f"scale must be one of {LOGMEL_SCALES}, got {scale!r}")
    y = np.asarray(y, dtype=np.float32)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                                       power=2.0, fmin=fmin, fmax=fmax, pad_mode="constant")
    return mel_to_db(S, scale=scale, top_db=top_db)


def mel_to_db(S: np.ndarray, *, scale: str = "power", top_db: float | None = 80.0, amin: float = 1e-10) -> np.ndarray:
    """dB of a mel power spectrogram ``S`` on ``scale`` (see :func:`logmel`), ref 1.0.

    ``"power"``: ``10 log10(max(S, amin))``; ``"power_squared"``: ``10 log10(max(S ** 2, amin))``
    (librosa 0.4 ``logamplitude(S ** 2, ref_power=1.0, amin=1e-10, top_db=80)``); then values
    below ``max - top_db`` are raised to it (no floor when ``top_db`` is None).

    Returns
    -------
    np.ndarray [shape=S.shape, dtype=float32]
    """
    if scale not in LOGMEL_SCALES:
        raise ParameterError(f"scale must be one of {LOGMEL_SCALES}, got {scale!r}")
    S = np.abs(np.asarray(S, dtype=np.float64))
    if scale == "power_squared":
        S = S * S
    db = 10.0 * np.log10(np.maximum(S, amin))
    if top_db is not None:
        if top_db < 0:
            raise ParameterError(f"top_db must be >= 0, got {top_db}")
        if db.size:
            db = np.maximum(db, db.max() - top_db)
    return db.astype(np.float32)


def crop_choi(y: np.ndarray, *, sr: int = CHOI_SR, seconds: float = CHOI_SECONDS, mode: str = "uc",
              n_parts: int = 10) -> np.ndarray:
    """The fixed-length waveform fed to Choi et al./Xception (ICMR 2017 reference code).

    * shorter than ``seconds``: zero-padded at the end;
    * ``mode="cc"`` (central crop): the central ``seconds``;
    * ``mode="uc"`` (uniform crops): the signal cut into ``n_parts`` equal parts, the central
      ``seconds / n_parts`` of each part, concatenated.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    sr : int
    seconds : float
    mode : {"uc", "cc"}
    n_parts : int

    Returns
    -------
    np.ndarray [shape=(round(seconds * sr),), dtype=float32]
    """
    y = np.asarray(y, dtype=np.float32)
    mode = mode.lower()
    if mode not in ("uc", "cc"):
        raise ParameterError(f"mode must be 'uc' or 'cc', got {mode!r}")
    n = int(round(seconds * sr))
    if len(y) <= n:
        out = np.zeros(n, np.float32)
        out[:len(y)] = y
        return out
    if mode == "cc":
        s = (len(y) - n) // 2
        return y[s:s + n].copy()
    seg = n // n_parts
    parts = []
    edges = np.linspace(0, len(y), n_parts + 1)
    for k in range(n_parts):
        mid = (edges[k] + edges[k + 1]) / 2
        s = int(round(mid - seg / 2))
        parts.append(y[s:s + seg])
    out = np.concatenate(parts)
    if len(out) < n:  # n not divisible by n_parts
        out = np.pad(out, (0, n - len(out)))
    return out


def logmel_choi(y: np.ndarray, *, sr: int, mode: str = "uc", n_mels: int = 96, n_fft: int = 512,
                hop_length: int = 256, seconds: float = CHOI_SECONDS, top_db: float | None = 80.0,
                scale: str = ICMR_LOGMEL_SCALE) -> np.ndarray:
    """Log-mel input of Choi et al. 2016 / audio Xception as used in ICMR 2017.

    The waveform is resampled to 12 kHz, cropped by :func:`crop_choi` (``mode`` "uc" or
    "cc") to 29.12 s, and turned into a 96-band mel power spectrogram (n_fft 512,
    hop 256) in dB with ref 1.0, giving 96 x 1366 - the layout of the authors' real
    fixture ``demo.wav.spec.npy``. Scale (``scale="power_squared"``, the default): the
    reference code's ``logamplitude(melspectrogram(...) ** 2, ref_power=1.0)``, i.e.
    ``20 log10`` of the mel power with the 80 dB floor (40 dB of power range); the fixture
    spans exactly 80 dB with about 31.6 % of its bins at the floor. ``scale="power"`` gives
    librosa's ``power_to_db`` (half the values, 80 dB of power range).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform at ``sr``.
    sr : int
        Its sample rate (resampled to 12 kHz here).

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + round(seconds * 12000) // hop_length), dtype=float32]
        ``(96, 1366)`` with the defaults.
    """
    y = resample(np.asarray(y, np.float32), orig_sr=sr, target_sr=CHOI_SR)
    y = crop_choi(y, sr=CHOI_SR, seconds=seconds, mode=mode)
    return logmel(y, sr=CHOI_SR, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, top_db=top_db, scale=scale)


def logmel_han(y: np.ndarray, *, sr: int, n_segments: int = 10, n_mels: int = 128, n_frames: int = 43,
               n_fft: int = 1024, hop_length: int = 512, target_sr: int = HAN_SR,
               top_db: float | None = 80.0, scale: str = ICMR_LOGMEL_SCALE) -> np.ndarray:
    """Log-mel segments of Han et al. 2016 as used in ICMR 2017 (Table 3, first row).

    The waveform is resampled to ``target_sr`` (22.05 kHz), a 128-band log-mel
    spectrogram is computed (n_fft 1024, hop 512) and ``n_segments`` windows of
    ``n_frames`` = 43 frames are taken with starts spread uniformly over the clip
    (``linspace(0, T - 43, n_segments)``); a clip shorter than 43 frames is zero-padded
    (in the power domain, i.e. at the dB floor).

    Segment length, 1 s vs 3 s: 43 hops of 512 samples are 0.998 s at 22.05 kHz, Han et
    al.'s own setting; the ICMR paper calls the segments "3 s". Both cannot hold with
    43 frames, n_fft 1024 and hop 512 at 22.05 kHz (3 s would need hop 1536 or a 7.35 kHz
    rate). The segment length is therefore set by the rate: :func:`han_target_sr`
    (``target_sr=22050``: 1 s, Han's own setting; ``target_sr=7350``: 3 s, the ICMR paper's
    text with the same 128 x 43 input). The ICMR presets choose it with
    ``han_segment_seconds`` (paper preset 3 s, cpu/smoke 1 s).

    dB scale: ``scale`` as in :func:`logmel_choi` (the authors' ``"power_squared"`` by default).

    Returns
    -------
    np.ndarray [shape=(n_segments, n_mels, n_frames), dtype=float32]
    """
    y = resample(np.asarray(y, np.float32), orig_sr=sr, target_sr=target_sr)
    S = logmel(y, sr=target_sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, top_db=top_db, scale=scale)
    T = S.shape[1]
    if T < n_frames:
        floor = S.min() if S.size else -80.0
        S = np.pad(S, ((0, 0), (0, n_frames - T)), constant_values=floor)
        T = n_frames
    starts = np.round(np.linspace(0, T - n_frames, n_segments)).astype(int)
    return np.stack([S[:, s:s + n_frames] for s in starts]).astype(np.float32)


def han_target_sr(segment_seconds: float) -> int:
    """Sample rate at which Han et al.'s 43 frames (hop 512) last about ``segment_seconds``.

    ``round(22050 / segment_seconds)``: 1 s -> 22050 Hz (43 hops = 0.998 s, Han et al.'s
    setting); 3 s -> 7350 Hz (2.995 s, the ICMR paper's "about 3 seconds" with its stated
    128 x 43 input, n_fft 1024 and hop 512).
    """
    if not segment_seconds or segment_seconds <= 0:
        raise ParameterError(f"segment_seconds must be > 0, got {segment_seconds}")
    return int(round(HAN_SR / float(segment_seconds)))
