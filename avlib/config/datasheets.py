"""The settings of the two datasheet pages, in the same dialect as the papers' configurations.

* :class:`InstrumentsDatasheetConfig`: the datasheet of the embedded instrument-video benchmark
  (the ICMR / ISMIR stand-in for FCVID and YouTube-8M);
* :class:`SpeechDatasheetConfig`: the datasheet of the AVletters, Digits and CUAVE stand-ins
  (XFlow), or of the real datasets at the ``paper`` scale.

The datasheets train no network of the papers: their settings say how many examples are shown
and how many speaker folds the logistic-regression probes and baselines use. The defaults are
what the ``paper`` scale runs; ``SCALES`` holds the smaller scales' overrides::

    cfg = SpeechDatasheetConfig.for_scale("cpu").with_overrides({"baseline_max_folds": 2})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from .base import Config

__all__ = ["InstrumentsDatasheetConfig", "SpeechDatasheetConfig"]


@dataclass(frozen=True)
class InstrumentsDatasheetConfig(Config):
    """The instrument-video datasheet: ``examples_per_class`` frames shown per category, the
    ``probe_folds`` of the cross-validated difficulty probes and ``n_jobs`` generation and
    decoding workers (None: all cores, at most two)."""

    scale: str = "paper"
    examples_per_class: int = 3
    probe_folds: int = 5
    n_jobs: Optional[int] = None

    SCALES = {
        "paper": {},
        "cpu": {},
        "smoke": {"examples_per_class": 2},
    }
    NOTES = {
        "smoke": "A test of the pipeline only: two example frames per category.",
    }


@dataclass(frozen=True)
class SpeechDatasheetConfig(Config):
    """The speech datasheet: the ``datasets`` described, the extra MFCC sets of the embedded data
    with speech-shaped noise (``noise_conditions``, ``"mfcc_snr<k>"`` for k dB SNR), the speaker
    folds of the calibration probes (``calibration_max_folds``) and of the per-modality baselines
    (``baseline_max_folds``; None: all), the block size of the frame pooling of the video
    baseline (``image_pool``) and ``n_jobs`` generation workers (None: all cores, at most two)."""

    scale: str = "paper"
    datasets: Tuple[str, ...] = ("avletters", "digits", "cuave")
    noise_conditions: Tuple[str, ...] = ()
    calibration_max_folds: Optional[int] = None
    baseline_max_folds: Optional[int] = None
    image_pool: int = 10
    n_jobs: Optional[int] = None

    SCALES = {
        "paper": {},
        "cpu": {"baseline_max_folds": 5, "noise_conditions": ["mfcc_snr0", "mfcc_snr-10"]},
        "smoke": {"baseline_max_folds": 2, "noise_conditions": ["mfcc_snr0"]},
    }
    NOTES = {
        "cpu": "The baselines on the first 5 speaker folds; two noisy MFCC sets (0 and -10 dB SNR).",
        "smoke": "A test of the pipeline only: the baselines on 2 speaker folds, one noisy MFCC set.",
    }
    DRY_RUN = {"baseline_max_folds": 2, "calibration_max_folds": 2}
