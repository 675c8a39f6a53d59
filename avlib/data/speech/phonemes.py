"""Lexicon of the embedded audiovisual speech benchmarks.

Words (digits *zero*-*nine*, letters *A*-*Z*) are written as ARPAbet-like phoneme
sequences with base durations. Every phoneme carries

* acoustic targets for the source-filter synthesiser (:mod:`.voice`): formant targets
  F1-F3 in Hz for an adult male vocal tract (vowels, glides, liquids, nasals) or the
  formant *locus* of its place of articulation (obstruents), voicing, frication band,
  plosive burst;
* a **viseme** class: the mouth shape seen on video (:mod:`.mouth`). Phonemes of one
  viseme class look the same on the lips (``P``, ``B``, ``M``; ``T``, ``D``, ``S``, ``Z``,
  ``N``...), which is what makes some words visually ambiguous (the letters *B* / *P*,
  *D* / *T*, *C* / *Z*... ) while the audio separates them unless it is noisy.

Formant values follow the classic Peterson & Barney / Hillenbrand tables for American
English vowels (rounded); locus values follow the usual textbook loci (labial ~ 900 Hz,
alveolar ~ 1700 Hz, velar ~ 2000 Hz for F2). The letters follow British English (*zed*),
as in AVletters (recorded in the UK).
"""

from __future__ import annotations

from dataclasses import dataclass

from avlib.errors import ParameterError

__all__ = [
    "Phoneme",
    "PHONEMES",
    "VISEMES",
    "DIGIT_WORDS",
    "LETTER_WORDS",
    "LEXICON",
    "word_phonemes",
    "viseme_sequence",
]


@dataclass(frozen=True)
class Phoneme:
    """Acoustic and visual description of one phoneme.

    Attributes
    ----------
    name : str
        ARPAbet-like symbol.
    kind : str
        ``vowel``, ``diphthong``, ``glide``, ``liquid``, ``nasal``, ``fricative``,
        ``plosive``, ``affricate``, ``aspirate`` or ``silence``.
    voiced : bool
    formants : tuple
        ``(F1, F2, F3)`` target in Hz; for diphthongs the *start* target.
    formants_end : tuple or None
        End target of a diphthong (the formants glide between the two).
    duration : float
        Base duration in seconds at a normal speaking rate.
    frication : str or None
        Noise band of a fricative / affricate / burst: ``"sibilant"`` (4-8 kHz),
        ``"palatal"`` (2-5 kHz), ``"flat"`` (weak, broad 1.5-7 kHz), ``"velar"``,
        ``"labial"``.
    viseme : str
        Mouth-shape class (keys of :data:`VISEMES`).
    """

    name: str
    kind: str
    voiced: bool
    formants: tuple
    formants_end: tuple | None
    duration: float
    frication: str | None
    viseme: str


def _p(name, kind, voiced, f, dur, viseme, fric=None, f_end=None):
    return Phoneme(name, kind, voiced, tuple(f), None if f_end is None else tuple(f_end), dur, fric, viseme)


