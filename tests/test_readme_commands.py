"""Every command the README shows works: runner commands pass ``--plan``, make targets exist,
papermill commands name notebooks that exist."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``[(heading, block)]``: each fenced code block of ``text`` with the heading above it."""
    out, heading, block, fence = [], "", None, None
    for line in text.splitlines():
        stripped = line.strip()
        if block is None:
            if stripped.startswith("#") and not stripped.startswith("#!"):
                heading = stripped.lstrip("#").strip()
            match = re.match(r"^(`{3,}|~{3,})", stripped)
            if match:
                fence, block = match.group(1), []
        elif stripped.startswith(fence):
            out.append((heading, "\n".join(block)))
            block, fence = None, None
        else:
            block.append(line)
    return out


def command_lines(block: str) -> list[list[str]]:
    """Shell words of each command in a block (continuations joined, comments dropped)."""
    commands, pending = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(pending + line, comments=True)
        pending = ""
        if words:
            commands.append(words)
    return commands


def _all_commands():
    return [words for _, block in fenced_blocks(README.read_text()) for words in command_lines(block)]


def _runner_args(words):
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "avlib.run":
            return words[i + 2:]
    return None


RUNNER = [a for a in (_runner_args(w) for w in _all_commands()) if a is not None]
MAKE = [w[w.index("make") + 1:] for w in _all_commands() if "make" in w[:3]]
PAPERMILL = [w for w in _all_commands() if Path(w[0]).name == "papermill"]


def test_readme_has_commands_to_check():
    assert len(RUNNER) >= 3 and len(MAKE) >= 3 and PAPERMILL


def test_quick_start_is_two_commands():
    blocks = [b for h, b in fenced_blocks(README.read_text()) if h.lower().startswith("two commands")]
    assert len(blocks) == 1
    assert command_lines(blocks[0]) == [["make", "book"], ["make", "test"]]


@pytest.mark.parametrize("args", RUNNER, ids=[" ".join(a)[:60] for a in RUNNER])
def test_runner_command_passes_its_plan(args, tmp_path):
    args = list(args)
    if "--data-root" in args:  # the README's data path is the reader's; stand in an existing folder
        i = args.index("--data-root") + 1
        if not Path(args[i]).is_dir():
            args[i] = str(tmp_path)
    if "--list" not in args and "--plan" not in args:
        args.append("--plan")  # with --dry-run too: the plan of the dry run, not the run
    env = {**os.environ, "AVLIB_PROGRESS": "0"}
    out = subprocess.run([sys.executable, "-m", "avlib.run", *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"python -m avlib.run {shlex.join(args)}\n{out.stderr}"
    if "--list" not in args:
        assert "plan (nothing is executed)" in out.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("args", MAKE, ids=[" ".join(a)[:60] for a in MAKE])
def test_make_target_exists(args):
    out = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"make -n {shlex.join(args)}\n{out.stderr}"


def _papermill_parameter_names(words) -> list[str]:
    """Names set by ``-p NAME VALUE``, ``-r NAME VALUE`` and ``-y YAML`` (``-f`` files are the reader's)."""
    import yaml

    names, i = [], 0
    while i < len(words):
        w = words[i]
        if w in ("-p", "--parameters", "-r", "--parameters_raw"):
            names.append(words[i + 1])
            i += 3
            continue
        if w in ("-y", "--parameters_yaml"):
            names.extend(yaml.safe_load(words[i + 1]))
            i += 2
            continue
        i += 1
    return names


@pytest.mark.parametrize("words", PAPERMILL, ids=[" ".join(w)[:60] for w in PAPERMILL])
def test_papermill_command_names_a_notebook_and_its_parameters(words):
    from avlib.run import notebook_parameters

    notebook = next(w for w in words[1:] if w.endswith(".ipynb"))
    assert (REPO / notebook).is_file(), notebook
    known = set(notebook_parameters(REPO / notebook))
    unknown = [n for n in _papermill_parameter_names(words) if n not in known]
    assert not unknown, f"{notebook} has no parameter(s) {unknown}; its parameters: {sorted(known)}"
    # a `config` given with -y holds dotted keys of the configuration class the registry names
    import yaml

    from avlib.run import check_config, load_registry

    given = {}
    for i, w in enumerate(words[:-1]):
        if w in ("-y", "--parameters_yaml"):
            given.update(yaml.safe_load(words[i + 1]))
        if w in ("-p", "--parameters") and words[i + 1] == "scale":
            given["scale"] = words[i + 2]
    entry = next(e for e in load_registry().notebooks if e.path.resolve() == (REPO / notebook).resolve())
    check_config(entry, given.get("scale", "cpu"), given.get("config"))
