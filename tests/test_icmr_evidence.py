"""Seeds, intervals and claims' evidence of the ICMR pages (avlib.experiments.icmr: seeds, evidence, tables)."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from avlib.errors import ParameterError
from avlib.config.icmr import ICMRConfig
from avlib.experiments import icmr


def _runs(effect=5.0, seeds=(0, 1, 2, 3)):
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        base = 40 + rng.normal(0, 3)
        for method, off in (("Han et al. 2016", -10), ("Choi et al. 2016 + CC", 0), ("Choi et al. 2016 + UC", effect),
                            ("Xception + UC", effect + 1)):
            rows.append({"method": method, "seed": s, "hit_at_1": base + off + rng.normal(0, 0.5),
                         "hit_at_3": 70.0, "f1": base + off, "params": 10, "train_seconds": rng.uniform(1, 9),
                         "cached": False})
    return pd.DataFrame(rows)


def test_seed_summary_matches_scipy_t_interval():
    runs = _runs()
    out = icmr.tables.seed_summary(runs, by="method", carry=("params",))
    x = runs.loc[runs["method"] == "Choi et al. 2016 + UC", "hit_at_1"].to_numpy()
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    row = out[out["method"] == "Choi et al. 2016 + UC"].iloc[0]
    assert row["hit_at_1"] == pytest.approx(x.mean())
    assert (row["hit_at_1_lo"], row["hit_at_1_hi"]) == pytest.approx((lo, hi))
    assert row["n_seeds"] == 4 and row["params"] == 10
    assert list(out["method"]) == list(dict.fromkeys(runs["method"]))  # first-appearance order


def test_split_timings_keeps_wall_clock_out_of_results():
    res, tim = icmr.tables.split_timings(_runs())
    assert not set(icmr.tables.TIMING_COLUMNS) & set(res.columns)
    assert {"seed", "method", "train_seconds", "cached"} <= set(tim.columns)


def test_paired_metric_pairs_by_seed():
    runs = _runs(effect=5.0).sample(frac=1.0, random_state=1)  # row order must not matter
    a, b = icmr.tables.paired_metric(runs, {"method": "Choi et al. 2016 + UC"}, {"method": "Choi et al. 2016 + CC"})
    assert len(a) == 4 and np.all(a - b > 3)


# --------------------------------------------------------------------------- claims: two-level bootstrap
C = 4


def _probs_from_labels(pred, rng, n_classes=C):
    """Probabilities ``(seeds, n, C)`` whose top class is ``pred`` (labels ``(seeds, n)``)."""
    p = rng.random(pred.shape + (n_classes,)) * 0.5
    np.put_along_axis(p, pred[..., None], 1.0, axis=-1)
    return p


def _labels_with_accuracy(y, acc, rng, seeds=3):
    out = np.empty((seeds, len(y)), int)
    for s in range(seeds):
        right = rng.random(len(y)) < acc
        out[s] = np.where(right, y, (y + 1 + rng.integers(0, C - 1, len(y))) % C)
    return out


def _audio_probs(rng, n=80, seeds=3):
    y = rng.integers(0, C, n)
    labels = {"Choi et al. 2016 + UC": _labels_with_accuracy(y, 0.8, rng, seeds),
              "Choi et al. 2016 + CC": _labels_with_accuracy(y, 0.6, rng, seeds),
              "Xception + UC": _labels_with_accuracy(y, 0.75, rng, seeds),
              "Han et al. 2016": _labels_with_accuracy(y, 0.3, rng, seeds)}
    return y, labels, {k: _probs_from_labels(v, rng) for k, v in labels.items()}


def test_audio_evidence_is_a_paired_two_level_bootstrap_over_seeds_and_videos():
    """Each claim row resamples seeds, then test videos (paired per video)."""
    from avlib.metrics.stats import two_level_bootstrap

    rng = np.random.default_rng(0)
    y, labels, probs = _audio_probs(rng)
    ev = {e.claim: e for e in icmr.evidence.audio_evidence(y, probs)}
    assert set(ev) == {"icmr_uc_ge_cc", "icmr_xception_ge_choi", "icmr_choi_ge_han"}
    a, b = labels["Choi et al. 2016 + UC"], labels["Choi et al. 2016 + CC"]
    e = ev["icmr_uc_ge_cc"]
    direct = np.mean([100 * ((a[s] == y).mean() - (b[s] == y).mean()) for s in range(3)])
    assert e.effect == pytest.approx(direct)  # mean over seeds of the Hit@1 difference
    hit1 = lambda yy, pp: 100.0 * np.mean(yy == pp)  # noqa: E731
    ref = two_level_bootstrap(y, a, b, hit1, n_boot=icmr.evidence.N_BOOT, seed=icmr.evidence.BOOT_SEED)
    assert (e.lo, e.hi, e.se) == pytest.approx((ref.lo, ref.hi, ref.se))
    assert "3 seeds x 80 test videos, two-level bootstrap" in e.detail and "Hit@1" in e.detail
    assert e.unit == "test videos x 3 seeds (two-level bootstrap)" and e.n == 80
    assert np.isinf(e.df) and e.se > 0
    # deterministic: a fixed bootstrap seed
    again = {x.claim: x for x in icmr.evidence.audio_evidence(y, probs)}["icmr_uc_ge_cc"]
    assert (again.lo, again.hi) == (e.lo, e.hi)


def test_claim_interval_holds_the_test_set_variation():
    """With identical seeds the old per-seed t interval had width 0 (or none); the two-level bootstrap
    still resamples the test videos."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, C, 60)
    one = {"Choi et al. 2016 + UC": _labels_with_accuracy(y, 0.7, rng, 1),
           "Choi et al. 2016 + CC": _labels_with_accuracy(y, 0.6, rng, 1)}
    same = {k: np.repeat(v, 3, axis=0) for k, v in one.items()}  # three seeds, same predictions
    e = {x.claim: x for x in icmr.evidence.audio_evidence(y, same)}["icmr_uc_ge_cc"]
    assert e.hi - e.lo > 5.0  # 60 test videos: several points wide
    assert e.lo < e.effect < e.hi


