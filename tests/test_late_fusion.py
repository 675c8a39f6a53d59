"""Late-fusion input layout, missing modalities and the authors' real feature file."""

import numpy as np
import pytest
import torch

from avlib.errors import MediaError, ParameterError
from avlib.models.late_fusion import (
    LateFusion,
    feature_file_matrices,
    fusion_matrices,
    fusion_matrix,
    modality_mask,
    read_feature_file,
)
from avlib.paths import shared_root

torch.set_num_threads(2)


def _fixture():
    root = shared_root()
    path = None if root is None else root / "data" / "icmr2017" / "demo.mp4.multimodal.h5"
    if path is None or not path.is_file():
        pytest.skip("shared ICMR fixture not available")
    return path


def test_layout_rows():
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(1, 8)).astype(np.float32)
    frames = rng.normal(size=(3, 16)).astype(np.float32)
    m = fusion_matrix(audio, frames, n_frames=3, dim=8)
    assert m.shape == (7, 8) and m.dtype == np.float32
    np.testing.assert_array_equal(m[2], frames[1, :8])  # frame 1, first half
    np.testing.assert_array_equal(m[3], frames[1, 8:])  # frame 1, second half
    np.testing.assert_array_equal(m[6], audio[0])  # audio is the last row


def test_missing_modalities_and_short_videos_give_zero_rows():
    frames = np.ones((2, 16), np.float32)
    m = fusion_matrix(None, frames, n_frames=4, dim=8)
    assert np.all(m[:4] == 1) and np.all(m[4:] == 0)  # frames 2, 3 missing, audio missing
    m = fusion_matrix(np.ones(8), None, n_frames=2, dim=8)
    assert np.all(m[:4] == 0) and np.all(m[4] == 1)
    batch = fusion_matrices({"a": np.ones(8)}, {"b": frames}, ["a", "b"], n_frames=2, dim=8)
    assert batch.shape == (2, 5, 8)
    assert batch[0, :4].sum() == 0 and batch[1, 4].sum() == 0


def test_too_many_frames_are_truncated_and_bad_shapes_rejected():
    m = fusion_matrix(None, np.arange(5 * 16, dtype=np.float32).reshape(5, 16), n_frames=2, dim=8)
    assert m.shape == (5, 8)
    with pytest.raises(ParameterError):
        fusion_matrix(np.ones(7), None, n_frames=2, dim=8)
    with pytest.raises(ParameterError):
        fusion_matrix(None, np.ones((2, 8)), n_frames=2, dim=8)


def test_modality_mask():
    x = torch.ones(2, 5, 8)
    a = modality_mask(x, n_frames=2, audio=False)
    assert a[:, 4].sum() == 0 and a[:, :4].sum() == 2 * 4 * 8
    v = modality_mask(x, n_frames=2, video=False)
    assert v[:, :4].sum() == 0 and v[:, 4].sum() == 16
    assert x.sum() == 2 * 5 * 8  # input untouched


def test_real_feature_file_loads_and_predicts():
    feats = read_feature_file(_fixture())
    assert list(feats) == ["demo"]
    audio, video = feats["demo"]["audio"], feats["demo"]["video"]
    assert audio.shape == (1, 1024) and video.shape == (20, 2048)
    x = fusion_matrix(audio, video, n_frames=20)
    assert x.shape == (41, 1024)
    np.testing.assert_array_equal(x[:40].reshape(20, 2048), video)
    torch.manual_seed(0)
    model = LateFusion(13, n_frames=20).eval()  # YouTube-8M: 13 classes, 20 frames
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(x)[None]), 1)
    assert probs.shape == (1, 13) and torch.isfinite(probs).all()
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    ids, X = feature_file_matrices(_fixture())
    assert ids == ["demo"] and X.shape == (1, 41, 1024)
    np.testing.assert_array_equal(X[0], x)


def test_model_rejects_wrong_layout_and_handles_missing_audio():
    model = LateFusion(4, n_frames=2, dim=8).eval()
    with pytest.raises(ParameterError):
        model(torch.zeros(1, 4, 8))
    x = torch.from_numpy(fusion_matrices({}, {"v": np.ones((2, 16), np.float32)}, ["v"], n_frames=2, dim=8))
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


def test_unreadable_feature_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"junk")
    with pytest.raises(MediaError, match="broken.h5"):
        read_feature_file(bad)


def test_degrade_logmel_snr_semantics():
    from avlib.train.icmr import degrade_logmel

    rng = np.random.default_rng(0)
    x = rng.uniform(-60, 0, size=(2, 96, 50)).astype(np.float32)
    clean = degrade_logmel(x, snr_db=200.0, rng=rng)
    np.testing.assert_allclose(clean, x, atol=1e-3)
    noisy = degrade_logmel(x, snr_db=0.0, rng=rng)
    assert noisy.shape == x.shape and np.all(noisy >= x - 1e-4)  # noise only adds power
    added = (10 ** (noisy / 10) - 10 ** (x / 10)).mean(axis=(1, 2))
    signal = (10 ** (x / 10)).mean(axis=(1, 2))
    np.testing.assert_allclose(added / signal, 1.0, rtol=0.1)  # 0 dB: noise power = signal power


def test_drop_frames_zeroes_whole_frames_only():
    from avlib.train.icmr import drop_frames

    x = np.ones((3, 2 * 4 + 1, 8), np.float32)
    y = drop_frames(x, n_frames=4, keep=0.5, rng=np.random.default_rng(0))
    rows_zero = (y.sum(-1) == 0)
    assert rows_zero[:, :8].sum(1).tolist() == [4, 4, 4]  # 2 frames x 2 rows per video
    assert np.array_equal(rows_zero[:, 0::2][:, :4], rows_zero[:, 1::2][:, :4])  # both halves together
    assert not rows_zero[:, 8].any()  # audio kept
