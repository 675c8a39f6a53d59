"""ICMR 2017 experiments over several seeds, with intervals and the claims' evidence (issue 12).

The ICMR pages compare accuracies (fusion vs audio only, PT vs no PT, k frames, UC vs CC,
Xception vs Choi vs Han). One seed cannot separate them, so each page trains every model
once per seed of ``seeds`` (the :mod:`avlib.train.icmr` run functions, one
:class:`~avlib.train.icmr.FeatureStore` per seed) and reports

* the mean over seeds with its Student-t 95 % interval (:func:`seed_summary`,
  :func:`avlib.metrics.stats.mean_ci`);
* a two-level bootstrap interval of each model's seed-averaged Hit@1 (:func:`bootstrap_summary`):
  seeds, then test videos, both resampled;
* the claims of ``avlib/reference/claims.yaml`` (:func:`audio_evidence`, :func:`visual_evidence`,
  :func:`fusion_evidence`; positive = the paper's direction, percentage points). Each row is a
  paired two-level bootstrap (:func:`bootstrap_evidence`,
  :func:`avlib.metrics.stats.two_level_bootstrap`) of the per-video predictions of the two
  models it compares: every replicate resamples the training seeds, then the test videos (the
  same videos for both models), so the interval holds both the training randomness and the
  test-set sampling; 1,000 replicates with a fixed bootstrap seed (deterministic table). The
  metric of each row is the one its claims.yaml wording quotes (:data:`CLAIM_ROWS`): Hit@1, or
  the support-weighted F1 that the paper's F1 column is
  (:func:`avlib.metrics.classification.weighted_f1`).

Speed (cpu preset): independent (model, seed) audio runs can go to ``workers`` processes with
one intra-op thread each (:func:`run_audio_seeds`); the frame model can run with a frozen
Inception v3 backbone whose per-frame features are computed once and cached
(:func:`run_visual_model_frozen`, selected by ``ICMRPreset.visual_backbone == "frozen"``).

Same seed, same numbers: the result tables keep no wall-clock columns; timings go to a
separate table (:func:`split_timings`), which the determinism check leaves out.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import DataError, ParameterError

__all__ = [
    "TIMING_COLUMNS",
    "split_timings",
    "seed_summary",
    "with_intervals",
    "bootstrap_summary",
    "paired_metric",
    "run_audio_seeds",
    "run_visual_seeds",
    "run_fusion_seeds",
    "run_youtube8m_seeds",
    "CHECK_SUB",
    "check_preset",
    "check_description",
    "convergence_check",
    "CLAIM_ROWS",
    "N_BOOT",
    "BOOT_SEED",
    "predictions_of",
    "bootstrap_evidence",
    "audio_evidence",
    "visual_evidence",
    "fusion_evidence",
    "missing_modality_summary",
    "missing_modality_text",
    "frozen_backbone_features",
    "run_visual_model_frozen",
]

_METRICS = ("hit_at_1", "hit_at_3", "f1", "f1_macro")  # f1: weighted (the paper's); f1_macro: ours only

#: Columns that measure time or say where a number came from (stored run or fresh): they
#: differ between two runs of the same seed and are kept out of the result tables.
TIMING_COLUMNS = ("train_seconds", "pretrain_seconds", "examples_per_s", "cached", "seconds")


def split_timings(df: pd.DataFrame, *, keys=("seed", "method", "crop", "frames", "pretrained", "model")):
    """``(results, timings)``: ``df`` without :data:`TIMING_COLUMNS`, and those columns with the keys."""
    tcols = [c for c in df.columns if c in TIMING_COLUMNS]
    kcols = [c for c in keys if c in df.columns]
    return df.drop(columns=tcols), df[kcols + tcols].copy()


# --------------------------------------------------------------------------- intervals
def seed_summary(runs: pd.DataFrame, *, by, metrics=_METRICS, carry=(), confidence: float = 0.95) -> pd.DataFrame:
    """Mean over seeds with its Student-t interval, per group of ``by``.

    ``runs``: one row per (group, seed) with the ``metrics``. Returns one row per group (in
    first-appearance order) with ``<metric>`` (the mean), ``<metric>_lo``, ``<metric>_hi``,
    ``<metric>_sd``, ``n_seeds`` and the first value of each ``carry`` column (e.g. params).
    Metrics absent from ``runs`` are skipped.
    """
    from ..metrics.stats import mean_ci

    by = [by] if isinstance(by, str) else list(by)
    metrics = [m for m in metrics if m in runs]
    rows = []
    for key, grp in runs.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        for m in metrics:
            vals = grp[m].dropna().to_numpy(float)
            if len(vals) == 0:
                row.update({m: np.nan, f"{m}_lo": np.nan, f"{m}_hi": np.nan, f"{m}_sd": np.nan})
                continue
            ci = mean_ci(vals, confidence=confidence, bounds=(0, 100))  # metrics in %
            row.update({m: ci.mean, f"{m}_lo": ci.lo, f"{m}_hi": ci.hi,
                        f"{m}_sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else np.nan})
        row["n_seeds"] = int(grp["seed"].nunique()) if "seed" in grp else len(grp)
        row.update({c: grp[c].iloc[0] for c in carry if c in grp})
        rows.append(row)
    return pd.DataFrame(rows)


def with_intervals(table: pd.DataFrame, summary: pd.DataFrame, *, on, boot: pd.DataFrame | None = None,
                   metrics=_METRICS, digits: int = 1) -> pd.DataFrame:
    """A paper-beside-ours table plus, per metric, ``ours ± 95 % (seeds)`` text columns.

    ``table``: e.g. :func:`avlib.train.icmr.table3_side_by_side` of ``summary``; ``boot``:
    :func:`bootstrap_summary` (adds ``hit_at_1 95% CI (seeds x test videos)``). F1 columns are
    labelled as in the paper-beside-ours tables (``weighted F1``, ``macro F1``).
    """
    from .icmr import F1_LABELS

    on = [on] if isinstance(on, str) else list(on)
    s = summary.copy()
    cols = []
    for m in [m for m in metrics if f"{m}_lo" in summary]:
        name = f"{F1_LABELS.get(m, m)} 95% CI (seeds)"
        s[name] = [f"[{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
                   for lo, hi in zip(s[f"{m}_lo"], s[f"{m}_hi"])]
        cols.append(name)
    keep = on + cols + ["n_seeds"]
    if boot is not None:
        b = boot.copy()
        name = "hit_at_1 95% CI (seeds x test videos)"
        b[name] = [f"[{lo:.{digits}f}, {hi:.{digits}f}]" for lo, hi in zip(b["lo"], b["hi"])]
        s = s.merge(b[on + [name, "n_test"]], on=on, how="left")
        keep += [name, "n_test"]
    t = table.copy()
    for c in on:  # the tables may carry keys as text ("yes"/"no")
        if c in t and c in s and t[c].dtype != s[c].dtype:
            s[c] = s[c].map(lambda v: ("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else v)
    return t.merge(s[keep], on=on, how="left")


def bootstrap_summary(y_test, probs: dict, *, n_boot: int = 1000, seed: int = 0,
                      confidence: float = 0.95, key: str = "method") -> pd.DataFrame:
    """Two-level bootstrap interval of each model's seed-averaged Hit@1.

    ``probs``: ``{name: (n_seeds, n_test, C)}`` test-video probabilities per seed (or predicted
    labels ``(n_seeds, n_test)``), videos in the order of ``y_test``. Each replicate resamples the
    seeds, then the test videos (:func:`avlib.metrics.stats.two_level_bootstrap` with one model),
    so the interval holds both the training randomness and the test-set size. Videos without
    scores are left out (as in the tables). Returns ``key``, ``hit_at_1``, ``lo``, ``hi``,
    ``n_test``, ``n_seeds``.
    """
    from ..metrics.stats import two_level_bootstrap

    y = np.asarray(y_test)
    rows = []
    for name, p in probs.items():
        lab = predictions_of(p)
        if lab.shape[1] != len(y):
            raise ParameterError(f"{name}: {lab.shape[1]} test videos, y_test has {len(y)}")
        b = two_level_bootstrap(y, lab, None, _hit1, n_boot=n_boot, seed=seed, confidence=confidence)
        rows.append({key: name, "hit_at_1": b.mean, "lo": b.lo, "hi": b.hi, "n_test": b.n_items,
                     "n_seeds": b.n_seeds})
    return pd.DataFrame(rows)


def paired_metric(runs: pd.DataFrame, a: dict, b: dict, *, metric: str = "hit_at_1", pair=("seed",)):
    """Arrays ``(a_values, b_values)`` of ``metric`` for the rows selected by ``a`` and ``b``
    (column -> value), paired on the ``pair`` columns (inner join, sorted)."""
    pair = list(pair)

    def sel(cond):
        m = np.ones(len(runs), bool)
        for c, v in cond.items():
            m &= (runs[c] == v).to_numpy()
        return runs[m][pair + [metric]]

    j = sel(a).merge(sel(b), on=pair, suffixes=("_a", "_b")).sort_values(pair)
    return j[f"{metric}_a"].to_numpy(float), j[f"{metric}_b"].to_numpy(float)


# --------------------------------------------------------------------------- runners
def _same_test_set(y_prev, y_new, seed):
    """The test labels shared by every seed (the claims pair seeds per test video): raises if a
    seed's test set differs from the previous seeds'."""
    if y_new is None:
        return y_prev
    y_new = np.asarray(y_new)
    if y_prev is not None and not np.array_equal(np.asarray(y_prev), y_new):
        raise DataError(f"seed {seed} was tested on other videos than the previous seeds; "
                        "the per-video comparison needs one test set")
    return y_new


def _store(data_root, scale, seed, source, sub: str = ""):
    """The seed's feature store; ``sub`` names a separate folder inside it (the convergence
    check's shorter runs live there, so they never replace the runs the other pages read)."""
    from .icmr import FeatureStore

    store = FeatureStore.for_run(data_root, scale=scale, seed=seed, source=source)
    return FeatureStore(store.root / sub) if sub else store