#: Phoneme inventory: name -> :class:`Phoneme`.
PHONEMES: dict[str, Phoneme] = {p.name: p for p in [
    # vowels                       F1    F2    F3
    _p("IY", "vowel", True, (280, 2250, 2950), 0.20, "spread"),
    _p("IH", "vowel", True, (400, 1950, 2550), 0.12, "spread_mid"),
    _p("EH", "vowel", True, (550, 1800, 2500), 0.14, "open_mid"),
    _p("AE", "vowel", True, (680, 1700, 2450), 0.16, "open"),
    _p("AH", "vowel", True, (600, 1200, 2450), 0.10, "open_mid"),
    _p("AA", "vowel", True, (740, 1100, 2450), 0.20, "open_wide"),
    _p("AO", "vowel", True, (580, 880, 2450), 0.18, "open_round"),
    _p("UW", "vowel", True, (310, 900, 2250), 0.20, "round"),
    _p("ER", "vowel", True, (480, 1350, 1700), 0.16, "round_mid"),
    # diphthongs: start -> end
    _p("EY", "diphthong", True, (500, 1850, 2500), 0.22, "open_mid", f_end=(320, 2200, 2900)),
    _p("AY", "diphthong", True, (720, 1150, 2450), 0.24, "open_wide", f_end=(360, 2050, 2750)),
    _p("OW", "diphthong", True, (520, 950, 2400), 0.22, "open_round", f_end=(340, 800, 2300)),
    # glides / liquids (formant targets)
    _p("W", "glide", True, (300, 700, 2200), 0.07, "round"),
    _p("Y", "glide", True, (280, 2200, 3000), 0.06, "spread"),
    _p("R", "liquid", True, (420, 1250, 1600), 0.07, "round_mid"),
    _p("L", "liquid", True, (380, 1050, 2650), 0.07, "alveolar"),
    # nasals
    _p("M", "nasal", True, (280, 950, 2200), 0.08, "bilabial"),
    _p("N", "nasal", True, (280, 1550, 2550), 0.08, "alveolar"),
    # fricatives (formants = locus)
    _p("F", "fricative", False, (350, 950, 2300), 0.12, "labiodental", fric="flat"),
    _p("V", "fricative", True, (320, 950, 2300), 0.08, "labiodental", fric="flat"),
    _p("TH", "fricative", False, (350, 1400, 2600), 0.12, "dental", fric="flat"),
    _p("S", "fricative", False, (350, 1700, 2650), 0.13, "alveolar", fric="sibilant"),
    _p("Z", "fricative", True, (320, 1700, 2650), 0.10, "alveolar", fric="sibilant"),
    _p("HH", "aspirate", False, (0, 0, 0), 0.07, "inherit", fric=None),
    # plosives (closure + burst); formants = locus
    _p("P", "plosive", False, (350, 900, 2250), 0.10, "bilabial", fric="labial"),
    _p("B", "plosive", True, (300, 900, 2250), 0.08, "bilabial", fric="labial"),
    _p("T", "plosive", False, (350, 1700, 2650), 0.10, "alveolar", fric="sibilant"),
    _p("D", "plosive", True, (300, 1700, 2650), 0.08, "alveolar", fric="sibilant"),
    _p("K", "plosive", False, (350, 1900, 2450), 0.10, "velar", fric="velar"),
    # affricates
    _p("CH", "affricate", False, (350, 1900, 2600), 0.14, "postalveolar", fric="palatal"),
    _p("JH", "affricate", True, (320, 1900, 2600), 0.11, "postalveolar", fric="palatal"),
    _p("SIL", "silence", False, (0, 0, 0), 0.0, "rest"),
]}


#: Mouth-shape targets per viseme class: jaw opening, lip rounding (protrusion), lip
#: spread, lip closure, upper-teeth visibility, tongue-tip visibility (all in [0, 1]).
VISEMES: dict[str, dict[str, float]] = {
    "rest":         dict(jaw=0.05, round=0.15, spread=0.2, close=0.85, teeth=0.0, tongue=0.0),
    "bilabial":     dict(jaw=0.08, round=0.10, spread=0.25, close=1.0, teeth=0.0, tongue=0.0),
    "labiodental":  dict(jaw=0.18, round=0.0, spread=0.35, close=0.55, teeth=1.0, tongue=0.0),
    "dental":       dict(jaw=0.28, round=0.0, spread=0.35, close=0.0, teeth=0.8, tongue=1.0),
    "alveolar":     dict(jaw=0.22, round=0.0, spread=0.45, close=0.0, teeth=0.8, tongue=0.15),
    "postalveolar": dict(jaw=0.22, round=0.65, spread=0.0, close=0.0, teeth=0.7, tongue=0.0),
    "velar":        dict(jaw=0.38, round=0.1, spread=0.3, close=0.0, teeth=0.35, tongue=0.3),
    "spread":       dict(jaw=0.22, round=0.0, spread=1.0, close=0.0, teeth=0.8, tongue=0.0),
    "spread_mid":   dict(jaw=0.36, round=0.0, spread=0.7, close=0.0, teeth=0.5, tongue=0.1),
    "open_mid":     dict(jaw=0.55, round=0.0, spread=0.5, close=0.0, teeth=0.4, tongue=0.2),
    "open":         dict(jaw=0.75, round=0.0, spread=0.55, close=0.0, teeth=0.3, tongue=0.25),
    "open_wide":    dict(jaw=0.95, round=0.1, spread=0.3, close=0.0, teeth=0.2, tongue=0.25),
    "open_round":   dict(jaw=0.62, round=0.7, spread=0.0, close=0.0, teeth=0.1, tongue=0.1),
    "round":        dict(jaw=0.22, round=1.0, spread=0.0, close=0.0, teeth=0.0, tongue=0.0),
    "round_mid":    dict(jaw=0.35, round=0.55, spread=0.1, close=0.0, teeth=0.2, tongue=0.1),
}

