"""The self-checks' one mechanism: :func:`exercise` turns a table row (cases, oracle, typical slips,
messages) into ``check_<name>(fn, strict=False)``."""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import numpy as np
import torch

#: Which chapter each exercise belongs to (the tests check that every chapter has at least two).
EXERCISES: dict[str, str] = {}

#: The oracle of each exercise, with the learner's signature (what :func:`reference` hands out).
REFERENCES: dict[str, Callable] = {}


class _NotAttempted(Exception):
    pass


def _call(fn: Callable, *args):
    try:
        out = fn(*args)
    except NotImplementedError as exc:
        raise _NotAttempted from exc
    if out is None or out is Ellipsis:
        raise _NotAttempted
    return out


def _same(a, b, rtol: float = 1e-5, atol: float = 1e-7) -> bool:
    """Numerically equal (same shape), part by part for tuples; a ``None`` part of ``b`` matches anything."""
    if isinstance(b, tuple):
        return isinstance(a, tuple) and len(a) == len(b) and all(
            y is None or _same(x, y, rtol, atol) for x, y in zip(a, b))
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _diagnose(got, args: tuple, slips: Sequence[tuple[Callable, str]], default: str, **tol) -> str:
    """The hint of the first slip whose answer on ``args`` equals ``got``, else ``default``."""
    for wrong, hint in slips:
        try:
            with np.errstate(all="ignore"):
                if _same(got, wrong(*args), **tol):
                    return hint
        except Exception:  # noqa: BLE001 - a slip that cannot be computed on this case does not match
            continue
    return default


def _first(answer):
    return answer[0] if isinstance(answer, tuple) else answer


def drawn(make: Callable) -> list[tuple]:
    """The cases ``make(rng, g)`` draws from a NumPy and a torch generator, both seeded 0 (each check its own)."""
    return make(np.random.default_rng(0), torch.Generator().manual_seed(0))


def exercise(name: str, chapter: str, doc: str, *, cases: Sequence[tuple], ref: Callable,
             slips: Sequence[tuple[Callable, str]], hint: str, done: str | Callable[[Sequence[tuple], list], str],
             case: Callable[[tuple, Any, Any], str] | None = None, answer: Callable = float, rtol: float = 1e-5,
             atol: float = 1e-7, shape_hint: str | None = None, fill: str | None = None) -> Callable:
    """Register exercise ``name``; return ``check_<name>(fn, strict=False)``: one verdict line, then True,
    False (``strict`` raises instead) or None (not attempted).

    ``fn`` gets deep copies of the ``cases``; ``answer`` converts its and ``ref``'s outputs before comparing.
    ``slips``: (typical wrong answer, its hint), tried in order, ``hint`` if none matches; a ``None`` part of a
    tuple slip matches anything. ``case(args, want, got)``: the wrong line (default: the call and both counts);
    ``done``: the ✓ line, or ``done(cases, wants)``."""
    EXERCISES[name] = chapter
    REFERENCES[name] = ref

    def body(fn: Callable) -> tuple[bool, str]:
        wants = []
        for args in cases:
            want = answer(ref(*args))
            wants.append(want)
            got = answer(_call(fn, *copy.deepcopy(args)))
            if shape_hint and np.shape(_first(got)) != np.shape(_first(want)):
                return False, f"shape {np.shape(_first(got))}, expected {np.shape(_first(want))}  hint: {shape_hint}"
            if not _same(got, want, rtol, atol):
                why = _diagnose(got, args, slips, hint, rtol=rtol, atol=atol)
                msg = case(args, want, got) if case else f"{fill or name}{args}: expected {want:,}, got {got:,}"
                return False, f"{msg}  hint: {why}"
        return True, done(cases, wants) if callable(done) else done

    def check(fn: Callable, strict: bool = False) -> bool | None:
        try:
            ok, msg = body(fn)
        except _NotAttempted:   # only what to fill in, no formula, no number: Run All gives nothing away
            print(f"… not attempted yet — fill in {fill or name}, then re-run this cell.")
            return None
        except Exception as exc:  # the learner's code raised: show it as a wrong answer, not a crash
            ok, msg = False, f"your function raised {type(exc).__name__}: {exc}"
        if ok:
            print(f"✓ right — {msg}")
            return True
        if strict:
            raise AssertionError(f"✗ wrong ({name}) — {msg}")
        print(f"✗ wrong ({name}) — {msg}")
        return False

    check.__name__ = check.__qualname__ = f"check_{name}"
    check.__doc__ = doc
    return check
