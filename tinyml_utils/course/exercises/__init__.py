"""Self-checking exercises: the learner writes a small function, a check says right or wrong.

Every chapter's ``## Exercises`` has at least two fill-in exercises of the same shape: a statement, a
stub that reveals nothing, and a solution hidden in a collapsed ``<details>`` cell (tagged
``solution``; collapsed in JupyterLab and in the book alike)::

    from tinyml_utils.course import exercises

    def magnitude_mask(weight, sparsity):
        ...  # YOUR CODE HERE

    exercises.check_mask(magnitude_mask);

A check runs the learner's function on small fixed inputs and compares it with an oracle (PyTorch,
NumPy, Flower or a package helper, never the learner's own code path). It prints one line:

- ``✓ right — <what was compared, with the numbers>``
- ``✗ wrong (<name>) — <the first case that differs>  hint: <the slip, recognised by recomputing the
  typical wrong answers>``
- ``… not attempted yet — fill in <name>, then re-run this cell.`` while the stub is untouched
  (returns ``None``/``...`` or raises ``NotImplementedError``): no formula, no number, so Run All on
  an untouched chapter gives nothing away and runs to the end.

and returns ``True``, ``False`` or ``None`` respectively (``strict=True`` raises ``AssertionError``
on a wrong answer instead). The reference solutions live in :mod:`.references`; :func:`reference`
hands them to the tests (``tests/test_exercises.py``) and to teachers.
"""
from __future__ import annotations

from .applied import (
    check_bn_stats,
    check_ds_conv_macs,
    check_kv_cache_bytes,
    check_perplexity,
    check_quantize_delta,
    check_smooth,
    check_stream_rate,
    check_window_stats,
)
from .base import ARENA_BYTES, EXERCISES, reference
from .compressing import (
    BUDGET_DEVICES,
    check_budget,
    check_dequantize,
    check_kd_loss,
    check_mask,
    check_npu_estimate,
    check_parity,
    check_qparams,
    check_quantize,
    check_schedule,
    check_soft_targets,
)
from .firmware import check_duty_cycle, check_instructions_per_mac
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
    "check_latency_stats", "check_mask", "check_schedule", "check_qparams", "check_quantize", "check_soft_targets",
    "check_kd_loss", "check_parity", "check_dequantize", "check_budget", "check_npu_estimate", "check_ds_conv_macs",
    "check_smooth", "check_stream_rate", "check_window_stats", "check_quantize_delta", "check_bn_stats",
    "check_kv_cache_bytes", "check_perplexity", "check_duty_cycle", "check_instructions_per_mac",
    "reference", "EXERCISES", "ARENA_BYTES", "BUDGET_DEVICES",
]
