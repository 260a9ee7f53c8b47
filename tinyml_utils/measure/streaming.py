"""Streaming keyword-spotting metrics: posteriors, smoothing, detection, hits and false accepts.

The stream and its windows come from :mod:`tinyml_utils.data.stream`; this module scores a
detector on them.

1. :func:`posteriors` — class posteriors (softmax of the logits) of every window.
2. :func:`smooth` — a causal moving average of the posteriors over the last ``n`` inferences.
3. :func:`detect` — a detection when a keyword's smoothed posterior crosses ``threshold`` upwards,
   (or, with ``mode='peak'``, at the top of its run above the threshold), then a refractory period
   in which nothing triggers.
4. :func:`score` — hits, misses, false accepts (per hour) and detection delay against the known
   events; :func:`sweep` does it for many thresholds (a DET-style curve: miss rate vs false accepts
   per hour); :func:`operating_point` picks a threshold under a false-accept budget.

Scoring rules (state them whenever you quote a number): a detection of class ``c`` at time ``t``
(the end of its window) hits a keyword event of class ``c`` when ``start <= t <= end +
tolerance``; each event is hit once and further detections inside the same event's span are
ignored (a device debounces them too); every other detection (wrong class, an unknown word,
noise) is a false accept. Delay = ``t - end`` in seconds (negative when the word is recognised
before it ends).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..data.stream import Event, Stream


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
