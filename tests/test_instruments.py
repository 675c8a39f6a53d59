"""Tests of the embedded instrument benchmark generator (avlib.data.instruments)."""
import json

import numpy as np
import pandas as pd
import pytest

from avlib import media
from fractions import Fraction

from avlib.data.instruments import (CATEGORIES, GENERATOR_VERSION, INSTRUMENTS, PRESETS, YT8M_COUNTS, YT8M_PRESETS,
                                    Preset, ensure_instrument_benchmark, video_specs, yt8m_profile)
from avlib.data.instruments import calibration as cal
from avlib.errors import ParameterError
from avlib.data.instruments.generate import generate_video
from avlib.data.instruments.picture import render_clean_image, render_video_frames
from avlib.data.instruments.sound import VOICES, render_performance


def test_label_order_is_fcvid():
    assert CATEGORIES[:4] == ("accordionPerformance", "trumpetPerformance", "flutePerformance", "chamberMusic")
    assert CATEGORIES[4] == "symphonyOrchestraPerformance" and CATEGORIES[11] == "pianoPerformance"
    assert len(set(CATEGORIES)) == 12
    assert CATEGORIES != tuple(sorted(CATEGORIES))  # not alphabetical


def _split_sizes(n):
    from avlib.data.icmr_metadata import official_splits

    s = official_splits([f"v{i}" for i in range(n)], [i % 12 for i in range(n)])
    return {k: len(v[0]) for k, v in s.items()}


def test_presets_sizes():
    assert sum(PRESETS["smoke"].counts()) == 36
    assert sum(PRESETS["paper"].counts()) == 5147  # FCVID-sized
    assert sum(YT8M_PRESETS["paper"].counts()) == sum(YT8M_COUNTS[:12])


@pytest.mark.parametrize("variant", ["fcvid", "yt8m"])
def test_cpu_test_split_can_separate_methods(variant):
    """>= 240 test videos (about 20 per category) in the authors' 70/15/15 split, computed
    from the preset without generating anything."""
    p = (PRESETS if variant == "fcvid" else YT8M_PRESETS)["cpu"]
    sizes = _split_sizes(p.n_videos)
    assert sizes["test"] >= 240 and sizes["val"] >= 240
    assert sizes["train"] == pytest.approx(0.7 * p.n_videos, abs=1)
    assert min(p.counts()) >= (100 if variant == "fcvid" else 20)
    # cheap videos: short, small frames (the cpu ICMR preset uses 80 px crops and 1-3 s of audio)
    assert p.duration_s[1] <= 6.0 and max(p.widths) <= 128


def test_yt8m_cpu_keeps_the_class_count_profile():
    counts = np.array(YT8M_PRESETS["cpu"].counts())
    profile = np.array(yt8m_profile())
    assert list(np.argsort(-counts, kind="stable")) == list(np.argsort(-profile, kind="stable"))
    np.testing.assert_allclose(counts / counts.sum(), profile / profile.sum(), atol=0.003)


def test_specs_deterministic_and_varied():
    p = PRESETS["cpu"]
    a, b = video_specs(p, 0), video_specs(p, 0)
    assert a == b
    assert video_specs(p, 1) != a
    ids = [s["video_id"] for s in a]
    assert len(set(ids)) == len(ids) and all(len(i) == 11 for i in ids)
    fps = {s["fps"] for s in a}
    assert fps == {f"{Fraction(f).numerator}/{Fraction(f).denominator}" for f in p.fps_choices}
    assert any(s["height"] > s["width"] for s in a), "some portrait videos"
    durs = [s["duration_s"] for s in a]
    assert min(durs) >= p.duration_s[0] - 0.1 and max(durs) <= p.duration_s[1] + 0.1


@pytest.mark.parametrize("inst", ["violin", "cello"])
def test_register_violin_vs_cello(inst):
    """Violin and cello share the bowed spectrum; register differs (cello goes lower)."""
    v = VOICES[inst]
    assert v.excitation == "bowed"
    assert (v.low < 48) == (inst == "cello")


