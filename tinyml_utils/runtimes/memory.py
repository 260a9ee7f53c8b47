"""Cold start and peak memory of a runtime in a fresh Python process (Linux: reads ``/proc``)."""
from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .base import Runtime, import_modules

PEAK_MEMORY_MEANING = ("extra peak resident memory (VmHWM after load + one batch-1 inference minus VmRSS "
                       "just before load) in a fresh Python process that had already imported the "
                       "framework; the peak is reset through /proc/self/clear_refs")


def _proc_status_kb(key: str) -> int:
    m = re.search(rf"{key}:\s+(\d+)\s*kB", Path("/proc/self/status").read_text())
    return int(m.group(1)) if m else -1


def _memory_child(spec_json: str, x_path: str) -> None:
    # the fresh process of peak_memory; prints one JSON line
    t0 = time.perf_counter()
    spec = json.loads(spec_json)
    module, name = spec["cls"].split(":")
    rt = getattr(importlib.import_module(module), name)(path=spec["path"], **spec["kwargs"])
    import_s = import_modules(rt.imports)
    x1 = np.load(x_path)
    rt.check_file()   # hashing the file is not the runtime's memory
    import_total = time.perf_counter() - t0
    before = _proc_status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")   # reset the high-water mark to current RSS
    rt.load()
    rt.predict(x1)
    peak = _proc_status_kb("VmHWM")
    result = {"peak_extra_bytes": max(0, peak - before) * 1024, "rss_before_bytes": before * 1024,
              "import_s": import_s, "startup_s": import_total, "load_ms": rt.load_ms}
    print("PEAKMEM " + json.dumps(result), flush=True)
    if hasattr(rt, "close"):
        rt.close()


def peak_memory(rt: Runtime, x1: np.ndarray, timeout: float = 300.0) -> dict | None:
    """In a fresh Python process: framework import time (s), cold load time (ms) and extra peak
    resident memory (bytes, :data:`PEAK_MEMORY_MEANING`); ``None`` for a wrapper with no file."""
    spec = rt.spec()
    if spec is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        xp = Path(tmp) / "x1.npy"
        np.save(xp, np.ascontiguousarray(x1[:1], dtype=np.float32))
        code = ("import sys; from tinyml_utils.runtimes.memory import _memory_child; "
                "_memory_child(sys.argv[1], sys.argv[2])")
        env = dict(os.environ, OMP_NUM_THREADS=str(rt.threads or 1), TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=str(Path(__file__).resolve().parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec), str(xp)], capture_output=True,
                              text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("PEAKMEM "):
            return json.loads(line[len("PEAKMEM "):])
    raise RuntimeError(f"peak_memory({rt.name}) failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
