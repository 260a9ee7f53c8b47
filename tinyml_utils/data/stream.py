"""A synthesized keyword stream with known word times, and its sliding feature windows.

A keyword spotter on a microcontroller never sees one neatly cut second: it hears a continuous
stream and runs the model every 20–40 ms on the last second of features.

- :func:`synthesize_stream` — background noise (the keyword set's own ``silence`` clips,
  cross-faded end to end) with keyword and unknown-word segments cut from 1 s clips (the
  generator's per-clip ``offset_s``/``duration_s`` say where the word is) placed at known times,
  returned as a :class:`Stream` with its :class:`Event` list.
- :func:`windows` — the stream's MFCC frames (one every 20 ms) cut into 49-frame windows every
  ``stride`` frames. On the device the frames are computed once and kept in a ring buffer, so each
  inference costs ``stride`` new frames of front end, not 49.

Scoring a detector on such a stream is :mod:`tinyml_utils.measure.streaming`.
"""
from __future__ import annotations

from collections.abc import Sequence
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


def stream_frames(front_end, audio: np.ndarray, frame: int = 480, hop: int = 320, chunk_frames: int = 3000
                  ) -> np.ndarray:
    """``front_end(audio)`` (one feature row per ``hop`` samples) computed ``chunk_frames`` frames
    at a time, so an hour of audio never becomes an (180,000, 512) array of padded frames.

    Equal to ``front_end(audio)`` for a front end whose frame ``i`` reads samples
    ``[i·hop, i·hop + frame)``, as every front end of :mod:`tinyml_utils.data.audio` does.
    """
    n = 1 + (len(audio) - frame) // hop
    out = [front_end(audio[i * hop:(min(n, i + chunk_frames) - 1) * hop + frame]) for i in range(0, n, chunk_frames)]
    return np.concatenate(out).astype(np.float32)
