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
from tinyml_utils.data.stream import Event, Stream
from tinyml_utils.measure import streaming as st


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


def _toy_probs(t, spikes):
    """4 classes (yes, no, unknown, silence): silence, except class c at value v on [t0, t1]."""
    p = np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1))
    for c, v, t0, t1 in spikes:
        on = (t >= t0) & (t <= t1)
        p[on] = [0.0, 0.0, 1 - v, 0.0]
        p[on, c] = v
    return p


def test_det_curve_equals_a_hand_computation():
    t = np.round(np.arange(0, 12, 0.04), 2)
    # half an hour of keyword stream (sample rate 10 Hz keeps it small) and half an hour of negatives
    kw = Stream(np.zeros(18000, np.float32), 10, [Event(1.0, 1.5, 0, "yes", True), Event(4.0, 4.4, 1, "no", True)])
    neg = Stream(np.zeros(18000, np.float32), 10, [])
    p_kw = _toy_probs(t, [(0, 0.8, 1.6, 1.7), (1, 0.5, 4.2, 4.3), (0, 0.95, 7.0, 7.1), (1, 0.4, 9.0, 9.1)])
    p_neg = _toy_probs(t, [(1, 0.7, 2.0, 2.1)])
    det = st.det_curve([(t, p_kw, kw), (t, p_neg, neg)], [0.3, 0.6, 0.9], [0, 1], ["yes", "no"])
    # by hand, threshold 0.3: both words hit; FAs: yes@7.0, no@9.0, no@2.0 (negatives) -> 3 in 1 h
    #          threshold 0.6: yes hit, no missed (0.5); FAs: yes@7.0, no@2.0 -> 2
    #          threshold 0.9: nothing hit; FA: yes@7.0 -> 1
    want = {("all", 0.3): (0.0, 3), ("all", 0.6): (0.5, 2), ("all", 0.9): (1.0, 1),
            ("yes", 0.3): (0.0, 1), ("yes", 0.6): (0.0, 1), ("yes", 0.9): (1.0, 1),
            ("no", 0.3): (0.0, 2), ("no", 0.6): (1.0, 1), ("no", 0.9): (1.0, 0)}
    got = {(r.keyword, r.threshold): (r.miss_rate, r.false_accepts) for r in det.itertuples()}
    assert got == want
    assert np.allclose(det["hours"], 1.0) and np.allclose(det["fa_per_hour"], det["false_accepts"])
    assert st.hit_rate_at(det, 1.0)["threshold"] == 0.9 and st.hit_rate_at(det, 1.0)["hit_rate"] == 0.0
    assert st.hit_rate_at(det, 2.0) == {"threshold": 0.6, "hit_rate": 0.5, "fa_per_hour": 2.0, "false_accepts": 2,
                                        "hours": 1.0, "keywords": 2}
    assert st.hit_rate_at(det, 0.5)["threshold"] is None
    # per-keyword thresholds: a budget of 3 FA/h affords 'no' at 0.3; a budget of 2 does not
    assert st.per_keyword_thresholds(det, 3.0, ["yes", "no"]) == [0.6, 0.3]
    assert st.per_keyword_thresholds(det, 2.0, ["yes", "no"]) == [0.6, 0.9]
    both = [st.score(st.detect(t, p, [0.6, 0.3], [0, 1]), s.events, s.duration_s)
            for p, s in ((p_kw, kw), (p_neg, neg))]
    assert sum(b["hits"] for b in both) == 2 and sum(b["false_accepts"] for b in both) == 3


def test_window_posteriors_equal_windows_then_posteriors():
    frames = np.random.default_rng(2).standard_normal((300, 10)).astype(np.float32)
    w = np.random.default_rng(3).standard_normal((490, 4))

    def logits(b):
        return b.reshape(len(b), -1) @ w

    x, t = __import__("tinyml_utils.data.stream", fromlist=["windows"]).windows(frames, 49, stride=2)
    t2, p2 = st.window_posteriors(logits, frames, stride=2, batch=17)
    assert np.allclose(t2, t) and np.allclose(p2, st.softmax(logits(x[:, None])))


