"""Quantization: the arithmetic, PT2E post-training quantization (PTQ) and quantization-aware
training (QAT) for ExecuTorch/XNNPACK, and full-integer TFLite (LiteRT) conversion.

The arithmetic (checked against PyTorch's own quantize ops in ``tests/test_quantize.py``)::

    q = clamp(round(x / scale) + zero_point, qmin, qmax)        x_hat = (q - zero_point) * scale

>>> qp = choose_qparams(w, bits=8, symmetric=True, per_channel_axis=0)
>>> w_hat = dequantize(quantize_affine(w, qp.scale, qp.zero_point, qp.qmin, qp.qmax, axis=0), qp.scale, qp.zero_point, axis=0)

PyTorch (PT2E: ``torch.export`` → XNNPACKQuantizer → ``prepare_pt2e``/``convert_pt2e``)::

    converted = ptq_pt2e(model, calib_x)                    # a GraphModule with (de)quantize ops
    qat = qat_pt2e(model, ds.train, ds.val, epochs=3)       # same, fine-tuned with fake quantization
    to_executorch_int8(converted, example, "m_int8.pte")    # int8 XNNPACK .pte

Trap (STACK.md): an exported/prepared model refuses ``.train()``/``.eval()``; use
:func:`set_train`/:func:`set_eval` (torchao's ``move_exported_model_to_train/eval``), which also
switch batch norm and dropout correctly.

TensorFlow: :func:`tflite_int8`, :func:`tflite_fp32`, :class:`LiteRTRunner`; tfmot QAT needs
tf-keras: call :func:`legacy_keras` before TensorFlow is imported.

:func:`artifacts` builds (once) the chapter's deployable files that chapters 05–07 reuse.
"""
from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import paths

# ----------------------------------------------------------------------------------------------
# 1. The arithmetic
# ----------------------------------------------------------------------------------------------


@dataclass
class QParams:
    """Quantization parameters. ``scale`` float32 and ``zero_point`` int64 tensors, shape () per
    tensor or (C,) per channel along ``axis``; integers live in [qmin, qmax]."""

    scale: "torch.Tensor"  # noqa: F821
    zero_point: "torch.Tensor"  # noqa: F821
    qmin: int
    qmax: int
    axis: int | None = None

    @property
    def bits(self) -> int:
        return int(np.ceil(np.log2(self.qmax - self.qmin + 1)))


def _as_tensor(x):
    import torch

    return x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float32))


def _bcast(v, x, axis: int | None):
    """Reshape a per-channel vector ``v`` so it broadcasts against ``x`` along ``axis``."""
    if axis is None or v.ndim == 0:
        return v
    shape = [1] * x.ndim
    shape[axis] = -1
    return v.reshape(shape)


def int_range(bits: int = 8, symmetric: bool = True, narrow_range: bool | None = None) -> tuple[int, int]:
    """Signed integer range of ``bits`` bits. Symmetric schemes drop the most negative value by
    default (narrow range, e.g. [-127, 127]) so that +x and -x quantize to +q and -q, as XNNPACK does."""
    narrow = symmetric if narrow_range is None else narrow_range
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return (qmin + 1 if narrow else qmin), qmax


def choose_qparams(x, bits: int = 8, symmetric: bool = True, per_channel_axis: int | None = None,
                   narrow_range: bool | None = None, eps: float = float(np.finfo(np.float32).eps)) -> QParams:
    """Min/max quantization parameters of ``x`` (the rule of PyTorch's MinMaxObserver).

    - symmetric: ``zero_point = 0``, ``scale = max|x| / ((qmax - qmin) / 2)``
    - asymmetric (affine): the range [min(x, 0), max(x, 0)] is spread over [qmin, qmax],
      ``zero_point = qmin - round(min / scale)`` so that 0.0 is exactly representable.

    ``per_channel_axis`` gives one scale per slice along that axis (e.g. 0 = output channels
    of a conv weight) instead of one for the whole tensor.
    """
    import torch

    x = _as_tensor(x).float()
    qmin, qmax = int_range(bits, symmetric, narrow_range)
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
    """float → integers: ``clamp(round(x / scale) + zero_point, qmin, qmax)`` (round half to even,
    like PyTorch). Per-channel ``scale``/``zero_point`` broadcast along ``axis``. Returns int32."""
    import torch

    x = _as_tensor(x).float()
    scale, zero_point = _as_tensor(scale).float(), torch.as_tensor(zero_point)
    q = torch.round(x / _bcast(scale, x, axis)) + _bcast(zero_point, x, axis)
    return torch.clamp(q, qmin, qmax).to(torch.int32)


