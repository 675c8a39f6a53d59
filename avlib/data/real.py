"""The real datasets: where they go under the data root, in which layout, and which are there.

None of them can be downloaded by avlib (licences and sizes); a user who has them puts each in
``<data_root>/real/<name>`` (``data_root``: ``--data-root``, ``$AVLIB_DATA`` or ``data``)::

    fcvid/       videos.csv (video_id, category, label) and videos/<category>/<video_id>.mp4;
                 optionally image_bank/<category>/*.jpg (the frame model's pre-training images)
    youtube8m/   the same layout for the YouTube-8M music-performance videos
    avletters/   <speaker>/<word>_<take>.frames.npy (lip images) and .mfcc.npy (MFCCs)
    digits/      the same layout
    cuave/       the same layout

:func:`missing` checks one dataset's layout (enough files to start, not every file: a corrupt
video is reported by the page that reads it); :func:`report` writes the one message the runner
and ``python -m avlib.data check`` print. The runner's ``--scale paper`` reads real data only:
a notebook whose datasets are missing is marked *not run* and the others run.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError
from ..paths import resolve

__all__ = ["DATA_ENV", "REAL_FOLDER", "RealDataset", "REAL_DATASETS", "REAL_SOURCES", "default_data_root",
           "dataset_folder", "source_folder", "speech_folder", "missing", "status", "report"]

#: Environment variable naming the data root when ``--data-root`` is not given.
DATA_ENV = "AVLIB_DATA"
#: Folder of the real datasets inside the data root.
REAL_FOLDER = "real"


@dataclass(frozen=True)
class RealDataset:
    """One real dataset: its folder under ``<data_root>/real``, what it is and its layout."""

    name: str
    title: str
    layout: str
    kind: str  # "videos" (videos.csv + mp4 tree) or "speech" (per-speaker .npy files)


_VIDEO_LAYOUT = ("videos.csv (columns video_id, category, label) and videos/<category>/<video_id>.mp4; "
                 "optionally image_bank/<category>/*.jpg")
_SPEECH_LAYOUT = ("<speaker>/<word>_<take>.frames.npy (mouth images, frames x H x W) and <word>_<take>.mfcc.npy "
                  "(how to convert a copy: avlib.data.speech.layouts)")

REAL_DATASETS = {
    "fcvid": RealDataset("fcvid", "FCVID, the 12 music-performance categories (ICMR and ISMIR pages)",
                         _VIDEO_LAYOUT, "videos"),
    "youtube8m": RealDataset("youtube8m", "YouTube-8M music-performance videos (the YouTube-8M page)",
                             _VIDEO_LAYOUT, "videos"),
    "avletters": RealDataset("avletters", "AVletters (XFlow pages)", _SPEECH_LAYOUT, "speech"),
    "digits": RealDataset("digits", "Digits (XFlow pages)", _SPEECH_LAYOUT, "speech"),
    "cuave": RealDataset("cuave", "CUAVE (XFlow pages)", _SPEECH_LAYOUT, "speech"),
}

#: A notebook's ``source`` value that means "the real dataset in its folder under the data root".
REAL_SOURCES = {"real": "fcvid", "real_youtube8m": "youtube8m"}


def default_data_root() -> str:
    """``$AVLIB_DATA`` when set, else ``"data"`` (inside the project home)."""
    return os.environ.get(DATA_ENV) or "data"


def dataset_folder(data_root, name: str) -> Path:
    """``<data_root>/real/<name>``."""
    if name not in REAL_DATASETS:
        raise ParameterError(f"unknown real dataset {name!r}; valid: {', '.join(REAL_DATASETS)}")
    return resolve(data_root) / REAL_FOLDER / name


def source_folder(source: str, data_root) -> Path | None:
    """The folder a notebook's ``source`` names: ``"real"`` / ``"real_youtube8m"`` are the FCVID
    and YouTube-8M folders under the data root; None for the embedded stand-ins (``"embedded..."``);
    any other value is a folder given by the user."""
    if source in REAL_SOURCES:
        return dataset_folder(data_root, REAL_SOURCES[source])
    if str(source).startswith("embedded"):
        return None
    return Path(source).expanduser()


def speech_folder(source: str, data_root, name: str) -> Path:
    """The folder of the speech dataset ``name`` (AVletters, Digits, CUAVE) that a page's ``source``
    names: ``"real"``: ``<data_root>/real/<name>``; any other value (not the embedded stand-ins): a
    folder given by the user that holds ``avletters/``, ``digits/``, ``cuave/``, so ``<source>/<name>``."""
    if REAL_DATASETS.get(name) is None or REAL_DATASETS[name].kind != "speech":
        raise ParameterError(f"{name!r} is not one of the speech datasets "
                             f"({', '.join(n for n, d in REAL_DATASETS.items() if d.kind == 'speech')})")
    if str(source).startswith("embedded"):
        raise ParameterError(f"source {source!r} names the embedded stand-ins, not a folder of real data")
    if source == "real":
        return dataset_folder(data_root, name)
    return Path(source).expanduser() / name


def _video_missing(folder: Path) -> list[str]:
    listing = folder / "videos.csv"
    if not listing.is_file():
        return [str(listing)]
    try:
        with listing.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        return [f"{listing} (unreadable: {exc})"]
    need = {"video_id", "category", "label"}
    if not rows or not need <= set(rows[0]):
        return [f"{listing} (needs the columns {', '.join(sorted(need))} and one row per video)"]
    videos = folder / "videos" if (folder / "videos").is_dir() else folder
    present = sum((videos / r["category"] / f"{r['video_id']}.mp4").is_file() for r in rows)
    if present == 0:
        return [f"{videos}/<category>/<video_id>.mp4 (none of the {len(rows)} listed videos found)"]
    return []


def _speech_missing(folder: Path) -> list[str]:
    out = []
    if not any(folder.glob("*/*.frames.npy")):
        out.append(f"{folder}/<speaker>/<word>_<take>.frames.npy")
    if not any(folder.glob("*/*.mfcc.npy")):
        out.append(f"{folder}/<speaker>/<word>_<take>.mfcc.npy")
    return out


def missing(data_root, name: str, folder=None) -> list[str]:
    """What is missing of real dataset ``name`` under ``data_root`` (or in ``folder`` when given;
    empty: ready to read)."""
    folder = dataset_folder(data_root, name) if folder is None else Path(folder)
    if not folder.is_dir():
        return [str(folder) + "/"]
    return _video_missing(folder) if REAL_DATASETS[name].kind == "videos" else _speech_missing(folder)


def status(data_root, names=None) -> dict:
    """``{name: [missing parts]}`` for ``names`` (default: every real dataset)."""
    return {n: missing(data_root, n) for n in (names or REAL_DATASETS)}


def report(data_root, names=None, *, pages: dict | None = None) -> str:
    """One message: which real datasets are ready, which are missing, where to put them and in
    which layout. ``pages``: ``{dataset: [notebooks that need it]}``, named in the message."""
    st = status(data_root, names)
    root = resolve(data_root) / REAL_FOLDER
    lines = [f"Real data under {root}:"]
    for name, miss in st.items():
        d = REAL_DATASETS[name]
        needed = f"; needed by {', '.join(pages[name])}" if pages and pages.get(name) else ""
        if not miss:
            lines.append(f"  ready    {name:10s} {d.title}")
        else:
            lines.append(f"  MISSING  {name:10s} {d.title}{needed}")
            lines.append(f"           put it in {root / name} as: {d.layout}")
            lines.append(f"           not found: {'; '.join(miss)}")
    lines.append("avlib downloads none of them (licences and sizes). The embedded stand-ins run at the smoke "
                 "and cpu scales; they are never used at the paper scale.")
    return "\n".join(lines)
