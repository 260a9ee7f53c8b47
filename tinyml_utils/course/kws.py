"""Chapter 08's composition: keyword spotting from audio to an int8 model and a streaming detector.
MFCC maps are (N, 1, 49, 10) float32."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .. import data, models, train
from ..compress import distill
from ..core.context import Context
from ..data import audio, kws_eval
from ..data.base import Split
from ..data.keywords import SILENCE_INDEX, UNKNOWN_INDEX
from ..measure import streaming
from .recipes import KEYWORDS, Keywords, Modes


def load(ctx: Context):
    """The keyword set for this mode (full mode: 500 training clips a class, 125 val and test)."""
    return data.load("keywords", quick=ctx.quick, seed=ctx.seed, per_class=KEYWORDS(ctx).per_class)


def featurize(ds, front_end_name: str = "cmsis_f32"):
    """A copy of the audio dataset ``ds`` with MFCC maps as ``x``; front ends: ``numpy``, ``tf``,
    ``cmsis_f32``, ``cmsis_q15``.

    Trap: ``a[:, None]`` gives the new axis a stride of 0, which ``torch.as_tensor`` keeps and
    ExecuTorch's exporter rejects ("0 in strides"); ``.copy()`` gives fresh strides."""
    if front_end_name.startswith("cmsis_"):
        fn = audio.CmsisMfcc(front_end_name.removeprefix("cmsis_"))
    else:
        fn = {"numpy": audio.numpy_mfcc, "tf": audio.tf_mfcc}[front_end_name]
    splits = {s: Split(np.asarray(fn(getattr(ds, s).x), np.float32)[:, None].copy(), getattr(ds, s).y)
              for s in ("train", "val", "test")}
    return replace(ds, meta={**ds.meta, "front_end": front_end_name}, **splits)


def mfcc_augment(max_shift: int = 5, noise: float = 0.3):
    """Augmentation for ``train.fit``: roll the batch by up to ``max_shift`` frames (20 ms each) in time
    and add Gaussian noise of std ``noise``."""

    def augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=gen))
        xb = torch.roll(xb, shift, dims=2)
        return xb + noise * torch.randn(xb.shape, generator=gen)

    return augment


def new_dscnn(width: int = 64, seed: int = 0, num_classes: int = 12) -> nn.Module:
    """A freshly initialised DS-CNN; the initialisation depends only on ``seed``."""
    torch.manual_seed(seed)
    return models.ds_cnn(num_classes=num_classes, width=width)


def train_dscnn(feats, r: Keywords, *, width: int = 64, seed: int = 0, epochs: int | None = None,
                desc: str = "DS-CNN", augment=None):
    """Train a DS-CNN on MFCC maps with the recipe (augmentation: :func:`mfcc_augment` by default)."""
    model = new_dscnn(width, seed, len(feats.classes))
    hist = train.fit(model, feats.train, feats.val, epochs=epochs or r.epochs, lr=r.lr,
                     batch_size=r.batch_size, seed=seed, augment=augment or mfcc_augment(), desc=desc)
    return model, hist


def distill_vs_scratch(teacher: nn.Module, feats, r: Keywords):
    """Distilled vs from-scratch 64-channel DS-CNN students, one pair (same init, batches and augmentation)
    per seed of ``r.distill_seeds``: a DataFrame with a ``model`` column."""
    keep: dict = {}
    table = distill.compare_seeds(distill.TeacherCache(teacher), feats, r.distill_seeds,
                                  temperature=r.temperature, alpha=r.alpha, epochs=r.distill_epochs, lr=r.lr,
                                  batch_size=r.batch_size, keep=keep, augment=mfcc_augment(),
                                  make_student=lambda s: new_dscnn(64, s, len(feats.classes)))
    table["model"] = [keep[(m, s)] for m, s in zip(table["method"], table["seed"])]
    return table


def paired_verdict(table) -> dict:
    """Mean ± std per method and the paired difference (distilled − scratch) with a 95 % t interval;
    ``verdict``: "helps", "hurts" or "no clear effect" (the interval straddles zero)."""
    from scipy import stats

    p = table.pivot(index="seed", columns="method", values="test_accuracy")
    d = (p["distilled"] - p["scratch"]).to_numpy()
    n = len(d)
    half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    lo, hi = float(d.mean()) - half, float(d.mean()) + half
    verdict = "helps" if lo > 0 else "hurts" if hi < 0 else "no clear effect"
    std = {m: float(p[m].std(ddof=1)) if n > 1 else 0.0 for m in ("scratch", "distilled")}
    return {"n": n, "scratch_mean": float(p["scratch"].mean()), "scratch_std": std["scratch"],
            "distilled_mean": float(p["distilled"].mean()), "distilled_std": std["distilled"],
            "diff_mean": float(d.mean()), "diff_ci95": (lo, hi), "verdict": verdict}