def _test_probs(store, tag, test_ids):
    """Stored test probabilities of run ``tag`` in the order of ``test_ids`` (NaN where absent)."""
    r = store.load(tag)
    if r is None:
        raise DataError(f"{store.root} holds no run {tag}")
    pos = {str(v): i for i, v in enumerate(r["ids"])}
    C = r["probs"].shape[1]
    return np.stack([r["probs"][pos[v]] if v in pos else np.full(C, np.nan) for v in test_ids])


def _audio_task(args):
    """One audio run in a worker process (``threads`` intra-op threads)."""
    bench, preset, name, crop, seed, store_root, threads, n_jobs = args
    from .icmr import FeatureStore, run_audio_model

    torch.set_num_threads(int(threads))
    return run_audio_model(bench, preset, name, crop, seed=seed, store=FeatureStore(store_root), n_jobs=n_jobs)


#: Relative cost of one cpu audio run (measured: Choi ~50 s, Xception ~33 s, Han ~20 s), used
#: to hand the longest runs to the worker processes first.
_AUDIO_COST = {"choi2016": 3, "xception_audio": 2, "han2016": 1}


def _run_tasks(fn, tasks, workers: int, cost=None):
    """``[fn(t) for t in tasks]``, in ``workers`` processes when > 1. With ``cost`` (a
    function of a task) the costliest tasks start first, which shortens the idle tail; the
    results keep the order of ``tasks`` (each task is seeded on its own, so the order in
    which they run changes no number)."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    order = list(range(len(tasks)))
    if cost is not None:
        order.sort(key=lambda i: -cost(tasks[i]))  # stable: ties keep their order
    with ProcessPoolExecutor(max_workers=int(workers), mp_context=mp.get_context("spawn")) as ex:
        done = list(ex.map(fn, [tasks[i] for i in order]))
    out = [None] * len(tasks)
    for i, r in zip(order, done):
        out[i] = r
    return out


def _audio_label(name, crop):
    from .icmr import _PAPER_AUDIO_NAMES

    return _PAPER_AUDIO_NAMES[name] + ("" if name == "han2016" else f" + {crop.upper()}")


def run_audio_seeds(bench, preset, *, seeds, data_root, source: str = "embedded", models=None,
                    workers: int = 1, threads: int | None = None, n_jobs=None, store_sub: str = "") -> dict:
    """Table 3 rows for every seed of ``seeds``.

    Each (model, seed) run is :func:`avlib.train.icmr.run_audio_model` with the seed's
    :class:`~avlib.train.icmr.FeatureStore`. The log-mels are extracted (and cached) first in
    this process; then the runs go to ``workers`` processes with ``threads`` intra-op threads
    each (default: 1 when ``workers > 1``, else the current setting). The numbers depend on
    the thread count, so keep it fixed to repeat a run exactly. ``store_sub``: keep the runs in
    that sub-folder of each seed's store (see :func:`convergence_check`).

    Returns ``runs`` (one row per model and seed: method, crop, seed, params, metrics,
    timings), ``probs`` ({method: (n_seeds, n_test, C)}), ``y_test``, ``test_ids``, ``seeds``.
    """
    from .icmr import FeatureStore, _audio_tag, audio_inputs

    models = list(models or preset.audio_models)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ParameterError("seeds must name at least one seed")
    for name, crop in dict.fromkeys(models):  # extract once, in this process
        audio_inputs(bench, model=name, crop=crop, preset=preset, n_jobs=n_jobs)
    threads = int(threads or (1 if workers > 1 else torch.get_num_threads()))
    tasks = [(bench, preset, name, crop, s, _store(data_root, preset.scale, s, source, store_sub).root, threads,
              n_jobs) for s in seeds for name, crop in models]
    results = _run_tasks(_audio_task, tasks, workers, cost=lambda t: _AUDIO_COST.get(t[2], 2))
    test = bench.split("test")
    test_ids = [str(v) for v in test["video_id"]]
    rows, probs = [], {}
    for (_, _, name, crop, s, root, _, _), r in zip(tasks, results):
        label = _audio_label(name, crop)
        rows.append({"method": label, "seed": s, **{k: r[k] for k in (
            "crop", "params", "params_paper_input", "hit_at_1", "hit_at_3", "f1", "f1_macro", "epochs_run",
            "best_epoch", "train_seconds", "examples_per_s", "cached")}})
        probs.setdefault(label, []).append(_test_probs(FeatureStore(root), _audio_tag(name, crop), test_ids))
    return {"runs": pd.DataFrame(rows), "probs": {k: np.stack(v) for k, v in probs.items()},
            "y_test": test["label"].to_numpy(), "test_ids": test_ids, "seeds": seeds}


#: Where each page's convergence check keeps its shorter runs, inside every seed's store.
CHECK_SUB = "check"


def check_preset(preset):
    """The preset of the convergence check: every ICMR training (audio networks, frame
    classifier, fusion) at ``preset.check_epochs_factor`` times its epochs (rounded, at least
    one); None when the preset has no check. The frozen backbone and its pre-training stay
    as they are: they stand for fixed ImageNet weights, not for a training of the page."""
    from dataclasses import replace

    from .protocols import scale_epochs

    f = preset.check_epochs_factor
    if not f:
        return None
    return replace(preset, audio_epochs=scale_epochs(preset.audio_epochs, f),
                   audio_epochs_override=tuple((m, scale_epochs(e, f)) for m, e in preset.audio_epochs_override),
                   visual_epochs=scale_epochs(preset.visual_epochs, f),
                   fusion_epochs=scale_epochs(preset.fusion_epochs, f), check_epochs_factor=None)


def check_description(preset) -> str:
    """The check's epochs in words, for captions: "audio 2, frame classifier 15, fusion 2 epochs
    instead of 4, 30, 5"."""
    short = check_preset(preset)
    if short is None:
        return "no convergence check"
    return (f"audio {short.audio_epochs}, frame classifier {short.visual_epochs}, fusion {short.fusion_epochs} "
            f"epochs instead of {preset.audio_epochs}, {preset.visual_epochs}, {preset.fusion_epochs}")


