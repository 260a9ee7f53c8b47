"""A tiny language model: ExecuTorch's own Llama example (in the executorch wheel) at the course's size,
so its weights load unchanged into ExecuTorch's LLM exporter.

Trap: the Llama example returns only the last position's logits unless ``generate_full_logits``, which
:func:`build_model` sets (a loss needs every position's).
"""
from __future__ import annotations

from typing import Any

import torch

DEFAULT_SHAPE = dict(dim=128, n_layers=4, n_heads=4, multiple_of=32)


def model_params(vocab_size: int, **shape: Any) -> dict:
    """The ``params.json`` dict ExecuTorch's exporter reads: :data:`DEFAULT_SHAPE`, ``shape``, ``vocab_size``."""
    return {**DEFAULT_SHAPE, **shape, "vocab_size": int(vocab_size)}


def build_model(params: dict, max_seq_len: int = 128, seed: int = 0):
    """ExecuTorch's Llama ``Transformer`` without a KV cache; ``max_seq_len`` is the longest context in
    tokens (the RoPE table's length)."""
    from executorch.examples.models.llama.llama_transformer import construct_transformer
    from executorch.examples.models.llama.model_args import ModelArgs

    torch.manual_seed(seed)
    args = ModelArgs(max_seq_len=max_seq_len, max_context_len=max_seq_len, generate_full_logits=True, **params)
    return construct_transformer(args)


def generate(model, prompt_ids, n: int, temperature: float = 0.0, seed: int = 0,
             max_seq_len: int = 128) -> list[int]:
    """``n`` new tokens from an eager full-logits model (whole cropped context each step): greedy when
    ``temperature`` is 0, else sampled from softmax(logits / temperature)."""
    gen = torch.Generator().manual_seed(seed)
    ids = [int(i) for i in prompt_ids]
    model.eval()
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids[-max_seq_len:]]))[0, -1]
            if temperature <= 0:
                nxt = int(logits.argmax())
            else:
                nxt = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen))
            ids.append(nxt)
    return ids[len(prompt_ids):]
