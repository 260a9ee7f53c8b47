"""On-device learning: training steps inside the deployment runtimes, and drift statistics.

Two engines train a model *after* deployment here, both from Python on the host CPU:

- **ExecuTorch training extension** (experimental in 1.5): the model is wrapped so the loss is
  the first output (:class:`LossFirst`), exported with ``torch.export.export(strict=True)``, turned
  into a joint forward+backward graph by ``torch.export.experimental._export_forward_backward``
  and lowered with ``to_edge().to_executorch()``. The runtime returns gradients next to the
  outputs and ships its own SGD (``get_sgd_optimizer``). See :func:`export_training` and
  :class:`DeviceTrainer`.
- **LiteRT training signatures**: a ``tf.Module`` with ``train`` / ``infer`` / ``get_weights`` /
  ``set_weights`` functions converted with builtin ops only (:func:`litert_trainer`).

Traps (each one measured with ExecuTorch 1.5.1 and TensorFlow 2.21):

- BatchNorm must be in eval mode when exporting: a train-mode BN fails at ``to_edge`` with a spec
  violation. In eval mode BN is a fixed affine map whose scale and shift can still be trained.
- ExecuTorch's portable ``convolution_backward`` only supports 2-D convolutions ("Only 2D
  Convolution Backward supported"): a ``Conv1d`` model exports but fails at the first backward
  step. :func:`conv1d_as_conv2d` rewrites each ``Conv1d`` as a ``(1, k)`` ``Conv2d`` (same numbers).
- The exported program has a fixed batch size: every step takes exactly that many examples.
- Frozen parameters (``requires_grad=False``) get no gradient output: head-only fine-tuning is
  a different ``.pte``, smaller in memory because no activation gradients are kept.
- LiteRT: ``tf.nn.relu``'s gradient (``ReluGrad``) and ``Conv2DBackpropFilter`` are Flex (TF Select)
  ops that the LiteRT interpreter cannot run; this module uses a custom-gradient ReLU and writes
  the 1-D convolution as im2col + matmul, whose gradients are builtin ops. Keras 3 models convert
  but train wrongly; a plain ``tf.Module`` does not.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# ExecuTorch training
# ---------------------------------------------------------------------------------------------


class Conv1dAs2d(nn.Module):
    """A ``Conv1d`` computed as a ``(1, k)`` ``Conv2d`` on ``x.unsqueeze(2)``: same outputs, but its
    backward runs in ExecuTorch's portable kernels (which only have a 2-D convolution backward)."""

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


def load_twin_weights(twin: nn.Module, model: nn.Module) -> nn.Module:
    """Copy a :func:`conv1d_as_conv2d` twin's weights back into the original ``Conv1d`` model."""
    src = twin.state_dict()
    out = {}
    for k, v in model.state_dict().items():
        k2 = k.replace(".weight", ".conv.weight").replace(".bias", ".conv.bias")
        if k in src:
            out[k] = src[k]
        elif k2 in src:
            out[k] = src[k2].reshape(v.shape)
        else:
            raise KeyError(f"{k} not found in the twin's state_dict")
    model.load_state_dict(out)
    return model


