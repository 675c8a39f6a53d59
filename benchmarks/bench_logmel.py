"""Log-mel time on the CPU: librosa (the default) against torchaudio (avlib.features.audio).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_logmel.py --out benchmarks/results/logmel.json \\
        [--batch 64] [--repeats 5] [--threads 1] [--cases cpu_choi cpu_han cpu_22k paper_choi]

Each case is a batch of ``--batch`` clips of one length (noise, a few tones and a quiet stretch,
so that the 80 dB floor is reached) turned into log-mels on the authors' dB scale
(``"power_squared"``), three ways:

* ``librosa_loop``: :func:`~avlib.features.audio.logmel` clip by clip, the current default;
* ``torchaudio_batch``: :func:`~avlib.features.audio.logmel_batch` on CPU tensors, in batches of
  its default size on the CPU (clips up to ``CPU_BATCH_SAMPLES`` samples per batch);
* ``torchaudio_loop``: :func:`~avlib.features.audio.logmel` clip by clip on CPU tensors.

Times (``timings_s``) are the median and the minimum of ``--repeats`` runs after one warm-up run (imports,
filter banks, numba); the 1-minute load average before each case is recorded, since other
processes may share the cores (the minimum is the least disturbed run). The JSON also records
whether the torchaudio results are the same bytes as librosa's and their largest difference
in dB; the CPU default may change to torchaudio only if it is faster *and* byte-identical on
every case (``decision``).

Cases (the book's inputs; ``cpu`` is the scale preset of the ICMR pages):

==============  ===========================================================================
``cpu_choi``    Choi et al. / Xception at the cpu scale: 1.456 s at 12 kHz, 96 mels, n_fft 512, hop 256
``cpu_han``     Han et al. at the cpu scale: 7 s (an embedded video) at 22.05 kHz, 128 mels, n_fft 1024, hop 512
``cpu_22k``     1.5 s at 22.05 kHz, 96 mels, n_fft 1024, hop 512
``paper_choi``  the paper's input: 29.12 s at 12 kHz, 96 mels, n_fft 512, hop 256 (96 x 1366)
==============  ===========================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

CASES = {
    "cpu_choi": dict(seconds=1.456, sr=12_000, n_mels=96, n_fft=512, hop_length=256),
    "cpu_han": dict(seconds=7.0, sr=22_050, n_mels=128, n_fft=1024, hop_length=512),
    "cpu_22k": dict(seconds=1.5, sr=22_050, n_mels=96, n_fft=1024, hop_length=512),
    "paper_choi": dict(seconds=29.12, sr=12_000, n_mels=96, n_fft=512, hop_length=256),
}


def make_clips(n_clips: int, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """``(n_clips, n)`` float32: noise plus three tones, with a quiet first tenth."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    out = np.empty((n_clips, n), np.float32)
    for i in range(n_clips):
        f = rng.uniform(100, sr / 6, size=3)
        y = 0.05 * rng.standard_normal(n) + sum(0.2 * np.sin(2 * np.pi * fk * t) for fk in f)
        y[: n // 10] *= 1e-3
        out[i] = y
    return out


def _time(fn, repeats: int):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def main(argv=None):
    import librosa
    import torch
    import torchaudio

    from avlib.features import audio as A
    from avlib.utils import git_commit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (OMP_NUM_THREADS for BLAS)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    runs = []
    for name in args.cases:
        c = CASES[name]
        kw = dict(sr=c["sr"], n_fft=c["n_fft"], hop_length=c["hop_length"], n_mels=c["n_mels"], scale="power_squared")
        clips = make_clips(args.batch, c["seconds"], c["sr"])
        load = os.getloadavg()[0]
        ref, t_lib = _time(lambda: np.stack([A.logmel(y, backend="librosa", **kw) for y in clips]), args.repeats)
        bat, t_bat = _time(lambda: A.logmel_batch(clips, backend="torchaudio", **kw), args.repeats)
        one, t_one = _time(lambda: np.stack([A.logmel(y, backend="torchaudio", **kw) for y in clips]), args.repeats)
        default = np.stack([A.logmel(y, **kw) for y in clips])
        assert default.tobytes() == ref.tobytes()  # the default is librosa on the CPU
        run = dict(
            case=name, **c, batch=args.batch, output_shape=list(ref.shape[1:]),
            torchaudio_clips_per_tensor_batch=len(A._batches(list(clips), None, cuda=False)[0]),
            load_avg_1min_before=round(load, 2),
            timings_s={k: dict(median=round(statistics.median(v), 4), min=round(min(v), 4), runs=[round(x, 4) for x in v])
                     for k, v in (("librosa_loop", t_lib), ("torchaudio_batch", t_bat), ("torchaudio_loop", t_one))},
            ms_per_clip_median={k: round(1000 * statistics.median(v) / args.batch, 2)
                                for k, v in (("librosa_loop", t_lib), ("torchaudio_batch", t_bat),
                                             ("torchaudio_loop", t_one))},
            speedup_batch_over_librosa=round(statistics.median(t_lib) / statistics.median(t_bat), 2),
            bytes_equal_batch=bool(bat.tobytes() == ref.tobytes()),
            bytes_equal_loop=bool(one.tobytes() == ref.tobytes()),
            share_of_bins_equal=round(float(np.mean(bat == ref)), 4),
            max_abs_diff_db=float(np.abs(bat - ref).max()),
            max_abs_diff_db_batch_vs_loop=float(np.abs(bat - one).max()),
        )
        print(json.dumps(run), flush=True)
        runs.append(run)

    faster = all(r["speedup_batch_over_librosa"] > 1 for r in runs)
    identical = all(r["bytes_equal_batch"] for r in runs)
    decision = dict(
        torchaudio_faster_on_every_case=faster,
        torchaudio_bytes_equal_on_every_case=identical,
        cpu_default=("torchaudio" if faster and identical else "librosa"),
        rule="torchaudio becomes the CPU default only if faster and byte-identical on every case",
        cpu_default_in_code=A.CPU_LOGMEL_BACKEND,
    )
    out = dict(
        benchmark="log-mel backends on the CPU (avlib.features.audio)",
        commit=git_commit(), machine=platform.platform(), processor=platform.processor(),
        cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"), repeats=args.repeats,
        versions=dict(torch=torch.__version__, torchaudio=torchaudio.__version__, librosa=librosa.__version__,
                      numpy=np.__version__),
        scale="power_squared", top_db=80.0, runs=runs, decision=decision,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(decision))


if __name__ == "__main__":
    main()
