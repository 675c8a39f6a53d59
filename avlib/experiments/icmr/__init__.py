"""ICMR 2017 (Slizovskaia, Gómez, Haro): instrument recognition in user-generated video.

Every setting is one :class:`avlib.config.icmr.ICMRConfig`; each module does one job:

================  ===============================================================================
module            job
================  ===============================================================================
``data``          the benchmark, its official split and the networks' inputs
``store``         stored runs per seed (features, probabilities, weights), their tags
``scoring``       predictions, penultimate features, Hit@1 / Hit@3 / weighted F1
``audio``         Table 3: the audio networks
``visual``        Table 2: Inception v3 on frames (fine-tuned, or a frozen backbone)
``fusion``        Table 4 and Figure 2: late fusion of the stored features
``feature_files`` late fusion from feature files in the authors' layout
``robustness``    missing or degraded modalities (the abstract's robustness claim)
``youtube8m``     Figure 3 and the YouTube-8M rows on the YouTube-8M-style variant
``seeds``         every page over several training seeds; the convergence check
``evidence``      the paper's claims: paired two-level bootstrap over seeds and test videos
``tables``        the paper's numbers beside ours, each page's tables, fidelity options
``display``       the tables as the pages print them (intervals in the cell, readable names)
``figures``       confusion matrices and the robustness figure
``throughput``    Table 2's workloads on our code and on a Titan X
================  ===============================================================================
"""

from . import (
    audio,
    data,
    display,
    evidence,
    feature_files,
    figures,
    fusion,
    robustness,
    scoring,
    seeds,
    store,
    tables,
    throughput,
    visual,
    youtube8m,
)

__all__ = ["audio", "data", "display", "evidence", "feature_files", "figures", "fusion", "robustness", "scoring", "seeds",
           "store", "tables", "throughput", "visual", "youtube8m"]
