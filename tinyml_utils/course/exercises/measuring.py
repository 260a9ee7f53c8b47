"""Self-checking exercises of chapters 00–02: counting MACs, parameters, windows and frames; an arena
estimate; latency statistics. See :mod:`tinyml_utils.course.exercises`."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ... import models
from . import references as R
from .base import _call, _diagnose, _hint, _NotAttempted, _report, _unfilled


# ---------------------------------------------------------------------------- chapter 00
def check_conv_macs(fn: Callable[[int, int, int, int, int], int], strict: bool = False) -> bool | None:
    """``fn(c_in, c_out, kernel, h_out, w_out)`` -> multiply-accumulates of one k×k conv (no bias)."""
    cases = [(1, 16, 3, 28, 28), (16, 32, 3, 14, 14), (32, 64, 3, 7, 7), (3, 8, 5, 10, 12)]

    def body():
        import torch

        for c in cases:
            got = int(_call(fn, *c))
            conv = torch.nn.Conv2d(c[0], c[1], c[2], bias=False)   # oracle: each weight used once per output pixel
            want = conv.weight.numel() * c[3] * c[4]
            if got != want:
                ci, co, k, h, w = c
                hint = _diagnose(got, [
                    (lambda: 2 * want, "a MAC is one multiply AND one add: count it once, not twice"),
                    (lambda: ci * co * k * h * w, "the kernel is k × k: count kernel twice"),
                    (lambda: ci * co * k * k, "every output pixel repeats the work: times h_out · w_out"),
                    (lambda: co * k * k * h * w, "each output channel reads every input channel: times c_in"),
                ], "count one MAC per weight per output pixel")
                return False, _hint(f"conv{c}: expected {want:,}, got {got:,}", hint)
        total = sum(R.conv_macs(*c) for c in cases[:3])
        return True, (f"the baseline's three convs cost {total:,} MACs "
                      f"(+ 640 for the 64→10 linear = 1,919,872, the figure chapter 02 prints)")
    return _report("conv_macs", body, "conv_macs", strict)


def _layer_arena_bytes() -> int:
    """Largest int8 input+output bytes over conv/pool/linear layers of vision_cnn(16) (BN and ReLU fuse)."""
    import torch

    model, sizes = models.vision_cnn(16).eval(), []

    def hook(module, inputs, output):
        sizes.append(inputs[0].numel() + output.numel())

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    return max(sizes)


def check_arena(value: int | None, strict: bool = False) -> bool | None:
    """``value``: your estimate (bytes) of vision_cnn(16)'s int8 arena: max over layers of input + output."""
    def body():
        if _unfilled(value):
            raise _NotAttempted
        want = _layer_arena_bytes()
        got = int(value)
        if got == want:
            return True, (f"{want:,} B: the first max-pool reads 16×28×28 = 12,544 B and writes 3,136 B. "
                          "The arena TFLite Micro measures in chapter 06 is larger (scratch, alignment)")
        if got == 1 * 28 * 28 + 16 * 28 * 28:
            return False, _hint(f"{got:,} B is the first conv", "the max-pool right after it holds more at once")
        if got in (4 * want, 4 * 13_328):
            return False, _hint(f"{got:,} B looks like float32", "int8: one byte per activation")
        return False, _hint(f"{got:,} B is not it",
                            "list each conv/pool/linear's input and output element counts; BN and ReLU fuse away")
    return _report("arena", body, "ARENA", strict)


