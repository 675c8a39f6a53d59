"""Throughput of the ISMIR 2017 analysis steps (videos per second), tiny synthetic scale.

Usage::

    .venv/bin/python benchmarks/bench_ismir.py --out benchmarks/results/ismir.json [--device cuda] [--quick]

Random videos with the geometry of the ``cpu`` presets (ISMIR: Choi et al. audio network,
1 frame per video; ICMR: 96 x 137 log-mels, 80 px frames; 36 videos of 6 categories by
default) go through the steps of :mod:`avlib.experiments.ismir`:

* ``joint training step``: forward, backward and Adam step of the whole
  :class:`~avlib.models.audiovisual.AudioVisualNet` (joint scheme, with its uint8 -> [-1, 1]
  frame scaling and random flips), timed by :func:`avlib.train.throughput.time_steps`; on
  CUDA also with AMP;
* ``feature extraction``: penultimate features and logits of every video
  (:func:`~avlib.experiments.ismir.schemes.extract_av_features`);
* ``importance``: the default linear read-out (train one dense layer, the paper's ``L^c``)
  and the gradient variant (gradients of the fusion's decision), each with the top-k
  audio / visual selection (first half of
  :func:`~avlib.experiments.ismir.correspondence.analyse_correspondence`);
* ``spearman``: the per-category Spearman matrices of the selected features and their
  intra / inter summary (second half);
* ``grad-cam``: Grad-CAM of the decision on both modalities
  (:func:`~avlib.experiments.ismir.gradcam.gradcam_examples`), per example, with the frames
  enlarged to ``--gradcam-frame-px`` for the frame maps as at the ``cpu`` scale.

Each analysis step runs once untimed, then ``--repeats`` times; the best time counts.
Writes JSON ``{"meta": ..., "results": [...]}``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from avlib.analysis.correlation import category_correlations, summarize_correlations
from avlib.analysis.importance import category_importance, decision_gradients, readout_importance, select_features
from avlib.models.audiovisual import AudioVisualNet
from avlib.models import get_model
from avlib.experiments.ismir import data as ismir_data
from avlib.experiments.ismir import gradcam, schemes
from avlib.train.throughput import save_benchmark, time_steps


def synthetic_data(*, n_videos: int, num_classes: int, mel_frames: int, frame_px: int, n_frames: int, seed: int = 0):
    """Random :class:`~avlib.experiments.ismir.data.AVData` (all videos in the test split)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_videos) % num_classes
    audio = rng.normal(size=(n_videos, 1, 96, mel_frames)).astype(np.float32)
    frames = [rng.integers(0, 256, size=(n_frames, 3, frame_px, frame_px), dtype=np.uint8) for _ in range(n_videos)]
    return ismir_data.AVData(audio, frames, labels, np.array(["test"] * n_videos), np.array([f"v{i}" for i in range(n_videos)]),
                        [f"class{c}" for c in range(num_classes)])


def build_net(audio: str, *, num_classes: int, n_frames: int, mel_frames: int) -> AudioVisualNet:
    """The joint scheme's network (audio CNN + Inception v3 + late fusion, fusion hidden 1024 x 2)."""
    kwargs = {"input_size": (96, mel_frames)} if audio == "choi2016" else {}
    a = get_model(audio, num_classes=num_classes, **kwargs)
    v = get_model("inception_frames", num_classes=num_classes)
    f = get_model("late_fusion", num_classes=num_classes, n_frames=n_frames)
    return AudioVisualNet(a, v, f, frame_transform=ismir_data.unit_frames)


