"""Streaming keyword-spotting metrics: smoothing, detection, hits, false accepts, DET curves.

Rules (quote them with any number): a detection of class ``c`` at ``t`` (its window's end, s) hits an
unhit ``c`` event with ``start <= t <= end + tolerance``; if all such events are hit it is ignored
(debounced); any other detection is a false accept. Delay = ``t - end`` (s).
"""
from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import softmax as scipy_softmax

from ..data.stream import Event, Stream


def softmax(logits: np.ndarray) -> np.ndarray:
    """Float64 softmax over the last axis."""
    return scipy_softmax(np.asarray(logits, np.float64), axis=-1)


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

    ``threshold``: one, or one per keyword (then the keyword furthest above its own wins). ``"rising"``
    fires when a window goes above (or the keyword changes); ``"peak"`` at the top, one inference later.
    """
    if mode not in ("rising", "peak"):
        raise ValueError(f"mode must be 'rising' or 'peak', got {mode!r}")
    kws = np.asarray(list(keyword_labels))
    p = np.asarray(probs)[:, kws]
    if np.ndim(threshold) == 0:   # one threshold: the most probable keyword, above when it reaches it
        best = p.argmax(1)
        score = p[np.arange(len(p)), best]
        above = score >= threshold
    else:
        margin = p - np.broadcast_to(np.asarray(threshold, np.float64), (len(kws),))
        best = margin.argmax(1)
        score = p[np.arange(len(p)), best]
        above = margin[np.arange(len(p)), best] >= 0
    return _fire(t, kws, best, score, above, refractory_s, mode)


def _fire(t, kws, best, score, above, refractory_s: float, mode: str) -> list[tuple[float, int, float]]:
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


def _event_index(events: Sequence[Event], tolerance_s: float):
    """Keyword events, and per label: sorted starts, event indices, longest ``end + tolerance - start``."""
    kw = [e for e in events if e.keyword]
    by_label: dict = {}
    for k, e in enumerate(kw):
        by_label.setdefault(e.label, []).append(k)
    for label, ks in by_label.items():
        ks.sort(key=lambda k: kw[k].start_s)
        reach = max(kw[k].end_s + tolerance_s - kw[k].start_s for k in ks)
        by_label[label] = ([kw[k].start_s for k in ks], ks, reach)
    return kw, by_label


def score(detections: Sequence[tuple[float, int, float]], events: Sequence[Event], duration_s: float,
          tolerance_s: float = 0.75, _index=None) -> dict:
    """Hits, misses, false accepts and delays (module rules); among fresh events, one whose span holds
    ``t`` wins, else the earliest. ``matched``: event index per detection (-1: false accept);
    ``delay_s_median`` is None when nothing was hit.
    """
    kw, by_label = _index if _index is not None else _event_index(events, tolerance_s)
    hit = [False] * len(kw)
    delays, matched, fa_labels = [], [], []
    for t, label, _ in detections:
        cands = []
        if label in by_label:   # the events that start in [t - reach, t]: only they can hold t
            starts, ks, reach = by_label[label]
            ks = ks[bisect.bisect_left(starts, t - reach):bisect.bisect_right(starts, t)]
            cands = sorted(k for k in ks if kw[k].start_s <= t <= kw[k].end_s + tolerance_s)
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


def det_curve(runs: Sequence[tuple[np.ndarray, np.ndarray, Stream]], thresholds: Sequence[float],
              keyword_labels: Sequence[int], class_names: Sequence[str] | None = None, refractory_s: float = 1.0,
              tolerance_s: float = 0.75, mode: str = "rising"):
    """DET curve over ``runs`` of ``(t, probs, stream)``: one row per threshold and keyword (``"all"``
    overall); a keyword's ``false_accepts`` are those named it, ``hours`` the total audio."""
    import pandas as pd

    names = list(class_names) if class_names is not None else [str(k) for k in range(max(keyword_labels) + 1)]
    hours = sum(s.duration_s for _, _, s in runs) / 3600.0
    thresholds = np.asarray(thresholds, np.float64)
    kws = np.asarray(list(keyword_labels))
    runs = [(t, probs[:, kws].argmax(1), keyword_score(probs, kws), s, _event_index(s.events, tolerance_s))
            for t, probs, s in runs]
    n_kw = Counter(e.label for *_, index in runs for e in index[0])
    n_kw["all"] = n_kw.total()
    rows = []
    for th in thresholds:
        hits, fas = Counter(), Counter()
        for t, best, kw_score, s, index in runs:   # = detect(t, probs, th, ...), the per-window work done once
            dets = _fire(t, kws, best, kw_score, kw_score >= th, refractory_s, mode)
            sc = score(dets, s.events, s.duration_s, tolerance_s, _index=index)
            hits.update(e.label for e, h in zip(index[0], sc["hit"]) if h)
            fas.update(sc["fa_labels"])
        hits["all"], fas["all"] = hits.total(), fas.total()
        for k in ["all", *keyword_labels]:
            n, h, f = n_kw[k], hits[k], fas[k]
            rows.append({"threshold": float(th), "keyword": k if k == "all" else names[k], "keywords": n, "hits": h,
                         "miss_rate": 1 - h / n if n else float("nan"), "false_accepts": f, "hours": hours,
                         "fa_per_hour": f / hours})
    return pd.DataFrame(rows)


