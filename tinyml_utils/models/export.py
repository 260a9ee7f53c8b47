"""The one ``torch.export`` wrapper.

Trap: a batch-1 example makes ``torch.export`` specialise the batch to 1, so a model exported for
training or batched calibration needs a dynamic batch (exported here from a batch-2 example).
Programs for devices are exported at batch 1: with XNNPACK a dynamic batch fails beyond a small one.
"""
from __future__ import annotations

import torch

MAX_BATCH = 1024


def export_program(model, example, max_batch: int = MAX_BATCH, dynamic_batch: bool = True,
                   strict: bool = False):
    """``torch.export.export`` of ``model`` on the first row of ``example`` (one input tensor), with a
    dynamic batch of 1 to ``max_batch`` unless ``dynamic_batch=False``. The Arm quantizer wants
    ``strict=True``."""
    example = example[:1]
    if not dynamic_batch:
        return torch.export.export(model, (example,), strict=strict)
    ex2 = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    return torch.export.export(model, (ex2,), dynamic_shapes=({0: batch},), strict=strict)
