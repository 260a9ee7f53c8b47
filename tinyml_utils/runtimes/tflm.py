"""int8 ``.tflite`` files in TFLite Micro's Python interpreter (the C++ kernels and arena planner, one
thread), with the arena it needs."""
from __future__ import annotations

import re

import numpy as np

from ..core.env import capture_output
from .base import Int8IO, TensorFileRuntime


def parse_arena_report(report: str) -> int:
    """Total arena bytes from TFLM's ``print_allocations`` text (``Arena allocation total N bytes``)."""
    m = re.search(r"Arena allocation total (\d+) bytes", report)
    if m:
        return int(m.group(1))
    raise RuntimeError("could not read the arena size from TFLM's allocation report:\n" + report[:2000])


def tflm_arena_bytes(tflite_path) -> dict:
    """``{"arena_bytes", "report"}`` after one inference on zeros in a fresh interpreter."""
    rt = TFLiteMicro(tflite_path)
    rt.load()
    rt.interp.set_input(np.zeros(rt.inp["shape"], dtype=rt.inp["dtype"]), 0)
    rt.interp.invoke()
    with capture_output() as text:   # the report goes to C-level stderr
        rt.interp.print_allocations()
    report = text[0]
    return {"arena_bytes": parse_arena_report(report), "report": report}


class TFLiteMicro(TensorFileRuntime):
    """An int8 ``.tflite`` in TFLite Micro's Python interpreter."""

    framework = "TFLite Micro"
    fixed_threads = True
    imports = ("tflite_micro",)

    def __init__(self, path, **kwargs):
        kwargs.setdefault("precision", "int8")
        kwargs["threads"] = 1
        super().__init__(path, **kwargs)

    def _load(self) -> None:
        from tflite_micro.python.tflite_micro import runtime

        self.interp = runtime.Interpreter.from_bytes(self.path.read_bytes())
        self.inp = self.interp.get_input_details(0)
        self.out = self.interp.get_output_details(0)
        self.in_io, self.out_io = Int8IO.of(self.inp), Int8IO.of(self.out)

    def run_raw(self, xq: np.ndarray) -> np.ndarray:
        """One inference on an already-quantized batch-1 input; the raw output tensor (a copy)."""
        if not self._loaded:
            self.load()
        self.interp.set_input(xq.reshape(self.inp["shape"]), 0)
        self.interp.invoke()
        return self.interp.get_output(0).copy()

    def arena_bytes(self) -> int:
        """Tensor-arena bytes TFLM used for one inference (its RecordingMicroAllocator's report)."""
        return int(tflm_arena_bytes(self.path)["arena_bytes"])
