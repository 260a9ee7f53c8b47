"""ExecuTorch's Arm backend without an NPU: Ethos-U ``.pte`` (Vela inside) and the TOSA reference check.
Every cycle count is an estimate; an Ethos-U ``.pte`` runs only on a Corstone FVP or a board."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.env import capture_logger, capture_output, quiet
from ..core.io import atomic_write_bytes
from ..models.export import export_program
from . import vela


def arm_quantize(model, example, calib_x: np.ndarray, compile_spec):
    """PT2E int8 quantization with the Arm quantizer for ``compile_spec`` (Ethos-U or TOSA),
    calibrated one image at a time on ``calib_x`` (N, C, H, W); the converted GraphModule."""
    from executorch.backends.arm.ethosu import EthosUCompileSpec
    from executorch.backends.arm.quantizer import EthosUQuantizer, TOSAQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    q = EthosUQuantizer(compile_spec) if isinstance(compile_spec, EthosUCompileSpec) else TOSAQuantizer(compile_spec)
    q.set_global(get_symmetric_quantization_config())
    exported = export_program(model.eval(), example, dynamic_batch=False, strict=True)
    prepared = prepare_pt2e(exported.module(check_guards=False), q)
    with torch.no_grad():
        for i in range(len(calib_x)):
            prepared(torch.as_tensor(calib_x[i:i + 1]))
    return convert_pt2e(prepared)


@dataclass
class ArmLowering:
    """An Arm-backend lowering; ``vela``: Vela's console summary (estimates)."""

    target: str
    pte_bytes: int
    path: Path | None
    delegation: object
    delegated_nodes: int
    non_delegated_nodes: int
    rejected: str
    vela: dict

    def summary(self) -> dict:
        return {"target": self.target, "pte_bytes": self.pte_bytes, "delegated_nodes": self.delegated_nodes,
                "non_delegated_nodes": self.non_delegated_nodes,
                **{k: self.vela.get(k) for k in ("npu_ops", "cpu_ops", "npu_cycles", "total_cycles",
                                                 "latency_ms", "sram_bytes", "flash_bytes")}}


def ethos_u_pte(model, example, target: str, calib_x: np.ndarray, path=None) -> ArmLowering:
    """Quantize, partition (Vela compiles each delegated subgraph) and serialize a ``.pte`` for an
    Ethos-U ``target`` (``"ethos-u55-128"``). Trap: the host runtime has no Ethos-U backend to run it."""
    from executorch.backends.arm.ethosu import EthosUCompileSpec, EthosUPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    spec = EthosUCompileSpec(target, extra_flags=["--verbose-performance"])
    with quiet():
        converted = arm_quantize(model, example, calib_x, spec)
    with capture_logger("executorch.backends.arm.tosa.partitioner") as log, quiet(logs=True) as console:
        edge = to_edge_transform_and_lower(export_program(converted, example, dynamic_batch=False),
                                           partitioner=[EthosUPartitioner(spec)])
        buf = edge.to_executorch().buffer
    info = get_delegation_info(edge.exported_program().graph_module)
    if path is not None:
        path = atomic_write_bytes(path, buf)
    rejected = "\n".join(ln for ln in log[0].splitlines() if ln.strip() and not ln.startswith("TOSAPartitioner::"))
    return ArmLowering(target, len(buf), path, info.get_operator_delegation_dataframe(),
                       info.num_delegated_nodes, info.num_non_delegated_nodes, rejected,
                       vela.console_summary(console[0]))


def tosa_reference_check(model, example, calib_x: np.ndarray, inputs: np.ndarray) -> dict:
    """Run the ``TOSAPartitioner`` graph in the TOSA reference model on ``inputs`` (N, C, H, W float,
    quantized with the graph's input scale) and compare its int8 output with the PT2E fake-quant
    model's, requantized to the same scale. ``max_lsb_diff`` is in units of the output scale."""
    import tosa_reference_model as ref
    from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
    from executorch.backends.arm.tosa.partitioner import TOSAPartitioner
    from executorch.exir import to_edge_transform_and_lower

    spec = TosaCompileSpec("TOSA-1.0+INT")
    with quiet():
        converted = arm_quantize(model, example, calib_x, spec)
        edge = to_edge_transform_and_lower(export_program(converted, example, dynamic_batch=False),
                                           partitioner=[TOSAPartitioner(spec)])
    gm = edge.exported_program().graph_module
    lowered = [m for n, m in gm.named_children() if n.startswith("lowered_module")]
    if len(lowered) != 1:
        raise RuntimeError(f"expected the whole model in one TOSA delegate, got {len(lowered)} partitions")
    lm = lowered[0]
    qs = [n for n in gm.graph.nodes if n.op == "call_function" and "quantize_per_tensor" in str(n.target)
          and "dequantize" not in str(n.target)]
    dqs = [n for n in gm.graph.nodes if n.op == "call_function" and "dequantize_per_tensor" in str(n.target)]
    (s_in, zp_in, qmin, qmax), (s_out, zp_out) = qs[0].args[1:5], dqs[-1].args[1:3]
    ph = [n for n in lm.original_module.graph.nodes if n.op == "placeholder"
          and n.meta["val"].shape == tuple(example.shape)][0]
    nhwc = ph.meta["val"].dim_order() == (0, 2, 3, 1)
    tosa_q, fq_q = [], []
    with capture_output():
        for i in range(len(inputs)):
            x = torch.as_tensor(inputs[i:i + 1])
            xq = torch.clamp(torch.round(x / s_in) + zp_in, qmin, qmax).to(torch.int8)
            xin = xq.permute(0, 2, 3, 1).contiguous().numpy() if nhwc else xq.numpy()
            outs, status = ref.run(lm.processed_bytes, [xin], verbosity="NONE",
                                   initialize_variable_tensor_from_numpy=True)
            if status != ref.GraphStatus.TOSA_VALID:
                raise RuntimeError(f"the TOSA reference model rejected the graph: {status}")
            tosa_q.append(np.asarray(outs[0]).astype(np.int32).reshape(-1))
            with torch.no_grad():
                fq = converted(x)
            fq_q.append(torch.clamp(torch.round(fq / s_out) + zp_out, -128, 127).numpy().astype(np.int32).reshape(-1))
    tosa_q, fq_q = np.stack(tosa_q), np.stack(fq_q)
    diff = np.abs(tosa_q - fq_q)
    return {"max_lsb_diff": int(diff.max()), "identical_fraction": float((diff == 0).mean()),
            "argmax_agreement": float((tosa_q.argmax(1) == fq_q.argmax(1)).mean()), "n": len(inputs),
            "tosa_int8": tosa_q, "fake_quant_int8": fq_q, "output_scale": float(s_out),
            "output_zero_point": int(zp_out), "tosa_bytes": len(lm.processed_bytes)}


def keras_with_unit_norm(keras_model):
    """``keras_model`` with an L2-normalised output; its int8 TFLite keeps ``SQUARE`` in float (CPU)."""
    import keras

    return keras.Model(keras_model.inputs, keras.layers.UnitNormalization(name="l2norm")(keras_model.outputs[0]),
                       name=f"{keras_model.name}_l2")


def l2_normalized(model):
    """``F.normalize(model(x), dim=1)`` as a module; the Arm partitioner rejects parts of it."""
    class L2Normalized(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return F.normalize(self.inner(x), dim=1)

    return L2Normalized(model).eval()
