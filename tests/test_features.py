"""Tests of avlib.features: audio decoding, MFCCs per video frame, log-mel inputs, frames,
cache and dataset-level extraction with bad files."""
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
    from avlib.paths import shared_root

    y = rng.standard_normal(22050 * 40).astype(np.float32) * 0.1
    S = fa.logmel_choi(y, sr=22050, mode="uc")
    assert S.shape == (96, 1366) and S.dtype == np.float32
    assert S.max() - S.min() <= 80.0 + 1e-3
    root = shared_root()
    if root is None or not (root / "data/icmr2017/demo.wav.spec.npy").exists():
        pytest.skip("shared fixture absent")
    real = np.load(root / "data/icmr2017/demo.wav.spec.npy")
    assert real.shape == S.shape
    assert real.max() - real.min() == pytest.approx(80.0)  # top_db = 80 as in our default


def test_logmel_han_segments(rng):
    y = rng.standard_normal(22050 * 5).astype(np.float32)
    S = fa.logmel_han(y, sr=22050)
    assert S.shape == (10, 128, 43)
    full = fa.logmel(y, sr=22050, n_fft=1024, hop_length=512, n_mels=128)
    np.testing.assert_allclose(S[0], full[:, :43], atol=1e-4)
    np.testing.assert_allclose(S[-1], full[:, -43:], atol=1e-4)
    tiny = fa.logmel_han(y[:5000], sr=22050)
    assert tiny.shape == (10, 128, 43)