class LossFirst(nn.Module):
    """Wrap a classifier so ``forward(x, y)`` returns ``(cross-entropy loss, detached logits)``.

    The ExecuTorch training extension differentiates the *first* output with respect to every
    parameter that requires a gradient; the other outputs are passed through.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        logits = self.net(x)
        return F.cross_entropy(logits, y), logits.detach()


def set_trainable(model: nn.Module, prefixes: Sequence[str] | None = None) -> list[str]:
    """Let only parameters whose name starts with one of ``prefixes`` train (``None``: all).
    Returns the trainable names."""
    names = []
    for n, p in model.named_parameters():
        p.requires_grad_(prefixes is None or any(n.startswith(s) for s in prefixes))
        if p.requires_grad:
            names.append(n)
    return names


@dataclass
class TrainingProgram:
    """A lowered training program. ``planned_bytes``: memory the runtime plans for one step
    (activations, gradients, temporaries; weights are extra), ``pte_bytes``: the file."""

    buffer: bytes
    trainable: list[str]
    trainable_params: int
    pte_bytes: int
    planned_bytes: int
    batch_size: int
    path: Path | None = None


def export_training(model: nn.Module, example_x: torch.Tensor, example_y: torch.Tensor,
                    trainable: Sequence[str] | None = None, path: str | Path | None = None) -> TrainingProgram:
    """Lower ``model`` (a classifier; put in eval mode here, so BatchNorm uses its running
    statistics) to an ExecuTorch ``.pte`` whose ``forward(x, y)`` returns the loss, the logits and
    the gradients of the ``trainable`` parameters (name prefixes; ``None`` trains all).

    ``Conv1d`` layers must have been rewritten with :func:`conv1d_as_conv2d` first.
    """
    if any(isinstance(m, nn.Conv1d) for m in model.modules()):
        raise ValueError("ExecuTorch's portable kernels have no Conv1d backward: rewrite the model "
                         "with ondevice.conv1d_as_conv2d(model) first.")
    from executorch.exir import to_edge
    from torch.export import export
    from torch.export.experimental import _export_forward_backward

    model.eval()  # train-mode BatchNorm fails at to_edge with a spec violation
    names = set_trainable(model, trainable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = export(LossFirst(model), (example_x, example_y), strict=True)
        ep = _export_forward_backward(ep)
        prog = to_edge(ep).to_executorch()
    buf = prog.buffer
    planned = sum(int(s) for plan in prog.executorch_program.execution_plan
                  for s in plan.non_const_buffer_sizes)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf)
    n_train = sum(p.numel() for n, p in model.named_parameters() if n in names)
    return TrainingProgram(buf, names, n_train, len(buf), planned, int(example_x.shape[0]), path)


class DeviceTrainer:
    """Run SGD steps inside the ExecuTorch runtime on a :class:`TrainingProgram`.

    >>> trainer = DeviceTrainer(program, lr=0.05)
    >>> loss, logits = trainer.step(xb, yb)     # one forward+backward+SGD step in the runtime
    >>> trainer.copy_into(twin)                   # weights back into the PyTorch twin
    """

    def __init__(self, program: TrainingProgram, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        from executorch.extension.training import (_load_for_executorch_for_training_from_buffer,
                                                   get_sgd_optimizer)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.module = _load_for_executorch_for_training_from_buffer(program.buffer)
        self.program = program
        self._make_sgd = lambda params: get_sgd_optimizer(params, lr, momentum, 0, weight_decay)
        self.sgd = None
        self.step_seconds: list[float] = []

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Loss and logits; the gradients stay in :meth:`named_gradients` (no weight update)."""
        out = self.module.forward_backward("forward", (x, y))
        return float(out[0]), out[1]

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """One training step (forward, backward, SGD update of the runtime's own weights)."""
        t0 = time.perf_counter()
        loss, logits = self.forward_backward(x, y)
        if self.sgd is None:
            self.sgd = self._make_sgd(self.module.named_parameters())
        self.sgd.step(self.module.named_gradients())
        self.step_seconds.append(time.perf_counter() - t0)
        return loss, logits

    def named_parameters(self) -> dict[str, torch.Tensor]:
        """The runtime's trainable weights, named as in the wrapped model (``net.`` stripped)."""
        return {k.removeprefix("net."): v for k, v in self.module.named_parameters().items()}

    def named_gradients(self) -> dict[str, torch.Tensor]:
        return {k.removeprefix("net."): v for k, v in self.module.named_gradients().items()}

    def copy_into(self, model: nn.Module) -> nn.Module:
        """Load the runtime's trained weights into ``model`` (the exported twin) and return it."""
        params = dict(model.named_parameters())
        with torch.no_grad():
            for k, v in self.named_parameters().items():
                params[k].copy_(v.detach())
        return model

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int, seed: int = 0,
            replay: tuple[np.ndarray, np.ndarray] | None = None, replay_fraction: float = 0.5) -> list[float]:
        """``steps`` SGD steps on random batches of ``(x, y)`` (drawn with replacement, as the
        program's batch size is fixed). With ``replay``, that fraction of each batch comes from a
        small buffer of old examples kept on the device (rehearsal against forgetting)."""
        rng = np.random.default_rng(seed)
        b = self.program.batch_size
        n_old = int(round(b * replay_fraction)) if replay is not None else 0
        losses = []
        for _ in range(steps):
            i = rng.integers(0, len(x), b - n_old)
            xb, yb = x[i], y[i]
            if n_old:
                j = rng.integers(0, len(replay[0]), n_old)
                xb, yb = np.concatenate([xb, replay[0][j]]), np.concatenate([yb, replay[1][j]])
            loss, _ = self.step(torch.as_tensor(xb, dtype=torch.float32), torch.as_tensor(yb, dtype=torch.long))
            losses.append(loss)
        return losses


