"""Self-checks of chapters 00–02: MACs, an arena estimate, windows and frames, parameters, latency statistics."""
from __future__ import annotations

import numpy as np
import torch

from ... import models
from ...data import audio
from .base import drawn, exercise


def _conv_macs(c_in, c_out, kernel, h_out, w_out):
    conv = torch.nn.Conv2d(c_in, c_out, kernel, bias=False)
    return conv.weight.numel() * h_out * w_out   # each weight once per output pixel


check_conv_macs = exercise(
    "conv_macs", "00", "``fn(c_in, c_out, kernel, h_out, w_out)`` -> multiply-accumulates of one k×k conv (no bias).",
    cases=[(1, 16, 3, 28, 28), (16, 32, 3, 14, 14), (32, 64, 3, 7, 7), (3, 8, 5, 10, 12)],
    ref=_conv_macs, answer=int, rtol=0, atol=0,
    slips=[(lambda ci, co, k, h, w: 2 * ci * co * k * k * h * w,
            "a MAC is one multiply AND one add: count it once, not twice"),
           (lambda ci, co, k, h, w: ci * co * k * h * w, "the kernel is k × k: count kernel twice"),
           (lambda ci, co, k, h, w: ci * co * k * k, "every output pixel repeats the work: times h_out · w_out"),
           (lambda ci, co, k, h, w: co * k * k * h * w, "each output channel reads every input channel: times c_in")],
    hint="count one MAC per weight per output pixel",
    done=lambda cases, wants: (f"the baseline's three convs cost {sum(wants[:3]):,} MACs "
                               "(+ 640 for the 64→10 linear = 1,919,872, the figure chapter 02 prints)"))


def arena_bytes() -> int:
    """Largest int8 input+output bytes over the conv/pool/linear layers of vision_cnn(16) (BN and ReLU fuse)."""
    model, sizes = models.vision_cnn(16).eval(), []
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.Linear)):
            m.register_forward_hook(lambda module, inputs, output: sizes.append(inputs[0].numel() + output.numel()))
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    return max(sizes)


_check_arena = exercise(
    "arena", "00", "", cases=[()], ref=arena_bytes, answer=int, rtol=0, atol=0, fill="ARENA",
    slips=[(lambda: 1 * 28 * 28 + 16 * 28 * 28, "that is the first conv: the max-pool right after it holds more "
                                                 "at once"),
           (lambda: 4 * arena_bytes(), "that looks like float32: int8 is one byte per activation"),
           (lambda: 4 * (1 * 28 * 28 + 16 * 28 * 28), "that looks like float32: int8 is one byte per activation")],
    hint="list each conv/pool/linear's input and output element counts; BN and ReLU fuse away",
    case=lambda a, want, got: f"{got:,} B is not it",   # a wrong guess does not get the answer
    done=lambda cases, wants: (f"{wants[0]:,} B: the first max-pool reads 16×28×28 = 12,544 B and writes 3,136 B. "
                               "The arena TFLite Micro measures in chapter 06 is larger (scratch, alignment)"))


def check_arena(value: int | None, strict: bool = False) -> bool | None:
    """``value``: your estimate (bytes) of vision_cnn(16)'s int8 arena: max over layers of input + output."""
    return _check_arena(lambda: value, strict)


