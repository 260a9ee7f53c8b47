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
tolerance`` and is not hit yet (so two close words are two hits); each event is hit once and a
further detection whose every same-class window is already hit is ignored (a device debounces it
too); every other detection (wrong class, an unknown word, noise) is a false accept. Delay =
``t - end`` in seconds (negative when the word is recognised before it ends).
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


def detect(t: np.ndarray, probs: np.ndarray, threshold, keyword_labels: Sequence[int],
           refractory_s: float = 1.0, mode: str = "rising") -> list[tuple[float, int, float]]:
    """Detections ``(time_s, label, score)`` from (smoothed) posteriors, at most one per ``refractory_s``.

    ``threshold``: one number, or one per keyword (in ``keyword_labels`` order); a window is
    "above" when some keyword's posterior reaches its threshold, and the keyword named is the one
    furthest above its own threshold (with one threshold: the most probable keyword).
    ``mode="rising"``: fire when the window becomes above (or the keyword named changes while
    above). ``mode="peak"``: wait, while above, until the score stops rising and fire then with
    the class at the peak; this costs one inference of delay but avoids naming a word from the
    first, partial glimpse of it.
    """
    if mode not in ("rising", "peak"):
        raise ValueError(f"mode must be 'rising' or 'peak', got {mode!r}")
    kws = np.asarray(list(keyword_labels))
    p = np.asarray(probs)[:, kws]
    th = np.broadcast_to(np.asarray(threshold, np.float64), (len(kws),))
    margin = p - th
    best = margin.argmax(1)
    score = p[np.arange(len(p)), best]
    above = margin[np.arange(len(p)), best] >= 0
    n = len(t)
    if mode == "rising":
        prev_above = np.concatenate([[False], above[:-1]])
        prev_best = np.concatenate([[-1], best[:-1]])
        cand = np.flatnonzero(above & (~prev_above | (best != prev_best)))
        at = cand
    else:
        nxt = np.concatenate([score[1:], [-np.inf]])
        cand = np.flatnonzero(above & (nxt < score))
        at = np.minimum(cand + 1, n - 1)
    out, last = [], -np.inf
    for j, a in zip(cand, at):   # only the candidate windows: the refractory period is sequential
        if t[a] - last >= refractory_s:
            out.append((float(t[a]), int(kws[best[j]]), float(score[j])))
            last = t[a]
    return out


def score(detections: Sequence[tuple[float, int, float]], events: Sequence[Event], duration_s: float,
          tolerance_s: float = 0.75) -> dict:
    """Hits, misses, false accepts and delays of ``detections`` against ``events`` (module rules).

    A detection goes to a same-class keyword whose window (start to end + tolerance) holds it and
    that is **not hit yet** (the one whose own span holds it first, else the earliest); only when
    every such keyword is already hit is it a repeat, ignored. So two close words are two hits.

    Returns a dict: ``keywords``, ``hits``, ``misses``, ``false_accepts``, ``hit_rate`` (hits /
    keywords), ``fa_per_hour`` (false accepts / stream hours), ``delays_s`` (list), ``delay_s_median``
    (None when nothing was hit), ``matched`` (event index per detection, -1 = false accept),
    ``hit`` (per keyword event, bool) and ``fa_labels`` (the class of each false accept).
    """
    kw = [e for e in events if e.keyword]
    hit = [False] * len(kw)
    delays, matched, fa_labels = [], [], []
    for t, label, _ in detections:
        cands = [k for k, e in enumerate(kw) if e.label == label and e.start_s <= t <= e.end_s + tolerance_s]
        fresh = [k for k in cands if not hit[k]]
        if fresh:
            inside = [k for k in fresh if t <= kw[k].end_s]
            m = (inside or fresh)[0]
            hit[m] = True
            delays.append(t - kw[m].end_s)
        elif cands:
            m = cands[0]           # a repeat inside a word already hit: debounced, not counted
        else:
            m = -1
            fa_labels.append(int(label))
        matched.append(m)
    hours = duration_s / 3600.0
    hits = int(sum(hit))
    fa = len(fa_labels)
    return {"keywords": len(kw), "hits": hits, "misses": len(kw) - hits, "false_accepts": fa,
            "hit_rate": hits / len(kw) if kw else float("nan"), "fa_per_hour": fa / hours,
            "delays_s": delays, "delay_s_median": float(np.median(delays)) if delays else None,
            "matched": matched, "hit": hit, "fa_labels": fa_labels}


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
