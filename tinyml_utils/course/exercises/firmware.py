"""Self-checking exercises of chapter 12 (on the microcontroller): from an instruction count to a
duty cycle, and instructions per MAC. See :mod:`tinyml_utils.course.exercises`."""
from __future__ import annotations

from typing import Callable

from . import references as R
from .base import _call, _hint, _report


def check_duty_cycle(fn: Callable[[float, float, float, float], float], strict: bool = False) -> bool | None:
    """``fn(instructions, period_ms, clock_hz, cpi)`` -> percent of the core busy (can exceed 100)."""
    cases = [(13_000_000, 40.0, 80e6, 1.0), (2_000_000, 40.0, 80e6, 1.5), (64_000, 20.0, 64e6, 1.0),
             (5_000_000, 1000.0, 400e6, 1.2)]

    def body():
        for c in cases:
            got = float(_call(fn, *c))
            want = R.duty_cycle(*c)
            if abs(got - want) > 1e-6 * max(1.0, abs(want)):
                n, p, f, cpi = c
                if abs(got - want / 100) < 1e-9 * max(1.0, want):
                    hint = "a fraction, not a percent: times 100"
                elif abs(got - 100 * n / f / (p / 1e3)) < 1e-6 * max(1.0, want):
                    hint = "cycles = instructions × cycles per instruction (CPI)"
                elif abs(got - 100 * n * cpi / f / p) < 1e-6 * max(1.0, want):
                    hint = "the period is in milliseconds: divide by 1000 to get seconds"
                else:
                    hint = "busy time = instructions × CPI / clock; duty = busy time / period"
                return False, _hint(f"{c}: expected {want:.3f} %, got {got:.3f}", hint)
        return True, (f"{len(cases)} cases; e.g. 13 M instructions every 40 ms at 80 MHz and CPI 1 keep the core "
                      f"{R.duty_cycle(*cases[0]):.1f} % busy")
    return _report("duty_cycle", body, "duty_cycle", strict)


def check_instructions_per_mac(fn: Callable[[int, int], float], strict: bool = False) -> bool | None:
    """``fn(instructions, macs)`` -> instructions per multiply-accumulate (a float)."""
    cases = [(50_000_000, 2_656_768), (8_800_000, 1_919_872), (21_117, 3_072)]

    def body():
        for n, m in cases:
            got = float(_call(fn, n, m))
            if abs(got - R.instructions_per_mac(n, m)) > 1e-9 * n / m:
                hint = "invert it: instructions divided by MACs" if abs(got - m / n) < 1e-12 else "instructions / MACs"
                return False, _hint(f"({n:,}, {m:,}): expected {n / m:.3f}, got {got:.3f}", hint)
        return True, "instructions per MAC: the figure a kernel engineer drives down (loads, address arithmetic, "\
                     "requantization and loop overhead all count)"
    return _report("instructions_per_mac", body, "instructions_per_mac", strict)
