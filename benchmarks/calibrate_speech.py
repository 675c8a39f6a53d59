"""Calibration of the embedded speech stand-ins: single-modality probes against the target bands.

Usage::

    .venv/bin/python benchmarks/calibrate_speech.py --root data \
        [--scale cpu] [--datasets avletters digits cuave] [--seed 0] [--n-jobs 2] \
        [--knobs '{"digits": {"snr_db": [-10, 10], "articulation": [0.5, 1.0]}}'] [--out calib.json]

Without ``--knobs`` each dataset is generated (if missing) with its preset into
``avlib.paths.embedded_root(ROOT, scale, dataset)``, exactly as the notebooks use it. With
``--knobs`` (trying new values of :data:`avlib.data.speech.generate.SPEECH_KNOBS`) the data
go to ``ROOT/trial/<dataset>`` (regenerated every time, no extra MFCC sets and no video
files, which do not change the probes' inputs). Then :func:`avlib.data.speech.calibration.calibration_probe`
runs on every speaker fold and the script prints, per dataset, the audio-only, video-only,
early- and late-fusion probe accuracies, the complementarity table (both / only audio /
only video / neither right), whether each modality is in its band of
:data:`avlib.data.speech.calibration.TARGET_BANDS`, and the generation and probe times.
Tune only on these single-modality numbers, never on a multimodal result of the XFlow
chapter.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main(argv=None):
    from threadpoolctl import threadpool_limits

    from avlib.data.speech import ensure_speech_benchmark, generate_speech_benchmark, load_speech_dataset
    from avlib.data.speech.calibration import calibration_probe
    from avlib.data.speech.generate import MARKER

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="data root (never the repository's data/)")
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--datasets", nargs="+", default=["avletters", "digits", "cuave"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--knobs", default=None, help="JSON {dataset: {knob: value}} to try instead of the presets'")
    ap.add_argument("--max-folds", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="also write the summaries as JSON")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    knobs = json.loads(args.knobs) if args.knobs else None
    rows = []
    for name in args.datasets:
        t0 = time.perf_counter()
        if knobs is None:
            root = ensure_speech_benchmark(args.root, name, scale=args.scale, seed=args.seed, n_jobs=args.n_jobs,
                                           progress=False)
        else:
            over = dict(extra_snrs=[], keep_video=False, **knobs.get(name, {}))
            root = generate_speech_benchmark(args.root / "trial" / name, name, scale=args.scale, seed=args.seed,
                                             n_jobs=args.n_jobs, overrides=over, progress=False)
        marker = json.loads((root / MARKER).read_text())
        ds = load_speech_dataset(root, name)
        with threadpool_limits(limits=1):
            s = calibration_probe(ds, max_folds=args.max_folds, seed=args.seed).summary()
        s.update(wall_seconds=round(time.perf_counter() - t0, 1), generation_seconds=marker["seconds"],
                 generation_cpu_seconds=marker["worker_cpu_seconds"], knobs=knobs.get(name) if knobs else None)
        rows.append(s)
        print(f"{name:9s} audio {s['audio']:.3f} {'in' if s['audio_in_band'] else 'OUT of'} band {s['audio_band']} | "
              f"video {s['video']:.3f} {'in' if s['video_in_band'] else 'OUT of'} band {s['video_band']} | "
              f"early {s['early_fusion']:.3f} late {s['late_fusion']:.3f} | both {s['both']:.3f} "
              f"only audio {s['only_audio']:.3f} only video {s['only_video']:.3f} neither {s['neither']:.3f} "
              f"{'complementary' if s['complementary'] else 'NOT complementary'} | probe {s['seconds']} s",
              flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(scale=args.scale, seed=args.seed, results=rows), indent=1, default=str))


if __name__ == "__main__":
    main()
