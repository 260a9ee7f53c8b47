"""tinyml_utils: the helper package shared by every chapter of the course.

Layers, lowest first (a layer imports only the ones before it; see ARCHITECTURE.md):
``core`` (paths, seeding, native output capture) → ``data`` (datasets, features) → ``models``
(PyTorch and Keras) → ``train`` → ``measure`` (size, MACs, latency, accuracy) → ``compress``
(prune, quantize, distill) → ``convert`` (Keras twin, TFLite, ExecuTorch, ONNX, MediaPipe, Arm,
Vela) → ``runtimes`` (one Runtime interface) → ``deploy`` (devices, C arrays) → ``course``
(recipes, artifact store, pipelines) → ``report`` (results, plots) → ``book``, ``cli``, ``doctor``.
"""
from __future__ import annotations

from .core.env import seed_everything, versions

__version__ = "0.1.0"
__all__ = ["seed_everything", "versions", "__version__"]