def test_sound_renders_all_categories():
    rng = np.random.default_rng(0)
    for inst in INSTRUMENTS:
        audio, sr, info = render_performance(inst, rng, 1.0)
        assert audio.dtype == np.float32 and audio.shape[0] in (1, 2)
        assert abs(audio.shape[1] - 1.0 * sr) <= 2
        assert np.all(np.abs(audio) <= 1.0) and np.abs(audio).max() > 0.01
        assert sr in (16000, 22050, 32000, 44100, 48000)


def test_pitch_register_of_solo_instruments():
    """Spectral centroid of a dry cello line lies below that of a dry flute line."""
    from avlib.data.instruments.sound import compose, random_key, synth_part

    def centroid(inst):
        rng = np.random.default_rng(3)
        key = random_key(rng)
        notes = compose(rng, VOICES[inst], key, 3.0, role="melody")
        y = synth_part(notes, VOICES[inst], 3.0, rng)
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(len(y), 1 / 16000)
        return (spec * f).sum() / spec.sum()

    assert centroid("cello") < centroid("flute")


def test_picture_frames_and_bank():
    rng = np.random.default_rng(0)
    frames, info = render_video_frames("guitar", rng, duration=1.0, fps=15, size=(96, 72))
    assert frames.shape == (15, 72, 96, 3) and frames.dtype == np.uint8
    assert frames.std() > 5  # not blank
    assert not np.array_equal(frames[0], frames[-1])  # camera moves
    img = render_clean_image("trumpet", np.random.default_rng(1), size=64)
    assert img.shape == (64, 64, 3)


def test_generate_video_deterministic(tmp_path):
    spec = {"video_id": "AbCdEfGhIjK", "category": "harmonicaPerformance", "label": 8, "index": 0,
            "duration_s": 1.0, "fps": "20/1", "n_frames": 20, "width": 80, "height": 64, "seed": 5}
    r1 = generate_video(spec, tmp_path / "a" / "videos")
    r2 = generate_video(spec, tmp_path / "b" / "videos")
    p1 = tmp_path / "a" / r1["path"]
    p2 = tmp_path / "b" / r2["path"]
    a1, s1 = media.read_audio(p1)
    a2, s2 = media.read_audio(p2)
    assert s1 == s2
    np.testing.assert_array_equal(a1, a2)
    f1, _ = media.read_all_frames(p1)
    f2, _ = media.read_all_frames(p2)
    np.testing.assert_array_equal(f1, f2)
    assert f1.shape == (20, 64, 80, 3)


def test_ensure_benchmark_layout_marker_and_reuse(tmp_path):
    tiny = Preset(1, (0.6, 0.8), (48,), 0.5, 1, 32)
    root = ensure_instrument_benchmark(tmp_path, scale="smoke", seed=3, n_jobs=2, preset=tiny)
    assert root == tmp_path / "embedded" / "smoke" / "instruments"
    df = pd.read_csv(root / "videos.csv")
    assert list(df.columns) == ["video_id", "category", "label", "duration_s", "fps"]
    assert len(df) == 12 and sorted(df["label"]) == list(range(12))
    assert all(CATEGORIES[l] == c for l, c in zip(df["label"], df["category"]))
    for r in df.itertuples():
        path = root / "videos" / r.category / f"{r.video_id}.mp4"
        info = media.probe(path)
        assert info["has_audio"] and info["has_video"]
        assert info["duration_s"] == pytest.approx(r.duration_s, abs=0.15)
    assert len(list((root / "image_bank").glob("*/*.png"))) == 12
    marker = json.loads((root / "generation.json").read_text())
    assert marker["seed"] == 3 and marker["scale"] == "smoke"
    mtime = (root / "videos.csv").stat().st_mtime_ns
    # same parameters: nothing regenerated; one process gives the same list
    assert ensure_instrument_benchmark(tmp_path, scale="smoke", seed=3, n_jobs=1, preset=tiny) == root
    assert (root / "videos.csv").stat().st_mtime_ns == mtime
    # different seed: regenerated (with one process) -> new ids
    ensure_instrument_benchmark(tmp_path, scale="smoke", seed=4, n_jobs=1, preset=tiny)
    df2 = pd.read_csv(root / "videos.csv")
    assert set(df2["video_id"]).isdisjoint(df["video_id"])
    assert len(list((root / "videos").glob("*/*.mp4"))) == 12  # old files removed