def check_new_keyword(new_word_accuracy: float, old_accuracy_before: float, old_accuracy_after: float,
                      min_new: float = 0.6, max_old_drop: float = 0.05) -> bool:
    """The exercise's check, printed as ✓/✗ lines: the new word reaches ``min_new`` on held-out voices
    and the old classes lose at most ``max_old_drop`` (bounds for a full-mode model, frozen features)."""
    drop = old_accuracy_before - old_accuracy_after
    ok_new, ok_old = new_word_accuracy >= min_new, drop <= max_old_drop
    print(f"{'✓' if ok_new else '✗'} new word: {new_word_accuracy:.1%} on unseen voices (need ≥ {min_new:.0%})")
    print(f"{'✓' if ok_old else '✗'} old classes: {old_accuracy_before:.1%} → {old_accuracy_after:.1%} "
          f"(drop {drop * 100:.1f} pt, allowed ≤ {max_old_drop * 100:.0f} pt)")
    return ok_new and ok_old


#: Minutes of evaluation audio per split: negatives (no keyword) and the keyword stream.
#: ``train`` (training voices) feeds :func:`straddle_training_set`, never an evaluation.
EVAL_MINUTES = Modes(quick={"train": {"negative": 5.0, "keyword": 10.0}, "val": {"negative": 5.0, "keyword": 5.0},
                            "test": {"negative": 5.0, "keyword": 5.0}},
                     full={"train": {"negative": 30.0, "keyword": 40.0}, "val": {"negative": 100.0, "keyword": 20.0},
                           "test": {"negative": 120.0, "keyword": 30.0}})


def eval_streams(ctx: Context, split: str) -> dict:
    """``{"negative": Stream, "keyword": Stream}`` of ``split``'s voices, sizes from :data:`EVAL_MINUTES`."""
    return {kind: kws_eval.load(split, kind, 60.0 * minutes, seed=ctx.seed)
            for kind, minutes in EVAL_MINUTES(ctx)[split].items()}


def stream_runs(logits_fn, streams, frames: dict, stride: int = 2, smooth_n: int = 5):
    """``[(t, smoothed posteriors, stream)]`` for ``streaming.det_curve``; ``frames``: the streams' MFCC
    frames by stream name; ``logits_fn`` takes NCHW float32 batches."""
    runs = []
    for name, s in streams.items():
        t, p = streaming.window_posteriors(logits_fn, frames[name], stride=stride)
        runs.append((t, streaming.smooth(p, smooth_n), s))
    return runs


def straddle_windows(frames: np.ndarray, events, *, stride: int = 5, whole: float = 0.98, part: float = 0.5):
    """Training windows (n, 1, 49, coefficients) cut every ``stride`` frames from a stream, labelled by
    what they hold: at least ``whole`` of a keyword's span is that keyword; at most ``part`` of every
    keyword is ``unknown`` if it holds any speech, else ``silence``; windows in between are left out."""
    window_frames, hop_s, frame_s = 49, audio.HOP / audio.SAMPLE_RATE, audio.FRAME / audio.SAMPLE_RATE
    view = np.lib.stride_tricks.sliding_window_view(frames, (window_frames, frames.shape[1]))[::stride, 0]
    w1 = np.arange(len(view)) * stride * hop_s + (window_frames - 1) * hop_s + frame_s   # window end, s
    w0 = w1 - (window_frames - 1) * hop_s - frame_s
    labels = np.full(len(view), SILENCE_INDEX)
    keep = np.ones(len(view), bool)
    for e in events:
        overlap = np.clip(np.minimum(w1, e.end_s) - np.maximum(w0, e.start_s), 0, None)   # seconds
        if e.keyword:
            inside = overlap / (e.end_s - e.start_s)
            labels[inside >= whole] = e.label
            keep &= ~((inside > part) & (inside < whole))
        # speech that is not a whole keyword: unknown (a window holding a whole keyword stays that keyword)
        labels[(overlap > 0) & (labels == SILENCE_INDEX)] = UNKNOWN_INDEX
    return Split(np.ascontiguousarray(view[keep], np.float32)[:, None], labels[keep].astype(np.int64))


def straddle_training_set(streams: dict, frames: dict, *, seed: int = 0, unknown_ratio: float = 4.0,
                          silence_ratio: float = 1.0) -> Split:
    """:func:`straddle_windows` of several (training-voice) streams: every keyword window, and
    ``unknown`` / ``silence`` windows subsampled to ``unknown_ratio`` / ``silence_ratio`` times
    the mean count of a keyword class (a stream is mostly pauses and other speech)."""
    parts = [straddle_windows(frames[k], s.events) for k, s in streams.items()]
    x = np.concatenate([p.x for p in parts])
    y = np.concatenate([p.y for p in parts])
    unknown, silence = UNKNOWN_INDEX, SILENCE_INDEX
    kw_mean = max(1, int(np.mean(np.bincount(y[(y != unknown) & (y != silence)], minlength=unknown)[:unknown])))
    rng = np.random.default_rng(seed)
    keep = [np.flatnonzero((y != unknown) & (y != silence))]
    for label, ratio in ((unknown, unknown_ratio), (silence, silence_ratio)):
        idx = np.flatnonzero(y == label)
        keep.append(rng.choice(idx, min(len(idx), int(ratio * kw_mean)), replace=False))
    keep = np.sort(np.concatenate(keep))
    return Split(x[keep], y[keep])