def dequantize(q, scale, zero_point, axis: int | None = None):
    """integers → float: ``(q - zero_point) * scale``."""
    import torch

    q = torch.as_tensor(q)
    scale, zero_point = _as_tensor(scale).float(), torch.as_tensor(zero_point)
    return (q.to(torch.float32) - _bcast(zero_point, q, axis)) * _bcast(scale, q, axis)


def fake_quantize(x, bits: int = 8, symmetric: bool = True, per_channel_axis: int | None = None):
    """Quantize then dequantize ``x`` with its own min/max parameters: what the network sees."""
    qp = choose_qparams(x, bits, symmetric, per_channel_axis)
    return dequantize(quantize_affine(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, qp.axis),
                      qp.scale, qp.zero_point, qp.axis)


def sqnr_db(reference, approx) -> float:
    """Signal-to-quantization-noise ratio in dB: ``10 log10(sum(ref^2) / sum((ref - approx)^2))``.
    Every 1 bit more is worth about 6 dB; infinite if they are equal."""
    r = np.asarray(_as_tensor(reference), dtype=np.float64)
    a = np.asarray(_as_tensor(approx), dtype=np.float64)
    noise = float(((r - a) ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(float((r ** 2).sum()) / noise))


def weight_error_table(model, bits: Sequence[int] = (8, 4)):
    """Per conv/linear weight: SQNR (dB) of per-tensor vs per-channel symmetric quantization at
    each bit width (our own arithmetic). Returns a pandas DataFrame, one row per layer."""
    import pandas as pd
    from torch import nn

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


# ----------------------------------------------------------------------------------------------
# 2. PT2E: PTQ and QAT for ExecuTorch / XNNPACK
# ----------------------------------------------------------------------------------------------

def set_train(model) -> None:
    """Training mode for an exported (prepared) model: ``.train()`` raises there (STACK.md trap)."""
    from torchao.quantization.pt2e import move_exported_model_to_train

    move_exported_model_to_train(model)


def set_eval(model) -> None:
    """Evaluation mode for an exported (prepared/converted) model: batch norm uses running stats."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(model)


def xnnpack_quantizer(per_channel: bool = True, weight_bits: int = 8, is_qat: bool = False):
    """The XNNPACK quantizer: int8 activations (per tensor, affine) and symmetric weights of
    ``weight_bits`` bits (stored in int8; ``weight_bits < 8`` narrows [qmin, qmax], i.e. fake-quant
    at lower precision; XNNPACK itself runs them as int8)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)

    qmin, qmax = int_range(weight_bits, symmetric=True)
    cfg = get_symmetric_quantization_config(is_per_channel=per_channel, is_qat=is_qat,
                                            weight_qmin=qmin, weight_qmax=qmax)
    return XNNPACKQuantizer().set_global(cfg)


def _example(x):
    import torch

    return torch.as_tensor(np.asarray(x[:2], dtype=np.float32))


def _export_module(model, example):
    """``torch.export`` with a dynamic batch (so batch 1 works after calibrating on batches),
    returned as a GraphModule (what prepare_pt2e takes)."""
    from .export import export_program

    return export_program(model, example).module()