def test_videos_without_scores_are_left_out_of_the_claims_as_in_the_tables():
    from avlib.experiments.icmr.scoring import metric_summary

    rng = np.random.default_rng(2)
    y, labels, probs = _audio_probs(rng, n=40, seeds=2)
    probs["Choi et al. 2016 + CC"][:, :5] = np.nan  # five test videos without usable input
    e = {x.claim: x for x in icmr.evidence.audio_evidence(y, probs, n_boot=50)}["icmr_uc_ge_cc"]
    table = [metric_summary(y, probs[m][s])["hit_at_1"] for m in ("Choi et al. 2016 + UC", "Choi et al. 2016 + CC")
             for s in range(2)]
    assert e.effect == pytest.approx(np.mean(table[:2]) - np.mean(table[2:]))
    assert (icmr.evidence.predictions_of(probs["Choi et al. 2016 + CC"])[:, :5] == -1).all()


def test_claim_rows_measure_the_metric_their_wording_quotes():
    """Audio vs video quotes F1 (79.35 vs 71.23), so it measures the weighted F1;
    the Hit@1 rows quote Hit@1; claims.yaml says which metric each row measures."""
    from avlib.claims import load_claims

    df = load_claims().set_index("id")
    icmr_ids = {i for i in df.index if i.startswith("icmr_")}
    assert set(icmr.evidence.CLAIM_ROWS) == icmr_ids  # every ICMR claim has a row
    for claim, (page, metric, *_rest) in icmr.evidence.CLAIM_ROWS.items():
        row = df.loc[claim]
        assert row["page"] == page
        label = icmr.evidence.METRIC_LABELS[metric]
        assert label in row["effect"], (claim, label)
        other = {"hit_at_1": "weighted F1", "f1": "Hit@1"}[metric]
        assert other not in row["effect"], (claim, other)
        if "F1 = " in row["wording"]:  # the wording quotes F1 numbers
            assert metric == "f1", claim
    assert icmr.evidence.CLAIM_ROWS["icmr_audio_beats_video"][1] == "f1"
    for claim in ("icmr_fusion_beats_audio", "icmr_fusion_beats_video", "icmr_uc_ge_cc", "icmr_choi_ge_han"):
        assert icmr.evidence.CLAIM_ROWS[claim][1] == "hit_at_1"


def test_audio_beats_video_uses_weighted_f1_not_hit1():
    """Audio has the higher weighted F1 but the lower Hit@1: the row follows the F1 (the paper's)."""
    from avlib.metrics.classification import weighted_f1

    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    video = np.zeros(100, int)  # always class 0: Hit@1 50 %, weighted F1 33.3 %
    audio = y.copy()
    audio[2:50] = 1  # class 0 mostly wrong ...
    audio[80:84] = 1  # ... and a few of class 2: Hit@1 48 %, weighted F1 37.7 %
    assert 100 * np.mean(audio == y) < 100 * np.mean(video == y)
    assert weighted_f1(y, audio) > weighted_f1(y, video)
    probs = {"Xception audio only": audio[None], "Inception v3 video only": video[None]}
    e = {x.claim: x for x in icmr.evidence.fusion_evidence(y, probs, n_boot=50)}["icmr_audio_beats_video"]
    assert e.effect == pytest.approx(weighted_f1(y, audio) - weighted_f1(y, video))
    assert "weighted F1" in e.detail and "Xception" in e.detail


def test_visual_evidence_pairs_frames_and_pretraining():
    rng = np.random.default_rng(3)
    y = rng.integers(0, C, 120)
    acc = {(2, False): 0.3, (2, True): 0.5, (4, False): 0.4, (4, True): 0.6}
    labels = {f"{k} frames, {'PT' if pt else 'scratch'}": _labels_with_accuracy(y, a, rng)
              for (k, pt), a in acc.items()}
    ev = {e.claim: e for e in icmr.evidence.visual_evidence(y, labels, n_boot=100)}
    hit = {k: np.mean([100 * np.mean(s == y) for s in v]) for k, v in labels.items()}
    want = np.mean([hit["2 frames, PT"] - hit["2 frames, scratch"], hit["4 frames, PT"] - hit["4 frames, scratch"]])
    assert ev["icmr_pretraining_helps"].effect == pytest.approx(want)
    assert ev["icmr_pretraining_helps"].lo > 0
    from avlib.metrics.classification import weighted_f1

    f1 = {k: np.mean([weighted_f1(y, s) for s in v]) for k, v in labels.items()}
    want = np.mean([f1["4 frames, PT"] - f1["2 frames, PT"], f1["4 frames, scratch"] - f1["2 frames, scratch"]])
    assert ev["icmr_more_frames_help"].effect == pytest.approx(want)
    assert "4 minus 2 training frames" in ev["icmr_more_frames_help"].detail


