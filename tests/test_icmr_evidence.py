"""Seeds, intervals and claims' evidence of the ICMR pages (avlib.train.icmr_seeds, issue 12)."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from avlib.train import icmr, icmr_seeds


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
    out = icmr_seeds.seed_summary(runs, by="method", carry=("params",))
    x = runs.loc[runs["method"] == "Choi et al. 2016 + UC", "hit_at_1"].to_numpy()
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    row = out[out["method"] == "Choi et al. 2016 + UC"].iloc[0]
    assert row["hit_at_1"] == pytest.approx(x.mean())
    assert (row["hit_at_1_lo"], row["hit_at_1_hi"]) == pytest.approx((lo, hi))
    assert row["n_seeds"] == 4 and row["params"] == 10
    assert list(out["method"]) == list(dict.fromkeys(runs["method"]))  # first-appearance order


def test_split_timings_keeps_wall_clock_out_of_results():
    res, tim = icmr_seeds.split_timings(_runs())
    assert not set(icmr_seeds.TIMING_COLUMNS) & set(res.columns)
    assert {"seed", "method", "train_seconds", "cached"} <= set(tim.columns)


def test_paired_metric_pairs_by_seed_and_evidence_sign():
    runs = _runs(effect=5.0).sample(frac=1.0, random_state=1)  # row order must not matter
    a, b = icmr_seeds.paired_metric(runs, {"method": "Choi et al. 2016 + UC"}, {"method": "Choi et al. 2016 + CC"})
    assert len(a) == 4 and np.all(a - b > 3)
    ev = {e.claim: e for e in icmr_seeds.audio_evidence(runs)}
    assert set(ev) == {"icmr_uc_ge_cc", "icmr_xception_ge_choi", "icmr_choi_ge_han"}
    assert ev["icmr_uc_ge_cc"].effect == pytest.approx(np.mean(a - b))
    assert ev["icmr_uc_ge_cc"].lo > 0 and ev["icmr_choi_ge_han"].lo > 0
    t = stats.ttest_rel(a, b)
    assert ev["icmr_uc_ge_cc"].p == pytest.approx(t.pvalue)


def test_visual_and_fusion_evidence_orientation():
    rows = []
    for s in range(3):
        for k in (2, 4):
            for pt in (False, True):
                rows.append({"frames": k, "pretrained": pt, "seed": s, "hit_at_1": 30 + 10 * pt + 2 * (k == 4) + s})
    ev = {e.claim: e for e in icmr_seeds.visual_evidence(pd.DataFrame(rows))}
    assert ev["icmr_pretraining_helps"].effect == pytest.approx(10) and ev["icmr_pretraining_helps"].n == 6
    assert ev["icmr_more_frames_help"].effect == pytest.approx(2) and ev["icmr_more_frames_help"].n == 6
    f = []
    for s in range(3):
        f += [{"method": "Xception", "model": "fusion", "seed": s, "hit_at_1": 60 + s},
              {"method": "Xception", "model": "audio only", "seed": s, "hit_at_1": 50 + s},
              {"method": "Choi et al. 2016", "model": "audio only", "seed": s, "hit_at_1": 55 + s},
              {"method": "Inception v3", "model": "video only", "seed": s, "hit_at_1": 40 + 2 * s}]
    ev = {e.claim: e for e in icmr_seeds.fusion_evidence(pd.DataFrame(f))}
    assert ev["icmr_fusion_beats_audio"].effect == pytest.approx(10)
    assert ev["icmr_fusion_beats_video"].effect == pytest.approx(19)
    assert ev["icmr_audio_beats_video"].effect == pytest.approx(14)  # the best audio mean: Choi
    assert "Choi" in ev["icmr_audio_beats_video"].detail


def test_bootstrap_summary_is_the_seed_averaged_hit1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)
    p = rng.random((3, 60, 4))
    p[0, np.arange(60), y] += 2  # seed 0 always right
    out = icmr_seeds.bootstrap_summary(y, {"m": p}, n_boot=200)
    direct = np.mean([(p[s].argmax(1) == y).mean() for s in range(3)]) * 100
    assert out.iloc[0]["hit_at_1"] == pytest.approx(direct)
    assert out.iloc[0]["lo"] <= direct <= out.iloc[0]["hi"] and out.iloc[0]["n_test"] == 60
    with pytest.raises(Exception):
        icmr_seeds.bootstrap_summary(y[:10], {"m": p})


def _fake_bench(tmp_path, n_per_split=(8, 4, 4), classes=3):
    rows = []
    for split, n in zip(("train", "val", "test"), n_per_split):
        for i in range(n):
            rows.append({"video_id": f"{split}{i}", "category": f"c{i % classes}", "label": i % classes, "split": split})
    df = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    frames = {v: rng.integers(0, 255, (int(rng.integers(1, 4)), 3, 75, 75), dtype=np.uint8) for v in df["video_id"]}
    bench = icmr.Benchmark(df, tmp_path, None, [f"c{c}" for c in range(classes)], "embedded benchmark", tmp_path)
    return bench, frames


def test_frozen_frame_model_is_seeded_cached_and_feeds_fusion(tmp_path):
    torch.set_num_threads(1)
    bench, frames = _fake_bench(tmp_path)
    preset = icmr.get_preset("smoke", frame_size=75, frames_grid=(2,), pretrain_grid=(False,), eval_frames=2,
                             fusion_frames=2, fusion_visual=(2, False), visual_epochs=2, visual_backbone="frozen")
    store = icmr.FeatureStore(tmp_path / "store" / "seed0-abc")
    r1 = icmr.run_visual_model(bench, preset, 2, False, frames=frames, seed=0, store=store)
    assert not r1["cached"] and r1["backbone"] == "frozen"
    first = store.load(r1["tag"])
    assert first["features"].shape == (16, 2, 2048)  # every video (feeds the fusion), 2 frames
    assert (tmp_path / "store" / "frozen_backbone-abc" / "frozen_scratch.npz").is_file()  # shared by seeds
    r2 = icmr.run_visual_model(bench, preset, 2, False, frames=frames, seed=0, store=store, force=True)
    again = store.load(r2["tag"])
    np.testing.assert_array_equal(first["probs"], again["probs"])  # same seed, same numbers
    assert icmr.run_visual_model(bench, preset, 2, False, frames=frames, seed=0, store=store)["cached"]
    # the saved full model (frozen backbone + folded classifier) gives the head's probabilities
    model = icmr._frame_model(3)
    model.load_state_dict(store.load_model(r1["tag"])["state"])
    test = [v for v, s in zip(first["ids"], first["split"]) if s == "test"]
    probs, _ = icmr.frame_scores(model, [frames[v] for v in test], n_frames=2)
    stored = first["probs"][np.asarray(first["split"]) == "test"]
    np.testing.assert_allclose(probs, stored, atol=1e-4)
    other = icmr.FeatureStore(tmp_path / "store" / "seed1-abc")
    icmr.run_visual_model(bench, preset, 2, False, frames=frames, seed=1, store=other)
    np.testing.assert_array_equal(other.load(r1["tag"])["features"], first["features"])  # backbone shared


def test_frozen_head_has_no_dropout_by_default():
    """Issue 11 item 6: the reference has no dropout before the frame classifier."""
    import torch

    from avlib.train.icmr_seeds import _FrozenHead

    head = _FrozenHead(12, torch.zeros(2048), torch.ones(2048)).train()
    x = torch.randn(4, 2048)
    assert torch.equal(head(x), head(x))


def test_run_tasks_starts_costly_tasks_first_and_keeps_the_order():
    import math

    from avlib.train.icmr_seeds import _run_tasks

    tasks = [1.0, 4.0, 9.0, 16.0, 25.0]
    expected = [math.sqrt(t) for t in tasks]
    assert _run_tasks(math.sqrt, tasks, 1) == expected
    assert _run_tasks(math.sqrt, tasks, 2, cost=lambda t: t) == expected
    assert _run_tasks(math.sqrt, tasks, 2, cost=lambda t: -t) == expected
