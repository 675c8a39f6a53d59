"""Tests of the real ICMR 2017 metadata: lists, official splits, Table 1, readers."""
import numpy as np
import pandas as pd
import pytest

from avlib.data import icmr_metadata as M
from avlib.data.fcvid import fusion_matrix, locate_videos, read_feature_file, write_feature_file
from avlib.errors import DataError

META = M.default_metadata_dir()
needs_shared = pytest.mark.skipif(META is None, reason="ICMR metadata absent")


def test_lists_ship_with_avlib():
    """A fresh clone reads the lists from the package, not from a folder outside the repository."""
    from pathlib import Path

    import avlib

    packaged = M.packaged_metadata_dir()
    assert META == packaged
    assert packaged.is_relative_to(Path(avlib.__file__).resolve().parent)
    files = [p for p in packaged.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"fcvid_videos.csv.xz", "yt8m_videos.csv.xz", "fcvid_durations_unlisted.csv",
                                       "yt8m_durations_unlisted.csv", "README.md", "demo.mp4.multimodal.h5"}
    assert sum(p.stat().st_size for p in files) < 1_200_000  # the lists xz-compressed, and the demo file


def test_lists_are_package_data():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["avlib"]
    assert any(p.startswith("reference/icmr2017/") and p.endswith(".xz") for p in patterns)
    assert any(p.startswith("reference/icmr2017/") and p.endswith(".csv") for p in patterns)


def test_compressed_or_plain_metadata_dir(tmp_path):
    import shutil

    plain = pd.DataFrame({"video_id": ["a", "b"], "category": ["celloPerformance", "pianoPerformance"],
                          "label": [10, 11], "duration_s": [60.0, 120.0], "fps": [25, 30]})
    plain.to_csv(tmp_path / "fcvid_videos.csv", index=False)
    assert M.load_fcvid_list(tmp_path)["video_id"].tolist() == ["a", "b"]
    packed = tmp_path / "packed"
    packed.mkdir()
    plain.to_csv(packed / "fcvid_videos.csv.xz", index=False)
    shutil.copy(M.packaged_metadata_dir() / "fcvid_durations_unlisted.csv", packed)
    assert M.load_fcvid_list(packed)["label"].tolist() == [10, 11]
    assert len(M.load_unlisted_durations("fcvid", packed)) == 4


@needs_shared
def test_lists_shape_and_labels():
    f = M.load_fcvid_list(META)
    assert len(f) == 5147 and f["video_id"].is_unique
    assert f["label"].nunique() == 12
    # label <-> category mapping is FCVID's (not alphabetical)
    pairs = f.groupby("label")["category"].unique()
    assert [p[0] for p in pairs] == list(M.FCVID_CATEGORIES)
    y = M.load_yt8m_list(META)
    assert len(y) == 60794 and y["label"].nunique() == 13


@needs_shared
def test_table1_reproduces_check_numbers():
    t = M.table1(META).set_index("property")
    f, y = t["FCVID"], t["YouTube-8M"]
    assert f["videos_with_duration"] == 5151 and y["videos_with_duration"] == 60862
    assert f["total_duration_hours"] == pytest.approx(259.84, abs=0.005)
    assert f["mean_duration_minutes"] == pytest.approx(3.03, abs=0.005)
    assert f["videos_per_category_mean"] == pytest.approx(428.9, abs=0.05)
    assert f["videos_per_category_std"] == pytest.approx(101.0, abs=0.05)
    assert y["total_duration_hours"] == pytest.approx(4152.09, abs=0.005)
    assert y["mean_duration_minutes"] == pytest.approx(4.09, abs=0.005)
    assert y["videos_per_category_mean"] == pytest.approx(4676.5, abs=0.05)
    assert y["videos_per_category_std"] == pytest.approx(6444.3, abs=0.05)


def test_table1_stats_population_std():
    df = pd.DataFrame({"label": [0, 0, 0, 1], "duration_s": [60, 120, 180, 240]})
    s = M.table1_stats(df, pd.DataFrame({"duration_s": [600]}))
    assert s["videos_per_category_mean"] == 2 and s["videos_per_category_std"] == pytest.approx(np.std([3, 1]))
    assert s["total_duration_hours"] == pytest.approx(1200 / 3600)
    assert s["mean_duration_minutes"] == pytest.approx(4.0)


