"""Streaming keyword spotting: a synthesized stream, sliding-window inference, smoothing, scoring.

A keyword spotter on a microcontroller never sees one neatly cut second. It hears a continuous
stream and runs the model every 20–40 ms on the last second of features. This module builds
such a stream with known keyword times and scores a detector on it.

1. :func:`synthesize_stream` — background noise (the keyword set's own ``silence`` clips, cross-
   faded end to end) with keyword and unknown-word segments cut from 1 s clips (the generator's
   per-clip ``offset_s``/``duration_s`` say where the word is) placed at known times.
2. :func:`windows` — the stream's MFCC frames (one every 20 ms) cut into 49-frame windows every
   ``stride`` frames. On the device the frames are computed once and kept in a ring buffer, so
   each inference costs ``stride`` new frames of front end, not 49.
3. :func:`smooth` — a causal moving average of the posteriors over the last ``n`` inferences.
4. :func:`detect` — a detection when a keyword's smoothed posterior crosses ``threshold`` upwards,
   (or, with ``mode='peak'``, at the top of its run above the threshold), then a refractory period
   in which nothing triggers.
5. :func:`score` — hits, misses, false accepts (per hour) and detection delay against the known
   events; :func:`sweep` does it for many thresholds (a DET-style curve: miss rate vs false accepts
   per hour).

Scoring rules (state them whenever you quote a number): a detection of class ``c`` at time ``t``
(the end of its window) hits a keyword event of class ``c`` when ``start <= t <= end +
tolerance``; each event is hit once and further detections inside the same event's span are
ignored (a device debounces them too); every other detection (wrong class, an unknown word,
noise) is a false accept. Delay = ``t - end`` in seconds (negative when the word is recognised
before it ends).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Event:
    """One word placed in the stream. Times in seconds from the stream's start."""

    start_s: float
    end_s: float
    label: int
    word: str
    keyword: bool


@dataclass
class Stream:
    """A synthesized stream: float32 audio in [-1, 1] at ``sample_rate`` Hz and its events."""

    audio: np.ndarray
    sample_rate: int
    events: list[Event] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def keyword_events(self) -> list[Event]:
        return [e for e in self.events if e.keyword]


def _crossfade_concat(pieces: list[np.ndarray], fade: int) -> np.ndarray:
    out = pieces[0].astype(np.float64).copy()
    ramp = np.linspace(0.0, 1.0, fade)
    for p in pieces[1:]:
        p = p.astype(np.float64)
        out[-fade:] = out[-fade:] * (1 - ramp) + p[:fade] * ramp
        out = np.concatenate([out, p[fade:]])
    return out


