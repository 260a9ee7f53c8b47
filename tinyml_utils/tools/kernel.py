"""Keep native libraries' log lines out of the chapters' cell outputs.

:func:`install` (run at start-up by the kernel :func:`kernelspec_dir` writes) wraps ``sys.stderr``:
lines matching :data:`NOISE` go to the kernel process's own stderr (``run`` logs it to a file).
Trap: ExecuTorch's pybindings write a log line a few characters at a time, so lines are buffered.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..core import paths
from ..core.io import atomic_write_text

KERNEL_NAME = "tinyml-course"

#: Lines that are native-library logging, never a chapter's message.
NOISE = re.compile("|".join([
    r"^\s*\[[\w.]+\.(?:cpp|cc|c|h):\d+\]",                 # ExecuTorch / XNNPACK / cpuinfo logs
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ ",            # glog / absl prefixed lines
    r"^WARNING: All log messages before absl::InitializeLog",
    r"^INFO: Created TensorFlow Lite XNNPACK delegate",
    r"Failed to load .*torchao",
    r"oneDNN custom operations are on",
    r"LeafSpec",
]))


class _FilteredStream:
    """A text stream that forwards complete lines, diverting :data:`NOISE` lines to ``sink``."""

    def __init__(self, inner, sink):
        self._inner, self._sink, self._buf = inner, sink, ""
        self._in_warning = False   # the indented source line that follows a diverted warning

    def write(self, s: str) -> int:
        self._buf += s
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            noise = NOISE.search(line) or (self._in_warning and line.startswith((" ", "\t")))
            self._in_warning = bool(noise) and "Warning:" in line
            if noise:
                self._sink.write(line + "\n")
                self._sink.flush()
            else:
                self._inner.write(line + "\n")
        return len(s)

    def flush(self) -> None:
        # a partial line stays buffered until its newline arrives, unless it cannot be noise
        if self._buf and not NOISE.search(self._buf) and not self._buf.lstrip().startswith("["):
            self._inner.write(self._buf)
            self._buf = ""
        self._inner.flush()

    def __getattr__(self, name):
        return getattr(self._inner, name)


def install() -> None:
    """Wrap ``sys.stderr`` once (idempotent)."""
    if isinstance(sys.stderr, _FilteredStream):
        return
    sink = os.fdopen(os.dup(2), "w", buffering=1, errors="replace")
    sys.stderr = _FilteredStream(sys.stderr, sink)


def kernelspec_dir() -> Path:
    """A kernelspec (under ``build/jupyter``) that always imports *this* checkout's package.

    ``PYTHONPATH`` = the repository (an editable install of another checkout cannot win);
    ``capture_fd_output=False`` sends C-level output to the kernel's own streams, not to cells."""
    import json

    root = paths.build_dir() / "jupyter"
    spec = root / "kernels" / KERNEL_NAME / "kernel.json"
    doc = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                    "--IPKernelApp.capture_fd_output=False",
                    "--IPKernelApp.exec_lines=import tinyml_utils.tools.kernel as _kio; _kio.install()"],
           "display_name": "TinyML course (this checkout)", "language": "python",
           "env": {"PYTHONPATH": str(paths.REPO)}}
    text = json.dumps(doc, indent=1)
    if not spec.exists() or spec.read_text() != text:
        atomic_write_text(spec, text)
    return root