def keyword_score(probs: np.ndarray, keyword_labels: Sequence[int]) -> np.ndarray:
    """Per window, the largest keyword posterior (what :func:`detect` compares with one threshold)."""
    return np.asarray(probs)[:, list(keyword_labels)].max(axis=1)


def distinct_thresholds(runs: Sequence[tuple[np.ndarray, np.ndarray, Stream]], keyword_labels: Sequence[int],
                        lowest: float = 0.5) -> np.ndarray:
    """Every distinct :func:`keyword_score` ``>= lowest``, then one just above the largest: where a
    one-threshold detector changes, so a DET curve over them is exact (a grid can miss the quietest)."""
    s = np.concatenate([keyword_score(p, keyword_labels) for _, p, _ in runs])
    u = np.unique(s[s >= lowest])
    top = np.nextafter(u[-1] if len(u) else lowest, np.inf)
    return np.concatenate([u, [top]])


def hit_rate_at(det, max_fa_per_hour: float, keyword: str = "all") -> dict:
    """The most hits of a :func:`det_curve` within ``max_fa_per_hour`` (ties: the higher threshold);
    ``threshold`` None (hit rate 0) when no threshold is that quiet."""
    d = det[(det["keyword"] == keyword) & (det["fa_per_hour"] <= max_fa_per_hour)]
    if d.empty:
        full = det[det["keyword"] == keyword].iloc[0]
        return {"threshold": None, "hit_rate": 0.0, "fa_per_hour": None, "false_accepts": None,
                "hours": float(full["hours"]), "keywords": int(full["keywords"])}
    r = d.assign(hit_rate=1 - d["miss_rate"]).sort_values(["hit_rate", "threshold"], ascending=[False, False]).iloc[0]
    return {"threshold": float(r["threshold"]), "hit_rate": float(r["hit_rate"]),
            "fa_per_hour": float(r["fa_per_hour"]), "false_accepts": int(r["false_accepts"]),
            "hours": float(r["hours"]), "keywords": int(r["keywords"])}


def per_keyword_thresholds(det, max_fa_per_hour: float, keyword_names: Sequence[str]) -> list[float]:
    """One threshold per keyword from a validation :func:`det_curve`: most hits with all false accepts
    within ``max_fa_per_hour`` (Lagrangian search). Trap: ignores the shared refractory period."""
    per = {k: det[det["keyword"] == k].sort_values("threshold", ascending=False) for k in keyword_names}
    hours = float(det["hours"].iloc[0])
    best = [float(per[k]["threshold"].iloc[0]) for k in keyword_names]   # the strictest: fewest FAs
    for lam in np.concatenate([[0.0], np.geomspace(0.01, 1000, 60)]):
        choice, fa = [], 0
        for k in keyword_names:
            d = per[k]
            gain = d["hits"] - lam * d["false_accepts"]
            r = d.loc[gain.idxmax()]   # idxmax keeps the first (highest threshold) of ties
            choice.append(float(r["threshold"]))
            fa += int(r["false_accepts"])
        if fa / hours <= max_fa_per_hour:
            return choice
    return best


def window_posteriors(logits_fn: Callable[[np.ndarray], np.ndarray], frames: np.ndarray, window_frames: int = 49,
                      stride: int = 2, batch: int = 2048, hop_s: float = 0.02, frame_s: float = 0.03):
    """``(t, probs)`` of the windows :func:`tinyml_utils.data.stream.windows` gives, ``batch`` at a time;
    ``logits_fn`` takes (n, 1, window_frames, coefficients) float32."""
    view = np.lib.stride_tricks.sliding_window_view(frames, (window_frames, frames.shape[1]))[::stride, 0]
    probs = np.concatenate([softmax(logits_fn(np.ascontiguousarray(view[i:i + batch], np.float32)[:, None]))
                            for i in range(0, len(view), batch)])
    t = np.arange(len(view)) * stride * hop_s + (window_frames - 1) * hop_s + frame_s
    return t, probs
