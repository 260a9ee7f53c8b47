"""Self-checking exercises: the learner writes a small function, a check says right or wrong.

In the style of MIT 6.5940's labs: every chapter's ``## Exercises`` has one or two fill-in cells::

    from tinyml_utils.course import exercises

    def magnitude_mask(weight, sparsity):
        ...  # your code
        return None

    exercises.check_mask(magnitude_mask)

A check runs the learner's function on small fixed inputs and compares it with a reference (PyTorch,
NumPy or a hand-checked formula, never the learner's own code path). It prints one line:

- ``✓ right — <what was compared, with the numbers>``
- ``✗ wrong — <the first case that differs: expected vs got>  hint: <what to look at>``
- ``… not attempted yet — <what to fill in>`` when the stub still returns ``None`` (or raises
  ``NotImplementedError``), so an untouched notebook runs top to bottom without error.

and returns ``True``, ``False`` or ``None`` respectively (``strict=True`` raises ``AssertionError``
on a wrong answer instead). The reference solutions live in :mod:`.base`, out of the notebook's sight;
:func:`reference` hands them to the tests (``tests/test_exercises.py``) and to teachers.
"""
from __future__ import annotations

from .base import ARENA_BYTES, EXERCISES, reference
from .compressing import (
    BUDGET_DEVICES,
    check_budget,
    check_kd_loss,
    check_mask,
    check_parity,
    check_qparams,
    check_quantize,
)
from .measuring import (
    check_arena,
    check_conv_macs,
    check_conv_params,
    check_latency_stats,
    check_num_frames,
    check_num_windows,
)

__all__ = [
    "check_conv_macs", "check_arena", "check_num_windows", "check_num_frames", "check_conv_params",
    "check_latency_stats", "check_mask", "check_qparams", "check_quantize", "check_kd_loss",
    "check_parity", "check_budget", "reference", "EXERCISES", "ARENA_BYTES", "BUDGET_DEVICES",
]
