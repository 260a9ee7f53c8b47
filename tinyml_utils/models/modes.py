"""Switching a model between training and evaluation, and batched prediction.

Trap: an exported (PT2E) model refuses ``.train()``/``.eval()``; :func:`set_train`/:func:`set_eval`
switch it through torchao (batch norm and dropout included).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def set_train(model: nn.Module) -> None:
    """Training mode, exported (PT2E) GraphModules included."""
    if isinstance(model, torch.fx.GraphModule):
        from torchao.quantization.pt2e import move_exported_model_to_train

        move_exported_model_to_train(model)
    else:
        model.train()


def set_eval(model: nn.Module) -> None:
    """Evaluation mode (batch norm on running statistics), exported GraphModules included."""
    if isinstance(model, torch.fx.GraphModule):
        from torchao.quantization.pt2e import move_exported_model_to_eval

        move_exported_model_to_eval(model)
    else:
        model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Float32 logits for every row of ``x``, in evaluation mode."""
    set_eval(model)
    x = torch.as_tensor(x, dtype=torch.float32)
    outs = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy()
