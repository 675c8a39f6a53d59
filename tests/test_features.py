"""Tests of avlib.features: audio decoding, MFCCs per video frame, log-mel inputs, frames,
cache and dataset-level extraction with bad files."""
from pathlib import Path

import numpy as np
import pytest

from avlib import media
from avlib.errors import MediaError, ParameterError
from avlib.features import audio as fa


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _write(tmp_path, name, seconds=2.0, sr=22050, fps=15, ch=1, f=440.0, size=(48, 64)):
    n = int(seconds * fps)
    fr = np.full((n, size[0], size[1], 3), 90, np.uint8)
    t = np.arange(int(seconds * sr)) / sr
    au = np.tile(0.4 * np.sin(2 * np.pi * f * t), (ch, 1))
    return media.write_video(tmp_path / name, fr, fps=fps, audio=au, sample_rate=sr)


# ---------------------------------------------------------------- audio decoding
def test_load_audio_resamples_and_mixes(tmp_path):
    path = _write(tmp_path, "a.mp4", seconds=2.0, sr=44100, ch=2, f=1000.0)
    y = fa.load_audio(path, sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 32000) < 1200
    spec = np.abs(np.fft.rfft(y[:16000]))
    assert np.argmax(spec) == pytest.approx(1000, abs=2)  # 1 Hz bins over one second
    st = fa.load_audio(path, sr=None, mono=False)
    assert st.shape[0] == 2


def test_load_audio_errors(tmp_path):
    no_audio = media.write_video(tmp_path / "v.mp4", np.zeros((5, 16, 16, 3), np.uint8), fps=5)
    with pytest.raises(MediaError, match="v.mp4"):
        fa.load_audio(no_audio, sr=16000)
    short = _write(tmp_path, "s.mp4", seconds=0.2)
    with pytest.raises(MediaError, match="too short"):
        fa.load_audio(short, sr=16000, min_seconds=1.0)