@needs_shared
def test_official_splits_equal_sklearn_on_list_order():
    from sklearn.model_selection import train_test_split

    f = M.load_fcvid_list(META)
    s = M.official_splits(f["video_id"], f["label"])
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [3602, 772, 773]
    tr, rest, _, rest_l = train_test_split(list(f["video_id"]), list(f["label"]), test_size=0.3, random_state=10)
    va, te, _, _ = train_test_split(rest, rest_l, test_size=0.5, random_state=10)
    assert s["train"][0] == tr and s["val"][0] == va and s["test"][0] == te
    all_ids = set(s["train"][0]) | set(s["val"][0]) | set(s["test"][0])
    assert len(all_ids) == 5147
    sf = M.split_frame(f)
    assert sf["split"].value_counts().to_dict() == {"train": 3602, "test": 773, "val": 772}


def test_official_splits_small_and_errors():
    s = M.official_splits(list("abcdefghijklmnopqrst"), list(range(20)))
    assert [len(s[k][0]) for k in ("train", "val", "test")] == [14, 3, 3]
    with pytest.raises(ValueError):
        M.official_splits(["a", "b"], [1])


def test_download_offline_message(tmp_path, monkeypatch):
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="offline"):
        M.load_fcvid_list(download=True, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_parse_raw_lists(tmp_path, monkeypatch):
    """The raw GitHub formats are parsed without the network (served from a fake urlopen)."""
    import io
    import urllib.request

    payload = {"fcvid_dataset.csv": b"./violinPerformance/_iiwx8skEBs,6\n./chamberMusic/E1SMeknbZTk,3\n",
               "yt8m_dataset.csv": b"3H_zeBfxXpc,0\nf2HoyL66Tvo,1\n"}

    class Resp(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Resp(payload[url.rsplit("/", 1)[1]]))
    f = M.load_fcvid_list(download=True, cache_dir=tmp_path)
    assert f[["video_id", "category", "label"]].values.tolist() == [["_iiwx8skEBs", "violinPerformance", 6],
                                                                    ["E1SMeknbZTk", "chamberMusic", 3]]
    y = M.load_yt8m_list(download=True, cache_dir=tmp_path)
    assert y["category"].tolist() == ["Guitar", "Piano"]


def test_missing_metadata_dir(tmp_path):
    with pytest.raises(DataError, match="fcvid_videos.csv"):
        M.load_fcvid_list(tmp_path)


def test_real_feature_file():
    path = M.demo_feature_file()  # packaged: found without the network
    assert path.parent == M.packaged_metadata_dir()
    d = read_feature_file(path)
    assert d["demo"]["audio"].shape == (1, 1024) and d["demo"]["video"].shape == (20, 2048)
    m = fusion_matrix(d["demo"]["audio"], d["demo"]["video"], n_frames=20)
    assert m.shape == (41, 1024)
    np.testing.assert_array_equal(m[0], d["demo"]["video"][0, :1024])
    np.testing.assert_array_equal(m[1], d["demo"]["video"][0, 1024:])
    np.testing.assert_array_equal(m[-1], d["demo"]["audio"][0])


def test_feature_file_roundtrip_missing_modality(tmp_path):
    rng = np.random.default_rng(0)
    feats = {"a": {"audio": rng.random((1, 1024)), "video": rng.random((3, 2048))}, "b": {"audio": rng.random((1, 1024))}}
    p = write_feature_file(tmp_path / "f.h5", feats)
    d = read_feature_file(p)
    assert d["b"]["video"] is None
    m = fusion_matrix(d["b"]["audio"], d["b"]["video"], n_frames=5)
    assert m.shape == (11, 1024) and not m[:10].any() and m[10].any()
    m = fusion_matrix(d["a"]["audio"], d["a"]["video"], n_frames=2)  # extra frames dropped
    assert m.shape == (5, 1024)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"garbage")
    from avlib.errors import MediaError

    with pytest.raises(MediaError, match="bad.h5"):
        read_feature_file(bad)


def test_locate_videos_reports_unknown_ids(tmp_path):
    from avlib import media

    (tmp_path / "celloPerformance").mkdir()
    media.write_video(tmp_path / "celloPerformance" / "xyz.mkv", np.zeros((3, 16, 16, 3), np.uint8), fps=10)
    df = pd.DataFrame({"video_id": ["xyz", "nope"], "category": ["celloPerformance", "celloPerformance"], "label": [10, 10]})
    found, missing = locate_videos(df, tmp_path)
    assert found["video_id"].tolist() == ["xyz"] and found["path"][0].endswith("xyz.mkv")
    assert missing["video_id"].tolist() == ["nope"]
