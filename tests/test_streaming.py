"""Hand-made posteriors and events → known hits, false accepts and delays
(tinyml_utils.measure.streaming); the synthesized stream and its windows (tinyml_utils.data.stream)."""
import numpy as np
import pytest

from tinyml_utils.data import stream as ds
from tinyml_utils.measure import streaming as st

KW = [0, 1]  # keyword classes; 2 = unknown, 3 = silence


def _probs(t, spikes):
    """Posteriors over 4 classes: silence everywhere, class c at 0.9 on [t0, t1]."""
    p = np.tile([0.02, 0.02, 0.02, 0.94], (len(t), 1))
    for c, t0, t1 in spikes:
        on = (t >= t0) & (t <= t1)
        p[on] = 0.02
        p[on, c] = 0.94
    return p


def test_hits_false_accepts_and_delay_by_hand():
    t = np.arange(0, 10, 0.04)
    events = [ds.Event(1.0, 1.5, 0, "yes", True), ds.Event(4.0, 4.4, 1, "no", True),
              ds.Event(7.0, 7.5, 2, "bird", False)]
    # class 0 detected at ~1.6 (hit, delay 0.1); class 0 during the 'no' (wrong class: FA);
    # class 1 on the unknown word (FA); nothing hits 'no'.
    p = _probs(t, [(0, 1.6, 1.9), (0, 4.2, 4.5), (1, 7.3, 7.6)])
    det = st.detect(t, p, 0.5, KW, refractory_s=1.0)
    assert [(round(d[0], 2), d[1]) for d in det] == [(1.6, 0), (4.2, 0), (7.32, 1)]
    s = st.score(det, events, duration_s=3600.0)
    assert (s["keywords"], s["hits"], s["misses"], s["false_accepts"]) == (2, 1, 1, 2)
    assert s["hit_rate"] == 0.5 and s["fa_per_hour"] == pytest.approx(2.0)
    assert s["delays_s"] == [pytest.approx(0.1)]


def test_refractory_and_debounce():
    t = np.arange(0, 5, 0.04)
    p = _probs(t, [(0, 1.2, 1.3), (0, 1.5, 1.6), (0, 3.0, 3.1)])  # two crossings 0.3 s apart
    assert len(st.detect(t, p, 0.5, KW, refractory_s=1.0)) == 2
    det = st.detect(t, p, 0.5, KW, refractory_s=0.1)
    assert len(det) == 3
    s = st.score(det, [ds.Event(1.0, 1.4, 0, "yes", True)], duration_s=5.0)
    # the second crossing inside the same event is ignored, the third (at 3.0 s) is a false accept
    assert (s["hits"], s["false_accepts"]) == (1, 1)


def test_smooth_is_a_causal_moving_average():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    s = st.smooth(p, 2)
    assert np.allclose(s[:, 0], [1.0, 0.5, 0.0, 0.5])
    assert np.allclose(st.smooth(p, 1), p)


def test_windows_times_and_shapes():
    frames = np.random.default_rng(0).standard_normal((149, 10))  # 3 s of frames
    x, t = ds.windows(frames, 49, stride=2)
    assert x.shape == (51, 49, 10) and np.allclose(x[1], frames[2:51])
    assert t[0] == pytest.approx(48 * 0.02 + 0.03)  # 1 s: the last sample of the first window
    assert np.allclose(np.diff(t), 0.04)


def test_peak_mode_waits_for_the_top():
    t = np.arange(0, 4, 0.04)
    p = np.tile([0.02, 0.02, 0.02, 0.94], (len(t), 1))
    ramp = (t > 1.0) & (t < 1.5)
    p[ramp, 1] = 0.55   # first glimpse: the wrong keyword, just above threshold
    p[ramp, 3] = 0.41
    top = (t >= 1.5) & (t < 1.7)
    p[top] = [0.9, 0.04, 0.02, 0.04]
    assert st.detect(t, p, 0.5, KW)[0][1] == 1             # rising edge names the first glimpse
    det = st.detect(t, p, 0.5, KW, mode="peak")
    assert det[0][1] == 0 and det[0][0] == pytest.approx(1.72)  # one inference after the top