def test_straddle_windows_labels():
    from tinyml_utils.course import kws

    frames = np.zeros((200, 10), np.float32)   # 4 s; windows end at 0.99 s + 0.1 s·k (stride 5)
    events = [Event(1.505, 2.005, 3, "down", True), Event(3.205, 3.605, 10, "cat dog", False)]  # off the grid
    split = kws.straddle_windows(frames, events, stride=5)
    ends = np.round(0.99 + 0.1 * np.arange(31), 2)
    want = {}
    for k, end in enumerate(ends):
        start = end - 0.99
        kw_in = max(0.0, min(end, 2.005) - max(start, 1.505)) / 0.5
        other = max(0.0, min(end, 3.605) - max(start, 3.205))
        if 0.5 < kw_in < 0.98:
            continue
        want[k] = 3 if kw_in >= 0.98 else 10 if (kw_in > 0 or other > 0) else 11
    assert split.y.tolist() == list(want.values()) and split.x.shape == (len(want), 1, 49, 10)
    assert 3 in want.values() and 10 in want.values() and 11 in want.values()


def test_det_curve_over_every_distinct_score_by_hand():
    """The toy stream above, thresholds at every distinct keyword score: the curve reaches zero false
    accepts, and at 1 FA/h it finds the threshold (0.8) that the fixed grid 0.3/0.6/0.9 skipped."""
    t = np.round(np.arange(0, 12, 0.04), 2)
    kw = Stream(np.zeros(18000, np.float32), 10, [Event(1.0, 1.5, 0, "yes", True), Event(4.0, 4.4, 1, "no", True)])
    neg = Stream(np.zeros(18000, np.float32), 10, [])
    p_kw = _toy_probs(t, [(0, 0.8, 1.6, 1.7), (1, 0.5, 4.2, 4.3), (0, 0.95, 7.0, 7.1), (1, 0.4, 9.0, 9.1)])
    p_neg = _toy_probs(t, [(1, 0.7, 2.0, 2.1)])
    runs = [(t, p_kw, kw), (t, p_neg, neg)]
    th = st.distinct_thresholds(runs, [0, 1], lowest=0.3)
    assert np.allclose(th[:-1], [0.4, 0.5, 0.7, 0.8, 0.95]) and 0.95 < th[-1] < 0.95 + 1e-12
    det = st.det_curve(runs, th, [0, 1], ["yes", "no"])
    a = det[det.keyword == "all"]
    # by hand: 0.4 both hit, FAs yes@7.0 no@9.0 no@2.0; 0.5 drops no@9.0; 0.7 misses 'no' (0.5);
    #          0.8 drops no@2.0 (0.7); 0.95 misses 'yes' (0.8); above 0.95 nothing fires
    assert list(a.hits) == [2, 2, 1, 1, 0, 0] and list(a.false_accepts) == [3, 2, 2, 1, 1, 0]
    assert st.hit_rate_at(det, 1.0)["threshold"] == 0.8 and st.hit_rate_at(det, 1.0)["hit_rate"] == 0.5
    assert st.hit_rate_at(det, 0.5)["hit_rate"] == 0.0 and st.hit_rate_at(det, 0.5)["false_accepts"] == 0


def test_det_curve_on_kept_windows_equals_detect_and_score_on_all():
    """det_curve keeps only windows near a score >= the lowest threshold: same result as the whole run."""
    rng = np.random.default_rng(5)
    t = np.round(np.arange(0, 120, 0.04), 2)
    logits = rng.standard_normal((len(t), 4)) * 2.0
    logits[:, 3] += 1.5   # mostly silence
    p = st.smooth(st.softmax(logits), 3)
    events = [Event(float(s), float(s) + 0.5, int(rng.integers(0, 2)), "w", True) for s in np.arange(2, 118, 3.7)]
    s_ = Stream(np.zeros(1200 * 10, np.float32), 10, events)
    for mode in ("rising", "peak"):
        th = st.distinct_thresholds([(t, p, s_)], [0, 1], lowest=0.6)
        det = st.det_curve([(t, p, s_)], th, [0, 1], mode=mode, refractory_s=0.3)
        a = det[det.keyword == "all"]
        for x, h, f in list(zip(th, a.hits, a.false_accepts))[::7]:
            sc = st.score(st.detect(t, p, x, [0, 1], 0.3, mode), events, s_.duration_s)
            assert (sc["hits"], sc["false_accepts"]) == (h, f)
        assert a.false_accepts.iloc[-1] == 0 and a.false_accepts.iloc[0] > 0 and a.hits.iloc[0] > 0
