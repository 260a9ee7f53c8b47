"""A language-model ``.pte`` with a KV cache: ``forward(tokens[1, n] int64, input_pos[1] int64)`` →
logits ``[1, vocab]`` of the **last** position; the cache keeps earlier ones (position 0 starts over).
Trap: ``predict`` takes token ids ``[1, n]``, not images."""
from __future__ import annotations

import numpy as np

from ..data.text import windows
from ..measure import nll_from_logits
from .base import import_modules
from .executorch import ExecuTorchPte

LLM_OP_MODULES = ("executorch.extension.llm.custom_ops.custom_ops", "executorch.kernels.quantized")


def load_llm_ops() -> None:
    """Register the LLM custom ops (``custom_sdpa``, ``update_cache``) and quantized kernels, needed
    before loading an LLM ``.pte`` outside :class:`ExecuTorchLM`."""
    import_modules(LLM_OP_MODULES)


class ExecuTorchLM(ExecuTorchPte):
    """A ``convert.llm.export_pte`` file; ``max_seq_len``: its context length in tokens."""

    framework = "ExecuTorch LLM"
    imports = ExecuTorchPte.imports + LLM_OP_MODULES
    spec_attrs = ExecuTorchPte.spec_attrs + ("max_seq_len",)

    def __init__(self, path, *, max_seq_len: int = 128, **kwargs):
        super().__init__(path, **kwargs)
        self.max_seq_len = max_seq_len

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
        """Mean negative log-likelihood (nats per token) of ``ids`` in the windows of ``data.text.windows``
        (``seq_len``: the context length by default), one call a token, as ``measure.llm.mean_nll``."""
        seq_len = seq_len or self.max_seq_len
        total, count = 0.0, 0
        for x, y in windows(ids, seq_len, max_tokens):
            logits = np.stack([self.step([int(t)], p) for p, t in enumerate(x)])
            total += nll_from_logits(logits, y) * len(y)
            count += len(y)
        return total / max(count, 1)
