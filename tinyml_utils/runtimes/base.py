"""The Runtime interface: a model file plus the runtime that executes it. Every wrapper takes
**NCHW float32 in [0, 1]** and returns **float32 logits**; every load failure is one ``ArtifactError``.
Trap: ExecuTorch aborts the process on some damaged files, so the checks run *before* its loader."""
from __future__ import annotations

import importlib
import struct
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.io import ArtifactError, verify
from ..measure import DEFAULT_THREADS, Latency, file_bytes, measure_latency

#: what to do about a model file that fails its checks
FIX = "rebuild it: delete it and rerun the chapter (or the converter) that wrote it"


def _pte(head: bytes, size: int) -> str:
    # identifier ``ET..`` at byte 4; an extended header ``eh00`` at byte 8 gives the sizes
    if size < 16 or head[4:6] != b"ET":
        return f"is not an ExecuTorch program (no 'ET' identifier at byte 4; it starts {head[:8]!r})"
    if head[8:12] == b"eh00":
        hlen = struct.unpack_from("<I", head, 12)[0]
        program_size, seg_base = struct.unpack_from("<QQ", head, 16) if hlen >= 24 else (0, 0)
        seg_size = struct.unpack_from("<Q", head, 32)[0] if hlen >= 32 else 0
        need = max(program_size, seg_base + seg_size if seg_size else 0)
        if need > size:
            return f"is truncated: its header promises {need:,} bytes, the file has {size:,}"
    return ""


def _tflite(head: bytes, size: int) -> str:
    if size < 8 or head[4:8] != b"TFL3":
        return f"is not a TFLite flatbuffer (no 'TFL3' identifier at byte 4; it starts {head[:8]!r})"
    if struct.unpack_from("<I", head, 0)[0] + 4 > size:
        return "is truncated: its root table lies past the end of the file"
    return ""


_HEAD_CHECKS = {".pte": _pte, ".tflite": _tflite}


def _check_head(name, head: bytes, size: int, suffix: str) -> None:
    check = _HEAD_CHECKS.get(suffix)
    problem = "is empty (0 bytes)" if size == 0 else (check(head, size) if check else "")
    if problem:
        raise ArtifactError(name, problem, FIX)


def check_model_bytes(data: bytes, suffix: str, name: str = "<bytes>") -> None:
    """:func:`check_model_file` for a ``.pte`` or ``.tflite`` held in memory."""
    _check_head(name, bytes(data[:64]), len(data), suffix)


def check_model_file(path: str | Path) -> Path:
    """Raise :class:`ArtifactError` unless the file is non-empty, matches its ``.sha256`` sidecar (if
    any) and, for ``.pte`` / ``.tflite``, has the identifier and the header sizes it promises."""
    path = Path(path)
    verify(path, FIX)
    with open(path, "rb") as f:
        _check_head(path, f.read(64), path.stat().st_size, path.suffix.lower())
    return path


