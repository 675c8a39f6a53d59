"""Source-filter speech synthesis for the embedded audiovisual speech benchmarks.

A word is a :class:`Timeline` of phoneme segments (start/end in seconds inside the
clip). :func:`synthesize` turns it into a waveform with a classic cascade formant
synthesiser (Klatt 1980 in spirit, written from the textbook description):

* **glottal source**: a Rosenberg-like glottal pulse train from a smooth f0 contour
  (per-speaker pitch, declination over the word, small jitter), its derivative as
  excitation (lip radiation), a one-pole spectral tilt and aspiration noise for
  breathiness (per-speaker voice quality);
* **vocal tract**: four time-varying resonators (F1-F4) whose targets move smoothly
  between phoneme targets (coarticulation = Gaussian smoothing of the target tracks);
  all formants are scaled by the speaker's vocal-tract length factor;
* **noise**: band-pass frication noise for fricatives / affricates, a short burst at the
  release of plosives, aspiration after voiceless plosives;
* the word is scaled to the speaker's loudness and placed in a silent clip; optional
  background noise at a given SNR (:func:`add_noise`).

Everything is vectorised except a loop over 5 ms blocks for the time-varying filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .phonemes import PHONEMES, word_phonemes

__all__ = [
    "SAMPLE_RATE",
    "STYLES",
    "Segment",
    "Timeline",
    "VoiceParams",
    "random_voice",
    "make_timeline",
    "synthesize",
    "add_noise",
    "speech_shaped_noise",
]

#: Audio sample rate of the generated clips (Hz).
SAMPLE_RATE = 16000
_HOP = 160  # control-rate hop: 10 ms at 16 kHz (filter coefficients updated per hop)

#: Speaking styles of the Digits dataset: duration factor, loudness (dB), f0 factor,
#: extra breathiness, spectral-tilt change, jaw-opening factor (used by the renderer).
STYLES: dict[str, dict[str, float]] = {
    "normal": dict(duration=1.0, gain_db=0.0, f0=1.0, breath=0.0, tilt=0.0, jaw=1.0),
    "low":    dict(duration=1.05, gain_db=-12.0, f0=0.9, breath=0.25, tilt=0.25, jaw=0.8),
    "loud":   dict(duration=1.0, gain_db=8.0, f0=1.25, breath=-0.05, tilt=-0.25, jaw=1.25),
    "slow":   dict(duration=1.6, gain_db=0.0, f0=0.97, breath=0.0, tilt=0.0, jaw=1.05),
    "quick":  dict(duration=0.6, gain_db=0.0, f0=1.03, breath=0.0, tilt=0.0, jaw=0.85),
}


@dataclass(frozen=True)
class Segment:
    """One phoneme in a clip: name, start and end time in seconds."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    """Phoneme segments of one spoken word inside a clip of ``duration`` seconds."""

    word: str
    segments: tuple
    duration: float
    style: str = "normal"

    @property
    def speech_start(self) -> float:
        return self.segments[0].start

    @property
    def speech_end(self) -> float:
        return self.segments[-1].end


@dataclass(frozen=True)
class VoiceParams:
    """Per-speaker voice.

    Attributes
    ----------
    f0 : float
        Mean pitch in Hz.
    vtl : float
        Formant scale factor (1 = adult male reference; ~1.15-1.2 for shorter, female
        vocal tracts).
    rate : float
        Speaking-rate factor (> 1 = faster, durations are divided by it).
    loudness_db : float
        Speaker loudness relative to the reference level.
    breath : float
        Aspiration noise mixed into voicing (0 = modal, 0.3 = breathy).
    tilt : float
        One-pole spectral tilt coefficient of the source (0.3 = bright .. 0.8 = soft).
    jitter : float
        Relative slow pitch fluctuation.
    formant_bias : tuple
        Small per-speaker multiplicative bias of F1, F2, F3 (accent / anatomy).
    """

    f0: float
    vtl: float
    rate: float
    loudness_db: float
    breath: float
    tilt: float
    jitter: float
    formant_bias: tuple = field(default=(1.0, 1.0, 1.0))


def random_voice(rng: np.random.Generator, *, female: bool, formant_spread: float = 0.06) -> VoiceParams:
    """Draw a speaker's voice (female voices: higher pitch and shorter vocal tract).

    ``formant_spread`` is the half-range of the per-speaker formant biases (accent /
    anatomy): each of F1-F3 is scaled by a factor drawn in ``1 +- formant_spread``. The
    number of random draws does not depend on it.
    """
    if female:
        f0 = rng.uniform(170, 250)
        vtl = rng.uniform(1.10, 1.22)
    else:
        f0 = rng.uniform(90, 145)
        vtl = rng.uniform(0.90, 1.04)
    return VoiceParams(
        f0=float(f0), vtl=float(vtl), rate=float(rng.uniform(0.82, 1.22)),
        loudness_db=float(rng.uniform(-5, 3)), breath=float(rng.uniform(0.02, 0.18)),
        tilt=float(rng.uniform(0.35, 0.75)), jitter=float(rng.uniform(0.005, 0.025)),
        formant_bias=tuple(float(b) for b in 1.0 + float(formant_spread) * rng.uniform(-1.0, 1.0, size=3)),
    )


def make_timeline(word: str, *, rate: float, style: str, rng: np.random.Generator,
                  fps: float, min_frames: int, max_frames: int) -> tuple[Timeline, int]:
    """Place ``word`` in a clip whose frame count respects ``min_frames``..``max_frames``.

    Phoneme durations are the lexicon's base durations divided by ``rate`` and scaled by
    the style's duration factor, each jittered by +-15 %. The clip has 1-4 frames of
    silence before and after the word; a word too long for ``max_frames`` is spoken
    faster, a clip shorter than ``min_frames`` gets longer silences.

    Returns
    -------
    timeline : Timeline
    n_frames : int
        Number of video frames of the clip.
    """
    st = STYLES[style]
    phones = word_phonemes(word)
    durs = np.array([d for _, d in phones]) * st["duration"] / rate
    durs *= rng.uniform(0.85, 1.15, size=len(durs))
    speech = float(durs.sum())
    pre = int(rng.integers(1, 5))
    post = int(rng.integers(1, 5))
    n_speech = int(np.ceil(speech * fps))
    if n_speech + pre + post > max_frames:
        n_speech = max_frames - pre - post
        durs *= (n_speech - 0.5) / fps / speech
        speech = float(durs.sum())
    n_frames = n_speech + pre + post
    while n_frames < min_frames:
        if n_frames % 2:
            pre += 1
        else:
            post += 1
        n_frames += 1
    start = pre / fps + float(rng.uniform(0, 0.5)) / fps
    segs = []
    t = start
    for (name, _), d in zip(phones, durs):
        segs.append(Segment(name, float(t), float(t + d)))
        t += d
    return Timeline(word, tuple(segs), n_frames / fps, style), n_frames


# --------------------------------------------------------------------------- helpers

def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 0:
        return x
    return gaussian_filter1d(x, sigma, axis=0, mode="nearest")


def _fill_nan(track: np.ndarray) -> np.ndarray:
    """Fill NaN rows by linear interpolation from valid rows (edges: nearest)."""
    out = track.copy()
    idx = np.arange(len(out))
    for j in range(out.shape[1]):
        ok = ~np.isnan(out[:, j])
        if ok.any():
            out[~ok, j] = np.interp(idx[~ok], idx[ok], out[ok, j])
        else:
            out[:, j] = 500.0 * (j + 1)
    return out


@lru_cache(maxsize=None)
def _band_sos(band: str, sr: int):
    from scipy.signal import butter

    lo, hi = {
        "sibilant": (3800, 7600), "palatal": (2000, 5200), "flat": (1200, 7000),
        "velar": (1400, 3600), "labial": (300, 2200),
    }[band]
    return butter(2, [lo, min(hi, sr / 2 - 200)], btype="band", fs=sr, output="sos")


_BAND_GAIN = {"sibilant": 0.7, "palatal": 0.6, "flat": 0.12, "velar": 0.35, "labial": 0.2}
_BANDS = tuple(_BAND_GAIN)


def _control_tracks(tl: Timeline, voice: VoiceParams, n_ctrl: int, sr: int):
    """Per-control-frame formant targets and source amplitudes (before smoothing)."""
    hop_s = _HOP / sr
    t = np.arange(n_ctrl) * hop_s
    formants = np.full((n_ctrl, 3), np.nan)
    av = np.zeros(n_ctrl)      # voicing amplitude
    ah = np.zeros(n_ctrl)      # aspiration amplitude (through the formants)
    af = np.zeros((n_ctrl, len(_BANDS)))  # frication per band
    bursts = []                 # (time s, band, amplitude)
    nasal = np.zeros(n_ctrl)
    for seg in tl.segments:
        ph = PHONEMES[seg.name]
        sel = (t >= seg.start) & (t < seg.end)
        if not sel.any():
            continue
        d = seg.end - seg.start
        rel = (t[sel] - seg.start) / max(d, 1e-6)
        if ph.kind in ("vowel", "diphthong", "glide", "liquid", "nasal"):
            f = np.array(ph.formants, float)
            if ph.formants_end is not None:
                fe = np.array(ph.formants_end, float)
                w = np.clip((rel - 0.25) / 0.6, 0, 1)[:, None]
                formants[sel] = f * (1 - w) + fe * w
            else:
                formants[sel] = f
            av[sel] = {"vowel": 1.0, "diphthong": 1.0, "glide": 0.75, "liquid": 0.8, "nasal": 0.55}[ph.kind]
            if ph.kind == "nasal":
                nasal[sel] = 1.0
        elif ph.kind == "fricative":
            formants[sel] = np.array(ph.formants, float)
            b = _BANDS.index(ph.frication)
            af[sel, b] = _BAND_GAIN[ph.frication] * (0.6 if ph.voiced else 1.0)
            av[sel] = 0.45 if ph.voiced else 0.0
        elif ph.kind in ("plosive", "affricate"):
            formants[sel] = np.array(ph.formants, float)
            release = 0.55 if ph.kind == "plosive" else 0.45
            closure = rel < release
            idx = np.flatnonzero(sel)
            av[idx[closure]] = 0.2 if ph.voiced else 0.0   # voice bar
            after = idx[~closure]
            b = _BANDS.index(ph.frication)
            bursts.append((seg.start + release * d, ph.frication, 1.0 if not ph.voiced else 0.6))
            if ph.kind == "affricate":
                af[after, b] = _BAND_GAIN[ph.frication] * (0.6 if ph.voiced else 1.0)
                av[after] = 0.4 if ph.voiced else 0.0
            elif ph.voiced:
                av[after] = 0.7
            else:
                ah[after] = 0.45   # aspiration
        elif ph.kind == "aspirate":
            ah[sel] = 0.5
    if np.isnan(formants).all():
        formants[:] = (500, 1500, 2500)
    formants = _fill_nan(formants)
    return formants, av, ah, af, bursts, nasal


def synthesize(tl: Timeline, voice: VoiceParams, rng: np.random.Generator, *,
               sr: int = SAMPLE_RATE) -> np.ndarray:
    """Synthesise the waveform of a timeline.

    Parameters
    ----------
    tl : Timeline
        Word, phoneme segments and clip duration.
    voice : VoiceParams
        Speaker voice.
    rng : np.random.Generator
        Source of the noise and jitter (seeded by the caller for determinism).
    sr : int
        Sample rate.

    Returns
    -------
    np.ndarray [shape=(round(tl.duration * sr),), dtype=float32]
        The clip's audio, speech normalised to the speaker's loudness (reference RMS
        0.05 over the voiced part, i.e. about -26 dBFS), silence around the word.
    """
    from scipy.signal import lfilter, sosfilt

    st = STYLES[tl.style]
    n = int(round(tl.duration * sr))
    n_ctrl = n // _HOP + 2
    formants, av, ah, af, bursts, nasal = _control_tracks(tl, voice, n_ctrl, sr)
    scale = voice.vtl * np.asarray(voice.formant_bias)
    formants = formants * scale[None, :]
    # coarticulation: smooth the targets (about 20 ms), amplitudes less (about 8 ms)
    formants = _smooth(formants, 2.0 / max(voice.rate, 0.5))
    av = _smooth(av, 0.8)
    ah = _smooth(ah, 0.6)
    af = _smooth(af, 0.6)
    nasal = _smooth(nasal, 1.0)

    # --- glottal source
    t_ctrl = np.arange(n_ctrl) * _HOP / sr
    span = max(tl.speech_end - tl.speech_start, 1e-3)
    pos = np.clip((t_ctrl - tl.speech_start) / span, 0, 1)
    f0 = voice.f0 * st["f0"] * (1.08 - 0.16 * pos)          # declination
    wander = _smooth(rng.standard_normal(n_ctrl), 3.0)
    wander /= max(np.abs(wander).max(), 1e-6)
    f0 = f0 * (1 + voice.jitter * wander)
    ts = np.arange(n)
    f0_s = np.interp(ts, np.arange(n_ctrl) * _HOP, f0)
    phase = np.cumsum(f0_s / sr)
    frac = phase - np.floor(phase)
    tp, tn = 0.4, 0.16
    g = np.where(frac < tp, 0.5 * (1 - np.cos(np.pi * frac / tp)),
                 np.where(frac < tp + tn, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0))
    exc = np.diff(g, prepend=0.0) / np.maximum(f0_s / sr, 1e-4) * 0.05
    tilt = float(np.clip(voice.tilt + st["tilt"], 0.0, 0.95))
    exc = lfilter([1.0 - tilt], [1.0, -tilt], exc)
    av_s = np.interp(ts, np.arange(n_ctrl) * _HOP, av)
    ah_s = np.interp(ts, np.arange(n_ctrl) * _HOP, ah)
    breath = float(np.clip(voice.breath + st["breath"], 0.0, 0.6))
    noise = rng.standard_normal(n) * 0.08
    source = exc * av_s * (1 - 0.5 * breath) + noise * (ah_s + breath * av_s)

    # --- time-varying cascade of four resonators, block-wise
    f4 = 3500.0 * voice.vtl
    bw = np.array([70.0, 100.0, 150.0, 220.0])
    out = np.empty(n)
    zi = np.zeros((4, 2))
    for k in range(0, n, _HOP):
        c = min(k // _HOP, n_ctrl - 1)
        fr = np.array([formants[c, 0], formants[c, 1], formants[c, 2], f4])
        fr = np.minimum(fr, sr / 2 - 400)
        b = bw * (1 + 1.5 * nasal[c] * np.array([1, 1, 0.5, 0]))
        r = np.exp(-np.pi * b / sr)
        cth = np.cos(2 * np.pi * fr / sr)
        a1 = -2 * r * cth
        a2 = r * r
        sos = np.zeros((4, 6))
        sos[:, 0] = 1 + a1 + a2
        sos[:, 3] = 1.0
        sos[:, 4] = a1
        sos[:, 5] = a2
        out[k:k + _HOP], zi = sosfilt(sos, source[k:k + _HOP], zi=zi)
    # nasal murmur is weaker in the higher formants: simple low-pass blend
    nas_s = np.interp(ts, np.arange(n_ctrl) * _HOP, nasal)
    out = out * (1 - 0.4 * nas_s) + lfilter([0.2], [1, -0.8], out) * 0.4 * nas_s

    # --- frication noise and bursts
    fric = np.zeros(n)
    wn = rng.standard_normal(n)
    for j, band in enumerate(_BANDS):
        env = af[:, j]
        burst_env = np.zeros(n)
        for (tb, bband, amp) in bursts:
            if bband != band:
                continue
            i0 = int(tb * sr)
            length = int(0.012 * sr)
            i1 = min(n, i0 + length)
            if i0 < n:
                burst_env[i0:i1] += amp * 1.5 * np.exp(-np.arange(i1 - i0) / (0.004 * sr))
        if not env.any() and not burst_env.any():
            continue
        env_s = np.interp(ts, np.arange(n_ctrl) * _HOP, env) + burst_env
        fric += sosfilt(_band_sos(band, sr), wn) * env_s
    y = out + fric * 0.6

    # --- loudness: RMS over the speech part
    i0, i1 = int(tl.speech_start * sr), int(tl.speech_end * sr)
    active = y[i0:max(i1, i0 + 1)]
    rms = float(np.sqrt(np.mean(active ** 2))) if active.size else 0.0
    target = 0.05 * 10 ** ((voice.loudness_db + st["gain_db"]) / 20)
    if rms > 0:
        y = y * (target / rms)
    # fade in/out the edges of the clip (no clicks)
    return y.astype(np.float32)


def speech_shaped_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary noise with a speech-like (low-pass, -6 dB/octave above ~500 Hz) spectrum."""
    from scipy.signal import lfilter

    w = rng.standard_normal(n)
    pink = lfilter([1.0], [1.0, -0.9], w) * 0.3 + 0.3 * w
    return (pink / (np.std(pink) + 1e-12)).astype(np.float32)


def add_noise(y: np.ndarray, snr_db: float | None, rng: np.random.Generator, *,
              speech_slice: slice | None = None) -> np.ndarray:
    """Add speech-shaped background noise at ``snr_db`` (None = return ``y`` unchanged).

    The SNR is measured against the RMS of ``y[speech_slice]`` (the spoken part), so the
    silences around the word do not change the effective SNR.
    """
    if snr_db is None:
        return y
    ref = y[speech_slice] if speech_slice is not None else y
    p = float(np.mean(np.asarray(ref, np.float64) ** 2))
    if p <= 0:
        return y
    noise = speech_shaped_noise(len(y), rng) * np.sqrt(p / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)
