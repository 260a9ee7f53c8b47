"""The package's shape, checked on every test run: import layers (import-linter), lint (ruff), no
repeated code inside ``tinyml_utils/`` (``duplicates``), and modules of a readable size."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "tinyml_utils"
MAX_MODULE_LINES = 400


def _tool(name: str) -> str:
    """The command from this environment (next to the running Python), else from PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"`{name}` is not installed")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_import_layers_hold():
    proc = _run([_tool("lint-imports"), "--no-cache"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_ruff_passes():
    proc = _run([_tool("ruff"), "check", "tinyml_utils", "tests", "--no-cache"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_no_duplicated_code_in_the_package():
    proc = _run([_tool("duplicates"), "--repo", ".", "--most", "200", "--seconds", "120"])
    rows = [ln for ln in proc.stdout.splitlines() if ln[:1] == "D" and "tinyml_utils/" in ln]
    inside = [ln for ln in rows if ln.split(" ~ ")[0].split()[-1].startswith("tinyml_utils/")
              and ln.split(" ~ ")[1].split()[0].startswith("tinyml_utils/")]
    assert not inside, "\n".join(inside)


def test_modules_stay_readable():
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    big = {k: v for k, v in sizes.items() if v > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split them by concern): {big}"


def test_no_references_outside_the_repository():
    for p in PACKAGE.rglob("*.py"):
        assert "STACK.md" not in p.read_text(), f"{p} refers to a file outside the repository"
