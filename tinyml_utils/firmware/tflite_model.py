"""Read a ``.tflite`` flatbuffer (with the schema inside ``ai_edge_litert``) into plain Python.

Traps: layouts are NHWC for activations, OHWI for CONV_2D weights, 1HWC for DEPTHWISE_CONV_2D
weights; an input tensor index of -1 means "absent" (e.g. a FULLY_CONNECTED without bias).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


class TFLiteFormatError(ValueError):
    """The file is not a readable TFLite flatbuffer (truncated, corrupted, another format)."""


@dataclass
class Tensor:
    """``scale``/``zero_point``: one entry, one per output channel, or none; ``data``: constant values or None."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    scale: np.ndarray
    zero_point: np.ndarray
    data: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Op:
    """``kind``: the builtin name (``"CONV_2D"``); ``options``: snake_case keys, enums spelled out
    (``padding="SAME"``, ``fused_activation_function="RELU"``)."""

    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class TFLiteModel:
    """A single-subgraph ``.tflite``: ``ops`` in execution order, ``tensors`` by index."""

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


def _names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def _options(opt, enums: dict[str, dict[int, str]]) -> dict:
    """Builtin options with snake_case keys and the ``enums`` (key → code → name) spelled out."""
    if opt is None:
        return {}
    out = {}
    for key, value in vars(opt).items():
        key = "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_")
        out[key] = enums.get(key, {}).get(value, value)
    return out


def read(path) -> TFLiteModel:
    """Parse a ``.tflite`` file; :class:`TFLiteFormatError` (naming it) if it is not a valid one."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteFormatError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8; "
                                f"{len(buf)} bytes) - was it truncated or overwritten? Rebuild it.")
    try:
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
        graph = model.subgraphs[0]
        names = _names(schema.BuiltinOperator)
        enums = {"padding": _names(schema.Padding), "fused_activation_function": _names(schema.ActivationFunctionType)}
        tensors = [_tensor(i, t, model.buffers, buf) for i, t in enumerate(graph.tensors)]
        ops = []
        for i, op in enumerate(graph.operators or []):
            code = model.operatorCodes[op.opcodeIndex]
            kind = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), f"BUILTIN_{code.builtinCode}")
            if kind == "CUSTOM":
                kind = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
            ops.append(Op(i, kind, [int(x) for x in op.inputs], [int(x) for x in op.outputs],
                          _options(op.builtinOptions, enums)))
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
    return Tensor(i, t.name.decode() if isinstance(t.name, bytes) else str(t.name), shape, dtype, scale, zp, data)
