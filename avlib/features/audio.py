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
* :func:`logmel_batch` - :func:`logmel` of many clips at once (one tensor batch on torchaudio).

Backends (:data:`LOGMEL_BACKENDS`, keyword ``backend=`` of the log-mel functions):

* ``"librosa"`` - ``librosa.feature.melspectrogram`` (NumPy, CPU), the reference.
* ``"torchaudio"`` - ``torchaudio.transforms.MelSpectrogram`` with the same analysis: Hann
  window of ``n_fft`` samples (periodic), centred frames with zero (``"constant"``) padding,
  power 2, Slaney mel scale and Slaney area normalisation; the filter weights are librosa's own
  (torchaudio's Slaney bank places the FFT bins on ``linspace(0, sr // 2)``, which shifts every
  filter by up to 0.2 % at odd sample rates such as 11025 Hz). The dB step is the same
  arithmetic as :func:`mel_to_db` done on tensors (float64), so ``scale`` and ``top_db`` mean
  the same thing. It runs on ``device`` (a CUDA device, or CPU tensors when ``device`` is None)
  and :func:`logmel_batch` sends many clips through it as one batch.

``backend=None`` picks :func:`default_logmel_backend`: torchaudio when ``device`` is a CUDA
device, librosa otherwise (:data:`CPU_LOGMEL_BACKEND`). The two backends agree to about
1e-4 dB on the authors' scale and 2e-3 dB on ``"power"`` (:data:`TORCHAUDIO_TOLERANCE_DB`; the
mel power to a relative 1.5e-5 within 40 dB of the maximum, :data:`TORCHAUDIO_TOLERANCE_POWER`):
librosa computes the FFT in float64 and rounds it to float32, torchaudio stays in float32, and
the mel products add in another order. They are not the same bytes, so feature caches key on
the backend (:func:`logmel_backend_tag`, :mod:`avlib.features.cache`).

CPU default, measured (``benchmarks/bench_logmel.py`` -> ``benchmarks/results/logmel.json``):
64 clips per input, authors' dB scale, median of 5 runs, one thread, on a 2-core machine that
another job kept busy (load average about 7), so the times are pessimistic and noisy:

=============================================  =========================  ========================
input (64 clips)                               librosa, clip by clip      torchaudio, CPU batches
=============================================  =========================  ========================
cpu Choi/Xception: 1.456 s, 12 kHz, 96 mels    0.154 s (2.4 ms per clip)  0.055 s (0.9 ms), x 2.8
cpu Han et al.: 7 s, 22.05 kHz, 128 mels       0.660 s (10.3 ms)          0.445 s (7.0 ms), x 1.5
1.5 s, 22.05 kHz, 96 mels, n_fft 1024          0.296 s (4.6 ms)           0.130 s (2.0 ms), x 2.3
paper Choi/Xception: 29.12 s, 12 kHz, 96 mels  1.232 s (19.3 ms)          0.979 s (15.3 ms), x 1.3
=============================================  =========================  ========================

