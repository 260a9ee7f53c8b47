"""One interface over the inference runtimes (``load``, ``predict``, ``run_raw``, ``latency``,
``size_bytes``, ``spec``); :func:`peak_memory` measures cold start and memory in a fresh process.
Training steps inside ExecuTorch and LiteRT: :mod:`.training`, imported on its own.
"""
from __future__ import annotations

from pathlib import Path

from .base import Int8IO, Runtime, import_modules, to_layout
from .eager import TorchEager
from .executorch import ExecuTorchPte, set_executorch_threads, try_run_pte
from .litert import OP_RESOLVERS, LiteRT
from .llm import ExecuTorchLM, load_llm_ops
from .mediapipe import MediaPipeClassifier, mediapipe_llm_status
from .memory import PEAK_MEMORY_MEANING, RUNTIME_CLASSES, peak_memory
from .onnx import OnnxRuntime
from .tflm import TFLiteMicro, tflm_arena_bytes

__all__ = ["Int8IO", "Runtime", "import_modules", "to_layout", "TorchEager", "ExecuTorchPte",
           "set_executorch_threads", "try_run_pte", "OP_RESOLVERS", "LiteRT", "ExecuTorchLM", "load_llm_ops",
           "MediaPipeClassifier", "mediapipe_llm_status",
           "PEAK_MEMORY_MEANING", "RUNTIME_CLASSES", "peak_memory", "OnnxRuntime",
           "TFLiteMicro", "tflm_arena_bytes", "open_runtime"]


def open_runtime(path: str | Path, **kwargs) -> Runtime:
    """The wrapper for a ``.pte``, ``.tflite`` (LiteRT) or ``.onnx`` file; ``kwargs`` go to it."""
    suffix = Path(path).suffix
    cls = {".pte": ExecuTorchPte, ".tflite": LiteRT, ".onnx": OnnxRuntime}.get(suffix)
    if cls is None:
        raise ValueError(f"open_runtime: no runtime for {suffix!r} files ({path}); "
                         "use .pte, .tflite or .onnx, or build a wrapper class directly")
    return cls(path, **kwargs)
