"""Files that train on the device (ExecuTorch 1.5, TF 2.21): a ``.pte`` (loss first, then
``_export_forward_backward``) and a ``.tflite`` with ``train``, ``infer``, ``get_weights``, ``set_weights``.
Trap: a program has a fixed batch size; frozen parameters get no gradient (a smaller ``.pte``)."""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.io import atomic_write_bytes


class Conv1dAs2d(nn.Module):
    """A ``Conv1d`` computed as a ``(1, k)`` ``Conv2d`` on ``x.unsqueeze(2)``: the same outputs."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.conv = nn.Conv2d(conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]),
                              stride=(1, conv.stride[0]), padding=(0, conv.padding[0]),
                              dilation=(1, conv.dilation[0]), groups=conv.groups,
                              bias=conv.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(conv.weight.unsqueeze(2))
            if conv.bias is not None:
                self.conv.bias.copy_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(2)).squeeze(2)


def conv1d_as_conv2d(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Conv1d`` replaced by :class:`Conv1dAs2d` (eval mode)."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv1d):
                setattr(parent, name, Conv1dAs2d(child))
    return model.eval()


class LossFirst(nn.Module):
    """``forward(x, y)`` → ``(cross-entropy loss, detached logits)``: ExecuTorch differentiates the first output."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        logits = self.net(x)
        return F.cross_entropy(logits, y), logits.detach()


def set_trainable(model: nn.Module, prefixes: Sequence[str] | None = None) -> list[str]:
    """Let only parameters whose name starts with one of ``prefixes`` train (``None``: all); their names."""
    for n, p in model.named_parameters():
        p.requires_grad_(prefixes is None or n.startswith(tuple(prefixes)))
    return [n for n, p in model.named_parameters() if p.requires_grad]


@dataclass
class TrainingProgram:
    """A lowered training program. ``planned_bytes``: memory the runtime plans for one step
    (activations, gradients, temporaries; weights are extra)."""

    buffer: bytes
    trainable: list[str]
    trainable_params: int
    pte_bytes: int
    planned_bytes: int
    batch_size: int
    path: Path | None = None


