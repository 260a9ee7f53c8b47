"""TFLite's integer requantization in numpy: ``acc · q · 2^(shift − 31)`` with a Q31 multiplier ``q``.

Trap: which of TFLite's two roundings an op uses is part of its spec (:data:`ROUNDING`); they differ
only on ties, so a wrong choice shows as one-LSB differences in a few outputs out of thousands.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

#: op → the rounding LiteRT's int8 reference kernels (BUILTIN_REF) use
ROUNDING = {
    "CONV_2D": "double",
    "DEPTHWISE_CONV_2D": "double",
    "FULLY_CONNECTED": "single",
    "MEAN": "double",
}


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ≈ q · 2^(shift − 31)``, ``q`` in [2^30, 2^31); the
    mantissa rounds half away from zero; shifts below −31 flush to (0, 0), above 30 saturate."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = int(math.copysign(math.floor(abs(mantissa) * (1 << 31) + 0.5), mantissa))  # std::round
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return INT32_MAX, 30
    return q, shift


def multipliers(scales) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array of scales → (q int32, shift int32)."""
    pairs = [quantize_multiplier(float(s)) for s in np.atleast_1d(scales)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def double_rounding(acc, q, shift) -> np.ndarray:
    """gemmlowp's ``MultiplyByQuantizedMultiplier``: ``acc · 2^left`` (int32 wrap-around, as in C),
    ``SaturatingRoundingDoublingHighMul`` by ``q``, then ``RoundingDivideByPOT`` (half away from zero)."""
    acc = np.asarray(acc, dtype=np.int64)
    q = np.asarray(q, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = ((acc * (np.int64(1) << left) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)     # int32 wrap-around
    ab = x * q
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))          # C division by 2^31 truncates toward 0
    high = np.where((x == INT32_MIN) & (q == INT32_MIN), INT32_MAX, high)
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return ((high >> right) + (remainder > threshold)).astype(np.int64)


def single_rounding(acc, q, shift) -> np.ndarray:
    """TFLite's ``TFLITE_SINGLE_ROUNDING``: ``(acc · q + 2^(t−1)) >> t`` in 64 bits, ``t = 31 − shift`` (half up)."""
    acc = np.asarray(acc, dtype=np.int64)
    t = 31 - np.asarray(shift, dtype=np.int64)
    return (acc * np.asarray(q, dtype=np.int64) + (np.int64(1) << (t - 1))) >> t


def requantize(acc, q, shift, rounding: str) -> np.ndarray:
    """:func:`double_rounding` or :func:`single_rounding` by name."""
    return {"double": double_rounding, "single": single_rounding}[rounding](acc, q, shift)


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's ``CalculateActivationRangeQuantized`` for int8: the clamp a fused activation becomes."""
    lo, hi = -128, 127

    def quant(v: float) -> int:                      # TfLiteRound(f / scale), both float32
        r = float(np.float32(v) / np.float32(scale))
        return int(zero_point) + int(math.copysign(math.floor(abs(r) + 0.5), r))

    if activation == "RELU":
        return max(lo, quant(0.0)), hi
    if activation == "RELU6":
        return max(lo, quant(0.0)), min(hi, quant(6.0))
    if activation == "NONE":
        return lo, hi
    raise ValueError(f"fused activation {activation!r} is not supported by the int8 kernels")