@pytest.mark.parametrize("duration", [0.7333, 1.0333])
def test_ensemble_parts_align_for_odd_durations(duration):
    """Regression: the drum part was one sample short for some durations (rock band crash)."""
    audio, sr, _ = render_performance("rockBand", np.random.default_rng(1), duration)
    assert abs(audio.shape[1] - duration * sr) <= 2


def test_generation_is_byte_identical_for_a_seed(tmp_path):
    """Two generations with the same seed: identical videos.csv and identical video files."""
    import hashlib

    tiny = Preset((1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0), (0.6, 0.8), (48,), 0.0, 1, 16,
                  fps_choices=("12",), sample_rates=(16000,))
    roots = [ensure_instrument_benchmark(tmp_path / d, scale="smoke", seed=7, n_jobs=1, preset=tiny) for d in "ab"]
    assert (roots[0] / "videos.csv").read_bytes() == (roots[1] / "videos.csv").read_bytes()
    df = pd.read_csv(roots[0] / "videos.csv")
    assert len(df) == 2
    for r in df.itertuples():
        h = [hashlib.sha256((root / "videos" / r.category / f"{r.video_id}.mp4").read_bytes()).hexdigest()
             for root in roots]
        assert h[0] == h[1]
    marker = json.loads((roots[0] / "generation.json").read_text())
    assert marker["version"] == GENERATOR_VERSION and marker["preset"]["snr_db"] == list(tiny.snr_db)


def test_information_knobs_reach_the_renderers():
    p = Preset(2, (1.0, 1.5), (64,), 0.0, 1, 16, p_away=0.0, p_closeup=1.0, snr_db=(30.0, 31.0),
               sample_rates=(22050,))
    specs = video_specs(p, 0)
    assert all(s["p_closeup"] == 1.0 and s["snr_db"] == [30.0, 31.0] for s in specs)
    _, info = render_video_frames("violin", np.random.default_rng(0), duration=1.0, fps=4, size=(64, 48),
                                  p_away=0.0, p_closeup=1.0)
    assert set(info["shots"]) == {"closeup"}
    _, info = render_video_frames("violin", np.random.default_rng(0), duration=1.0, fps=4, size=(64, 48),
                                  p_away=1.0, p_closeup=0.0)
    assert set(info["shots"]) == {"away"}
    _, sr, ainfo = render_performance("flute", np.random.default_rng(0), 0.5, snr_db=(30.0, 31.0),
                                      sample_rates=(22050,))
    assert sr == 22050 and 30.0 <= ainfo["snr_db"] <= 31.0
    with pytest.raises(ParameterError):
        video_specs(Preset(1, p_away=0.8, p_closeup=0.5), 0)


def test_probe_features_shapes():
    rng = np.random.default_rng(0)
    a = cal.audio_probe_features(rng.standard_normal(12000).astype(np.float32), sr=12000)
    assert a.shape == (192,) and np.isfinite(a).all()
    frames = rng.integers(0, 256, (5, 40, 60, 3), dtype=np.uint8)
    v = cal.video_probe_features(frames)
    assert v.shape == (3 * 64 + 24,)
    np.testing.assert_allclose(v[192:].reshape(3, 8).sum(1), 1.0, atol=1e-6)
    with pytest.raises(ParameterError):
        cal.video_probe_features(frames[:0])