def test_as_good_as_claims_are_non_inferiority_with_a_declared_margin():
    """Claims of the form "X >= Y" or "level" are non-inferiority; "significantly better" stays superiority."""
    from avlib.claims import load_claims

    df = load_claims().set_index("id")
    for claim in ("icmr_uc_ge_cc", "icmr_xception_ge_choi", "icmr_fusion_missing_audio", "icmr_fusion_missing_video"):
        assert df.loc[claim, "criterion"] == "non_inferiority", claim
        assert df.loc[claim, "margin"] == 2.0, claim
        assert "margin 2" in df.loc[claim, "effect"], claim
    for claim in ("icmr_choi_ge_han", "icmr_fusion_beats_audio", "icmr_fusion_beats_video", "icmr_audio_beats_video",
                  "icmr_pretraining_helps", "icmr_more_frames_help"):
        assert df.loc[claim, "criterion"] == "superiority", claim


# --------------------------------------------------------------------------- guard: the paper's own numbers
def _paper(table, dataset, metric, **sel):
    from avlib.report import paper_table

    t = paper_table(table)
    t = t[t["dataset"] == dataset]
    for c, v in sel.items():
        t = t[t[c] == v]
    assert len(t) == 1, (table, sel)
    return float(t.iloc[0][metric])


def _exact(values: dict, n_per_class=10000, n_classes=12):
    """One seed of predicted labels per model whose Hit@1 AND weighted F1 are exactly ``values[model]``
    (%, two decimals): balanced classes, the wrong videos of class c predicted as c + 1."""
    y = np.repeat(np.arange(n_classes), n_per_class)
    out = {}
    for name, v in values.items():
        m = int(round(v * n_per_class / 100))
        pred = y.copy()
        for c in range(n_classes):
            idx = np.arange(c * n_per_class + m, (c + 1) * n_per_class)
            pred[idx] = (c + 1) % n_classes
        out[name] = pred[None]
    return y, out


def _paper_inputs():
    """claim -> [(dataset, effect function, {model key: (table, selector)})] from the paper's tables."""
    t2, t3, t4 = "icmr2017_table2_visual", "icmr2017_table3_audio", "icmr2017_table4_multimodal"
    audio = {"Choi et al. 2016 + UC": (t3, {"method": "Choi et al. 2016 + UC"}),
             "Choi et al. 2016 + CC": (t3, {"method": "Choi et al. 2016 + CC"}),
             "Xception + UC": (t3, {"method": "Xception + UC"}), "Han et al. 2016": (t3, {"method": "Han et al. 2016"})}
    visual = {f"{k} frames, {'PT' if pt == 'yes' else 'scratch'}": (t2, {"frames": k, "pretrained": pt})
              for k, pt in ((20, "no"), (30, "no"), (30, "yes"), (50, "no"), (50, "yes"), (100, "no"), (100, "yes"))}
    fcvid = {"Xception fusion": (t4, {"method": "Xception"}), "Xception audio only": (t3, {"method": "Xception + UC"}),
             "Inception v3 video only": (t2, {"frames": 50, "pretrained": "yes"})}
    yt8m = {"Xception fusion": (t4, {"method": "Xception"}), "Xception audio only": (t3, {"method": "Xception + UC"}),
            "Inception v3 video only": (t2, {"frames": 20, "pretrained": "yes"})}
    a, v, f = icmr.evidence.audio_evidence, icmr.evidence.visual_evidence, icmr.evidence.fusion_evidence
    return {
        "icmr_uc_ge_cc": [("FCVID", a, audio)],
        "icmr_xception_ge_choi": [("FCVID", a, audio)],
        "icmr_choi_ge_han": [("FCVID", a, audio)],
        "icmr_pretraining_helps": [("FCVID", v, visual)],
        "icmr_more_frames_help": [("FCVID", v, visual)],
        "icmr_fusion_beats_audio": [("FCVID", f, fcvid)],  # the paper's YouTube-8M fusion is "similar" to audio
        "icmr_fusion_beats_video": [("FCVID", f, fcvid), ("YT-8M", f, yt8m)],
        "icmr_audio_beats_video": [("FCVID", f, fcvid), ("YT-8M", f, yt8m)],
    }


@pytest.mark.parametrize("claim", sorted(_paper_inputs()))
def test_the_papers_own_numbers_come_out_on_the_papers_side(claim):
    """The paper's numbers, fed through the row's effect function, give an effect above
    the row's null (0, or -margin for non-inferiority) and equal to the paper's own difference."""
    from avlib.claims import load_claims, null_value

    row = load_claims().set_index("id").loc[claim]
    null = null_value(row["criterion"], row["margin"])
    page, metric, a, b, _ = icmr.evidence.CLAIM_ROWS[claim]
    for dataset, fn, models in _paper_inputs()[claim]:
        present = {k: _paper(t, dataset, metric, **sel) for k, (t, sel) in models.items()}
        y, preds = _exact(present)
        ev = {e.claim: e for e in fn(y, preds, n_boot=2)}
        assert claim in ev, (claim, dataset)
        e = ev[claim]
        if page == "icmr_visual":
            assert e.effect == pytest.approx(_visual_paper_effect(claim, present), abs=1e-9)
        else:
            assert e.effect == pytest.approx(present[a] - present[b], abs=1e-9)
        assert e.effect > null, (claim, dataset, e.effect, null)


def _visual_paper_effect(claim, v):
    if claim == "icmr_pretraining_helps":  # every frame count with both: 30, 50, 100
        return np.mean([v[f"{k} frames, PT"] - v[f"{k} frames, scratch"] for k in (30, 50, 100)])
    return v["100 frames, scratch"] - v["20 frames, scratch"]  # most minus fewest, where both exist


