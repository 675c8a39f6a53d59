"""The torchaudio log-mel backend against the librosa one (avlib.features.audio).

Tolerance (also :data:`avlib.features.audio.TORCHAUDIO_TOLERANCE_DB` / ``_POWER``):

* dB: the largest absolute difference between the two backends' outputs, over every bin of
  the spectrogram (the floor included), is at most 1e-3 dB on the authors' ``"power_squared"``
  scale and 1e-2 dB on ``"power"`` (measured on CPU: 1.3e-4 and 2.3e-3 dB);
* power: the relative error of the torchaudio mel power spectrogram against librosa's is at
  most 1e-4 on the bins within 40 dB of power below the clip's maximum and 2e-3 within 80 dB
  (measured: 1.5e-5 and 5.3e-4).

The signals are noise, a tone over faint noise, a chirp, a click and full-scale noise, of
several lengths (shorter than one FFT up to a few seconds) and sample rates (7.35-44.1 kHz,
odd rates included); plus the book's inputs and a signal resynthesised from the ICMR authors'
demo spectrogram (``tests/fixtures/icmr2017/demo.wav.spec.npy``).
Shapes and dtypes are identical, and a silent signal gives librosa's floor, -100 dB, exactly.
"""
import warnings

from pathlib import Path

import numpy as np
import pytest

from avlib.errors import ParameterError
from avlib.features import audio as fa

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

DB_TOL = fa.TORCHAUDIO_TOLERANCE_DB
POWER_TOL = fa.TORCHAUDIO_TOLERANCE_POWER


