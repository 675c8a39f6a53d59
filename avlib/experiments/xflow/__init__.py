"""The XFlow experiments (Cangea, Veličković, Liò: "XFlow: Cross-modal Deep Neural Networks for
Audiovisual Classification", IEEE TNNLS 2019), one module per job.

Every setting comes from one :class:`avlib.config.xflow.XFlowConfig`. The modules, in the
order of their dependencies:

* :mod:`.inputs`: datasets, model inputs and per-fold preprocessing;
* :mod:`.crossval`: speaker-wise cross-validation of the XFlow models and the DTN (Tables
  IV-V, Figs. 7-8);
* :mod:`.holdout`: the hold-out split (Table VI) and the models behind the analyses;
* :mod:`.analysis`: what the connections learn (Figs. 9-11) and how far the runs converged;
* :mod:`.evidence`: the rows of the Claims page;
* :mod:`.tables`: Tables III-VI beside the paper's (the saved tables);
* :mod:`.display`: the same tables as a page prints them;
* :mod:`.figures`: the figures.

The generic protocols (speaker folds, the paper's and the clean protocol, seeds) are in
:mod:`avlib.train.protocols`; the models in :mod:`avlib.models.xflow` and
:mod:`avlib.models.dtn`.
"""
