"""Sound of the embedded instrument benchmark: performances synthesised from each
instrument's acoustic character, recorded as by a phone in a room.

Nothing here is tuned to a target accuracy: each instrument is described by physical
traits (register, harmonic spectrum, excitation, attack/decay, vibrato, breath/bow noise,
inharmonicity, body resonances), music is composed in a random key and tempo, and the
recording adds the nuisances of user-generated video (reverberation, background noise
and chatter at a random SNR, level changes, clipping, band limits, mono/stereo).
Confusions therefore follow from acoustics: accordion and harmonica are both free reeds
with overlapping registers; violin and cello share the bowed-string spectrum in the
overlapping mid register; chamber music and orchestra are both string-dominated.

Public entry point: :func:`render_performance` -> ``(audio (C, N) float32, sample_rate, info)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avlib.features.audio import resample

__all__ = ["Voice", "VOICES", "SAMPLE_RATES", "SNR_DB", "render_performance", "compose", "synth_part", "record"]

SYNTH_SR = 16000  # synthesis rate; files are written at phone rates 16-48 kHz


@dataclass(frozen=True)
class Voice:
    """Acoustic description of one instrument voice.

    Attributes
    ----------
    low, high : MIDI register.
    excitation : "bowed", "blown", "reed", "free_reed", "brass", "plucked", "struck", "membrane".
    tilt : spectral slope, partial k has amplitude ``k ** -tilt`` before shaping.
    odd_boost : extra weight of odd partials (clarinet-like > 1).
    attack, release : seconds.
    decay : seconds of the exponential decay of the fundamental (plucked/struck; 0 = sustained).
    vibrato_cents, vibrato_rate : vibrato depth (cents) and rate (Hz).
    noise : level of breath/bow/hammer noise relative to the tone.
    inharmonicity : stiffness coefficient B, ``f_k = k f0 sqrt(1 + B k^2)``.
    formants : body resonances as (Hz, gain dB, bandwidth in octaves).
    reeds : number of slightly detuned reeds/strings sounding together (accordion musette).
    max_partials : upper bound of partials.
    """

    low: int
    high: int
    excitation: str
    tilt: float = 1.0
    odd_boost: float = 1.0
    attack: float = 0.05
    release: float = 0.1
    decay: float = 0.0
    vibrato_cents: float = 0.0
    vibrato_rate: float = 5.5
    noise: float = 0.0
    inharmonicity: float = 0.0
    formants: tuple = ()
    reeds: int = 1
    max_partials: int = 24
    polyphonic: bool = False


VOICES: dict[str, Voice] = {
    "accordion": Voice(45, 86, "free_reed", tilt=0.55, attack=0.06, release=0.08, vibrato_cents=0,
                       noise=0.02, formants=((900, 4, 1.5), (2500, 3, 1.0)), reeds=3, polyphonic=True),
    "harmonica": Voice(57, 93, "free_reed", tilt=0.6, attack=0.04, release=0.07, vibrato_cents=12,
                       vibrato_rate=5.0, noise=0.05, formants=((1100, 5, 1.2), (2800, 3, 1.0)),
                       reeds=1, polyphonic=True),
    "trumpet": Voice(54, 84, "brass", tilt=0.7, attack=0.035, release=0.06, vibrato_cents=6,
                     noise=0.01, formants=((1300, 8, 1.2), (2600, 4, 0.8))),
    "flute": Voice(60, 96, "blown", tilt=2.2, attack=0.08, release=0.08, vibrato_cents=18,
                   vibrato_rate=5.0, noise=0.09, max_partials=8),
    "saxophone": Voice(49, 81, "reed", tilt=0.85, attack=0.04, release=0.07, vibrato_cents=20,
                       vibrato_rate=5.5, noise=0.04, formants=((600, 5, 1.0), (1700, 6, 1.0))),
    "violin": Voice(55, 98, "bowed", tilt=0.9, attack=0.07, release=0.12, vibrato_cents=28,
                    vibrato_rate=6.0, noise=0.04, formants=((280, 4, 0.6), (480, 3, 0.6), (3000, 8, 1.0))),
    "viola": Voice(48, 84, "bowed", tilt=0.95, attack=0.08, release=0.14, vibrato_cents=25,
                   vibrato_rate=5.5, noise=0.04, formants=((230, 4, 0.6), (400, 3, 0.6), (2200, 6, 1.0))),
    "cello": Voice(36, 76, "bowed", tilt=0.9, attack=0.09, release=0.16, vibrato_cents=25,
                   vibrato_rate=5.2, noise=0.04, formants=((110, 4, 0.6), (220, 3, 0.6), (1500, 6, 1.0))),
    "guitar": Voice(40, 81, "plucked", tilt=0.6, attack=0.003, release=0.05, decay=1.2, noise=0.02,
                    inharmonicity=2e-5, formants=((100, 6, 0.7), (220, 4, 0.7)), polyphonic=True),
    "piano": Voice(28, 100, "struck", tilt=0.75, attack=0.002, release=0.15, decay=2.0, noise=0.015,
                   inharmonicity=1.5e-4, reeds=2, polyphonic=True),
    "electric_guitar": Voice(40, 84, "plucked", tilt=0.5, attack=0.003, release=0.05, decay=1.8,
                             inharmonicity=1e-5, polyphonic=True),
    "bass_guitar": Voice(28, 55, "plucked", tilt=1.1, attack=0.003, release=0.05, decay=1.5, max_partials=12),
    "horn": Voice(41, 77, "brass", tilt=1.1, attack=0.06, release=0.1, vibrato_cents=4,
                  formants=((450, 6, 1.0),)),
    "timpani": Voice(38, 55, "membrane", tilt=1.3, attack=0.002, release=0.2, decay=1.0, max_partials=6),
}

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_PROGRESSIONS = ([0, 3, 4, 0], [0, 5, 3, 4], [0, 4, 5, 3], [5, 3, 0, 4], [0, 3, 0, 4], [0, 1, 4, 0])


def _midi_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, float) - 69.0) / 12.0)


@dataclass
class Note:
    onset: float
    dur: float
    midi: float
    vel: float


@dataclass
class Key:
    tonic: int
    scale: np.ndarray
    tempo: float
    swing: float = 0.0
    progression: list = field(default_factory=list)

    def pitch(self, degree: int, octave_base: int) -> int:
        """MIDI pitch of scale ``degree`` (may be negative/large) above C of ``octave_base``."""
        o, d = divmod(degree, 7)
        return octave_base + 12 * o + self.tonic + int(self.scale[d])

    def chord(self, root_degree: int, octave_base: int) -> list[int]:
        return [self.pitch(root_degree + i, octave_base) for i in (0, 2, 4)]


def random_key(rng, tempo_range=(60, 140)) -> Key:
    scale = _MAJOR if rng.random() < 0.6 else _MINOR
    prog = list(_PROGRESSIONS[rng.integers(len(_PROGRESSIONS))])
    return Key(int(rng.integers(12)), scale, float(rng.uniform(*tempo_range)), progression=prog)


def _degree_range(key: Key, low: int, high: int):
    """Scale degrees (relative to C4 = 60 base) whose pitch lies within [low, high]."""
    degs = [d for d in range(-35, 40) if low <= key.pitch(d, 60) <= high]
    return degs


def compose(rng, voice: Voice, key: Key, duration: float, *, role: str = "melody",
            register: tuple | None = None, density: float = 1.0) -> list[Note]:
    """A part for ``voice``: "melody" (stepwise random walk), "bass", "chords", "strum",
    "arpeggio", "drone" or "pad"; ``register`` narrows the MIDI range."""
    beat = 60.0 / key.tempo
    low, high = register or (voice.low, voice.high)
    low, high = max(low, voice.low), min(high, voice.high)
    if high - low < 7:
        mid = (low + high) // 2
        low, high = mid - 6, mid + 6
    degs = _degree_range(key, low, high) or [0]
    notes: list[Note] = []
    t = float(rng.uniform(0, beat))
    bar = 4 * beat
    if role == "melody":
        i = int(rng.integers(len(degs) // 4, max(len(degs) // 4 + 1, 3 * len(degs) // 4)))
        lengths = np.array([0.5, 1, 1, 1.5, 2, 3]) / max(density, 0.25)
        while t < duration:
            d = float(rng.choice(lengths)) * beat
            if rng.random() < 0.1:  # rest
                t += d
                continue
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3, 4, -4]))
            i = int(np.clip(i + step, 0, len(degs) - 1))
            notes.append(Note(t, d * rng.uniform(0.8, 1.0), key.pitch(degs[i], 60),
                              float(np.clip(rng.normal(0.7, 0.12), 0.3, 1.0))))
            t += d
    elif role in ("bass", "chords", "strum", "arpeggio", "pad"):
        k = 0
        while t < duration:
            root = key.progression[k % len(key.progression)]
            chord = key.chord(root, 60)
            # move the chord into the register
            base = (low + high) // 2 if role != "bass" else low + 5
            shift = 12 * int(np.round((base - np.mean(chord)) / 12))
            chord = [p + shift for p in chord]
            vel = float(np.clip(rng.normal(0.6, 0.1), 0.3, 0.9))
            if role == "bass":
                for b in range(4 if rng.random() < 0.5 else 2):
                    step = beat * (1 if b else 0) * (4 / (4 if rng.random() < 0.5 else 2))
                    onset = t + b * (bar / (4 if rng.random() < 0.5 else 2))
                    if onset < t + bar:
                        notes.append(Note(onset, beat * 0.9, chord[0] - 12 * (chord[0] - 12 >= low), vel))
            elif role == "chords" or role == "pad":
                n_hits = 1 if role == "pad" else int(rng.choice([1, 2, 4]))
                for h in range(n_hits):
                    for p in chord:
                        notes.append(Note(t + h * bar / n_hits, bar / n_hits * 0.95, p, vel))
            elif role == "strum":
                pattern = [0, 1, 1.5, 2, 3] if rng.random() < 0.5 else [0, 2]
                strum_dt = rng.uniform(0.008, 0.03)
                voicing = chord + [chord[0] + 12, chord[1] + 12] if chord[1] + 12 <= high else chord
                for h in pattern:
                    up = rng.random() < 0.3
                    for j, p in enumerate(voicing[::-1] if up else voicing):
                        notes.append(Note(t + h * beat + j * strum_dt, beat * 1.5, p, vel * rng.uniform(0.8, 1)))
            else:  # arpeggio
                seq = chord + [chord[0] + 12] if chord[0] + 12 <= high else chord
                for h in range(8):
                    notes.append(Note(t + h * bar / 8, bar / 4, seq[h % len(seq)], vel))
            t += bar
            k += 1
    elif role == "drone":
        notes.append(Note(0.0, duration, key.pitch(0, 48), 0.5))
    return [n for n in notes if n.onset < duration]


# ------------------------------------------------------------------------- synthesis
def _formant_gain(freqs, formants):
    g = np.zeros_like(freqs)
    for f, gain_db, bw in formants:
        g += gain_db * np.exp(-0.5 * (np.log2(np.maximum(freqs, 1) / f) / (bw / 2)) ** 2)
    return 10 ** (g / 20)


def _partial_amps(voice: Voice, f0: float, vel: float, k: np.ndarray, rng, pluck_pos: float):
    tilt = voice.tilt
    if voice.excitation == "brass":  # brighter when louder
        tilt = voice.tilt + 1.2 * (1 - vel)
    a = k.astype(float) ** -tilt
    if voice.odd_boost != 1.0:
        a[(k % 2) == 1] *= voice.odd_boost
    if voice.excitation == "plucked":
        a *= np.abs(np.sin(np.pi * k * pluck_pos)) + 0.05
    if voice.excitation == "struck":
        a *= 1.0 / (1 + (k * f0 / (1500 + 3000 * vel)) ** 2)  # hammer felt low-pass
    if voice.excitation == "free_reed":
        a *= 1 + 0.3 * np.cos(k * 1.3)  # reed-chamber comb colouring
    if voice.excitation == "membrane":
        a = np.array([1.0, 0.5, 0.35, 0.2, 0.12, 0.08])[: len(k)]
    a *= _formant_gain(k * f0, voice.formants)
    a *= np.exp(rng.normal(0, 0.15, len(k)))  # per-note spectral jitter
    return a


def _envelope(voice: Voice, n: int, sr: int, dur_s: float, vel: float, rng):
    t = np.arange(n) / sr
    att = max(voice.attack * rng.uniform(0.7, 1.4), 1.0 / sr)
    env = np.minimum(t / att, 1.0)
    if voice.decay > 0:
        env = env * np.exp(-t / voice.decay)
    else:
        env = env * (1 - 0.1 * np.minimum(t / max(dur_s, 1e-3), 1))  # slight swell down
    rel = voice.release
    tail = t > dur_s
    env[tail] *= np.exp(-(t[tail] - dur_s) / max(rel / 3, 1e-3))
    return env * vel


def _colour_noise(rng, n, sr, lo, hi):
    import scipy.fft

    m = scipy.fft.next_fast_len(n, real=True)
    X = scipy.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1 / sr)
    X *= (f >= lo) & (f <= hi)
    return scipy.fft.irfft(X, m)[:n]


_TABLE = 2048


def _wavetable(amps, phases, ks):
    """One period of sum_k amps_k sin(k x + phase_k) sampled at _TABLE points."""
    spec = np.zeros(_TABLE // 2 + 1, complex)
    spec[ks] = amps * np.exp(1j * (phases - np.pi / 2)) * (_TABLE / 2)
    return np.fft.irfft(spec, _TABLE)


class _NoiseBank:
    """Band-limited noise for a whole part, computed once and sliced per note (fast FFT sizes)."""

    def __init__(self, rng, n, sr):
        self.rng, self.n, self.sr, self.cache = rng, n, sr, {}

    def get(self, lo, hi, start, length):
        if (lo, hi) not in self.cache:
            from scipy.fft import next_fast_len

            m = next_fast_len(self.n + self.sr)
            self.cache[(lo, hi)] = _colour_noise(self.rng, m, self.sr, lo, hi)
        buf = self.cache[(lo, hi)]
        s = start % max(1, len(buf) - length) if length < len(buf) else 0
        out = buf[s:s + length]
        return np.pad(out, (0, length - len(out)))


def synth_part(notes: list[Note], voice: Voice, duration: float, rng, *, sr: int = SYNTH_SR,
               detune_cents: float = 0.0) -> np.ndarray:
    """Synthesis of ``notes`` for ``voice`` -> mono float array of ``duration`` s.

    Harmonic partials are read from per-note wavetables (the partial amplitudes of
    :func:`_partial_amps` with random phases), split into a low table (partials 1-3) and a
    high table whose level decays faster for plucked/struck voices (bright attack, duller
    tail). Stiff strings (inharmonicity B > 0) get their first 4 partials synthesised
    additively at the stretched frequencies ``k f0 sqrt(1 + B k^2)``.
    """
    N = int(round(duration * sr))
    out = np.zeros(N + sr, np.float64)
    noise = _NoiseBank(rng, N, sr)
    vib_rate = voice.vibrato_rate * rng.uniform(0.9, 1.1)
    vib_depth = voice.vibrato_cents * rng.uniform(0.5, 1.3)
    pluck_pos = rng.uniform(0.1, 0.25)
    for note in notes:
        start = int(max(note.onset, 0.0) * sr)
        if start >= N:
            continue
        f0 = float(_midi_hz(note.midi)) * 2 ** ((detune_cents + rng.normal(0, 3)) / 1200)
        # strings are damped / reeds stop at the note's end; only the timpani rings on
        ring = voice.release * 3 + (2 * voice.decay if voice.excitation == "membrane" else 0)
        n = int(min(note.dur + ring, duration + 0.5 - note.onset) * sr)
        if n <= 8:
            continue
        t = np.arange(n) / sr
        if vib_depth > 0 or voice.excitation == "brass":
            cents = np.zeros(n)
            if vib_depth > 0:
                onset_ramp = np.minimum(t / 0.3, 1.0)
                cents += vib_depth * onset_ramp * np.sin(2 * np.pi * vib_rate * t + rng.uniform(0, 6.28))
            if voice.excitation == "brass":  # lip scoop into the note
                cents += -40 * np.exp(-t / 0.03)
            inst_f = f0 * np.exp2(cents / 1200)
            cycles = np.cumsum(inst_f) / sr  # phase in periods
        else:
            cycles = f0 * t
        K = int(max(1, min(voice.max_partials, 0.45 * sr / f0, _TABLE // 2 - 1)))
        k = np.arange(1, K + 1)
        amps = _partial_amps(voice, f0, note.vel, k, rng, pluck_pos)
        phases = rng.uniform(0, 2 * np.pi, len(amps))
        env = _envelope(voice, n, sr, note.dur, note.vel, rng)
        if voice.excitation == "membrane":
            ratios = np.array([1.0, 1.5, 1.99, 2.44, 2.9, 3.3])[: len(amps)]
            tone = sum(a * np.sin(2 * np.pi * r * cycles + p) for a, r, p in zip(amps, ratios, phases))
        else:
            n_add = min(4, K) if voice.inharmonicity > 0 else 0
            idx = ((cycles * _TABLE).astype(np.int64)) % _TABLE
            low_k = k[n_add:3] if n_add < 3 else k[:0]
            tone = np.zeros(n)
            if len(low_k):
                tone += _wavetable(amps[low_k - 1], phases[low_k - 1], low_k)[idx]
            high_k = k[max(3, n_add):]
            if len(high_k):
                high = _wavetable(amps[high_k - 1], phases[high_k - 1], high_k)[idx]
                if voice.decay > 0:  # brightness dies away faster than the tone
                    high *= np.exp(-t * 2.5 / max(voice.decay, 0.1))
                tone += high
            for j in range(n_add):
                kk = k[j]
                stretch = kk * np.sqrt(1 + voice.inharmonicity * kk ** 2)
                pk = amps[j] * np.sin(2 * np.pi * stretch * cycles + phases[j])
                if voice.decay > 0 and kk > 3:
                    pk *= np.exp(-t * 2.5 / max(voice.decay, 0.1))
                tone += pk
        if voice.reeds > 1:  # detuned second/third reed: beating (musette, piano unisons)
            beat_hz = rng.uniform(2, 7) if voice.excitation == "free_reed" else rng.uniform(0.3, 1.5)
            tone *= 1 + 0.35 * np.sin(2 * np.pi * beat_hz * t + rng.uniform(0, 6.28))
        if voice.noise > 0:
            level = voice.noise * np.sqrt(np.sum(amps ** 2)) * 3
            if voice.excitation in ("blown", "reed", "free_reed", "brass"):
                tone += level * noise.get(800, 9000, start, n)
            elif voice.excitation == "bowed":
                tone += level * noise.get(1500, 7000, start, n) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
            else:  # hammer/pluck transient
                tone += level * noise.get(500, 8000, start, n) * np.exp(-t / 0.02)
        seg = tone * env
        out[start:start + n] += seg[: len(out) - start]
    return out[:N]


def _drums(rng, key: Key, duration: float, sr: int = SYNTH_SR) -> np.ndarray:
    N = int(round(duration * sr))
    out = np.zeros(N + sr)
    beat = 60 / key.tempo
    t = 0.0
    hit = lambda n, kind: None  # noqa: E731
    kick_t = np.arange(int(0.3 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * kick_t + 60 * 0.05 * (1 - np.exp(-kick_t / 0.05)))) * np.exp(-kick_t / 0.12)
    sn_t = np.arange(int(0.25 * sr)) / sr
    hh_t = np.arange(int(0.08 * sr)) / sr
    while t < duration:
        for b in range(8):
            s = int((t + b * beat / 2) * sr)
            if s >= N:
                break
            if b in (0, 4) or (b == 5 and rng.random() < 0.3):
                out[s:s + len(kick)] += 0.9 * kick[: len(out) - s]
            if b in (2, 6):
                sn = (0.6 * rng.standard_normal(len(sn_t)) + 0.4 * np.sin(2 * np.pi * 190 * sn_t)) * np.exp(-sn_t / 0.06)
                out[s:s + len(sn)] += 0.6 * sn[: len(out) - s]
            hh = _colour_noise(rng, len(hh_t), sr, 6000, 10000) * np.exp(-hh_t / 0.02)
            out[s:s + len(hh)] += 0.25 * hh[: len(out) - s]
        t += 4 * beat
    del hit
    return out[:N]


def _norm(x):
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-9)


def render_music(category: str, rng, duration: float, sr: int = SYNTH_SR) -> tuple[np.ndarray, dict]:
    """Dry (unrecorded) music of one FCVID category -> (mono float64, info)."""
    key = random_key(rng)
    info = {"tonic": key.tonic, "mode": "major" if key.scale is _MAJOR else "minor", "tempo": round(key.tempo, 1)}
    V = VOICES
    parts: list[tuple[np.ndarray, float]] = []

    def part(voice_name, role, gain, register=None, detune=0.0, density=1.0):
        voice = V[voice_name]
        notes = compose(rng, voice, key, duration, role=role, register=register, density=density)
        parts.append((synth_part(notes, voice, duration, rng, sr=sr, detune_cents=detune), gain))

    def section(voice_name, role, gain, n, register=None, spread=12.0):
        notes = compose(rng, V[voice_name], key, duration, role=role, register=register)
        mix = np.zeros(int(round(duration * sr)))
        for _ in range(n):  # players of a section: detune and timing jitter -> chorus
            jit = [Note(max(0.0, x.onset + rng.normal(0, 0.015)), x.dur, x.midi, x.vel) for x in notes]
            mix += synth_part(jit, V[voice_name], duration, rng, sr=sr, detune_cents=rng.normal(0, spread))
        parts.append((mix, gain))

    if category in ("accordion", "harmonica", "trumpet", "flute", "saxophone", "violin", "cello"):
        solo = category
        voice = V[solo]
        centre = rng.uniform(voice.low + 8, voice.high - 10)
        reg = (int(centre - rng.uniform(7, 14)), int(centre + rng.uniform(7, 14)))
        part(solo, "melody", 1.0, register=reg, density=rng.uniform(0.7, 1.6))
        if category == "accordion":
            part("accordion", "bass", 0.5, register=(40, 55))
            part("accordion", "chords", 0.5, register=(55, 70))
        if category == "harmonica" and rng.random() < 0.6:
            part("harmonica", "chords", 0.5, register=(60, 76))
        if rng.random() < 0.35:  # accompaniment (backing guitar or piano) in some videos
            acc = "guitar" if rng.random() < 0.5 else "piano"
            part(acc, "strum" if acc == "guitar" else "chords", rng.uniform(0.15, 0.4), register=(45, 66))
    elif category == "guitar":
        if rng.random() < 0.6:
            part("guitar", "strum", 1.0, register=(40, 70))
            if rng.random() < 0.5:
                part("guitar", "melody", 0.5, register=(60, 81))
        else:  # finger-style
            part("guitar", "arpeggio", 1.0, register=(45, 72))
            part("guitar", "bass", 0.6, register=(40, 52))
    elif category == "piano":
        part("piano", "melody", 1.0, register=(60, 90), density=rng.uniform(0.8, 2.0))
        part("piano", rng.choice(["chords", "arpeggio"]), 0.7, register=(45, 64))
        part("piano", "bass", 0.5, register=(30, 48))
    elif category == "chamberMusic":
        if rng.random() < 0.6:  # string quartet
            part("violin", "melody", 1.0, register=(67, 88))
            part("violin", "pad", 0.5, register=(60, 76))
            part("viola", "pad", 0.5, register=(53, 67))
            part("cello", "bass", 0.7, register=(36, 55))
        else:  # piano trio
            part("piano", "arpeggio", 0.7, register=(48, 72))
            part("violin", "melody", 1.0, register=(67, 88))
            part("cello", "melody", 0.7, register=(43, 62), density=0.6)
    elif category == "symphonyOrchestra":
        section("violin", "melody", 1.0, 3, register=(67, 91))
        section("violin", "pad", 0.6, 3, register=(60, 76))
        section("viola", "pad", 0.5, 2, register=(50, 67))
        section("cello", "bass", 0.6, 2, register=(36, 55))
        if rng.random() < 0.7:
            part("flute", "melody", 0.35, register=(72, 93))
        if rng.random() < 0.7:
            section("horn", "pad", 0.45, 2, register=(48, 67), spread=5)
        if rng.random() < 0.5:
            part("trumpet", "pad", 0.3, register=(60, 76))
        if rng.random() < 0.6:
            part("timpani", "bass", 0.4, register=(38, 55))
    elif category == "rockBand":
        gtr = compose(rng, V["electric_guitar"], key, duration, role="strum", register=(40, 64))
        g = synth_part(gtr, V["electric_guitar"], duration, rng, sr=sr)
        drive = rng.uniform(3, 12)
        parts.append((np.tanh(drive * _norm(g) * 0.3), 1.0))  # overdrive
        part("bass_guitar", "bass", 0.8)
        parts.append((_drums(rng, key, duration, sr), 0.9))
        if rng.random() < 0.6:  # lead line (sung or played)
            part(rng.choice(["saxophone", "electric_guitar", "trumpet"]), "melody", 0.5, register=(60, 79))
    else:
        raise KeyError(f"unknown category {category!r}")
    mix = np.zeros(int(round(duration * sr)))
    for x, gain in parts:
        x = x[: len(mix)]
        mix[: len(x)] += gain * _norm(x)
    return mix, info


# ------------------------------------------------------------------------- recording
def _room_ir(rng, sr, rt60, drr_db):
    n = int(min(rt60 * 1.2, 3.0) * sr) + 1
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    ir[: int(0.003 * sr)] = 0
    # high frequencies die faster: smooth the tail progressively (one-pole low-pass)
    from scipy.signal import lfilter

    ir = lfilter([0.35], [1, -0.65], ir)
    ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
    ir *= 10 ** (-drr_db / 20)
    ir[0] = 1.0
    return ir


def _babble(rng, n, sr, n_voices):
    """Background chatter: formant-filtered noise with syllabic amplitude modulation."""
    from scipy.signal import butter, sosfilt

    out = np.zeros(n)
    for _ in range(n_voices):
        src = rng.standard_normal(n)
        # voiced buzz at a speaking pitch
        f0 = rng.uniform(90, 240)
        t = np.arange(n) / sr
        buzz = np.sign(np.sin(2 * np.pi * f0 * t * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))))
        x = 0.5 * src + buzz
        lo, hi = rng.uniform(250, 600), rng.uniform(2000, 3400)
        y = sosfilt(butter(2, [lo, hi], btype="band", fs=sr, output="sos"), x)
        syll = rng.uniform(3, 6)
        am = np.clip(np.sin(2 * np.pi * syll * t + rng.uniform(0, 6)) + rng.normal(0, 0.3), 0, None)
        gate = np.repeat(rng.random(int(n / sr / 1.5) + 2) < 0.6, int(1.5 * sr))[:n]
        out += _norm(y) * am * gate
    return out


#: Output sample rates of phone recordings and their probabilities (the ``paper`` preset's default).
SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
_SAMPLE_RATE_P = (0.15, 0.2, 0.15, 0.3, 0.2)
#: Default range of the music-to-background SNR (dB) of a recording.
SNR_DB = (-2.0, 25.0)


def _moving_average(x, n):
    """Centred moving average of length ``n``, zero padded: ``np.convolve(x, ones(n) / n, "same")``
    computed from a cumulative sum (O(N) instead of O(N n))."""
    x = np.asarray(x, np.float64)
    N = len(x)
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(N)
    hi = np.clip(i + (n - 1) // 2 + 1, 0, N)
    lo = np.clip(i + (n - 1) // 2 - n + 1, 0, N)
    return (c[hi] - c[lo]) / n


def record(dry: np.ndarray, rng, *, sr: int = SYNTH_SR, venue: str = "room", snr_db: tuple = SNR_DB,
           sample_rates: tuple = SAMPLE_RATES) -> tuple[np.ndarray, int, dict]:
    """Phone-video recording of ``dry`` music.

    Room (or hall) reverberation, microphone band limits, background noise and chatter at
    a random SNR (uniform in ``snr_db``, dB), slow level changes (automatic gain), occasional
    clipping, a random output sample rate (from ``sample_rates``; the default set is drawn with
    phone-like probabilities, any other set uniformly) and mono/stereo. Returns
    ``(audio (C, N) float32, out_sr, info)``.
    """
    from scipy.signal import butter, fftconvolve, sosfilt

    n = len(dry)
    rt60 = rng.uniform(1.2, 2.5) if venue == "hall" else rng.uniform(0.15, 1.0)
    drr = rng.uniform(-3, 10)
    wet = fftconvolve(dry, _room_ir(rng, sr, rt60, drr))[:n]
    wet = _norm(wet)
    # microphone / phone band limits
    lo = rng.uniform(60, 300)
    hi = min(rng.uniform(3500, 10500), 0.45 * sr)
    wet = sosfilt(butter(2, [lo, hi], btype="band", fs=sr, output="sos"), wet)
    wet = _norm(wet)
    # background: steady noise (air conditioning, traffic) + chatter + occasional clatter
    noise = _colour_noise(rng, n, sr, 20, 0.45 * sr)
    pink = np.cumsum(noise) if rng.random() < 0.5 else noise  # brown-ish or white-ish hum
    pink = _norm(pink - _moving_average(pink, 2000))
    bg = pink * rng.uniform(0.2, 1.0)
    n_voices = int(rng.integers(0, 6))
    if n_voices:
        bg += _babble(rng, n, sr, n_voices) * rng.uniform(0.5, 1.5)
    for _ in range(int(rng.poisson(duration_s := n / sr) / 8)):
        s = int(rng.integers(0, max(1, n - sr // 4)))
        L = int(sr * rng.uniform(0.02, 0.2))
        bg[s:s + L] += rng.standard_normal(len(bg[s:s + L])) * rng.uniform(1, 4)
    snr_lo, snr_hi = snr_db
    snr_db = rng.uniform(snr_lo, snr_hi)
    x = wet + _norm(bg) * 10 ** (-snr_db / 20)
    # slow level changes (automatic gain control, moving phone) in dB
    steps = max(2, int(duration_s / 2) + 2)
    gain_db = np.interp(np.arange(n), np.linspace(0, n, steps), rng.normal(0, 3, steps))
    x = x * 10 ** (gain_db / 20)
    peak_db = rng.uniform(-14, -1)
    x = x / (np.max(np.abs(x)) + 1e-9) * 10 ** (peak_db / 20)
    clipped = bool(rng.random() < 0.25)
    if clipped:
        x = np.clip(x * 10 ** (rng.uniform(4, 14) / 20), -1, 1)
    if tuple(sample_rates) == SAMPLE_RATES:
        out_sr = int(rng.choice(list(SAMPLE_RATES), p=list(_SAMPLE_RATE_P)))
    else:
        out_sr = int(rng.choice([int(r) for r in sample_rates]))
    channels = 1 if rng.random() < 0.4 else 2

    y = resample(x.astype(np.float32), orig_sr=sr, target_sr=out_sr)
    if channels == 2:
        d = int(rng.integers(1, 20))
        y2 = np.concatenate([np.zeros(d, np.float32), y[:-d]]) * rng.uniform(0.8, 1.0)
        y = np.stack([y, 0.7 * y + 0.3 * y2])
    else:
        y = y[None]
    info = {"rt60": round(rt60, 3), "snr_db": round(snr_db, 2), "n_talkers": n_voices, "clipped": clipped,
            "band_hz": [round(lo), round(hi)], "sample_rate": out_sr, "channels": channels}
    return np.clip(y, -1, 1).astype(np.float32), out_sr, info


def render_performance(category: str, rng, duration: float, *, venue: str | None = None,
                       snr_db: tuple = SNR_DB, sample_rates: tuple = SAMPLE_RATES):
    """Music of ``category`` recorded by a phone: ``(audio (C, N) float32, sample_rate, info)``.

    ``snr_db`` and ``sample_rates`` are passed to :func:`record` (``snr_db`` sets how much of the
    music survives the background: the audio modality's information knob).
    """
    if venue is None:
        venue = "hall" if category == "symphonyOrchestra" or (category == "chamberMusic" and rng.random() < 0.5) else "room"
    dry, info = render_music(category, rng, duration)
    audio, sr, rec = record(dry, rng, venue=venue, snr_db=snr_db, sample_rates=sample_rates)
    info.update(rec, venue=venue)
    return audio, sr, info