_PAGE_CHECKS = ("audio", "visual", "fusion")


def convergence_check(page: str, bench, preset, evidence, *, seeds, data_root, source: str = "embedded",
                      workers: int = 1, n_jobs=None, weights=None, n_boot: int | None = None):
    """Train the models of one ICMR page (``"audio"``, ``"visual"`` or ``"fusion"``) again at
    :func:`check_preset` and compare each of its claims with the effect measured there
    (:func:`avlib.claims.mark_convergence`, which marks ``evidence`` in place). Returns the
    comparison table, or None when the preset has no check.

    The shorter runs live in the :data:`CHECK_SUB` folder of each seed's store, so the other
    pages keep reading the full-length runs. The fusion check reuses the audio and frame
    runs of the audio and visual checks when they are there (as the fusion page reuses the
    full-length ones), so every model under a fusion row is trained at the shorter length.
    """
    from ..claims import mark_convergence

    if page not in _PAGE_CHECKS:
        raise ParameterError(f"page must be one of {list(_PAGE_CHECKS)}, not {page!r}")
    short = check_preset(preset)
    if short is None:
        return None
    kw = {} if n_boot is None else {"n_boot": n_boot}
    if page == "audio":
        res = run_audio_seeds(bench, short, seeds=seeds, data_root=data_root, source=source, workers=workers,
                              n_jobs=n_jobs, store_sub=CHECK_SUB)
        check = audio_evidence(res["y_test"], res["probs"], **kw)
    elif page == "visual":
        res = run_visual_seeds(bench, short, seeds=seeds, data_root=data_root, source=source, weights=weights,
                               n_jobs=n_jobs, store_sub=CHECK_SUB)
        check = visual_evidence(res["y_test"], res["probs"], **kw)
    else:
        res = run_fusion_seeds(bench, short, seeds=seeds, data_root=data_root, source=source, weights=weights,
                               n_jobs=n_jobs, store_sub=CHECK_SUB, robustness=False)
        check = fusion_evidence(res["y_test"], res["probs"], **kw)
    return mark_convergence(evidence, check, what=check_description(preset))


