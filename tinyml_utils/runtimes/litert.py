"""``.tflite`` files run with LiteRT (``ai_edge_litert``)."""
from __future__ import annotations

import numpy as np

from .base import Int8IO, TensorFileRuntime

#: ``op_resolver`` → ``OpResolverType``: "auto" (default: the XNNPACK delegate), "builtin"
#: (LiteRT's own optimized kernels), "reference" (the slow reference kernels: TFLite's numerical spec)
OP_RESOLVERS = {"auto": None, "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "reference": "BUILTIN_REF"}


class LiteRT(TensorFileRuntime):
    """A ``.tflite`` in LiteRT's interpreter. ``op_resolver``: one of :data:`OP_RESOLVERS`
    (``xnnpack=False`` means ``"builtin"``, ``reference=True`` means ``"reference"``)."""

    framework = "LiteRT"
    imports = ("ai_edge_litert.interpreter",)
    spec_attrs = TensorFileRuntime.spec_attrs + ("op_resolver",)

    def __init__(self, path, *, op_resolver: str | None = None, xnnpack: bool = True, reference: bool = False,
                 **kwargs):
        super().__init__(path, **kwargs)
        if op_resolver is None:
            op_resolver = "reference" if reference else ("auto" if xnnpack else "builtin")
        if op_resolver not in OP_RESOLVERS:
            raise ValueError(f"op_resolver must be one of {list(OP_RESOLVERS)}, got {op_resolver!r}")
        self.op_resolver = op_resolver

    def _load(self) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kind = OP_RESOLVERS[self.op_resolver]
        kwargs = {} if kind is None else {"experimental_op_resolver_type": getattr(OpResolverType, kind)}
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads or 1, **kwargs)
        self.interpreter.allocate_tensors()
        self._inp = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.in_io, self.out_io = Int8IO.of(self._inp), Int8IO.of(self._out)

    @property
    def inp(self) -> dict:
        """The input tensor's details (``dtype``, ``shape``, ``quantization``...)."""
        if not self._loaded:
            self.load()
        return self._inp

    @property
    def out(self) -> dict:
        if not self._loaded:
            self.load()
        return self._out

    def run_raw(self, xq: np.ndarray) -> np.ndarray:
        """One call with an already-typed input tensor in the file's layout; the raw output."""
        if not self._loaded:
            self.load()
        self.interpreter.set_tensor(self._inp["index"], xq)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out["index"])

    def op_names(self) -> list[str]:
        """Operator names in the flatbuffer, without the runtime's DELEGATE nodes."""
        if not self._loaded:
            self.load()
        return [d["op_name"] for d in self.interpreter._get_ops_details() if d["op_name"] != "DELEGATE"]
