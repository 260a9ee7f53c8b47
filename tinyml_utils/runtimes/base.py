"""The Runtime interface: a model file plus the runtime that executes it.

Every wrapper takes the course's arrays, **NCHW float32 in [0, 1]**, and returns **float32
logits**; it handles its runtime's layout (NHWC for TensorFlow files), int8 (de)quantization of
input/output tensors and fixed batch-1 files by itself (:func:`to_layout`, :class:`Int8IO`).
Threads: each wrapper is built with a thread count (``threads=1`` for the course's comparisons)
and configures its runtime with it at load; :meth:`Runtime.latency` reloads if asked for another.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..measure import DEFAULT_THREADS, Latency, file_bytes, measure_latency


class Runtime:
    """Base class: a model file plus the runtime that executes it.

    Subclasses implement :meth:`_load` (build the session/interpreter from ``self.path``) and
    :meth:`_predict` (NCHW float32 batch → float32 logits). ``framework`` names the runtime
    (``"LiteRT"``), ``precision`` is ``"fp32"`` or ``"int8"``.
    """

    framework = "?"
    #: True when the runtime has no thread setting to change (TFLite Micro, MediaPipe Tasks)
    fixed_threads = False
    #: the modules this runtime needs imported (timed separately from :meth:`load`)
    imports: tuple[str, ...] = ()

    def __init__(self, path: str | Path | None = None, *, name: str | None = None, precision: str = "fp32",
                 threads: int | None = DEFAULT_THREADS):
        self.path = Path(path) if path is not None else None
        self.name = name or f"{self.framework} {precision}"
        self.precision = precision
        self.threads = threads
        self.load_ms: float | None = None
        self._loaded = False

    # -- the four things every runtime offers ------------------------------------------------
    def load(self) -> float:
        """Build the runtime's session from the artifact; returns (and keeps in ``load_ms``) the
        wall time in ms. Framework imports are done first and not counted (see :func:`peak_memory`
        for a fresh-process measurement that includes them)."""
        import_modules(self.imports)
        t0 = time.perf_counter()
        self._load()
        self.load_ms = (time.perf_counter() - t0) * 1e3
        self._loaded = True
        return self.load_ms

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 logits (N, classes) for an NCHW float32 batch ``x`` in [0, 1] (loads if needed)."""
        if not self._loaded:
            self.load()
        return np.asarray(self._predict(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)

    __call__ = predict

    @property
    def size_bytes(self) -> int | None:
        """Bytes of the artifact file on disk (``None`` when there is no file)."""
        return file_bytes(self.path) if self.path is not None else None

    def latency(self, x1: np.ndarray, warmup: int = 20, repeats: int = 200, threads: int | None = None,
                max_seconds: float | None = 20.0) -> Latency:
        """Batch-1 latency of :meth:`predict` (pre/post-processing included, as an app sees it) with
        :func:`tinyml_utils.measure_latency`. ``threads`` other than the wrapper's own
        reloads the runtime with that count."""
        if threads is not None and threads != self.threads and not self.fixed_threads:
            self.threads = threads
            self.load()
        elif not self._loaded:
            self.load()
        x1 = np.ascontiguousarray(x1[:1], dtype=np.float32)
        reported = self.threads if self.threads is not None else (threads or DEFAULT_THREADS)
        return measure_latency(lambda: self.predict(x1), warmup=warmup, repeats=repeats,
                                       threads=reported, max_seconds=max_seconds)

    # -- for subclasses ---------------------------------------------------------------------
    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict | None:
        """How to rebuild this wrapper in a fresh process (for :func:`peak_memory`), or ``None``."""
        if self.path is None:
            return None
        return {"cls": type(self).__name__, "path": str(self.path),
                "kwargs": {"name": self.name, "precision": self.precision, "threads": self.threads,
                           **self._spec_kwargs()}}

    def _spec_kwargs(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, path={self.path}, threads={self.threads})"


def import_modules(names) -> float:
    """Import modules by name; returns the seconds it took (near 0 when already imported)."""
    t0 = time.perf_counter()
    for n in names:
        importlib.import_module(n)
    return time.perf_counter() - t0


def batches(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def to_layout(x: np.ndarray, shape) -> np.ndarray:
    """Rearrange an NCHW batch for a model whose input tensor has ``shape`` (NCHW or NHWC)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or x.ndim != 4:
        return x
    if shape[1:] == x.shape[1:]:
        return x
    n, c, h, w = x.shape
    if shape[1:] == (h, w, c):
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    raise ValueError(f"input of shape {x.shape} (NCHW) does not fit the model's input tensor {shape}: "
                     "neither NCHW nor NHWC. Check that the model was converted for this data set.")


class Int8IO:
    """Quantize a float input / dequantize an int8 output with a tensor's own ``(scale, zero_point)``
    (float tensors pass through as their dtype). The same rule in LiteRT and TFLite Micro."""

    def __init__(self, dtype, scale: float | None, zero_point: int | None):
        self.dtype, self.scale, self.zero_point = np.dtype(dtype), scale, zero_point

    @property
    def is_int(self) -> bool:
        return self.dtype in (np.int8, np.uint8) and self.scale is not None

    def quantize(self, x: np.ndarray) -> np.ndarray:
        if self.is_int:
            info = np.iinfo(self.dtype)
            return np.clip(np.round(x / self.scale) + self.zero_point, info.min, info.max).astype(self.dtype)
        return x.astype(self.dtype)

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        if self.is_int:
            return (y.astype(np.float32) - self.zero_point) * self.scale
        return y.astype(np.float32)
