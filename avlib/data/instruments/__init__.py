"""Embedded instrument-video benchmark (stand-in for the 12 FCVID categories of ICMR 2017).

Synthetic "user-generated" performance videos written as real H.264/AAC files in the FCVID
layout (``videos/<category>/<video_id>.mp4`` + ``videos.csv`` in the format of
``fcvid_videos.csv``), plus a bank of clean instrument images. See :mod:`.generate` for the
layout and presets, :mod:`.sound` and :mod:`.picture` for how sound and picture are made.

Labels follow FCVID (NOT alphabetical): 0 accordion, 1 trumpet, 2 flute, 3 chamberMusic,
4 symphonyOrchestra, 5 guitar, 6 violin, 7 saxophone, 8 harmonica, 9 rockBand, 10 cello,
11 piano.
"""
from .generate import (
    CATEGORIES,
    CATEGORY_OF,
    FCVID_COUNTS,
    GENERATOR_VERSION,
    INSTRUMENTS,
    PRESETS,
    Preset,
    ensure_instrument_benchmark,
    video_specs,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_OF",
    "FCVID_COUNTS",
    "GENERATOR_VERSION",
    "INSTRUMENTS",
    "PRESETS",
    "Preset",
    "ensure_instrument_benchmark",
    "video_specs",
]
