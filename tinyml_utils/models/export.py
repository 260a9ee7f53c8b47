"""The one ``torch.export`` wrapper: a model as an ``ExportedProgram`` (what PT2E quantization,
ExecuTorch, the Arm backend and the other partitioners take).

Trap: a batch-1 example makes ``torch.export`` specialise the batch to 1, so a model exported for
*training* (PT2E QAT trains at batch 32, then infers at batch 1) needs ``dynamic_batch=True`` (an
example of batch 2, batch from 1 to ``max_batch``). Programs for devices are exported at batch 1:
with the XNNPACK delegate a dynamic batch fails at run time beyond a small batch.
"""
from __future__ import annotations

import torch

MAX_BATCH = 1024


def export_program(model, example, max_batch: int = MAX_BATCH, dynamic_batch: bool = True,
                   strict: bool = False):
    """``torch.export.export`` of ``model`` on the first example of ``example`` (one input tensor),
    with a dynamic batch dimension unless ``dynamic_batch=False``. ``strict=True`` is what
    ExecuTorch's Arm quantizer wants."""
    example = example[:1]
    if not dynamic_batch:
        return torch.export.export(model, (example,), strict=strict)
    ex2 = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    return torch.export.export(model, (ex2,), dynamic_shapes=({0: batch},), strict=strict)