def synthesize_stream(x: np.ndarray, y: np.ndarray, examples: Sequence[dict], *, keyword_labels: Sequence[int],
                      unknown_label: int, silence_label: int, classes: Sequence[str], duration_s: float = 60.0,
                      sample_rate: int = 16_000, gap_s: tuple[float, float] = (0.8, 1.8),
                      unknown_fraction: float = 0.25, noise_rms: float = 0.01, seed: int = 0) -> Stream:
    """Build a stream from 1 s clips of one split (use the test split: its voices are unseen).

    Args:
        x, y: clips (N, samples) float in [-1, 1] and labels.
        examples: per-clip metadata with ``offset_s`` and ``duration_s`` of the word (the keyword
            generator's ``meta["examples"][split]``) and ``word``.
        keyword_labels, unknown_label, silence_label: class indices.
        duration_s: stream length in seconds.
        gap_s: uniform range of the pause between words, seconds.
        unknown_fraction: share of placed words that are unknown words (the rest keywords).
        noise_rms: RMS the background noise clips are scaled to (the words keep their own level,
            which includes their own noise at the clip's SNR).
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    fade = sample_rate // 100  # 10 ms
    silence = [x[i] for i in np.flatnonzero(y == silence_label)]
    if not silence:
        raise ValueError("need at least one silence clip for the background")
    pieces = []
    while sum(len(p) for p in pieces) - fade * len(pieces) < n + sample_rate:
        clip = np.roll(silence[int(rng.integers(len(silence)))], int(rng.integers(sample_rate)))
        clip = clip * rng.choice([-1.0, 1.0])
        pieces.append(clip * noise_rms / max(float(np.sqrt(np.mean(clip.astype(np.float64) ** 2))), 1e-9))
    audio = _crossfade_concat(pieces, fade)[:n]

    kw_idx = [int(i) for i in np.flatnonzero(np.isin(y, list(keyword_labels)))]
    unk_idx = [int(i) for i in np.flatnonzero(y == unknown_label)]
    rng.shuffle(kw_idx)
    rng.shuffle(unk_idx)
    pad = sample_rate // 50  # 20 ms of the clip kept around the word
    events, t = [], int(rng.uniform(0.3, 1.0) * sample_rate)
    k = u = 0
    while True:
        use_unknown = bool(unk_idx) and rng.random() < unknown_fraction
        if use_unknown:
            i = unk_idx[u % len(unk_idx)]
            u += 1
        else:
            i = kw_idx[k % len(kw_idx)]
            k += 1
        ex = examples[i]
        w0 = int(round(ex["offset_s"] * sample_rate))
        w1 = w0 + int(round(ex["duration_s"] * sample_rate))
        a, b = max(0, w0 - pad), min(len(x[i]), w1 + pad)
        seg = x[i][a:b].astype(np.float64).copy()
        ramp = np.linspace(0.0, 1.0, min(fade, len(seg) // 2))
        seg[:len(ramp)] *= ramp
        seg[len(seg) - len(ramp):] *= ramp[::-1]
        if t + len(seg) > n - sample_rate // 4:
            break
        audio[t:t + len(seg)] += seg
        label = int(y[i])
        events.append(Event((t + w0 - a) / sample_rate, (t + w1 - a) / sample_rate, label,
                            str(ex.get("word", classes[label])), label in set(keyword_labels)))
        t += len(seg) + int(rng.uniform(*gap_s) * sample_rate)
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    return Stream(audio, sample_rate, events)


def windows(frames: np.ndarray, window_frames: int = 49, stride: int = 2, hop_s: float = 0.02,
            frame_s: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows over a stream's feature frames.

    Args:
        frames: (n_frames, n_coefficients), one frame every ``hop_s`` seconds.
        window_frames: frames per window (49 = 1 s).
        stride: frames between inferences (1 = every 20 ms, 2 = every 40 ms).

    Returns:
        ``(x, t)``: x (n_windows, window_frames, n_coefficients) and t (n_windows,) the time in
        seconds at which each window's last sample arrives (when a device could run it).
    """
    starts = np.arange(0, len(frames) - window_frames + 1, stride)
    x = np.stack([frames[s:s + window_frames] for s in starts])
    t = (starts + window_frames - 1) * hop_s + frame_s
    return x.astype(np.float32), t


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def posteriors(logits_fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Class posteriors (softmax of ``logits_fn``) for every window, (n_windows, classes)."""
    return np.concatenate([softmax(logits_fn(x[i:i + batch])) for i in range(0, len(x), batch)])


def smooth(probs: np.ndarray, n: int) -> np.ndarray:
    """Causal moving average over the last ``n`` inferences (fewer at the start)."""
    if n <= 1:
        return np.asarray(probs, np.float64).copy()
    c = np.cumsum(np.vstack([np.zeros((1, probs.shape[1])), probs]), axis=0)
    i = np.arange(1, len(probs) + 1)
    lo = np.maximum(0, i - n)
    return (c[i] - c[lo]) / (i - lo)[:, None]


def detect(t: np.ndarray, probs: np.ndarray, threshold: float, keyword_labels: Sequence[int],
           refractory_s: float = 1.0, mode: str = "rising") -> list[tuple[float, int, float]]:
    """Detections ``(time_s, label, score)`` from (smoothed) posteriors, at most one per ``refractory_s``.

    ``mode="rising"``: fire when the best keyword's posterior crosses ``threshold`` upwards (or the
    best keyword changes while above it). ``mode="peak"``: wait, while above the threshold, until
    the score stops rising and fire then with the class at the peak; this costs one inference of
    delay but avoids naming a word from the first, partial glimpse of it.
    """
    if mode not in ("rising", "peak"):
        raise ValueError(f"mode must be 'rising' or 'peak', got {mode!r}")
    kws = np.asarray(list(keyword_labels))
    p = probs[:, kws]
    best = p.argmax(1)
    score = p.max(1)
    above = score >= threshold
    out, last = [], -np.inf
    for j in range(len(t)):
        if not above[j]:
            continue
        if mode == "rising":
            fire, at = j == 0 or not above[j - 1] or best[j] != best[j - 1], j
        else:
            fire, at = j + 1 >= len(t) or score[j + 1] < score[j], min(j + 1, len(t) - 1)
        if fire and t[at] - last >= refractory_s:
            out.append((float(t[at]), int(kws[best[j]]), float(score[j])))
            last = t[at]
    return out


def score(detections: Sequence[tuple[float, int, float]], events: Sequence[Event], duration_s: float,
          tolerance_s: float = 0.75) -> dict:
    """Hits, misses, false accepts and delays of ``detections`` against ``events`` (module rules).

    Returns a dict: ``keywords``, ``hits``, ``misses``, ``false_accepts``, ``hit_rate`` (hits /
    keywords), ``fa_per_hour`` (false accepts / stream hours), ``delays_s`` (list), ``delay_s_median``
    (None when nothing was hit), ``matched`` (event index per detection, -1 = false accept).
    """
    kw = [e for e in events if e.keyword]
    hit = [False] * len(kw)
    delays, matched, fa = [], [], 0
    for t, label, _ in detections:
        m = -1
        for k, e in enumerate(kw):
            if e.label == label and e.start_s <= t <= e.end_s + tolerance_s:
                m = k
                break
        if m < 0:
            fa += 1
        elif not hit[m]:
            hit[m] = True
            delays.append(t - kw[m].end_s)
        matched.append(m)
    hours = duration_s / 3600.0
    hits = int(sum(hit))
    return {"keywords": len(kw), "hits": hits, "misses": len(kw) - hits, "false_accepts": fa,
            "hit_rate": hits / len(kw) if kw else float("nan"), "fa_per_hour": fa / hours,
            "delays_s": delays, "delay_s_median": float(np.median(delays)) if delays else None,
            "matched": matched}


def sweep(t: np.ndarray, probs: np.ndarray, stream: Stream, thresholds: Sequence[float],
          keyword_labels: Sequence[int], refractory_s: float = 1.0, tolerance_s: float = 0.75,
          mode: str = "rising"):
    """One row per threshold: hit rate, miss rate, false accepts and per hour, median delay (s)."""
    import pandas as pd

    rows = []
    for th in thresholds:
        s = score(detect(t, probs, th, keyword_labels, refractory_s, mode), stream.events, stream.duration_s,
                  tolerance_s)
        rows.append({"threshold": float(th), "hit_rate": s["hit_rate"], "miss_rate": 1 - s["hit_rate"],
                     "false_accepts": s["false_accepts"], "fa_per_hour": s["fa_per_hour"],
                     "delay_s_median": s["delay_s_median"]})
    return pd.DataFrame(rows)


def operating_point(table, max_fa_per_hour: float):
    """The row of a :func:`sweep` table with the best hit rate among thresholds whose false accepts
    per hour are at most ``max_fa_per_hour`` (ties: the higher threshold); None if none qualifies."""
    ok = table[table["fa_per_hour"] <= max_fa_per_hour]
    if ok.empty:
        return None
    return ok.sort_values(["hit_rate", "threshold"], ascending=[False, False]).iloc[0]
