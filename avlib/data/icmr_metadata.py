"""Real metadata of the ICMR 2017 datasets (FCVID and YouTube-8M instrument subsets):
video lists, official splits and the statistics of the paper's Table 1.

Sources. The authors' public repository Veleslavia/ICMR2017 (GPL-3.0) ships the lists
``datasets/fcvid_dataset.csv`` (lines ``./<category>/<video_id>,<label>``) and
``datasets/yt8m_dataset.csv`` (``<video_id>,<label>``), plus durations in pickles. avlib ships
the same lists joined with the durations as CSV in ``avlib/reference/icmr2017/``
(``fcvid_videos.csv.xz``, ``yt8m_videos.csv.xz``, ``*_durations_unlisted.csv``; nothing is
ever unpickled), so a fresh clone needs neither a download nor a folder outside the
repository. :func:`load_fcvid_list` / :func:`load_yt8m_list` read, in order: a given
``metadata_dir`` (plain or ``.xz`` / ``.gz`` compressed CSVs), the packaged copy, or with
``download=True`` the raw lists (no durations) from GitHub.

Official splits (reference code): list order, ``train_test_split(ids, labels,
test_size=0.3, random_state=10)``, then the 30 % split again with ``test_size=0.5,
random_state=10`` into validation and test; not stratified. See :func:`official_splits`.
"""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from avlib.errors import DataError, ParameterError
import os
from avlib.report import paper_table, side_by_side

__all__ = [
    "FCVID_LABELS",
    "YT8M_LABELS",
    "FCVID_CATEGORIES",
    "RAW_URLS",
    "default_metadata_dir",
    "packaged_metadata_dir",
    "download_lists",
    "fetch_url",
    "DEMO_FEATURE_URL",
    "demo_feature_file",
    "load_fcvid_list",
    "load_yt8m_list",
    "load_unlisted_durations",
    "official_splits",
    "split_frame",
    "table1_stats",
    "table1",
    "table1_ours",
    "table1_comparison",
]

#: FCVID label index -> instrument (NOT alphabetical).
FCVID_LABELS = ("accordion", "trumpet", "flute", "chamberMusic", "symphonyOrchestra", "guitar", "violin",
                "saxophone", "harmonica", "rockBand", "cello", "piano")
#: FCVID category folder names in label order.
FCVID_CATEGORIES = tuple(c if c == "chamberMusic" else f"{c}Performance" for c in FCVID_LABELS)
#: YouTube-8M label index -> name, in the order of the reference implementation.
YT8M_LABELS = ("Guitar", "Piano", "Drums", "Violin", "Accordion", "Saxophone", "Flute", "Organ", "Cello",
               "Trumpet", "Clarinet", "Harmonica", "Banjo")

_REPO = "https://raw.githubusercontent.com/Veleslavia/ICMR2017/master/"
_REPO_RAW = _REPO + "datasets/"
#: Raw GitHub URLs of the authors' list files.
RAW_URLS = {"fcvid": _REPO_RAW + "fcvid_dataset.csv", "yt8m": _REPO_RAW + "yt8m_dataset.csv"}
#: Raw GitHub URL of the authors' real one-video feature file (``demo/``: an accordion cover, CC BY).
DEMO_FEATURE_URL = _REPO + "demo/demo.mp4.multimodal.h5"
_DEMO_NAME = "demo.mp4.multimodal.h5"
_FILES = {"fcvid": "fcvid_videos.csv", "yt8m": "yt8m_videos.csv"}
_UNLISTED = {"fcvid": "fcvid_durations_unlisted.csv", "yt8m": "yt8m_durations_unlisted.csv"}


_COMPRESSED = ("", ".xz", ".gz")


def _find(folder: Path, filename: str) -> Path | None:
    """``folder/filename`` or its ``.xz`` / ``.gz`` compressed form, whichever exists first."""
    for suffix in _COMPRESSED:
        path = folder / f"{filename}{suffix}"
        if path.is_file():
            return path
    return None


