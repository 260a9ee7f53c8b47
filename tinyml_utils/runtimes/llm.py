"""A language-model ``.pte`` (KV cache, dynamic length) run with ``executorch.runtime``: prefill,
decode, greedy generation and held-out scoring.

>>> load_llm_ops()                       # once, before any LLM .pte is loaded
>>> lm = ExecuTorchLM(pte, max_seq_len=128)
>>> lm.greedy(prompt_ids, 32); lm.nll(val_ids)

``forward(tokens[1, n] int64, input_pos[1] int64) -> logits[1, vocab]`` of the last position; the
cache keeps earlier positions, so a prompt is one call (prefill) and every new token one call
(decode). Starting again at position 0 overwrites the cache.

Traps:

- Import ``executorch.extension.llm.custom_ops.custom_ops`` and ``executorch.kernels.quantized``
  **before** loading such a ``.pte`` (:func:`load_llm_ops`), or loading fails on the missing
  ``llama::custom_sdpa`` / quantized kernels. :class:`ExecuTorchLM` does it when it loads.
- A program exported with a KV cache returns the logits of the **last** position only: scoring
  held-out text feeds one token a call (:meth:`ExecuTorchLM.nll`).
- The :class:`~tinyml_utils.runtimes.base.Runtime` interface's ``predict`` takes token ids here
  (``[1, n]``, any numeric dtype), not images, and returns the last position's logits ``[1, vocab]``:
  one prefill at position 0. That is what :func:`tinyml_utils.runtimes.peak_memory` runs.
"""
from __future__ import annotations

import numpy as np

from ..data.text import windows
from ..measure import nll_from_logits
from .executorch import ExecuTorchPte

LLM_OP_MODULES = ("executorch.extension.llm.custom_ops.custom_ops", "executorch.kernels.quantized")


def load_llm_ops() -> None:
    """Register the LLM custom ops (``custom_sdpa``, ``update_cache``) and the quantized kernels
    with the ExecuTorch runtime; call before loading an LLM ``.pte``."""
    import importlib

    for name in LLM_OP_MODULES:
        importlib.import_module(name)


class ExecuTorchLM(ExecuTorchPte):
    """A KV-cache language-model ``.pte`` exported by :func:`tinyml_utils.convert.llm.export_pte`;
    ``max_seq_len`` is its context length in tokens."""

    framework = "ExecuTorch LLM"
    imports = ExecuTorchPte.imports + LLM_OP_MODULES

    def __init__(self, path, *, max_seq_len: int = 128, **kwargs):
        super().__init__(path, **kwargs)
        self.max_seq_len = max_seq_len

    def _load(self) -> None:
        load_llm_ops()
        super()._load()

    def _spec_kwargs(self) -> dict:
        return {"max_seq_len": self.max_seq_len}

    def step(self, ids, pos: int) -> np.ndarray:
        """Logits (float32, [vocab]) after feeding ``ids`` at positions ``pos``, ``pos + 1``, ..."""
        if not self._loaded:
            self.load()
        torch = self._torch
        out = self.method.execute([torch.tensor([[int(i) for i in ids]], dtype=torch.long),
                                   torch.tensor([int(pos)], dtype=torch.long)])
        return out[0].numpy()[0]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return np.stack([self.step(row, 0) for row in np.asarray(x).reshape(len(x), -1)])

    def greedy(self, prompt_ids, n: int) -> list[int]:
        """``n`` greedy tokens after ``prompt_ids``: one prefill call, then one decode call a token."""
        logits = self.step(prompt_ids, 0)
        pos, out = len(prompt_ids), [int(np.argmax(logits))]
        while len(out) < n:
            logits = self.step([out[-1]], pos)
            pos += 1
            out.append(int(np.argmax(logits)))
        return out

    def nll(self, ids, seq_len: int | None = None, max_tokens: int | None = None) -> float:
        """Mean negative log-likelihood (nats per token) of ``ids`` in the windows of
        :func:`tinyml_utils.data.text.windows` (``seq_len`` defaults to the context length), one
        decode call a token: the same windows as :func:`tinyml_utils.measure.llm.mean_nll`."""
        seq_len = seq_len or self.max_seq_len
        total, count = 0.0, 0
        for x, y in windows(ids, seq_len, max_tokens):
            logits = np.stack([self.step([int(t)], p) for p, t in enumerate(x)])
            total += nll_from_logits(logits, y) * len(y)
            count += len(y)
        return total / max(count, 1)
