"""The reproducibility report: every table and figure of the three papers and its status."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from .paths import resolve

__all__ = ["load_artifacts", "status_table", "manifest_table", "count_mismatches"]


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
