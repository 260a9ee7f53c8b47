"""Quantization: the arithmetic, PT2E PTQ and QAT for ExecuTorch/XNNPACK, per-layer error, tfmot QAT.

``q = clamp(round(x / scale) + zero_point, qmin, qmax)``, ``x_hat = (q - zero_point) * scale``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .. import train as training
from ..models.export import export_program
from ..models.keras import legacy_keras


@dataclass
class QParams:
    """``scale`` float32 and ``zero_point`` int64, shape () per tensor or (C,) per channel along ``axis``."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    qmin: int
    qmax: int
    axis: int | None = None


def _as_tensor(x):
    return x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))


def _bcast(v, x, axis: int | None):
    if axis is None or v.ndim == 0:
        return v
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


def int_range(bits: int = 8, symmetric: bool = True) -> tuple[int, int]:
    """Signed integer range of ``bits`` bits. Symmetric schemes drop the most negative value (narrow
    range, e.g. [-127, 127]) so that +x and -x quantize to +q and -q, as XNNPACK does."""
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return (qmin + 1 if symmetric else qmin), qmax


def choose_qparams(x, bits: int = 8, symmetric: bool = True, per_channel_axis: int | None = None) -> QParams:
    """Min/max parameters (PyTorch's MinMaxObserver rule), per tensor or per slice along the axis.
    Symmetric: ``scale = max|x| / ((qmax - qmin) / 2)``, zero point 0. Affine: [min(x, 0), max(x, 0)]
    over [qmin, qmax], ``zero_point = qmin - round(min / scale)`` (0.0 exact)."""
    eps = float(np.finfo(np.float32).eps)
    x = _as_tensor(x).float()
    qmin, qmax = int_range(bits, symmetric)
    if per_channel_axis is None:
        lo, hi = x.min(), x.max()
    else:
        flat = x.transpose(0, per_channel_axis).reshape(x.shape[per_channel_axis], -1)
        lo, hi = flat.min(1).values, flat.max(1).values
    lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
    if symmetric:
        amax = torch.maximum(-lo, hi)
        scale = torch.clamp(amax / ((qmax - qmin) / 2), min=eps)
        zp = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = torch.clamp((hi - lo) / (qmax - qmin), min=eps)
        zp = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int64)
    return QParams(scale.float(), zp, qmin, qmax, per_channel_axis)


def quantize_affine(x, scale, zero_point, qmin: int, qmax: int, axis: int | None = None):
    """float → int32 ``clamp(round(x / scale) + zero_point, qmin, qmax)``, round half to even."""
    x = _as_tensor(x).float()
    scale, zero_point = _as_tensor(scale).float(), torch.as_tensor(zero_point)
    q = torch.round(x / _bcast(scale, x, axis)) + _bcast(zero_point, x, axis)
    return torch.clamp(q, qmin, qmax).to(torch.int32)


def dequantize(q, scale, zero_point, axis: int | None = None):
    q = torch.as_tensor(q)
    scale, zero_point = _as_tensor(scale).float(), torch.as_tensor(zero_point)
    return (q.to(torch.float32) - _bcast(zero_point, q, axis)) * _bcast(scale, q, axis)


def fake_quantize(x, bits: int = 8, symmetric: bool = True, per_channel_axis: int | None = None):
    """Quantize then dequantize ``x`` with its own min/max parameters: what the network sees."""
    qp = choose_qparams(x, bits, symmetric, per_channel_axis)
    return dequantize(quantize_affine(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, qp.axis),
                      qp.scale, qp.zero_point, qp.axis)


