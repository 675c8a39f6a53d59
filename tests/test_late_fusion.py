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

torch.set_num_threads(2)


def _fixture():
    from avlib.data.icmr_metadata import packaged_metadata_dir

    return packaged_metadata_dir() / "demo.mp4.multimodal.h5"  # the authors' own file, shipped with avlib


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


@pytest.mark.parametrize("scale, per_decade", [("power_squared", 20.0), ("power", 10.0)])
def test_degrade_logmel_snr_semantics(scale, per_decade):
    # the ICMR log-mels are 10 log10 of the squared mel power (20 log10 of the power)
    from avlib.experiments.icmr.robustness import degrade_logmel

    rng = np.random.default_rng(0)
    x = rng.uniform(-60, 0, size=(2, 96, 50)).astype(np.float32)
    clean = degrade_logmel(x, snr_db=200.0, rng=rng, scale=scale)
    np.testing.assert_allclose(clean, x, atol=1e-3)
    noisy = degrade_logmel(x, snr_db=0.0, rng=rng, scale=scale)
    assert noisy.shape == x.shape and np.all(noisy >= x - 1e-4)  # noise only adds power
    added = (10 ** (noisy / per_decade) - 10 ** (x / per_decade)).mean(axis=(1, 2))
    signal = (10 ** (x / per_decade)).mean(axis=(1, 2))
    np.testing.assert_allclose(added / signal, 1.0, rtol=0.1)  # 0 dB: noise power = signal power


def test_drop_frames_zeroes_whole_frames_only():
    from avlib.experiments.icmr.robustness import drop_frames

    x = np.ones((3, 2 * 4 + 1, 8), np.float32)
    y = drop_frames(x, n_frames=4, keep=0.5, rng=np.random.default_rng(0))
    rows_zero = (y.sum(-1) == 0)
    assert rows_zero[:, :8].sum(1).tolist() == [4, 4, 4]  # 2 frames x 2 rows per video
    assert np.array_equal(rows_zero[:, 0::2][:, :4], rows_zero[:, 1::2][:, :4])  # both halves together
    assert not rows_zero[:, 8].any()  # audio kept


# --------------------------------------------------------------------------- authors' feature files


def _tiny_cfg():
    from avlib.config.icmr import ICMRConfig

    return ICMRConfig.for_scale("smoke").with_overrides({"fusion.frames": 2, "fusion.visual": [2, True],
                                                          "fusion.epochs": 2, "fusion.batch": 8, "fusion.hidden": [16]})


def _vid(i, n=30):
    return f"vid{(17 * i) % n:02d}"


def _fake_store(tmp_path, n=30, seed=0, gaps=True):
    """A FeatureStore as the ICMR notebooks fill it, with the list it came from.

    ``n`` videos whose ids are not in alphabetical list order (HDF5 lists groups sorted),
    3 classes, the official split. The 4th video (``ID[3]``) has no stored run at all, the
    6th only frames (audio missing), the 8th one frame of two (a zero-padded row); with
    ``gaps=False`` every video has both modalities.
    """
    import pandas as pd

    from avlib.experiments.icmr.data import official_split as _official_split
    from avlib.experiments.icmr.store import FeatureStore

    rng = np.random.default_rng(seed)
    videos = pd.DataFrame({"video_id": [_vid(i, n) for i in range(n)], "label": np.arange(n) % 3})
    videos["category"] = videos["label"].map({0: "accordionPerformance", 1: "chamberMusic", 2: "celloPerformance"})
    videos = videos[["video_id", "category", "label"]]
    split = _official_split(videos).to_numpy()
    frames = (rng.random((n, 2, 2048)) + videos["label"].to_numpy()[:, None, None]).astype(np.float32)
    frames[7, 1] = 0.0
    audio = (rng.normal(size=(n, 1024)) + videos["label"].to_numpy()[:, None]).astype(np.float32)
    vis = [i for i in range(n) if i != 3 or not gaps]
    aud = [i for i in range(n) if i not in (3, 5) or not gaps]
    store = FeatureStore(tmp_path / "store")
    for tag, idx, feats in (("visual_k2_pt", vis, frames), ("audio_xception_audio_UC", aud, audio)):
        store.save(tag, key="k", ids=videos["video_id"].to_numpy()[idx], split=split[idx],
                   labels=videos["label"].to_numpy()[idx], features=feats[idx], probs=np.zeros((len(idx), 3)))
    list_csv = tmp_path / "videos.csv"
    videos.to_csv(list_csv, index=False)
    return store, list_csv, videos, audio, frames