# ---------------------------------------------------------------------------- chapter 01
def _check_count(fn, cases, hint: str, unit: str, done: str):
    """Body of a check whose answer is a count of windows: compare ``fn(*case)`` with the reference."""
    def body():
        for c in cases:
            want = R.num_windows(*c)
            got = int(_call(fn, *c))
            if got != want:
                n, w, s = c
                h = _diagnose(got, [
                    (lambda: (n - w) // s + 1, f"a recording shorter than one {unit} holds none: "
                                               f"guard the case n < {unit} (the formula goes negative)"),
                    (lambda: (n - w) // s, f"off by one: the {unit} starting at 0 counts too"),
                    (lambda: n // s, f"a {unit} needs its full length inside the recording, not just its start"),
                    (lambda: math.ceil((n - w) / s) + 1, f"round down: a last {unit} that sticks out is dropped"),
                ], hint)
                return False, _hint(f"{c}: expected {want}, got {got}", h)
        return True, done
    return body


def check_num_windows(fn: Callable[[int, int, int], int], strict: bool = False) -> bool | None:
    """``fn(n_samples, window, stride)`` -> number of full windows cut from one recording."""
    cases = [(100, 50, 10), (100, 20, 10), (100, 100, 10), (100, 30, 10), (40, 50, 10), (20, 50, 10),
             (101, 50, 25)]

    def body():
        for c in cases:   # oracle: NumPy's own sliding windows
            n = np.lib.stride_tricks.sliding_window_view(np.arange(c[0]), c[1])[::c[2]].shape[0] if c[0] >= c[1] else 0
            if n != R.num_windows(*c):  # pragma: no cover - guards the reference itself
                raise RuntimeError("reference disagrees with NumPy")
        return _check_count(fn, cases, "windows start at 0, stride, 2·stride, ... while start + window <= n",
                            "window", "a 10 s recording at 10 Hz gives 9 windows of 2 s (stride 1 s) and 6 of 5 s; "
                            "a 2 s recording gives no 5 s window")()
    return _report("num_windows", body, "num_windows", strict)


def check_num_frames(fn: Callable[[int, int, int], int], strict: bool = False) -> bool | None:
    """``fn(num_samples, n_fft, hop)`` -> audio frames of an STFT without padding (as data.audio.log_mel)."""
    cases = [(16000, 480, 320), (16000, 512, 256), (8000, 480, 320), (479, 480, 320), (480, 480, 320),
             (100, 480, 320)]
    return _report("num_frames", _check_count(
        fn, cases, "like windows: frames start every hop samples and need n_fft samples", "frame",
        "1 s at 16 kHz with 30 ms frames (480) every 20 ms (320) gives 49 frames: a 49×40 log-mel image"),
        "num_frames", strict)


# ---------------------------------------------------------------------------- chapter 02
def check_conv_params(fn: Callable[[int, int, int, bool], int], strict: bool = False) -> bool | None:
    """``fn(c_in, c_out, kernel, bias)`` -> parameters of a k×k Conv2d."""
    cases = [(1, 16, 3, False), (16, 32, 3, False), (32, 64, 3, False), (32, 64, 3, True), (3, 8, 5, True)]

    def body():
        import torch

        for c in cases:
            want = sum(p.numel() for p in torch.nn.Conv2d(c[0], c[1], c[2], bias=c[3]).parameters())
            got = int(_call(fn, *c))
            if got != want:
                ci, co, k, b = c
                hint = _diagnose(got, [
                    (lambda: co * ci * k * k, "add one bias per output channel when bias=True"),
                    (lambda: co * ci * k * k + ci, "one bias per OUTPUT channel (c_out), not per input channel"),
                    (lambda: co * ci * k * k + (co if b else 0) + 2 * co, "BatchNorm is a separate layer: "
                                                                          "count only the conv's own weights"),
                    (lambda: co * ci * k + (co if b else 0), "a k × k kernel has k·k weights per channel pair"),
                ], "weights c_out·c_in·k·k, plus one bias per output channel when bias=True")
                return False, _hint(f"conv{c}: expected {want:,}, got {got:,}", hint)
        return True, ("convs 144 + 4,608 + 18,432; with BatchNorm (2 per channel: 224) and the 64→10 linear (650) "
                      "that is vision_cnn(16)'s 24,058 parameters")
    return _report("conv_params", body, "conv_params", strict)


def check_latency_stats(fn: Callable[[Any], tuple[float, float]], strict: bool = False) -> bool | None:
    """``fn(times_ms)`` -> ``(p50, p95)`` in ms of per-call times (a 1-D array)."""
    rng = np.random.default_rng(0)
    cases = [np.array([5.0, 1.0, 1.2, 1.1, 0.9, 1.0, 1.3, 1.0, 1.1, 9.0]),
             np.round(rng.lognormal(0.0, 0.3, 201), 4), np.arange(1.0, 101.0)]

    def body():
        for t in cases:
            want = R.latency_stats(t)
            got = _call(fn, t.copy())
            p50, p95 = float(got[0]), float(got[1])
            if not (math.isclose(p50, want[0], rel_tol=1e-6) and math.isclose(p95, want[1], rel_tol=1e-6)):
                s = np.sort(t)
                hint = _diagnose(p50, [(lambda: np.mean(t), "the mean is pulled up by the cold first call and "
                                                            "outliers: use the median")], "")
                hint = hint or _diagnose(p95, [
                    (lambda: np.max(t), "p95 is the 95th percentile, not the slowest call (the maximum)"),
                    (lambda: s[int(0.95 * len(s))], "interpolate between neighbours (np.percentile's default), "
                                                    "do not just index the sorted array"),
                    (lambda: np.percentile(t, 0.95), "np.percentile takes 95, not 0.95 (percent, not a fraction)"),
                ], "np.median(t) and np.percentile(t, 95) (linear interpolation)")
                return False, _hint(f"expected ({want[0]:.4f}, {want[1]:.4f}) ms, got ({p50:.4f}, {p95:.4f})", hint)
        w = R.latency_stats(cases[0])
        return True, (f"on the 10 calls with a cold start of 5 ms: p50 {w[0]:.2f} ms, p95 {w[1]:.2f} ms, "
                      f"while the mean would say {np.mean(cases[0]):.2f} ms")
    return _report("latency_stats", body, "latency_stats", strict)
