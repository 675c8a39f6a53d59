"""The ICMR 2017 experiments over several training seeds, and the convergence check.

The paper's comparisons (fusion vs audio only, pre-trained vs scratch, k frames, UC vs CC,
Xception vs Choi vs Han) are differences of a few points that one training run cannot
separate, so every page trains each model once per seed of ``cfg.seeds``, each seed with its own
:class:`~avlib.experiments.icmr.store.FeatureStore`: :func:`run_audio_seeds` (Table 3),
:func:`run_visual_seeds` (Table 2), :func:`run_fusion_seeds` (Table 4, Figure 2) and
:func:`run_youtube8m_seeds` (Figure 3). Every model is seeded on its own, so the order in which
runs execute changes no number; the intra-op thread count does, and is part of the
configuration (``workers``, ``torch_threads``).

:func:`convergence_check` trains a page's models again at ``check_epochs_factor`` times their
epochs (:func:`check_config`) and marks each claim whose effect moves by more than its
interval's half-width as not converged (:func:`avlib.claims.mark_convergence`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...claims import mark_convergence
from ...config.icmr import ICMRConfig
from ...errors import DataError, ParameterError
from ...train.parallel import run_tasks
from .audio import audio_label, run_audio_model
from .data import Benchmark, audio_inputs, frame_inputs
from .evidence import audio_evidence, fusion_evidence, visual_evidence
from .fusion import run_fusion_table
from .store import CHECK_SUB, FeatureStore, audio_tag, seed_store, stored_test_probs, visual_tag
from .visual import run_visual_model
from .youtube8m import run_youtube8m_figure

__all__ = [
    "run_audio_seeds",
    "run_visual_seeds",
    "run_fusion_seeds",
    "run_youtube8m_seeds",
    "check_config",
    "check_description",
    "convergence_check",
]

#: Relative cost of one cpu-scale audio run (measured: Choi ~50 s, Xception ~33 s, Han ~20 s),
#: used to hand the longest runs to the worker processes first.
_AUDIO_COST = {"choi2016": 3, "xception_audio": 2, "han2016": 1}


def _audio_task(args):
    """One audio run in a worker process with ``threads`` intra-op threads."""
    bench, cfg, name, crop, seed, store_root, threads, n_jobs = args
    torch.set_num_threads(int(threads))
    return run_audio_model(bench, cfg, name, crop, seed=seed, store=FeatureStore(store_root), n_jobs=n_jobs)


def _same_test_set(y_prev, y_new, seed):
    """The test labels shared by every seed (the claims pair seeds per test video)."""
    if y_new is None:
        return y_prev
    y_new = np.asarray(y_new)
    if y_prev is not None and not np.array_equal(np.asarray(y_prev), y_new):
        raise DataError(f"seed {seed} was tested on other videos than the previous seeds; "
                        "the per-video comparison needs one test set")
    return y_new


def _seeds(cfg: ICMRConfig, seeds) -> list:
    seeds = [int(s) for s in (cfg.seeds if seeds is None else seeds)]
    if not seeds:
        raise ParameterError("seeds must name at least one seed")
    return seeds


def run_audio_seeds(bench: Benchmark, cfg: ICMRConfig, *, data_root, source: str = "embedded", seeds=None,
                    models=None, workers: int | None = None, threads: int | None = None, n_jobs=None,
                    store_sub: str = "") -> dict:
    """Table 3's rows for every seed of ``seeds`` (default ``cfg.seeds``).

    Each (network, seed) run is :func:`~avlib.experiments.icmr.audio.run_audio_model` with the
    seed's store. The log-mels are extracted (and cached) first in this process; then the runs
    go to ``workers`` processes (default ``cfg.workers``) with ``threads`` intra-op threads
    each (default: 1 when ``workers > 1``, else the current setting). ``store_sub``: keep the
    runs in that sub-folder of each seed's store (the convergence check).

    Returns ``runs`` (one row per network and seed: method, crop, seed, params, metrics,
    timings), ``probs`` ({method: (n_seeds, n_test, C)}), ``y_test``, ``test_ids``, ``seeds``.
    """
    models = list(models or cfg.audio.models)
    seeds = _seeds(cfg, seeds)
    workers = int(cfg.workers if workers is None else workers)
    for name, crop in dict.fromkeys(models):  # extract once, in this process
        audio_inputs(bench, cfg, model=name, crop=crop, n_jobs=n_jobs)
    threads = int(threads or (1 if workers > 1 else torch.get_num_threads()))
    tasks = [(bench, cfg, name, crop, s, seed_store(data_root, cfg.scale, s, source, store_sub).root, threads,
              n_jobs) for s in seeds for name, crop in models]
    results = run_tasks(_audio_task, tasks, workers=workers, threads=threads,
                        cost=lambda t: _AUDIO_COST.get(t[2], 2))
    test = bench.split("test")
    test_ids = [str(v) for v in test["video_id"]]
    rows, probs = [], {}
    for (_, _, name, crop, s, root, _, _), r in zip(tasks, results):
        label = audio_label(name, crop)
        rows.append({"method": label, "seed": s, **{k: r[k] for k in (
            "crop", "params", "params_paper_input", "hit_at_1", "hit_at_3", "f1", "f1_macro", "epochs_run",
            "best_epoch", "train_seconds", "examples_per_s", "cached")}})
        probs.setdefault(label, []).append(stored_test_probs(FeatureStore(root), audio_tag(name, crop), test_ids))
    return {"runs": pd.DataFrame(rows), "probs": {k: np.stack(v) for k, v in probs.items()},
            "y_test": test["label"].to_numpy(), "test_ids": test_ids, "seeds": seeds}


def run_visual_seeds(bench: Benchmark, cfg: ICMRConfig, *, data_root, source: str = "embedded", seeds=None,
                     weights=None, n_jobs=None, device=None, store_sub: str = "") -> dict:
    """Table 2's rows (``visual.frames_grid`` x ``visual.pretrain_grid``) for every seed.

    Returns ``runs`` (frames, pretrained, seed, metrics, timings), ``probs``
    ({"k frames, PT/scratch": (n_seeds, n_test, C)}), ``y_test``, ``test_ids``, ``seeds``.
    """
    seeds = _seeds(cfg, seeds)
    frames = frame_inputs(bench, cfg, n_jobs=n_jobs)
    test = bench.split("test")
    test_ids = [str(v) for v in test["video_id"]]
    rows, probs = [], {}
    for s in seeds:
        store = seed_store(data_root, cfg.scale, s, source, store_sub)
        for k in cfg.visual.frames_grid:
            for pt in cfg.visual.pretrain_grid:
                r = run_visual_model(bench, cfg, k, pt, frames=frames, seed=s, store=store, weights=weights,
                                     device=device)
                rows.append({"frames": int(k), "pretrained": bool(pt), "seed": s, **{c: r.get(c) for c in (
                    "pretrain_source", "steps", "hit_at_1", "hit_at_3", "f1", "f1_macro", "epochs_run", "best_epoch",
                    "train_seconds", "pretrain_seconds", "examples_per_s", "cached")}})
                name = f"{k} frames, {'PT' if pt else 'scratch'}"
                probs.setdefault(name, []).append(stored_test_probs(store, visual_tag(k, pt), test_ids))
    return {"runs": pd.DataFrame(rows), "probs": {k: np.stack(v) for k, v in probs.items()},
            "y_test": test["label"].to_numpy(), "test_ids": test_ids, "seeds": seeds}


def run_fusion_seeds(bench: Benchmark, cfg: ICMRConfig, *, data_root, source: str = "embedded", seeds=None,
                     weights=None, n_jobs=None, device=None, first_only: bool = True, robustness: bool = True,
                     store_sub: str = "") -> dict:
    """Table 4 (and, for the first seed, the figures) for every seed.

    :func:`~avlib.experiments.icmr.fusion.run_fusion_table` per seed (stored unimodal runs are
    reused). ``first_only``: the robustness table for the first seed only (the page's figures
    use it); ``robustness=False``: not at all. Returns ``runs`` (method, model, seed, metrics),
    ``first`` (the first seed's full result), ``probs`` ({"<method> <model>": (n_seeds, n_test,
    C)}, with "<method> fusion, audio missing" / "<method> fusion, video missing"), ``y_test``
    (one test set for every seed, checked) and ``seeds``.
    """
    seeds = _seeds(cfg, seeds)
    rows, probs, first, y_test = [], {}, None, None
    for s in seeds:
        store = seed_store(data_root, cfg.scale, s, source, store_sub)
        res = run_fusion_table(bench, cfg, seed=s, store=store, weights=weights, n_jobs=n_jobs, device=device,
                               robustness=robustness and (first is None or not first_only))
        first = first or res
        rows.append(res["table"].assign(seed=s))
        for name, p in (res.get("test_probs") or {}).items():
            probs.setdefault(name, []).append(p)
        y_test = _same_test_set(y_test, res.get("y_test"), s)
    return {"runs": pd.concat(rows, ignore_index=True), "first": first, "seeds": seeds, "y_test": y_test,
            "probs": {k: np.stack(v) for k, v in probs.items()}}


def run_youtube8m_seeds(bench: Benchmark, cfg: ICMRConfig, *, data_root, source: str, seeds=None, weights=None,
                        n_jobs=None, device=None) -> dict:
    """:func:`~avlib.experiments.icmr.youtube8m.run_youtube8m_figure` per seed of the YouTube-8M
    page (default ``cfg.for_youtube8m().seeds``); tables 2-4 stacked with ``seed``.

    Returns ``table2``/``table3``/``table4`` (all seeds), ``first`` (the first seed's result,
    for Figure 3), ``probs``, ``y_test`` and ``seeds``.
    """
    seeds = _seeds(cfg.for_youtube8m(), seeds)
    tables = {"table2": [], "table3": [], "table4": []}
    probs, first, y = {}, None, None
    for s in seeds:
        res = run_youtube8m_figure(bench, cfg, seed=s, store=seed_store(data_root, cfg.scale, s, source),
                                   weights=weights, n_jobs=n_jobs, device=device)
        first = first or res
        for t in tables:
            tables[t].append(res[t].assign(seed=s))
        for name, p in (res.get("test_probs") or {}).items():
            probs.setdefault(name, []).append(p)
        y = _same_test_set(y, res.get("y_test"), s)
    return {**{t: pd.concat(v, ignore_index=True) for t, v in tables.items()},
            "probs": {k: np.stack(v) for k, v in probs.items()}, "first": first, "y_test": y, "seeds": seeds}


def _scaled(epochs, factor: float) -> int:
    """``epochs`` times ``factor``, rounded, at least one."""
    return max(1, int(round(int(epochs) * factor)))


def check_config(cfg: ICMRConfig) -> ICMRConfig | None:
    """The convergence check's configuration: every ICMR training (audio networks, frame
    classifier, fusion) at ``check_epochs_factor`` times its epochs (rounded, at least one);
    None when ``cfg`` has no check. The frozen backbone and its pre-training stay as they are:
    they stand for fixed ImageNet weights, not for a training of the page."""
    f = cfg.check_epochs_factor
    if not f:
        return None
    return cfg.with_overrides({
        **({"seeds": list(cfg.check_seeds)} if cfg.check_seeds else {}),
        "audio.epochs": _scaled(cfg.audio.epochs, f),
        "audio.epochs_override": [[m, _scaled(e, f)] for m, e in cfg.audio.epochs_override],
        "visual.epochs": _scaled(cfg.visual.epochs, f),
        "fusion.epochs": _scaled(cfg.fusion.epochs, f),
        "check_epochs_factor": None,
        "check_seeds": None,
    })


def check_description(cfg: ICMRConfig) -> str:
    """The check's epochs in words, for captions: "audio 2, frame classifier 15, fusion 2 epochs
    instead of 4, 30, 5"."""
    short = check_config(cfg)
    if short is None:
        return "no convergence check"
    on = f" (seed {', '.join(str(s) for s in cfg.check_seeds)})" if cfg.check_seeds else ""
    return (f"audio {short.audio.epochs}, frame classifier {short.visual.epochs}, fusion {short.fusion.epochs} "
            f"epochs instead of {cfg.audio.epochs}, {cfg.visual.epochs}, {cfg.fusion.epochs}{on}")


