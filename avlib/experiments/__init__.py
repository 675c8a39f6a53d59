"""The papers' experiments, one package per paper and one module per job.

:mod:`avlib.experiments.icmr` reproduces ICMR 2017 (Slizovskaia, Gómez, Haro: instrument
recognition in user-generated video); its settings are :class:`avlib.config.icmr.ICMRConfig`.
:mod:`avlib.experiments.xflow` reproduces XFlow (Cangea, Veličković, Liò, IEEE TNNLS 2019:
cross-modal deep networks for audiovisual speech classification); its settings are
:class:`avlib.config.xflow.XFlowConfig`.
"""