def test_paper_guard_numbers_are_the_papers():
    _, preds = _exact({"m": 78.69})
    y = np.repeat(np.arange(12), 10000)
    from avlib.metrics.classification import f1_from_labels

    assert 100 * np.mean(preds["m"][0] == y) == pytest.approx(78.69)
    assert f1_from_labels(y, preds["m"][0]) == pytest.approx(78.69)
    # the rows' effects at the paper's numbers (for the record): xception vs choi -1.12 > -2, audio vs video +8.12 F1
    assert _paper("icmr2017_table3_audio", "FCVID", "hit_at_1", method="Xception + UC") - \
        _paper("icmr2017_table3_audio", "FCVID", "hit_at_1", method="Choi et al. 2016 + UC") == pytest.approx(-1.12)


def test_bootstrap_summary_is_the_seed_averaged_hit1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)
    p = rng.random((3, 60, 4))
    p[0, np.arange(60), y] += 2  # seed 0 always right
    out = icmr.evidence.bootstrap_summary(y, {"m": p}, n_boot=200)
    direct = np.mean([(p[s].argmax(1) == y).mean() for s in range(3)]) * 100
    assert out.iloc[0]["hit_at_1"] == pytest.approx(direct)
    assert out.iloc[0]["lo"] <= direct <= out.iloc[0]["hi"] and out.iloc[0]["n_test"] == 60
    with pytest.raises(Exception):
        icmr.evidence.bootstrap_summary(y[:10], {"m": p})


def test_bootstrap_summary_resamples_seeds_then_test_videos():
    """The tables' Hit@1 interval holds the training randomness too (two-level bootstrap)."""
    from avlib.metrics.stats import two_level_bootstrap

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)
    p = rng.random((3, 60, 4))
    p[0, np.arange(60), y] += 2  # seed 0 always right, seeds 1-2 near chance
    out = icmr.evidence.bootstrap_summary(y, {"m": p}).iloc[0]
    ref = two_level_bootstrap(y, p.argmax(-1), None, lambda yy, pp: 100 * np.mean(yy == pp), n_boot=1000, seed=0)
    assert (out["lo"], out["hi"]) == pytest.approx((ref.lo, ref.hi))
    assert out["n_seeds"] == 3 and out["hi"] - out["lo"] > 30  # seeds this different: a wide interval


def _fake_bench(tmp_path, n_per_split=(8, 4, 4), classes=3):
    rows = []
    for split, n in zip(("train", "val", "test"), n_per_split):
        for i in range(n):
            rows.append({"video_id": f"{split}{i}", "category": f"c{i % classes}", "label": i % classes, "split": split})
    df = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    frames = {v: rng.integers(0, 255, (int(rng.integers(1, 4)), 3, 75, 75), dtype=np.uint8) for v in df["video_id"]}
    bench = icmr.data.Benchmark(df, tmp_path, None, [f"c{c}" for c in range(classes)], "embedded benchmark", tmp_path)
    return bench, frames


def test_frozen_frame_model_is_seeded_cached_and_feeds_fusion(tmp_path):
    torch.set_num_threads(1)
    bench, frames = _fake_bench(tmp_path)
    cfg = ICMRConfig.for_scale("smoke").with_overrides({
        "visual.frame_size": 75, "visual.frames_grid": [2], "visual.pretrain_grid": [False], "visual.eval_frames": 2,
        "fusion.frames": 2, "fusion.visual": [2, False], "visual.epochs": 2, "visual.backbone": "frozen"})
    store = icmr.store.FeatureStore(tmp_path / "store" / "seed0-abc")
    r1 = icmr.visual.run_visual_model(bench, cfg, 2, False, frames=frames, seed=0, store=store)
    assert not r1["cached"] and r1["backbone"] == "frozen"
    first = store.load(r1["tag"])
    assert first["features"].shape == (16, 2, 2048)  # every video (feeds the fusion), 2 frames
    assert (tmp_path / "store" / "frozen_backbone-abc" / "frozen_scratch.npz").is_file()  # shared by seeds
    r2 = icmr.visual.run_visual_model(bench, cfg, 2, False, frames=frames, seed=0, store=store, force=True)
    again = store.load(r2["tag"])
    np.testing.assert_array_equal(first["probs"], again["probs"])  # same seed, same numbers
    assert icmr.visual.run_visual_model(bench, cfg, 2, False, frames=frames, seed=0, store=store)["cached"]
    # the saved full model (frozen backbone + folded classifier) gives the head's probabilities
    model = icmr.visual.frame_model(3)
    model.load_state_dict(store.load_model(r1["tag"])["state"])
    test = [v for v, s in zip(first["ids"], first["split"]) if s == "test"]
    probs, _ = icmr.visual.frame_scores(model, [frames[v] for v in test], n_frames=2)
    stored = first["probs"][np.asarray(first["split"]) == "test"]
    np.testing.assert_allclose(probs, stored, atol=1e-4)
    other = icmr.store.FeatureStore(tmp_path / "store" / "seed1-abc")
    icmr.visual.run_visual_model(bench, cfg, 2, False, frames=frames, seed=1, store=other)
    np.testing.assert_array_equal(other.load(r1["tag"])["features"], first["features"])  # backbone shared


def test_frozen_head_has_no_dropout_by_default():
    """The reference code has no dropout before the frame classifier."""
    import torch

    from avlib.models.wrappers import FrozenHead

    head = FrozenHead(12, torch.zeros(2048), torch.ones(2048)).train()
    x = torch.randn(4, 2048)
    assert torch.equal(head(x), head(x))