def _count_slips(unit: str) -> list:
    """Typical wrong counts of full windows (or frames) of ``w`` samples every ``s`` in ``n`` samples."""
    return [(lambda n, w, s: (n - w) // s + 1, f"a recording shorter than one {unit} holds none: "
                                               f"guard the case n < {unit} (the formula goes negative)"),
            (lambda n, w, s: (n - w) // s, f"off by one: the {unit} starting at 0 counts too"),
            (lambda n, w, s: n // s, f"a {unit} needs its full length inside the recording, not just its start")]


check_num_windows = exercise(
    "num_windows", "01", "``fn(n_samples, window, stride)`` -> number of full windows cut from one recording.",
    cases=[(100, 50, 10), (100, 20, 10), (100, 100, 10), (100, 30, 10), (40, 50, 10), (20, 50, 10), (101, 50, 25)],
    ref=audio.num_frames, answer=int, rtol=0, atol=0, slips=_count_slips("window"),
    hint="windows start at 0, stride, 2·stride, ... while start + window <= n",
    done="a 10 s recording at 10 Hz gives 9 windows of 2 s (stride 1 s) and 6 of 5 s; "
         "a 2 s recording gives no 5 s window")

check_num_frames = exercise(
    "num_frames", "01", "``fn(num_samples, n_fft, hop)`` -> audio frames of an STFT without padding (as "
                        "data.audio.log_mel).",
    cases=[(16000, 480, 320), (16000, 512, 256), (8000, 480, 320), (479, 480, 320), (480, 480, 320),
           (100, 480, 320)],
    ref=audio.num_frames, answer=int, rtol=0, atol=0, slips=_count_slips("frame"),
    hint="like windows: frames start every hop samples and need n_fft samples",
    done="1 s at 16 kHz with 30 ms frames (480) every 20 ms (320) gives 49 frames: a 49×40 log-mel image")

check_conv_params = exercise(
    "conv_params", "02", "``fn(c_in, c_out, kernel, bias)`` -> parameters of a k×k Conv2d.",
    cases=[(1, 16, 3, False), (16, 32, 3, False), (32, 64, 3, False), (32, 64, 3, True), (3, 8, 5, True)],
    ref=lambda ci, co, k, b: sum(p.numel() for p in torch.nn.Conv2d(ci, co, k, bias=b).parameters()),
    answer=int, rtol=0, atol=0,
    slips=[(lambda ci, co, k, b: co * ci * k * k, "add one bias per output channel when bias=True"),
           (lambda ci, co, k, b: co * ci * k * k + ci, "one bias per OUTPUT channel (c_out), not per input channel"),
           (lambda ci, co, k, b: co * ci * k * k + (co if b else 0) + 2 * co,
            "BatchNorm is a separate layer: count only the conv's own weights"),
           (lambda ci, co, k, b: co * ci * k + (co if b else 0), "a k × k kernel has k·k weights per channel pair")],
    hint="weights c_out·c_in·k·k, plus one bias per output channel when bias=True",
    done="convs 144 + 4,608 + 18,432; with BatchNorm (2 per channel: 224) and the 64→10 linear (650) "
         "that is vision_cnn(16)'s 24,058 parameters")


check_latency_stats = exercise(
    "latency_stats", "02", "``fn(times_ms)`` -> ``(p50, p95)`` in ms of per-call times (a 1-D array).",
    cases=drawn(lambda rng, g: [(np.array([5.0, 1.0, 1.2, 1.1, 0.9, 1.0, 1.3, 1.0, 1.1, 9.0]),),
                                (np.round(rng.lognormal(0.0, 0.3, 201), 4),), (np.arange(1.0, 101.0),)]),
    ref=lambda t: (np.median(t), np.percentile(t, 95)), answer=lambda v: (float(v[0]), float(v[1])), rtol=1e-6, atol=0,
    slips=[(lambda t: (np.mean(t), None), "the mean is pulled up by the cold first call and outliers: use the median"),
           (lambda t: (None, np.max(t)), "p95 is the 95th percentile, not the slowest call (the maximum)"),
           (lambda t: (None, np.sort(t)[int(0.95 * len(t))]),
            "interpolate between neighbours (np.percentile's default), do not just index the sorted array"),
           (lambda t: (None, np.percentile(t, 0.95)), "np.percentile takes 95, not 0.95 (percent, not a fraction)")],
    hint="np.median(t) and np.percentile(t, 95) (linear interpolation)",
    case=lambda a, want, got: f"expected ({want[0]:.4f}, {want[1]:.4f}) ms, got ({got[0]:.4f}, {got[1]:.4f})",
    done=lambda cases, wants: (f"on the 10 calls with a cold start of 5 ms: p50 {wants[0][0]:.2f} ms, p95 "
                               f"{wants[0][1]:.2f} ms, while the mean would say {np.mean(cases[0][0]):.2f} ms"))