def _best(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # untimed warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(device: str, args) -> list[dict]:
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    C, k = args.classes, args.k
    data = synthetic_data(n_videos=args.videos, num_classes=C, mel_frames=args.mel_frames, frame_px=args.frame_px,
                          n_frames=k)
    torch.manual_seed(0)
    net = build_net(args.audio, num_classes=C, n_frames=k, mel_frames=args.mel_frames)
    geometry = {"audio_model": args.audio, "audio_input": [1, 96, args.mel_frames], "frame_px": args.frame_px,
                "frames_per_video": k, "classes": C, "videos": args.videos}
    results = []

    def record(step, videos_per_s, seconds, **extra):
        r = {"step": step, "device": str(dev), "videos_per_s": videos_per_s, "seconds": seconds, **geometry, **extra}
        print(f"{device:5s} {step:26s} {videos_per_s:10.2f} videos/s", flush=True)
        results.append(r)

    batch = args.batch
    audio = torch.from_numpy(data.audio[:batch])
    frames = torch.from_numpy(data.frames_array(k, np.arange(batch)))
    y = torch.from_numpy(data.labels[:batch])
    for amp in ((False, True) if cuda else (False,)):
        r = time_steps(net, (audio, frames), y, steps=args.steps, warmup=1, device=dev, amp=amp,
                       input_transform=ismir_data.joint_transform,
                       optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))
        record("joint training step" + (" (AMP)" if amp else ""), r["examples_per_s"], r["seconds"],
               batch=batch, steps=args.steps, amp=r["amp"])

    n = len(data)
    secs, (a, f, logits) = _best(lambda: schemes.extract_av_features(net, data, k=k, batch_size=batch, device=dev),
                                 args.repeats)
    record("feature extraction", n / secs, secs)
    net.eval()
    pred = logits.argmax(1)

    def importance():
        (ga, gf), _ = decision_gradients(net.fuse, [a, f], predictions=pred, device=dev)
        imp_a = category_importance(a, ga, pred, num_classes=C)
        imp_v = category_importance(f.mean(1), gf.sum(1), pred, num_classes=C)
        return select_features(imp_a, imp_v, k_audio=10, k_visual=20)

    secs, sel = _best(importance, args.repeats)
    record("importance (gradient variant)", n / secs, secs)

    def readout():  # the default variant: the paper's L^c over a linear read-out
        ro = readout_importance(a, f.mean(1), data.labels, train=np.arange(n), num_classes=C)
        return select_features(ro["audio"], ro["visual"], k_audio=10, k_visual=20)

    secs, _ = _best(readout, args.repeats)
    record("importance (linear read-out, default)", n / secs, secs)

    def spearman():
        corrs = category_correlations(a, f.mean(1), data.labels, sel, names=data.categories)
        return corrs, summarize_correlations(corrs)

    secs, (corrs, _) = _best(spearman, args.repeats)
    record("spearman", n / secs, secs, matrices=len(corrs), matrix_size=int(corrs[0].rho.shape[0]) if corrs else 0)

    # Grad-CAM takes its inputs on the CPU (as in the ISMIR notebook)
    result = schemes.SchemeResult("joint", net.cpu(), a, f, logits, data.labels, data.split)
    secs, examples = _best(lambda: gradcam.gradcam_examples(result, data, per_category=1, split="test",
                                                            batch_size=batch, frame_px=args.gradcam_frame_px),
                           args.repeats)
    record("grad-cam (per example)", len(examples) / secs, secs, examples=len(examples),
           unit="examples (videos) with both maps", gradcam_frame_px=examples[0]["frame_px"] if examples else None)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/ismir.json")
    ap.add_argument("--device", default=None, help="cpu, cuda or both (default: cpu, plus cuda if available)")
    ap.add_argument("--audio", default="choi2016", choices=("choi2016", "xception_audio"))
    ap.add_argument("--videos", type=int, default=36)
    ap.add_argument("--classes", type=int, default=6, help="categories (Spearman needs >= 3 videos each)")
    ap.add_argument("--k", type=int, default=1, help="frames per video")
    ap.add_argument("--mel-frames", type=int, default=137, help="log-mel length (cpu preset: 137)")
    ap.add_argument("--frame-px", type=int, default=80, help="frame size (cpu preset: 80)")
    ap.add_argument("--gradcam-frame-px", type=int, default=299,
                    help="frames enlarged to this size for the Grad-CAM pass (cpu scale: 299; 0: not enlarged)")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="16 videos of 4 categories, batch 8, one timed step")
    args = ap.parse_args(argv)
    args.gradcam_frame_px = args.gradcam_frame_px or None
    if args.quick:
        args.videos, args.classes, args.batch, args.steps, args.repeats = 16, 4, 8, 1, 1
    torch.set_num_threads(args.threads)
    if args.device in (None, "both"):
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    t0 = time.perf_counter()
    results = [r for d in devices for r in run(d, args)]
    out = save_benchmark(args.out, results, threads=args.threads, benchmark="ismir_analysis_throughput",
                         wall_s=time.perf_counter() - t0,
                         note="synthetic inputs (random), cpu-preset geometry; CPU numbers depend on other load")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
