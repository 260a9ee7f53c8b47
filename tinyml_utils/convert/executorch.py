"""Lower PyTorch models to ExecuTorch (XNNPACK delegate) and run the ``.pte`` with ``executorch.runtime``.

>>> pte = to_executorch(model, example=torch.zeros(1, 1, 28, 28), path="build/m.pte")
>>> runner = ExecuTorchRunner(pte)
>>> logits = runner(x_batch1)           # numpy in, numpy out

``.pte`` programs are exported for batch 1, what a device runs: with the XNNPACK delegate a
dynamic batch fails at run time beyond a small batch (``set_inputs ... 0x10``, measured with
executorch 1.5.1), so :meth:`ExecuTorchRunner.predict` feeds one example at a time.
:func:`export_program` keeps a dynamic batch (an example of batch 2, batch from 1 to ``max_batch``)
for *training* exported models (PT2E QAT trains at batch 32, then infers at batch 1; a batch-1
example would make ``torch.export`` specialise the batch to 1, STACK.md).
Quantized models (PT2E, :mod:`tinyml_utils.quantize`) go through the same function.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_BATCH = 1024


def export_program(model, example, max_batch: int = MAX_BATCH, dynamic_batch: bool = True):
    """``torch.export.export`` with a dynamic batch dimension; ``example`` is one input tensor."""
    import torch

    example = example[:1]
    if not dynamic_batch:
        return torch.export.export(model, (example,))
    ex2 = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    return torch.export.export(model, (ex2,), dynamic_shapes=({0: batch},))


def to_executorch(model_or_program, example=None, path: str | Path | None = None, xnnpack: bool = True,
                  dynamic_batch: bool = False, max_batch: int = MAX_BATCH):
    """Lower an eager model (or an ``ExportedProgram``) to an ExecuTorch program, delegating what
    it can to XNNPACK. Writes the ``.pte`` to ``path`` if given and returns that path, else the bytes."""
    import torch
    from executorch.exir import to_edge_transform_and_lower

    if isinstance(model_or_program, torch.export.ExportedProgram):
        program = model_or_program
    else:
        if example is None:
            raise ValueError("to_executorch needs an example input to export an eager model")
        model_or_program.eval() if hasattr(model_or_program, "eval") else None
        program = export_program(model_or_program, example, max_batch, dynamic_batch=dynamic_batch)
    partitioners = []
    if xnnpack:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        partitioners = [XnnpackPartitioner()]
    et = to_edge_transform_and_lower(program, partitioner=partitioners).to_executorch()
    if path is None:
        return et.buffer
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(et.buffer)
    return path


def delegation_summary(model_or_program, example=None, dynamic_batch: bool = False, max_batch: int = MAX_BATCH):
    """Which operators XNNPACK takes: a pandas DataFrame from ExecuTorch's own delegation info."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    program = (model_or_program if isinstance(model_or_program, torch.export.ExportedProgram)
               else export_program(model_or_program.eval(), example, max_batch, dynamic_batch=dynamic_batch))
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    return info.get_operator_delegation_dataframe(), info


def set_executorch_threads(threads: int = 1) -> int:
    """Size ExecuTorch's shared thread pool (what its XNNPACK delegate runs on) to ``threads``, so
    its latency compares with torch at ``profile.set_threads(threads)``; returns the count.

    Call it **before** loading any ``.pte`` (e.g. in a notebook's setup cell): resetting the pool
    after a program was loaded corrupted the heap in our runs (``corrupted double-linked list``).
    Uses ExecuTorch's (experimental) pybinding."""
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(int(threads))
    return int(portable_lib._threadpool_get_thread_count())


class ExecuTorchRunner:
    """Load a ``.pte`` once and run its ``forward`` on numpy arrays (float32 in, float32 out)."""

    def __init__(self, pte: str | Path | bytes):
        import torch
        from executorch.runtime import Runtime

        self._torch = torch
        runtime = Runtime.get()
        self.program = runtime.load_program(pte if isinstance(pte, (bytes, bytearray)) else Path(pte))
        self.method = self.program.load_method("forward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.method.execute([self._torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))])
        return out[0].numpy()

    def predict(self, x: np.ndarray, batch_size: int = 1) -> np.ndarray:
        """Logits for every row of ``x``, ``batch_size`` rows a call (1 for batch-1 programs)."""
        return np.concatenate([self(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
