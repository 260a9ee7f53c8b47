"""One interface over the inference runtimes (``load``, ``predict``, ``run_raw``, ``latency``,
``size_bytes``, ``spec``); :func:`peak_memory` measures cold start and memory in a fresh process.
Training steps inside ExecuTorch and LiteRT: :mod:`.training`, imported on its own."""
from __future__ import annotations

from .base import Int8IO, Runtime, import_modules, to_layout
from .eager import TorchEager
from .executorch import ExecuTorchPte, set_executorch_threads, try_run_pte
from .litert import OP_RESOLVERS, LiteRT
from .llm import ExecuTorchLM, load_llm_ops
from .mediapipe import MediaPipeClassifier, mediapipe_llm_status
from .memory import PEAK_MEMORY_MEANING, peak_memory
from .onnx import OnnxRuntime
from .tflm import TFLiteMicro, tflm_arena_bytes

__all__ = ["Int8IO", "Runtime", "import_modules", "to_layout", "TorchEager", "ExecuTorchPte",
           "set_executorch_threads", "try_run_pte", "OP_RESOLVERS", "LiteRT", "ExecuTorchLM", "load_llm_ops",
           "MediaPipeClassifier", "mediapipe_llm_status",
           "PEAK_MEMORY_MEANING", "peak_memory", "OnnxRuntime",
           "TFLiteMicro", "tflm_arena_bytes"]