def ptq_pt2e(model, calib_x, per_channel: bool = True, weight_bits: int = 8, batch_size: int = 256,
             quantizer=None):
    """Post-training int8 quantization with PT2E: export (dynamic batch) → ``prepare_pt2e`` with
    the XNNPACK quantizer → run ``calib_x`` (N, ...) float32 through the observers →
    ``convert_pt2e``. Returns the converted GraphModule (float in, float out; its graph holds the
    int8 weights and quantize/dequantize pairs). ``model`` is not modified."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    m = copy.deepcopy(model).eval()
    calib = torch.as_tensor(np.asarray(calib_x, dtype=np.float32))
    gm = _export_module(m, calib[:2] if len(calib) >= 2 else calib)
    prepared = prepare_pt2e(gm, quantizer or xnnpack_quantizer(per_channel, weight_bits))
    with torch.no_grad():
        for i in range(0, len(calib), batch_size):
            prepared(calib[i:i + batch_size])
    converted = convert_pt2e(prepared)
    set_eval(converted)
    return converted


# QAT fine-tuning recipe: a few epochs at a small learning rate, starting from the trained float
# model, without augmentation (measured on the full baseline: 3 epochs keep float accuracy).
QAT_RECIPE = {
    False: dict(epochs=3, lr=5e-4, batch_size=64),
    True: dict(epochs=2, lr=5e-4, batch_size=32),
}


def fold_batchnorm(model):
    """A copy of ``model`` (eval mode) with every BatchNorm that directly follows a Conv inside an
    ``nn.Sequential`` folded into that conv's weights and bias (and replaced by Identity)."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    m = copy.deepcopy(model).eval()
    for seq in [mod for mod in m.modules() if isinstance(mod, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, (nn.Conv1d, nn.Conv2d)) and isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return m


def qat_pt2e(model, train, val=None, epochs: int = 3, lr: float = 5e-4, batch_size: int = 64,
             per_channel: bool = True, weight_bits: int = 8, seed: int = 0, augment=None,
             quantizer=None, calib_n: int = 256, return_history: bool = False, desc: str = "QAT",
             fold_bn: bool = False):
    """Quantization-aware training with PT2E: export → ``prepare_qat_pt2e`` (fake quantization,
    conv+BN folded the QAT way) → calibrate the observers on ``calib_n`` training images →
    fine-tune with :func:`tinyml_utils.train.fit` → ``convert_pt2e``.

    Training switches modes through :func:`set_train`/:func:`set_eval` because the exported model
    refuses ``.train()``/``.eval()``. Returns the converted GraphModule (and the History if
    ``return_history``). ``model`` is not modified.

    ``fold_bn=True`` folds batch norm into the convs first (:func:`fold_batchnorm`): BN statistics
    are frozen during fine-tuning, and prepare/convert skip torchao's QAT conv-BN rewrites, which
    cost tens of seconds on a small CPU. The default keeps BN in the graph (the standard flow).
    """
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    from . import train as train_mod

    m = fold_batchnorm(model) if fold_bn else copy.deepcopy(model).eval()
    gm = _export_module(m, _example(train.x))
    prepared = prepare_qat_pt2e(gm, quantizer or xnnpack_quantizer(per_channel, weight_bits, is_qat=True))
    # observers first see real data (in eval mode: BN running stats are not disturbed)
    set_eval(prepared)
    with torch.no_grad():
        prepared(torch.as_tensor(train.x[:calib_n]))
    hist = train_mod.fit(prepared, train, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         augment=augment, set_train=set_train, set_eval=set_eval, desc=desc)
    set_eval(prepared)
    converted = convert_pt2e(prepared)
    set_eval(converted)
    return (converted, hist) if return_history else converted


def to_executorch_int8(converted, example, path: str | Path | None = None,
                       dynamic_batch: bool = False) -> Path | bytes:
    """Lower a converted PT2E GraphModule to an XNNPACK ``.pte`` (the int8 ops run in XNNPACK's
    int8 kernels). It is re-exported first, for batch 1 like :func:`tinyml_utils.export.to_executorch`
    (a dynamic-batch XNNPACK program fails at run time beyond a small batch). Returns the path (or bytes)."""
    from .export import export_program, to_executorch

    program = export_program(converted, _example(example), dynamic_batch=dynamic_batch)
    return to_executorch(program, path=path)


def graph_constant_bytes(gm) -> dict[str, int]:
    """Bytes of the tensors a (converted) GraphModule holds, by dtype: the weight payload an
    artifact must carry at least (e.g. {'int8': 23472, 'float32': 1160})."""
    import torch

    seen, out = set(), {}
    tensors = []  # only what the graph reads (the state dict can keep unused float originals)
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            obj = gm
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            if isinstance(obj, torch.Tensor):
                tensors.append(obj)
    for t in tensors:
        key = (t.data_ptr(), t.numel(), t.dtype)
        if key in seen or t.numel() == 0:
            continue
        seen.add(key)
        k = str(t.dtype).replace("torch.", "")
        out[k] = out.get(k, 0) + t.numel() * t.element_size()
    return out


def float_payload_bytes(model) -> int:
    """Bytes of a float model's weights after batch-norm folding (what the fp32 .pte carries):
    conv/linear weights and one float32 bias per output channel."""
    from torch import nn

    total = 0
    for mod in model.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            total += mod.weight.numel() * 4 + mod.weight.shape[0] * 4
    return total


def layer_error(float_model, converted, x) -> "pd.DataFrame":  # noqa: F821
    """Per-layer quantization error: SQNR (dB) of each conv block's and linear layer's output in
    the int8 model against the float model, on inputs ``x``.

    Float side: outputs of every ``nn.ReLU`` and ``nn.Linear`` module (forward hooks; BN is inside
    the block). Quantized side: the ``aten.relu``/``aten.linear`` nodes of the converted graph in
    the same order, taken after their quantize→dequantize pair, so the error includes the
    rounding of that layer's output. Errors accumulate: layer k sees the errors of layers < k.
    """
    import pandas as pd
    import torch
    from torch import nn

    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    fm = copy.deepcopy(float_model).eval()
    names, ref = [], []

    def hook(name):
        def fn(module, inputs, output):  # returns None: the output is left unchanged
            names.append(name)
            ref.append(output.detach())
        return fn

    hooks = [mod.register_forward_hook(hook(n)) for n, mod in fm.named_modules()
             if isinstance(mod, (nn.ReLU, nn.Linear))]
    with torch.no_grad():
        fm(x)
    for h in hooks:
        h.remove()

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
    captured: dict = {}

    class _Capture(torch.fx.Interpreter):
        def run_node(self, n):
            r = super().run_node(n)
            if n in targets:
                captured[n] = r.detach()
            return r

    set_eval(converted)
    with torch.no_grad():
        _Capture(converted).run(x)
    rows = []
    for i, (name, r, node, kind) in enumerate(zip(names, ref, targets, kinds)):
        rows.append({"layer": name, "order": i, "kind": kind,
                     "sqnr_db": sqnr_db(r, captured[node]), "numel_per_example": r[0].numel()})
    return pd.DataFrame(rows).set_index("layer")


def accuracy(model, split, set_eval_fn: Callable | None = None) -> float:
    """Top-1 accuracy in [0, 1] of an eager or exported/converted model on a course split."""
    from . import train

    import torch

    if isinstance(model, torch.fx.GraphModule):
        return train.evaluate(model, split, set_eval=set_eval_fn or set_eval)
    return train.evaluate(model, split)


def runner_accuracy(runner, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a numpy runner (``runner.predict(x) -> logits``)."""
    return float((np.argmax(runner.predict(x), 1) == y).mean())


# ----------------------------------------------------------------------------------------------
# 3. TensorFlow / LiteRT
# ----------------------------------------------------------------------------------------------

def legacy_keras():
    """Make ``tf.keras`` the legacy tf-keras 2 (what tensorflow-model-optimization needs) and
    return the ``tf_keras`` module. Must run before TensorFlow is imported: TF reads
    ``TF_USE_LEGACY_KERAS`` once. Raises a RuntimeError that says what to do otherwise."""
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        if "tensorflow" in sys.modules:
            raise RuntimeError(
                "TensorFlow was already imported with Keras 3 as tf.keras, so tfmot cannot work in "
                "this process. Call tinyml_utils.quantize.legacy_keras() (or set TF_USE_LEGACY_KERAS=1) "
                "before anything imports tensorflow or keras: restart the kernel and call it first.")
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO/WARNING lines
    import tf_keras

    return tf_keras


def batch1_clone(keras_model):
    """The same functional Keras model (Keras 3 or tf-keras) rebuilt with a fixed batch of 1 and
    the weights copied. STACK.md: convert batch-1 models, or the converter emits SHAPE/PACK ops
    for the dynamic batch that NPU compilers leave on the CPU."""
    cfg = keras_model.get_config()
    for layer in cfg["layers"]:
        if layer["class_name"] == "InputLayer":
            lc = layer["config"]
            key = "batch_shape" if "batch_shape" in lc else "batch_input_shape"
            lc[key] = (1, *tuple(lc[key])[1:])
    clone = keras_model.__class__.from_config(cfg)
    clone.set_weights(keras_model.get_weights())
    return clone


def _convert(converter) -> bytes:
    """``converter.convert()`` without the SavedModel chatter Keras prints on stdout."""
    import contextlib
    import io

    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # "Assets written to ..." INFO lines
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return converter.convert()
    finally:
        logger.setLevel(level)


def _write(data: bytes, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tflite_fp32(keras_model, path) -> Path:
    """Float32 TFLite flatbuffer of a Keras (3 or tf-keras) model, batch fixed to 1."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(batch1_clone(keras_model))
    return _write(_convert(conv), path)


def tflite_int8(keras_model, representative_x_nhwc: np.ndarray, path, int8_io: bool = True,
                n_representative: int = 200) -> Path:
    """Full-integer TFLite conversion: int8 weights and activations, calibrated on up to
    ``n_representative`` NHWC float images; batch fixed to 1. ``int8_io=True`` makes the input
    and output tensors int8 too (what microcontrollers and NPUs want; :class:`LiteRTRunner`
    quantizes/dequantizes for you), ``False`` keeps float32 input/output around the int8 graph."""
    import tensorflow as tf

    rep = np.asarray(representative_x_nhwc[:n_representative], dtype=np.float32)

    def gen():
        for i in range(len(rep)):
            yield [rep[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(batch1_clone(keras_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return _write(_convert(conv), path)


def tflite_from_qat(qat_model, path, int8_io: bool = True) -> Path:
    """Convert a tfmot QAT model (tf-keras) to a full-integer TFLite file: the fake-quant ranges
    learnt in training are used, no representative dataset needed. Pass the batch-1 twin from
    :func:`tfmot_qat` (``qat_batch1``) to get a fixed batch of 1."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return _write(_convert(conv), path)


class LiteRTRunner:
    """Run a ``.tflite`` with ``ai_edge_litert`` (LiteRT, the successor of tf.lite.Interpreter):
    float32 NHWC in, float32 logits out; int8 input/output tensors are (de)quantized with the
    file's own scale and zero point. Batch-1 models are run one example at a time."""

    def __init__(self, path: str | Path, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]

    @property
    def input_dtype(self):
        return self.inp["dtype"]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        if self.inp["dtype"] in (np.int8, np.uint8):
            scale, zp = self.inp["quantization"]
            info = np.iinfo(self.inp["dtype"])
            return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(self.inp["dtype"])
        return x.astype(self.inp["dtype"])

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if self.out["dtype"] in (np.int8, np.uint8):
            scale, zp = self.out["quantization"]
            return (y.astype(np.float32) - zp) * scale
        return y.astype(np.float32)

    def invoke_raw(self, xq: np.ndarray) -> np.ndarray:
        """One call with an already-typed input tensor (for latency measurements)."""
        self.interpreter.set_tensor(self.inp["index"], xq)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.out["index"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Logits (float32) for a batch whose size matches the model's input (1 for batch-1 files)."""
        return self.dequantize_output(self.invoke_raw(self.quantize_input(np.asarray(x, np.float32))))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits for every row of ``x`` (N, H, W, C), one batch-1 call per row."""
        b = int(self.inp["shape"][0])
        return np.concatenate([self(x[i:i + b]) for i in range(0, len(x), b)])

    def op_names(self) -> list[str]:
        """Operator names in the flatbuffer (e.g. to check no SHAPE/PACK ops are left); the
        runtime's DELEGATE nodes are left out."""
        return [d["op_name"] for d in self.interpreter._get_ops_details() if d["op_name"] != "DELEGATE"]


def tfmot_qat(keras3_model, width: int, train, val, epochs: int = 2, lr: float = 5e-4, batch_size: int = 64,
              seed: int = 0):
    """tfmot ``quantize_model`` QAT on the tf-keras twin of a Keras-3 vision model (weights copied
    layer by layer), fine-tuned with :func:`tinyml_utils.keras_models.fit_keras`. Needs
    :func:`legacy_keras` called before TensorFlow was imported. Returns (qat_model, history,
    qat_batch1): the trained model and its batch-1 twin for :func:`tflite_from_qat`."""
    tf_keras = legacy_keras()
    import tensorflow_model_optimization as tfmot

    from .keras_models import fit_keras, vision_cnn_keras

    twin = vision_cnn_keras(width, keras=tf_keras, input_shape=tuple(keras3_model.inputs[0].shape[1:]))
    twin.set_weights(keras3_model.get_weights())
    qat = tfmot.quantization.keras.quantize_model(twin)
    hist = fit_keras(qat, train, val, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, keras=tf_keras)
    # the same QAT model with a fixed batch of 1 for conversion (weights, ranges and step copied)
    qat_batch1 = tfmot.quantization.keras.quantize_model(
        vision_cnn_keras(width, keras=tf_keras, batch_size=1, input_shape=tuple(keras3_model.inputs[0].shape[1:])))
    qat_batch1.set_weights(qat.get_weights())
    return qat, hist, qat_batch1


# ----------------------------------------------------------------------------------------------
# 4. The chapter's artifacts, for chapters 05–07
# ----------------------------------------------------------------------------------------------

ARTIFACT_NAMES = ("vision_fp32.pte", "vision_int8_ptq.pte", "vision_int8_qat.pte",
                  "vision_keras_fp32.tflite", "vision_keras_int8.tflite")
CALIB_N = 512  # calibration images for the saved PTQ artifacts


def _artifact_key(name: str) -> str:
    return name.rsplit(".", 1)[0]


def artifacts(quick: bool = False, seed: int = 0, rebuild: bool = False,
              names: Sequence[str] = ARTIFACT_NAMES) -> dict[str, Path]:
    """The chapter's deployable models (built if missing, from the saved baselines of chapter 02):

    - ``vision_fp32``: float32 XNNPACK .pte of the PyTorch baseline
    - ``vision_int8_ptq`` / ``vision_int8_qat``: int8 XNNPACK .pte (PT2E PTQ / QAT, per-channel)
    - ``vision_keras_fp32`` / ``vision_keras_int8``: TFLite of the Keras baseline, batch 1; the
      int8 one is full-integer with int8 input and output

    Returns {name without suffix: Path}. TensorFlow is imported only if a .tflite must be built.
    """
    import torch

    from . import data as data_mod
    from . import recipes
    from .export import to_executorch

    out_dir = paths.artifacts_dir(quick)
    want = {_artifact_key(n): out_dir / n for n in names}
    # a derived file older than the checkpoint it comes from is stale (e.g. chapter 02 retrained)
    sources = {"torch": recipes.vision_checkpoint_path("baseline", quick, seed),
               "keras": recipes.keras_checkpoint_path("baseline", quick, seed)}

    def stale(key: str, path: Path) -> bool:
        src = sources["keras" if key.startswith("vision_keras") else "torch"]
        return src.exists() and path.stat().st_mtime < src.stat().st_mtime

    missing = {k: p for k, p in want.items() if rebuild or not p.exists() or stale(k, p)}
    if not missing:
        return want
    ds = data_mod.load("vision", quick=quick, seed=0)
    example = torch.as_tensor(ds.val.x[:2])
    if any(k.startswith("vision_") and not k.startswith("vision_keras") for k in missing):
        ck = recipes.vision_model("baseline", quick=quick, seed=seed, data=ds)
        if "vision_fp32" in missing:
            to_executorch(ck.model.eval(), example, missing["vision_fp32"])
        if "vision_int8_ptq" in missing:
            conv = ptq_pt2e(ck.model, ds.train.subset(min(CALIB_N, len(ds.train)), seed=seed).x)
            to_executorch_int8(conv, example, missing["vision_int8_ptq"])
        if "vision_int8_qat" in missing:
            conv = qat_pt2e(ck.model, ds.train, ds.val, seed=seed, **QAT_RECIPE[bool(quick)])
            to_executorch_int8(conv, example, missing["vision_int8_qat"])
    if any(k.startswith("vision_keras") for k in missing):
        from .keras_models import to_nhwc

        kck = recipes.keras_vision_model("baseline", quick=quick, seed=seed, data=ds)
        if "vision_keras_fp32" in missing:
            tflite_fp32(kck.model, missing["vision_keras_fp32"])
        if "vision_keras_int8" in missing:
            rep = to_nhwc(ds.train.subset(min(CALIB_N, len(ds.train)), seed=seed).x)
            tflite_int8(kck.model, rep, missing["vision_keras_int8"], int8_io=True, n_representative=CALIB_N)
    return want
