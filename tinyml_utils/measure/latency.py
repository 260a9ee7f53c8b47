"""Measure models: parameters, MACs, bytes on disk, latency (median and p95), peak memory.

Latency protocol (every chapter uses it): fix the thread count, run ``warmup`` untimed calls,
then time ``repeats`` single (batch-1) calls with ``time.perf_counter``; report median and p95
in milliseconds plus the thread count. Compare runtimes as ratios measured within one run.
"""
from __future__ import annotations

import gc
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

DEFAULT_THREADS = 1


def count_params(model) -> int:
    """Number of parameters (weights and biases) of a torch module."""
    return int(sum(p.numel() for p in model.parameters()))


def count_nonzero_params(model) -> int:
    """Parameters that are not exactly zero (after pruning masks are applied)."""
    return int(sum(int((p != 0).sum()) for p in model.parameters()))


def count_macs(model, example_input) -> int:
    """Multiply-accumulates of one forward pass on ``example_input``, counted by PyTorch's
    ``FlopCounterMode`` (FLOPs / 2; counts conv, linear and matmul, the ops that dominate)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example_input)
    model.train(was_training)
    return int(counter.get_total_flops() // 2)


def file_bytes(path: str | Path) -> int:
    """Size of a file on disk, in bytes."""
    return Path(path).stat().st_size


def state_dict_bytes(model, path: str | Path | None = None) -> int:
    """Bytes of ``torch.save(model.state_dict())`` on disk: written to ``path`` if given, else to a
    temporary file (an in-memory buffer differs by a few hundred bytes: the zip container stores the
    file name in every entry)."""
    import tempfile

    import torch

    if path is not None:
        torch.save(model.state_dict(), path)
        return file_bytes(path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.pt"
        torch.save(model.state_dict(), out)
        return file_bytes(out)


def zipped_bytes(path: str | Path) -> int:
    """Bytes of the file after DEFLATE compression (level 9): what sparsity saves in a download."""
    import zlib

    return len(zlib.compress(Path(path).read_bytes(), 9))


@dataclass
class Latency:
    """Batch-1 latency statistics in milliseconds."""

    p50_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    warmup: int
    threads: int

    @property
    def spread_ms(self) -> float:
        """p95 minus median: how noisy the measurement is."""
        return self.p95_ms - self.p50_ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"{self.p50_ms:.3f} ms median (p95 {self.p95_ms:.3f} ms, {self.repeats} runs, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''})")


def set_threads(threads: int = DEFAULT_THREADS) -> int:
    """Fix torch's intra-op threads (and OMP's for later-started runtimes); returns the value set."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass
    return threads


def measure_latency(fn: Callable[[], Any], *, warmup: int = 20, repeats: int = 200,
                    threads: int = DEFAULT_THREADS, max_seconds: float | None = 20.0) -> Latency:
    """Time ``fn()`` (one batch-1 inference) after ``warmup`` untimed calls.

    ``threads`` is the thread count the caller configured its runtime with (torch's is set here);
    it is reported with the numbers. ``max_seconds`` caps the timed phase (fewer repeats, noted
    in ``repeats``) so a slow runtime cannot stall a chapter.
    """
    set_threads(threads)
    for _ in range(warmup):
        fn()
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    times = []
    start = time.perf_counter()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
            if max_seconds is not None and time.perf_counter() - start > max_seconds and len(times) >= 10:
                break
    finally:
        if gc_was:
            gc.enable()
    arr = np.asarray(times)
    return Latency(float(np.median(arr)), float(np.percentile(arr, 95)), float(arr.mean()),
                   float(arr.min()), float(arr.max()), len(arr), warmup, threads)


def torch_latency(model, example_input, **kwargs) -> Latency:
    """:func:`measure_latency` of an eager torch model in eval mode under ``torch.no_grad``."""
    import torch

    model.eval()

    def run():
        with torch.no_grad():
            model(example_input)

    return measure_latency(run, **kwargs)


def torch_peak_memory_bytes(model, example_input) -> int:
    """Peak bytes of CPU memory that torch's allocator held during one forward pass
    (``torch.profiler`` with ``profile_memory``): activations and temporaries, not the weights."""
    import torch
    from torch.profiler import ProfilerActivity, profile

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


def median_spread(values) -> str:
    """'median (min–max)' of repeated measurements, for tables."""
    v = list(values)
    return f"{statistics.median(v):.3g} ({min(v):.3g}–{max(v):.3g})"