def packaged_metadata_dir() -> Path:
    """``avlib/reference/icmr2017``: the lists shipped with avlib (see its README.md)."""
    return Path(__file__).resolve().parent.parent / "reference" / "icmr2017"


def default_metadata_dir() -> Path | None:
    """The folder the readers use when no ``metadata_dir`` is given: the packaged copy
    (:func:`packaged_metadata_dir`); None should it be missing from an installation."""
    packaged = packaged_metadata_dir()
    return packaged if _find(packaged, _FILES["fcvid"]) is not None else None


# ------------------------------------------------------------------ download
def _parse_raw(name: str, text: str) -> pd.DataFrame:
    rows = [line.strip() for line in text.splitlines() if line.strip()]
    out = []
    for line in rows:
        left, _, label = line.rpartition(",")
        if name == "fcvid":
            parts = left.strip("./").split("/")
            if len(parts) != 2:
                raise DataError(f"unexpected line in fcvid list: {line!r}")
            out.append((parts[1], parts[0], int(label)))
        else:
            out.append((left, int(label)))
    cols = ["video_id", "category", "label"] if name == "fcvid" else ["video_id", "label"]
    return pd.DataFrame(out, columns=cols)


def fetch_url(url: str, path, *, timeout: float = 30.0, hint: str = "") -> Path:
    """Download ``url`` to ``path`` unless a non-empty copy is already there.

    Raises :class:`~avlib.errors.DataError` naming the URL (plus ``hint``: what to do
    instead) when offline or the server refuses; nothing half-written is left behind.
    """

    path = Path(path)
    if path.exists() and path.stat().st_size > 0:
        return path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(f"could not download {url} ({exc}). You seem to be offline{': ' + hint if hint else '.'}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def download_lists(dest, *, which=("fcvid", "yt8m"), timeout: float = 30.0) -> dict[str, Path]:
    """Fetch the authors' list files from GitHub into ``dest`` (kept as downloaded).

    Returns ``{name: path}``. Raises :class:`~avlib.errors.DataError` with a clear message
    when offline or the server refuses (nothing half-written is left behind).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    hint = ("leave metadata_dir unset to use the lists shipped in avlib/reference/icmr2017, pass "
            "metadata_dir= pointing to a folder with fcvid_videos.csv / yt8m_videos.csv, or retry "
            "with network access.")
    return {name: fetch_url(RAW_URLS[name], dest / Path(RAW_URLS[name]).name, timeout=timeout, hint=hint)
            for name in which}


def _default_cache(cache_dir) -> Path:
    return Path(cache_dir) if cache_dir else Path.home() / ".cache" / "avlib" / "icmr2017"


def demo_feature_file(metadata_dir=None, *, download: bool = False, cache_dir=None, timeout: float = 30.0) -> Path:
    """The authors' real one-video feature file ``demo.mp4.multimodal.h5``.

    Looked up in ``metadata_dir`` (default: the packaged metadata folder, which holds it), then
    in ``cache_dir`` (default
    ``~/.cache/avlib/icmr2017``); with ``download=True`` it is fetched
    from the authors' repository (:data:`DEMO_FEATURE_URL`) into ``cache_dir``. Read it with
    :func:`avlib.data.fcvid.read_feature_file`.

    Raises
    ------
    DataError
        Not found locally and not downloadable (offline, or ``download=False``).
    """
    folders = [Path(metadata_dir)] if metadata_dir else [packaged_metadata_dir()]
    for candidate in [f / _DEMO_NAME for f in folders if f] + [_default_cache(cache_dir) / _DEMO_NAME]:
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    if not download:
        raise DataError(f"{_DEMO_NAME} not found (not in {folders[0]}, nothing in {_default_cache(cache_dir)}); "
                        f"pass download=True to fetch it from {DEMO_FEATURE_URL}")
    return fetch_url(DEMO_FEATURE_URL, _default_cache(cache_dir) / _DEMO_NAME, timeout=timeout,
                     hint="the demo feature file needs network access once (it is cached afterwards).")


# ------------------------------------------------------------------ lists
def _load(name: str, metadata_dir, download: bool, cache_dir) -> pd.DataFrame:
    if download:
        path = download_lists(_default_cache(cache_dir), which=(name,))[name]
        df = _parse_raw(name, path.read_text())
        df["duration_s"] = np.nan  # durations are only in the authors' pickles
        df["fps"] = np.nan
        df.attrs["source"] = RAW_URLS[name]
        return df
    folder = Path(metadata_dir) if metadata_dir else default_metadata_dir()
    if folder is None:
        raise DataError(f"no metadata_dir given and no packaged copy found in {packaged_metadata_dir()}; "
                        f"pass metadata_dir= or download=True")
    path = _find(folder, _FILES[name])
    if path is None:
        raise DataError(f"{folder / _FILES[name]} not found; pass metadata_dir= (folder with {_FILES[name]}) "
                        f"or download=True")
    df = pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False, na_values=[""])
    df.attrs["source"] = str(path)
    return df


def load_fcvid_list(metadata_dir=None, *, download: bool = False, cache_dir=None) -> pd.DataFrame:
    """The 5,147 FCVID videos of the ICMR 2017 list, in list order.

    Parameters
    ----------
    metadata_dir : path, optional
        Folder with ``fcvid_videos.csv`` (or ``.csv.xz``); default: the copy shipped with avlib.
    download : bool
        Fetch the authors' raw list from GitHub instead (durations are then NaN).
    cache_dir : path, optional
        Where downloads are kept (default ``~/.cache/avlib/icmr2017``).

    Returns
    -------
    DataFrame with video_id, category, label, duration_s, fps.
    """
    return _load("fcvid", metadata_dir, download, cache_dir)


def load_yt8m_list(metadata_dir=None, *, download: bool = False, cache_dir=None) -> pd.DataFrame:
    """The 60,794 YouTube-8M videos of the ICMR 2017 list (13 labels, :data:`YT8M_LABELS`), in
    list order; columns video_id, label, duration_s, fps (plus ``category`` = label name)."""
    df = _load("yt8m", metadata_dir, download, cache_dir)
    df["category"] = [YT8M_LABELS[i] for i in df["label"]]
    return df


def load_unlisted_durations(name: str, metadata_dir=None) -> pd.DataFrame:
    """Videos that have durations in the authors' files but are not in the list (4 FCVID, 68 YT8M)."""
    folder = Path(metadata_dir) if metadata_dir else default_metadata_dir()
    path = None if folder is None else _find(folder, _UNLISTED[name])
    if path is None:
        return pd.DataFrame(columns=["video_id", "duration_s", "fps"])
    return pd.read_csv(path, dtype={"video_id": str}, keep_default_na=False, na_values=[""])


# ------------------------------------------------------------------ splits
def official_splits(ids, labels, *, test_size: float = 0.3, random_state: int = 10):
    """The reference code's splits: train 70 %, then the rest halved into validation / test.

    ``train_test_split(ids, labels, test_size=0.3, random_state=10)`` on the list order,
    then ``train_test_split(rest_ids, rest_labels, test_size=0.5, random_state=10)``.

    Returns
    -------
    dict
        ``{"train": (ids, labels), "val": (ids, labels), "test": (ids, labels)}`` as lists.
    """
    from sklearn.model_selection import train_test_split

    ids, labels = list(ids), list(labels)
    if len(ids) != len(labels):
        raise ParameterError(f"ids ({len(ids)}) and labels ({len(labels)}) differ in length")
    tr_i, rest_i, tr_l, rest_l = train_test_split(ids, labels, test_size=test_size, random_state=random_state)
    va_i, te_i, va_l, te_l = train_test_split(rest_i, rest_l, test_size=0.5, random_state=random_state)
    return {"train": (tr_i, tr_l), "val": (va_i, va_l), "test": (te_i, te_l)}


def split_frame(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """``df`` (list order) with a ``split`` column from :func:`official_splits`."""
    s = official_splits(df["video_id"].tolist(), df["label"].tolist(), **kwargs)
    where = {v: name for name, (vids, _) in s.items() for v in vids}
    out = df.copy()
    out["split"] = out["video_id"].map(where)
    return out


# ------------------------------------------------------------------ Table 1
def table1_stats(listed: pd.DataFrame, unlisted: pd.DataFrame | None = None) -> dict:
    """Statistics of the paper's Table 1.

    Counts per category use the listed videos; durations use every video with a duration
    (listed + unlisted), which is how the paper's totals come out (see the book's Table 1
    page). Videos per category: mean and *population* std (ddof 0).
    """
    counts = listed.groupby("label").size()
    durs = listed["duration_s"]
    if unlisted is not None and len(unlisted):
        durs = pd.concat([durs, unlisted["duration_s"]], ignore_index=True)
    durs = pd.to_numeric(durs, errors="coerce").dropna()
    return {
        "total_categories": int(counts.size),
        "total_videos": int(len(listed)),
        "videos_with_duration": int(len(durs)),
        "total_duration_hours": float(durs.sum() / 3600) if len(durs) else float("nan"),
        "mean_duration_minutes": float(durs.mean() / 60) if len(durs) else float("nan"),
        "videos_per_category_mean": float(counts.mean()),
        "videos_per_category_std": float(counts.std(ddof=0)),
    }


def table1(metadata_dir=None) -> pd.DataFrame:
    """Table 1 from the real metadata: one row per property, columns FCVID and YouTube-8M."""
    f = table1_stats(load_fcvid_list(metadata_dir), load_unlisted_durations("fcvid", metadata_dir))
    y = table1_stats(load_yt8m_list(metadata_dir), load_unlisted_durations("yt8m", metadata_dir))
    return pd.DataFrame({"property": list(f), "FCVID": list(f.values()), "YouTube-8M": [y[k] for k in f]})


def table1_ours(metadata_dir=None, *, download: bool = False, cache_dir=None) -> pd.DataFrame:
    """Our Table 1 in the paper's row names (``property``, ``FCVID``, ``YouTube-8M``).

    Mapping: ``total_videos`` = videos with a duration in the authors' files (listed +
    unlisted: 5,151 / 60,862); ``videos_used_in_experiments`` = videos in the lists (5,147 /
    60,794); durations over every video with a duration; per-category mean / population
    std over the listed videos. Downloaded lists have no durations (NaN).
    """
    out = {}
    for name, loader in (("FCVID", load_fcvid_list), ("YouTube-8M", load_yt8m_list)):
        key = "fcvid" if name == "FCVID" else "yt8m"
        listed = loader(metadata_dir, download=download, cache_dir=cache_dir)
        unlisted = None if download else load_unlisted_durations(key, metadata_dir)
        s = table1_stats(listed, unlisted)
        out[name] = {
            "total_categories": s["total_categories"],
            "total_videos": s["videos_with_duration"] if not download else s["total_videos"],
            "total_duration_hours": s["total_duration_hours"],
            "mean_duration_minutes": s["mean_duration_minutes"],
            "videos_per_category_mean": s["videos_per_category_mean"],
            "videos_per_category_std": s["videos_per_category_std"],
            "videos_used_in_experiments": s["total_videos"],
        }
    props = list(out["FCVID"])
    return pd.DataFrame({"property": props, "FCVID": [out["FCVID"][p] for p in props],
                         "YouTube-8M": [out["YouTube-8M"][p] for p in props]})


def table1_comparison(metadata_dir=None, *, download: bool = False, cache_dir=None) -> pd.DataFrame:
    """The paper's Table 1 beside ours (:func:`table1_ours`), rows in the paper's order;
    rows without a counterpart (before-undersampling counts) are NaN on our side."""

    paper = paper_table("icmr2017_table1_datasets")
    ours = table1_ours(metadata_dir, download=download, cache_dir=cache_dir)
    table = side_by_side(ours, paper, on=["property"], columns=["FCVID", "YouTube-8M"])
    order = {p: i for i, p in enumerate(paper["property"])}
    return table.sort_values("property", key=lambda s: s.map(order)).reset_index(drop=True)