def run_visual_seeds(bench, preset, *, seeds, data_root, source: str = "embedded", weights=None,
                     n_jobs=None, device=None, store_sub: str = "") -> dict:
    """Table 2 rows (``frames_grid`` x ``pretrain_grid``) for every seed of ``seeds``
    (``store_sub``: keep the runs in that sub-folder of each seed's store).

    Returns ``runs`` (frames, pretrained, seed, metrics, timings), ``probs``
    ({"k frames, PT/scratch": (n_seeds, n_test, C)}), ``y_test``, ``test_ids``, ``seeds``.
    """
    from .icmr import _visual_tag, frame_inputs, run_visual_model

    seeds = [int(s) for s in seeds]
    frames = frame_inputs(bench, preset=preset, n_jobs=n_jobs)
    test = bench.split("test")
    test_ids = [str(v) for v in test["video_id"]]
    rows, probs = [], {}
    for s in seeds:
        store = _store(data_root, preset.scale, s, source, store_sub)
        for k in preset.frames_grid:
            for pt in preset.pretrain_grid:
                r = run_visual_model(bench, preset, k, pt, frames=frames, seed=s, store=store, weights=weights,
                                     device=device)
                rows.append({"frames": int(k), "pretrained": bool(pt), "seed": s, **{c: r.get(c) for c in (
                    "pretrain_source", "steps", "hit_at_1", "hit_at_3", "f1", "f1_macro", "epochs_run", "best_epoch",
                    "train_seconds", "pretrain_seconds", "examples_per_s", "cached")}})
                name = f"{k} frames, {'PT' if pt else 'scratch'}"
                probs.setdefault(name, []).append(_test_probs(store, _visual_tag(k, pt), test_ids))
    return {"runs": pd.DataFrame(rows), "probs": {k: np.stack(v) for k, v in probs.items()},
            "y_test": test["label"].to_numpy(), "test_ids": test_ids, "seeds": seeds}


def run_fusion_seeds(bench, preset, *, seeds, data_root, source: str = "embedded", weights=None,
                     n_jobs=None, device=None, first_only: bool = True, robustness: bool = True,
                     store_sub: str = "") -> dict:
    """Table 4 (and, for the first seed, the figures) for every seed of ``seeds``.

    :func:`avlib.train.icmr.run_fusion_table` per seed (stored unimodal runs are reused).
    ``first_only``: the robustness table is computed for the first seed only (the figures of
    the page use the first seed's result); ``robustness=False``: not at all. ``store_sub``:
    the runs of that sub-folder of each seed's store (the convergence check).
    Returns ``runs`` (method, model, seed, metrics), ``first`` (the first seed's full
    result), ``probs`` ({"<method> <model>": (n_seeds, n_test, C)}, with the fusion models'
    "<method> fusion, audio missing" / "<method> fusion, video missing"), ``y_test`` (one test
    set for every seed, checked), ``seeds``.
    """
    from .icmr import run_fusion_table

    seeds = [int(s) for s in seeds]
    rows, probs, first, y_test = [], {}, None, None
    for s in seeds:
        store = _store(data_root, preset.scale, s, source, store_sub)
        res = run_fusion_table(bench, preset, seed=s, store=store, weights=weights, n_jobs=n_jobs, device=device,
                               robustness=robustness and (first is None or not first_only))
        first = first or res
        t = res["table"].assign(seed=s)
        rows.append(t)
        for name, p in (res.get("test_probs") or {}).items():
            probs.setdefault(name, []).append(p)
        y_test = _same_test_set(y_test, res.get("y_test"), s)
    out = {"runs": pd.concat(rows, ignore_index=True), "first": first, "seeds": seeds, "y_test": y_test,
           "probs": {k: np.stack(v) for k, v in probs.items()}}
    return out


def run_youtube8m_seeds(bench, preset, *, seeds, data_root, source: str, weights=None, n_jobs=None,
                        device=None) -> dict:
    """:func:`avlib.train.icmr.run_youtube8m_figure` per seed; tables 2-4 stacked with ``seed``.

    Returns ``table2``/``table3``/``table4`` (all seeds), ``first`` (the first seed's result,
    for Figure 3), ``probs`` ({"<method> <model>": (n_seeds, n_test, C)}), ``y_test``, ``seeds``.
    """
    from .icmr import run_youtube8m_figure

    seeds = [int(s) for s in seeds]
    out = {"table2": [], "table3": [], "table4": [], "probs": {}}
    first, y = None, None
    for s in seeds:
        store = _store(data_root, preset.scale, s, source)
        res = run_youtube8m_figure(bench, preset, seed=s, store=store, weights=weights, n_jobs=n_jobs, device=device)
        first = first or res
        for t in ("table2", "table3", "table4"):
            out[t].append(res[t].assign(seed=s))
        for name, p in (res.get("test_probs") or {}).items():
            out["probs"].setdefault(name, []).append(p)
        y = _same_test_set(y, res.get("y_test"), s)
    out = {t: pd.concat(v, ignore_index=True) if t.startswith("table") else v for t, v in out.items()}
    out["probs"] = {k: np.stack(v) for k, v in out["probs"].items()}
    out.update(first=first, y_test=y, seeds=seeds)
    return out


# --------------------------------------------------------------------------- claims
#: Replicates and bootstrap seed of every ICMR claim row (fixed: the table is deterministic).
N_BOOT = 1000
BOOT_SEED = 0

#: Metric names as the claim rows and the book print them.
METRIC_LABELS = {"hit_at_1": "Hit@1", "f1": "weighted F1"}