def test_store_export_read_roundtrip(tmp_path):
    from avlib.data.fcvid import read_feature_file
    from avlib.experiments.icmr.feature_files import export_feature_file

    store, _, videos, audio, frames = _fake_store(tmp_path)
    path = export_feature_file(store, tmp_path / "feats.h5", cfg=_tiny_cfg())
    feats = read_feature_file(path)
    assert len(feats) == 29 and _vid(3) not in feats
    np.testing.assert_array_equal(feats[_vid(0)]["audio"], audio[0][None])
    np.testing.assert_array_equal(feats[_vid(1)]["video"], frames[1])
    assert feats[_vid(5)]["audio"] is None and feats[_vid(5)]["video"].shape == (2, 2048)
    assert feats[_vid(7)]["video"].shape == (1, 2048)  # the zero row of a missing frame is not a frame
    # the authors' layout: the same matrix as from the in-memory arrays
    from avlib.data.fcvid import entry_matrix  # one entry of a feature file

    np.testing.assert_array_equal(entry_matrix(feats[_vid(7)], n_frames=2),
                                  fusion_matrix(audio[7], frames[7], n_frames=2))


def test_file_trained_fusion_equals_memory_trained(tmp_path):
    from avlib.experiments.icmr.feature_files import (
        export_feature_file,
        run_fusion_from_feature_file,
        run_fusion_from_features,
        store_features,
    )

    store, list_csv, _, _, _ = _fake_store(tmp_path)
    cfg = _tiny_cfg()
    path = export_feature_file(store, tmp_path / "feats.h5", cfg=cfg)
    from_file = run_fusion_from_feature_file(path, list_csv, cfg=cfg, seed=3, method="Xception")
    feats, stored_list = store_features(store, cfg=cfg)  # the store's own split and order
    in_memory = run_fusion_from_features(feats, stored_list, cfg=cfg, seed=3, method="Xception")
    cols = ["method", "model", "frames", "hit_at_1", "hit_at_3", "f1", "n_train", "n_val", "n_test"]
    assert from_file["table"][cols].equals(in_memory["table"][cols])
    np.testing.assert_array_equal(from_file["probs"], in_memory["probs"])
    np.testing.assert_array_equal(from_file["confusion"], in_memory["confusion"])
    assert from_file["test_ids"] == in_memory["test_ids"]
    assert from_file["probs"].shape == (from_file["table"]["n_test"].iloc[0], 3)
    assert from_file["confusion"].shape == (3, 3)
    assert from_file["categories"] == ["accordionPerformance", "chamberMusic", "celloPerformance"]
    issues = dict(zip(from_file["report"]["video_id"], from_file["report"]["issue"]))
    assert issues == {_vid(3): "missing from the features", _vid(5): "audio missing (zero row)"}
    # a video with a missing modality is trained on, with zero rows; one without features is not
    inputs = from_file["inputs"]
    assert sum(len(v) for v in inputs.ids.values()) == 29
    split_of_5 = next(s for s, ids in inputs.ids.items() if _vid(5) in ids)
    row = inputs.x[split_of_5][inputs.ids[split_of_5].index(_vid(5))]
    assert row.shape == (5, 1024) and not row[4].any() and row[:4].any()
    # another seed trains another model
    other = run_fusion_from_feature_file(path, list_csv, cfg=cfg, seed=4)
    assert not np.array_equal(other["probs"], from_file["probs"])


def test_notebook_path_equals_the_table4_fusion(tmp_path):
    """Export -> file -> train gives the in-memory Table 4 fusion (run_fusion_model), same seed."""
    from avlib.experiments.icmr.data import Benchmark, read_video_list
    from avlib.experiments.icmr.feature_files import run_fusion_from_files
    from avlib.experiments.icmr.fusion import run_fusion_model

    store, list_csv, videos, _, _ = _fake_store(tmp_path, gaps=False)
    bench = Benchmark(read_video_list(list_csv), tmp_path, None, list(videos["category"][:3]), "embedded benchmark",
                      tmp_path, tmp_path)
    cfg = _tiny_cfg()
    ff = run_fusion_from_files(bench, cfg, store=store, seed=1)
    assert ff["exported"] and ff["feature_file"].endswith("features_xception_audio.h5")
    assert ff["table"]["method"].iloc[0] == "Xception" and ff["report"].empty
    mem = run_fusion_model(bench, cfg, {"tag": "audio_xception_audio_UC"}, {"tag": "visual_k2_pt"}, seed=1,
                           store=store)
    np.testing.assert_array_equal(ff["probs"], mem["probs"])
    assert ff["test_ids"] == mem["parts"]["test"]
    for m in ("hit_at_1", "hit_at_3", "f1"):
        assert ff["table"][m].iloc[0] == mem["fusion_summary"][m]


