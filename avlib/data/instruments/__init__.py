"""Embedded instrument-video benchmarks (stand-ins for the FCVID and YouTube-8M subsets of ICMR 2017).

Synthetic "user-generated" performance videos written as real H.264/AAC files in the FCVID
layout (``videos/<category>/<video_id>.mp4`` + ``videos.csv`` in the format of
``fcvid_videos.csv``), plus a bank of clean instrument images. See :mod:`.generate` for the
layout and presets, :mod:`.sound` and :mod:`.picture` for how sound and picture are made.
:func:`ensure_yt8m_benchmark` writes a YouTube-8M-style variant of the same 12 categories
(``instruments_yt8m``: YouTube-8M's class imbalance, the instrument often out of the picture,
a few label errors).

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
    KNOBS,
    PRESETS,
    YT8M_COUNTS,
    YT8M_LABEL_NAMES,
    YT8M_PRESETS,
    YT8M_RANK_ORDER,
    Preset,
    ensure_instrument_benchmark,
    ensure_yt8m_benchmark,
    video_specs,
    yt8m_counts,
    yt8m_profile,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_OF",
    "FCVID_COUNTS",
    "GENERATOR_VERSION",
    "INSTRUMENTS",
    "KNOBS",
    "PRESETS",
    "YT8M_COUNTS",
    "YT8M_LABEL_NAMES",
    "YT8M_PRESETS",
    "YT8M_RANK_ORDER",
    "Preset",
    "ensure_instrument_benchmark",
    "ensure_yt8m_benchmark",
    "video_specs",
    "yt8m_counts",
    "yt8m_profile",
]
