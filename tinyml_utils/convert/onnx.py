"""PyTorch → ONNX (dynamo exporter, dynamic batch) and onnxruntime's own static int8 quantization."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np


def export_onnx(model, example, path: str | Path, max_batch: int = 1024) -> Path:
    """``torch.onnx.export(dynamo=True)`` with a dynamic batch; weights inside the ``.onnx`` file."""
    import torch

    example = torch.as_tensor(np.asarray(example[:1], dtype=np.float32))
    ex2 = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    prog = torch.onnx.export(copy.deepcopy(model).eval(), (ex2,), dynamo=True, verbose=False,
                             dynamic_shapes=({0: batch},), external_data=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prog.save(str(path))
    return path


def quantize_onnx_int8(fp32_path: str | Path, calib_x: np.ndarray, path: str | Path) -> Path:
    """``quant_pre_process`` → ``quantize_static``: QDQ format, int8 activations and per-channel
    weights, min/max calibrated on ``calib_x`` (N, C, H, W) one image at a time."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static, shape_inference

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    calib = np.asarray(calib_x, dtype=np.float32)

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = ({input_name: calib[i:i + 1]} for i in range(len(calib)))

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        shape_inference.quant_pre_process(str(fp32_path), str(pre))
        quantize_static(str(pre), str(path), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
    return path
