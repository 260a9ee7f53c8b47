"""One interface over the inference runtimes: load a model file, predict logits, time batch-1
calls (``rt.latency``), report bytes (``rt.size_bytes``); cold load time in ``rt.load_ms``.
Runtimes run files: nothing here imports ``compress``, ``convert`` or ``course``.
Wrappers: :class:`TorchEager` (the reference; also PT2E fake-quant GraphModules),
:class:`ExecuTorchPte`, :class:`LiteRT`, :class:`OnnxRuntime`, :class:`MediaPipeClassifier`,
:class:`TFLiteMicro` (with its arena). :func:`open_runtime` picks one by file suffix;
:func:`peak_memory` measures cold start and memory in a fresh process.
"""
from __future__ import annotations

from pathlib import Path

from .base import Int8IO, Runtime, import_modules, to_layout
from .eager import TorchEager
from .executorch import ExecuTorchPte, set_executorch_threads, try_run_pte
from .litert import OP_RESOLVERS, LiteRT
from .mediapipe import MediaPipeClassifier
from .memory import PEAK_MEMORY_MEANING, RUNTIME_CLASSES, from_spec, peak_memory
from .onnx import OnnxRuntime
from .tflm import TFLiteMicro, tflm_arena_bytes

__all__ = ["Int8IO", "Runtime", "import_modules", "to_layout", "TorchEager", "ExecuTorchPte",
           "set_executorch_threads", "try_run_pte", "OP_RESOLVERS", "LiteRT", "MediaPipeClassifier",
           "PEAK_MEMORY_MEANING", "RUNTIME_CLASSES", "from_spec", "peak_memory", "OnnxRuntime",
           "TFLiteMicro", "tflm_arena_bytes", "open_runtime"]


def open_runtime(path: str | Path, **kwargs) -> Runtime:
    """The wrapper for a model file by its suffix: ``.pte`` → :class:`ExecuTorchPte`, ``.tflite`` →
    :class:`LiteRT` (use :class:`TFLiteMicro`/:class:`MediaPipeClassifier` explicitly for those),
    ``.onnx`` → :class:`OnnxRuntime`. ``kwargs`` go to the wrapper."""
    suffix = Path(path).suffix
    cls = {".pte": ExecuTorchPte, ".tflite": LiteRT, ".onnx": OnnxRuntime}.get(suffix)
    if cls is None:
        raise ValueError(f"open_runtime: no runtime for {suffix!r} files ({path}); "
                         "use .pte, .tflite or .onnx, or build a wrapper class directly")
    return cls(path, **kwargs)
