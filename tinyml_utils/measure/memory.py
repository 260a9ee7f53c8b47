"""Memory of an eager PyTorch forward pass (a file's runtime peak memory: :mod:`tinyml_utils.runtimes`)."""
from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile


def torch_peak_memory_bytes(model, example_input) -> int:
    """Peak bytes of CPU memory that torch's allocator held during one forward pass
    (``torch.profiler`` with ``profile_memory``): activations and temporaries, not the weights."""
    model.eval()
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(example_input)
    events = sorted((e for e in prof.events() if e.cpu_memory_usage != 0),
                    key=lambda e: e.time_range.start)
    current = peak = 0
    for e in events:
        current += e.cpu_memory_usage
        peak = max(peak, current)
    return int(peak)
