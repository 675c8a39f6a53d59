"""The embedded benchmarks by name: generate one (when missing) and return its folder."""

from __future__ import annotations

from .instruments import ensure_instrument_benchmark, ensure_yt8m_benchmark
from .speech import ensure_speech_benchmark

__all__ = ["BENCHMARKS", "ensure"]

BENCHMARKS = ("instruments", "instruments_yt8m", "avletters", "digits", "cuave")


def ensure(name: str, root, *, scale: str, seed: int = 0, n_jobs=None):
    """Generate (if needed) one embedded benchmark and return its folder."""
    if name == "instruments":
        return ensure_instrument_benchmark(root, scale=scale, seed=seed, n_jobs=n_jobs)
    if name == "instruments_yt8m":
        return ensure_yt8m_benchmark(root, scale=scale, seed=seed, n_jobs=n_jobs)
    return ensure_speech_benchmark(root, name, scale=scale, seed=seed, n_jobs=n_jobs)
