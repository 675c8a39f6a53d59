"""Tests of the embedded instrument benchmark generator (avlib.data.instruments)."""
import json

import numpy as np
import pandas as pd
import pytest

from avlib import media
from avlib.data.instruments import CATEGORIES, INSTRUMENTS, PRESETS, Preset, ensure_instrument_benchmark, video_specs
from avlib.data.instruments.generate import generate_video
from avlib.data.instruments.picture import render_clean_image, render_video_frames
from avlib.data.instruments.sound import VOICES, render_performance


def test_label_order_is_fcvid():
    assert CATEGORIES[:4] == ("accordionPerformance", "trumpetPerformance", "flutePerformance", "chamberMusic")
    assert CATEGORIES[4] == "symphonyOrchestraPerformance" and CATEGORIES[11] == "pianoPerformance"
    assert len(set(CATEGORIES)) == 12
    assert CATEGORIES != tuple(sorted(CATEGORIES))  # not alphabetical


def test_presets_sizes():
    assert sum(PRESETS["smoke"].counts()) == 36
    assert sum(PRESETS["paper"].counts()) == 5147  # FCVID-sized
    assert sum(PRESETS["cpu"].counts()) >= 200


def test_specs_deterministic_and_varied():
    p = PRESETS["cpu"]
    a, b = video_specs(p, 0), video_specs(p, 0)
    assert a == b
    assert video_specs(p, 1) != a
    ids = [s["video_id"] for s in a]
    assert len(set(ids)) == len(ids) and all(len(i) == 11 for i in ids)
    fps = {s["fps"] for s in a}
    assert len(fps) >= 4
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
