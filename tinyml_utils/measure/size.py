"""Size: parameters, non-zero parameters, MACs, and bytes (file, state dict, zipped, graph payload)."""
from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_nonzero_params(model) -> int:
    """Parameters that are not exactly zero (masks applied)."""
    return int(sum(int((p != 0).sum()) for p in model.parameters()))


def count_macs(model, example_input) -> int:
    """Multiply-accumulates of one eval-mode forward: ``FlopCounterMode`` FLOPs / 2 (conv, linear, matmul)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example_input)
    model.train(was_training)
    return int(counter.get_total_flops() // 2)


def file_bytes(path: str | Path) -> int:
    return Path(path).stat().st_size


def state_dict_bytes(model, path: str | Path | None = None) -> int:
    """Bytes of ``torch.save(model.state_dict())`` on disk (``path`` or a temporary file). Trap: an
    in-memory buffer differs by a few hundred bytes (the zip stores the file name)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(path) if path is not None else Path(tmp) / "model.pt"
        torch.save(model.state_dict(), out)
        return file_bytes(out)


def zipped_bytes(path: str | Path) -> int:
    """Bytes of the file after DEFLATE level 9 (what sparsity saves in a download)."""
    import zlib

    return len(zlib.compress(Path(path).read_bytes(), 9))


def artifact_bytes(path: str | Path) -> dict[str, int]:
    """``{"bytes": on disk, "zipped_bytes": after DEFLATE level 9}`` of one file."""
    return {"bytes": file_bytes(path), "zipped_bytes": zipped_bytes(path)}


def graph_constant_bytes(gm) -> dict[str, int]:
    """Bytes by dtype of the tensors a (converted PT2E) graph reads: the least payload an artifact carries.
    Trap: the state dict can keep unused float originals, so only ``get_attr`` nodes count."""
    tensors = {}   # one entry per distinct storage
    for node in gm.graph.nodes:
        t = functools.reduce(getattr, str(node.target).split("."), gm) if node.op == "get_attr" else None
        if isinstance(t, torch.Tensor) and t.numel() > 0:
            tensors[(t.data_ptr(), t.numel(), t.dtype)] = t
    out = Counter()
    for t in tensors.values():
        out[str(t.dtype).replace("torch.", "")] += t.numel() * t.element_size()
    return dict(out)


def float_payload_bytes(model) -> int:
    """Bytes of a float model's conv/linear weights plus one float32 bias per output channel: what an
    fp32 ``.pte`` carries after batch-norm folding."""
    total = 0
    for mod in model.modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            total += mod.weight.numel() * 4 + mod.weight.shape[0] * 4
    return total


def pte_planned_bytes(pte: str | Path, method: str = "forward") -> int:
    """Bytes ExecuTorch's memory planner reserved for ``method`` of a ``.pte`` (activations, outputs,
    an LLM's KV cache), read from the file. Trap: XNNPACK's packed weight buffers, made at load
    time, are not counted (a fresh-process peak memory does count them)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    pte_file = deserialize_pte_binary(Path(pte).read_bytes())
    program = getattr(pte_file, "program", pte_file)
    plan = next(p for p in program.execution_plan if p.name == method)
    return int(sum(plan.non_const_buffer_sizes))
