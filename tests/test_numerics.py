"""The portable floating-point path (avlib.numerics): which variables, where, and that they act."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from avlib import numerics
from avlib.numerics import FP_PATH_ENV, PORTABLE, add_to_kernel_spec, cpu_flags, portable_environment, select_fp_path

ROOT = Path(__file__).resolve().parents[1]
AVX2_CPU = {"sse4_2", "avx", "avx2", "fma", "avx512f"}


def test_cpu_flags_are_read_from_cpuinfo_text():
    text = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 fma\n\nprocessor\t: 1\n"
    assert cpu_flags(text) == {"fpu", "sse", "avx2", "fma"}
    assert cpu_flags("model name: no flags here") == set()


def test_the_portable_path_applies_only_to_x86_64_with_avx2_and_fma():
    assert portable_environment(machine="x86_64", flags=AVX2_CPU) == PORTABLE
    assert portable_environment(machine="AMD64", flags=AVX2_CPU) == PORTABLE
    assert portable_environment(machine="aarch64", flags=AVX2_CPU) == {}
    assert portable_environment(machine="x86_64", flags={"sse4_2", "avx"}) == {}  # would crash on AVX2 kernels
    assert portable_environment(machine="x86_64", flags={"avx2"}) == {}  # Haswell kernels need FMA too


def test_select_sets_every_library_keeps_the_users_choice_and_can_be_turned_off():
    env = {}
    added = select_fp_path(env, machine="x86_64", flags=AVX2_CPU)
    assert env == PORTABLE and added == PORTABLE
    assert {"ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "MKL_CBWR", "OPENBLAS_CORETYPE",
            "NPY_DISABLE_CPU_FEATURES"} <= set(env)

    env = {"OPENBLAS_CORETYPE": "Zen"}
    added = select_fp_path(env, machine="x86_64", flags=AVX2_CPU)
    assert env["OPENBLAS_CORETYPE"] == "Zen" and "OPENBLAS_CORETYPE" not in added

    env = {FP_PATH_ENV: "native"}
    assert select_fp_path(env, machine="x86_64", flags=AVX2_CPU) == {} and set(env) == {FP_PATH_ENV}

    with pytest.raises(ValueError, match="portable"):
        select_fp_path({FP_PATH_ENV: "fast"}, machine="x86_64", flags=AVX2_CPU)


def _child(extra_env: dict) -> dict:
    """What a fresh process that imports avlib first runs on."""
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE and k != FP_PATH_ENV}
    env.update(extra_env)
    code = ("import avlib, json, numpy, torch; from avlib.run.manifest import describe_numerics; "
            "print(json.dumps(describe_numerics()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not portable_environment(), reason="this machine cannot take the AVX2 path")
def test_importing_avlib_holds_every_library_to_avx2_and_the_manifest_says_so():
    portable = _child({})
    assert portable["fp_path"] == "portable (AVX2)"
    assert portable["torch_cpu_capability"] == "AVX2"
    assert portable["numpy_dispatch"] in ("X86_V3", "baseline")
    assert portable.get("openblas_core", "Haswell") == "Haswell"
    assert portable["fp_env"] == PORTABLE
    assert portable["fp_env"]["MKL_CBWR"] == "COMPATIBLE"  # MKL's AVX2 branch holds on Intel CPUs only

    native = _child({FP_PATH_ENV: "native"})
    assert native["fp_path"] == "native" and native["fp_env"] == {}
    if "avx512f" in cpu_flags():  # here the libraries' own choice is another path
        assert native["torch_cpu_capability"] != "AVX2" or native["numpy_dispatch"] != "X86_V3"


@pytest.mark.skipif(not portable_environment(), reason="this machine cannot take the AVX2 path")
def test_the_kernel_spec_carries_the_path_into_jupyterlab(tmp_path):
    spec = tmp_path / "kernel.json"
    spec.write_text(json.dumps({"argv": ["python"], "env": {"MKL_CBWR": "COMPATIBLE"}}))
    added = add_to_kernel_spec(spec)
    env = json.loads(spec.read_text())["env"]
    assert env["MKL_CBWR"] == "COMPATIBLE" and "MKL_CBWR" not in added  # the spec's own value stays
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["NPY_DISABLE_CPU_FEATURES"] == PORTABLE["NPY_DISABLE_CPU_FEATURES"]


def _fingerprint_script():
    spec = importlib.util.spec_from_file_location("fp_fingerprint", ROOT / "benchmarks" / "fp_fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fingerprint_compares_only_like_with_like_and_names_the_parts_that_differ():
    script = _fingerprint_script()
    versions = {"torch": "2.14.1", "numpy": "2.4.6"}
    mine = {"cpu_model": "A", "fp_path": "portable (AVX2)", "versions": versions,
            "hashes": {"numpy": "1", "torch": "2"}}
    same = {**mine, "cpu_model": "B"}
    other = {**mine, "cpu_model": "C", "hashes": {"numpy": "1", "torch": "3"}}
    native = {**mine, "cpu_model": "D", "fp_path": "native", "hashes": {"numpy": "9", "torch": "9"}}
    older = {**other, "cpu_model": "E", "versions": {"torch": "2.0", "numpy": "2.4.6"}}
    other_branch = {**other, "cpu_model": "F", "fp_env": {"MKL_CBWR": "AVX2"}}  # same name, other variables
    fewer_parts = {**mine, "cpu_model": "G", "hashes": {"numpy": "1"}}  # recorded before torch was hashed
    s, d = script.compare(mine, [same, other, native, older, other_branch, fewer_parts])
    assert [r["cpu_model"] for r, _ in s] == ["B", "G"]
    assert [(r["cpu_model"], parts) for r, parts in d] == [("C", ["torch"])]


def test_the_fingerprint_workload_is_the_same_twice_in_one_process():
    script = _fingerprint_script()
    a, b = script.workload(), script.workload()
    assert a == b and len(a) == 8 and all(len(h) == 16 for h in a.values())
    assert {"torch_mkl_matmul", "torch_onednn_conv"} <= set(a)  # a torch difference names its library
    assert numerics.in_effect()["fp_path"] in ("portable (AVX2)", "native")
