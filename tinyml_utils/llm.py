"""A tiny language model, offline: corpus, byte-level BPE, ExecuTorch's Llama model, training, perplexity.

>>> text = llm.corpus_text()                          # ~465 k ASCII characters from the stdlib
>>> tok = llm.train_bpe(text, vocab_size=512)         # byte-level BPE (``tokenizers``)
>>> ids = llm.encode(tok, text); train_ids, val_ids = llm.split_ids(ids)
>>> model = llm.build_model(llm.model_params(vocab_size=512))
>>> hist = llm.train_lm(model, train_ids, val_ids, steps=600)
>>> llm.perplexity(model, val_ids)

The corpus is the standard library's ``pydoc_data.topics`` (the text ``help()`` prints), so nothing
is downloaded. The model is ExecuTorch's own Llama example (``ModelArgs``, ``construct_transformer``
shipped in the executorch wheel under ``executorch/examples/models/llama``), so the weights we train
load unchanged into ExecuTorch's LLM exporter (:mod:`tinyml_utils.llm_export`).

Traps this module hides:

- **ASCII only.** A byte-level BPE token can end in the middle of a multi-byte UTF-8 character;
  ExecuTorch's text runner decodes token by token and its callback fails on such a fragment.
  :func:`to_ascii` folds accents (NFKD) and drops what has no ASCII form.
- **One torch thread.** On two cores shared with other jobs, two threads made each training step
  several times *slower*; :func:`train_lm` sets one thread.
- **Full logits for training.** The Llama example returns only the last position's logits unless
  ``generate_full_logits=True`` (what the exporter wants for generation, not what a loss needs).
"""
from __future__ import annotations

import math
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Model shape of the chapter: ~1 M parameters with a 512-token vocabulary.
DEFAULT_SHAPE = dict(dim=128, n_layers=4, n_heads=4, multiple_of=32)


# --------------------------------------------------------------------------------------------
# Corpus and tokenizer
# --------------------------------------------------------------------------------------------

def to_ascii(text: str) -> str:
    """``text`` folded to ASCII: accents decomposed (NFKD) and dropped, other non-ASCII removed."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def corpus_text() -> str:
    """The corpus: every entry of the standard library's ``pydoc_data.topics`` (Python's help texts),
    in sorted key order, joined by blank lines and folded to ASCII. Characters, not bytes."""
    from pydoc_data import topics

    return to_ascii("\n\n".join(topics.topics[k] for k in sorted(topics.topics)))


def train_bpe(text: str, vocab_size: int = 512, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer (``tokenizers``) with ``vocab_size`` tokens on ``text``.

    Byte level: the 256 byte symbols are always in the vocabulary, so any string encodes (no
    unknown token); the rest are merges learned from ``text``. No special tokens are added.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator([text], trainer)
    return tok


def encode(tok, text: str) -> np.ndarray:
    """Token ids of ``text`` as an int64 array."""
    return np.asarray(tok.encode(text).ids, dtype=np.int64)


def decode(tok, ids) -> str:
    """Text of a sequence of token ids."""
    return tok.decode([int(i) for i in ids])


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous split: the first ``1 - val_fraction`` of the tokens train, the tail is held out
    (a random split of overlapping windows would leak text into validation)."""
    cut = int(len(ids) * (1 - val_fraction))
    return ids[:cut], ids[cut:]


# --------------------------------------------------------------------------------------------
# Model: ExecuTorch's Llama example
# --------------------------------------------------------------------------------------------

def model_params(vocab_size: int, **shape: Any) -> dict:
    """The ``params.json`` dict of the model (what ExecuTorch's exporter reads back):
    :data:`DEFAULT_SHAPE` overridden by ``shape``, plus ``vocab_size``."""
    return {**DEFAULT_SHAPE, **shape, "vocab_size": int(vocab_size)}


def build_model(params: dict, max_seq_len: int = 128, full_logits: bool = True, seed: int | None = 0):
    """ExecuTorch's Llama ``Transformer`` (``construct_transformer(ModelArgs(...))``) without a KV
    cache, returning logits for every position when ``full_logits`` (training, perplexity).
    ``max_seq_len`` is the longest context in tokens (the RoPE table's length)."""
    import torch
    from executorch.examples.models.llama.llama_transformer import construct_transformer
    from executorch.examples.models.llama.model_args import ModelArgs

    if seed is not None:
        torch.manual_seed(seed)
    args = ModelArgs(max_seq_len=max_seq_len, max_context_len=max_seq_len,
                     generate_full_logits=full_logits, **params)
    return construct_transformer(args)