def eager_sgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
                   trainable: Sequence[str] | None = None) -> float:
    """The reference: one ``torch.optim.SGD`` step in eager PyTorch, BN in eval mode. Returns the loss."""
    model.eval()
    set_trainable(model, trainable)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


# ---------------------------------------------------------------------------------------------
# Drift: what changes on a device, and statistics the deployed model already has
# ---------------------------------------------------------------------------------------------


def rotate_imu(x: np.ndarray, axis: str = "x", degrees: float = 90.0) -> np.ndarray:
    """Windows (N, 6, T) of [acc_xyz, gyr_xyz] as seen by a sensor rotated about ``axis``: the
    same motion, expressed in other axes (a watch worn another way)."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.eye(3, dtype=np.float32)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    out = np.array(x, dtype=np.float32, copy=True)
    for k in (0, 3):
        out[:, k:k + 3] = np.einsum("ij,njt->nit", r, x[:, k:k + 3])
    return out


@torch.no_grad()
def bn_drift_score(model: nn.Module, x: np.ndarray) -> float:
    """How far the inputs of the model's first BatchNorm layer are from the statistics it stored in
    training: the mean over channels of ``|log(var_batch / running_var)| + (mean_batch -
    running_mean)^2 / running_var``. About 0 for data like the training data; no labels needed."""
    bn = next(m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    feats = {}
    hook = bn.register_forward_hook(lambda m, inp, out: feats.setdefault("x", inp[0]))
    model.eval()
    model(torch.as_tensor(x, dtype=torch.float32))
    hook.remove()
    f = feats["x"].transpose(0, 1).reshape(bn.num_features, -1)
    mean, var = f.mean(1), f.var(1)
    rv = bn.running_var + bn.eps
    return float(((var / rv).log().abs() + (mean - bn.running_mean) ** 2 / rv).mean())


@torch.no_grad()
def mean_entropy(model: nn.Module, x: np.ndarray) -> float:
    """Mean predictive entropy (nats) of the model's softmax on ``x``."""
    model.eval()
    p = torch.softmax(model(torch.as_tensor(x, dtype=torch.float32)), 1)
    return float(-(p * torch.log(p.clamp_min(1e-12))).sum(1).mean())


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, x: np.ndarray) -> nn.Module:
    """AdaBN: a copy of ``model`` whose BatchNorm running statistics are re-estimated on the
    unlabelled windows ``x`` (one forward pass; 2 numbers per channel change, no labels, no backprop)."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the pass
    model.train()
    model(torch.as_tensor(x, dtype=torch.float32))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# LiteRT training signatures (TensorFlow)
# ---------------------------------------------------------------------------------------------


def _motion_weights(model: nn.Module) -> list[np.ndarray]:
    """A ``models.MotionCNN``'s eval-mode weights with BatchNorm folded into each convolution, laid
    out for im2col: ``[w1 (k*C_in, C1), b1, w2 (k*C1, C2), b2, wd (C2, classes), bd]``."""
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
    """A ``tf.Module`` twin of a ``models.MotionCNN`` (BN folded) with the four training signatures.

    ``train(x, y, lr)`` does one plain SGD step on the trainable variables (all with ``full``,
    else the classifier only) and returns the loss; ``infer(x)`` returns logits (any batch);
    ``get_weights()``/``set_weights(...)`` read and write the trainable variables (``v0``, ``v1``, ...).
    Input ``x``: (batch, channels, samples) float32, as for the PyTorch model.
    """
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


def _signatures(m, batch_size: int, samples: int):
    import tensorflow as tf

    c_in = m.specs["c_in"]
    train = m.train.get_concrete_function(tf.TensorSpec([batch_size, c_in, samples], tf.float32, name="x"),
                                          tf.TensorSpec([batch_size], tf.int32, name="y"),
                                          tf.TensorSpec([], tf.float32, name="lr"))
    infer = m.infer.get_concrete_function(tf.TensorSpec([None, c_in, samples], tf.float32, name="x"))
    get_w = m.get_weights.get_concrete_function()
    set_w = m.set_weights.get_concrete_function(
        **{f"v{i}": tf.TensorSpec(v.shape, tf.float32, name=f"v{i}") for i, v in enumerate(m.trainable_vars)})
    return {"train": train, "infer": infer, "get_weights": get_w, "set_weights": set_w}


def litert_trainer(model: nn.Module, batch_size: int, samples: int, full: bool = True,
                   workdir: str | Path | None = None) -> bytes:
    """Convert :func:`motion_tf_module` to a ``.tflite`` flatbuffer with its four signatures,
    builtin ops only (no Flex), resource variables enabled. Returns the flatbuffer bytes."""
    import tempfile

    import tensorflow as tf

    m = motion_tf_module(model, full)
    sigs = _signatures(m, batch_size, samples)
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        tf.saved_model.save(m, d, signatures=sigs)
        conv = tf.lite.TFLiteConverter.from_saved_model(d, signature_keys=list(sigs))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        conv.experimental_enable_resource_variables = True
        return conv.convert()


@dataclass
class LiteRTTrainer:
    """The four signatures of a :func:`litert_trainer` flatbuffer in the ``ai_edge_litert`` interpreter."""

    flatbuffer: bytes
    step_seconds: list[float] = field(default_factory=list)

    def __post_init__(self):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=self.flatbuffer, num_threads=1)
        self._train = self.interpreter.get_signature_runner("train")
        self._infer = self.interpreter.get_signature_runner("infer")
        self._get = self.interpreter.get_signature_runner("get_weights")
        self._set = self.interpreter.get_signature_runner("set_weights")

    def train(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        t0 = time.perf_counter()
        loss = float(self._train(x=np.asarray(x, np.float32), y=np.asarray(y, np.int32), lr=np.float32(lr))["loss"])
        self.step_seconds.append(time.perf_counter() - t0)
        return loss

    def infer(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        outs = [self._infer(x=np.asarray(x[i:i + batch_size], np.float32))["logits"]
                for i in range(0, len(x), batch_size)]
        return np.concatenate(outs)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self._get().items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self._set(**{k: np.asarray(v, np.float32) for k, v in weights.items()})

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int, lr: float, seed: int = 0,
            replay: tuple[np.ndarray, np.ndarray] | None = None, replay_fraction: float = 0.5) -> list[float]:
        """Same batches as :meth:`DeviceTrainer.fit` for the same seed."""
        rng = np.random.default_rng(seed)
        n_old = int(round(batch_size * replay_fraction)) if replay is not None else 0
        losses = []
        for _ in range(steps):
            i = rng.integers(0, len(x), batch_size - n_old)
            xb, yb = x[i], y[i]
            if n_old:
                j = rng.integers(0, len(replay[0]), n_old)
                xb, yb = np.concatenate([xb, replay[0][j]]), np.concatenate([yb, replay[1][j]])
            losses.append(self.train(xb, yb, lr))
        return losses
