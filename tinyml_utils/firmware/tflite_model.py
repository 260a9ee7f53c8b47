"""Read an int8 ``.tflite`` flatbuffer into plain Python: ops in execution order, tensors with
shapes, quantization (per-tensor or per-channel scales and zero points), constant data (weights,
biases, paddings, axes) and each op's options (strides, padding, fused activation...).

>>> m = read("dscnn_int8.tflite")
>>> [op.kind for op in m.ops][:3]          # ['PAD', 'CONV_2D', 'DEPTHWISE_CONV_2D']
>>> m.tensors[m.ops[1].inputs[1]].scale     # one float32 scale per output channel

The flatbuffer is parsed with the schema module that ships inside ``ai_edge_litert`` (the same
package that runs the file), so nothing beyond the course's pinned stack is needed.
Traps: TFLite's tensor layouts are NHWC for activations, OHWI for CONV_2D weights and
1HWC for DEPTHWISE_CONV_2D weights; a tensor index of -1 in an op's inputs means "absent"
(e.g. a FULLY_CONNECTED without bias).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: TFLite tensor type code → numpy dtype (only what int8 models use)
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}
#: fused activation code → name
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


class TFLiteFormatError(ValueError):
    """The file is not a readable TFLite flatbuffer (truncated, corrupted, another format)."""


@dataclass
class Tensor:
    """One tensor of the graph. ``scale``/``zero_point`` have one entry per tensor (per-tensor
    quantization) or one per slice along ``quantized_dimension`` (per-channel), empty if the
    tensor is not quantized. ``data`` holds a constant tensor's values (weights, biases), else None."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int = 0
    data: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Op:
    """One operator: ``kind`` is the builtin name (``"CONV_2D"``), ``inputs``/``outputs`` are tensor
    indices (-1 = absent input), ``options`` the builtin options with snake_case keys and the
    enums spelled out (``padding="SAME"``, ``fused_activation_function="RELU"``)."""

    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class TFLiteModel:
    """A parsed single-subgraph ``.tflite``: ``ops`` in execution order, ``tensors`` by index."""

    path: Path
    name: str
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]

    def input_tensor(self) -> Tensor:
        return self.tensors[self.inputs[0]]

    def output_tensor(self) -> Tensor:
        return self.tensors[self.outputs[0]]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _options(opt) -> dict:
    if opt is None:
        return {}
    out = {}
    for key, value in vars(opt).items():
        key = _snake(key)
        if key == "padding":
            value = {0: "SAME", 1: "VALID"}.get(value, value)
        elif key == "fused_activation_function":
            value = ACTIVATIONS.get(value, value)
        out[key] = value
    return out


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def read(path) -> TFLiteModel:
    """Parse ``path`` (a ``.tflite`` file). Raises :class:`FileNotFoundError` for a missing file and
    :class:`TFLiteFormatError` (naming the file) for one that is not a valid TFLite flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteFormatError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8; "
                                f"{len(buf)} bytes) - was it truncated or overwritten? Rebuild it.")
    try:
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
        graph = model.subgraphs[0]
        names = _op_names()
        tensors = [_tensor(i, t, model.buffers, buf) for i, t in enumerate(graph.tensors)]
        ops = []
        for i, op in enumerate(graph.operators or []):
            code = model.operatorCodes[op.opcodeIndex]
            kind = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"BUILTIN_{code.builtinCode}")
            if kind == "CUSTOM":
                kind = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
            ops.append(Op(i, kind, [int(x) for x in op.inputs], [int(x) for x in op.outputs],
                          _options(op.builtinOptions)))
    except TFLiteFormatError:
        raise
    except Exception as exc:  # the flatbuffer reader raises struct/index/unicode errors on garbage
        raise TFLiteFormatError(f"{path}: corrupted TFLite flatbuffer ({type(exc).__name__}: {exc}). "
                                "Rebuild the file.") from exc
    if len(model.subgraphs) != 1:
        raise TFLiteFormatError(f"{path}: {len(model.subgraphs)} subgraphs; only single-graph models are read")
    return TFLiteModel(path, path.stem, tensors, ops, [int(x) for x in graph.inputs],
                       [int(x) for x in graph.outputs])


def _tensor(i: int, t, buffers, raw: bytes) -> Tensor:
    dtype = _DTYPES.get(t.type)
    if dtype is None:
        raise TFLiteFormatError(f"tensor {i} ({t.name!r}) has TFLite type code {t.type}, not read here")
    q = t.quantization
    scale = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
    zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    data = None
    b = buffers[t.buffer] if t.buffer < len(buffers) else None
    if b is not None:
        if b.data is not None and len(b.data):
            data = np.frombuffer(np.asarray(b.data, dtype=np.uint8).tobytes(), dtype=dtype).reshape(shape)
        elif b.offset and b.offset > 1:       # large models keep buffers after the flatbuffer
            data = np.frombuffer(raw[b.offset:b.offset + b.size], dtype=dtype).reshape(shape)
    return Tensor(i, t.name.decode() if isinstance(t.name, bytes) else str(t.name), shape, dtype, scale, zp,
                  int(q.quantizedDimension) if q is not None else 0, data)
