"""Workshop kit: `make wheelhouse`, then `make install-offline` with the network cut (`unshare -n`).

Slow (downloads and installs the whole ~5 GB environment) and opt-in: `pytest --runslow
tests/test_wheelhouse.py`. Needs `unshare` with the right to create a network namespace (root).
Keep the wheelhouse between runs with TINYML_WHEELHOUSE=/some/folder.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("PYTHON", "python3.11")


def _offline_env() -> dict[str, str]:
    """No pip configuration at all: no index, no extra index, no find-links other than the wheelhouse."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
def test_wheelhouse_installs_with_the_network_blocked(tmp_path):
    if shutil.which(PYTHON) is None or shutil.which("make") is None:
        pytest.skip(f"needs {PYTHON} and make")
    if not _can_unshare():
        pytest.skip("unshare -n is not permitted here (needs root or user namespaces)")
    wheelhouse = Path(os.environ.get("TINYML_WHEELHOUSE", tmp_path / "wheelhouse"))
    venv = tmp_path / "venv"
    # 1. download (uses this machine's pip configuration, e.g. a local find-links holding the CPU torch)
    subprocess.run(["make", "--no-print-directory", "wheelhouse", f"PYTHON={PYTHON}", f"WHEELHOUSE={wheelhouse}"],
                   cwd=REPO, check=True)
    wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
    assert any(w.startswith("torch-2.13.0") for w in wheels), "torch is not in the wheelhouse"
    # 2. install with the network namespace cut off and pip's configuration ignored
    proc = subprocess.run(["unshare", "-n", "make", "--no-print-directory", "install-offline", f"PYTHON={PYTHON}",
                           f"VENV={venv}", f"WHEELHOUSE={wheelhouse}"], cwd=REPO, env=_offline_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # 3. the offline environment is the pinned one and imports the course's stack, still offline
    check = ("from tinyml_utils.tools import doctor; bad = doctor.check_pins() + doctor.check_pip(); "
             "print('\\n'.join(bad)); import torch, executorch, tensorflow, ai_edge_litert, jupyterlab; "
             "raise SystemExit(1 if bad else 0)")
    proc = subprocess.run(["unshare", "-n", str(venv / "bin" / "python"), "-c", check], cwd=tmp_path,
                          env=_offline_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