def test_video_list_official_split_and_bad_lists(tmp_path):
    import pandas as pd

    from avlib.data.icmr_metadata import split_frame
    from avlib.errors import DataError
    from avlib.experiments.icmr.data import read_video_list

    df = pd.DataFrame({"video_id": [f"v{i}" for i in range(40)], "label": np.arange(40) % 4})
    got = read_video_list(df)
    assert got["split"].tolist() == split_frame(df)["split"].tolist()
    assert got["split"].value_counts().to_dict() == {"train": 28, "val": 6, "test": 6}
    with pytest.raises(DataError, match="label"):
        read_video_list(df.drop(columns="label"))
    with pytest.raises(DataError, match="nowhere.csv"):
        read_video_list(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match="repeats"):
        read_video_list(pd.concat([df, df.iloc[:1]]))


def test_bad_feature_files_raise_media_error_naming_the_file(tmp_path):
    import h5py

    from avlib.experiments.icmr.feature_files import run_fusion_from_feature_file

    _, list_csv, _, _, _ = _fake_store(tmp_path)
    junk = tmp_path / "junk_features.h5"
    junk.write_bytes(b"\x89HDF not really")
    with pytest.raises(MediaError, match="junk_features.h5"):
        run_fusion_from_feature_file(junk, list_csv, cfg=_tiny_cfg())
    with pytest.raises(MediaError, match="absent.h5"):
        run_fusion_from_feature_file(tmp_path / "absent.h5", list_csv, cfg=_tiny_cfg())
    wrong = tmp_path / "wrong_shape.h5"
    with h5py.File(wrong, "w") as h5:
        h5.create_group("v0").create_dataset("video", data=np.zeros((3, 1000), np.float32))
    with pytest.raises(MediaError, match="wrong_shape.h5.*v0/video"):
        read_feature_file(wrong)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as h5:
        h5.create_dataset("not_a_video", data=np.zeros(3))
    with pytest.raises(MediaError, match="empty.h5"):
        read_feature_file(empty)


def test_real_fixture_predicted_by_a_trained_fusion_model(tmp_path):
    from avlib.data.icmr_metadata import demo_feature_file
    from avlib.experiments.icmr.feature_files import predict_fusion, run_fusion_from_features, store_features

    fixture = _fixture()
    assert demo_feature_file() == fixture  # the packaged copy is found first, without the network
    store, _, _, _, _ = _fake_store(tmp_path)
    feats, videos = store_features(store, cfg=_tiny_cfg())
    run = run_fusion_from_features(feats, videos, cfg=_tiny_cfg(), seed=0)
    real = read_feature_file(fixture)
    _, X = feature_file_matrices(fixture)
    assert X.shape == (1, 41, 1024)  # 20 frames x 2 rows + audio
    pred = predict_fusion(run["model"], real, categories=run["categories"], top=3)
    assert pred.shape[0] == 1 and pred["video_id"].iloc[0] == "demo"
    assert pred["frames"].iloc[0] == 20 and bool(pred["audio"].iloc[0])
    assert pred["input_shape"].iloc[0] == "(5, 1024)"  # the model's own 2 frames
    assert pred["prediction"].iloc[0] in run["categories"] and 0 < pred["probability"].iloc[0] <= 1
    assert pred["top"].iloc[0].count("%") == 3


def test_demo_file_offline_is_a_clear_error(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    from avlib.data.icmr_metadata import demo_feature_file
    from avlib.errors import DataError

    def offline(*a, **k):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="download=True"):
        demo_feature_file(tmp_path / "meta", cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="offline"):
        demo_feature_file(tmp_path / "meta", cache_dir=tmp_path / "cache", download=True)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
