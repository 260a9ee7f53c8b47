"""Oracle tests of the language-model helpers (data.text, models.llm, train.train_lm/mean_nll,
measure.llm, convert.llm, runtimes.llm): tokenizer round trip, perplexity by hand, eager vs exported
greedy tokens on a tiny untrained model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinyml_utils import measure, runtimes
from tinyml_utils.convert import llm as llm_export
from tinyml_utils.data import text
from tinyml_utils.models import llm

pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tokenizer():
    corpus = text.corpus_text()[:60_000]
    return text.train_bpe(corpus, vocab_size=300)


def test_corpus_is_ascii_and_offline():
    corpus = text.corpus_text()
    assert len(corpus) > 100_000
    assert corpus.isascii()
    assert text.to_ascii("café – naïve") == "cafe  naive"


def test_tokenizer_round_trip_on_ascii(tokenizer):
    assert tokenizer.get_vocab_size() == 300
    for s in ["The for statement is used to iterate.", "x = {'a': [1, 2]}\n\ttab  spaces  ",
              "Zebra quokka 0123456789 ~!@#$%^&*()"]:
        ids = text.encode(tokenizer, s)
        assert ids.max() < 300
        assert text.decode(tokenizer, ids) == s
    # merges compress: fewer tokens than characters on text like the corpus
    s = text.corpus_text()[:5000]
    assert len(text.encode(tokenizer, s)) < 0.8 * len(s)


def test_perplexity_hand_computed_on_toy_distribution():
    # a model that puts probability 1/2, 1/4, 1/4 on three tokens (logits = log-probs)
    logp = np.log(np.array([0.5, 0.25, 0.25]))
    logits = np.tile(logp, (4, 1)) + 3.0          # a shift must not change log-softmax
    targets = np.array([0, 1, 2, 0])
    nll = measure.nll_from_logits(logits, targets)
    expected = -(math.log(0.5) * 2 + math.log(0.25) * 2) / 4
    assert nll == pytest.approx(expected, rel=1e-12)
    assert measure.perplexity_from_nll(nll) == pytest.approx(2 ** 1.5, rel=1e-12)
    # uniform over V tokens: perplexity V
    assert measure.perplexity_from_nll(measure.nll_from_logits(np.zeros((5, 7)), np.arange(5))) == pytest.approx(7)


def test_split_is_contiguous():
    tr, va = text.split_ids(np.arange(100), 0.1)
    assert tr.tolist() == list(range(90)) and va.tolist() == list(range(90, 100))


def test_windows_are_non_overlapping_and_shifted():
    got = list(text.windows(np.arange(35), 10))
    assert [x.tolist() for x, _ in got] == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]
    assert all((y == x + 1).all() for x, y in got)
    assert len(list(text.windows(np.arange(35), 10, max_tokens=15))) == 2   # whole windows only


def test_eager_mean_nll_matches_hand_computation():
    import torch

    params = llm.model_params(vocab_size=64, dim=32, n_layers=1, n_heads=2)
    model = llm.build_model(params, max_seq_len=16, seed=0)
    ids = np.random.default_rng(0).integers(0, 64, 40)
    nll = measure.mean_nll(model, ids, seq_len=16)
    with torch.no_grad():
        rows = [(model(torch.tensor(ids[s:s + 16])[None])[0].numpy(), ids[s + 1:s + 17]) for s in (0, 16)]
    by_hand = np.mean([measure.nll_from_logits(lg, t) for lg, t in rows])
    assert nll == pytest.approx(by_hand, rel=1e-5)


def test_tiny_model_eager_vs_exported_greedy(tmp_path):
    params = llm.model_params(vocab_size=96, dim=32, n_layers=1, n_heads=2)
    model = llm.build_model(params, max_seq_len=32, seed=1)
    ckpt, _ = llm_export.save_checkpoint(model, params, tmp_path / "ckpt")
    pte = llm_export.export_pte(ckpt.parent, "fp32", tmp_path / "pte", max_seq_len=32)
    assert pte.is_absolute() and pte.exists() and pte.parent == (tmp_path / "pte").resolve()
    lm = runtimes.ExecuTorchLM(pte, max_seq_len=32)
    prompt = [5, 17, 42, 3]
    eager = llm.generate(model, prompt, 12, temperature=0.0, max_seq_len=32)
    assert lm.greedy(prompt, 12) == eager
    # the .pte's decode-one-token-a-step perplexity equals eager's full-window one
    ids = np.random.default_rng(1).integers(0, 96, 70)
    assert lm.nll(ids, seq_len=32) == pytest.approx(measure.mean_nll(model, ids, seq_len=32), rel=1e-4)
    assert measure.pte_planned_bytes(pte) > 0
    # the Runtime interface: predict(token ids [1, n]) = last-position logits of one prefill
    logits = lm.predict(np.array([prompt], np.float32))
    assert logits.shape == (1, 96) and np.allclose(logits[0], lm.step(prompt, 0))
    speed, cmp = measure.token_speed({"fp32": lm}, prefill_tokens=8, rounds=3, calls=4)
    assert speed["fp32"].decode_tok_s > 0 and speed["fp32"].prefill_tok_s > 0 and speed["fp32"].decode_calls == 12
    assert set(cmp.timings) == {"fp32 prefill", "fp32 decode"}
    mem = runtimes.peak_memory(runtimes.ExecuTorchLM(pte, max_seq_len=32), np.arange(31, dtype=np.float32)[None])
    assert mem["peak_extra_bytes"] > 0
