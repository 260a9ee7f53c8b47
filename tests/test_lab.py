"""`make lab` starts JupyterLab on the chapters: headless on 127.0.0.1, a free port and a token.

The kernelspec goes to a temporary prefix (KERNEL_PREFIX) so the test leaves the environment as
it found it; `make lab` itself installs it with --sys-prefix.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str, timeout: float = 5.0):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


@pytest.fixture
def lab(tmp_path):
    pytest.importorskip("jupyterlab")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ,
           "JUPYTER_PATH": str(tmp_path / "share" / "jupyter"),   # where the temp kernelspec lands
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces")}
    # -o setup: the environment running this test is the course environment; do not reinstall it.
    cmd = ["make", "--no-print-directory", "-o", "setup", "lab", f"PY={sys.executable}", "LAB_HEADLESS=1",
           f"LAB_PORT={port}", f"LAB_TOKEN={token}", f"KERNEL_PREFIX=--prefix {tmp_path}"]
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _ = _get(f"{base}/api/status", token, timeout=2)
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"JupyterLab did not answer on {base} (exit {proc.poll()}):\n"
                            + (tmp_path / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, token, tmp_path
    finally:
        try:
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=20)
        except Exception:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)   # the process group this fixture started
                proc.wait(timeout=20)
        log.close()


def test_make_lab_serves_the_chapters(lab):
    base, token, prefix = lab
    status, body = _get(f"{base}/api/contents/notebooks", token)
    assert status == 200
    listed = {item["name"] for item in json.loads(body)["content"]}
    chapters = {p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert chapters and chapters <= listed, f"missing from the lab's notebook list: {sorted(chapters - listed)}"
    # the course kernel was registered and the lab sees it
    status, body = _get(f"{base}/api/kernelspecs", token)
    specs = json.loads(body)["kernelspecs"]
    assert "tinyml" in specs, f"kernelspecs: {sorted(specs)}"
    assert (prefix / "share" / "jupyter" / "kernels" / "tinyml" / "kernel.json").is_file()
    # the lab page itself, and no access without the token
    status, page = _get(f"{base}/lab/tree/notebooks", token)
    assert status == 200 and b"JupyterLab" in page
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/api/contents/notebooks", timeout=5)
    assert err.value.code in (401, 403)
