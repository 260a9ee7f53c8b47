"""Self-checking exercises of chapters 08–11: a depthwise-separable conv's MACs and posterior smoothing
(keywords), a radio budget and window statistics (sensors), the int8 update codec and BatchNorm statistics (on-device
learning), a KV cache's bytes and perplexity (language model). See :mod:`tinyml_utils.course.exercises`."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ...data import imu
from . import references as R
from .base import _call, _diagnose, _hint, _report, _same


# ---------------------------------------------------------------------------- chapter 08
def check_ds_conv_macs(fn: Callable[[int, int, int, int, int], int], strict: bool = False) -> bool | None:
    """``fn(c_in, c_out, kernel, h_out, w_out)`` -> MACs of a depthwise k×k conv followed by a 1×1 pointwise conv."""
    cases = [(64, 64, 3, 25, 5), (32, 64, 3, 12, 10), (1, 8, 5, 10, 10), (16, 32, 3, 7, 7)]

    def body():
        import torch

        for c in cases:
            ci, co, k, h, w = c
            dw = torch.nn.Conv2d(ci, ci, k, groups=ci, bias=False)     # oracle: the layers' weight counts
            pw = torch.nn.Conv2d(ci, co, 1, bias=False)
            want = (dw.weight.numel() + pw.weight.numel()) * h * w
            got = int(_call(fn, *c))
            if got != want:
                hint = _diagnose(got, [
                    (lambda: ci * co * k * k * h * w, "that is a full conv: the depthwise conv filters each channel "
                                                      "alone (c_in·k·k per pixel), then a 1×1 mixes them"),
                    (lambda: ci * k * k * h * w, "add the pointwise 1×1 conv: c_in·c_out per output pixel"),
                    (lambda: ci * co * h * w, "add the depthwise k×k conv: c_in·k·k per output pixel"),
                    (lambda: co * k * k * h * w + ci * co * h * w, "the depthwise conv has one filter per INPUT "
                                                                   "channel (c_in), before the pointwise mixes"),
                ], "depthwise c_in·k·k + pointwise c_in·c_out, per output pixel")
                return False, _hint(f"ds_conv{c}: expected {want:,}, got {got:,}", hint)
        ci, co, k, h, w = cases[0]
        full, ds = R.conv_macs(ci, co, k, h, w), R.ds_conv_macs(*cases[0])
        return True, (f"a 64→64 3×3 block on a 25×5 map costs {ds:,} MACs separable against {full:,} as a full "
                      f"conv: {full / ds:.1f}× fewer, which is why the DS-CNN fits a microcontroller")
    return _report("ds_conv_macs", body, "ds_conv_macs", strict)


def check_smooth(fn: Callable[[Any, int], Any], strict: bool = False) -> bool | None:
    """``fn(probs, n)`` -> causal moving average of (T, classes) posteriors over the last ``n`` rows."""
    def body():
        from ...measure import streaming

        rng = np.random.default_rng(0)
        cases = [(np.eye(4)[[0, 0, 1, 1, 1, 2, 3, 3]].astype(np.float64), 3), (rng.dirichlet(np.ones(5), 30), 5),
                 (rng.dirichlet(np.ones(3), 6), 1)]
        for p, n in cases:
            want = streaming.smooth(p, n)                              # oracle: the chapter's detector
            got = np.asarray(_call(fn, p.copy(), n), dtype=np.float64)
            if not _same(got, want):
                c = np.cumsum(np.vstack([np.zeros((n, p.shape[1])), p]), axis=0)
                hint = _diagnose(got, [
                    (lambda: (c[n:] - c[:-n]) / n, "at the start fewer than n rows exist: divide by how many "
                                                   "you averaged, not by n"),
                    (lambda: np.stack([p[i:i + n].mean(0) for i in range(len(p))]),
                     "causal: average the last n inferences up to now; a detector cannot see the future"),
                    (lambda: np.stack([np.convolve(p[:, j], np.ones(n) / n, "same") for j in range(p.shape[1])], 1),
                     "causal: average the last n inferences up to now, not a window centred on now"),
                    (lambda: np.stack([p[max(0, i - n):i + 1].mean(0) for i in range(len(p))]),
                     "off by one: the last n rows including the current one"),
                ], "row t is the mean of rows max(0, t − n + 1) … t")
                if got.shape != want.shape:
                    return False, _hint(f"shape {got.shape}, expected {want.shape}", "one smoothed row per input row")
                row = int(np.flatnonzero(~np.isclose(got, want).all(1))[0])
                return False, _hint(f"{p.shape} posteriors, n = {n}: row {row} differs", hint)
        return True, ("same as measure.streaming.smooth: a keyword seen in 3 frames in a row reaches 1.0 only on the "
                      "third (smoothing delays a detection by up to n − 1 inferences and removes one-frame blips)")
    return _report("smooth", body, "smooth", strict)


# ---------------------------------------------------------------------------- chapter 09
def check_stream_rate(fn: Callable[[int, int, float, float], tuple[float, float]],
                      strict: bool = False) -> bool | None:
    """``fn(axes, bytes_per_sample, rate_hz, uj_per_byte)`` -> ``(bytes_per_s, uj_per_s)`` of streaming raw data."""
    cases = [(6, 2, 50.0, 0.3), (6, 2, 10.0, 0.3), (3, 2, 100.0, 0.5), (1, 4, 16_000.0, 0.3)]

    def body():
        for a, b, r, e in cases:
            want = R.stream_rate(a, b, r, e)
            got = tuple(float(v) for v in _call(fn, a, b, r, e))
            if not _same(got, want):
                bps = a * b * r
                hint = _diagnose(got, [
                    (lambda: (a * r, a * r * e), "each sample is bytes_per_sample bytes (int16: 2)"),
                    (lambda: (b * r, b * r * e), "every axis is sent: times the number of axes"),
                    (lambda: (bps, bps / e), "energy = bytes × µJ per byte: multiply"),
                    (lambda: (bps * 8, bps * 8 * e), "count bytes, not bits"),
                ], "bytes/s = axes × bytes per sample × rate; µJ/s = bytes/s × µJ per byte")
                return False, _hint(f"{a} axes × {b} B at {r:g} Hz, {e} µJ/B: expected {want}, got {got}", hint)
        b50 = R.stream_rate(6, 2, 50.0, 0.3)
        return True, (f"6 int16 axes at 50 Hz are {b50[0]:.0f} B/s, {b50[1]:.0f} µJ/s ({b50[1]:.0f} µW) of radio "
                      "payload before any connection events; at 10 Hz 120 B/s")
    return _report("stream_rate", body, "stream_rate", strict)


def _check_stats(name: str, fn: Callable, cases: list, oracle: Callable, slips: Callable, what: str,
                 describe: Callable, success: str, strict: bool) -> bool | None:
    """The body both per-channel statistics checks share: ``oracle(x)`` is the reference tuple,
    ``slips(x)`` the typical wrong answers with their hints, ``describe(x, want)`` a wrong case's line."""
    def body():
        for x in cases:
            want = oracle(x)
            got = tuple(np.asarray(v, dtype=np.float64) for v in _call(fn, x.copy()))
            if not _same(got, want, rtol=1e-4, atol=1e-5):
                return False, _hint(describe(x, want), _diagnose(got, slips(x), what, rtol=1e-4, atol=1e-5))
        return True, success
    return _report(name, body, name, strict)


