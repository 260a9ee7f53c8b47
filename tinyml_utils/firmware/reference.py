"""A numpy model of the course's int8 C kernels, op by op on the :class:`~.layers.Layer` plans.

TFLite skips a padded conv's out-of-image taps; here the input is padded with its zero point: the same sum.
"""
from __future__ import annotations

import numpy as np

from . import requant
from .layers import Layer


def _clamp(v: np.ndarray, layer: Layer) -> np.ndarray:
    return np.clip(v, layer.act_min, layer.act_max).astype(np.int8)


def _pad_hw(x: np.ndarray, layer: Layer, value: int) -> np.ndarray:
    """Pad NHWC ``x`` so that every window of the (strided) output lies inside it."""
    p = layer.params
    _, ih, iw, _ = x.shape
    _, oh, ow, _ = layer.out_shape
    need_h = (oh - 1) * p["stride_h"] + (p["kh"] - 1) * p.get("dil_h", 1) + 1
    need_w = (ow - 1) * p["stride_w"] + (p["kw"] - 1) * p.get("dil_w", 1) + 1
    bottom, right = max(need_h - ih - p["pad_top"], 0), max(need_w - iw - p["pad_left"], 0)
    return np.pad(x, ((0, 0), (p["pad_top"], bottom), (p["pad_left"], right), (0, 0)), constant_values=value)


def _windows(x: np.ndarray, layer: Layer) -> np.ndarray:
    """(N, OH, OW, KH, KW, C) view of every window of the padded input."""
    p = layer.params
    _, oh, ow, _ = layer.out_shape
    dh, dw = p.get("dil_h", 1), p.get("dil_w", 1)
    rows = (np.arange(oh) * p["stride_h"])[:, None] + np.arange(p["kh"])[None, :] * dh     # (OH, KH)
    cols = (np.arange(ow) * p["stride_w"])[:, None] + np.arange(p["kw"])[None, :] * dw     # (OW, KW)
    return x[:, rows[:, None, :, None], cols[None, :, None, :], :]


def _requant(acc: np.ndarray, layer: Layer) -> np.ndarray:
    p = layer.params
    return requant.requantize(acc, p["q"], p["shift"], p["rounding"]) + layer.out_zp


def conv_2d(x: np.ndarray, layer: Layer) -> np.ndarray:
    """acc[n,y,x,o] = Σ w[o,ky,kx,c]·(in − zp_in) + bias[o]; requantize per channel; clamp."""
    xs = _pad_hw(x.astype(np.int64) - layer.in_zp, layer, 0)
    acc = np.einsum("nhwijc,oijc->nhwo", _windows(xs, layer), layer.params["weights"].astype(np.int64))
    return _clamp(_requant(acc + layer.params["bias"], layer), layer)


def depthwise_conv_2d(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Output channel c·m + j (m: depth multiplier) reads input channel c (1HWC weights)."""
    m = layer.params["depth_multiplier"]
    xs = _pad_hw(x.astype(np.int64) - layer.in_zp, layer, 0)
    win = np.repeat(_windows(xs, layer), m, axis=-1)                      # (N, OH, OW, KH, KW, C·m)
    acc = np.einsum("nhwijc,ijc->nhwc", win, layer.params["weights"][0].astype(np.int64))
    return _clamp(_requant(acc + layer.params["bias"], layer), layer)


def fully_connected(x: np.ndarray, layer: Layer) -> np.ndarray:
    """acc[b,o] = Σ_d w[o,d]·(in[b,d] − zp_in) + bias[o]; requantize; clamp."""
    depth = layer.params["depth"]
    xs = x.reshape(-1, depth).astype(np.int64) - layer.in_zp
    acc = xs @ layer.params["weights"].astype(np.int64).T + layer.params["bias"]
    return _clamp(_requant(acc, layer), layer).reshape(layer.out_shape)


def max_pool_2d(x: np.ndarray, layer: Layer) -> np.ndarray:
    """The largest value of each window (padded with −128: padding never wins), then the clamp."""
    win = _windows(_pad_hw(x, layer, -128), layer)
    return _clamp(win.max(axis=(3, 4)).astype(np.int64), layer)


def mean(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Global average pool: the sum over H×W minus ``n·zp_in``, requantized with 1/n folded in; clamp."""
    n = layer.params["count"]
    total = x.astype(np.int64).sum(axis=(1, 2)) - layer.in_zp * n
    return _clamp(_requant(total, layer), layer).reshape(layer.out_shape)


def pad(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Constant padding with the zero point (the quantized 0.0)."""
    return np.pad(x, [tuple(r) for r in layer.params["pads"]], constant_values=layer.out_zp)


KERNELS = {"CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "FULLY_CONNECTED": fully_connected,
           "MAX_POOL_2D": max_pool_2d, "MEAN": mean, "PAD": pad}


def run(layers: list[Layer], x: np.ndarray) -> dict[int, np.ndarray]:
    """Every tensor (NHWC-4D int8, by tensor index, input included) for one int8 input."""
    first = layers[0]
    out = {first.input: np.asarray(x, dtype=np.int8).reshape(first.in_shape)}
    for layer in layers:
        out[layer.output] = KERNELS[layer.op](out[layer.input].reshape(layer.in_shape), layer)
    return out
