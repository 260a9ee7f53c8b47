"""nbval: quick-mode reference executions of chapters 00 and 01 (tests/nbval/) re-run and compared.

Only cells whose outputs were identical over two runs (after tests/nbval/sanitize.cfg: paths,
durations, addresses) are compared: shapes, counts, parameter and MAC tables, checksums, printed
versions; the rest carry ``nbval-ignore-output`` and must only run. Slow and opt-in
(`--runslow`): regenerate the references with `scripts/nbval_refs.py` after changing a chapter
or the package.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NBVAL = Path(__file__).resolve().parent / "nbval"


@pytest.mark.slow
def test_reference_executions_reproduce(tmp_path):
    pytest.importorskip("nbval")
    refs = sorted(NBVAL.glob("*.ipynb"))
    assert refs, "no reference executions in tests/nbval/"
    env = {**os.environ, "TINYML_BUILD": str(tmp_path / "build"), "TINYML_DATA_CACHE": str(tmp_path / "cache"),
           "TINYML_QUIET": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(NBVAL / "sanitize.cfg"), "--nbval-cell-timeout", "600",
         *map(str, refs)],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:]