def test_run_tasks_starts_costly_tasks_first_and_keeps_the_order():
    import math

    from avlib.train.parallel import run_tasks  # the one pool the ICMR audio runs and XFlow share

    tasks = [1.0, 4.0, 9.0, 16.0, 25.0]
    expected = [math.sqrt(t) for t in tasks]
    assert run_tasks(math.sqrt, tasks, workers=1) == expected
    assert run_tasks(math.sqrt, tasks, workers=2, cost=lambda t: t) == expected
    assert run_tasks(math.sqrt, tasks, workers=2, cost=lambda t: -t) == expected


# --------------------------------------------------------------------------- F1 columns of the pages
def test_paper_beside_ours_tables_compare_weighted_f1_and_label_macro():
    """The paper's F1 column sits beside our weighted F1; our macro F1 is labelled."""
    ours = pd.DataFrame({"method": ["Xception + UC"], "params_paper_input": [9.65e6], "hit_at_1": [50.0],
                         "hit_at_3": [70.0], "f1": [48.0], "f1_macro": [40.0]})
    t3 = icmr.tables.table3_side_by_side(ours).set_index("method")
    assert t3.loc["Xception + UC", "weighted F1 (paper)"] == pytest.approx(79.35)
    assert t3.loc["Xception + UC", "weighted F1 (ours)"] == 48.0
    assert t3.loc["Xception + UC", "macro F1 (ours)"] == 40.0
    assert not {"f1 (paper)", "f1 (ours)", "f1_macro (paper)"} & set(t3.columns)
    t2 = icmr.tables.table2_side_by_side(pd.DataFrame({"frames": [50], "pretrained": [True], "steps": [1],
                                                "train_seconds": [3600.0], "pretrain_seconds": [0.0],
                                                "hit_at_1": [1.0], "hit_at_3": [2.0], "f1": [3.0],
                                                "f1_macro": [4.0]}))
    row = t2[(t2["frames"] == 50) & (t2["pretrained"] == "yes")].iloc[0]
    assert row["weighted F1 (paper)"] == pytest.approx(71.23) and row["macro F1 (ours)"] == 4.0
    # YouTube-8M Table 4 with the paper's human listeners (F1 85.00, weighted like the rest)
    ours4 = pd.DataFrame({"method": ["Choi et al. 2016"], "model": ["fusion"], "hit_at_1": [1.0], "hit_at_3": [2.0],
                          "f1": [3.0], "f1_macro": [4.0]})
    t4 = icmr.tables.table4_side_by_side(ours4, dataset="YT-8M", paper_frames=20).set_index(["method", "model"])
    assert t4.loc[("human listeners", "human"), "weighted F1 (paper)"] == pytest.approx(85.0)
    assert np.isnan(t4.loc[("human listeners", "human"), "weighted F1 (ours)"])
    assert t4.loc[("Choi et al. 2016", "fusion"), "weighted F1 (paper)"] == pytest.approx(84.69)
    assert "human listeners" not in set(icmr.tables.table4_side_by_side(ours4)["method"])  # FCVID: no human study
    # interval columns carry the same labels
    runs = pd.DataFrame({"method": ["m"] * 3, "seed": [0, 1, 2], "hit_at_1": [1.0, 2, 3], "hit_at_3": [1.0, 2, 3],
                         "f1": [1.0, 2, 3], "f1_macro": [0.5, 1, 2]})
    summary = icmr.tables.seed_summary(runs, by="method")
    t = icmr.tables.with_intervals(summary[["method"]], summary, on="method")
    assert {"weighted F1 95% CI (seeds)", "macro F1 95% CI (seeds)"} <= set(t.columns)


def test_stored_runs_from_before_the_weighted_f1_are_rescored(tmp_path):
    """A stored run whose meta has the old macro "f1" (no "f1_macro") is rescored from its probabilities."""
    from avlib.metrics.classification import macro_f1, weighted_f1

    cfg = ICMRConfig.for_scale("smoke")
    y = np.array([0] * 6 + [1] * 3 + [2] + [0, 1])
    split = np.array(["test"] * 10 + ["train"] * 2)
    pred = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 2, 2])
    probs = np.eye(3)[pred] * 0.8 + 0.05
    store = icmr.store.FeatureStore(tmp_path / "seed0")
    key = icmr.audio.audio_run_key(cfg, "han2016", "UC", 0)
    old_meta = {"model": "han2016", "crop": "UC", "hit_at_1": 70.0, "f1": macro_f1(y[:10], pred[:10])}
    store.save(icmr.store.audio_tag("han2016", "UC"), key=key, ids=[f"v{i}" for i in range(12)], split=split, labels=y,
               features=np.zeros((12, 4)), probs=probs, meta=old_meta)
    r = icmr.audio.run_audio_model(None, cfg, "han2016", "UC", seed=0, store=store)
    assert r["cached"]
    assert r["f1"] == pytest.approx(weighted_f1(y[:10], pred[:10]))
    assert r["f1_macro"] == pytest.approx(macro_f1(y[:10], pred[:10]))
    assert r["f1"] != pytest.approx(old_meta["f1"])