class Runtime:
    """A model file plus its runtime. Subclasses implement ``_load`` (the session from ``self.path``)
    and ``_predict`` (NCHW float32 batch → float32 logits)."""

    framework = "?"
    #: True when the runtime has no thread setting to change (TFLite Micro, MediaPipe Tasks)
    fixed_threads = False
    #: the modules this runtime needs imported (timed separately from :meth:`load`)
    imports: tuple[str, ...] = ()
    #: the constructor's keyword arguments :meth:`spec` records (read back from attributes of the same name)
    spec_attrs: tuple[str, ...] = ("name", "precision", "threads")

    def __init__(self, path: str | Path | None = None, *, name: str | None = None, precision: str = "fp32",
                 threads: int | None = DEFAULT_THREADS):
        self.path = Path(path) if path is not None else None
        self.name = name or f"{self.framework} {precision}"
        self.precision = precision
        self.threads = threads
        self.load_ms: float | None = None
        self._loaded = False

    def load(self) -> float:
        """Build the runtime's session; the wall time in ms (also ``load_ms``), imports not counted."""
        import_modules(self.imports)
        self.check_file()
        t0 = time.perf_counter()
        try:
            self._load()
        except ArtifactError:
            raise
        except Exception as e:  # noqa: BLE001 - every way a native loader fails means the same to a learner
            label = self.path if self.path is not None else f"<{self.framework} model in memory>"
            raise ArtifactError(label, f"{self.framework} could not load it ({type(e).__name__}: {e})", FIX) from e
        self.load_ms = (time.perf_counter() - t0) * 1e3
        self._loaded = True
        return self.load_ms

    def check_file(self) -> None:
        """:func:`check_model_file`, once per version of the file on disk (size and mtime)."""
        if self.path is None:
            return
        st = self.path.stat() if self.path.exists() else None
        stamp = (st.st_size, st.st_mtime_ns) if st else None
        if stamp is None or getattr(self, "_checked", None) != stamp:
            check_model_file(self.path)
            self._checked = stamp

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float32 logits (N, classes) for an NCHW float32 batch ``x`` in [0, 1] (loads if needed)."""
        if not self._loaded:
            self.load()
        return np.asarray(self._predict(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)

    __call__ = predict

    @property
    def size_bytes(self) -> int | None:
        """Bytes of the file on disk (``None`` without a file)."""
        return file_bytes(self.path) if self.path is not None else None

    def latency(self, x1: np.ndarray, warmup: int = 20, repeats: int = 200, threads: int | None = None,
                max_seconds: float | None = 20.0) -> Latency:
        """Batch-1 latency of :meth:`predict`, pre/post-processing included; other ``threads`` reload."""
        if threads is not None and threads != self.threads and not self.fixed_threads:
            self.threads = threads
            self.load()
        elif not self._loaded:
            self.load()
        x1 = np.ascontiguousarray(x1[:1], dtype=np.float32)
        reported = self.threads if self.threads is not None else (threads or DEFAULT_THREADS)
        return measure_latency(lambda: self.predict(x1), warmup=warmup, repeats=repeats,
                                       threads=reported, max_seconds=max_seconds)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """One call on the file's own input tensor (its layout and dtype: int8 for a full-integer
        ``.tflite``); the raw output tensor. The path every bit-exactness check compares."""
        raise NotImplementedError(f"{self.framework} has no raw tensor path")

    def spec(self) -> dict | None:
        """How to rebuild this wrapper in a fresh process (for :func:`peak_memory`), or ``None``."""
        if self.path is None:
            return None
        return {"cls": f"{type(self).__module__}:{type(self).__qualname__}", "path": str(self.path),
                "kwargs": {a: getattr(self, a) for a in self.spec_attrs}}

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
    if len(shape) != 4 or x.ndim != 4 or shape[1:] == x.shape[1:]:
        return x
    n, c, h, w = x.shape
    if shape[1:] == (h, w, c):
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    raise ValueError(f"input of shape {x.shape} (NCHW) does not fit the model's input tensor {shape}: "
                     "neither NCHW nor NHWC. Check that the model was converted for this data set.")


class Int8IO:
    """(De)quantize with a tensor's own ``(scale, zero_point)``; float tensors pass through."""

    def __init__(self, dtype, scale: float | None, zero_point: int | None):
        self.dtype, self.scale, self.zero_point = np.dtype(dtype), scale, zero_point

    @classmethod
    def of(cls, detail: dict) -> Int8IO:
        """From a LiteRT or TFLite Micro tensor's details (per-tensor ``quantization_parameters``)."""
        q = detail["quantization_parameters"]
        if detail["dtype"] in (np.int8, np.uint8) and len(q["scales"]):
            return cls(detail["dtype"], float(q["scales"][0]), int(q["zero_points"][0]))
        return cls(detail["dtype"], None, None)

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


class TensorFileRuntime(Runtime):
    """A ``.tflite`` with one typed input and output. Subclasses set ``inp`` (details with ``shape``),
    ``in_io`` and ``out_io`` in ``_load`` and implement ``run_raw``."""

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """NCHW float32 → the file's input tensor (its layout and dtype)."""
        if not self._loaded:
            self.load()
        return self.in_io.quantize(to_layout(np.asarray(x, np.float32), self.inp["shape"]))

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return batches(lambda b: self.out_io.dequantize(self.run_raw(self.quantize_input(b))), x,
                       int(self.inp["shape"][0]))