#: The ICMR claim rows: ``claim -> (page, metric, a, b, what)``. ``a`` and ``b`` name the
#: models compared (keys of the page's ``probs``; the visual rows name a frames/pre-training
#: contrast instead); the effect is ``metric(a) - metric(b)``, positive = the paper's direction.
#: The metric is the one the claim's wording in claims.yaml quotes: Hit@1 where the paper
#: quotes Hit@1 (Tables 3-4, fusion), the support-weighted F1 where it quotes F1 (audio vs
#: video: "F1 = 79.35 for audio vs F1 = 71.23 for video"; frames: "F1 = 71.23 ... vs F1 = 43.16").
CLAIM_ROWS = {
    "icmr_uc_ge_cc": ("icmr_audio", "hit_at_1", "Choi et al. 2016 + UC", "Choi et al. 2016 + CC",
                      "Choi UC minus Choi CC"),
    "icmr_xception_ge_choi": ("icmr_audio", "hit_at_1", "Xception + UC", "Choi et al. 2016 + UC",
                              "Xception UC minus Choi UC"),
    "icmr_choi_ge_han": ("icmr_audio", "hit_at_1", "Choi et al. 2016 + UC", "Han et al. 2016",
                         "Choi UC minus Han et al. 2016"),
    "icmr_pretraining_helps": ("icmr_visual", "hit_at_1", "PT", "scratch",
                               "pre-trained minus from-scratch frame model, paired by frames"),
    "icmr_more_frames_help": ("icmr_visual", "f1", "most frames", "fewest frames",
                              "most minus fewest training frames per video, paired by pre-training"),
    "icmr_fusion_beats_audio": ("icmr_fusion", "hit_at_1", "Xception fusion", "Xception audio only",
                                "Xception fusion minus Xception UC audio only"),
    "icmr_fusion_beats_video": ("icmr_fusion", "hit_at_1", "Xception fusion", "Inception v3 video only",
                                "Xception fusion minus Inception v3 video only"),
    "icmr_audio_beats_video": ("icmr_fusion", "f1", "Xception audio only", "Inception v3 video only",
                               "Xception UC audio only (the paper's 79.35) minus Inception v3 video only (71.23)"),
    "icmr_fusion_missing_audio": ("icmr_fusion", "hit_at_1", "Xception fusion, audio missing",
                                  "Inception v3 video only",
                                  "Xception fusion with the audio row zeroed minus Inception v3 video only"),
    "icmr_fusion_missing_video": ("icmr_fusion", "hit_at_1", "Xception fusion, video missing",
                                  "Xception audio only",
                                  "Xception fusion with every frame row zeroed minus Xception UC audio only"),
}


def predictions_of(p) -> np.ndarray:
    """Predicted labels ``(n_seeds, n)`` of probabilities ``(n_seeds, n, C)`` (the tie rule of
    :func:`avlib.metrics.classification.predicted_labels`); a video whose scores are not finite
    (no usable input) gets -1 and is left out of the metrics, as in the tables. Integer label
    arrays ``(n_seeds, n)`` (or ``(n_seeds, n, K)`` for K paired settings) pass unchanged."""
    from ..metrics.classification import predicted_labels

    p = np.asarray(p)
    if np.issubdtype(p.dtype, np.integer):
        return p.astype(np.int64)
    if p.ndim != 3:
        raise ParameterError(f"probabilities must be (n_seeds, n, C), got {p.shape}")
    out = np.full(p.shape[:2], -1, np.int64)
    for i, ps in enumerate(p):
        ok = np.isfinite(ps).all(axis=1)
        if ok.any():
            out[i, ok] = predicted_labels(ps[ok])
    return out


def _valid(y, pred):
    ok = pred >= 0
    return y[ok], pred[ok]


def _hit1(y, pred) -> float:
    """Hit@1 (%) of labels ``pred`` (-1 = missing, left out); ``pred (n, K)``: mean over the K settings."""
    pred = np.asarray(pred)
    if pred.ndim == 2:
        return float(np.mean([_hit1(y, pred[:, j]) for j in range(pred.shape[1])]))
    yy, pp = _valid(np.asarray(y), pred)
    return 100.0 * float(np.mean(yy == pp)) if len(yy) else float("nan")


def _wf1(y, pred) -> float:
    """Support-weighted F1 (%) of labels ``pred`` (-1 = missing, left out); ``(n, K)``: mean over K."""
    from ..metrics.classification import f1_from_labels

    pred = np.asarray(pred)
    if pred.ndim == 2:
        return float(np.mean([_wf1(y, pred[:, j]) for j in range(pred.shape[1])]))
    yy, pp = _valid(np.asarray(y), pred)
    return f1_from_labels(yy, pp, average="weighted") if len(yy) else float("nan")


#: Metric functions of the claim rows on predicted labels.
CLAIM_METRICS = {"hit_at_1": _hit1, "f1": _wf1}


def bootstrap_evidence(claim: str, y_test, pred_a, pred_b, *, metric: str, what: str, n_boot: int = N_BOOT,
                       seed: int = BOOT_SEED, confidence: float = 0.95):
    """One claim row: paired two-level bootstrap of ``metric(a) - metric(b)``.

    ``pred_a``, ``pred_b``: predicted labels ``(n_seeds, n_test)`` (or probabilities
    ``(n_seeds, n_test, C)``, or labels ``(n_seeds, n_test, K)`` for K paired settings whose
    metric is averaged), seed ``i`` of ``a`` paired with seed ``i`` of ``b`` and videos in the
    order of ``y_test``. Each replicate resamples the seeds, then the test videos, the same
    videos for both models (:func:`avlib.metrics.stats.two_level_bootstrap`). The effect is the
    mean over seeds of the difference on the full test set, the interval the bootstrap
    percentile interval, ``se`` the replicates' SD (:func:`avlib.claims.from_bootstrap`); ``n``
    is the number of test videos and ``unit`` says "test videos x <seeds> seeds".
    """
    from dataclasses import replace

    from ..claims import from_bootstrap
    from ..metrics.stats import two_level_bootstrap

    y = np.asarray(y_test).astype(np.int64)
    a, b = predictions_of(pred_a), predictions_of(pred_b)
    if a.shape != b.shape or a.shape[1] != len(y):
        raise ParameterError(f"{claim}: predictions {a.shape} and {b.shape} do not pair with {len(y)} test videos")
    boot = two_level_bootstrap(y, a, b, CLAIM_METRICS[metric], n_boot=n_boot, seed=seed, confidence=confidence)
    ns, nv = boot.n_seeds, boot.n_items
    seeds_txt = f"{ns} seed{'s' if ns != 1 else ''}"
    detail = (f"{what}, {METRIC_LABELS[metric]}, {seeds_txt} x {nv} test videos, two-level bootstrap "
              f"({n_boot} replicates, bootstrap seed {seed}: seeds, then test videos paired per video)")
    unit = f"test videos x {seeds_txt} (two-level bootstrap)"
    ev = from_bootstrap(claim, boot.mean, boot.replicates, detail=detail, unit=unit, n=nv, confidence=confidence)
    test = (f"two-level bootstrap, {n_boot} replicates ({seeds_txt} x {nv} test videos): se = {ev.se:.2f}, "
            f"p (against 0) = {ev.p:.3g}")
    return replace(ev, test=test)