# --------------------------------------------------------------------------- missing modality
def test_fusion_model_scores_each_missing_modality_on_its_test_videos(tmp_path):
    """run_fusion_model returns the fusion's probabilities with the audio row or the frame rows zeroed,
    the paper's encoding of a missing modality (the same inputs as the robustness table's)."""
    from avlib.data.fcvid import fusion_matrices

    rng = np.random.default_rng(0)
    n, k, C3 = 30, 2, 3
    ids = [f"v{i:02d}" for i in range(n)]
    labels = np.arange(n) % C3
    split = np.array(["train"] * 20 + ["val"] * 4 + ["test"] * 6)
    store = icmr.store.FeatureStore(tmp_path)
    frames = rng.standard_normal((n, k, 2048)).astype(np.float32)
    store.save("visual", key="v", ids=ids, split=split, labels=labels, features=frames,
               probs=np.full((n, C3), 1 / C3))
    audio = rng.standard_normal((n, 1024)).astype(np.float32)
    audio[np.arange(n), labels] += 5.0
    store.save("audio", key="a", ids=ids, split=split, labels=labels, features=audio, probs=np.eye(C3)[labels])
    bench = icmr.data.Benchmark(pd.DataFrame({"video_id": ids, "label": labels, "split": split}), tmp_path, None,
                           ["a", "b", "c"], "embedded benchmark", tmp_path)
    cfg = ICMRConfig.for_scale("smoke").with_overrides({"fusion.frames": k, "fusion.epochs": 3, "fusion.hidden": [16]})
    out = icmr.fusion.run_fusion_model(bench, cfg, {"tag": "audio"}, {"tag": "visual"}, seed=0, store=store)
    test = out["parts"]["test"]
    feats_a = {v: audio[ids.index(v)] for v in test}
    feats_v = {v: frames[ids.index(v)].reshape(k, -1) for v in test}
    model = out["model"].eval()

    def predict(x):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(x)), 1).numpy()

    no_audio = fusion_matrices({}, feats_v, test, n_frames=k)
    no_video = fusion_matrices(feats_a, {}, test, n_frames=k)
    np.testing.assert_allclose(out["probs_audio_missing"], predict(no_audio), atol=1e-6)
    np.testing.assert_allclose(out["probs_video_missing"], predict(no_video), atol=1e-6)
    np.testing.assert_allclose(out["probs"], predict(fusion_matrices(feats_a, feats_v, test, n_frames=k)), atol=1e-6)


def test_missing_modality_claims_are_rows_of_the_fusion_page_and_stated_plainly():
    """The paper claims "additional robustness to missing modalities" (abstract): two non-inferiority rows."""
    rng = np.random.default_rng(4)
    y = rng.integers(0, C, 200)
    labels = {"Xception fusion": _labels_with_accuracy(y, 0.9, rng),
              "Xception audio only": _labels_with_accuracy(y, 0.8, rng),
              "Inception v3 video only": _labels_with_accuracy(y, 0.5, rng),
              "Xception fusion, audio missing": _labels_with_accuracy(y, 0.25, rng),
              "Xception fusion, video missing": _labels_with_accuracy(y, 0.8, rng)}
    ev = {e.claim: e for e in icmr.evidence.fusion_evidence(y, labels, n_boot=200)}
    assert {"icmr_fusion_missing_audio", "icmr_fusion_missing_video"} <= set(ev)
    e = ev["icmr_fusion_missing_audio"]
    want = np.mean([100 * (np.mean(a == y) - np.mean(b == y)) for a, b in
                    zip(labels["Xception fusion, audio missing"], labels["Inception v3 video only"])])
    assert e.effect == pytest.approx(want) and e.hi < -2  # far below the video-only model
    summary = icmr.evidence.missing_modality_summary(y, labels)
    assert list(summary["model"]) == ["Xception fusion, audio missing", "Inception v3 video only",
                                      "Xception fusion, video missing", "Xception audio only"]
    text = icmr.evidence.missing_modality_text(summary, list(ev.values()))
    assert "**audio missing**" in text and "**not** robust to a missing audio" in text
    assert f"{summary['hit_at_1'].iloc[0]:.1f} % Hit@1" in text
    assert "robustness to missing modalities" in text


# --------------------------------------------------------------------------- the pages' code on tiny inputs
def _cell_code(notebook, contains, drop_prefix=None):
    """Source of the code cell of ``notebooks/<notebook>.ipynb`` containing ``contains``, without the
    line starting with ``drop_prefix`` (the training call, replaced by a tiny fake result)."""
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / f"{notebook}.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    src = [c for c in cells if contains in c]
    assert len(src) == 1, (notebook, contains)
    lines = src[0].split("\n")
    if drop_prefix is not None:
        kept = [ln for ln in lines if not ln.startswith(drop_prefix)]
        assert len(kept) == len(lines) - 1, (notebook, drop_prefix)
        lines = kept
    return "\n".join(lines)


def _tiny_seeds(names, rng, n=24, seeds=(0, 1), n_classes=12):
    """Fake per-seed results: probabilities per model and the metric rows they give."""
    from avlib.experiments.icmr.scoring import metric_summary

    y = np.arange(n) % n_classes
    probs, rows = {}, []
    for name in names:
        p = rng.random((len(seeds), n, n_classes))
        p[:, np.arange(n), y] += rng.random((len(seeds), n)) * 1.5
        probs[name] = p
        for i, s in enumerate(seeds):
            rows.append({"name": name, "seed": s, **metric_summary(y, p[i])})
    return y, probs, pd.DataFrame(rows)


def _page_namespace(tmp_path, notebook):
    import matplotlib

    matplotlib.use("Agg")
    import time
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from avlib.report import Provenance, save_result, show_table

    bench = SimpleNamespace(source="embedded benchmark", categories=[f"c{i}" for i in range(12)], num_classes=12)
    return {"NOTEBOOK": notebook, "scale": "cpu", "data_root": str(tmp_path / "data"), "seed": 0,
            "source": "embedded", "inception_weights": None, "cfg": ICMRConfig.for_scale("cpu"),
            "bench": bench, "out": tmp_path / "out", "icmr": icmr, "Provenance": Provenance,
            "save_result": save_result, "show_table": show_table, "time": time, "_t0": time.perf_counter(),
            "plt": plt}