# --------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------

@dataclass
class LMHistory:
    """Training log: one row per evaluation. Losses are mean cross-entropy in nats per token."""

    rows: list[dict] = field(default_factory=list)
    tokens_per_s: float = float("nan")
    seconds: float = 0.0

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def _batch(ids, batch: int, seq_len: int, gen):
    import torch

    starts = torch.randint(0, len(ids) - seq_len - 1, (batch,), generator=gen)
    x = torch.stack([ids[s:s + seq_len] for s in starts])
    y = torch.stack([ids[s + 1:s + seq_len + 1] for s in starts])
    return x, y


def mean_nll(model, ids, seq_len: int = 128, max_tokens: int | None = None) -> float:
    """Mean negative log-likelihood (nats per token) of ``ids`` under an eager full-logits model,
    in non-overlapping windows of ``seq_len`` tokens (each window starts with an empty context)."""
    import torch

    ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for s in range(0, len(ids) - seq_len - 1 + 1, seq_len):
            if max_tokens is not None and count >= max_tokens:
                break
            x, y = ids[s:s + seq_len][None], ids[s + 1:s + seq_len + 1][None]
            logits = model(x)
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
            count += y.numel()
    return total / max(count, 1)


def perplexity_from_nll(nll_per_token: float) -> float:
    """Perplexity = exp(mean negative log-likelihood in nats per token)."""
    return float(math.exp(nll_per_token))


def nll_from_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood (nats per token) of ``targets`` under rows of ``logits``
    (shape [tokens, vocab]); a numerically stable log-softmax in NumPy."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(targets)), np.asarray(targets)].mean())


def perplexity(model, ids, seq_len: int = 128, max_tokens: int | None = None) -> float:
    """Held-out perplexity of an eager full-logits model: exp(:func:`mean_nll`)."""
    return perplexity_from_nll(mean_nll(model, ids, seq_len, max_tokens))


def train_lm(model, train_ids, val_ids, *, steps: int, batch: int = 16, seq_len: int = 128,
             lr: float = 3e-3, weight_decay: float = 0.1, warmup: int = 20, eval_every: int = 50,
             eval_tokens: int = 4096, seed: int = 0, threads: int = 1, progress: bool = True) -> LMHistory:
    """Train next-token prediction with AdamW, linear warm-up then cosine decay, on ``threads``
    torch threads. Random windows of ``seq_len`` tokens, ``batch`` windows a step; validation loss
    on the first ``eval_tokens`` held-out tokens every ``eval_every`` steps (and before step 1).
    Returns the log; ``tokens_per_s`` counts training tokens over training time (evaluation excluded)."""
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    train_t = torch.as_tensor(np.asarray(train_ids), dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(s, steps) / steps)))
    hist = LMHistory()
    hist.rows.append({"step": 0, "tokens": 0, "seconds": 0.0, "train_loss": float("nan"),
                      "val_loss": mean_nll(model, val_ids, seq_len, eval_tokens)})
    train_time, running = 0.0, []
    for step in tqdm(range(1, steps + 1), disable=not progress, desc="training", leave=False):
        model.train()
        t0 = time.perf_counter()
        x, y = _batch(train_t, batch, seq_len, gen)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        train_time += time.perf_counter() - t0
        running.append(loss.item())
        if step % eval_every == 0 or step == steps:
            hist.rows.append({"step": step, "tokens": step * batch * seq_len, "seconds": train_time,
                              "train_loss": float(np.mean(running)),
                              "val_loss": mean_nll(model, val_ids, seq_len, eval_tokens)})
            running = []
    model.eval()
    hist.seconds = train_time
    hist.tokens_per_s = steps * batch * seq_len / max(train_time, 1e-9)
    return hist


def generate(model, prompt_ids, n: int, temperature: float = 0.0, seed: int = 0,
             max_seq_len: int = 128) -> list[int]:
    """``n`` new tokens from an eager full-logits model, recomputing the whole (cropped) context each
    step: greedy (argmax) when ``temperature`` is 0, else sampled from softmax(logits / temperature)."""
    import torch

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


def save_checkpoint(model, params: dict, folder: str | Path) -> tuple[Path, Path]:
    """Write ``ckpt.pth`` (the state dict) and ``params.json`` into ``folder``, the pair ExecuTorch's
    Llama exporter reads (``base.checkpoint``, ``base.params``). Returns both paths."""
    import json

    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ckpt, par = folder / "ckpt.pth", folder / "params.json"
    torch.save(model.state_dict(), ckpt)
    par.write_text(json.dumps(params))
    return ckpt, par
