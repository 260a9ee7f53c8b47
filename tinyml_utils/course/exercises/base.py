"""The machinery of the self-checking exercises: calling the learner's function, diagnosing the slip,
and the verdict line. The reference solutions are in :mod:`.references`, out of the notebooks' sight."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import references as R


class _NotAttempted(Exception):
    pass


def _unfilled(value) -> bool:
    """True for what an untouched stub gives back: ``None`` or ``...`` (a body of ``...`` returns None)."""
    return value is None or value is Ellipsis


def _call(fn: Callable, *args):
    """``fn(*args)``; an untouched stub (returns None/``...`` or raises NotImplementedError) is "not attempted"."""
    try:
        out = fn(*args)
    except NotImplementedError as exc:
        raise _NotAttempted from exc
    if _unfilled(out):
        raise _NotAttempted
    return out


def _report(name: str, fn: Callable[[], tuple[bool, str]], what: str, strict: bool) -> bool | None:
    """Run one check body; print the verdict line; return True / False / None (not attempted).

    The "not attempted" line names only what to fill in (``what``), never a formula or a number:
    Run All on an untouched chapter must not give the answers away.
    """
    try:
        ok, msg = fn()
    except _NotAttempted:
        print(f"… not attempted yet — fill in {what}, then re-run this cell.")
        return None
    except Exception as exc:  # the learner's code raised: show it as a wrong answer, not a crash
        ok, msg = False, f"your function raised {type(exc).__name__}: {exc}"
    if ok:
        print(f"✓ right — {msg}")
        return True
    text = f"✗ wrong ({name}) — {msg}"
    if strict:
        raise AssertionError(text)
    print(text)
    return False


def _hint(msg: str, hint: str) -> str:
    return f"{msg}  hint: {hint}"


def _same(a, b, rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    """Numerically equal (same shape; NaN-free), for answers that are numbers, tuples or arrays."""
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _diagnose(got, slips: Sequence[tuple[Callable[[], Any], str]], default: str, **tol) -> str:
    """The hint of the first typical slip whose answer equals ``got``, else ``default``.

    Each slip is ``(what that slip computes, the hint naming it)``: a wrong answer is recognised by
    recomputing the slip, never by guessing from counts.
    """
    for wrong, hint in slips:
        try:
            if _same(got, wrong(), **tol):
                return hint
        except Exception:  # noqa: BLE001 - a slip that cannot be computed on this case does not match
            continue
    return default


#: Which chapter each exercise belongs to (the tests check that every chapter has at least two).
EXERCISES: dict[str, str] = {
    "conv_macs": "00", "arena": "00", "num_windows": "01", "num_frames": "01", "conv_params": "02",
    "latency_stats": "02", "mask": "03", "schedule": "03", "qparams": "04", "quantize": "04",
    "soft_targets": "05", "kd_loss": "05", "parity": "06", "dequantize": "06", "budget": "07",
    "npu_estimate": "07", "ds_conv_macs": "08", "smooth": "08", "stream_rate": "09", "window_stats": "09",
    "quantize_delta": "10", "bn_stats": "10", "kv_cache_bytes": "11", "perplexity": "11", "duty_cycle": "12",
    "instructions_per_mac": "12",
}

#: The expected answer of the value exercises (the int8 arena estimate of chapter 00).
ARENA_BYTES = 15_680


def reference(name: str) -> Any:
    """The reference solution of exercise ``name`` (a function, or the expected value)."""
    if name == "arena":
        return ARENA_BYTES
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; known: {sorted(EXERCISES)}")
    return getattr(R, "num_windows" if name == "num_frames" else name)
