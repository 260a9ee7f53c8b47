"""PyTorch eager (the reference), also for PT2E fake-quant GraphModules."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from ..measure import DEFAULT_THREADS, set_threads
from ..models.modes import set_eval
from .base import Runtime, batches


class TorchEager(Runtime):
    """An eager PyTorch module or PT2E GraphModule, or a state dict at ``path`` built by ``arch``
    (``{"fn": "tinyml_utils.models:vision_cnn", "kwargs": {...}}``; then :func:`peak_memory` works)."""

    framework = "PyTorch eager"
    imports = ("torch",)
    spec_attrs = Runtime.spec_attrs + ("arch",)

    def __init__(self, model=None, path: str | Path | None = None, *, arch: dict | None = None, **kwargs):
        super().__init__(path, **kwargs)
        if model is None and (path is None or arch is None):
            raise ValueError("TorchEager needs a model, or a state-dict path plus arch to build it")
        self.model, self.arch = model, arch

    def _load(self) -> None:
        import torch

        set_threads(self.threads or DEFAULT_THREADS)
        if self.path is not None and self.arch is not None:
            mod, fn = self.arch["fn"].split(":")
            model = getattr(importlib.import_module(mod), fn)(**self.arch.get("kwargs", {}))
            model.load_state_dict(torch.load(self.path, weights_only=True))
            self.model = model
        set_eval(self.model)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return batches(lambda b: self.model(torch.from_numpy(b)).numpy(), x, 256)

    def spec(self) -> dict | None:
        return None if self.arch is None else super().spec()
