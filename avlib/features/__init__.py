"""Audio and frame features of the instrument-recognition chapters (ICMR 2017, ISMIR 2017)
and the per-frame MFCCs of XFlow.

Submodules (imported on first use; nothing happens at import time):

- :mod:`avlib.features.audio`: ``load_audio``, ``mfcc_per_video_frame``, ``logmel``,
  ``logmel_batch``, ``crop_choi``, ``logmel_choi`` (96 x 1366), ``logmel_han`` (10 x 128 x 43);
  log-mels on librosa or torchaudio (``backend=``, ``device=``; ``default_logmel_backend``).
- :mod:`avlib.features.frames`: ``frame_times``, ``sample_frames``, ``resize_frames``,
  ``preprocess_frames``.
- :mod:`avlib.features.cache`: ``FeatureCache`` (atomic, keyed by file + parameters).
- :mod:`avlib.features.dataset`: ``extract_features`` (all cores, cache, ``SkipReport``).
"""
from importlib import import_module

__all__ = [
    "load_audio", "mfcc_per_video_frame", "logmel", "logmel_batch", "crop_choi", "logmel_choi", "logmel_han",
    "default_logmel_backend", "LOGMEL_BACKENDS",
    "frame_times", "sample_frames", "resize_frames", "preprocess_frames",
    "FeatureCache", "extract_features", "SkipReport",
]

_WHERE = {
    **{n: "audio" for n in ("load_audio", "mfcc_per_video_frame", "logmel", "logmel_batch", "crop_choi", "logmel_choi",
                            "logmel_han", "default_logmel_backend", "LOGMEL_BACKENDS")},
    **{n: "frames" for n in ("frame_times", "sample_frames", "resize_frames", "preprocess_frames")},
    "FeatureCache": "cache",
    "extract_features": "dataset",
    "SkipReport": "dataset",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f"avlib.features.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'avlib.features' has no attribute {name!r}")
