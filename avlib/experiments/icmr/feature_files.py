"""Late fusion trained from feature files in the layout of the ICMR 2017 authors' release.

The authors published their extracted features: an HDF5 file with one group per video holding
``audio`` (1, 1024) and ``video`` (k, 2048) (:func:`avlib.data.fcvid.read_feature_file`).
:func:`run_fusion_from_feature_file` trains and tests Table 4's fusion model on such a file and
a video list; :func:`export_feature_file` writes the features of our own runs in that layout,
so that :func:`run_fusion_from_files` (the fusion page's section) gives the in-memory Table 4
fusion again; :func:`predict_fusion` applies a trained model to a file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from ...config.icmr import ICMRConfig
from ...data.fcvid import fusion_matrices, read_feature_file, write_feature_file
from ...data.icmr_metadata import load_fcvid_list
from ...errors import DataError
from ...metrics.classification import confusion, softmax
from .audio import PAPER_AUDIO_NAMES
from .data import Benchmark, read_video_list
from .fusion import fusion_train_config, train_fusion
from .scoring import metric_summary, predict_array
from .store import FeatureStore, audio_tag, visual_tag

__all__ = [
    "FusionInputs",
    "fusion_inputs",
    "run_fusion_from_features",
    "run_fusion_from_feature_file",
    "store_features",
    "export_feature_file",
    "run_fusion_from_files",
    "predict_fusion",
]


@dataclass
class FusionInputs:
    """Late-fusion matrices per split built from per-video features and a video list.

    ``x``, ``y``, ``ids``: dicts over ``train``/``val``/``test`` of ``(n, 2k+1, dim)`` float32
    matrices, int labels and video ids (list order); ``report``: DataFrame (video_id, split,
    issue) of listed videos missing from the features or with a missing modality, and of
    feature videos not in the list; ``n_frames`` (k), ``num_classes``, ``categories``.
    """

    x: dict
    y: dict
    ids: dict
    report: pd.DataFrame
    n_frames: int
    num_classes: int
    categories: list

    def counts(self) -> dict:
        """Number of videos per issue of :attr:`report`."""
        return self.report["issue"].value_counts().to_dict()


def fusion_inputs(features: dict, videos, *, n_frames: int | None = None, dim: int = 1024) -> FusionInputs:
    """Match features in the authors' layout with a video list and build the fusion inputs.

    ``features``: ``video_id -> {"audio": (1, dim) or None, "video": (k, 2 * dim) or None}``;
    ``videos``: the list (:func:`~avlib.experiments.icmr.data.read_video_list`); ``n_frames``:
    frames per video in the matrix, default the largest frame count among the listed videos
    (the paper: 50 FCVID, 20 YouTube-8M). A listed video absent from ``features`` (or with
    neither modality) is left out; one with a single modality keeps zero rows for the other
    (Sec. 3.3). Both are listed in ``report``, as are feature videos that are not in the list.
    """
    df = read_video_list(videos)
    issues, keep = [], []
    for vid, split in zip(df["video_id"], df["split"]):
        f = features.get(vid)
        has_a = f is not None and f.get("audio") is not None
        has_v = f is not None and f.get("video") is not None and len(f["video"]) > 0
        if f is None:
            issues.append((vid, split, "missing from the features"))
        elif not (has_a or has_v):
            issues.append((vid, split, "both modalities missing"))
        else:
            keep.append(vid)
            if not has_a:
                issues.append((vid, split, "audio missing (zero row)"))
            if not has_v:
                issues.append((vid, split, "video missing (zero rows)"))
    listed = set(df["video_id"])
    issues += [(str(v), None, "not in the video list") for v in features if str(v) not in listed]
    if n_frames is None:
        n_frames = max((len(features[v]["video"]) for v in keep if features[v].get("video") is not None), default=0)
    audio = {v: features[v].get("audio") for v in keep}
    frames = {v: features[v].get("video") for v in keep}
    kept = set(keep)
    x, y, ids = {}, {}, {}
    for s in ("train", "val", "test"):
        part = df[(df["split"] == s) & df["video_id"].isin(kept)]
        ids[s] = part["video_id"].tolist()
        x[s] = fusion_matrices(audio, frames, ids[s], n_frames=n_frames, dim=dim)
        y[s] = np.array(part["label"], dtype=np.int64)
    num_classes = int(df["label"].max()) + 1 if len(df) else 0
    names = dict(zip(df["label"], df["category"])) if "category" in df.columns else {}
    categories = [str(names.get(c, c)) for c in range(num_classes)]
    report = pd.DataFrame(issues, columns=["video_id", "split", "issue"])
    return FusionInputs(x, y, ids, report, int(n_frames), num_classes, categories)


def run_fusion_from_features(features: dict, videos, *, cfg: ICMRConfig, seed: int = 0,
                             n_frames: int | None = None, num_classes: int | None = None,
                             method: str = "late fusion", device=None, dim: int = 1024) -> dict:
    """Train and test the late-fusion model (Table 4) on per-video features and a video list.

    ``features``: the authors' layout (:func:`avlib.data.fcvid.read_feature_file`); ``videos``:
    the list with labels (official split unless given); ``cfg``: the fusion schedule and
    ``fusion.hidden``; ``seed`` fixes the initialisation and the batch order; ``n_frames``,
    ``dim``: as :func:`fusion_inputs`; ``num_classes``: default the largest label + 1;
    ``method``: label of the table row.

    Returns ``table`` (one row: method, model, frames, Hit@1, Hit@3, F1, macro F1, n_missing,
    train_seconds, n_train, n_val, n_test), ``confusion`` (row-normalised, test videos),
    ``report``, ``inputs`` (:class:`FusionInputs`), ``model``, ``history``, ``probs`` (test),
    ``test_ids``, ``n_frames`` and ``categories``.
    """
    data = fusion_inputs(features, videos, n_frames=n_frames, dim=dim)
    C = int(num_classes or data.num_classes)
    if len(data.y["train"]) == 0 or len(data.y["test"]) == 0:
        raise DataError(f"no training or no test video has features ({len(data.y['train'])} train, "
                        f"{len(data.y['test'])} test); report: {data.counts()}")
    t0 = time.perf_counter()
    model, history = train_fusion(data.x["train"], data.y["train"], data.x["val"], data.y["val"],
                                  n_frames=data.n_frames, num_classes=C, config=fusion_train_config(cfg, seed),
                                  hidden=cfg.fusion.hidden, device=device)
    seconds = time.perf_counter() - t0
    probs = softmax(predict_array(model, data.x["test"], batch_size=64, device=device), 1)
    yt = data.y["test"]
    row = {"method": method, "model": "fusion", "frames": data.n_frames, **metric_summary(yt, probs),
           "train_seconds": seconds, **{f"n_{s}": len(data.y[s]) for s in ("train", "val", "test")}}
    # listed test videos with no usable modality are not scored: count them as missing
    rep = data.report
    row["n_missing"] += int(((rep["split"] == "test")
                             & rep["issue"].isin(["missing from the features", "both modalities missing"])).sum())
    return {"table": pd.DataFrame([row]), "confusion": confusion(yt, probs, n_classes=C), "report": data.report,
            "inputs": data, "model": model, "history": history, "probs": probs, "test_ids": data.ids["test"],
            "n_frames": data.n_frames, "categories": data.categories}


def run_fusion_from_feature_file(feature_file, videos, *, cfg: ICMRConfig, seed: int = 0,
                                 n_frames: int | None = None, num_classes: int | None = None,
                                 method: str = "late fusion", device=None, dim: int = 1024) -> dict:
    """:func:`run_fusion_from_features` on an HDF5 file in the authors' layout (a bad file raises
    :class:`~avlib.errors.MediaError` naming it); ``videos``: the list with labels (FCVID list
    format). Returns the same dict plus ``feature_file``."""
    features = read_feature_file(feature_file, dim=dim)
    out = run_fusion_from_features(features, videos, cfg=cfg, seed=seed, n_frames=n_frames,
                                   num_classes=num_classes, method=method, device=device, dim=dim)
    out["feature_file"] = str(feature_file)
    return out


def _frames_present(f: np.ndarray) -> int:
    """Frames before the trailing all-zero rows (frames a video does not have are stored as zeros)."""
    nonzero = np.flatnonzero(np.abs(f).reshape(len(f), -1).sum(1) > 0)
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


def store_features(store: FeatureStore, *, cfg: ICMRConfig, audio: str = "xception_audio"):
    """The fusion's inputs held by a :class:`~avlib.experiments.icmr.store.FeatureStore`, in the
    authors' layout.

    Audio: the ``audio`` network's UC run (``(1, 1024)`` per video); frames: the visual run
    that feeds the fusion (``fusion.visual``), ``(k, 2048)`` per video without the zero rows of
    frames the video does not have (``video`` is None when it has none). Returns
    ``(features, videos)``: ``video_id -> {"audio", "video"}`` and the stored videos'
    ``video_id``, ``label``, ``split`` (visual run order, then audio-only videos).
    """
    tags = {"audio": audio_tag(audio, "UC"), "video": visual_tag(*cfg.fusion.visual)}
    runs = {m: store.load(t) for m, t in tags.items()}
    absent = [t for m, t in tags.items() if runs[m] is None]
    if absent:
        raise DataError(f"{store.root} holds no stored run {', '.join(absent)}; run the icmr_audio and "
                        f"icmr_visual notebooks (or fusion.run_fusion_table) at this scale and seed first")
    features, rows = {}, {}
    for modality in ("video", "audio"):
        r = runs[modality]
        for i, vid in enumerate(map(str, r["ids"])):
            entry = features.setdefault(vid, {"audio": None, "video": None})
            rows.setdefault(vid, (int(r["labels"][i]), str(r["split"][i])))
            f = np.asarray(r["features"][i], np.float32)
            if modality == "audio":
                entry["audio"] = f.reshape(1, -1)
            else:
                f = f.reshape(f.shape[0], -1)
                n = _frames_present(f)
                entry["video"] = f[:n] if n else None
    videos = pd.DataFrame([(v, lab, s) for v, (lab, s) in rows.items()], columns=["video_id", "label", "split"])
    return features, videos


def export_feature_file(store: FeatureStore, path, *, cfg: ICMRConfig, audio: str = "xception_audio") -> Path:
    """Write a store's fusion inputs (:func:`store_features`) as an authors'-layout HDF5 file."""
    features, _ = store_features(store, cfg=cfg, audio=audio)
    return write_feature_file(path, features)


def run_fusion_from_files(bench: Benchmark, cfg: ICMRConfig, *, store: FeatureStore, seed: int = 0,
                          feature_file=None, feature_list=None, audio: str = "xception_audio",
                          device=None) -> dict:
    """The fusion page's "training from the authors' feature files" section.

    ``feature_file=None``: the store's features (``audio`` network + the fusion's visual run)
    are exported to ``<store>/features_<audio>.h5`` and trained on with the benchmark's
    ``videos.csv`` as the list, over ``fusion.frames`` frames, so the result equals the
    in-memory fusion of :func:`~avlib.experiments.icmr.fusion.run_fusion_table` for the same
    seed. Otherwise ``feature_file`` is the user's HDF5 and ``feature_list`` its list (default:
    the real FCVID list, :func:`avlib.data.icmr_metadata.load_fcvid_list`).

    Returns :func:`run_fusion_from_feature_file`'s dict plus ``source`` (for captions),
    ``exported`` and ``feature_list``.
    """
    exported = feature_file is None
    if exported:
        feature_file = export_feature_file(store, store.root / f"features_{audio}.h5", cfg=cfg, audio=audio)
        if feature_list is None:
            csv = None if bench.root is None else Path(bench.root) / "videos.csv"
            feature_list = csv if csv is not None and csv.is_file() else bench.videos
    elif feature_list is None:
        feature_list = load_fcvid_list()
    out = run_fusion_from_feature_file(feature_file, feature_list, cfg=cfg, seed=seed,
                                       n_frames=cfg.fusion.frames if exported else None,
                                       method=PAPER_AUDIO_NAMES.get(audio, audio), device=device)
    out.update(exported=exported, source=bench.source if exported else f"feature file {Path(feature_file).name}",
               feature_list=feature_list if isinstance(feature_list, (str, Path)) else "DataFrame")
    return out


def predict_fusion(model: nn.Module, features: dict, *, categories, top: int = 3, device=None) -> pd.DataFrame:
    """Class probabilities of a trained late-fusion model on features in the authors' layout.

    Each video's matrix uses the model's own ``n_frames`` (the first frames of the video; zero
    rows for what is missing). Returns one row per video: ``video_id``, ``frames`` (in the
    features), ``audio`` (present), ``input_shape``, ``prediction``, ``probability`` and
    ``top`` (the ``top`` categories with their probabilities).
    """
    ids = [str(v) for v in features]
    x = fusion_matrices({v: features[v].get("audio") for v in ids}, {v: features[v].get("video") for v in ids},
                        ids, n_frames=int(model.n_frames), dim=int(model.dim))
    probs = softmax(predict_array(model, x, batch_size=64, device=device), 1)
    rows = []
    for v, p in zip(ids, probs):
        order = np.argsort(-p)[:top]
        video = features[v].get("video")
        rows.append({"video_id": v, "frames": 0 if video is None else len(video),
                     "audio": features[v].get("audio") is not None, "input_shape": str(tuple(x.shape[1:])),
                     "prediction": categories[order[0]], "probability": float(p[order[0]]),
                     "top": ", ".join(f"{categories[c]} {100 * p[c]:.1f} %" for c in order)})
    return pd.DataFrame(rows)
