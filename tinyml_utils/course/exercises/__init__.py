"""Self-checking exercises: a check runs the learner's function on fixed cases against an oracle (never the
learner's code path) and prints ``✓ right``, ``✗ wrong`` with the hint of the recognised slip, or "not attempted"
while the stub is untouched (returns None/``...`` or raises NotImplementedError)."""
from __future__ import annotations

from .applied import (
    check_bn_stats,
    check_ds_conv_macs,
    check_duty_cycle,
    check_instructions_per_mac,
    check_kv_cache_bytes,
    check_perplexity,
    check_quantize_delta,
    check_smooth,
    check_stream_rate,
    check_window_stats,
)
from .base import EXERCISES, REFERENCES
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
from .measuring import (
    arena_bytes,
    check_arena,
    check_conv_macs,
    check_conv_params,
    check_latency_stats,
    check_num_frames,
    check_num_windows,
)


def reference(name: str):
    """The oracle of exercise ``name`` (for ``arena``, the bytes)."""
    return arena_bytes() if name == "arena" else REFERENCES[name]


__all__ = [
    "check_conv_macs", "check_arena", "check_num_windows", "check_num_frames", "check_conv_params",
    "check_latency_stats", "check_mask", "check_schedule", "check_qparams", "check_quantize", "check_soft_targets",
    "check_kd_loss", "check_parity", "check_dequantize", "check_budget", "check_npu_estimate", "check_ds_conv_macs",
    "check_smooth", "check_stream_rate", "check_window_stats", "check_quantize_delta", "check_bn_stats",
    "check_kv_cache_bytes", "check_perplexity", "check_duty_cycle", "check_instructions_per_mac",
    "reference", "EXERCISES", "BUDGET_DEVICES",
]
