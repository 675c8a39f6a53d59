"""``benchmarks/gpu.py`` stays runnable: its CPU smoke mode measures every model and setting, and on a
machine without a usable GPU the default command exits 0 after saying why."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_mode_on_the_cpu_measures_every_model_and_setting(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    gpu = _module()
    rows = {(r["model"], r["setting"]): r for r in result["training"]}
    assert set(rows) == {(m, s) for m in gpu.MODELS for s in ("fp32", "amp", "amp+cl")}
    for r in rows.values():
        assert r["examples_per_s"] > 0 and r["amp"] == "off" and not r["channels_last"], r  # the CPU: fp32
    assert [r["what"].split(",")[0].split(" ")[0] for r in result["logmel"]] == ["librosa", "torchaudio",
                                                                                 "MelSpectrogram"]
    assert all(r["clips_per_s"] > 0 for r in result["logmel"])
    assert result["logmel"][1]["max_abs_diff_db"] < 0.01
    assert result["meta"]["device"]["type"] == "cpu" and result["meta"]["tiny"]
    assert "ex/s" in run.stdout and "han2016" in run.stdout


def test_without_a_gpu_the_default_command_says_why_and_exits_0(monkeypatch, capsys, tmp_path):
    gpu = _module()
    from avlib.utils import DeviceUnavailableError

    def no_gpu(prefer=None, *, require=False):
        assert require and prefer is None
        raise DeviceUnavailableError("a CUDA device is required but none is usable: no NVIDIA driver was found")

    monkeypatch.setattr(gpu, "get_device", no_gpu)
    assert gpu.main(["--out", str(tmp_path / "g.json")]) == 0
    said = capsys.readouterr().out
    assert "nothing measured" in said and "no NVIDIA driver" in said and "--device cpu --tiny" in said
    assert not (tmp_path / "g.json").exists()
