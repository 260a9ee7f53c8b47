"""The one ``torch.export`` wrapper.

Trap: a batch-1 example makes ``torch.export`` specialise the batch to 1, so a dynamic batch is exported
from a batch-2 example. Device programs use batch 1: with XNNPACK a dynamic batch fails beyond a small one.
"""
from __future__ import annotations

import torch

MAX_BATCH = 1024


def export_program(model, example, dynamic_batch: bool = True, strict: bool = False):
    """``torch.export.export`` on the first row of ``example`` (one tensor), with a batch of 1 to
    :data:`MAX_BATCH` unless ``dynamic_batch=False``. The Arm quantizer wants ``strict=True``."""
    example = example[:1]
    if not dynamic_batch:
        return torch.export.export(model, (example,), strict=strict)
    ex2 = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return torch.export.export(model, (ex2,), dynamic_shapes=({0: batch},), strict=strict)