def test_probe_matches_scikit_learn_on_toy_input():
    """The probe's out-of-fold predictions equal a hand-written scikit-learn loop."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 20)
    X = rng.standard_normal((60, 4)) + 4.5 * np.eye(3, 4)[y]
    pred = cal.probe_predictions(X, y, n_splits=5, seed=3)
    ref = np.empty_like(y)
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=3).split(X, y):
        sc = StandardScaler().fit(X[tr])
        clf = LogisticRegression(C=cal.PROBE_C, max_iter=2000).fit(sc.transform(X[tr]), y[tr])
        ref[te] = clf.predict(sc.transform(X[te]))
    np.testing.assert_array_equal(pred, ref)
    assert (pred == y).mean() > 0.9  # separable toy classes
    noise = cal.probe_predictions(rng.standard_normal((60, 4)), y, n_splits=5, seed=3)
    assert (noise == y).mean() < 0.6  # no information: near chance (1/3)
    with pytest.raises(ParameterError):
        cal.probe_predictions(X[:3], y[:3])  # too few videos
    # classes smaller than the number of folds (smoke scale): plain folds, still one prediction each
    assert cal.probe_predictions(X[::7], y[::7], n_splits=5).shape == (9,)


def test_late_fusion_is_the_product_rule():
    pa = np.array([[0.6, 0.4], [0.2, 0.8]])
    pv = np.array([[0.3, 0.7], [0.5, 0.5]])
    scores = cal.late_fusion(pa, pv)
    np.testing.assert_allclose(np.exp(scores), pa * pv)
    assert list(np.argmax(scores, 1)) == [1, 1]


def test_complementarity_shares():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    pa = np.array([0, 1, 2, 9, 9, 9, 6, 9])
    pv = np.array([0, 9, 9, 3, 4, 9, 6, 9])
    assert cal.complementarity(y, pa, pv) == {"only audio": 2 / 8, "only video": 2 / 8, "both": 2 / 8, "neither": 2 / 8}
    rng = np.random.default_rng(0)
    y = rng.integers(0, 12, 500)
    pa = np.where(rng.random(500) < 0.7, y, (y + 1) % 12)
    pv = np.where(rng.random(500) < 0.4, y, (y + 2) % 12)
    c = cal.complementarity(y, pa, pv)
    assert sum(c.values()) == pytest.approx(1.0)
    assert c["only audio"] + c["both"] == pytest.approx(np.mean(pa == y))
    assert c["only video"] + c["both"] == pytest.approx(np.mean(pv == y))
    with pytest.raises(ParameterError):
        cal.complementarity(y, y[:3], y)


# ------------------------------------------------------------------ calibration: target bands
def _accuracy_table(audio, video, fusion=70.0):
    return pd.DataFrame({"modality": ["audio", "video", "audio + video (concatenated)", "audio + video"],
                         "cv accuracy (%)": [audio, video, 65.0, fusion], "fold sd (%)": [2.0, 2.5, 2.0, 2.0]})


def test_band_check_on_a_hand_made_case():
    """Audio inside its band, video below (the generator-2.1 calibration: 60.4 / 24.1 %)."""
    check = cal.band_check(_accuracy_table(60.4, 24.1)).set_index("modality")
    assert list(check.index) == ["audio", "video"]  # one row per band: no band on the fusion
    assert check.loc["audio", "in band"] and not check.loc["video", "in band"]
    assert check.loc["audio", "off band (points)"] == 0.0
    assert check.loc["video", "off band (points)"] == pytest.approx(24.1 - 30.0)
    assert (check.loc["video", "target low (%)"], check.loc["video", "target high (%)"]) == (30.0, 55.0)
    assert check.loc["video", "fold sd (%)"] == 2.5
    # above the band: positive distance; the bounds themselves are inside; the fusion is never checked
    above = cal.band_check(_accuracy_table(80.0, 55.0, fusion=20.0)).set_index("modality")
    assert not above.loc["audio", "in band"] and above.loc["audio", "off band (points)"] == pytest.approx(5.0)
    assert above.loc["video", "in band"]
    assert cal.band_check(_accuracy_table(55.0, 30.0))["in band"].all()
    # a modality without a measurement is reported, not in band
    missing = cal.band_check(_accuracy_table(60.0, 40.0).iloc[:1]).set_index("modality")
    assert not missing.loc["video", "in band"] and np.isnan(missing.loc["video", "measured (%)"])
    # custom bands
    own = {"video": cal.TargetBand("video", 20.0, 25.0, "-", "test")}
    assert cal.band_check(_accuracy_table(60.0, 24.1), own)["in band"].tolist() == [True]
    assert not cal.in_band(float("nan"), own["video"]) and cal.in_band(20.0, own["video"])
    with pytest.raises(ParameterError):
        cal.TargetBand("video", 50.0, 40.0, "-", "low above high")


def test_target_bands_sit_below_the_papers_unimodal_numbers():
    """Each band is the paper's FCVID range (Tables 2 and 3) lowered, and well above chance (8.3 %)."""
    from avlib.report import paper_table

    t2, t3 = paper_table("icmr2017_table2_visual"), paper_table("icmr2017_table3_audio")
    paper = {"video": t2[t2["dataset"] == "FCVID"]["hit_at_1"], "audio": t3[t3["dataset"] == "FCVID"]["hit_at_1"]}
    assert set(cal.TARGET_BANDS) == {"audio", "video"}  # single modalities only
    for name, band in cal.TARGET_BANDS.items():
        assert band.low < paper[name].min() and band.high < paper[name].max(), name
        assert band.low >= 3 * 100 / 12
        assert f"{paper[name].min():.1f}" in band.paper and f"{paper[name].max():.1f}" in band.paper