torchaudio is faster on every input, but its results are not librosa's bytes (about 35-39 % of
the bins are equal; the largest difference is 1e-4 dB), so the CPU default stays librosa: the
cached and published features of the book do not change. Ask for ``backend="torchaudio"`` to
trade those last bits for speed; on a CUDA device it is the default.
"""
from __future__ import annotations

import functools

import numpy as np
import soxr

from avlib.errors import MediaError, ParameterError
from avlib.media import read_audio

__all__ = [
    "load_audio",
    "resample",
    "mfcc_per_video_frame",
    "logmel",
    "logmel_batch",
    "mel_to_db",
    "default_logmel_backend",
    "logmel_backend_tag",
    "crop_choi",
    "logmel_choi",
    "logmel_han",
    "han_target_sr",
    "LOGMEL_SCALES",
    "LOGMEL_BACKENDS",
    "CPU_LOGMEL_BACKEND",
    "CUDA_LOGMEL_BACKEND",
    "TORCHAUDIO_TOLERANCE_DB",
    "TORCHAUDIO_TOLERANCE_POWER",
    "CPU_BATCH_SAMPLES",
    "CUDA_BATCH_CLIPS",
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
#: Log-mel backends: librosa (NumPy, CPU) and torchaudio (tensors on CPU or a CUDA device).
LOGMEL_BACKENDS = ("librosa", "torchaudio")
#: Backend used when ``backend`` is None and the device is the CPU: librosa, because the
#: torchaudio results, although faster here, are not the same bytes (see the module docstring).
CPU_LOGMEL_BACKEND = "librosa"
#: Backend used when ``backend`` is None and ``device`` is a CUDA device.
CUDA_LOGMEL_BACKEND = "torchaudio"
#: Samples per torchaudio batch of :func:`logmel_batch` on the CPU (padded clips x length).
CPU_BATCH_SAMPLES = 1 << 20
#: Clips per torchaudio batch of :func:`logmel_batch` on a CUDA device.
CUDA_BATCH_CLIPS = 64
#: Largest difference in dB, per scale, between the torchaudio and librosa backends (any bin,
#: the floor included) that ``tests/test_audio_backends.py`` accepts. Measured on CPU over
#: noise, tones, chirps, clicks and full-scale signals of 100 samples to 3.3 s at 7.35-44.1 kHz:
#: at most 1.3e-4 dB (``"power_squared"``) and 2.3e-3 dB (``"power"``, whose floor reaches
#: 80 dB of power below the maximum, where float32 rounding weighs more).
TORCHAUDIO_TOLERANCE_DB = {"power_squared": 1e-3, "power": 1e-2}
#: Largest relative error of the torchaudio mel power against librosa's accepted by the tests,
#: on bins within 40 dB / 80 dB of power below the clip's maximum (measured: 1.5e-5 / 5.3e-4).
TORCHAUDIO_TOLERANCE_POWER = {40: 1e-4, 80: 2e-3}


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


def default_logmel_backend(device=None) -> str:
    """The backend that ``backend=None`` means on ``device``.

    :data:`CUDA_LOGMEL_BACKEND` (torchaudio) for a CUDA device, :data:`CPU_LOGMEL_BACKEND`
    (librosa) for the CPU or ``device=None``.
    """
    return CUDA_LOGMEL_BACKEND if _device_type(device) == "cuda" else CPU_LOGMEL_BACKEND


def logmel_backend_tag(backend: str | None = None, device=None) -> str:
    """Name of what computes a log-mel with ``backend`` on ``device``, for cache keys.

    ``"librosa"``, ``"torchaudio:cpu"`` or ``"torchaudio:cuda"`` (``backend=None`` resolved
    with :func:`default_logmel_backend`). The torchaudio results differ from librosa's, and
    slightly between CPU and GPU, so each tag names its own set of cached arrays.

    Raises
    ------
    ParameterError
        Unknown backend or device, or librosa on a CUDA device.
    """
    backend, dev = _resolve_backend(backend, device)
    return backend if backend == "librosa" else f"{backend}:{dev}"


def _device_type(device) -> str:
    """``"cpu"`` or ``"cuda"`` for None, a string such as ``"cuda:1"`` or a ``torch.device``."""
    if device is None:
        return "cpu"
    kind = getattr(device, "type", None)
    kind = str(device if kind is None else kind).split(":")[0].strip().lower()
    if kind not in ("cpu", "cuda"):
        raise ParameterError(f"device must be None, 'cpu' or a CUDA device ('cuda', 'cuda:0', ...), got {device!r}")
    return kind


def _resolve_backend(backend, device) -> tuple[str, str]:
    dev = _device_type(device)
    if backend is None:
        backend = default_logmel_backend(device)
    if backend not in LOGMEL_BACKENDS:
        raise ParameterError(f"backend must be one of {LOGMEL_BACKENDS} or None, got {backend!r}")
    if backend == "librosa" and dev != "cpu":
        raise ParameterError(f"the librosa backend runs on the CPU only (device={device!r}); use backend='torchaudio'")
    return backend, dev


def _check_db_args(scale, top_db):
    if scale not in LOGMEL_SCALES:
        raise ParameterError(f"scale must be one of {LOGMEL_SCALES}, got {scale!r}")
    if top_db is not None and top_db < 0:
        raise ParameterError(f"top_db must be >= 0, got {top_db}")


@functools.lru_cache(maxsize=16)
def _torch_melspec(sr: int, n_fft: int, hop_length: int, n_mels: int, fmin: float, fmax, device: str):
    """``torchaudio.transforms.MelSpectrogram`` set up like ``librosa.feature.melspectrogram``.

    Kept per (parameters, device): building the filter bank costs more than a short clip.
    """
    import torch
    import torchaudio

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} asked for, but torch sees no CUDA device")
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=int(sr), n_fft=int(n_fft), win_length=int(n_fft), hop_length=int(hop_length),
        f_min=float(fmin), f_max=float(sr) / 2.0 if fmax is None else float(fmax), pad=0, n_mels=int(n_mels),
        window_fn=torch.hann_window, power=2.0, normalized=False, center=True, pad_mode="constant",
        norm="slaney", mel_scale="slaney")
    with torch.no_grad():  # librosa's weights: the same filters at every sample rate
        transform.mel_scale.fb.copy_(torch.from_numpy(_mel_basis(sr, n_fft, n_mels, fmin, fmax).T))
    return transform.to(device).eval()


def _torch_device(device) -> str:
    import torch

    return str(torch.device("cpu" if device is None else device))


def _db_torch(S, *, scale: str, top_db, amin: float = 1e-10, dims=None):
    """:func:`mel_to_db` on a tensor (float64 on its device); floor over ``dims`` (None: all)."""
    import torch

    S = S.abs().to(torch.float64)
    if scale == "power_squared":
        S = S * S
    db = 10.0 * torch.log10(torch.clamp(S, min=amin))
    if top_db is not None and db.numel():
        peak = db.amax() if dims is None else db.amax(dim=dims, keepdim=True)
        db = torch.maximum(db, peak - float(top_db))
    return db.to(torch.float32)


def _torch_mel_power(x, *, sr, n_fft, hop_length, n_mels, fmin, fmax, device: str):
    """Mel power spectrogram ``(B, n_mels, T)`` of float32 signals ``x`` of shape ``(B, n)``."""
    import torch

    transform = _torch_melspec(int(sr), int(n_fft), int(hop_length), int(n_mels), float(fmin),
                               None if fmax is None else float(fmax), device)
    with torch.inference_mode():
        return transform(torch.as_tensor(x).to(device))


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
    backend: str | None = None,
    device=None,
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
    backend : {"librosa", "torchaudio"} or None
        What computes the mel power spectrogram (see the module docstring); None:
        :func:`default_logmel_backend` of ``device`` (librosa on the CPU).
    device : None, str or torch.device
        Where the torchaudio backend runs (``"cuda"``, ``"cuda:1"``, ``"cpu"``); None: CPU
        tensors. The librosa backend accepts only the CPU.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + len(y) // hop_length), dtype=float32]
        Centred frames (librosa ``center=True``, zero padding). Several signals stacked as
        ``(..., n)`` give ``(..., n_mels, t)`` floored below the maximum of the whole array
        (:func:`logmel_batch` floors each clip on its own).
    """
    _check_db_args(scale, top_db)
    backend, _ = _resolve_backend(backend, device)
    y = np.asarray(y, dtype=np.float32)
    if backend == "torchaudio":
        S = _torch_mel_power(np.ascontiguousarray(y.reshape(-1, y.shape[-1])), sr=sr, n_fft=n_fft,
                             hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax, device=_torch_device(device))
        db = _db_torch(S, scale=scale, top_db=top_db).cpu().numpy()
        return db.reshape(y.shape[:-1] + db.shape[-2:])
    import librosa

    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                                       power=2.0, fmin=fmin, fmax=fmax, pad_mode="constant")
    return mel_to_db(S, scale=scale, top_db=top_db)