def check_window_stats(fn: Callable[[Any], tuple[Any, Any, Any]], strict: bool = False) -> bool | None:
    """``fn(window)`` -> per-channel ``(mean, std, rms)`` of one (channels, samples) window."""
    def oracle(x):   # the DSP block's first three features per channel
        f = imu.window_features(x[None], 10.0).reshape(x.shape[0], -1)
        return f[:, 0], f[:, 1], f[:, 2]

    def slips(x):
        return [(lambda: (x.mean(0), x.std(0), np.sqrt((x ** 2).mean(0))),
                 "one value per channel: reduce over the samples (axis=1)"),
                (lambda: (x.mean(1), x.std(1, ddof=1), np.sqrt((x ** 2).mean(1))),
                 "the DSP block's std divides by n (np.std's default, ddof=0), not n − 1"),
                (lambda: (x.mean(1), x.std(1), x.std(1)),
                 "RMS is sqrt(mean(x²)) of the raw samples: it keeps the mean (gravity), std removes it"),
                (lambda: (x.mean(1), x.std(1), np.sqrt((x ** 2).sum(1))), "RMS takes the MEAN of the squares")]

    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(6, 30)), np.array([[1.0, -1.0, 1.0, -1.0], [2.0, 2.0, 2.0, 2.0]]),
             rng.normal(1.0, 3.0, size=(3, 50))]
    return _check_stats(
        "window_stats", fn, cases, oracle, slips, "mean, std (ddof=0) and sqrt(mean(x²)) over axis=1",
        lambda x, w: f"a {x.shape} window: expected mean/std/rms of channel 0 = {w[0][0]:.4f}/{w[1][0]:.4f}/"
                     f"{w[2][0]:.4f}",
        "same as the DSP block's first three features per channel; for [1, −1, 1, −1] mean 0, std 1, RMS 1; for a "
        "constant 2: std 0 but RMS 2 (RMS keeps the offset, such as gravity)", strict)


