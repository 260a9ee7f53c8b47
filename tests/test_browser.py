"""The built book renders in a real (headless) browser, offline: figures load, MathJax typesets.

Serves the ``built_book`` fixture (``tests/conftest_book.py``) with ``python -m http.server`` on
127.0.0.1 and drives Debian's ``chromium`` with ``--dump-dom`` and ``--screenshot``. A missing
Chromium is installed when running as root (``scripts/install_chromium.sh``); the test skips only
when it is missing and cannot be installed (not root).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "scripts" / "install_chromium.sh"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
    # no name resolves: the page can reach only 127.0.0.1, so rendering proves it is offline
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
# Virtual time lets MathJax's deferred scripts and font loads finish before the DOM is dumped.
VIRTUAL_TIME_MS = 15000


def _find_chromium() -> str | None:
    for exe in ("chromium", "chromium-browser"):
        found = shutil.which(exe)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = _find_chromium()
    if exe:
        return exe
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and this is not root, so it cannot be installed; "
                    "run `sudo scripts/install_chromium.sh` (apt-get install -y chromium)")
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"installing chromium failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}"
    )
    print(f"\n[browser] installed chromium in {time.perf_counter() - t0:.0f} s")
    exe = _find_chromium()
    assert exe, "scripts/install_chromium.sh succeeded but chromium is not on PATH"
    return exe


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(built_book, tmp_path_factory):
    """``python -m http.server`` over the html folder; yields (base_url, access log path)."""
    log = tmp_path_factory.mktemp("http") / "access.log"
    port = _free_port()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
             "--directory", str(built_book.html)],
            stdout=fh, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "index.html", timeout=2) as r:
                    assert r.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"http.server did not start; log:\n{log.read_text()}")
                time.sleep(0.2)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _chromium(exe: str, profile: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [exe, *CHROME_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.mjx = 0
        self.merror = 0
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            src = dict(attrs).get("src")
            if src:
                self.imgs.append(src)
        elif tag == "mjx-container":
            self.mjx += 1
        elif tag == "mjx-merror":
            self.merror += 1
        elif tag == "h1":
            self._in_h1 = True
            self.h1.append("")

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1:
            self.h1[-1] += data


@pytest.fixture(scope="module")
def rendered(chromium, server, built_book, tmp_path_factory):
    """The chapter page rendered by Chromium: (dumped DOM, screenshot path, page URL, seconds)."""
    base, _log = server
    url = urljoin(base, built_book.chapter_rel)
    work = tmp_path_factory.mktemp("chromium")
    t0 = time.perf_counter()
    dump = _chromium(chromium, work / "profile-dom", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                     "--dump-dom", url)
    assert dump.returncode == 0 and "<html" in dump.stdout, (
        f"chromium --dump-dom failed (exit {dump.returncode}):\n{dump.stderr[-3000:]}"
    )
    shot = work / "chapter.png"
    snap = _chromium(chromium, work / "profile-shot", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                     "--window-size=1280,1600", f"--screenshot={shot}", url)
    assert snap.returncode == 0 and shot.is_file(), (
        f"chromium --screenshot failed (exit {snap.returncode}):\n{snap.stderr[-3000:]}"
    )
    seconds = time.perf_counter() - t0
    print(f"\n[browser] chromium dump-dom + screenshot took {seconds:.1f} s")
    return dump.stdout, shot, url, seconds


def test_title_in_rendered_dom(rendered, built_book):
    dom, _shot, _url, _s = rendered
    p = _Dom()
    p.feed(dom)
    assert any(built_book.title in h.strip() for h in p.h1), f"h1s in the DOM: {p.h1}"
    assert built_book.printed in dom


def test_images_load(rendered, built_book):
    dom, _shot, url, _s = rendered
    p = _Dom()
    p.feed(dom)
    figures = [s for s in p.imgs if "_images/" in s]
    assert figures, f"no <img> from _images/ in the rendered page; srcs: {p.imgs}"
    for src in figures:
        full = urljoin(url, src)
        local = built_book.html / urlparse(full).path.lstrip("/")
        assert local.is_file(), f"<img src={src!r}> has no file at {local}"
        with urllib.request.urlopen(full, timeout=10) as r:
            body = r.read()
            assert r.status == 200, f"GET {full} -> {r.status}"
        assert body.startswith(PNG_MAGIC), f"{full} is not a PNG (starts {body[:8]!r})"
    served = [urllib.request.urlopen(urljoin(url, s), timeout=10).read() for s in figures]
    assert built_book.png in served, "the chapter's own PNG is not among the served images"


def test_mathjax_rendered_offline(rendered, server):
    dom, _shot, _url, _s = rendered
    p = _Dom()
    p.feed(dom)
    assert p.mjx >= 2, (
        f"MathJax did not typeset the page ({p.mjx} <mjx-container>); is _static/mathjax served?"
    )
    assert p.merror == 0, f"MathJax reported {p.merror} TeX error(s) on the page"
    _base, log = server
    missing = [ln for ln in log.read_text().splitlines() if '" 404 ' in ln and "/_static/" in ln]
    assert not missing, "the page requested static files that are not in the book:\n" + "\n".join(missing)


def test_screenshot_is_a_real_render(rendered):
    _dom, shot, _url, _s = rendered
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC)
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 1600), im.size
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
    # a blank (failed) render has one or two colours; a page with text and a plot has many
    assert colors is None or len(colors) > 50, f"screenshot looks blank ({len(colors)} colours)"
