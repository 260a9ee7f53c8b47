"""``.onnx`` files run with ONNX Runtime (CPU execution provider)."""
from __future__ import annotations

import numpy as np

from .base import Runtime, batches


class OnnxRuntime(Runtime):
    """An ``.onnx`` file in onnxruntime's CPU provider. ``optimize=False`` disables every graph
    optimization: a QDQ int8 model then runs its Q/DQ pairs in float (its fake-quant reference)."""

    framework = "ONNX Runtime"
    imports = ("onnxruntime",)
    spec_attrs = Runtime.spec_attrs + ("optimize",)

    def __init__(self, path, *, optimize: bool = True, **kwargs):
        super().__init__(path, **kwargs)
        self.optimize = optimize

    def _load(self) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(self.threads or 1)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                                       else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return batches(lambda b: self.session.run(None, {self.input_name: b})[0], x, 256)