# ---------------------------------------------------------------------------- chapter 10
def check_quantize_delta(fn: Callable[[Any, Any], tuple[Any, float]], strict: bool = False) -> bool | None:
    """``fn(local, global_)`` -> ``(q, scale)``: one tensor's update as the course's clients send it, int8
    ``q`` and a float ``scale`` with ``local ≈ global_ + q * scale``."""
    def body():
        from ..federated.task import quantize_update  # oracle: the codec the federated chapter runs

        rng = np.random.default_rng(0)
        cases = [(rng.normal(0.0, 0.1, (8, 3)), None), (rng.normal(0.5, 0.2, (16,)), 0.03),
                 (rng.normal(size=(4, 4)), -0.5)]
        for g, shift in cases:
            local = g + (rng.normal(0.0, 0.01, g.shape) if shift is None else rng.uniform(0, 0.02, g.shape) + shift)
            want = quantize_update({"w": local}, {"w": g})
            wq, ws = want["int8-delta"].reshape(g.shape), float(want["int8-scale"][0])
            q, scale = _call(fn, local.copy(), g.copy())
            q = np.asarray(q)
            if q.shape != g.shape:
                return False, _hint(f"q has shape {q.shape} for a {g.shape} tensor", "one int8 per weight")
            if _same(q, wq, atol=0.5) and _same(scale, ws, rtol=1e-4):
                continue
            d = local - g                      # float64, as a learner's NumPy computes it
            top = float(np.abs(d).max())
            hint = _diagnose(q, [
                (lambda: _codes(local, np.abs(local).max(), 127), "quantize the UPDATE (local − global), not the "
                                                                  "weights: the delta is small, so its steps are fine"),
                (lambda: _codes(d, top, 128), "divide max|delta| by 127, not 128: ±127 keeps zero in the middle of a "
                                              "symmetric int8 range (and +128 does not fit)"),
                (lambda: np.trunc(d / (top / 127)), "round to the nearest step; truncation biases every delta "
                                                    "toward 0"),
                (lambda: _codes(d, d.max(), 127), "the scale comes from the largest MAGNITUDE, max|delta|, or the "
                                                  "most negative deltas clip"),
            ], "scale = max|local − global| / 127, q = round((local − global) / scale)")
            return False, _hint(f"a {g.shape} update: expected scale {ws:.3g}, q[0] = {int(wq.flat[0])}", hint)
        return True, ("same as the federated clients' codec: 4 bytes a weight become 1 (plus 4 bytes of scale per "
                      "tensor), and each weight is off by at most half a step")
    return _report("quantize_delta", body, "quantize_delta", strict)


def _codes(x, top, levels):
    """round(x / s) with s = top / levels: the codes of one typical slip."""
    return np.round(x / (float(top) / levels))


def check_bn_stats(fn: Callable[[Any], tuple[Any, Any]], strict: bool = False) -> bool | None:
    """``fn(x)`` -> ``(running_mean, running_var)`` a BatchNorm1d (momentum=None) stores after one (N, C, L) batch."""
    def oracle(x):   # PyTorch's BatchNorm after one batch
        import torch

        bn = torch.nn.BatchNorm1d(x.shape[1], momentum=None).train()
        with torch.no_grad():
            bn(torch.from_numpy(x).float())
        return bn.running_mean.numpy(), bn.running_var.numpy()

    def slips(x):
        return [(lambda: (x.mean((0, 2)), x.var((0, 2))),
                 "BatchNorm's running variance is the unbiased one (ddof=1, n − 1 over N·L values)"),
                (lambda: (x.mean((1, 2)), x.var((1, 2), ddof=1)),
                 "one statistic per CHANNEL: reduce over the batch and time axes (0 and 2)"),
                (lambda: (x.mean(0).mean(1), x.var(0, ddof=1).mean(1)),
                 "pool the batch and time axes before taking the variance: var over (0, 2)"),
                (lambda: (x.mean((0, 2)), x.std((0, 2), ddof=1)), "the variance, not the standard deviation")]

    rng = np.random.default_rng(0)
    cases = [rng.normal(2.0, 3.0, size=(8, 4, 30)), rng.normal(size=(2, 6, 5)), rng.normal(-1, 0.5, (32, 3, 1))]
    return _check_stats(
        "bn_stats", fn, cases, oracle, slips, "mean and var(ddof=1) over axes (0, 2)",
        lambda x, w: f"a {x.shape} batch: channel 0 expected mean {w[0][0]:.4f}, var {w[1][0]:.4f}",
        "same as BatchNorm1d's running statistics after one batch (momentum=None): this is all AdaBN re-estimates, "
        "with no labels", strict)


