"""text: an offline corpus (the standard library's ``help()`` texts) and a byte-level BPE tokenizer.

Traps:
- ASCII only: a byte-level BPE token can end inside a multi-byte UTF-8 character, and ExecuTorch's
  text runner, decoding token by token, fails on such a fragment.
- Held-out text is the contiguous tail: a random split of overlapping windows would leak text.
"""
from __future__ import annotations

import unicodedata
from typing import Iterator

import numpy as np

from .base import DataCard

CARD = DataCard(
    name="text (Python's help topics, pydoc_data.topics)",
    source="the standard library's pydoc_data/topics.py: every help() topic, sorted by key",
    license="Python Software Foundation License (the Python documentation)",
    real_or_synthetic="Real: the Python documentation's own prose and code examples; folding to ASCII "
                      "(accents dropped) is our processing, nothing is synthesized.",
    input_description="one ASCII character stream, tokenized into int64 BPE ids; training windows of "
                      "seq_len tokens, the next token as target",
    caveats=["one small corpus of technical English: a model trained on it memorises it quickly",
             "the text changes with the Python version that ships it (pydoc_data is regenerated per release)",
             "the held-out part is the alphabetical tail of the topics, not a random sample"],
)


def to_ascii(text: str) -> str:
    """``text`` folded to ASCII: accents decomposed (NFKD) and dropped, other non-ASCII removed."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def corpus_text() -> str:
    """Every ``pydoc_data.topics`` entry in key order, joined by blank lines, folded to ASCII."""
    from pydoc_data import topics

    return to_ascii("\n\n".join(topics.topics[k] for k in sorted(topics.topics)))


def train_bpe(text: str, vocab_size: int = 512, min_frequency: int = 2):
    """A byte-level BPE tokenizer (``tokenizers``) trained on ``text``; the 256 byte symbols are always in the
    vocabulary (any string encodes), no special tokens."""
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
    """int64 token ids."""
    return np.asarray(tok.encode(text).ids, dtype=np.int64)


def decode(tok, ids) -> str:
    return tok.decode([int(i) for i in ids])


def split_ids(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held out)``: the first ``1 - val_fraction`` of the tokens, and the tail."""
    cut = int(len(ids) * (1 - val_fraction))
    return ids[:cut], ids[cut:]


def windows(ids, seq_len: int, max_tokens: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping evaluation windows ``(inputs, targets)`` of ``seq_len`` tokens, targets shifted by
    one; stops once ``max_tokens`` targets were yielded (whole windows only)."""
    ids = np.asarray(ids)
    count = 0
    for s in range(0, len(ids) - seq_len, seq_len):
        if max_tokens is not None and count >= max_tokens:
            return
        yield ids[s:s + seq_len], ids[s + 1:s + seq_len + 1]
        count += seq_len
