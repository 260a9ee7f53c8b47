"""text: an offline corpus (Python's own help texts) and a byte-level BPE tokenizer for it.

>>> corpus = text.corpus_text()                     # ASCII characters from the standard library
>>> tok = text.train_bpe(corpus, vocab_size=512)    # byte-level BPE (``tokenizers``)
>>> ids = text.encode(tok, corpus); train_ids, val_ids = text.split_ids(ids)

The corpus is the standard library's ``pydoc_data.topics`` (the text ``help()`` prints), so nothing
is downloaded. It is one token stream, not labelled examples, so it has a :data:`CARD` but is not
a :class:`~tinyml_utils.data.base.Dataset` in ``data.DATASETS``.

Traps this module hides:

- **ASCII only.** A byte-level BPE token can end in the middle of a multi-byte UTF-8 character;
  ExecuTorch's text runner decodes token by token and its callback fails on such a fragment.
  :func:`to_ascii` folds accents (NFKD) and drops what has no ASCII form.
- **Contiguous held-out text.** Windows are drawn at random positions for training, so a random
  split of windows would leak text into validation; :func:`split_ids` holds out the tail.
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
)
CARD.caveats += [
    "one small corpus of technical English: a model trained on it memorises it quickly",
    "the text changes with the Python version that ships it (pydoc_data is regenerated per release)",
    "the held-out part is the alphabetical tail of the topics, not a random sample",
]


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


def windows(ids, seq_len: int, max_tokens: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping evaluation windows of ``ids``: ``(inputs, targets)``, each ``seq_len`` tokens,
    targets shifted by one. Stops once ``max_tokens`` targets were yielded (whole windows only).
    Every scorer of held-out text (eager or ``.pte``) uses these same windows."""
    ids = np.asarray(ids)
    count = 0
    for s in range(0, len(ids) - seq_len, seq_len):
        if max_tokens is not None and count >= max_tokens:
            return
        yield ids[s:s + seq_len], ids[s + 1:s + seq_len + 1]
        count += seq_len