def test_complementarity_table_beside_independent_errors():
    y = np.arange(10)
    pa = np.where(np.arange(10) < 6, y, -1)  # audio right on 0-5
    pv = np.where(np.arange(10) >= 4, y, -1)  # video right on 4-9
    t = cal.complementarity_table(y, pa, pv).set_index("outcome")
    assert t.loc["only audio", "share (%)"] == pytest.approx(40.0)
    assert t.loc["only video", "share (%)"] == pytest.approx(40.0)
    assert t.loc["both", "share (%)"] == pytest.approx(20.0)
    assert t.loc["neither", "share (%)"] == pytest.approx(0.0)
    # a = v = 0.6: independent errors would give 24 / 24 / 36 / 16 %
    np.testing.assert_allclose(t["if independent (%)"], [24.0, 24.0, 36.0, 16.0])
    assert t["if independent (%)"].sum() == pytest.approx(100.0)


def _rendered_video_probe(preset, seed=0, k=5):
    """Video probe features of every video of ``preset`` rendered without sound or encoding."""
    from avlib.data.instruments.generate import render_picture

    specs = video_specs(preset, seed)
    feats = []
    for s in specs:
        frames, _ = render_picture(s)
        idx = np.minimum(((np.arange(k) + 0.5) / k * len(frames)).astype(int), len(frames) - 1)
        feats.append(cal.video_probe_features(frames[idx]))
    return np.stack(feats), np.array([s["label"] for s in specs])


def test_tiny_generated_set_has_video_information():
    """The calibrated knobs put information in the picture: the video probe on a tiny set (8 videos per
    class, rendered without sound) is far above chance (8.3 %); with every shot away from the
    instrument it is not (the information comes from the shots that show it)."""
    from dataclasses import replace

    from avlib.data.instruments import KNOBS

    tiny = Preset(8, (1.0, 1.2), (64,), 0.0, 1, 16, fps_choices=("4",), sample_rates=(16000,), **KNOBS)
    X, y = _rendered_video_probe(tiny)
    acc = float(np.mean(cal.probe_predictions(X, y, n_splits=4) == y))
    assert acc >= 0.2, acc  # 23 of 96 right here (seeds 0-4: 22-27); chance gives 8 +- 2.7
    X0, y0 = _rendered_video_probe(replace(tiny, p_away=1.0, p_closeup=0.0))
    acc0 = float(np.mean(cal.probe_predictions(X0, y0, n_splits=4) == y0))
    assert acc0 <= 0.17 and acc - acc0 >= 0.07, (acc0, acc)  # 13 of 96 here (seeds 0-4: 4-15)
