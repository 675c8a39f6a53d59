"""User-generated video on the ICMR audio page: a silent track and a very short clip stay in the
evaluation (the log-mel of silence, zero-padding) and are counted; a test video whose audio
cannot be decoded is scored as missing for the audio modality, never dropped silently."""

import numpy as np
import pandas as pd

from avlib import media
from avlib.config.icmr import ICMRConfig
from avlib.experiments.icmr.audio import run_audio_model
from avlib.experiments.icmr.data import Benchmark, media_counts
from avlib.experiments.icmr.store import FeatureStore

CATS = ["accordionPerformance", "celloPerformance"]


def _bench(tmp_path):
    sr, rng = 16000, np.random.default_rng(0)
    rows = []
    frames = np.full((8, 32, 32, 3), 100, np.uint8)
    for i in range(16):
        label = i % 2
        vid = f"v{i:02d}"
        split = "test" if i >= 12 else ("val" if i >= 10 else "train")
        t = np.arange(2 * sr) / sr
        tone = (0.3 * np.sin(2 * np.pi * (300 + 500 * label) * t) + 0.01 * rng.standard_normal(len(t)))[None]
        if vid == "v12":
            tone = np.zeros_like(tone)  # silent track
        if vid == "v13":
            tone = tone[:, : sr // 5]  # 0.2 s
        folder = tmp_path / "videos" / CATS[label]
        folder.mkdir(parents=True, exist_ok=True)
        media.write_video(folder / f"{vid}.mp4", frames, fps=4, audio=tone.astype(np.float32), sample_rate=sr)
        rows.append({"video_id": vid, "category": CATS[label], "label": label, "split": split})
    (tmp_path / "videos" / CATS[0] / "v14.mp4").write_bytes(b"not a video")  # cannot be decoded
    videos = pd.DataFrame(rows)
    return Benchmark(videos, tmp_path / "videos", None, CATS, "test videos", tmp_path / "cache", tmp_path)


def test_odd_test_videos_are_kept_counted_or_scored_as_missing(tmp_path):
    bench = _bench(tmp_path)
    cfg = ICMRConfig.for_scale("smoke").with_overrides({"audio.epochs": 1, "audio.batch": 4})
    store = FeatureStore(tmp_path / "store")
    run = run_audio_model(bench, cfg, "choi2016", "UC", seed=0, store=store, n_jobs=1)
    assert run["n_missing"] == 1  # v14: scored as missing for audio, not dropped
    stored = store.load(run["tag"])
    test = stored["split"] == "test"
    assert sorted(stored["ids"][test]) == ["v12", "v13", "v14", "v15"]  # all four test videos
    probs = dict(zip(stored["ids"], stored["probs"]))
    assert np.isnan(probs["v14"]).all() and np.isfinite(probs["v12"]).all() and np.isfinite(probs["v13"]).all()
    counts = media_counts(bench, cfg, n_jobs=1).set_index("input")
    row = counts.loc["log-mel, uniform crops"]
    assert (row["videos"], row["used"], row["silent track"], row["short clip"], row["not decodable"]) == \
        (16, 15, 1, 1, 1)
    assert counts.loc["frames", "not decodable"] == 1 and counts.loc["frames", "silent track"] == 0
