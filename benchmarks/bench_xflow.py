"""Training throughput of the XFlow models (examples per second).

Usage::

    .venv/bin/python benchmarks/bench_xflow.py --out benchmarks/results/xflow.json

For each model family (CNN x MLP, {CNN x MLP}-LSTM), variant (baseline, XFlow, and with
``--all-variants`` the ablations) and input geometry (AVletters 80x60, Digits/CUAVE 90x120;
``--downsample 4`` = the cpu preset's pooled frames) it times full training steps
(forward, backward, Adam) on random inputs of the real shapes, after warm-up steps. LSTM inputs
have half of the time steps padded (the masked frames are skipped by the model). On CUDA it
also times automatic mixed precision (bf16/fp16 autocast + GradScaler) and reports the AMP /
fp32 throughput ratio. The JSON holds one record per configuration plus the machine facts.

Convergence (how many epochs the cpu configuration needs)::

    .venv/bin/python benchmarks/bench_xflow.py --convergence --data-root data \
        --out benchmarks/results/xflow_convergence.csv [--only avletters/cnnxmlp/xflow ...]

trains every model (baseline, XFlow, the ablations, the DTN) once per cpu stand-in on the first
speaker fold with the settings of ``XFlowConfig.for_scale("cpu")`` (pooled frames, LSTM time
stride, training clips, batch size and rate per family; the DTN's own section) for
``--max-epochs`` epochs and appends the per-epoch curves to the CSV (rows of a model already
in the file are replaced). :func:`avlib.experiments.xflow.analysis.convergence_table` reads the
flattening epoch off it. Run it with ``nice`` on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from avlib.models.xflow import build_xflow_model, count_trainable_parameters
from avlib.train.throughput import time_steps


def _inputs(model, batch, device):
    h, w = model.image_hw
    if model.family == "cnnxmlp":
        return (torch.randn(batch, model.n_frames, h, w, device=device),
                torch.randn(batch, model.n_mfcc * model.n_frames, device=device))
    t = model.n_frames
    mask = torch.zeros(batch, t, dtype=torch.bool, device=device)
    mask[:, : max(1, t // 2)] = True
    x_img = torch.randn(batch, t, 1, h, w, device=device) * mask[..., None, None, None]
    x_mfcc = torch.randn(batch, t, model.n_mfcc, device=device) * mask[..., None]
    return x_img, x_mfcc, mask


def time_training(model, batch, *, steps, warmup, device, amp=False):
    """Examples per second of full training steps (Adam 1e-3; :func:`avlib.train.throughput.time_steps`)."""
    args = _inputs(model, batch, device)
    y = torch.randint(0, model.num_classes, (batch,), device=device)
    r = time_steps(model, args, y, steps=steps, warmup=warmup, device=device, amp=amp,
                   optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))
    return r["examples_per_s"]


def convergence(args):
    """Measure the validation curves of every model at the cpu settings (see module doc)."""
    import time

    import pandas as pd

    from avlib.config.xflow import XFlowConfig
    from avlib.experiments.xflow.crossval import convergence_curve
    from avlib.experiments.xflow.inputs import load_xflow_dataset

    cfg = XFlowConfig.for_scale("cpu")
    data, dtn = cfg.data, cfg.dtn
    out = Path(args.out)
    old = pd.read_csv(out) if out.exists() else None
    frames = []
    models = (("cnnxmlp", ("baseline", "xflow", "no_xconns", "no_resconns")),
              ("lstm", ("baseline", "xflow", "no_xconns", "no_resconns")),
              ("dtn", ("dtn",)))
    for dataset in cfg.crossval.datasets:
        tags = [f"{dataset}/{f}/{v}" for f, vs in models for v in vs]
        if args.only and not set(tags) & set(args.only):
            continue
        ds, _ = load_xflow_dataset(dataset, data_root=args.data_root, scale="cpu")
        for family, variants in models:
            for variant in variants:
                tag = f"{dataset}/{family}/{variant}"
                if args.only and tag not in args.only:
                    continue
                fam = "cnnxmlp" if family == "dtn" else family
                settings = dtn if family == "dtn" else cfg.training.family(fam)
                t0 = time.process_time()
                df = convergence_curve(ds, fam, variant, epochs=args.max_epochs,
                                       batch_size=int(settings.batch_size), lr=float(settings.lr),
                                       downsample=(dtn.downsample if family == "dtn" else data.downsample).of(dataset),
                                       time_stride=data.time_stride, max_train=data.max_train.of(dataset),
                                       val_fraction=cfg.training.val_fraction)
                df["cpu_seconds_total"] = time.process_time() - t0
                df["load_average"] = os.getloadavg()[0]
                print(tag, f"{df.cpu_seconds_total.iloc[0]:.0f} CPU s", flush=True)
                frames.append(df)
    if not frames:
        print("nothing to run (no model matches --only)")
        return None
    new = pd.concat(frames, ignore_index=True)
    if old is not None:
        keys = ["dataset", "family", "variant"]
        done = set(map(tuple, new[keys].drop_duplicates().to_numpy()))
        old = old[[tuple(r) not in done for r in old[keys].to_numpy()]]
        new = pd.concat([old, new], ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    drop = [c for c in ("seconds", "examples_per_s") if c in new]
    new.drop(columns=drop).to_csv(out, index=False)
    print(f"wrote {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--convergence", action="store_true",
                    help="measure validation curves at the cpu settings (writes a CSV)")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--only", nargs="*", default=None, help="dataset/family/variant tags")
    ap.add_argument("--out", default="benchmarks/results/xflow.json")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--downsample", type=int, default=1, help="pool the frames by this factor")
    ap.add_argument("--all-variants", action="store_true")
    ap.add_argument("--quick", action="store_true", help="AVletters geometry only, small batches")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.convergence:
        return convergence(args)
    torch.manual_seed(0)
    records = []
    variants = ("baseline", "xflow", "no_xconns", "no_resconns") if args.all_variants else ("baseline", "xflow")
    datasets = ("avletters",) if args.quick else ("avletters", "digits")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for family, batch in (("cnnxmlp", 128), ("lstm", 32)):
        if args.quick:
            batch = 16
        for dataset in datasets:
            for variant in variants:
                probe = build_xflow_model(family, dataset, variant)
                h, w = probe.image_hw
                hw = (h // args.downsample, w // args.downsample)
                for device in devices:
                    model = build_xflow_model(family, dataset, variant, image_hw=hw)
                    rec = dict(family=family, dataset=dataset, variant=variant, image_hw=list(hw),
                               n_frames=model.n_frames, batch=batch, device=device.type,
                               params=count_trainable_parameters(model))
                    rec["fp32_examples_per_s"] = time_training(model, batch, steps=args.steps,
                                                               warmup=args.warmup, device=device)
                    if device.type == "cuda":
                        model = build_xflow_model(family, dataset, variant, image_hw=hw)
                        rec["amp_examples_per_s"] = time_training(model, batch, steps=args.steps,
                                                                  warmup=args.warmup, device=device,
                                                                  amp=True)
                        rec["amp_over_fp32"] = rec["amp_examples_per_s"] / rec["fp32_examples_per_s"]
                    records.append(rec)
                    print(json.dumps(rec), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = dict(benchmark="xflow_training_throughput", torch=torch.__version__,
                  machine=platform.machine(), cpu_count=os.cpu_count(), threads=args.threads,
                  load_average_1min=load, downsample=args.downsample, steps=args.steps,
                  cuda=torch.cuda.is_available(), records=records,
                  note="CPU numbers depend on other load on the machine (load_average_1min).")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
