"""A parsed int8 ``.tflite`` → :class:`Layer` plans: every number a kernel needs, derived as TFLite's
Prepare derives it; the numpy model and the C generator both read them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import requant
from .tflite_model import TFLiteModel

SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "MEAN", "PAD")


class UnsupportedOpError(NotImplementedError):
    """An op or op configuration the course's C kernels do not implement."""


@dataclass
class Layer:
    """One op's plan. Shapes are NHWC padded to 4-D (a (1, C) tensor is (1, 1, 1, C)).
    ``params``: the op's own numbers (weights, bias, q, shift, kernel size, strides...)."""

    index: int
    op: str
    name: str
    input: int                      # tensor index
    output: int                     # tensor index
    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    in_zp: int
    out_zp: int
    act_min: int = -128
    act_max: int = 127
    macs: int = 0
    params: dict = field(default_factory=dict)

    @property
    def out_size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def param_bytes(self) -> int:
        """Bytes of const data (dense weights, bias, multipliers, shifts)."""
        keys = ("weights", "bias", "q", "shift")
        return sum(int(np.asarray(self.params[k]).nbytes) for k in keys if k in self.params)

    @property
    def nonzero_weights(self) -> int:
        """What the "sparse" kernels store and multiply."""
        return int(np.count_nonzero(self.params["weights"])) if "weights" in self.params else 0


def _nhwc(shape) -> tuple[int, int, int, int]:
    s = tuple(int(d) for d in shape)
    if len(s) > 4:
        raise UnsupportedOpError(f"tensor of rank {len(s)} (shape {s})")
    return (1,) * (4 - len(s)) + s if len(s) != 2 else (s[0], 1, 1, s[1])


def _zp(t) -> int:
    return int(t.zero_point[0]) if len(t.zero_point) else 0


def _check_int8(model: TFLiteModel, op, *tensors) -> None:
    for t in tensors:
        if t.dtype is not np.int8:
            raise UnsupportedOpError(f"{model.name}: op {op.index} {op.kind} has a {np.dtype(t.dtype).name} tensor "
                                     f"{t.name!r}; the course's kernels run full-integer int8 models only")


def plan(model: TFLiteModel) -> list[Layer]:
    """Plan every op; :class:`UnsupportedOpError` names an op or configuration the kernels lack."""
    layers = []
    counts: dict[str, int] = {}
    for op in model.ops:
        if op.kind not in SUPPORTED:
            raise UnsupportedOpError(f"op {op.kind} (op {op.index}) in model {model.name!r} ({model.path}) is not "
                                     f"supported by the course's C kernels; supported: {', '.join(SUPPORTED)}")
        x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
        _check_int8(model, op, x, y)
        counts[op.kind] = counts.get(op.kind, 0) + 1
        layer = Layer(op.index, op.kind, f"{op.kind.lower()}_{counts[op.kind]}", x.index, y.index, _nhwc(x.shape),
                      _nhwc(y.shape), _zp(x), _zp(y))
        act = op.options.get("fused_activation_function", "NONE")
        if len(y.scale):
            try:
                layer.act_min, layer.act_max = requant.activation_range(act, float(y.scale[0]), layer.out_zp)
            except ValueError as exc:
                raise UnsupportedOpError(f"{model.name}: {op.kind} {op.index}: {exc}") from exc
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            _weighted(model, op, layer)
        elif op.kind == "MAX_POOL_2D":
            _window(op, layer, int(op.options["filter_height"]), int(op.options["filter_width"]))
        elif op.kind == "MEAN":
            _mean(model, op, layer)
        elif op.kind == "PAD":
            pads = model.tensors[op.inputs[1]].data
            if pads is None or len(op.inputs) > 2 and op.inputs[2] >= 0:
                raise UnsupportedOpError(f"{model.name}: PAD {op.index} needs constant paddings and no pad value")
            pads = np.asarray(pads, dtype=np.int64).reshape(-1, 2)
            layer.params["pads"] = np.vstack([np.zeros((4 - len(pads), 2), np.int64), pads])
        requantizes = x.scale.tolist() != y.scale.tolist() or layer.in_zp != layer.out_zp
        if op.kind in ("PAD", "MAX_POOL_2D") and requantizes:
            raise UnsupportedOpError(f"{model.name}: {op.kind} {op.index} changes the quantization; not supported")
        layers.append(layer)
    return layers


