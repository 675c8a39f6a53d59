"""Tests of the YouTube-8M-style embedded benchmark (avlib.data.instruments, ``instruments_yt8m``)
and of the ICMR entry points that use it (Figure 3, YouTube-8M rows of Tables 2-4)."""
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from avlib import media
from avlib.data.instruments import (
    CATEGORIES,
    INSTRUMENTS,
    PRESETS,
    YT8M_COUNTS,
    YT8M_PRESETS,
    YT8M_RANK_ORDER,
    Preset,
    ensure_yt8m_benchmark,
    video_specs,
    yt8m_counts,
    yt8m_profile,
)
from avlib.data.instruments import generate as gen
from avlib.data.instruments.picture import render_video_frames
from avlib.errors import ParameterError
from avlib.paths import embedded_root

SEED = 7


def _tiny(**changes):
    base = Preset(yt8m_counts(12, min_count=1), (0.5, 0.7), (48,), 0.5, 1, 32, p_away=0.45, label_noise=0.3)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def bench_root(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("yt8m")
    preset = _tiny()
    root = ensure_yt8m_benchmark(data_root, scale="smoke", seed=SEED, n_jobs=2, preset=preset)
    return data_root, root, preset


# ------------------------------------------------------------------ imbalance profile
def test_counts_constant_matches_the_real_list():
    from avlib.data.icmr_metadata import packaged_metadata_dir

    real = pd.read_csv(packaged_metadata_dir() / "yt8m_videos.csv.xz")["label"].value_counts()  # ships with avlib
    assert tuple(sorted(real.to_numpy().tolist(), reverse=True)) == YT8M_COUNTS


def test_profile_maps_ranks_onto_our_categories():
    profile = yt8m_profile()
    assert len(profile) == len(CATEGORIES) == len(YT8M_RANK_ORDER)
    assert sorted(YT8M_RANK_ORDER) == sorted(INSTRUMENTS)
    # the r-th largest real class goes to the r-th instrument of the rank order; the smallest is dropped
    for r, inst in enumerate(YT8M_RANK_ORDER):
        assert profile[INSTRUMENTS.index(inst)] == YT8M_COUNTS[r]
    assert sorted(profile, reverse=True) == list(YT8M_COUNTS[: len(CATEGORIES)])
    assert sum(YT8M_PRESETS["paper"].counts()) == sum(YT8M_COUNTS[:12])


@pytest.mark.parametrize("total", [300, 2000])
def test_scaled_counts_keep_the_ratios(total):
    counts = np.asarray(yt8m_counts(total, min_count=1), float)
    profile = np.asarray(yt8m_profile(), float)
    assert abs(counts.sum() - total) <= len(counts)
    top = profile.argmax()
    assert counts.argmax() == top
    for c, p in zip(counts, profile):
        expected = p / profile.sum() * total
        if expected >= 1:  # not floored: within rounding of the real share
            assert abs(c - expected) <= 0.5 + 1e-9
    # ranks preserved: sorting by the real counts sorts ours too
    order = np.argsort(-profile, kind="stable")
    assert np.all(np.diff(counts[order]) <= 0)


def test_floor_and_bad_inputs():
    counts = yt8m_counts(40, min_count=3)
    assert min(counts) == 3 and max(counts) > 5 * min(counts)
    with pytest.raises(ParameterError):
        yt8m_counts(0)
    with pytest.raises(ParameterError):
        yt8m_counts(100, min_count=0)
    with pytest.raises(ParameterError):
        video_specs(_tiny(p_away=1.5), 0)


def test_presets_are_imbalanced_and_often_away():
    cpu = YT8M_PRESETS["cpu"].counts()
    assert 0.15 * sum(cpu) >= 240 and min(cpu) >= 4  # >= 240 test videos at cpu (70/15/15 split)
    ratio = max(cpu) / min(cpu)
    assert 10 < ratio <= YT8M_COUNTS[0] / YT8M_COUNTS[11] + 1e-9
    fcvid = PRESETS["cpu"].counts()
    assert max(fcvid) / min(fcvid) < ratio
    for scale in ("smoke", "cpu", "paper"):
        assert YT8M_PRESETS[scale].p_away > PRESETS[scale].p_away
        assert YT8M_PRESETS[scale].label_noise > 0


# ------------------------------------------------------------------ specs and rendering
def test_specs_deterministic_noisy_and_apart_from_fcvid():
    p = _tiny(label_noise=0.5, videos_per_class=10)
    a, b = video_specs(p, SEED, stream=gen.YT8M_STREAM), video_specs(p, SEED, stream=gen.YT8M_STREAM)
    assert a == b
    assert video_specs(p, SEED + 1, stream=gen.YT8M_STREAM) != a
    fcvid_ids = {s["video_id"] for s in video_specs(p, SEED)}
    assert fcvid_ids.isdisjoint(s["video_id"] for s in a)
    noisy = [s for s in a if s["rendered_label"] != s["label"]]
    assert 0.3 < len(noisy) / len(a) < 0.7  # 120 videos, label_noise 0.5
    clean = video_specs(replace(p, label_noise=0.0), SEED, stream=gen.YT8M_STREAM)
    # the noise changes only what is rendered, never the list
    strip = ("rendered_label",)
    assert [{k: v for k, v in s.items() if k not in strip} for s in clean] == \
        [{k: v for k, v in s.items() if k not in strip} for s in a]
    assert all(s["rendered_label"] == s["label"] for s in clean)


def test_render_away_share_follows_p_away():
    def away_share(p_away):
        shots = []
        for i in range(60):
            _, info = render_video_frames("violin", np.random.default_rng(i), duration=0.2, fps=10, size=(32, 24),
                                          p_away=p_away)
            shots += info["shots"]
        return np.mean([s == "away" for s in shots]), len(shots)

    low, n_low = away_share(0.12)
    high, n_high = away_share(0.45)
    assert high > low + 0.15
    assert abs(high - 0.45) < 4 * np.sqrt(0.45 * 0.55 / n_high)


# ------------------------------------------------------------------ generated benchmark
def test_benchmark_counts_labels_and_info(bench_root):
    data_root, root, preset = bench_root
    assert root == embedded_root(data_root, "smoke", "instruments_yt8m")
    df = pd.read_csv(root / "videos.csv", dtype={"video_id": str})
    per_class = df["label"].value_counts().reindex(range(12), fill_value=0).tolist()
    assert per_class == preset.counts()
    info = pd.read_csv(root / "videos_info.csv", dtype={"video_id": str})
    assert list(info["video_id"]) == list(df["video_id"])
    assert {"shots", "no_instrument_fraction", "rendered_category", "mislabelled"} <= set(info.columns)
    shots = info["shots"].str.split("+")
    away = shots.map(lambda s: sum(x == "away" for x in s) / len(s)).round(3)
    np.testing.assert_allclose(away, info["no_instrument_fraction"])
    assert (info["mislabelled"] == (info["rendered_category"] != info["category"])).all()
    assert info["mislabelled"].any()
    for r in df.itertuples():
        assert (root / "videos" / r.category / f"{r.video_id}.mp4").is_file()
    marker = json.loads((root / "generation.json").read_text())
    assert marker["variant"] == "instruments_yt8m" and marker["preset"]["p_away"] == preset.p_away


def test_video_regenerates_identically(bench_root, tmp_path):
    _, root, preset = bench_root
    spec = next(s for s in video_specs(preset, SEED, stream=gen.YT8M_STREAM) if s["rendered_label"] != s["label"])
    row = gen.generate_video(spec, tmp_path / "videos")
    again, ours = tmp_path / row["path"], root / row["path"]
    a1, s1 = media.read_audio(again)
    a2, s2 = media.read_audio(ours)
    assert s1 == s2
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(media.read_all_frames(again)[0], media.read_all_frames(ours)[0])
    # the picture shows the rendered (wrong) instrument: same as a correctly labelled video of it
    assert row["rendered_category"] == CATEGORIES[spec["rendered_label"]] != spec["category"]


def test_marker_reuse_and_regeneration(tmp_path):
    never = _tiny(p_away=0.0, label_noise=0.0)
    root = ensure_yt8m_benchmark(tmp_path, scale="smoke", seed=SEED, n_jobs=2, preset=never)
    info = pd.read_csv(root / "videos_info.csv")
    assert not info["shots"].str.contains("away").any() and not info["mislabelled"].any()
    mtime = (root / "videos.csv").stat().st_mtime_ns
    assert ensure_yt8m_benchmark(tmp_path, scale="smoke", seed=SEED, n_jobs=1, preset=never) == root
    assert (root / "videos.csv").stat().st_mtime_ns == mtime
    always = replace(never, p_away=1.0, p_closeup=0.0)  # close-ups share the shots left by p_away
    ensure_yt8m_benchmark(tmp_path, scale="smoke", seed=SEED, n_jobs=1, preset=always)
    info2 = pd.read_csv(root / "videos_info.csv")
    assert (info2["no_instrument_fraction"] == 1.0).all()
    assert list(info2["video_id"]) == list(info["video_id"])  # p_away changes pictures, not the list
    assert json.loads((root / "generation.json").read_text())["preset"]["p_away"] == 1.0
    # the marker records every generation knob, so a change of any regenerates
    assert {"p_away", "label_noise"} <= set(gen._params("cpu", 0, PRESETS["cpu"])["preset"])


# ------------------------------------------------------------------ ICMR entry points
def test_load_benchmark_keeps_its_own_folders(bench_root, monkeypatch):
    from avlib.experiments import icmr

    data_root, root, preset = bench_root
    monkeypatch.setitem(YT8M_PRESETS, "smoke", preset)
    bench = icmr.data.load_benchmark(data_root, scale="smoke", seed=SEED, source=icmr.data.YT8M_SOURCE)
    assert bench.root == root and "embedded" in bench.source
    assert bench.cache_dir.name == "instruments_yt8m"
    store = icmr.store.FeatureStore.for_run(data_root, scale="smoke", seed=SEED, source=icmr.data.YT8M_SOURCE)
    fcvid = icmr.store.FeatureStore.for_run(data_root, scale="smoke", seed=SEED, source="embedded")
    assert store.root != fcvid.root
    counts = icmr.youtube8m.youtube8m_class_counts(bench)
    assert counts["videos"].sum() == len(bench.videos)
    assert counts["yt8m_videos"].is_monotonic_decreasing
    assert counts["videos"].is_monotonic_decreasing
    assert counts.set_index("category").loc["guitarPerformance", "yt8m_class"] == "Guitar"
    assert counts["mislabelled"].sum() == pd.read_csv(root / "videos_info.csv")["mislabelled"].sum()
    assert (counts[["train", "val", "test"]].sum(axis=1) == counts["videos"]).all()


def test_youtube8m_config_caps_frames_at_20():
    from avlib.config.icmr import ICMRConfig
    from avlib.experiments.icmr.youtube8m import youtube8m_note

    paper = ICMRConfig.for_scale("paper")
    yt = paper.for_youtube8m()
    assert yt.fusion.frames == 20 and yt.fusion.visual == (20, True)
    assert yt.seeds == paper.seeds and yt.audio.epochs == paper.audio.epochs
    assert "YouTube-8M: fusion over 20 frames" in youtube8m_note(paper)
    small = ICMRConfig.for_scale("smoke")
    assert small.for_youtube8m() == small and youtube8m_note(small) == small.note()
    # the cpu scale: one seed and 2 audio epochs on this page only (it has no claim rows)
    cpu = ICMRConfig.for_scale("cpu")
    assert (cpu.for_youtube8m().seeds, cpu.for_youtube8m().audio.epochs) == ((0,), 2)
    assert (cpu.seeds, cpu.audio.epochs) == ((0, 1), 4)
    assert cpu.with_overrides({"youtube8m.audio_epochs": 3}).for_youtube8m().audio.epochs == 3


def test_run_fusion_model_uses_the_given_audio_features(tmp_path):
    """The fusion trains on the stored features of the audio run it is given, on videos with both inputs."""
    from avlib.config.icmr import ICMRConfig
    from avlib.experiments import icmr

    rng = np.random.default_rng(0)
    n, k, C = 30, 2, 3
    ids = [f"v{i:02d}" for i in range(n)]
    labels = np.arange(n) % C
    split = np.array(["train"] * 20 + ["val"] * 4 + ["test"] * 6)
    store = icmr.store.FeatureStore(tmp_path)
    store.save("visual", key="v", ids=ids, split=split, labels=labels,
               features=np.zeros((n, k, 2048)), probs=np.full((n, C), 1 / C))
    audio = np.zeros((n, 1024), np.float32)
    audio[np.arange(n), labels] = 5.0  # separable audio features
    probs = np.eye(C)[labels]
    store.save("good_audio", key="a", ids=ids[:-2], split=split[:-2], labels=labels[:-2], features=audio[:-2],
               probs=probs[:-2])
    bench = icmr.data.Benchmark(pd.DataFrame({"video_id": ids, "label": labels, "split": split}), tmp_path, None,
                                ["a", "b", "c"], "embedded benchmark", tmp_path)
    cfg = ICMRConfig.for_scale("smoke").with_overrides({"fusion.frames": k, "fusion.epochs": 15,
                                                        "fusion.hidden": [32, 32]})
    out = icmr.fusion.run_fusion_model(bench, cfg, {"tag": "good_audio"}, {"tag": "visual"}, seed=0, store=store)
    assert out["parts"]["test"] == ids[24:28]  # the last two videos have no audio features
    assert out["probs"].shape == (4, C) and out["audio_summary"]["hit_at_1"] == 100.0
    assert out["fusion_summary"]["hit_at_1"] >= 75.0
    with pytest.raises(Exception, match="stored features missing"):
        icmr.fusion.run_fusion_model(bench, cfg, {"tag": "absent"}, {"tag": "visual"}, seed=0, store=store)


def test_feature_store_follows_the_benchmark_generation(tmp_path):
    from avlib.experiments.icmr.store import FeatureStore
    from avlib.paths import embedded_root

    plain = FeatureStore.for_run(tmp_path, scale="smoke", seed=0).root
    marker = embedded_root(tmp_path, "smoke", "instruments") / "generation.json"
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"version": "1.1", "seed": 0, "preset": {"videos_per_class": 3}, "seconds": 1.0}))
    first = FeatureStore.for_run(tmp_path, scale="smoke", seed=0).root
    marker.write_text(json.dumps({"version": "1.1", "seed": 0, "preset": {"videos_per_class": 3}, "seconds": 9.0}))
    assert FeatureStore.for_run(tmp_path, scale="smoke", seed=0).root == first  # timing is not a parameter
    marker.write_text(json.dumps({"version": "1.1", "seed": 0, "preset": {"videos_per_class": 4}}))
    second = FeatureStore.for_run(tmp_path, scale="smoke", seed=0).root
    assert len({plain, first, second}) == 3
    assert FeatureStore.for_run(tmp_path, scale="smoke", seed=0, source="embedded_yt8m").root != first
