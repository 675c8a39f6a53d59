"""Does this machine compute what the others computed? A fingerprint of the floating-point path.

The book's numbers are the same on two machines only if every library takes the same kernels
there (:mod:`avlib.numerics`). This script runs a small workload that touches each of them
(NumPy's ufunc loops, OpenBLAS, librosa's MFCCs, scikit-learn's solver, an MKL product and a oneDNN
convolution in PyTorch, and a few training steps of an XFlow CNN x MLP and of the Han et al. audio
CNN) and hashes every result bit for bit::

    python benchmarks/fp_fingerprint.py            # compare with the recorded machines (exit 1 on a difference)
    python benchmarks/fp_fingerprint.py --record   # add this machine to benchmarks/results/fp_fingerprint.json

Machines are compared only with records of the same floating-point path (its name and its
variables) and library versions, on the parts both recorded.
Run it on a second machine (another CPU model, or one without AVX-512) to check that the portable
path holds there; ``AVLIB_FP_PATH=native`` shows what the libraries' own choices give.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import avlib  # noqa: E402,F401 - selects the floating-point path before NumPy and PyTorch load

RECORD = ROOT / "benchmarks" / "results" / "fp_fingerprint.json"


def digest(*arrays) -> str:
    """First 16 hex digits of the SHA-256 of the arrays' bytes (every bit counts)."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def workload() -> dict:
    """The hashes of each part of the workload (seeded; a few seconds on two cores)."""
    import librosa
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from avlib.models.han2016 import han2016
    from avlib.models.xflow import cnn_x_mlp

    out = {}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 400))
    out["numpy_exp_log10"] = digest(np.exp(x / 4), np.log10(np.abs(x) + 1e-3))
    out["openblas_matmul"] = digest(x @ x.T)
    t = np.arange(2 * 22050) / 22050
    y = (np.sin(2 * np.pi * 440 * t) * np.exp(-t) + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
    out["librosa_mfcc"] = digest(librosa.feature.mfcc(y=y, sr=22050, n_mfcc=26))
    feats, labels = rng.standard_normal((300, 20)), rng.integers(0, 3, 300)
    out["sklearn_logistic"] = digest(LogisticRegression(max_iter=200).fit(feats, labels).coef_)

    torch.manual_seed(0)
    torch.set_num_threads(2)
    # The two libraries under torch, one at a time, so that a difference names its library:
    # MKL's float32 product (and its gradient) and oneDNN's convolution (forward and backward).
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 300, generator=g, requires_grad=True), torch.randn(300, 200, generator=g)
    (a @ b).square().sum().backward()
    out["torch_mkl_matmul"] = digest(a.detach() @ b, a.grad)
    x = torch.randn(4, 8, 40, 30, generator=g, requires_grad=True)
    w = torch.randn(16, 8, 3, 3, generator=g, requires_grad=True)
    y = torch.nn.functional.conv2d(x, w, padding=1)
    y.square().sum().backward()
    out["torch_onednn_conv"] = digest(y, x.grad, w.grad)
    for name, model, batch in (
        ("torch_xflow_cnnxmlp", cnn_x_mlp("avletters", "xflow"),
         lambda g: (torch.randn(8, 11, 80, 60, generator=g), torch.randn(8, 26 * 11, generator=g))),
        ("torch_han2016", han2016(num_classes=12),
         lambda g: (torch.randn(4, 1, 128, 43, generator=g),)),
    ):
        g = torch.Generator().manual_seed(1)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for _ in range(3):
            inputs = batch(g)
            target = torch.randint(0, 10, (inputs[0].shape[0],), generator=g)
            loss = torch.nn.functional.cross_entropy(model(*inputs), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[name] = digest(*[p for p in model.parameters()])
    return out


def describe() -> dict:
    import numpy as np
    import torch

    from avlib.run.manifest import describe_numerics

    facts = describe_numerics()
    return {"cpu_model": facts.get("cpu_model"), "fp_path": facts.get("fp_path"), "fp_env": facts.get("fp_env") or {},
            "torch_cpu_capability": facts.get("torch_cpu_capability"), "numpy_dispatch": facts.get("numpy_dispatch"),
            "openblas_core": facts.get("openblas_core"), "versions": {"torch": torch.__version__, "numpy": np.__version__}}


def compare(mine: dict, records: list) -> tuple[list, list]:
    """``(same, different)``: the records of the same path (its name and its variables) and library
    versions whose hashes all match this machine's, and those with at least one differing part
    (named). Only the parts both recorded are compared."""
    same, different = [], []
    for r in records:
        if (r["fp_path"] != mine["fp_path"] or r.get("fp_env", {}) != mine.get("fp_env", {})
                or r["versions"] != mine["versions"]):
            continue
        parts = sorted(k for k in mine["hashes"] if k in r["hashes"] and r["hashes"][k] != mine["hashes"][k])
        (different if parts else same).append((r, parts))
    return same, different


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", action="store_true", help="add (or replace) this machine's record")
    args = ap.parse_args(argv)
    mine = {**describe(), "hashes": workload()}
    records = json.loads(RECORD.read_text()) if RECORD.is_file() else []
    print(f"this machine: {mine['cpu_model']}; path {mine['fp_path']} (torch {mine['torch_cpu_capability']}, "
          f"NumPy {mine['numpy_dispatch']}, OpenBLAS {mine['openblas_core']}, "
          f"MKL branch {mine['fp_env'].get('MKL_CBWR', 'its own')})")
    same, different = compare(mine, records)
    for r, _ in same:
        print(f"  same numbers as {r['cpu_model']} ({r['fp_path']}): all "
              f"{len(set(mine['hashes']) & set(r['hashes']))} parts both recorded")
    for r, parts in different:
        print(f"  DIFFERENT from {r['cpu_model']} ({r['fp_path']}) in: {', '.join(parts)}")
    if not same and not different:
        print("  no record of this path and these library versions to compare with")
    if args.record:
        def key(r):
            return r["cpu_model"], r["fp_path"], json.dumps([r.get("fp_env", {}), r["versions"]], sort_keys=True)

        records = [r for r in records if key(r) != key(mine)] + [mine]
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(records, indent=1) + "\n")
        print(f"recorded in {RECORD.relative_to(ROOT)} ({len(records)} machine(s))")
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