def _signals(sr, n, rng):
    t = np.arange(n) / sr
    click = np.zeros(n, np.float32)
    click[n // 3] = 1.0
    return {
        "noise": 0.1 * rng.standard_normal(n),
        "tone": 0.5 * np.sin(2 * np.pi * 440 * t) + 1e-4 * rng.standard_normal(n),
        "chirp": np.sin(2 * np.pi * (50 + (sr / 2.5 - 50) * t / max(t[-1], 1e-9) / 2) * t),
        "click": click,
        "full_scale": 0.99 * np.sign(rng.standard_normal(n)),
    }


def _assert_close(a, b, scale):
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    assert np.abs(a - b).max() <= DB_TOL[scale]


def _mel_power(y, backend, **kw):
    if backend == "librosa":
        import librosa

        return librosa.feature.melspectrogram(y=y, power=2.0, pad_mode="constant", **kw)
    mel = fa._torch_melspec(kw["sr"], kw["n_fft"], kw["hop_length"], kw["n_mels"], 0.0, None, "cpu")
    with torch.inference_mode():
        return mel(torch.from_numpy(y)).numpy()


@pytest.mark.parametrize("sr", [7350, 11025, 12000, 22050, 44100])
@pytest.mark.parametrize("seconds", [0.01, 0.3, 1.456])
@pytest.mark.parametrize("stft", [(512, 256, 96), (1024, 512, 128)])
def test_torchaudio_equals_librosa_within_tolerance(sr, seconds, stft):
    n_fft, hop, n_mels = stft
    kw = dict(sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    rng = np.random.default_rng(sr + n_fft)
    for name, y in _signals(sr, max(int(seconds * sr), 50), rng).items():
        y = y.astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty mel filters at low rates: both backends warn alike
            for scale in fa.LOGMEL_SCALES:
                ref = fa.logmel(y, scale=scale, **kw)
                got = fa.logmel(y, scale=scale, backend="torchaudio", **kw)
                assert ref.shape == (n_mels, 1 + len(y) // hop), name
                _assert_close(ref, got, scale)
            P = _mel_power(y, "librosa", **kw)
            Q = _mel_power(y, "torchaudio", **kw)
        rel = np.abs(Q - P) / np.maximum(P, 1e-30)
        for below_db, tol in POWER_TOL.items():
            near = P >= P.max() * 10 ** (-below_db / 10)
            assert rel[near].max() <= tol, (name, below_db, rel[near].max())


def test_filter_bank_is_librosas():
    import librosa

    for sr in (11025, 12000, 22050):
        mel = fa._torch_melspec(sr, 512, 256, 96, 0.0, None, "cpu")
        ref = librosa.filters.mel(sr=sr, n_fft=512, n_mels=96).astype(np.float32)
        np.testing.assert_array_equal(mel.mel_scale.fb.numpy().T, ref)


@pytest.mark.parametrize("backend", ["librosa", "torchaudio"])
def test_silent_signal_gives_the_floor(backend):
    y = np.zeros(12000, np.float32)
    for scale in fa.LOGMEL_SCALES:
        for top_db in (80.0, None):
            S = fa.logmel(y, sr=12000, n_fft=512, hop_length=256, n_mels=96, scale=scale, top_db=top_db,
                          backend=backend)
            assert S.shape == (96, 47) and S.dtype == np.float32
            assert np.all(S == -100.0)  # 10 log10(amin = 1e-10), as librosa's power_to_db
    batch = fa.logmel_batch([y, y[:5000]], sr=12000, n_fft=512, hop_length=256, n_mels=96, backend=backend)
    assert all(np.all(S == -100.0) for S in batch)


def test_book_inputs_agree():
    """logmel_choi (cpu and paper lengths) and logmel_han on the authors' scale."""
    rng = np.random.default_rng(7)
    y = (0.2 * rng.standard_normal(22050 * 7)).astype(np.float32)
    y[:22050] *= 0.01  # a quiet second, so that the floor is reached
    for seconds in (1.456, fa.CHOI_SECONDS):
        for mode in ("uc", "cc"):
            ref = fa.logmel_choi(y, sr=22050, mode=mode, seconds=seconds)
            got = fa.logmel_choi(y, sr=22050, mode=mode, seconds=seconds, backend="torchaudio")
            _assert_close(ref, got, fa.ICMR_LOGMEL_SCALE)
    for target_sr in (fa.han_target_sr(1.0), fa.han_target_sr(3.0)):
        ref = fa.logmel_han(y, sr=22050, n_segments=2, target_sr=target_sr)
        got = fa.logmel_han(y, sr=22050, n_segments=2, target_sr=target_sr, backend="torchaudio")
        assert ref.shape == got.shape == (2, 128, 43)
        _assert_close(ref, got, fa.ICMR_LOGMEL_SCALE)


@pytest.fixture(scope="module")
def demo_spec():
    return np.load(Path(__file__).parent / "fixtures" / "icmr2017" / "demo.wav.spec.npy")  # the authors' demo


def test_demo_fixture_db_step(demo_spec):
    """The dB step of both backends turns the fixture's mel power back into the fixture."""
    power = 10.0 ** (demo_spec / 20.0)  # the fixture is 20 log10(mel power), floored 80 dB down
    ref = fa.mel_to_db(power, scale="power_squared")
    got = fa._db_torch(torch.from_numpy(power), scale="power_squared", top_db=80.0).numpy()
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(ref, demo_spec, atol=1e-4)


def test_demo_fixture_resynthesised(demo_spec):
    """Both backends on a waveform rebuilt from the fixture (least squares + Griffin-Lim)."""
    import librosa

    power = (10.0 ** (demo_spec / 20.0)).astype(np.float32)
    basis = librosa.filters.mel(sr=fa.CHOI_SR, n_fft=512, n_mels=96)
    mag = np.sqrt(np.maximum(np.linalg.pinv(basis) @ power, 0.0))
    n = int(round(fa.CHOI_SECONDS * fa.CHOI_SR))  # 349440 samples -> 1366 centred frames
    y = librosa.griffinlim(mag, n_iter=4, hop_length=256, n_fft=512, pad_mode="constant", random_state=0,
                           length=n).astype(np.float32)
    for scale in fa.LOGMEL_SCALES:
        ref = fa.logmel(y, sr=fa.CHOI_SR, n_fft=512, hop_length=256, n_mels=96, scale=scale)
        got = fa.logmel(y, sr=fa.CHOI_SR, n_fft=512, hop_length=256, n_mels=96, scale=scale, backend="torchaudio")
        assert ref.shape == got.shape == demo_spec.shape
        _assert_close(ref, got, scale)
    # the rebuilt waveform resembles the fixture (so the check runs on music-like content)
    assert np.corrcoef(ref.ravel() * 2, demo_spec.ravel())[0, 1] > 0.9


@pytest.mark.filterwarnings("ignore:n_fft=.*too large")  # librosa, on the 300-sample clip
def test_logmel_batch():
    rng = np.random.default_rng(3)
    kw = dict(sr=16000, n_fft=512, hop_length=256, n_mels=64, scale="power_squared")
    clips = [(g * rng.standard_normal(n)).astype(np.float32) for g, n in ((1.0, 16000), (1e-3, 9000), (0.3, 300))]
    for backend in fa.LOGMEL_BACKENDS:
        out = fa.logmel_batch(clips, backend=backend, batch_size=2, **kw)
        assert isinstance(out, list) and len(out) == 3
        for y, S in zip(clips, out):
            single = fa.logmel(y, backend=backend, **kw)
            assert S.shape == single.shape == (64, 1 + len(y) // 256)
            if backend == "librosa":
                assert S.tobytes() == single.tobytes()
            else:
                np.testing.assert_allclose(S, single, atol=1e-4)
            assert S.max() - S.min() <= 80.0 + 1e-3  # each clip floored below its own maximum
            _assert_close(fa.logmel(y, **kw), S, "power_squared")
    arr = np.stack([c[:9000] for c in clips[:2]])
    for backend in fa.LOGMEL_BACKENDS:
        out = fa.logmel_batch(arr, backend=backend, **kw)
        assert isinstance(out, np.ndarray) and out.shape == (2, 64, 36) and out.dtype == np.float32
        assert out[1].max() < out[0].max() - 80  # 60 dB quieter: a shared floor would flatten it
        assert out[1].max() - out[1].min() > 5.0
        for y, S in zip(arr, out):
            _assert_close(fa.logmel(y, **kw), S, "power_squared")
    assert fa.logmel_batch(np.zeros((0, 100), np.float32), backend="torchaudio", **kw).shape == (0, 64, 1)
    with pytest.raises(ParameterError):
        fa.logmel_batch(np.zeros(100, np.float32), **kw)
    with pytest.raises(ParameterError):
        fa.logmel_batch(clips, batch_size=0, **kw)


def test_batches_follow_the_device():
    clips = [np.zeros(n, np.float32) for n in (300_000, 300_000, 300_000, 700_000, 10, 10)]
    sizes = [[len(y) for y in b] for b in fa._batches(clips, None, cuda=False)]
    assert sizes == [[300_000] * 3, [700_000], [10, 10]]  # at most CPU_BATCH_SAMPLES padded samples
    assert all(len(b) * max(map(len, b)) <= fa.CPU_BATCH_SAMPLES for b in fa._batches(clips, None, cuda=False))
    assert [len(b) for b in fa._batches(clips * 20, None, cuda=True)] == [fa.CUDA_BATCH_CLIPS, 120 - 64]
    assert [len(b) for b in fa._batches(clips, 4, cuda=False)] == [4, 2]
    rng = np.random.default_rng(9)
    ys = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (400_000, 300_000, 5000, 120_000)]
    kw = dict(sr=12000, n_fft=512, hop_length=256, n_mels=96, scale="power_squared")
    for y, S in zip(ys, fa.logmel_batch(ys, backend="torchaudio", **kw)):
        _assert_close(fa.logmel(y, **kw), S, "power_squared")


def test_stacked_input_keeps_the_whole_array_floor():
    rng = np.random.default_rng(5)
    y = np.stack([rng.standard_normal(4000), 1e-3 * rng.standard_normal(4000)]).astype(np.float32)
    kw = dict(sr=8000, n_fft=256, hop_length=128, n_mels=40, scale="power")
    ref = fa.logmel(y, **kw)
    got = fa.logmel(y, backend="torchaudio", **kw)
    assert ref.shape == (2, 40, 32)
    _assert_close(ref, got, "power")


def test_default_backend_and_errors():
    assert fa.default_logmel_backend() == fa.default_logmel_backend("cpu") == "librosa"
    assert fa.default_logmel_backend("cuda") == fa.default_logmel_backend(torch.device("cuda", 1)) == "torchaudio"
    assert fa.logmel_backend_tag() == fa.logmel_backend_tag("librosa", "cpu") == "librosa"
    assert fa.logmel_backend_tag("torchaudio") == "torchaudio:cpu"
    assert fa.logmel_backend_tag(None, "cuda:1") == "torchaudio:cuda"
    y = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    kw = dict(sr=8000, n_fft=256, hop_length=128, n_mels=40)
    # the default on the CPU is librosa, byte for byte
    assert fa.logmel(y, **kw).tobytes() == fa.logmel(y, backend="librosa", device="cpu", **kw).tobytes()
    with pytest.raises(ParameterError, match="CPU only"):
        fa.logmel(y, backend="librosa", device="cuda", **kw)
    with pytest.raises(ParameterError, match="backend"):
        fa.logmel(y, backend="essentia", **kw)
    with pytest.raises(ParameterError, match="device"):
        fa.logmel(y, backend="torchaudio", device="tpu", **kw)
    with pytest.raises(ParameterError):
        fa.logmel(y, backend="torchaudio", scale="amplitude", **kw)
    with pytest.raises(ParameterError):
        fa.logmel(y, backend="torchaudio", top_db=-1.0, **kw)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA"):
            fa.logmel(y, device="cuda", **kw)


def test_cache_keys_on_backend(tmp_path):
    from avlib.features.cache import file_key

    f = tmp_path / "clip.wav"
    f.write_bytes(b"x" * 100)
    p = {"n_segments": 2, "scale": "power_squared"}
    librosa_keys = {file_key(f, "han", p), file_key(f, "han", {**p, "backend": "librosa"}),
                    file_key(f, "han", {**p, "backend": None, "device": "cpu"})}
    assert len(librosa_keys) == 1
    torch_cpu = {file_key(f, "han", {**p, "backend": "torchaudio"}),
                 file_key(f, "han", {**p, "backend": "torchaudio", "device": "cpu"})}
    torch_gpu = {file_key(f, "han", {**p, "device": "cuda"}), file_key(f, "han", {**p, "device": "cuda:1"}),
                 file_key(f, "han", {**p, "backend": "torchaudio", "device": torch.device("cuda", 0)})}
    assert len(torch_cpu) == len(torch_gpu) == 1
    assert len(librosa_keys | torch_cpu | torch_gpu) == 3
    with pytest.raises(ParameterError):
        file_key(f, "han", {**p, "backend": "nope"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_default_is_torchaudio_and_agrees():
    rng = np.random.default_rng(11)
    y = (0.1 * rng.standard_normal(int(fa.CHOI_SECONDS * fa.CHOI_SR))).astype(np.float32)
    ref = fa.logmel_choi(y, sr=fa.CHOI_SR)
    got = fa.logmel_choi(y, sr=fa.CHOI_SR, device="cuda")
    _assert_close(ref, got, fa.ICMR_LOGMEL_SCALE)
    batch = fa.logmel_batch(np.stack([y] * 4), sr=fa.CHOI_SR, n_fft=512, hop_length=256, n_mels=96,
                            scale="power_squared", device="cuda")
    for S in batch:
        _assert_close(ref, S, fa.ICMR_LOGMEL_SCALE)


def test_feature_extraction_caches_each_backend_apart(tmp_path):
    import pandas as pd

    from avlib import media
    from avlib.features.dataset import extract_features

    sr = 22050
    t = np.arange(2 * sr) / sr
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t)))[None]
    media.write_video(tmp_path / "videos" / "v1.mp4", np.full((20, 32, 32, 3), 90, np.uint8), fps=10, audio=audio,
                      sample_rate=sr)
    df = pd.DataFrame({"video_id": ["v1"]})
    kw = dict(video_root=tmp_path / "videos", kind="choi_uc", cache_dir=tmp_path / "cache", n_jobs=1, progress=False,
              seconds=1.456)
    ref, r1 = extract_features(df, **kw)
    got, r2 = extract_features(df, backend="torchaudio", **kw)
    assert r1.n_computed == r2.n_computed == 1  # the librosa entry is not reused for torchaudio
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2
    _assert_close(np.asarray(ref["v1"]), np.asarray(got["v1"]), fa.ICMR_LOGMEL_SCALE)
    again, r3 = extract_features(df, backend="librosa", device="cpu", **kw)
    assert r3.n_cached == 1 and np.asarray(again["v1"]).tobytes() == np.asarray(ref["v1"]).tobytes()
