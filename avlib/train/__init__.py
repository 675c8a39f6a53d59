"""Training: a lean generic loop (:mod:`avlib.train.loop`) and per-paper experiment functions."""

from .loop import History, TrainConfig, evaluate, fit, predict

__all__ = ["TrainConfig", "History", "fit", "predict", "evaluate"]
