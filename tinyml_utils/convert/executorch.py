"""Eager models, ``ExportedProgram`` s and converted PT2E GraphModules → ExecuTorch ``.pte`` (XNNPACK).
Trap: exported for batch 1; a dynamic batch with XNNPACK fails at run time (``set_inputs ... 0x10``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.io import atomic_write_bytes
from ..models.export import export_program


def _program(model, example):
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if example is None:
        raise ValueError("to_executorch needs an example input to export a model")
    if not isinstance(example, torch.Tensor):
        example = torch.as_tensor(np.asarray(example[:1], dtype=np.float32))
    if not isinstance(model, torch.fx.GraphModule):  # an exported GraphModule refuses .eval()
        model.eval()
    return export_program(model, example, dynamic_batch=False)


def to_executorch(model, example=None, path: str | Path | None = None, xnnpack: bool = True):
    """The ``.pte``, delegating what it can to XNNPACK: written to ``path`` (returned), or its bytes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    partitioners = [XnnpackPartitioner()] if xnnpack else []
    et = to_edge_transform_and_lower(_program(model, example), partitioner=partitioners).to_executorch()
    return et.buffer if path is None else atomic_write_bytes(path, et.buffer)


def delegation_summary(model, example=None):
    """Which operators XNNPACK takes: ``(DataFrame, info)`` from ExecuTorch's own delegation info."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(_program(model, example),
                                       partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    return info.get_operator_delegation_dataframe(), info
