"""Frames stream from the memory-mapped cache: :class:`VideoFrames` reads what is indexed and
gives exactly the arrays the whole-array path gave; :class:`FrameDataset` and the frame model's
training and scoring on it match the in-memory results."""

import numpy as np
import pytest
import torch
from torch import nn

from avlib.errors import ParameterError
from avlib.experiments.icmr import visual
from avlib.experiments.icmr.data import FrameDataset, VideoFrames
from avlib.features.frames import uniform_frame_indices


def _cached(n, side=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


def _whole(a, crop):
    """The former path: crop the whole video, channels first, contiguous."""
    o = (a.shape[1] - crop) // 2
    return np.ascontiguousarray(a[:, o:o + crop, o:o + crop].transpose(0, 3, 1, 2))


@pytest.mark.parametrize("index", [0, 4, -1, slice(1, 4), slice(None), [3, 0, 3], np.array([1, 2])])
def test_video_frames_index_like_the_cropped_array(index, tmp_path):
    a = _cached(5)
    path = tmp_path / "v.npy"
    np.save(path, a)
    mm = np.load(path, mmap_mode="r")
    lazy, whole = VideoFrames(mm, crop=8), _whole(a, 8)
    assert len(lazy) == 5 and lazy.shape == whole.shape and lazy.dtype == np.uint8
    got = lazy[index]
    np.testing.assert_array_equal(got, whole[index])
    assert got.flags["C_CONTIGUOUS"] and got.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(lazy), whole)


def test_video_frames_bad_inputs():
    with pytest.raises(ParameterError, match="larger than the cached frames"):
        VideoFrames(_cached(2, side=8), crop=10)
    empty = VideoFrames(np.zeros((0, 8, 8, 3), np.uint8), crop=6)
    assert len(empty) == 0 and np.asarray(empty).shape == (0, 3, 6, 6)


def test_frame_dataset_items_and_checks():
    videos = [VideoFrames(_cached(3, seed=s), crop=8) for s in range(2)]
    ds = FrameDataset(videos, [1, 0, 1], [2, 0, 0], [7, 8, 9])
    assert len(ds) == 3
    x, y = ds[0]
    np.testing.assert_array_equal(x.numpy(), np.asarray(videos[1])[2])
    assert int(y) == 7
    (only,) = FrameDataset(videos, [0], [1])[0]
    np.testing.assert_array_equal(only.numpy(), np.asarray(videos[0])[1])
    with pytest.raises(ParameterError, match="one entry per item"):
        FrameDataset(videos, [0, 1], [0])


def test_picked_frames_are_the_draws_of_the_former_path():
    frames = [_whole(_cached(n, seed=n), 8) for n in (6, 0, 3, 9)]
    owner, index = visual._pick_frames(frames, 4, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    expected = []
    for i, f in enumerate(frames):
        if len(f):
            idx = np.sort(rng.choice(len(f), min(4, len(f)), replace=False))
            expected += [f[j] for j in idx]
            assert list(index[owner == i]) == list(idx)
    got = np.stack([frames[o][j] for o, j in zip(owner, index)])
    np.testing.assert_array_equal(got, np.stack(expected))


class _TinyFrameModel(nn.Module):
    num_classes = 3
    head_dim = 4

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward_features(self, x):
        return self.conv(x).mean((2, 3))

    def forward_head(self, f, pre_logits=False):
        return f if pre_logits else self.fc(f)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def test_frame_scores_stream_and_match_the_in_memory_scores(tmp_path):
    raw = [_cached(n, side=10, seed=n) for n in (7, 2, 0, 5)]
    paths = []
    for i, a in enumerate(raw):
        paths.append(tmp_path / f"{i}.npy")
        np.save(paths[-1], a)
    lazy = [VideoFrames(np.load(p, mmap_mode="r"), crop=8) for p in paths]
    whole = [_whole(a, 8) if len(a) else np.zeros((0, 3, 8, 8), np.uint8) for a in raw]
    model = _TinyFrameModel()
    p_lazy, f_lazy = visual.frame_scores(model, lazy, n_frames=4, batch_size=3)
    p_whole, f_whole = visual.frame_scores(model, whole, n_frames=4, batch_size=3)
    np.testing.assert_allclose(p_lazy, p_whole, rtol=0, atol=0)
    np.testing.assert_allclose(f_lazy, f_whole, rtol=0, atol=0)
    assert np.isnan(p_lazy[2]).all()  # the video without frames is missing, not dropped
    # the former path by hand: mean softmax over the uniform frames of each video
    x = torch.from_numpy(whole[0][uniform_frame_indices(7, 4)]).float().div(127.5).sub(1.0)
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).mean(0).numpy()
    np.testing.assert_allclose(p_lazy[0], ref, rtol=1e-5, atol=1e-6)


def test_training_on_streamed_frames_equals_training_on_arrays(tmp_path):
    from avlib.train.loop import TrainConfig

    raw = [_cached(4, side=80, seed=s) for s in range(6)]
    paths = []
    for i, a in enumerate(raw):
        paths.append(tmp_path / f"{i}.npy")
        np.save(paths[-1], a)
    lazy = [VideoFrames(np.load(p, mmap_mode="r"), crop=75) for p in paths]
    whole = [_whole(a, 75) for a in raw]
    y = np.array([0, 1, 2, 0, 1, 2])
    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-3, seed=3, max_batches=2)
    _, h_lazy = visual.train_frame_model(lazy[:4], y[:4], lazy[4:], y[4:], k=2, num_classes=3, config=cfg,
                                         device=torch.device("cpu"))
    _, h_whole = visual.train_frame_model(whole[:4], y[:4], whole[4:], y[4:], k=2, num_classes=3, config=cfg,
                                          device=torch.device("cpu"))
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    assert [[e[k] for k in keys] for e in h_lazy.epochs] == [[e[k] for k in keys] for e in h_whole.epochs]
