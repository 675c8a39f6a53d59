"""ISMIR 2017 LBD (Slizovskaia, Gómez, Haro): correspondence between the audio and visual
networks of the ICMR 2017 model, trained as separate feature extractors or jointly.

Every setting is one :class:`avlib.config.ismir.ISMIRConfig` (it nests the ICMR settings it
trains with); each module does one job, in the order of their dependencies:

==================  ===========================================================================
module              job
==================  ===========================================================================
``data``            per-video log-mels and frames of both schemes (the ICMR inputs)
``schemes``         Figure 1: the feature-extraction and the joint scheme, per seed
``correspondence``  importance, top features, Spearman matrices, the claim per category
``evidence``        the Claims page's rows (the seed is the unit)
``tables``          the stored tables and the compact views the page shows
``gradcam``         Grad-CAM of the multimodal decision on log-mels and frames
``figures``         Figure 2, the per-category matrices, intra vs inter, Grad-CAM
==================  ===========================================================================
"""

from . import correspondence, data, evidence, figures, gradcam, schemes, tables

__all__ = ["correspondence", "data", "evidence", "figures", "gradcam", "schemes", "tables"]