def _rows(page: str, y_test, probs: dict, n_boot: int, seed: int) -> list:
    out = []
    for claim, (pg, metric, a, b, what) in CLAIM_ROWS.items():
        if pg != page or a not in probs or b not in probs:
            continue
        out.append(bootstrap_evidence(claim, y_test, probs[a], probs[b], metric=metric, what=what,
                                      n_boot=n_boot, seed=seed))
    return out


def audio_evidence(y_test, probs: dict, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list:
    """``icmr_uc_ge_cc``, ``icmr_xception_ge_choi``, ``icmr_choi_ge_han`` (Hit@1, :data:`CLAIM_ROWS`).

    ``y_test``, ``probs``: as returned by :func:`run_audio_seeds` (``{method: (n_seeds, n_test, C)}``).
    """
    return _rows("icmr_audio", y_test, probs, n_boot, seed)


def _visual_key(name: str):
    import re

    m = re.fullmatch(r"(\d+) frames, (PT|scratch)", str(name))
    return (int(m.group(1)), m.group(2) == "PT") if m else None


def visual_evidence(y_test, probs: dict, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list:
    """``icmr_pretraining_helps`` and ``icmr_more_frames_help`` from :func:`run_visual_seeds`'s ``probs``
    (``{"<k> frames, PT|scratch": (n_seeds, n_test, C)}``).

    Pre-training: pre-trained minus scratch Hit@1, averaged over every k with both (paired by
    frames, seed and video). Frames: the most minus the fewest frames per training video,
    weighted F1, averaged over the pre-training settings that have both (paired likewise).
    """
    labels = {}
    for name, p in probs.items():
        key = _visual_key(name)
        if key is not None:
            labels[key] = predictions_of(p)
    out = []
    ks = sorted({k for k, _ in labels})
    both = [k for k in ks if (k, True) in labels and (k, False) in labels]
    if both:
        _, metric, _, _, what = CLAIM_ROWS["icmr_pretraining_helps"]
        a = np.stack([labels[(k, True)] for k in both], axis=-1)
        b = np.stack([labels[(k, False)] for k in both], axis=-1)
        out.append(bootstrap_evidence("icmr_pretraining_helps", y_test, a, b, metric=metric, n_boot=n_boot, seed=seed,
                                      what=f"{what} ({', '.join(map(str, both))} frames)"))
    if len(ks) >= 2:
        lo_k, hi_k = ks[0], ks[-1]
        pts = [pt for pt in (False, True) if (lo_k, pt) in labels and (hi_k, pt) in labels]
        if pts:
            _, metric, _, _, what = CLAIM_ROWS["icmr_more_frames_help"]
            a = np.stack([labels[(hi_k, pt)] for pt in pts], axis=-1)
            b = np.stack([labels[(lo_k, pt)] for pt in pts], axis=-1)
            names = " and ".join("pre-trained" if pt else "scratch" for pt in pts)
            out.append(bootstrap_evidence("icmr_more_frames_help", y_test, a, b, metric=metric, n_boot=n_boot,
                                          seed=seed, what=f"{hi_k} minus {lo_k} training frames per video ({names})"))
    return out


def fusion_evidence(y_test, probs: dict, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list:
    """``icmr_fusion_beats_audio`` / ``_video`` (Hit@1), ``icmr_audio_beats_video`` (weighted F1,
    Xception UC, the audio model whose F1 the paper quotes) and the missing-modality rows
    ``icmr_fusion_missing_audio`` / ``_video`` (Hit@1) from :func:`run_fusion_seeds`'s ``probs``.
    """
    return _rows("icmr_fusion", y_test, probs, n_boot, seed)


def missing_modality_summary(y_test, probs: dict) -> pd.DataFrame:
    """Hit@1 and weighted F1 (mean over seeds) of the Xception fusion with the audio or the video
    missing beside the single-modality model of the modality that is left (the rows of the
    missing-modality claims), for the fusion page's text."""
    y = np.asarray(y_test)
    rows = []
    for claim in ("icmr_fusion_missing_audio", "icmr_fusion_missing_video"):
        _, _, a, b, _ = CLAIM_ROWS[claim]
        if a not in probs or b not in probs:
            continue
        for name in (a, b):
            lab = predictions_of(probs[name])
            rows.append({"claim": claim, "model": name,
                         "hit_at_1": float(np.mean([_hit1(y, s) for s in lab])),
                         "f1": float(np.mean([_wf1(y, s) for s in lab]))})
    return pd.DataFrame(rows)


def missing_modality_text(summary: pd.DataFrame, evidence) -> str:
    """The fusion page's plain statement of the missing-modality result (Markdown).

    ``summary``: :func:`missing_modality_summary`; ``evidence``: the page's rows (the
    ``icmr_fusion_missing_*`` ones are used). Per missing modality: the two Hit@1 values, the
    effect with its interval, and where the interval lies against the claim's declared margin
    (read from claims.yaml); the Claims page gives the verdict (which also needs q < 0.05).
    """
    from ..claims import load_claims

    ev = {e.claim: e for e in evidence}
    margins = load_claims().set_index("id")["margin"]
    out = []
    for claim, modality, left in (("icmr_fusion_missing_audio", "audio", "video-only"),
                                  ("icmr_fusion_missing_video", "video", "audio-only")):
        e = ev.get(claim)
        rows = summary[summary["claim"] == claim] if len(summary) else summary
        if e is None or len(rows) != 2:
            continue
        fused, single = rows["hit_at_1"].iloc[0], rows["hit_at_1"].iloc[1]
        m = float(margins.get(claim, np.nan))
        if e.hi < -m:
            where = (f"the whole interval below -{m:g} points (the declared margin), so on this benchmark the "
                     f"fusion model is **not** robust to a missing {modality}")
        elif e.lo > -m:
            where = (f"the whole interval above -{m:g} points (the declared margin): as good as the {left} model, "
                     f"robust to a missing {modality} in the paper's sense")
        else:
            where = f"an interval that straddles -{m:g} points (the declared margin): not decided by these runs"
        out.append(f"With the **{modality} missing**, the fusion model reaches {fused:.1f} % Hit@1 against "
                   f"{single:.1f} % for the {left} model: {e.effect:+.1f} points (95 % interval "
                   f"[{e.lo:+.1f}, {e.hi:+.1f}], {e.n} {e.unit}), {where}.")
    if not out:
        return "No missing-modality predictions were recorded."
    return " ".join(out) + (" The paper claims \"additional robustness to missing modalities\" without a number; "
                            "the [Claims page](claims) gives the verdicts.")


# --------------------------------------------------------------------------- frozen frame model
class _FrozenHead(nn.Module):
    """Classifier of the frame model on frozen pooled features: standardise, linear (no dropout by default: the reference has none before the classifier)."""

    def __init__(self, num_classes: int, mean, std, *, dropout: float = 0.0, dim: int = 2048):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, np.float32)))
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)
        self.num_classes = num_classes

    def forward(self, x):
        return self.classifier(self.drop((x - self.mean) / self.std))