def export_training(model: nn.Module, example_x: torch.Tensor, example_y: torch.Tensor,
                    trainable: Sequence[str] | None = None, path: str | Path | None = None) -> TrainingProgram:
    """An ExecuTorch ``.pte`` whose ``forward(x, y)`` returns the loss, the logits and the gradients of
    the ``trainable`` parameters (name prefixes; ``None``: all). Puts ``model`` in eval mode."""
    if any(isinstance(m, nn.Conv1d) for m in model.modules()):
        raise ValueError("ExecuTorch's portable kernels have no Conv1d backward: rewrite the model "
                         "with convert.training.conv1d_as_conv2d(model) first.")
    from executorch.exir import to_edge
    from torch.export.experimental import _export_forward_backward

    model.eval()  # train-mode BatchNorm fails at to_edge; its scale and shift still train
    names = set_trainable(model, trainable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(LossFirst(model), (example_x, example_y), strict=True)
        ep = _export_forward_backward(ep)
        prog = to_edge(ep).to_executorch()
    buf = prog.buffer
    planned = sum(int(s) for plan in prog.executorch_program.execution_plan
                  for s in plan.non_const_buffer_sizes)
    if path is not None:
        path = atomic_write_bytes(path, buf)
    n_train = sum(p.numel() for n, p in model.named_parameters() if n in names)
    return TrainingProgram(buf, names, n_train, len(buf), planned, int(example_x.shape[0]), path)


def eager_sgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
                   trainable: Sequence[str] | None = None) -> float:
    """The reference: one ``torch.optim.SGD`` step in eager PyTorch, BN in eval mode; the loss."""
    model.eval()
    set_trainable(model, trainable)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def _motion_weights(model: nn.Module) -> list[np.ndarray]:
    """A MotionCNN's weights, BatchNorm folded, laid out for im2col:
    ``[w1 (k*C_in, C1), b1, w2 (k*C1, C2), b2, wd (C2, classes), bd]``."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    out = []
    for conv, bn in zip(convs, bns):
        w = conv.weight.detach().numpy()                                      # (O, I, K)
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
        shift = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
        wf = (w * scale[:, None, None]).transpose(2, 1, 0).reshape(-1, w.shape[0])  # (K*I, O)
        b = shift + (conv.bias.detach().numpy() * scale if conv.bias is not None else 0)
        out += [wf.astype(np.float32), b.astype(np.float32)]
    out += [lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()]
    return out


def motion_tf_module(model: nn.Module, full: bool = True, kernel: int = 5):
    """A ``tf.Module`` twin of a MotionCNN (BN folded): ``train(x, y, lr)`` (one SGD step on all
    variables with ``full``, else the classifier's; the loss), ``infer(x)``, ``get_weights()`` /
    ``set_weights(v0=..., ...)``. ``x``: (batch, channels, samples) float32, as for PyTorch.
    Trap: a Keras 3 model converts to the same signatures but trains wrongly in LiteRT."""
    import tensorflow as tf

    weights = _motion_weights(model)
    c_in = weights[0].shape[0] // kernel

    @tf.custom_gradient
    def relu(x):  # tf.nn.relu's gradient (ReluGrad) is a Flex op
        def grad(dy):
            return dy * tf.cast(x > 0, dy.dtype)
        return tf.maximum(x, 0.0), grad

    def conv1d(h, w, b):  # im2col + matmul: gradients are Slice/Pad/MatMul, all builtin
        p, n, t = kernel // 2, tf.shape(h)[0], h.shape[1]
        hp = tf.pad(h, [[0, 0], [p, p], [0, 0]])
        cols = tf.concat([tf.slice(hp, [0, i, 0], [-1, t, -1]) for i in range(kernel)], axis=-1)
        y = tf.matmul(tf.reshape(cols, [-1, cols.shape[-1]]), w) + b
        return tf.reshape(relu(y), [n, t, w.shape[1]])

    class MotionTF(tf.Module):
        def __init__(self):
            super().__init__()
            self.vars = [tf.Variable(w, name=f"v{i}") for i, w in enumerate(weights)]
            self.trainable_vars = self.vars if full else self.vars[-2:]

        def logits(self, x):
            h = tf.transpose(x, [0, 2, 1])
            h = conv1d(h, self.vars[0], self.vars[1])
            h = conv1d(h, self.vars[2], self.vars[3])
            return tf.matmul(tf.reduce_mean(h, axis=1), self.vars[4]) + self.vars[5]

        @tf.function
        def train(self, x, y, lr):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=self.logits(x)))
            grads = tape.gradient(loss, self.trainable_vars)
            for v, g in zip(self.trainable_vars, grads):
                v.assign_sub(lr * g)
            return {"loss": loss}

        @tf.function
        def infer(self, x):
            return {"logits": self.logits(x)}

        @tf.function
        def get_weights(self):
            return {f"v{i}": v.read_value() for i, v in enumerate(self.trainable_vars)}

        @tf.function
        def set_weights(self, **new):
            for i, v in enumerate(self.trainable_vars):
                v.assign(new[f"v{i}"])
            return {"ok": tf.constant(1)}

    m = MotionTF()
    m.specs = {"c_in": c_in}
    return m


def litert_trainer(model: nn.Module, batch_size: int, samples: int, full: bool = True) -> bytes:
    """:func:`motion_tf_module` as ``.tflite`` bytes with its four signatures, builtin ops only."""
    import tempfile

    import tensorflow as tf

    m = motion_tf_module(model, full)
    c_in, spec = m.specs["c_in"], tf.TensorSpec
    sigs = {"train": m.train.get_concrete_function(spec([batch_size, c_in, samples], tf.float32, name="x"),
                                                   spec([batch_size], tf.int32, name="y"),
                                                   spec([], tf.float32, name="lr")),
            "infer": m.infer.get_concrete_function(spec([None, c_in, samples], tf.float32, name="x")),
            "get_weights": m.get_weights.get_concrete_function(),
            "set_weights": m.set_weights.get_concrete_function(
                **{f"v{i}": spec(v.shape, tf.float32, name=f"v{i}") for i, v in enumerate(m.trainable_vars)})}
    with tempfile.TemporaryDirectory() as d:
        tf.saved_model.save(m, d, signatures=sigs)
        conv = tf.lite.TFLiteConverter.from_saved_model(d, signature_keys=list(sigs))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        conv.experimental_enable_resource_variables = True
        return conv.convert()
