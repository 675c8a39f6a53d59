"""Same seed => same numbers: the table comparison, and (marked ``determinism``, run by .ci/run
after the smoke book) a rerun of one ICMR and one XFlow notebook in clean folders."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avlib.determinism import compare_result_dirs, compare_tables, rerun_and_compare


def test_compare_tables_ignores_timing_but_not_results():
    a = pd.DataFrame({"model": ["x", "y"], "hit_at_1": [50.0, 61.25], "seconds": [3.1, 4.0],
                      "examples_per_s": [10.0, 12.0]})
    b = a.assign(seconds=[9.9, 1.0], examples_per_s=[1.0, 2.0])
    assert compare_tables(a, b) == []
    c = a.assign(hit_at_1=[50.0, 61.2500001])
    assert compare_tables(a, c) == []  # below the printed precision
    d = a.assign(hit_at_1=[50.0, 61.3])
    assert any("hit_at_1" in x for x in compare_tables(a, d))
    e = a.assign(model=["x", "z"])
    assert any("model" in x for x in compare_tables(a, e))
    assert compare_tables(a, a.iloc[:1])  # row count
    assert compare_tables(a.assign(f1=np.nan), a.assign(f1=np.nan)) == []


def test_compare_result_dirs_reports_missing_and_changed_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for d in (first, second):
        (d / "sub").mkdir(parents=True)
    pd.DataFrame({"acc": [1.0, 2.0]}).to_csv(first / "t.csv", index=False)
    pd.DataFrame({"acc": [1.0, 2.0]}).to_csv(second / "t.csv", index=False)
    assert compare_result_dirs(first, second) == {}
    pd.DataFrame({"acc": [1.0]}).to_csv(first / "sub" / "only.csv", index=False)
    pd.DataFrame({"acc": [1.0, 2.5]}).to_csv(second / "t.csv", index=False)
    out = compare_result_dirs(first, second)
    assert set(out) == {"t.csv", str(Path("sub") / "only.csv")}
    with pytest.raises(FileNotFoundError):
        compare_result_dirs(tmp_path / "empty", second)


#: One ICMR and one XFlow notebook; each trains models from the seed.
DETERMINISM_NOTEBOOKS = ["icmr_audio", "xflow_crossval"]


@pytest.mark.determinism
def test_same_seed_same_tables(tmp_path):
    """Reference: the smoke book's results (env AVLIB_DETERMINISM_REFERENCE) or a first clean run."""
    reference = os.environ.get("AVLIB_DETERMINISM_REFERENCE")
    if reference:
        assert all((Path(reference) / "smoke" / n).is_dir() for n in DETERMINISM_NOTEBOOKS), \
            f"run the smoke book first (no results for {DETERMINISM_NOTEBOOKS} under {reference})"
    diffs = rerun_and_compare(DETERMINISM_NOTEBOOKS, scale="smoke", reference=reference, workdir=tmp_path)
    assert diffs == {}, diffs
