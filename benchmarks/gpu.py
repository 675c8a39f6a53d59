"""GPU benchmark of every paper model's training step and of log-mel extraction, in one command.

Usage::

    .venv/bin/python benchmarks/gpu.py                  # on a CUDA machine, ~3 min on one H100
    .venv/bin/python benchmarks/gpu.py --compile        # also AMP + channels_last + torch.compile
    .venv/bin/python benchmarks/gpu.py --device cpu --tiny   # smoke test of the script on the CPU

Training: for the ICMR 2017 audio models (``han2016``, ``choi2016``, ``xception_audio``), the
Inception v3 frame model (``inception_frames``) and the two XFlow models (``cnn_x_mlp``,
``cnn_x_mlp_lstm``, AVletters geometry) it times full training steps (forward, cross-entropy,
backward, Adam; the arithmetic of :func:`avlib.train.loop.fit`) on random inputs of the paper's
shapes, in fp32 (torch's defaults, as ``fit``: cuDNN may use TF32, recorded in ``meta.tf32``),
with AMP (:func:`avlib.train.loop.resolve_amp` ``"auto"``: bf16 where the GPU
has it, else fp16 with a gradient scaler), with AMP + channels_last, and with ``--compile`` also
AMP + channels_last + :func:`torch.compile`. Each setting builds a fresh model, runs
``--warmup`` untimed steps (cuDNN autotuning, compilation) and ``--steps`` timed ones, and
records examples/s and the peak GPU memory of the setting. A setting that fails (out of memory,
no compiler for ``torch.compile``) is recorded with its error; settings left when ``--budget-s``
(default 420 s) is spent are recorded as skipped, so a run ends within about 8 minutes.

Log-mel: the ICMR inputs of Choi et al. (29.12 s at 12 kHz, 96 mel bands, n_fft 512, hop 256)
for a batch of clips, computed by librosa on the CPU (:func:`avlib.features.audio.logmel_batch`,
one clip at a time) and by torchaudio on the GPU (the same function with the torchaudio backend,
transfers included; and ``torchaudio.transforms.MelSpectrogram`` alone on a tensor already on
the GPU), with the largest difference in dB between the two.

Writes ``{"meta": ..., "training": [...], "logmel": [...]}`` to ``--out`` (default
``benchmarks/results/gpu.json``; ``gpu_tiny.json`` with ``--tiny``) and prints a table. Without a
usable CUDA device (and without ``--device cpu``) it says why and exits 0 without measuring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avlib.features.audio import CHOI_SR, logmel_batch
from avlib.models import get_model
from avlib.train.loop import resolve_amp
from avlib.utils import DeviceUnavailableError, describe_device, get_device, git_commit

HERE = Path(__file__).resolve().parent

#: name -> (builder keywords, input shapes per example, batch) at the paper's scale
MODELS = {
    "han2016": ({}, [(1, 128, 43)], 128),
    "choi2016": ({}, [(1, 96, 1366)], 32),
    "xception_audio": ({}, [(1, 96, 1366)], 32),
    "inception_frames": ({}, [(3, 224, 224)], 64),
    "cnn_x_mlp": ({"dataset": "avletters", "variant": "xflow"}, None, 128),
    "cnn_x_mlp_lstm": ({"dataset": "avletters", "variant": "xflow"}, None, 64),
}
#: the smoke-test sizes (--tiny): shapes each model accepts, batch 2
TINY = {
    "han2016": ({}, [(1, 128, 43)]),
    "choi2016": ({"input_size": (96, 96)}, [(1, 96, 96)]),
    "xception_audio": ({}, [(1, 96, 96)]),
    "inception_frames": ({}, [(3, 75, 75)]),
    "cnn_x_mlp": ({"dataset": "avletters", "variant": "xflow"}, None),
    "cnn_x_mlp_lstm": ({"dataset": "avletters", "variant": "xflow", "n_frames": 4}, None),
}
SETTINGS = {
    "fp32": dict(amp="off", channels_last=False, compile=False),
    "amp": dict(amp="auto", channels_last=False, compile=False),
    "amp+cl": dict(amp="auto", channels_last=True, compile=False),
    "amp+cl+compile": dict(amp="auto", channels_last=True, compile=True),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(model, shapes, batch, device, channels_last):
    """Random inputs of ``batch`` examples (XFlow: from the model's geometry, half the LSTM's
    time steps padded, as ``benchmarks/bench_xflow.py``)."""
    if shapes is not None:
        xs = [torch.randn(batch, *s, device=device) for s in shapes]
    elif model.family == "cnnxmlp":
        h, w = model.image_hw
        xs = [torch.randn(batch, model.n_frames, h, w, device=device),
              torch.randn(batch, model.n_mfcc * model.n_frames, device=device)]
    else:
        h, w, t = *model.image_hw, model.n_frames
        mask = torch.zeros(batch, t, dtype=torch.bool, device=device)
        mask[:, : max(1, t // 2)] = True
        xs = [torch.randn(batch, t, 1, h, w, device=device) * mask[..., None, None, None],
              torch.randn(batch, t, model.n_mfcc, device=device) * mask[..., None], mask]
    if channels_last:
        xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
    return xs


def time_training(name, kwargs, shapes, batch, setting, *, device, steps, warmup) -> dict:
    """Examples/s and peak memory of ``steps`` training steps of a fresh model in ``setting``."""
    cfg = SETTINGS[setting]
    amp_dtype = resolve_amp(cfg["amp"], device)
    channels_last = cfg["channels_last"] and device.type == "cuda"
    rec = {"model": name, "setting": setting, "batch": batch, "device": str(device),
           "amp": {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(amp_dtype, "off"),
           "channels_last": channels_last, "compile": cfg["compile"], "steps": steps, "warmup": warmup}
    torch.manual_seed(0)
    model = get_model(name, **kwargs).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    num_classes = getattr(model, "num_classes", 12)
    xs = _inputs(model, shapes, batch, device, channels_last)
    y = torch.randint(0, num_classes, (batch,), device=device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, foreach=True)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    step_model = torch.compile(model) if cfg["compile"] else model
    loss_fn = nn.CrossEntropyLoss()
    rec["parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = loss_fn(step_model(*xs), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    model.train()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        t0 = time.perf_counter()
        for _ in range(warmup):
            step()
        _sync(device)
        rec["warmup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        seconds = time.perf_counter() - t0
    except torch.OutOfMemoryError as exc:
        rec.update(error=f"out of memory: {str(exc).splitlines()[0]}")
        return rec
    finally:
        del optimizer
    rec.update(seconds=seconds, examples_per_s=batch * steps / seconds)
    if device.type == "cuda":
        rec["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return rec


def time_logmel(*, device, n_clips, seconds, repeats) -> list[dict]:
    """Clips/s of the Choi log-mel: librosa (CPU) and torchaudio on ``device``."""
    import torchaudio  # only here: the training part does not need it

    kw = dict(sr=CHOI_SR, n_fft=512, hop_length=256, n_mels=96, scale="power_squared")
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((n_clips, int(seconds * CHOI_SR)))).astype(np.float32)
    shape = f"{n_clips} x {seconds:g} s at {CHOI_SR} Hz -> 96 mel bands, hop 256"
    out = []

    logmel_batch(clips[:1], backend="librosa", **kw)  # imports, filter bank
    t0 = time.perf_counter()
    ref = logmel_batch(clips, backend="librosa", **kw)
    s = time.perf_counter() - t0
    out.append({"what": "librosa, CPU (one clip at a time)", "input": shape, "seconds": s, "clips_per_s": n_clips / s})

    dev = str(device)
    logmel_batch(clips[:2], backend="torchaudio", device=dev, **kw)  # warm-up: filter bank, kernels
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        got = logmel_batch(clips, backend="torchaudio", device=dev, **kw)
    _sync(device)
    s = (time.perf_counter() - t0) / repeats
    out.append({"what": f"torchaudio on {device.type}, from and to NumPy", "input": shape, "seconds": s,
                "clips_per_s": n_clips / s, "max_abs_diff_db": float(np.abs(got - ref).max())})

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=CHOI_SR, n_fft=512, hop_length=256, n_mels=96,
                                               center=True, pad_mode="constant", norm="slaney",
                                               mel_scale="slaney").to(device)
    x = torch.from_numpy(clips).to(device)
    with torch.inference_mode():
        mel(x[:2])
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            db = 10.0 * torch.log10(mel(x).clamp_min(1e-10))
        _sync(device)
    s = (time.perf_counter() - t0) / repeats
    out.append({"what": f"MelSpectrogram + dB on {device.type}, tensor already there", "input": shape,
                "seconds": s, "clips_per_s": n_clips / s, "shape": list(db.shape)})
    base = out[0]["clips_per_s"]
    for r in out:
        r["speedup_vs_librosa"] = r["clips_per_s"] / base
    return out


def _tf32() -> dict:
    """Whether "fp32" matmuls / convolutions may use TF32 (torch's defaults, as in fit())."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"matmul": bool(torch.backends.cuda.matmul.allow_tf32), "cudnn": bool(torch.backends.cudnn.allow_tf32)}


def _table(training, logmel) -> str:
    lines = [f"{'model':<18}{'setting':<16}{'batch':>6}{'amp':>6}{'ex/s':>11}{'vs fp32':>9}{'peak GiB':>10}"]
    fp32 = {r["model"]: r.get("examples_per_s") for r in training if r["setting"] == "fp32"}
    for r in training:
        if "examples_per_s" not in r:
            lines.append(f"{r['model']:<18}{r['setting']:<16}{r['batch']:>6}  {r.get('error') or r.get('skipped')}")
            continue
        ratio = r["examples_per_s"] / fp32[r["model"]] if fp32.get(r["model"]) else float("nan")
        peak = r.get("peak_memory_gib")
        lines.append(f"{r['model']:<18}{r['setting']:<16}{r['batch']:>6}{r['amp']:>6}{r['examples_per_s']:>11.1f}"
                     f"{ratio:>8.2f}x{'' if peak is None else f'{peak:>10.2f}':>10}")
    if logmel:
        lines.append("")
        lines.append(f"{'log-mel':<58}{'clips/s':>10}{'speed-up':>10}")
        for r in logmel:
            lines.append(f"{r['what']:<58}{r['clips_per_s']:>10.1f}{r['speedup_vs_librosa']:>9.1f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="default: a CUDA device, required (cpu: anyway on the CPU)")
    parser.add_argument("--tiny", action="store_true", help="small shapes, batch 2, one step: a smoke test")
    parser.add_argument("--compile", action="store_true", help="also time AMP + channels_last + torch.compile")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps per setting (default 10; tiny 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per setting (default 3; tiny 1)")
    parser.add_argument("--batch-scale", type=float, default=1.0, help="multiply every model's batch")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip settings once this is spent")
    parser.add_argument("--no-logmel", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    try:
        device = get_device(args.device, require=args.device is None)
    except DeviceUnavailableError as exc:
        print(f"benchmarks/gpu.py: nothing measured, no usable CUDA device.\n{exc}\n"
              "(run with --device cpu --tiny for a smoke test on the CPU)")
        return 0
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as fit() on CUDA (unless deterministic)
    steps = args.steps or (1 if args.tiny else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    settings = ["fp32", "amp", "amp+cl"] + (["amp+cl+compile"] if args.compile else [])
    out_path = args.out or HERE / "results" / ("gpu_tiny.json" if args.tiny else "gpu.json")
    started = time.perf_counter()
    meta = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "device": describe_device(device), "git_commit": git_commit(), "torch": torch.__version__,
            "tiny": args.tiny, "steps": steps, "warmup": warmup, "settings": settings,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else None,
            "tf32": _tf32()}
    training = []
    for name in args.models:
        if args.tiny:
            kwargs, shapes = TINY[name]
            batch = 2
        else:
            kwargs, shapes, batch = MODELS[name]
            batch = max(2, int(round(batch * args.batch_scale)))
        for setting in settings:
            if time.perf_counter() - started > args.budget_s:
                training.append({"model": name, "setting": setting, "batch": batch,
                                 "skipped": f"time budget of {args.budget_s:g} s spent"})
                continue
            try:
                rec = time_training(name, kwargs, shapes, batch, setting, device=device, steps=steps, warmup=warmup)
            except Exception as exc:  # noqa: BLE001 - e.g. no compiler for torch.compile: record, go on
                rec = {"model": name, "setting": setting, "batch": batch,
                       "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            training.append(rec)
            print(f"  {name:<18}{setting:<16}" + (f"{rec['examples_per_s']:9.1f} ex/s" if "examples_per_s" in rec
                                                   else str(rec.get("error"))), flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    logmel = []
    if not args.no_logmel:
        n, secs, reps = (2, 2.0, 1) if args.tiny else (64, 29.12, 3)
        logmel = time_logmel(device=device, n_clips=n, seconds=secs, repeats=reps)
    meta["wall_s"] = time.perf_counter() - started
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"meta": meta, "training": training, "logmel": logmel}, indent=2, default=str))
    print(_table(training, logmel))
    print(f"wrote {out_path} ({meta['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
