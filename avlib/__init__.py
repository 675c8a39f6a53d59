"""avlib: a small library reproducing three audiovisual deep-learning papers.

- ICMR 2017: musical-instrument recognition in user-generated video (audio CNNs,
  Inception v3 frames, late fusion).
- ISMIR 2017 LBD: correspondence between the audio and visual networks.
- XFlow (2018): cross-modal networks with 2D<->1D cross- and residual connections.

Subpackages: ``data`` (readers and embedded-benchmark generators), ``features``
(audio and frame features), ``models`` (one file per family), ``train``,
``metrics``, ``analysis``; ``run`` is the papermill experiment runner.
"""

from . import numerics as _numerics

# Before NumPy or PyTorch load: hold every library to one floating-point path, so that the same
# seed gives the same numbers on every x86-64 machine with AVX2 (see avlib.numerics).
_numerics.select_fp_path()

__version__ = "0.1.0"
__all__ = ["__version__"]