def sqnr_db(reference, approx) -> float:
    """``10 log10(sum(ref^2) / sum((ref - approx)^2))`` in dB (about 6 dB a bit); inf if equal."""
    r = np.asarray(_as_tensor(reference), dtype=np.float64)
    a = np.asarray(_as_tensor(approx), dtype=np.float64)
    noise = float(((r - a) ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(float((r ** 2).sum()) / noise))


def weight_error_table(model, bits: Sequence[int] = (8, 4)):
    """SQNR (dB) of each conv/linear weight, per-tensor and per-channel symmetric, at each bit width."""
    import pandas as pd

    rows = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            w = mod.weight.detach()
            row = {"layer": name, "shape": tuple(w.shape), "params": w.numel()}
            for b in bits:
                row[f"int{b} per-tensor (dB)"] = sqnr_db(w, fake_quantize(w, b, True, None))
                row[f"int{b} per-channel (dB)"] = sqnr_db(w, fake_quantize(w, b, True, 0))
            rows.append(row)
    return pd.DataFrame(rows).set_index("layer")


def xnnpack_quantizer(per_channel: bool = True, weight_bits: int = 8, is_qat: bool = False):
    """The XNNPACK quantizer: int8 affine per-tensor activations, symmetric weights of ``weight_bits``
    bits (stored and run as int8; fewer bits only narrow [qmin, qmax])."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    qmin, qmax = int_range(weight_bits, symmetric=True)
    cfg = get_symmetric_quantization_config(is_per_channel=per_channel, is_qat=is_qat,
                                            weight_qmin=qmin, weight_qmax=qmax)
    return XNNPACKQuantizer().set_global(cfg)


def ptq_pt2e(model, calib_x, per_channel: bool = True, weight_bits: int = 8):
    """PT2E int8 PTQ of a copy (XNNPACK quantizer), calibrated on ``calib_x``: a GraphModule, float in
    and out, int8 weights and quantize/dequantize pairs inside."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    m = copy.deepcopy(model).eval()
    calib = torch.as_tensor(np.asarray(calib_x, dtype=np.float32))
    gm = export_program(m, calib[:2]).module()   # dynamic batch
    prepared = prepare_pt2e(gm, xnnpack_quantizer(per_channel, weight_bits))
    with torch.no_grad():
        for i in range(0, len(calib), 256):
            prepared(calib[i:i + 256])
    converted = convert_pt2e(prepared)
    training.set_eval(converted)
    return converted


def fold_batchnorm(model):
    """An eval copy with each BatchNorm right after a Conv in an ``nn.Sequential`` folded into it."""
    m = copy.deepcopy(model).eval()
    for seq in [mod for mod in m.modules() if isinstance(mod, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, (nn.Conv1d, nn.Conv2d)) and isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return m


def qat_pt2e(model, train, val=None, epochs: int = 3, lr: float = 5e-4, batch_size: int = 64,
             weight_bits: int = 8, seed: int = 0, augment=None, calib_n: int = 256,
             return_history: bool = False, desc: str = "QAT", fold_bn: bool = False):
    """PT2E QAT of a copy (per-channel XNNPACK quantizer, observers calibrated on ``calib_n`` images),
    then ``convert_pt2e``. ``fold_bn``: BN folded first (frozen statistics, no slow conv-BN rewrites).
    Trap: :func:`sync_observers` runs below 8 bits only (at 8 it lowered chapter 08's accuracy).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    m = fold_batchnorm(model) if fold_bn else copy.deepcopy(model).eval()
    gm = export_program(m, torch.as_tensor(np.asarray(train.x[:2], dtype=np.float32))).module()
    prepared = prepare_qat_pt2e(gm, xnnpack_quantizer(True, weight_bits, is_qat=True))
    training.set_eval(prepared)   # observers see real data; BN running statistics stay
    with torch.no_grad():
        prepared(torch.as_tensor(train.x[:calib_n]))
    hist = training.fit(prepared, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                        augment=augment, desc=desc)
    training.set_eval(prepared)
    if weight_bits < 8:
        sync_observers(prepared)
    converted = convert_pt2e(prepared)
    training.set_eval(converted)
    return (converted, hist) if return_history else converted


def sync_observers(prepared):
    """Set each symmetric (weight) observer's range to its fake quantizer's scale, so ``convert_pt2e``
    uses the trained scales. In place. Trap: the fake quantizer divides ``max|w|`` by ``(qmax - qmin
    + 1) / 2``, the observer by ``(qmax - qmin) / 2``: 1/255 apart at 8 bits, 1/15 at 4."""
    for fq in prepared.modules():
        obs = getattr(fq, "activation_post_process", None)
        if type(fq).__name__ != "FusedMovingAvgObsFakeQuantize" or not hasattr(obs, "min_val"):
            continue
        if fq.qscheme not in (torch.per_channel_symmetric, torch.per_tensor_symmetric):
            continue        # affine (activation): fake quantizer and observer already agree
        scale = fq.scale.detach().float()
        hi = scale * (fq.quant_max - fq.quant_min) / 2
        obs.min_val.copy_((-hi).reshape(obs.min_val.shape))
        obs.max_val.copy_(hi.reshape(obs.max_val.shape))
    return prepared


def layer_error(float_model, converted, x):
    """SQNR (dB) of each ``nn.ReLU``/``nn.Linear`` output of the float model against the converted
    graph's matching ``aten.relu``/``aten.linear`` (after its quantize→dequantize pair) on ``x``.
    Trap: errors accumulate, layer k inherits those of layers < k.
    """
    import pandas as pd

    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    fm = copy.deepcopy(float_model).eval()
    ref: list[tuple[str, torch.Tensor]] = []
    for n, mod in fm.named_modules():   # fm is a throwaway copy: the hooks stay on it
        if isinstance(mod, (nn.ReLU, nn.Linear)):   # list.append returns None: the output stays
            mod.register_forward_hook(lambda _m, _inputs, out, n=n: ref.append((n, out.detach())))
    with torch.no_grad():
        fm(x)

    wanted = (torch.ops.aten.relu.default, torch.ops.aten.linear.default)
    targets, kinds = [], []
    for node in converted.graph.nodes:
        if node.op == "call_function" and node.target in wanted:
            out = node
            users = list(node.users)
            if len(users) == 1 and "quantize_per_tensor" in str(users[0].target):
                deq = list(users[0].users)
                if len(deq) >= 1 and "dequantize" in str(deq[0].target):
                    out = deq[0]
            targets.append(out)
            kinds.append("linear" if node.target == torch.ops.aten.linear.default else "conv-bn-relu")
    if len(targets) != len(ref):
        raise ValueError(f"layer_error: the float model has {len(ref)} ReLU/Linear outputs but the "
                         f"converted graph has {len(targets)} relu/linear nodes; they must match one to one")
    graph_run = torch.fx.Interpreter(converted, garbage_collect_values=False)   # .env keeps every node's value
    training.set_eval(converted)
    with torch.no_grad():
        graph_run.run(x)
    rows = [{"layer": name, "order": i, "kind": kind, "sqnr_db": sqnr_db(r, graph_run.env[node]),
             "numel_per_example": r[0].numel()}
            for i, ((name, r), node, kind) in enumerate(zip(ref, targets, kinds))]
    return pd.DataFrame(rows).set_index("layer")


def tfmot_qat(make_twin: Callable, train, val, *, epochs: int = 2, lr: float = 5e-4, batch_size: int = 64,
              seed: int = 0, keras=None):
    """``(qat_model, history, qat_batch1)``: tfmot QAT of ``make_twin(batch_size)``, a tf-keras twin with
    float weights; ``qat_batch1`` is for :func:`tinyml_utils.convert.tflite.from_qat`.
    Trap: needs :func:`tinyml_utils.models.keras.legacy_keras` before TensorFlow is first imported.
    """
    tf_keras = keras if keras is not None else legacy_keras()
    import tensorflow_model_optimization as tfmot

    qat = tfmot.quantization.keras.quantize_model(make_twin(None))
    hist = training.fit_keras(qat, train, val, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                              keras=tf_keras)
    # a fixed batch keeps SHAPE/PACK ops out of the converted file
    qat_batch1 = tfmot.quantization.keras.quantize_model(make_twin(1))
    qat_batch1.set_weights(qat.get_weights())
    return qat, hist, qat_batch1
