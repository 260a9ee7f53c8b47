"""Latency: the course's one protocol for batch-1 timing, and interleaved comparisons.

Protocol: fix the thread count, run ``warmup`` untimed calls, then time ``repeats`` single
(batch-1) calls with ``time.perf_counter``; report median and p95 in milliseconds plus the thread
count. Trap: a shared machine only adds time, so compare runtimes as ratios measured interleaved
within one run, never across runs.
"""
from __future__ import annotations

import gc
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

DEFAULT_THREADS = 1


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


def median_spread(values) -> str:
    """'median (min–max)' of repeated measurements, for tables."""
    v = list(values)
    return f"{statistics.median(v):.3g} ({min(v):.3g}–{max(v):.3g})"


def compare_latency(fns: dict[str, Callable[[], object]], rounds: int = 3, warmup: int = 20,
                    repeats: int = 200, threads: int = 1, max_seconds: float = 5.0):
    """Time several batch-1 inference functions *interleaved* (A, B, C, C, B, A, ...) so load from
    other processes hits all of them alike; per function the round with the median p50 is kept.

    Returns a DataFrame indexed by name: ``p50_ms, p95_ms, spread_ms, rounds, ratio`` (p50 over
    the first entry's p50).
    """
    import pandas as pd

    runs: dict[str, list] = {k: [] for k in fns}
    names = list(fns)
    for i in range(rounds):
        order = names if i % 2 == 0 else names[::-1]  # alternate the order: no model always runs first
        for k in order:
            runs[k].append(measure_latency(fns[k], warmup=warmup, repeats=repeats, threads=threads,
                                           max_seconds=max_seconds))
    rows = {}
    for k, lats in runs.items():
        lat = sorted(lats, key=lambda r: r.p50_ms)[len(lats) // 2]
        rows[k] = {"p50_ms": lat.p50_ms, "p95_ms": lat.p95_ms, "spread_ms": lat.spread_ms,
                   "p50_all_rounds": [round(r.p50_ms, 4) for r in lats], "threads": threads}
    df = pd.DataFrame(rows).T
    first = next(iter(fns))
    df["ratio"] = df["p50_ms"].astype(float) / float(df.loc[first, "p50_ms"])
    return df


def latency_pass(rts, x1: np.ndarray, *, warmup: int = 20, repeats: int = 200, rounds: int = 3,
                 threads: int = DEFAULT_THREADS) -> dict[str, dict]:
    """Batch-1 latency of several runtimes (objects with ``name``, ``threads`` and
    ``latency(x1, ...)``, see :mod:`tinyml_utils.runtimes`) in one interleaved pass: ``rounds``
    rounds of ``repeats // rounds`` calls each. Per runtime: median over rounds of the per-round
    median and p95 (ms), and each round's median. Keys are ``rt.name``."""
    per = max(10, repeats // max(1, rounds))
    rts = list(rts)
    runs: dict[str, list] = {rt.name: [] for rt in rts}
    for _ in range(rounds):
        for rt in rts:
            runs[rt.name].append(rt.latency(x1, warmup=warmup, repeats=per, threads=threads))
    out = {}
    for rt in rts:
        lats = runs[rt.name]
        out[rt.name] = {"latency_ms_p50": float(np.median([lt.p50_ms for lt in lats])),
                        "latency_ms_p95": float(np.median([lt.p95_ms for lt in lats])),
                        "round_p50_ms": [lt.p50_ms for lt in lats], "calls": int(sum(lt.repeats for lt in lats)),
                        "threads": rt.threads}
    return out