def _calibrate_bn(backbone_model, frames: list, *, n: int = 512, batch: int = 64, seed: int = 0) -> None:
    """Re-estimate batch-norm statistics on ``n`` training frames (cumulative average), then eval."""
    from .icmr import _frame_transform

    rng = np.random.default_rng(seed)
    flat = np.concatenate([np.asarray(f) for f in frames if len(f)])
    idx = np.sort(rng.choice(len(flat), min(n, len(flat)), replace=False))
    bns = [m for m in backbone_model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    backbone_model.train()
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            (x,) = _frame_transform((torch.from_numpy(flat[idx[i:i + batch]]),), False)
            backbone_model.forward_features(x)
    backbone_model.eval()


def _frames_fingerprint(frames: dict) -> str:
    """Videos, frame counts and frame shape of ``frames`` (a cache entry holds features of these)."""
    import hashlib

    desc = sorted((str(v), int(len(f)), tuple(np.asarray(f).shape[1:])) for v, f in frames.items())
    return hashlib.sha1(repr(desc).encode()).hexdigest()[:10]


def frozen_backbone_features(bench, preset, frames: dict, *, pretrained: bool, cache_dir, weights=None,
                             device=None) -> tuple[dict, dict]:
    """Pooled Inception v3 features ``(n_i, 2048)`` of every cached frame, from a frozen backbone.

    One backbone for all seeds (as the paper's fixed ImageNet weights): ``pretrained`` =
    :func:`avlib.train.icmr.pretrain_on_image_bank` with seed 0, otherwise the random
    initialisation of seed 0. Both get their batch-norm statistics re-estimated on 512
    training frames (the same procedure for both, so they differ only in their weights).
    Cached as ``<cache_dir>/frozen_<pt|scratch>.npz`` keyed by the preset's frame and
    pre-training fields. Returns ``(features by video id, info)`` with ``info`` the
    pre-training source, its seconds, the extraction seconds and the backbone state.
    """
    from .icmr import FeatureStore, _frame_model, _pretrained_backbone, export_features, _frame_transform

    key = preset.key("frame_size", "frame_resize", "pretrain_epochs", "pretrain_lr", "visual_batch",
                     "pretrain_images_per_class", "eval_frames", "fusion_frames", "frames_grid") + \
        f"-{pretrained}-{weights}-bn512-{_frames_fingerprint(frames)}"
    store = FeatureStore(cache_dir)
    tag = f"frozen_{'pt' if pretrained else 'scratch'}"
    hit = store.load(tag, key=key)
    saved = store.load_model(tag, key=key)
    if hit is not None and saved is not None:
        lens = hit["meta"]["lens"]
        feats, pos = {}, 0
        for v, n in zip(map(str, hit["ids"]), lens):
            feats[v] = hit["features"][pos:pos + n]
            pos += n
        return feats, {**hit["meta"], "state": saved["state"], "cached": True}
    source, pre_s = "none (random initialisation)", 0.0
    state = None
    if pretrained:
        state, source, pre_s, _ = _pretrained_backbone(bench, preset, seed=0, store=store, weights=weights,
                                                       device=device)
    from ..utils import seed_everything

    seed_everything(0)
    model = _frame_model(bench.num_classes)
    if state is not None:
        model.backbone.load_state_dict(state)
    t0 = time.perf_counter()
    train_ids = [str(v) for v in bench.split("train")["video_id"] if str(v) in frames]
    _calibrate_bn(model, [frames[v] for v in train_ids])
    ids = [str(v) for v in bench.videos["video_id"] if str(v) in frames]
    lens = [int(len(frames[v])) for v in ids]
    flat = np.concatenate([np.asarray(frames[v]) for v in ids if len(frames[v])])
    f = export_features(model, torch.from_numpy(flat), batch_size=64, device=device,
                        input_transform=_frame_transform)
    secs = time.perf_counter() - t0
    meta = {"lens": lens, "pretrain_source": source, "pretrain_seconds": pre_s, "extract_seconds": secs}
    store.save(tag, key=key, ids=ids, split=[""] * len(ids), labels=np.zeros(len(ids), int), features=f,
               probs=np.zeros((len(ids), 1), np.float32), meta=meta)
    store.save_model(tag, model, key=key)
    feats, pos = {}, 0
    for v, n in zip(ids, lens):
        feats[v] = f[pos:pos + n]
        pos += n
    return feats, {**meta, "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "cached": False}


def _frozen_cache_dir(store) -> Path:
    """One folder for the shared backbones next to the per-seed stores (same generation tag);
    a sub-folder of a seed's store (the convergence check) shares its seed's backbones."""
    root = store.root
    if root.name == CHECK_SUB:
        store = type(store)(root.parent)
    name = store.root.name
    gen = name[name.index("-"):] if "-" in name else ""
    return store.root.parent / f"frozen_backbone{gen}"


def run_visual_model_frozen(bench, preset, k: int, pretrained: bool, *, frames: dict, seed: int = 0, store=None,
                            weights=None, device=None, force: bool = False) -> dict:
    """One Table 2 row with a frozen backbone: only the classifier is trained, per seed.

    Same contract and stored entries as :func:`avlib.train.icmr.run_visual_model` (tag, meta,
    per-frame features for the fusion, full model for the run that feeds the fusion). The
    classifier (train-set standardisation with the standard deviation floored at 0.1 x its mean,
    linear, no dropout as in the reference) is trained on the features
    of ``k`` frames per training video chosen at random with ``seed``; a video's score is the
    mean softmax over ``eval_frames`` frames spread over the video.
    """
    from ..features.frames import uniform_frame_indices
    from ..metrics.classification import softmax
    from ..utils import seed_everything
    from .icmr import _config, _stored_meta, _visual_tag, metric_summary
    from .loop import fit, predict

    if store is None:
        raise ParameterError("the frozen-backbone frame model needs a FeatureStore (its backbone cache)")
    key = preset.key("frame_size", "frame_resize", "visual_epochs", "visual_batch", "visual_lr",
                     "visual_optimizer", "visual_lr_step", "visual_patience", "eval_frames", "fusion_frames",
                     "pretrain_epochs", "pretrain_images_per_class", "visual_backbone") + \
        f"-{k}-{pretrained}-{seed}-{weights}-frozen-sdfloor"
    tag = _visual_tag(k, pretrained)
    if not force:
        hit = store.load(tag, key=key)
        if hit is not None:
            return {"tag": tag, **_stored_meta(hit), "cached": True}
    feats, info = frozen_backbone_features(bench, preset, frames, pretrained=pretrained,
                                           cache_dir=_frozen_cache_dir(store), weights=weights, device=device)
    df = bench.videos[bench.videos["video_id"].astype(str).isin(feats)].reset_index(drop=True)
    df["video_id"] = df["video_id"].astype(str)
    parts = {s: df[df["split"] == s] for s in ("train", "val", "test")}
    rng = np.random.default_rng(seed)

    def pick(ids, labels):
        xs, ys = [], []
        for v, y in zip(ids, labels):
            f = feats[v]
            if len(f) == 0:
                continue
            idx = np.sort(rng.choice(len(f), min(k, len(f)), replace=False))
            xs.append(f[idx])
            ys.append(np.full(len(idx), y))
        return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)

    xtr, ytr = pick(parts["train"]["video_id"], parts["train"]["label"])
    xva, yva = pick(parts["val"]["video_id"], parts["val"]["label"]) if len(parts["val"]) else (xtr[:0], ytr[:0])
    config = _config(preset, "visual", seed)
    seed_everything(seed)
    sd = xtr.std(0)
    sd = np.maximum(sd, 0.1 * float(sd.mean()) + 1e-6)  # floor: a unit silent on every training frame
    head = _FrozenHead(bench.num_classes, xtr.mean(0), sd)  # must not blow up on a test frame
    t0 = time.perf_counter()
    history = fit(head, (torch.from_numpy(xtr), torch.from_numpy(ytr)),
                  (torch.from_numpy(xva), torch.from_numpy(yva)) if len(xva) else None, config=config,
                  device=device, progress_bar=False)
    train_s = time.perf_counter() - t0
    feeds_fusion = (int(k), bool(pretrained)) == (int(preset.fusion_visual[0]), bool(preset.fusion_visual[1]))
    if not feeds_fusion:
        df = df[df["split"] == "test"].reset_index(drop=True)
    C = bench.num_classes
    n_eval, n_fuse = int(preset.eval_frames), int(preset.fusion_frames)
    probs = np.full((len(df), C), np.nan)
    out = np.zeros((len(df), n_fuse, 2048), np.float32)
    sel_eval = [uniform_frame_indices(len(feats[v]), n_eval) if len(feats[v]) else np.zeros(0, int)
                for v in df["video_id"]]
    flat = np.concatenate([feats[v][i] for v, i in zip(df["video_id"], sel_eval)]) if len(df) else np.zeros((0, 2048))
    p = softmax(predict(head, (torch.from_numpy(flat.astype(np.float32)),), batch_size=256, device=device,
                        has_targets=False), 1) if len(flat) else np.zeros((0, C))
    pos = 0
    for i, (v, idx) in enumerate(zip(df["video_id"], sel_eval)):
        if len(idx):
            probs[i] = p[pos:pos + len(idx)].mean(0)
            pos += len(idx)
        fi = uniform_frame_indices(len(feats[v]), n_fuse) if len(feats[v]) else np.zeros(0, int)
        out[i, : len(fi)] = feats[v][fi]
    test = (df["split"] == "test").to_numpy()
    hist = history.to_frame()
    meta = {"frames": int(k), "pretrained": bool(pretrained), "pretrain_source": info["pretrain_source"],
            "steps": int(len(hist) * int(np.ceil(len(xtr) / config.batch_size))),
            "train_seconds": train_s + info["extract_seconds"] * (not info["cached"]),
            "pretrain_seconds": info["pretrain_seconds"], "epochs_run": len(hist), "train_frames": int(len(xtr)),
            "best_epoch": history.best_epoch,
            "examples_per_s": float(hist["examples_per_s"].mean()) if len(hist) else float("nan"),
            "backbone": "frozen", **metric_summary(df["label"].to_numpy()[test], probs[test])}
    store.save(tag, key=key, ids=df["video_id"], split=df["split"], labels=df["label"], features=out,
               probs=probs, meta=meta)
    if feeds_fusion:  # the robustness figure rebuilds the full frame model: frozen backbone + this head
        from .icmr import _frame_model

        model = _frame_model(C)
        model.load_state_dict(info["state"])
        w = head.classifier.weight.detach() / head.std[None, :]
        model.classifier.weight.data.copy_(w)
        model.classifier.bias.data.copy_(head.classifier.bias.detach() - (w * head.mean[None, :]).sum(1))
        store.save_model(tag, model, key=key)
    return {"tag": tag, **meta, "cached": False}