# ---------------------------------------------------------------- MFCC per video frame
def test_mfcc_per_video_frame_matches_librosa(rng):
    import librosa

    sr, fps = 16000, 25
    hop = sr // fps  # 640 samples per video frame
    y = np.zeros(sr * 2, np.float32)
    y[2000:] = rng.standard_normal(len(y) - 2000).astype(np.float32) * 0.1
    y[2000:] += 0.3 * np.sin(2 * np.pi * 300 * np.arange(len(y) - 2000) / sr)
    n_frames = 50
    ours = fa.mfcc_per_video_frame(y, sr=sr, fps=fps, n_frames=n_frames, n_mfcc=26, n_mels=40)
    assert ours.shape == (50, 26) and ours.dtype == np.float32
    # librosa's frame t is centred at t * hop: shift the signal by half a video frame
    ref = librosa.feature.mfcc(y=y[hop // 2:], sr=sr, n_mfcc=26, n_fft=1024, hop_length=hop,
                               win_length=hop, window="hann", center=True, pad_mode="constant",
                               n_mels=40, htk=False, norm="ortho")
    m = min(ref.shape[1], n_frames)
    np.testing.assert_allclose(ours[:m], ref.T[:m], rtol=1e-3, atol=1e-2)


def test_mfcc_per_video_frame_padding_and_errors():
    y = np.ones(1000, np.float32)
    out = fa.mfcc_per_video_frame(y, sr=8000, fps=30, n_frames=20)
    assert out.shape == (20, 26) and np.all(np.isfinite(out))
    with pytest.raises(ParameterError):
        fa.mfcc_per_video_frame(np.ones((2, 10)), sr=8000, fps=30, n_frames=2)
    with pytest.raises(ParameterError):
        fa.mfcc_per_video_frame(y, sr=8000, fps=0, n_frames=2)


# ---------------------------------------------------------------- log-mel inputs
def test_crop_choi_uc_cc():
    sr = 100
    y = np.arange(6000, dtype=np.float32)  # 60 s at 100 Hz; 29.12 s = 2912 samples
    cc = fa.crop_choi(y, sr=sr, mode="cc")
    assert len(cc) == 2912 and cc[0] == (6000 - 2912) // 2
    uc = fa.crop_choi(y, sr=sr, mode="uc")
    assert len(uc) == 2912
    seg = 291  # 10 parts of 600 samples, central 2.91 s of each
    for k in range(10):
        assert uc[k * seg] == pytest.approx(600 * k + 300 - seg / 2, abs=1)
        assert np.all(np.diff(uc[k * seg:(k + 1) * seg]) == 1)
    short = fa.crop_choi(np.ones(100, np.float32), sr=sr)
    assert len(short) == 2912 and short[:100].sum() == 100 and short[100:].sum() == 0
    with pytest.raises(ParameterError):
        fa.crop_choi(y, sr=sr, mode="xx")


def test_logmel_choi_layout_matches_real_fixture(rng):
    y = rng.standard_normal(22050 * 40).astype(np.float32) * 0.1
    S = fa.logmel_choi(y, sr=22050, mode="uc")
    assert S.shape == (96, 1366) and S.dtype == np.float32
    assert S.max() - S.min() <= 80.0 + 1e-3
    real = np.load(Path(__file__).parent / "fixtures" / "icmr2017" / "demo.wav.spec.npy")  # the authors' demo
    assert real.shape == S.shape
    assert real.max() - real.min() == pytest.approx(80.0)  # top_db = 80 as in our default
    # the scale itself (squared power, floor share) is checked in tests/test_fidelity_icmr.py


def test_logmel_han_segments(rng):
    y = rng.standard_normal(22050 * 5).astype(np.float32)
    S = fa.logmel_han(y, sr=22050)
    assert S.shape == (10, 128, 43)
    full = fa.logmel(y, sr=22050, n_fft=1024, hop_length=512, n_mels=128, scale="power_squared")
    np.testing.assert_allclose(S[0], full[:, :43], atol=1e-4)
    np.testing.assert_allclose(S[-1], full[:, -43:], atol=1e-4)
    tiny = fa.logmel_han(y[:5000], sr=22050)
    assert tiny.shape == (10, 128, 43)


# ---------------------------------------------------------------- frames
def test_frame_times():
    from avlib.features.frames import frame_times

    np.testing.assert_allclose(frame_times(10.0, k=5, mode="uniform"), [1, 3, 5, 7, 9])
    np.testing.assert_allclose(frame_times(3.2, mode="fps"), [0.5, 1.5, 2.5])
    t = frame_times(100.0, k=4, mode="fps")
    assert len(t) == 4 and t[0] == 0.5 and t[-1] == 99.5
    assert len(frame_times(0.3, mode="fps")) == 1
    with pytest.raises(ParameterError):
        frame_times(0.0, k=2, mode="uniform")
    with pytest.raises(ParameterError):
        frame_times(1.0, mode="bad")


def test_sample_and_preprocess_frames(tmp_path):
    from avlib.features.frames import preprocess_frames, sample_frames

    T, fps = 40, 10
    fr = np.zeros((T, 60, 40, 3), np.uint8)  # portrait
    fr[:, :, :20, 0] = 255  # left half red
    for i in range(T):
        fr[i, :, :, 1] = i * 6
    path = media.write_video(tmp_path / "p.mp4", fr, fps=fps)
    frames, times = sample_frames(path, k=4, mode="uniform")
    assert frames.shape == (4, 60, 40, 3)
    np.testing.assert_allclose(times, [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(frames[:, 30, 30, 1], [30, 90, 150, 210], atol=8)
    x = preprocess_frames(frames, resize=32, crop=28)
    assert x.shape == (4, 3, 28, 28) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    assert x[0, 0, 14, 2] > 0.8 and x[0, 0, 14, 25] < -0.8  # red on the left
    flipped = preprocess_frames(frames, resize=32, crop=28, train=True, rng=np.random.default_rng(0))
    for i in range(4):
        same = np.allclose(flipped[i], x[i])
        mirrored = np.allclose(flipped[i], x[i][:, :, ::-1])
        assert same or mirrored
    with pytest.raises(ParameterError):
        preprocess_frames(frames, resize=20, crop=28)


# ---------------------------------------------------------------- cache
def test_cache_atomic_and_keyed(tmp_path):
    from avlib.features.cache import FeatureCache, file_key

    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 10)
    c = FeatureCache(tmp_path / "cache")
    k1 = file_key(f, "han", {"n": 1})
    assert k1 != file_key(f, "han", {"n": 2}) and k1 != file_key(f, "choi_uc", {"n": 1})
    assert c.get("han", k1) is None
    c.put("han", k1, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(c.get("han", k1), np.arange(6.0).reshape(2, 3))
    assert not list((tmp_path / "cache").rglob(".*tmp*"))
    # a damaged (half-written) entry is a miss, not a crash
    path = next((tmp_path / "cache").rglob("*.npy"))
    path.write_bytes(path.read_bytes()[:20])
    assert c.get("han", k1) is None and not path.exists()
    # the file changes -> new key
    import os
    import time

    time.sleep(0.01)
    f.write_bytes(b"y" * 11)
    os.utime(f)
    assert file_key(f, "han", {"n": 1}) != k1


def test_cache_keys_follow_content_not_path_or_time(tmp_path):
    """A cache copied to another machine, or a dataset moved to another folder, is found again."""
    import os
    import shutil

    from avlib.features.cache import FINGERPRINT_CHUNK, content_fingerprint, file_key

    rng = np.random.default_rng(0)
    small, big = tmp_path / "a" / "small.mp4", tmp_path / "a" / "big.mp4"
    small.parent.mkdir()
    small.write_bytes(rng.bytes(1000))
    big.write_bytes(rng.bytes(4 * FINGERPRINT_CHUNK + 17))
    moved = tmp_path / "elsewhere" / "renamed.mp4"
    moved.parent.mkdir()
    shutil.copyfile(big, moved)
    os.utime(moved, (1_000_000, 1_000_000))
    assert file_key(moved, "han", {"n": 1}) == file_key(big, "han", {"n": 1})
    assert content_fingerprint(small) != content_fingerprint(big)
    for offset in (0, (big.stat().st_size - FINGERPRINT_CHUNK) // 2 + 5, big.stat().st_size - 1):
        data = bytearray(big.read_bytes())
        data[offset] ^= 0xFF  # one byte in the first, middle or last MiB
        moved.write_bytes(bytes(data))
        assert file_key(moved, "han", {"n": 1}) != file_key(big, "han", {"n": 1}), offset
    moved.write_bytes(big.read_bytes() + b"\0")  # another size
    assert content_fingerprint(moved) != content_fingerprint(big)


# ---------------------------------------------------------------- dataset extraction with bad files
@pytest.fixture
def messy_root(tmp_path):
    """A small FCVID-layout folder with good and broken files."""
    root = tmp_path / "videos"
    cat = "violinPerformance"
    d = root / cat
    d.mkdir(parents=True)
    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t))[None]
    fr = np.full((int(1.5 * 15), 48, 64, 3), 120, np.uint8)
    media.write_video(d / "good.mp4", fr, fps=15, audio=tone, sample_rate=sr)
    media.write_video(d / "odd_fps.mkv", fr[:10], fps=7, audio=tone[:, : int(10 / 7 * sr)], sample_rate=sr)
    media.write_video(d / "portrait.mp4", np.full((45, 80, 48, 3), 60, np.uint8), fps=30,
                      audio=tone, sample_rate=sr)
    media.write_video(d / "noaudio.mp4", fr, fps=15)
    media.write_video(d / "silent.mp4", fr, fps=15, audio=np.zeros_like(tone), sample_rate=sr)
    media.write_video(d / "short.mp4", fr[:3], fps=15, audio=tone[:, : sr // 5], sample_rate=sr)
    good = (d / "good.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (d / "corrupt.mp4").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    (d / "empty.mp4").write_bytes(b"")
    ids = ["good", "odd_fps", "portrait", "noaudio", "silent", "short", "truncated", "corrupt", "empty", "unknown_id"]
    df = pd.DataFrame({"video_id": ids, "category": cat, "label": 6})
    return root, df


import pandas as pd  # noqa: E402


def test_extract_audio_keeps_silent_and_short_clips_counted_and_skips_undecodable_files(messy_root, tmp_path):
    """A silent track and a 0.2 s clip stay in the data (the features of silence, zero-padded),
    counted; files that cannot be decoded are skipped, each named with its file."""
    from avlib.features.dataset import extract_features

    root, df = messy_root
    feats, rep = extract_features(df, video_root=root, kind="han", cache_dir=tmp_path / "cache", n_jobs=1)
    assert set(feats) == {"good", "odd_fps", "portrait", "silent", "short"}
    assert feats["good"].shape == feats["silent"].shape == feats["short"].shape == (10, 128, 43)
    # silence: every bin at librosa's floor (10 log10(1e-10) = -100 dB), as the authors' code gives
    np.testing.assert_array_equal(feats["silent"], np.full((10, 128, 43), -100.0, np.float32))
    assert feats["short"].max() > -100.0 and (feats["short"] == feats["short"].min()).any()  # zero-padded
    notes = {vid: note for vid, _, note in rep.noted}
    assert notes == {"silent": "silent track", "short": "short clip"}
    reasons = {vid: reason for vid, _, reason in rep.skipped}
    assert set(reasons) == {"noaudio", "truncated", "corrupt", "empty", "unknown_id"}
    for vid in ("noaudio", "truncated", "corrupt", "empty"):
        assert f"{vid}.mp4" in reasons[vid], reasons[vid]  # the message names the file
    assert "no audio stream" in reasons["noaudio"] and "unknown video id" in reasons["unknown_id"]
    assert rep.n_ok == 5 and rep.n_computed == 5 and "skipped" in str(rep) and "1 silent, 1 short" in str(rep)
    assert rep.counts() == {"videos": 10, "used": 5, "silent track": 1, "short clip": 1, "not decodable": 5}
    # second run: everything from the cache (bad files and notes remembered), same values
    feats2, rep2 = extract_features(df, video_root=root, kind="han", cache_dir=tmp_path / "cache", n_jobs=1)
    assert rep2.n_cached == 5 and rep2.n_computed == 0 and len(rep2.skipped) == 5
    assert rep2.counts() == rep.counts()
    np.testing.assert_array_equal(feats2["good"], feats["good"])
    # the old behaviour on request: min_duration skips short clips
    _, rep3 = extract_features(df, video_root=root, kind="han", cache_dir=None, n_jobs=1, min_duration=0.5)
    assert "too short" in {vid: r for vid, _, r in rep3.skipped}["short"]


def test_extract_frames_and_choi(messy_root, tmp_path):
    from avlib.features.dataset import extract_features

    root, df = messy_root
    feats, rep = extract_features(df, video_root=root, kind="frames", cache_dir=tmp_path / "c", n_jobs=2,
                                  k=3, size=32)
    assert {"good", "odd_fps", "portrait", "noaudio", "silent"} <= set(feats)
    assert feats["portrait"].shape == (3, 32, 32, 3) and feats["portrait"].dtype == np.uint8
    assert rep.n_frames == 3 * rep.n_ok
    ch, rep = extract_features(df[df.video_id == "good"], video_root=root, kind="choi_cc", cache_dir=None, n_jobs=1)
    assert ch["good"].shape == (96, 1366)
    with pytest.raises(ParameterError):
        extract_features(df, video_root=root, kind="nope", cache_dir=None)


def test_log_mel_scale_and_segment_length_key_the_cache(messy_root, tmp_path):
    # features cached on the old dB scale or segment length are not reused
    from avlib.features.dataset import extract_features

    root, df = messy_root
    df = df[df.video_id == "good"]
    kw = dict(video_root=root, kind="han", cache_dir=tmp_path / "cache", n_jobs=1, n_segments=2)
    new, rep = extract_features(df, scale="power_squared", target_sr=fa.han_target_sr(3.0), **kw)
    assert rep.n_computed == 1 and new["good"].shape == (2, 128, 43)
    old, rep = extract_features(df, scale="power", target_sr=fa.han_target_sr(3.0), **kw)
    assert rep.n_computed == 1 and rep.n_cached == 0
    _, rep = extract_features(df, scale="power_squared", target_sr=fa.han_target_sr(1.0), **kw)
    assert rep.n_computed == 1 and rep.n_cached == 0
    # above both floors the squared scale is twice the power scale
    top = old["good"] > old["good"].max() - 30
    np.testing.assert_allclose(new["good"][top], 2 * old["good"][top], atol=1e-3)


def test_a_fully_cached_list_starts_no_worker_pool(messy_root, tmp_path, monkeypatch):
    from avlib.features import dataset as fd
    from avlib.features.dataset import extract_features

    root, df = messy_root
    first, _ = extract_features(df, video_root=root, kind="han", cache_dir=tmp_path / "cache", n_jobs=1)

    def no_pool():
        raise AssertionError("a worker pool was started although every video is cached")

    monkeypatch.setattr(fd, "worker_context", no_pool)
    feats, rep = extract_features(df, video_root=root, kind="han", cache_dir=tmp_path / "cache", n_jobs=2)
    assert rep.n_cached == 5 and rep.n_computed == 0 and len(rep.skipped) == 5
    assert set(feats) == set(first)
    np.testing.assert_array_equal(feats["good"], first["good"])