#: Digits *zero*..*nine* (class index = digit).
DIGIT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Letters *A*..*Z* (class index = position in the alphabet).
LETTER_WORDS: tuple[str, ...] = tuple(chr(ord("A") + i) for i in range(26))

#: Word -> phoneme names.
LEXICON: dict[str, tuple[str, ...]] = {
    "zero": ("Z", "IH", "R", "OW"), "one": ("W", "AH", "N"), "two": ("T", "UW"),
    "three": ("TH", "R", "IY"), "four": ("F", "AO", "R"), "five": ("F", "AY", "V"),
    "six": ("S", "IH", "K", "S"), "seven": ("S", "EH", "V", "AH", "N"), "eight": ("EY", "T"),
    "nine": ("N", "AY", "N"),
    "A": ("EY",), "B": ("B", "IY"), "C": ("S", "IY"), "D": ("D", "IY"), "E": ("IY",),
    "F": ("EH", "F"), "G": ("JH", "IY"), "H": ("EY", "CH"), "I": ("AY",), "J": ("JH", "EY"),
    "K": ("K", "EY"), "L": ("EH", "L"), "M": ("EH", "M"), "N": ("EH", "N"), "O": ("OW",),
    "P": ("P", "IY"), "Q": ("K", "Y", "UW"), "R": ("AA",), "S": ("EH", "S"), "T": ("T", "IY"),
    "U": ("Y", "UW"), "V": ("V", "IY"), "W": ("D", "AH", "B", "AH", "L", "Y", "UW"),
    "X": ("EH", "K", "S"), "Y": ("W", "AY"), "Z": ("Z", "EH", "D"),
}


def word_phonemes(word: str) -> list[tuple[str, float]]:
    """Phonemes of ``word`` with base durations in seconds (normal rate).

    Word-final vowels and diphthongs are lengthened by 30 % (phrase-final lengthening).

    >>> word_phonemes("two")
    [('T', 0.1), ('UW', 0.26)]
    """
    if word not in LEXICON:
        raise ParameterError(f"unknown word {word!r}; known words: {', '.join(LEXICON)}")
    names = LEXICON[word]
    out = []
    for i, name in enumerate(names):
        ph = PHONEMES[name]
        dur = ph.duration
        if i == len(names) - 1 and ph.kind in ("vowel", "diphthong"):
            dur *= 1.3
        out.append((name, round(dur, 4)))
    return out


def viseme_sequence(word: str) -> list[str]:
    """Viseme classes of the phonemes of ``word`` (``HH`` takes the next phoneme's class)."""
    names = list(LEXICON[word])
    out = []
    for i, name in enumerate(names):
        vis = PHONEMES[name].viseme
        if vis == "inherit":
            vis = PHONEMES[names[i + 1]].viseme if i + 1 < len(names) else "rest"
        out.append(vis)
    return out
