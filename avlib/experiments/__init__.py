"""The papers' experiments, one package per paper and one module per job.

:mod:`avlib.experiments.icmr` reproduces ICMR 2017 (Slizovskaia, Gómez, Haro: instrument
recognition in user-generated video); its settings are :class:`avlib.config.icmr.ICMRConfig`.
"""
