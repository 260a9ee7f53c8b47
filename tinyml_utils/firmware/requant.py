"""TFLite's integer requantization arithmetic in numpy: the fixed-point multipliers Prepare derives,
and the two roundings its kernels apply to an int32 accumulator.

An int8 layer accumulates ``acc = Σ w·(x − zp_in) + bias`` in int32; the real output is
``acc · s_in·s_w / s_out``. Kernels never touch that float: Prepare turns the *effective scale*
into a Q31 multiplier ``q`` and a power-of-two ``shift`` (:func:`quantize_multiplier`), and the
kernel computes ``acc · q · 2^(shift−31)`` with integer rounding. TFLite has two such roundings,
and which one an op uses is part of its numerical spec:

* **double rounding** (gemmlowp): ``SaturatingRoundingDoublingHighMul(acc·2^left, q)`` rounds the
  high 32 bits of the 64-bit product, then ``RoundingDivideByPOT`` rounds again by ``2^right``
  (:func:`double_rounding`);
* **single rounding**: one 64-bit product, one rounding shift ``(acc·q + 2^(t−1)) >> t`` with
  ``t = 31 − shift`` (:func:`single_rounding`).

Which op rounds which way in LiteRT's reference kernels (``OpResolverType.BUILTIN_REF``) is
:data:`ROUNDING`, each entry established by an oracle test against LiteRT (see the module
``tests/test_firmware_codegen.py``). The two agree except on ties; a mismatch shows up as a
one-LSB difference in a few outputs out of thousands.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

#: op → the requantization rounding LiteRT's reference kernel uses for int8 (oracle-tested):
#: "double" = gemmlowp's two roundings, "single" = one 64-bit rounding shift.
#: Measured against ai-edge-litert 2.3.0's BUILTIN_REF kernels: per-tensor int8 FULLY_CONNECTED
#: matched single rounding on 1600/1600 outputs and double rounding on only 1597/1600; per-channel
#: CONV_2D matched double rounding 6480/6480 and single only 6466/6480. Per-channel
#: FULLY_CONNECTED (what the course's converters emit) is single rounding too: double rounding
#: missed 191 of 96,000 outputs of a random dense net; LiteRT's float form of it,
#: ``round(acc · s_in·s_w/s_out)`` in double, gave the same integers as single rounding on every
#: accumulator in ±300,000. MEAN is the reference ``QuantizedMeanOrSum`` (1/n folded into the
#: multiplier, see :func:`tinyml_utils.firmware.layers.plan`) with double rounding.
ROUNDING = {
    "CONV_2D": "double",
    "DEPTHWISE_CONV_2D": "double",
    "FULLY_CONNECTED": "single",
    "MEAN": "double",
}


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real ≈ q · 2^(shift − 31)`` with ``q`` a Q31 integer in
    [2^30, 2^31). ``frexp`` splits ``real`` into a mantissa in [0.5, 1) and an exponent; the mantissa
    is rounded half away from zero to 31 fractional bits; a mantissa that rounds up to 2^31 is
    halved and the exponent bumped. Exponents below −31 flush to (0, 0), above 30 saturate."""
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


def conv_scales(input_scale: float, weight_scales: np.ndarray, output_scale: float) -> np.ndarray:
    """Effective scales of a per-channel conv / depthwise / fully connected layer as TFLite's
    ``PopulateConvolutionQuantizationParams`` computes them: every factor widened to double,
    ``s_in · s_w[c] / s_out`` in double."""
    w = np.asarray(weight_scales, dtype=np.float32).astype(np.float64)
    return float(np.float32(input_scale)) * w / float(np.float32(output_scale))


def per_tensor_scale(input_scale: float, weight_scale: float, output_scale: float) -> float:
    """Effective scale of a per-tensor layer as ``GetQuantizedConvolutionMultipler`` computes it:
    the product ``s_in · s_w`` in float32, then divided by ``s_out`` in double."""
    prod = np.float32(input_scale) * np.float32(weight_scale)
    return float(prod) / float(np.float32(output_scale))


def multipliers(scales) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array of effective scales → (q int32, shift int32)."""
    pairs = [quantize_multiplier(float(s)) for s in np.atleast_1d(scales)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def double_rounding(acc, q, shift) -> np.ndarray:
    """gemmlowp's ``MultiplyByQuantizedMultiplier``: ``acc · q · 2^(shift−31)`` with two roundings.

    1. ``x = acc · 2^max(shift, 0)`` (int32 wrap-around, as the C code);
    2. ``SaturatingRoundingDoublingHighMul(x, q)``: the 64-bit product ``x·q``, nudged by ±2^30,
       divided by 2^31 rounding toward zero (saturates the single overflow case x = q = −2^31);
    3. ``RoundingDivideByPOT(·, max(−shift, 0))``: an arithmetic shift right that rounds half away
       from zero."""
    acc = np.asarray(acc, dtype=np.int64)
    q = np.asarray(q, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = _wrap32(acc * (np.int64(1) << left))
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
    """TFLite's single-rounding ``MultiplyByQuantizedMultiplier`` (``TFLITE_SINGLE_ROUNDING``):
    ``(acc · q + 2^(t−1)) >> t`` in 64 bits with ``t = 31 − shift`` (rounds half up)."""
    acc = np.asarray(acc, dtype=np.int64)
    t = 31 - np.asarray(shift, dtype=np.int64)
    return (acc * np.asarray(q, dtype=np.int64) + (np.int64(1) << (t - 1))) >> t


def requantize(acc, q, shift, rounding: str) -> np.ndarray:
    """:func:`double_rounding` or :func:`single_rounding` by name (an entry of :data:`ROUNDING`)."""
    if rounding == "double":
        return double_rounding(acc, q, shift)
    if rounding == "single":
        return single_rounding(acc, q, shift)
    raise ValueError(f"rounding must be 'double' or 'single', got {rounding!r}")


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's ``CalculateActivationRangeQuantized`` for int8: the clamp a fused activation becomes
    (``RELU`` → [zp, 127], ``RELU6`` → [zp, zp + round(6/scale)], ``NONE`` → [−128, 127])."""
    lo, hi = -128, 127

    def quant(v: float) -> int:                      # TfLiteRound(f / scale), both float32
        r = float(np.float32(v) / np.float32(scale))
        return int(zero_point) + int(math.copysign(math.floor(abs(r) + 0.5), r))

    if activation == "RELU":
        return max(lo, quant(0.0)), hi
    if activation == "RELU6":
        return max(lo, quant(0.0)), min(hi, quant(6.0))
    if activation == "RELU_N1_TO_1":
        return max(lo, quant(-1.0)), min(hi, quant(1.0))
    if activation == "NONE":
        return lo, hi
    raise ValueError(f"fused activation {activation!r} is not supported by the int8 kernels")


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
