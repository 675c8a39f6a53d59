"""Experiment configurations: one frozen, nested dataclass per paper (see :mod:`avlib.config.base`):
:class:`ICMRConfig` (ICMR 2017), :class:`ISMIRConfig` (ISMIR 2017, which nests the ICMR settings it
trains with) and :class:`XFlowConfig` (XFlow); the datasheet pages' :class:`InstrumentsDatasheetConfig`
and :class:`SpeechDatasheetConfig`."""

from .base import Config, flatten, nest_dotted
from .datasheets import InstrumentsDatasheetConfig, SpeechDatasheetConfig
from .icmr import ICMRConfig
from .ismir import ISMIRConfig
from .xflow import XFlowConfig

__all__ = ["Config", "flatten", "nest_dotted", "ICMRConfig", "ISMIRConfig", "XFlowConfig", "InstrumentsDatasheetConfig",
           "SpeechDatasheetConfig"]