# ---------------------------------------------------------------------------- chapter 11
def check_kv_cache_bytes(fn: Callable[..., int], strict: bool = False) -> bool | None:
    """``fn(layers, context, dim, bytes_per_value=4)`` -> bytes of a KV cache (keys and values, every layer)."""
    cases = [(3, 100, 64, 4), (4, 128, 128, 4), (4, 2048, 128, 4), (16, 2048, 2048, 2), (4, 128, 128, 1)]

    def body():
        for la, ctx, d, b in cases:
            want = R.kv_cache_bytes(la, ctx, d, b)
            got = int(_call(fn, la, ctx, d, b))
            if got != want:
                hint = _diagnose(got, [
                    (lambda: want // 2, "count keys AND values: two tensors per layer"),
                    (lambda: want // la, "every layer has its own cache: times the layers"),
                    (lambda: want // b, "bytes, not values: times bytes_per_value"),
                    (lambda: 2 * la * ctx * ctx * b, "each position stores dim values, not one per position"),
                ], "2 (K and V) × layers × context × dim × bytes per value")
                return False, _hint(f"{la} layers, {ctx} positions, dim {d}, {b} B: expected {want:,}, got {got:,}",
                                    hint)
        small, long = R.kv_cache_bytes(4, 128, 128), R.kv_cache_bytes(4, 2048, 128)
        return True, (f"the full-mode model's fp32 cache is {small:,} B (512 KiB) for 128 tokens and {long:,} B "
                      "(8 MiB) for 2,048: at long contexts the cache, not the weights, fills the memory")
    return _report("kv_cache_bytes", body, "kv_cache_bytes", strict)


def check_perplexity(fn: Callable[[Any, Any], float], strict: bool = False) -> bool | None:
    """``fn(logits, targets)`` -> perplexity ``exp(mean cross-entropy in nats)`` of (T, V) logits and (T,) targets."""
    def body():
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(0)
        cases = [(torch.zeros(10, 512), torch.arange(10)), (torch.randn(20, 8, generator=g) * 3,
                                                            torch.randint(0, 8, (20,), generator=g)),
                 (torch.randn(5, 50, generator=g), torch.randint(0, 50, (5,), generator=g))]
        for z, y in cases:
            want = float(torch.exp(F.cross_entropy(z, y)))                 # oracle: torch's cross-entropy
            got = float(_call(fn, z.clone(), y.clone()))
            if not math.isclose(got, want, rel_tol=1e-4):
                nll = -F.log_softmax(z.double(), 1)[torch.arange(len(y)), y]
                hint = _diagnose(got, [
                    (lambda: float(torch.exp(nll).mean()), "exp of the MEAN negative log-likelihood, not the mean "
                                                           "of each token's exp"),
                    (lambda: float(nll.mean()), "that is the loss in nats: perplexity is its exp"),
                    (lambda: float(torch.exp(-z.double()[torch.arange(len(y)), y].mean())),
                     "normalise first: log_softmax of the logits, not the raw logits"),
                    (lambda: float(torch.exp(nll.sum())), "average over the tokens before the exp"),
                ], "exp(mean over tokens of −log softmax(logits)[target])", rtol=1e-4)
                return False, _hint(f"{tuple(z.shape)} logits: expected {want:.4f}, got {got:.4f}", hint)
        return True, ("matches exp(F.cross_entropy); zero logits over 512 tokens give exactly 512: knowing nothing "
                      "is a uniform choice among all tokens, and ln 512 = 6.24 nats")
    return _report("perplexity", body, "perplexity", strict)
