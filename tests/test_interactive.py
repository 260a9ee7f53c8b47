"""A learner's Run All is safe: quick mode by default, the course kernel named, nothing tracked rewritten.

Only an explicit full-mode command (``python -m tinyml_utils run`` without ``--quick``, ``reproduce``)
writes the committed ``results/``; an interactive full-mode run writes ``build/results-full/``.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tinyml_utils.core import paths
from tinyml_utils.core.context import Context
from tinyml_utils.report import results
from tinyml_utils.tools import cli

REPO = Path(__file__).resolve().parent.parent


def _parameters_cell(nb: dict) -> str:
    cells = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "one cell tagged 'parameters'"
    return "".join(cells[0]["source"])


@pytest.mark.parametrize("nb_path", cli.chapters(), ids=lambda p: p.stem)
def test_defaults_are_quick_and_name_the_course_kernel(nb_path):
    nb = json.loads(nb_path.read_text())
    scope: dict = {}
    exec(_parameters_cell(nb), scope)   # the learner's defaults, as Run All sees them
    assert scope["QUICK"] is True, f"{nb_path.name}: Run All must run quick mode"
    assert nb["metadata"]["kernelspec"]["name"] == "tinyml", f"{nb_path.name}: names the course kernel"


def test_interactive_full_run_writes_build_not_results(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path))
    monkeypatch.delenv("TINYML_RESULTS", raising=False)
    monkeypatch.delenv(paths.PUBLISH_RESULTS, raising=False)
    out = results.write("98_probe", Context(), [], [])
    assert out == tmp_path / "results-full" / "98_probe.json"
    assert results.load("98_probe", Context())["chapter"] == "98_probe"   # read back from where it went
    # the committed results stay readable from a run that has not written them
    assert results.load("02_baseline", Context())["chapter"] == "02_baseline"
    monkeypatch.setenv(paths.PUBLISH_RESULTS, "1")
    assert paths.results_dir(False) == paths.committed_results_dir()


def _porcelain() -> str:
    """Changed or new files where a run could write tracked data (results, data cards, the book)."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "results", "data", "book",
                           "tests/nbval"], cwd=REPO, capture_output=True, text=True, check=True).stdout


@pytest.mark.notebooks
def test_run_all_with_the_defaults_changes_no_tracked_file(tmp_path, monkeypatch):
    """Chapter 00 executed as a learner's Run All (no parameter injected): quick mode, git tree unchanged."""
    import papermill as pm

    from tinyml_utils.tools.kernel import KERNEL_NAME, kernelspec_dir

    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    monkeypatch.setenv("TINYML_BUILD", str(tmp_path))
    monkeypatch.delenv(paths.PUBLISH_RESULTS, raising=False)
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(kernelspec_dir()), os.environ.get("JUPYTER_PATH", "")]))
    nb = paths.NOTEBOOKS / "00_introduction.ipynb"
    before, source = _porcelain(), nb.read_bytes()
    pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), kernel_name=KERNEL_NAME, cwd=str(nb.parent),
                        progress_bar=False, log_output=False)
    assert _porcelain() == before, "an interactive run changed files in the git tree"
    assert nb.read_bytes() == source, "the chapter's source notebook was rewritten"
    assert (tmp_path / "results-quick" / "00_introduction.json").exists()
    assert json.loads((tmp_path / "results-quick" / "00_introduction.json").read_text())["quick"] is True
