"""Audiovisual speech data of the XFlow paper: AVletters, Digits, CUAVE.

* :mod:`.layouts` - on-disk layout, readers (:func:`load_speech_dataset`), XFlow inputs
  (:func:`cnn_mlp_inputs`, :func:`sequence_inputs`, :func:`standardize`), speaker folds
  and the Ngiam et al. hold-out split;
* :mod:`.generate` - embedded stand-ins in the same layouts
  (:func:`ensure_speech_benchmark`, presets :data:`SPEECH_PRESETS`, information knobs
  :data:`.generate.SPEECH_KNOBS`);
* :mod:`.calibration` - single-modality probes, complementarity table and the target
  bands the knobs are tuned to (:data:`.calibration.TARGET_BANDS`);
* :mod:`.phonemes`, :mod:`.voice`, :mod:`.mouth` - lexicon, source-filter synthesiser,
  mouth renderer.
"""

from .generate import SPEECH_PRESETS, ensure_speech_benchmark, generate_speech_benchmark, speech_preset
from .layouts import (
    DATASET_INFO,
    DatasetInfo,
    SpeechDataset,
    cnn_mlp_inputs,
    dataset_info,
    holdout_split,
    load_speech_dataset,
    pad_sequences,
    sequence_inputs,
    speaker_folds,
    standardize,
    window_average,
    with_mfcc,
)

__all__ = [
    "SPEECH_PRESETS",
    "ensure_speech_benchmark",
    "generate_speech_benchmark",
    "speech_preset",
    "DATASET_INFO",
    "DatasetInfo",
    "SpeechDataset",
    "cnn_mlp_inputs",
    "dataset_info",
    "holdout_split",
    "load_speech_dataset",
    "pad_sequences",
    "sequence_inputs",
    "speaker_folds",
    "standardize",
    "window_average",
    "with_mfcc",
]
