"""Latency (milliseconds): batch-1 timing of one model, and the interleaved comparison of several.

Trap: load only *adds* time, so :func:`compare` rotates the order each round, keeps each round's low
quantile and compares by **paired** per-round ratios (median; 2nd smallest to 2nd largest as interval,
about 96 % coverage for 9 rounds). Assert only effects beyond that interval.
"""
from __future__ import annotations

import contextlib
import gc
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

DEFAULT_THREADS = 1


def set_threads(threads: int = DEFAULT_THREADS) -> int:
    """Fix torch's intra-op threads (and OMP's for later-started runtimes); returns the value set."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def _gc_paused():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _time_calls(fn: Callable[[], Any], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


@dataclass
class Timing:
    """Per-call wall times (ms) of one candidate, grouped by round."""

    name: str
    rounds_ms: list[list[float]] = field(default_factory=list)
    quantile: float = 0.1

    @property
    def calls(self) -> int:
        return sum(len(r) for r in self.rounds_ms)

    @property
    def per_round_ms(self) -> np.ndarray:
        """The low quantile of each round's calls (ms): the statistic ratios are built from."""
        return np.array([np.quantile(r, self.quantile) for r in self.rounds_ms])

    @property
    def low_ms(self) -> float:
        """Median over rounds of the per-round low quantile (ms): the headline latency."""
        return float(np.median(self.per_round_ms))

    @property
    def min_ms(self) -> float:
        return float(min(min(r) for r in self.rounds_ms))

    @property
    def max_ms(self) -> float:
        return float(max(max(r) for r in self.rounds_ms))

    @property
    def p50_ms(self) -> float:
        """Median of all calls (ms): what a user typically sees, load included."""
        return float(np.median(np.concatenate(self.rounds_ms)))

    @property
    def p95_ms(self) -> float:
        return float(np.quantile(np.concatenate(self.rounds_ms), 0.95))


@dataclass
class Latency(Timing):
    """:func:`measure_latency`'s one round of calls, with the thread count it reports."""

    threads: int = DEFAULT_THREADS

    @property
    def repeats(self) -> int:
        return self.calls

    def __str__(self) -> str:
        return (f"{self.p50_ms:.3f} ms median (p95 {self.p95_ms:.3f} ms, {self.repeats} runs, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''})")


def measure_latency(fn: Callable[[], Any], *, warmup: int = 20, repeats: int = 200,
                    threads: int = DEFAULT_THREADS, max_seconds: float | None = 20.0) -> Latency:
    """Time ``fn()`` ``repeats`` times after ``warmup`` calls; ``max_seconds`` caps it (at least 10 calls).
    ``threads``: the caller's runtime thread count (torch's is set here), reported with the numbers."""
    set_threads(threads)
    _time_calls(fn, warmup)
    gc.collect()
    times: list[float] = []
    end = time.perf_counter() + (max_seconds if max_seconds is not None else float("inf"))
    with _gc_paused():
        while len(times) < repeats and (len(times) < 10 or time.perf_counter() <= end):
            times += _time_calls(fn, 1)
    return Latency("", [times], threads=threads)


def torch_latency(model, example_input, **kwargs) -> Latency:
    """:func:`measure_latency` of an eager torch model in eval mode under ``torch.no_grad``."""
    model.eval()
    return measure_latency(torch.no_grad()(lambda: model(example_input)), **kwargs)


@dataclass(frozen=True)
class Ratio:
    """``a / b`` from paired rounds: median estimate and an order-statistic interval."""

    estimate: float
    lo: float
    hi: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.estimate:.3f} (interval {self.lo:.3f}–{self.hi:.3f}, {self.rounds} paired rounds)"


@dataclass
class Comparison:
    """The result of :func:`compare`: one :class:`Timing` per candidate, same rounds for all."""

    timings: dict[str, Timing]

    def __getitem__(self, name: str) -> Timing:
        return self.timings[name]

    def ratio(self, a: str, b: str) -> Ratio:
        """Latency of ``a`` over latency of ``b`` (below 1: ``a`` is faster)."""
        r = np.sort(self.timings[a].per_round_ms / self.timings[b].per_round_ms)
        k = 1 if len(r) >= 5 else 0
        return Ratio(float(np.median(r)), float(r[k]), float(r[len(r) - 1 - k]), len(r))

    def frame(self):
        """pandas DataFrame, one row a candidate: low_ms, p50_ms, p95_ms, min_ms, calls."""
        import pandas as pd

        rows = [{"name": t.name, "low_ms": t.low_ms, "p50_ms": t.p50_ms, "p95_ms": t.p95_ms,
                 "min_ms": t.min_ms, "calls": t.calls} for t in self.timings.values()]
        return pd.DataFrame(rows).set_index("name")


def compare(fns: dict[str, Callable[[], Any]], *, rounds: int = 9, calls: int = 30, warmup: int = 5,
            quantile: float = 0.1, max_seconds: float | None = 60.0) -> Comparison:
    """Time callables interleaved (module docstring); ``max_seconds`` caps the run at 3 rounds or more."""
    if not fns:
        raise ValueError("compare() needs at least one callable")
    names = list(fns)
    for n in names:
        _time_calls(fns[n], warmup)
    timings = {n: Timing(n, quantile=quantile) for n in names}
    t_start = time.perf_counter()
    with _gc_paused():
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                timings[n].rounds_ms.append(_time_calls(fns[n], calls))
            if max_seconds is not None and r >= 2 and time.perf_counter() - t_start > max_seconds:
                break
    return Comparison(timings)
