"""Oracle tests of tinyml_utils.llm / llm_export: tokenizer round trip, perplexity by hand,
eager vs exported greedy tokens on a tiny untrained model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinyml_utils import llm

pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tokenizer():
    text = llm.corpus_text()[:60_000]
    return llm.train_bpe(text, vocab_size=300)


def test_corpus_is_ascii_and_offline():
    text = llm.corpus_text()
    assert len(text) > 100_000
    assert text.isascii()
    assert llm.to_ascii("café – naïve") == "cafe  naive"


def test_tokenizer_round_trip_on_ascii(tokenizer):
    assert tokenizer.get_vocab_size() == 300
    for s in ["The for statement is used to iterate.", "x = {'a': [1, 2]}\n\ttab  spaces  ",
              "Zebra quokka 0123456789 ~!@#$%^&*()"]:
        ids = llm.encode(tokenizer, s)
        assert ids.max() < 300
        assert llm.decode(tokenizer, ids) == s
    # merges compress: fewer tokens than characters on text like the corpus
    s = llm.corpus_text()[:5000]
    assert len(llm.encode(tokenizer, s)) < 0.8 * len(s)


def test_perplexity_hand_computed_on_toy_distribution():
    # a model that puts probability 1/2, 1/4, 1/4 on three tokens (logits = log-probs)
    logp = np.log(np.array([0.5, 0.25, 0.25]))
    logits = np.tile(logp, (4, 1)) + 3.0          # a shift must not change log-softmax
    targets = np.array([0, 1, 2, 0])
    nll = llm.nll_from_logits(logits, targets)
    expected = -(math.log(0.5) * 2 + math.log(0.25) * 2) / 4
    assert nll == pytest.approx(expected, rel=1e-12)
    assert llm.perplexity_from_nll(nll) == pytest.approx(2 ** 1.5, rel=1e-12)
    # uniform over V tokens: perplexity V
    assert llm.perplexity_from_nll(llm.nll_from_logits(np.zeros((5, 7)), np.arange(5))) == pytest.approx(7)


def test_split_is_contiguous():
    tr, va = llm.split_ids(np.arange(100), 0.1)
    assert tr.tolist() == list(range(90)) and va.tolist() == list(range(90, 100))


def test_eager_mean_nll_matches_hand_computation():
    import torch

    params = llm.model_params(vocab_size=64, dim=32, n_layers=1, n_heads=2)
    model = llm.build_model(params, max_seq_len=16, seed=0)
    ids = np.random.default_rng(0).integers(0, 64, 40)
    nll = llm.mean_nll(model, ids, seq_len=16)
    with torch.no_grad():
        rows = [(model(torch.tensor(ids[s:s + 16])[None])[0].numpy(), ids[s + 1:s + 17]) for s in (0, 16)]
    by_hand = np.mean([llm.nll_from_logits(lg, t) for lg, t in rows])
    assert nll == pytest.approx(by_hand, rel=1e-5)


def test_tiny_model_eager_vs_exported_greedy(tmp_path):
    from tinyml_utils import llm_export

    params = llm.model_params(vocab_size=96, dim=32, n_layers=1, n_heads=2)
    model = llm.build_model(params, max_seq_len=32, seed=1)
    ckpt, _ = llm.save_checkpoint(model, params, tmp_path / "ckpt")
    pte = llm_export.export_pte(ckpt.parent, "fp32", tmp_path / "pte", max_seq_len=32)
    assert pte.is_absolute() and pte.exists() and pte.parent == (tmp_path / "pte").resolve()
    lm = llm_export.PteLM(pte, max_seq_len=32)
    prompt = [5, 17, 42, 3]
    eager = llm.generate(model, prompt, 12, temperature=0.0, max_seq_len=32)
    assert lm.greedy(prompt, 12) == eager
    # the .pte's decode-one-token-a-step perplexity equals eager's full-window one
    ids = np.random.default_rng(1).integers(0, 96, 70)
    assert lm.nll(ids, seq_len=32) == pytest.approx(llm.mean_nll(model, ids, seq_len=32), rel=1e-4)
    assert llm_export.planned_memory_bytes(pte) > 0