_PAGE_CHECKS = ("audio", "visual", "fusion")


def _on_seeds(res: dict, seeds) -> tuple:
    """``(y_test, probs)`` of a ``run_*_seeds`` result restricted to ``seeds``."""
    pos = [list(res["seeds"]).index(int(s)) for s in seeds]
    return res["y_test"], {k: np.asarray(v)[pos] for k, v in res["probs"].items()}


def convergence_check(page: str, bench: Benchmark, cfg: ICMRConfig, evidence, *, data_root,
                      source: str = "embedded", seeds=None, workers: int | None = None, n_jobs=None, weights=None,
                      n_boot: int | None = None, main: dict | None = None):
    """Train the models of one ICMR page (``"audio"``, ``"visual"`` or ``"fusion"``) again at
    :func:`check_config` and compare each of its claims with the effect measured there
    (:func:`avlib.claims.mark_convergence`, which marks ``evidence`` in place). Returns the
    comparison table, or None when ``cfg`` has no check.

    The shorter runs live in the :data:`~avlib.experiments.icmr.store.CHECK_SUB` folder of each
    seed's store, so the other pages keep reading the full-length runs. The fusion check reuses
    the audio and frame runs of the audio and visual checks when they are there, so every model
    under a fusion row is trained at the shorter length. Only the seeds of ``cfg.check_seeds``
    are trained again (default ``seeds``, else every seed); with fewer seeds than the page,
    ``main`` (the page's ``run_*_seeds`` result) gives the same rows on those seeds at full
    length, and each change is measured on the same seeds at both lengths.
    """
    if page not in _PAGE_CHECKS:
        raise ParameterError(f"page must be one of {list(_PAGE_CHECKS)}, not {page!r}")
    short = check_config(cfg)
    if short is None:
        return None
    kw = {} if n_boot is None else {"n_boot": n_boot}
    page_seeds = [int(s) for s in (seeds if seeds is not None else cfg.seeds)]
    checked = [int(s) for s in cfg.check_seeds] if cfg.check_seeds else page_seeds
    common = {"seeds": checked, "data_root": data_root, "source": source, "n_jobs": n_jobs, "store_sub": CHECK_SUB}
    rows = {"audio": audio_evidence, "visual": visual_evidence, "fusion": fusion_evidence}[page]
    if page == "audio":
        res = run_audio_seeds(bench, short, workers=workers, **common)
    elif page == "visual":
        res = run_visual_seeds(bench, short, weights=weights, **common)
    else:
        res = run_fusion_seeds(bench, short, weights=weights, robustness=False, **common)
    check = rows(res["y_test"], res["probs"], **kw)
    matched = None
    if sorted(checked) != sorted(page_seeds):
        if main is None:
            raise ParameterError("the check trains fewer seeds than the page: pass the page's result as main=")
        matched = rows(*_on_seeds(main, checked), **kw)
    return mark_convergence(evidence, check, what=check_description(cfg), matched=matched)