def _weighted(model: TFLiteModel, op, layer: Layer) -> None:
    x, w, y = (model.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    _check_int8(model, op, w)
    if w.data is None:
        raise UnsupportedOpError(f"{model.name}: {op.kind} {op.index} has non-constant weights")
    if np.any(w.zero_point != 0):
        raise UnsupportedOpError(f"{model.name}: {op.kind} {op.index} has asymmetric (non-zero zero point) weights")
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    bias = model.tensors[op.inputs[2]].data if has_bias else None
    n_out = layer.out_shape[3]
    layer.params["bias"] = np.zeros(n_out, np.int32) if bias is None else np.asarray(bias, np.int32).reshape(-1)
    layer.params["weights"] = np.asarray(w.data, np.int8)
    s_in, s_out = float(x.scale[0]), float(y.scale[0])
    if len(w.scale) > 1:        # per channel: as TFLite, every factor widened to double
        scales = s_in * w.scale.astype(np.float64) / s_out
    else:                       # per tensor: as TFLite, s_in · s_w in float32, then / s_out in double
        scales = np.full(n_out, float(x.scale[0] * w.scale[0]) / s_out)
    layer.params["q"], layer.params["shift"] = requant.multipliers(scales)
    layer.params["rounding"] = requant.ROUNDING[op.kind]
    if op.kind == "FULLY_CONNECTED":
        layer.params["depth"] = int(w.shape[-1])
        layer.macs = int(w.shape[0] * w.shape[1]) * (int(np.prod(layer.in_shape)) // int(w.shape[-1]))
        return
    kh, kw = int(w.shape[1]), int(w.shape[2])
    dh, dw = int(op.options.get("dilation_h_factor", 1)), int(op.options.get("dilation_w_factor", 1))
    _window(op, layer, kh, kw, dh, dw)
    layer.params.update(dil_h=dh, dil_w=dw)
    _, oh, ow, oc = layer.out_shape
    if op.kind == "DEPTHWISE_CONV_2D":
        layer.params["depth_multiplier"] = oc // layer.in_shape[3]
        layer.macs = oh * ow * oc * kh * kw
    else:
        layer.macs = oh * ow * oc * kh * kw * int(w.shape[3])


def _window(op, layer: Layer, kh: int, kw: int, dh: int = 1, dw: int = 1) -> None:
    """Kernel size, strides and the leading pads of SAME padding (TFLite's ComputePaddingWithOffset)."""
    sh, sw = int(op.options["stride_h"]), int(op.options["stride_w"])
    (_, ih, iw, _), (_, oh, ow, _) = layer.in_shape, layer.out_shape

    def pad(size: int, out: int, k: int, stride: int, dilation: int) -> int:
        if op.options["padding"] != "SAME":
            return 0
        return max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0) // 2

    layer.params.update(kh=kh, kw=kw, stride_h=sh, stride_w=sw, pad_top=pad(ih, oh, kh, sh, dh),
                        pad_left=pad(iw, ow, kw, sw, dw))


def _mean(model: TFLiteModel, op, layer: Layer) -> None:
    axes = model.tensors[op.inputs[1]].data
    rank = len(model.tensors[op.inputs[0]].shape)
    axes = sorted(int(a) % rank for a in np.atleast_1d(axes)) if axes is not None else None
    if rank != 4 or axes != [1, 2]:
        raise UnsupportedOpError(f"{model.name}: MEAN {op.index} over axes {axes} of a rank-{rank} tensor; "
                                 "only the global average pool (axes 1, 2 of NHWC) is implemented")
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    n = layer.in_shape[1] * layer.in_shape[2]
    q, shift = requant.quantize_multiplier(float(x.scale[0]) / float(y.scale[0]))
    # reference_ops::QuantizedMeanOrSum folds 1/n into the multiplier: q·2^s / n, s = floor(log2 n)
    s = min(n.bit_length() - 1, 32, 31 + shift)
    layer.params.update(count=n, q=np.array([(q << s) // n], np.int32), shift=np.array([shift - s], np.int32),
                        rounding=requant.ROUNDING["MEAN"])