def test_audio_and_visual_pages_claim_cells_run_on_tiny_inputs(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    names = ["Han et al. 2016", "Choi et al. 2016 + CC", "Choi et al. 2016 + UC", "Xception + UC"]
    y, probs, rows = _tiny_seeds(names, rng)
    runs = rows.rename(columns={"name": "method"}).assign(
        crop="UC", params=1, params_paper_input=2.4e6, epochs_run=1, best_epoch=1, train_seconds=1.0,
        examples_per_s=1.0, cached=False)
    ns = _page_namespace(tmp_path, "icmr_audio")
    assert ns["cfg"].check_epochs_factor == 0.5  # the cpu scale checks convergence
    ns["res"] = {"runs": runs, "probs": probs, "y_test": y, "seeds": [0, 1]}
    exec(_cell_code("icmr_audio", "run_audio_seeds", "res = icmr.seeds.run_audio_seeds("), ns)
    # a configuration with a convergence check trains the audio models of its check seeds again at fewer
    # epochs, in their own store
    calls = []

    def fake_run(bench, cfg, **kw):
        calls.append((cfg.audio.epochs, kw["store_sub"], kw["seeds"]))
        return {"runs": runs, "probs": {k: v[:1] for k, v in probs.items()}, "y_test": y, "seeds": kw["seeds"]}

    monkeypatch.setattr(icmr.seeds, "run_audio_seeds", fake_run)
    exec(_cell_code("icmr_audio", "audio_evidence"), ns)
    assert calls == [(2, icmr.store.CHECK_SUB, [0])]  # half of the 4 epochs, seed 0, in the check's own store
    assert list(ns["conv_check"].converged) == ["yes"] * 3   # the same predictions on seed 0: no change
    assert list(ns["conv_check"].change) == [0.0] * 3
    assert all(e.converged == "yes" for e in ns["evidence"])
    assert {"weighted F1 (paper)", "weighted F1 (ours)", "macro F1 (ours)"} <= set(ns["t3"].columns)
    assert {e.claim for e in ns["evidence"]} == {"icmr_uc_ge_cc", "icmr_xception_ge_choi", "icmr_choi_ge_han"}
    assert (tmp_path / "out" / "claims_evidence.csv").is_file()

    names = [f"{k} frames, {'PT' if pt else 'scratch'}" for k in (2, 4) for pt in (False, True)]
    y, probs, rows = _tiny_seeds(names, rng)
    rows["frames"] = rows["name"].str.split().str[0].astype(int)
    rows["pretrained"] = rows["name"].str.endswith("PT")
    runs = rows.drop(columns="name").assign(pretrain_source="image bank", steps=10, epochs_run=1, best_epoch=1,
                                            train_seconds=1.0, pretrain_seconds=1.0, examples_per_s=1.0, cached=False)
    ns = _page_namespace(tmp_path / "v", "icmr_visual")
    ns["res"] = {"runs": runs, "probs": probs, "y_test": y, "seeds": [0, 1]}
    exec(_cell_code("icmr_visual", "run_visual_seeds", "res = icmr.seeds.run_visual_seeds("), ns)
    vcalls = []

    def fake_visual(bench, cfg, **kw):
        vcalls.append((cfg.visual.epochs, kw["store_sub"]))
        return {"runs": runs, "probs": {k: v[:1] for k, v in probs.items()}, "y_test": y, "seeds": kw["seeds"]}

    monkeypatch.setattr(icmr.seeds, "run_visual_seeds", fake_visual)
    exec(_cell_code("icmr_visual", "visual_evidence"), ns)
    assert vcalls == [(15, icmr.store.CHECK_SUB)]  # the frame classifier at half its 30 epochs
    assert all(e.converged == "yes" for e in ns["evidence"])
    assert {e.claim for e in ns["evidence"]} == {"icmr_pretraining_helps", "icmr_more_frames_help"}
    assert "weighted F1 (ours)" in ns["t2"].columns


def test_fusion_and_youtube8m_page_cells_run_on_tiny_inputs(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    keys = {"Xception fusion": ("Xception", "fusion"), "Xception audio only": ("Xception", "audio only"),
            "Choi et al. 2016 fusion": ("Choi et al. 2016", "fusion"),
            "Choi et al. 2016 audio only": ("Choi et al. 2016", "audio only"),
            "Inception v3 video only": ("Inception v3", "video only")}
    extra = ["Xception fusion, audio missing", "Xception fusion, video missing",
             "Choi et al. 2016 fusion, audio missing", "Choi et al. 2016 fusion, video missing"]
    y, probs, rows = _tiny_seeds(list(keys) + extra, rng)
    rows = rows[rows["name"].isin(keys)]
    runs = rows.assign(method=rows["name"].map(lambda n: keys[n][0]), model=rows["name"].map(lambda n: keys[n][1]),
                       frames=4, train_seconds=1.0).drop(columns="name")
    deg = []
    for cond, level, models in (("clean", 0.0, ("fusion", "audio only", "video only")),
                                ("audio noise", 10.0, ("fusion", "audio only")), ("audio missing", np.nan, ("fusion",)),
                                ("frames kept", 0.5, ("fusion", "video only")), ("video missing", np.nan, ("fusion",))):
        for m in models:
            deg.append({"condition": cond, "level": level, "model": m, "hit_at_1": 50.0, "hit_at_3": 70.0,
                        "f1": 40.0, "f1_macro": 30.0, "n_missing": 0})
    first = {"n_test": len(y), "table": runs[runs["seed"] == 0], "degradation": pd.DataFrame(deg)}
    ns = _page_namespace(tmp_path, "icmr_fusion")
    ns["allres"] = {"runs": runs, "probs": probs, "y_test": y, "first": first, "seeds": [0, 1]}
    fcalls = []

    def fake_fusion(bench, cfg, **kw):
        fcalls.append((cfg.audio.epochs, cfg.visual.epochs, cfg.fusion.epochs, kw["store_sub"],
                       kw["robustness"]))
        shifted = {k: v[:1] + (0.3 if k.endswith("audio missing") else 0.0) for k, v in probs.items()}
        return {"runs": runs, "probs": shifted, "y_test": y, "seeds": kw["seeds"]}

    monkeypatch.setattr(icmr.seeds, "run_fusion_seeds", fake_fusion)
    exec(_cell_code("icmr_fusion", "run_fusion_seeds", "allres = icmr.seeds.run_fusion_seeds("), ns)
    # every model under a fusion row again at half its epochs (5 -> round(2.5) = 2), no robustness figure
    assert fcalls == [(2, 15, 2, icmr.store.CHECK_SUB, False)]
    conv = {e.claim: e.converged for e in ns["evidence"]}
    assert conv["icmr_fusion_beats_video"] == "yes"
    assert (tmp_path / "out" / "convergence_check.csv").is_file()
    assert {e.claim for e in ns["evidence"]} == {"icmr_fusion_beats_audio", "icmr_fusion_beats_video",
                                                 "icmr_audio_beats_video", "icmr_fusion_missing_audio",
                                                 "icmr_fusion_missing_video"}
    assert "macro F1 (ours)" in ns["t4"].columns
    exec(_cell_code("icmr_fusion", 'deg = res["degradation"]'), ns)
    assert len(ns["miss"]) == 4 and (tmp_path / "out" / "missing_modality.csv").is_file()

    # YouTube-8M page: tables 2-4 with the human row
    t4 = runs[runs["method"] != "Xception"]
    t3 = pd.DataFrame([{"method": "Choi et al. 2016 + UC", "seed": s, "crop": "UC", "params": 1,
                        "params_paper_input": 2, "hit_at_1": 60.0 + s, "hit_at_3": 80.0, "f1": 58.0 + s, "f1_macro": 50.0, "train_seconds": 1.0,
                        "epochs_run": 1, "examples_per_s": 1.0, "cached": False} for s in (0, 1)])
    t2 = pd.DataFrame([{"frames": 4, "pretrained": True, "seed": s, "pretrain_source": "bank", "steps": 1,
                        "train_seconds": 1.0, "pretrain_seconds": 1.0, "hit_at_1": 40.0 + s, "hit_at_3": 60.0,
                        "f1": 38.0 + s, "f1_macro": 30.0, "epochs_run": 1, "examples_per_s": 1.0, "cached": False}
                       for s in (0, 1)])
    ns = _page_namespace(tmp_path / "yt", "icmr_youtube8m")
    ns["allres"] = {"table2": t2, "table3": t3, "table4": t4, "y_test": y,
                    "probs": {k: v for k, v in probs.items() if k.startswith(("Choi", "Inception"))},
                    "first": {"cfg": ICMRConfig.for_scale("cpu").for_youtube8m(), "n_test": len(y)}, "seeds": [0, 1]}
    exec(_cell_code("icmr_youtube8m", "run_youtube8m_seeds", "allres = icmr.seeds.run_youtube8m_seeds("), ns)
    exec(_cell_code("icmr_youtube8m", 'page["table2"]'), ns)
    exec(_cell_code("icmr_youtube8m", 'page["table4"]'), ns)
    human = ns["t4"][ns["t4"]["method"] == "human listeners"]
    assert human["weighted F1 (paper)"].iloc[0] == pytest.approx(85.0)


def test_check_config_halves_every_training_of_the_icmr_pages():
    cpu = ICMRConfig.for_scale("cpu")
    short = icmr.seeds.check_config(cpu)
    assert (short.audio.epochs, short.visual.epochs, short.fusion.epochs) == (2, 15, 2)
    # the frozen backbone stands for fixed pre-trained weights: its pre-training is not part of the check
    assert short.visual.pretrain_epochs == cpu.visual.pretrain_epochs and short.check_epochs_factor is None
    assert short.seeds == (0,) and cpu.check_seeds == (0,) and short.workers == cpu.workers  # the first seed only
    assert short.check_seeds is None
    assert icmr.seeds.check_config(ICMRConfig.for_scale("smoke")) is None  # no check: no second training
    over = icmr.seeds.check_config(cpu.with_overrides({"audio.epochs_override": [["han2016", 6]]}))
    assert over.audio.epochs_override == (("han2016", 3),)
    assert "audio 2, frame classifier 15, fusion 2 epochs instead of 4, 30, 5 (seed 0)" in \
        icmr.seeds.check_description(cpu)
    with pytest.raises(ParameterError, match="page must be one of"):
        icmr.seeds.convergence_check("table1", None, cpu, [], data_root="x")


def test_the_check_store_shares_its_seeds_frozen_backbone(tmp_path):
    seed_store = icmr.store.FeatureStore(tmp_path / "seed0-g2")
    check_store = icmr.store.FeatureStore(seed_store.root / icmr.store.CHECK_SUB)
    assert icmr.store.frozen_cache_dir(check_store) == icmr.store.frozen_cache_dir(seed_store)
    assert icmr.store.frozen_cache_dir(seed_store) == tmp_path / "frozen_backbone-g2"