def logmel_batch(
    ys,
    *,
    sr: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    top_db: float | None = 80.0,
    fmin: float = 0.0,
    fmax: float | None = None,
    scale: str = "power",
    backend: str | None = None,
    device=None,
    batch_size: int | None = None,
):
    """:func:`logmel` of many mono clips, each floored ``top_db`` below its own maximum.

    On torchaudio the clips go through the transform a batch at a time as one tensor: clips of
    different lengths are zero-padded to the longest of their batch and their spectrograms cut
    back to ``1 + len(y) // hop_length`` frames, which changes nothing (centred frames see
    zeros beyond the signal anyway). On librosa the clips are computed one by one, so each
    result is the bytes of :func:`logmel`.

    Parameters
    ----------
    ys : np.ndarray [shape=(B, n)] or sequence of np.ndarray [shape=(n_i,)]
        The clips at sample rate ``sr``.
    batch_size : int, optional
        Clips per tensor batch (torchaudio). None: :data:`CUDA_BATCH_CLIPS` clips on a CUDA
        device; on the CPU as many clips as fit in :data:`CPU_BATCH_SAMPLES` samples (at least
        one), since larger batches overflow the CPU caches and run slower (29.12 s clips at
        12 kHz: 12 ms per clip in pairs, 41 ms in batches of 32, one thread).
    sr, n_fft, hop_length, n_mels, top_db, fmin, fmax, scale, backend, device
        As in :func:`logmel`.

    Returns
    -------
    np.ndarray [shape=(B, n_mels, 1 + n // hop_length), dtype=float32] for an array ``ys``,
    or a list of ``(n_mels, 1 + n_i // hop_length)`` float32 arrays for a sequence.
    """
    _check_db_args(scale, top_db)
    backend, _ = _resolve_backend(backend, device)
    as_array = isinstance(ys, np.ndarray)
    if as_array and ys.ndim != 2:
        raise ParameterError(f"ys must be a (B, n) array or a sequence of 1-D clips, got shape {ys.shape}")
    clips = [np.asarray(y, dtype=np.float32) for y in ys]
    for i, y in enumerate(clips):
        if y.ndim != 1:
            raise ParameterError(f"clip {i} must be mono (n,), got shape {y.shape}")
    if batch_size is not None and int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    kw = dict(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    if backend == "librosa":
        out = [logmel(y, top_db=top_db, scale=scale, backend="librosa", **kw) for y in clips]
    else:
        dev = _torch_device(device)
        out = []
        for chunk in _batches(clips, batch_size, cuda=dev.startswith("cuda")):
            lengths = [len(y) for y in chunk]
            x = np.zeros((len(chunk), max(lengths)), np.float32)
            for i, y in enumerate(chunk):
                x[i, :len(y)] = y
            S = _torch_mel_power(x, device=dev, **kw)
            if len(set(lengths)) == 1:
                out.extend(_db_torch(S, scale=scale, top_db=top_db, dims=(-2, -1)).cpu().numpy())
            else:
                out.extend(_db_torch(S[i, :, :1 + n // int(hop_length)], scale=scale, top_db=top_db).cpu().numpy()
                           for i, n in enumerate(lengths))
    if as_array:
        if not out:
            return np.zeros((0, int(n_mels), 1 + ys.shape[1] // int(hop_length)), np.float32)
        return np.stack(out)
    return out


def _batches(clips: list, batch_size: int | None, *, cuda: bool):
    """Consecutive runs of ``clips``: ``batch_size`` clips, or the device's default size."""
    if batch_size is not None or cuda:
        size = int(batch_size or CUDA_BATCH_CLIPS)
        return [clips[b:b + size] for b in range(0, len(clips), size)]
    chunks, chunk, longest = [], [], 0
    for y in clips:
        if chunk and (len(chunk) + 1) * max(longest, len(y)) > CPU_BATCH_SAMPLES:
            chunks.append(chunk)
            chunk, longest = [], 0
        chunk.append(y)
        longest = max(longest, len(y))
    return chunks + ([chunk] if chunk else [])


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
                scale: str = ICMR_LOGMEL_SCALE, backend: str | None = None, device=None) -> np.ndarray:
    """Log-mel input of Choi et al. 2016 / audio Xception as used in ICMR 2017.

    The waveform is resampled to 12 kHz, cropped by :func:`crop_choi` (``mode`` "uc" or
    "cc") to 29.12 s, and turned into a 96-band mel power spectrogram (n_fft 512,
    hop 256) in dB with ref 1.0, giving 96 x 1366 - the layout of the authors' real
    fixture ``demo.wav.spec.npy``. Scale (``scale="power_squared"``, the default): the
    reference code's ``logamplitude(melspectrogram(...) ** 2, ref_power=1.0)``, i.e.
    ``20 log10`` of the mel power with the 80 dB floor (40 dB of power range); the fixture
    spans exactly 80 dB with about 31.6 % of its bins at the floor. ``scale="power"`` gives
    librosa's ``power_to_db`` (half the values, 80 dB of power range). ``backend`` and
    ``device``: as in :func:`logmel` (resampling and cropping stay on the CPU).

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
    return logmel(y, sr=CHOI_SR, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, top_db=top_db, scale=scale,
                  backend=backend, device=device)


def logmel_han(y: np.ndarray, *, sr: int, n_segments: int = 10, n_mels: int = 128, n_frames: int = 43,
               n_fft: int = 1024, hop_length: int = 512, target_sr: int = HAN_SR,
               top_db: float | None = 80.0, scale: str = ICMR_LOGMEL_SCALE, backend: str | None = None,
               device=None) -> np.ndarray:
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
    ``backend`` and ``device``: as in :func:`logmel`.

    Returns
    -------
    np.ndarray [shape=(n_segments, n_mels, n_frames), dtype=float32]
    """
    y = resample(np.asarray(y, np.float32), orig_sr=sr, target_sr=target_sr)
    S = logmel(y, sr=target_sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, top_db=top_db, scale=scale,
               backend=backend, device=device)
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
