"""The reproducibility report: every table and figure of the three papers and its status."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from .paths import resolve

__all__ = ["load_artifacts", "status_table", "manifest_table", "count_mismatches", "header_table",
           "performance_table", "plot_performance"]


def load_artifacts() -> list[dict]:
    """The list of the papers' tables and figures (``avlib/artifacts.yaml``)."""
    with (resources.files("avlib") / "artifacts.yaml").open() as fh:
        return yaml.safe_load(fh)


def count_mismatches(frame: pd.DataFrame, pairs) -> tuple[int, int]:
    """(values compared, values that differ) between paper and our columns of a result table.

    Each pair is ``[paper column, our column]`` or ``[paper, ours, decimals]``; our value rounded to
    ``decimals`` (default: 0 for a whole-number paper value, else 2) must equal the paper's value.
    Rows where either side is missing are not compared.
    """
    compared = differing = 0
    for pair in pairs:
        paper_col, ours_col = pair[0], pair[1]
        both = frame[[paper_col, ours_col]].dropna()
        for paper_value, ours_value in both.itertuples(index=False):
            paper_value, ours_value = float(paper_value), float(ours_value)
            decimals = pair[2] if len(pair) > 2 else (0 if paper_value.is_integer() else 2)
            compared += 1
            differing += round(ours_value, decimals) != round(paper_value, decimals)
    return compared, differing


def _status(artifact: dict, run: dict | None, results_root: Path) -> tuple[str, str]:
    if run is None:
        return "not yet", "its notebook has not been run"
    if run.get("status") != "ok":
        return "not yet", f"its notebook failed at scale {run.get('scale')}"
    scale = run.get("scale")
    result = artifact.get("result")
    if result:
        csv = results_root / scale / f"{result}.csv"
        if not csv.exists():
            return "not yet", f"the notebook ran but wrote no {csv.name}"
        if artifact["kind"] == "exact" and artifact.get("compare"):
            compared, differing = count_mismatches(pd.read_csv(csv), artifact["compare"])
            if differing == 0:
                return "exact", f"all {compared} compared values equal the paper"
            return "exact except explained cells", (f"{differing} of {compared} values differ from the paper; "
                                                    "see its page")
    if artifact["kind"] == "exact":
        return "exact", "computed from the real metadata or architecture"
    return f"reproduced on embedded data ({scale})", "synthetic stand-in; compare with care"


def status_table(manifest_path, results_root) -> pd.DataFrame:
    """One row per table/figure: paper, item, title, status, notebook, scale, detail."""
    manifest_path, results_root = resolve(manifest_path), resolve(results_root)
    runs = json.loads(manifest_path.read_text()).get("runs", {}) if manifest_path.exists() else {}
    rows = []
    for art in load_artifacts():
        run = runs.get(art["notebook"])
        status, detail = _status(art, run, results_root)
        rows.append({"paper": art["paper"], "item": art["item"], "title": art["title"], "status": status,
                     "notebook": art["notebook"], "scale": run.get("scale") if run else None, "detail": detail})
    return pd.DataFrame(rows)


def manifest_table(manifest_path) -> tuple[pd.DataFrame, dict]:
    """The run manifest as a table (one row per notebook) plus its header fields."""
    manifest_path = resolve(manifest_path)
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"runs": {}}
    rows = []
    for run in manifest.get("runs", {}).values():
        rows.append({"notebook": run["name"], "part": run.get("part"), "scale": run.get("scale"),
                     "status": run.get("status"), "seconds": run.get("seconds"),
                     "peak memory (MB)": run.get("peak_memory_mb"), "started": run.get("started"),
                     "device": run.get("device"), "git commit": (run.get("git_commit") or "")[:10],
                     "parameters": json.dumps(run.get("parameters", {}), sort_keys=True)})
    header = {k: v for k, v in manifest.items() if k != "runs"}
    return pd.DataFrame(rows), header


def _flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix} {k}".strip(), v, out)
    else:
        out[prefix] = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def header_table(header: dict) -> pd.DataFrame:
    """The manifest's header (commit, device, numerics, Python, last run) as a two-column table of
    words, nested fields flattened ("numerics blas" ...), no Python reprs."""
    flat: dict = {}
    for k, v in header.items():
        _flat(k.replace("_", " "), v, flat)
    return pd.DataFrame({"field": list(flat), "value": list(flat.values())})


def performance_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time (minutes) and peak kernel memory (GB) per notebook, in run order, with the total."""
    if runs.empty:
        return pd.DataFrame(columns=["notebook", "minutes", "peak memory (GB)", "share of the time (%)"])
    t = runs[["notebook", "seconds", "peak memory (MB)"]].copy()
    total = float(t["seconds"].sum())
    out = pd.DataFrame({"notebook": t["notebook"], "minutes": (t["seconds"] / 60).round(1),
                        "peak memory (GB)": (t["peak memory (MB)"] / 1024).round(2),
                        "share of the time (%)": (100 * t["seconds"] / total).round(1) if total else 0.0})
    tot = pd.DataFrame([{"notebook": "all notebooks", "minutes": round(total / 60, 1),
                         "peak memory (GB)": round(float(out["peak memory (GB)"].max()), 2),
                         "share of the time (%)": 100.0}])
    return pd.concat([out, tot], ignore_index=True)


def plot_performance(runs: pd.DataFrame):
    """Two horizontal bar charts side by side: minutes and peak memory (GB) per notebook."""
    import matplotlib.pyplot as plt

    t = runs.iloc[::-1]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 0.32 * max(len(t), 3) + 1.2), sharey=True)
    a.barh(t["notebook"], t["seconds"] / 60, color="#0072B2")
    a.set_xlabel("wall time (minutes)")
    b.barh(t["notebook"], t["peak memory (MB)"] / 1024, color="#E69F00")
    b.set_xlabel("peak memory of the kernel (GB)")
    for ax in (a, b):
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
