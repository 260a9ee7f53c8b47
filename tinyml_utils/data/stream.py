"""A keyword stream with known word times (:class:`Stream`), and its sliding feature windows."""
from __future__ import annotations

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


def windows(frames: np.ndarray, window_frames: int = 49, stride: int = 2, hop_s: float = 0.02,
            frame_s: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """``(x, t)``: windows (n, window_frames, coefficients) of frames, one every ``stride`` frames, and the time
    in s each window's last sample arrives (when a device could run it)."""
    starts = np.arange(0, len(frames) - window_frames + 1, stride)
    x = np.stack([frames[s:s + window_frames] for s in starts])
    t = (starts + window_frames - 1) * hop_s + frame_s
    return x.astype(np.float32), t


def stream_frames(front_end, audio: np.ndarray, frame: int = 480, hop: int = 320, chunk_frames: int = 3000
                  ) -> np.ndarray:
    """``front_end(audio)`` computed ``chunk_frames`` frames at a time (memory); equal for a front end whose
    frame i reads [i·hop, i·hop + frame)."""
    n = 1 + (len(audio) - frame) // hop
    out = [front_end(audio[i * hop:(min(n, i + chunk_frames) - 1) * hop + frame]) for i in range(0, n, chunk_frames)]
    return np.concatenate(out).astype(np.float32)
