"""ExecuTorch ``.pte`` programs run with ``executorch.runtime`` (batch 1, as exported)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.env import capture_output
from ..measure import DEFAULT_THREADS
from .base import Runtime, batches, check_model_bytes


def set_executorch_threads(threads: int = 1) -> int:
    """Size ExecuTorch's shared thread pool (XNNPACK's) to ``threads``; returns the count. Trap: call it
    **before** loading any ``.pte``: resetting the pool after a load can corrupt the heap."""
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(int(threads))
    return int(portable_lib._threadpool_get_thread_count())


class ExecuTorchPte(Runtime):
    """A batch-1 ``.pte`` (path or bytes). ``set_threads=False`` leaves the shared thread pool alone."""

    framework = "ExecuTorch"
    imports = ("torch", "executorch.runtime")

    def __init__(self, path, *, set_threads: bool = True, **kwargs):
        self._bytes = bytes(path) if isinstance(path, (bytes, bytearray)) else None
        super().__init__(None if self._bytes is not None else path, **kwargs)
        self._set_threads = set_threads

    def _load(self) -> None:
        import torch
        from executorch.runtime import Runtime as ETRuntime

        if self._set_threads:
            set_executorch_threads(self.threads or DEFAULT_THREADS)
        self._torch = torch
        if self._bytes is not None:
            check_model_bytes(self._bytes, ".pte", "<ExecuTorch program in memory>")
        self.program = ETRuntime.get().load_program(self._bytes if self._bytes is not None else Path(self.path))
        self.method = self.program.load_method("forward")

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        if not self._loaded:
            self.load()
        out = self.method.execute([self._torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))])
        return out[0].numpy()

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return batches(self.run_raw, x, 1)


def try_run_pte(path, example_shape=(1, 1, 28, 28)) -> str:
    """Load and run a ``.pte`` with the host's ExecuTorch; what happened. Trap: an Ethos-U ``.pte``
    fails here (``EthosUBackend is not registered``)."""
    log: list[str] = []
    try:
        with capture_output() as log:
            ExecuTorchPte(path, set_threads=False).predict(np.zeros(example_shape, np.float32))
        return "ran on the host"
    except Exception as err:
        native = [ln for ln in log[0].splitlines() if "not registered" in ln] if log else []
        return f"{type(err).__name__}: {err}" + (f"  [{native[0].strip()}]" if native else "")