def test_two_close_words_are_two_hits():
    # the repro: the second detection lies in the first word's tolerance window (already hit)
    # and inside the second word's span: it must hit the second word, not be dropped as a repeat
    events = [ds.Event(10.0, 10.5, 0, "yes", True), ds.Event(10.9, 11.4, 0, "yes", True)]
    s = st.score([(10.3, 0, 0.9), (11.0, 0, 0.9)], events, duration_s=60.0)
    assert (s["hits"], s["misses"], s["false_accepts"]) == (2, 0, 0)
    assert s["matched"] == [0, 1]
    assert s["delays_s"] == [pytest.approx(-0.2), pytest.approx(-0.4)]


def test_hand_built_stream_hits_misses_false_accepts_and_delays():
    """A stream whose every outcome is known by construction, through detect and score."""
    events = [ds.Event(1.0, 1.5, 0, "yes", True),     # hit at 1.6 (delay +0.1)
              ds.Event(3.0, 3.4, 1, "no", True),      # hit at 3.2 (delay -0.2); a repeat at 4.0 is ignored
              ds.Event(6.0, 6.5, 1, "no", True),      # missed: only 'yes' fires on it (a false accept)
              ds.Event(9.0, 9.5, 2, "bird", False),   # unknown word: 'no' fires on it (a false accept)
              ds.Event(12.0, 12.4, 0, "yes", True),   # missed: the detection at 13.32 is after end + 0.75
              ds.Event(15.0, 15.5, 0, "yes", True),   # two close words, two hits: 15.32 (-0.18) and 16.0 (-0.4)
              ds.Event(15.9, 16.4, 0, "yes", True)]
    t = np.round(np.arange(0, 20, 0.04), 2)
    p = _probs(t, [(0, 1.6, 1.7), (1, 3.2, 3.3), (1, 4.0, 4.1), (0, 6.2, 6.3), (1, 9.2, 9.3),
                   (0, 13.32, 13.4), (0, 15.32, 15.4), (0, 16.0, 16.1)])
    det = st.detect(t, p, 0.5, KW, refractory_s=0.5)
    assert [(d[0], d[1]) for d in det] == [(1.6, 0), (3.2, 1), (4.0, 1), (6.2, 0), (9.2, 1), (13.32, 0),
                                           (15.32, 0), (16.0, 0)]
    s = st.score(det, events, duration_s=1800.0)
    assert (s["keywords"], s["hits"], s["misses"], s["false_accepts"]) == (6, 4, 2, 3)
    assert s["hit"] == [True, True, False, False, True, True]
    assert s["matched"] == [0, 1, 1, -1, -1, -1, 4, 5]
    assert sorted(s["fa_labels"]) == [0, 0, 1] and s["fa_per_hour"] == pytest.approx(6.0)
    assert s["delays_s"] == [pytest.approx(d) for d in (0.1, -0.2, -0.18, -0.4)]
    # a refractory period longer than the gap between the close words eats the second one
    det_long = st.detect(t, p, 0.5, KW, refractory_s=1.0)
    assert st.score(det_long, events, 1800.0)["hits"] == 3


def test_per_keyword_thresholds():
    t = np.arange(0, 4, 0.04)
    p = np.tile([0.02, 0.02, 0.02, 0.94], (len(t), 1))
    p[(t > 1.0) & (t < 1.2)] = [0.6, 0.0, 0.0, 0.4]
    p[(t > 2.5) & (t < 2.7)] = [0.0, 0.6, 0.0, 0.4]
    assert [d[1] for d in st.detect(t, p, 0.5, KW)] == [0, 1]
    assert [d[1] for d in st.detect(t, p, [0.7, 0.5], KW)] == [1]      # keyword 0 needs 0.7 now
    assert st.detect(t, p, [0.5, 0.5], KW) == st.detect(t, p, 0.5, KW)


def test_stream_frames_in_chunks_equal_the_whole():
    from tinyml_utils.data.audio import numpy_mfcc

    audio = 0.1 * np.random.default_rng(1).standard_normal(3 * 16000 + 123).astype(np.float32)
    whole = numpy_mfcc(audio)
    assert np.allclose(ds.stream_frames(numpy_mfcc, audio, chunk_frames=7), whole, atol=1e-5)
    assert ds.stream_frames(numpy_mfcc, audio).shape == whole.shape
