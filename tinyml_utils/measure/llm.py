"""A language model's quality and speed: perplexity (exp of the mean NLL in nats per token, over
:func:`tinyml_utils.data.text.windows`'s non-overlapping windows) and prefill/decode tokens per second."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.text import windows
from .latency import Comparison, compare


def nll_from_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood (nats per token, float64) of ``targets`` under ``logits`` [T, vocab]."""
    from scipy.special import log_softmax

    logp = log_softmax(np.asarray(logits, dtype=np.float64), axis=1)
    return float(-logp[np.arange(len(targets)), np.asarray(targets)].mean())


def perplexity_from_nll(nll_per_token: float) -> float:
    return float(math.exp(nll_per_token))


@torch.no_grad()
def mean_nll(model, ids, seq_len: int = 128, max_tokens: int | None = None) -> float:
    """Mean NLL (nats per token) of ``ids`` under an eager model, each window from an empty context."""
    total, count = 0.0, 0
    model.eval()
    for x, y in windows(ids, seq_len, max_tokens):
        logits = model(torch.as_tensor(x, dtype=torch.long)[None])
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                       torch.as_tensor(y, dtype=torch.long), reduction="sum"))
        count += len(y)
    return total / max(count, 1)


@dataclass
class TokenSpeed:
    """Tokens per second: from the rounds' low quantile, ``decode_tok_s_median`` from the median call."""

    prefill_tok_s: float
    decode_tok_s: float
    decode_tok_s_median: float
    prefill_tokens: int
    decode_calls: int


def _decoder(lm, first: int):
    positions = itertools.cycle(range(first, lm.max_seq_len))

    def decode_one() -> None:
        p = next(positions)
        lm.step([p % 256], p)

    return decode_one


def token_speed(lms: dict, prefill_tokens: int = 64, *, rounds: int = 5, calls: int = 32,
                quantile: float = 0.1, max_seconds: float | None = 60.0) -> tuple[dict[str, TokenSpeed], Comparison]:
    """Interleaved :func:`compare` of KV-cache programs (``lm.step(ids, pos)``): ``"<name> prefill"``
    and ``"<name> decode"`` (one token a call). Trap: decode cost grows with position, so every
    program cycles over the same positions, ``prefill_tokens`` … ``max_seq_len - 1``."""
    prompt = [(7 * i + 3) % 256 for i in range(prefill_tokens)]
    fns = {}
    for name, lm in lms.items():
        fns[f"{name} prefill"] = lambda lm=lm: lm.step(prompt, 0)
        fns[f"{name} decode"] = _decoder(lm, prefill_tokens)
    cmp = compare(fns, rounds=rounds, calls=calls, quantile=quantile, max_seconds=max_seconds)
    speed = {}
    for name in lms:
        pre, dec = cmp[f"{name} prefill"], cmp[f"{name} decode"]
        speed[name] = TokenSpeed(prefill_tokens * 1e3 / pre.low_ms, 1e3 / dec.low_ms, 1e3 / dec.p50_ms,
                                 prefill_tokens, dec.calls)
    return speed, cmp
