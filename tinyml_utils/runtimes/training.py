"""SGD steps inside ExecuTorch and LiteRT on the files of :mod:`tinyml_utils.convert.training`; both
draw the same batches for the same seed. Traps: a program's batch size is fixed; ExecuTorch's training
extension is experimental in 1.5; every call changes the weights, so time steps on spare trainers."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..core.io import ArtifactError
from .base import FIX, batches, check_model_bytes, check_model_file


def _program_bytes(program, suffix: str) -> tuple[bytes, str]:
    # the checked bytes of a training file given as a path or bytes, and a name for messages
    if isinstance(program, (str, Path)):
        return check_model_file(program).read_bytes(), str(program)
    name = f"<training {suffix} in memory>"
    check_model_bytes(bytes(program), suffix, name)
    return bytes(program), name


def replay_batches(x: np.ndarray, y: np.ndarray, steps: int, batch_size: int, seed: int = 0,
                   replay: tuple[np.ndarray, np.ndarray] | None = None,
                   replay_fraction: float = 0.5) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``steps`` random batches of ``(x, y)`` drawn with replacement; with ``replay``, that fraction of
    each batch comes from a buffer of old examples (rehearsal against forgetting)."""
    rng = np.random.default_rng(seed)
    n_old = int(round(batch_size * replay_fraction)) if replay is not None else 0
    for _ in range(steps):
        i = rng.integers(0, len(x), batch_size - n_old)
        xb, yb = x[i], y[i]
        if n_old:
            j = rng.integers(0, len(replay[0]), n_old)
            xb, yb = np.concatenate([xb, replay[0][j]]), np.concatenate([yb, replay[1][j]])
        yield xb, yb


class DeviceTrainer:
    """SGD steps inside the ExecuTorch runtime. ``program``: a training ``.pte``'s bytes or path, or
    what ``convert.training.export_training`` returns (``.buffer``, ``.batch_size``)."""

    def __init__(self, program, lr: float):
        import warnings

        from executorch.extension.training import _load_for_executorch_for_training_from_buffer, get_sgd_optimizer

        buffer, name = _program_bytes(getattr(program, "buffer", program), ".pte")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.module = _load_for_executorch_for_training_from_buffer(buffer)
        except Exception as e:  # noqa: BLE001 - one error a learner can act on
            raise ArtifactError(name, f"ExecuTorch could not load the training program ({type(e).__name__}: {e})",
                                FIX) from e
        self.batch_size = getattr(program, "batch_size", None)
        self._make_sgd = lambda params: get_sgd_optimizer(params, lr, 0.0, 0, 0.0)  # no momentum, decay
        self.sgd = None

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Loss and logits; the gradients stay in :meth:`named_gradients` (no weight update)."""
        out = self.module.forward_backward("forward", (x, y))
        return float(out[0]), out[1]

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Forward, backward and an SGD update of the runtime's own weights."""
        loss, logits = self.forward_backward(x, y)
        if self.sgd is None:
            self.sgd = self._make_sgd(self.module.named_parameters())
        self.sgd.step(self.module.named_gradients())
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
        """``steps`` SGD steps on :func:`replay_batches` of the program's batch size; the losses."""
        if not self.batch_size:
            raise ValueError("DeviceTrainer.fit needs the batch size of export_training's program")
        return [self.step(torch.as_tensor(xb, dtype=torch.float32), torch.as_tensor(yb, dtype=torch.long))[0]
                for xb, yb in replay_batches(x, y, steps, self.batch_size, seed, replay, replay_fraction)]


class LiteRTTrainer:
    """The four signatures of a training ``.tflite`` (bytes or path) in LiteRT, one thread."""

    def __init__(self, flatbuffer: bytes | str | Path):
        from ai_edge_litert.interpreter import Interpreter

        self.flatbuffer, name = _program_bytes(flatbuffer, ".tflite")
        try:
            self.interpreter = Interpreter(model_content=self.flatbuffer, num_threads=1)
        except Exception as e:  # noqa: BLE001
            raise ArtifactError(name, f"LiteRT could not load the training file ({type(e).__name__}: {e})", FIX) from e
        self._train = self.interpreter.get_signature_runner("train")
        self._infer = self.interpreter.get_signature_runner("infer")
        self._get = self.interpreter.get_signature_runner("get_weights")
        self._set = self.interpreter.get_signature_runner("set_weights")

    def train(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step inside the interpreter; the loss."""
        return float(self._train(x=np.asarray(x, np.float32), y=np.asarray(y, np.int32), lr=np.float32(lr))["loss"])

    def infer(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float32 logits for every row of ``x`` (N, channels, samples)."""
        return batches(lambda b: self._infer(x=np.asarray(b, np.float32))["logits"], x, batch_size)

    predict = infer  # so measure.accuracy takes the trainer like any runtime

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self._get().items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self._set(**{k: np.asarray(v, np.float32) for k, v in weights.items()})

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int, batch_size: int, lr: float, seed: int = 0,
            replay: tuple[np.ndarray, np.ndarray] | None = None, replay_fraction: float = 0.5) -> list[float]:
        """Same batches as :meth:`DeviceTrainer.fit` for the same seed; the losses."""
        return [self.train(xb, yb, lr)
                for xb, yb in replay_batches(x, y, steps, batch_size, seed, replay, replay_fraction)]
