"""Self-checks of chapters 08–12: depthwise-separable MACs and posterior smoothing, a radio budget and window
statistics, the int8 update codec and BatchNorm statistics, a KV cache and perplexity, a duty cycle and
instructions per MAC."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...data import imu
from ...measure import streaming
from ..federated.task import quantize_update
from .base import drawn, exercise
from .compressing import _floats
from .measuring import _conv_macs


# ---------------------------------------------------------------------------- chapter 08
def _ds_conv_macs(c_in, c_out, kernel, h_out, w_out):
    dw = torch.nn.Conv2d(c_in, c_in, kernel, groups=c_in, bias=False)     # the layers' weight counts
    pw = torch.nn.Conv2d(c_in, c_out, 1, bias=False)
    return (dw.weight.numel() + pw.weight.numel()) * h_out * w_out


check_ds_conv_macs = exercise(
    "ds_conv_macs", "08", "``fn(c_in, c_out, kernel, h_out, w_out)`` -> MACs of a depthwise k×k conv followed by a "
                          "1×1 pointwise conv.",
    cases=[(64, 64, 3, 25, 5), (32, 64, 3, 12, 10), (1, 8, 5, 10, 10), (16, 32, 3, 7, 7)],
    ref=_ds_conv_macs, answer=int, rtol=0, atol=0,
    slips=[(lambda ci, co, k, h, w: ci * co * k * k * h * w, "that is a full conv: the depthwise conv filters each "
            "channel alone (c_in·k·k per pixel), then a 1×1 mixes them"),
           (lambda ci, co, k, h, w: ci * k * k * h * w, "add the pointwise 1×1 conv: c_in·c_out per output pixel"),
           (lambda ci, co, k, h, w: ci * co * h * w, "add the depthwise k×k conv: c_in·k·k per output pixel"),
           (lambda ci, co, k, h, w: co * k * k * h * w + ci * co * h * w,
            "the depthwise conv has one filter per INPUT channel (c_in), before the pointwise mixes")],
    hint="depthwise c_in·k·k + pointwise c_in·c_out, per output pixel",
    done=lambda cases, wants: (f"a 64→64 3×3 block on a 25×5 map costs {wants[0]:,} MACs separable against "
                               f"{_conv_macs(*cases[0]):,} as a full conv: {_conv_macs(*cases[0]) / wants[0]:.1f}× "
                               "fewer, which is why the DS-CNN fits a microcontroller"))


check_smooth = exercise(
    "smooth", "08", "``fn(probs, n)`` -> causal moving average of (T, classes) posteriors over the last ``n`` rows.",
    cases=drawn(lambda rng, g: [(np.eye(4)[[0, 0, 1, 1, 1, 2, 3, 3]].astype(np.float64), 3),
                                (rng.dirichlet(np.ones(5), 30), 5), (rng.dirichlet(np.ones(3), 6), 1)]),
    ref=streaming.smooth, answer=_floats, shape_hint="one smoothed row per input row",
    slips=[(lambda p, n: np.stack([p[max(0, i - n + 1):i + 1].sum(0) / n for i in range(len(p))]),
            "at the start fewer than n rows exist: divide by how many you averaged, not by n"),
           (lambda p, n: np.stack([p[i:i + n].mean(0) for i in range(len(p))]),
            "causal: average the last n inferences up to now; a detector cannot see the future"),
           (lambda p, n: np.stack([np.convolve(p[:, j], np.ones(n) / n, "same") for j in range(p.shape[1])], 1),
            "causal: average the last n inferences up to now, not a window centred on now"),
           (lambda p, n: np.stack([p[max(0, i - n):i + 1].mean(0) for i in range(len(p))]),
            "off by one: the last n rows including the current one")],
    hint="row t is the mean of rows max(0, t − n + 1) … t",
    case=lambda a, want, got: (f"{a[0].shape} posteriors, n = {a[1]}: row "
                               f"{int(np.flatnonzero(~np.isclose(got, want).all(1))[0])} differs"),
    done="same as measure.streaming.smooth: a keyword seen in 3 frames in a row reaches 1.0 only on the third "
         "(smoothing delays a detection by up to n − 1 inferences and removes one-frame blips)")


# ---------------------------------------------------------------------------- chapter 09
check_stream_rate = exercise(
    "stream_rate", "09", "``fn(axes, bytes_per_sample, rate_hz, uj_per_byte)`` -> ``(bytes_per_s, uj_per_s)`` of "
                         "streaming raw data.",
    cases=[(6, 2, 50.0, 0.3), (6, 2, 10.0, 0.3), (3, 2, 100.0, 0.5), (1, 4, 16_000.0, 0.3)],
    ref=lambda a, b, r, e: (a * b * r, a * b * r * e), answer=lambda v: tuple(float(x) for x in v),
    slips=[(lambda a, b, r, e: (a * r, a * r * e), "each sample is bytes_per_sample bytes (int16: 2)"),
           (lambda a, b, r, e: (b * r, b * r * e), "every axis is sent: times the number of axes"),
           (lambda a, b, r, e: (a * b * r, a * b * r / e), "energy = bytes × µJ per byte: multiply"),
           (lambda a, b, r, e: (8 * a * b * r, 8 * a * b * r * e), "count bytes, not bits")],
    hint="bytes/s = axes × bytes per sample × rate; µJ/s = bytes/s × µJ per byte",
    case=lambda a, want, got: (f"{a[0]} axes × {a[1]} B at {a[2]:g} Hz, {a[3]} µJ/B: expected {want}, "
                               f"got {got}"),
    done=lambda cases, wants: (f"6 int16 axes at 50 Hz are {wants[0][0]:.0f} B/s, {wants[0][1]:.0f} µJ/s "
                               f"({wants[0][1]:.0f} µW) of radio payload before any connection events; at 10 Hz "
                               f"{wants[1][0]:.0f} B/s"))


def _arrays(v):
    return tuple(np.asarray(x, dtype=np.float64) for x in v)


def _window_stats(x):
    f = imu.window_features(x[None], 10.0).reshape(x.shape[0], -1)
    return f[:, 0], f[:, 1], f[:, 2]


check_window_stats = exercise(
    "window_stats", "09", "``fn(window)`` -> per-channel ``(mean, std, rms)`` of one (channels, samples) window.",
    cases=drawn(lambda rng, g: [(rng.normal(size=(6, 30)),), (np.array([[1.0, -1.0, 1.0, -1.0], [2.0] * 4]),),
                                (rng.normal(1.0, 3.0, size=(3, 50)),)]),
    ref=_window_stats, answer=_arrays, rtol=1e-4, atol=1e-5,
    slips=[(lambda x: (x.mean(0), x.std(0), np.sqrt((x ** 2).mean(0))),
            "one value per channel: reduce over the samples (axis=1)"),
           (lambda x: (x.mean(1), x.std(1, ddof=1), np.sqrt((x ** 2).mean(1))),
            "the DSP block's std divides by n (np.std's default, ddof=0), not n − 1"),
           (lambda x: (x.mean(1), x.std(1), x.std(1)),
            "RMS is sqrt(mean(x²)) of the raw samples: it keeps the mean (gravity), std removes it"),
           (lambda x: (x.mean(1), x.std(1), np.sqrt((x ** 2).sum(1))), "RMS takes the MEAN of the squares")],
    hint="mean, std (ddof=0) and sqrt(mean(x²)) over axis=1",
    case=lambda a, w, got: (f"a {a[0].shape} window: expected mean/std/rms of channel 0 = {w[0][0]:.4f}/"
                            f"{w[1][0]:.4f}/{w[2][0]:.4f}"),
    done="same as the DSP block's first three features per channel; for [1, −1, 1, −1] mean 0, std 1, RMS 1; for a "
         "constant 2: std 0 but RMS 2 (RMS keeps the offset, such as gravity)")


# ---------------------------------------------------------------------------- chapter 10
def _codec(local, global_):
    """The federated clients' codec on one tensor: ``(int8 codes of local's shape, scale)``."""
    sent = quantize_update({"w": local}, {"w": global_})
    return sent["int8-delta"].reshape(np.shape(global_)), float(sent["int8-scale"][0])


def _delta_cases(rng, g) -> list[tuple]:
    gs = [(rng.normal(0.0, 0.1, (8, 3)), None), (rng.normal(0.5, 0.2, (16,)), 0.03), (rng.normal(size=(4, 4)), -0.5)]
    return [(g + (rng.normal(0.0, 0.01, g.shape) if shift is None else rng.uniform(0, 0.02, g.shape) + shift), g)
            for g, shift in gs]


def _codes(x, top, levels):
    return np.round(x / (float(top) / levels)), None


check_quantize_delta = exercise(
    "quantize_delta", "10", "``fn(local, global_)`` -> ``(q, scale)``: one tensor's update as the course's clients "
                            "send it, int8 ``q`` and a float ``scale`` with ``local ≈ global_ + q * scale``.",
    cases=drawn(_delta_cases), ref=_codec, answer=lambda v: (np.asarray(v[0]), float(v[1])), rtol=1e-4, atol=0,
    shape_hint="one int8 per weight",
    slips=[(lambda lo, g: _codes(lo, np.abs(lo).max(), 127),
            "quantize the UPDATE (local − global), not the weights: the delta is small, so its steps are fine"),
           (lambda lo, g: _codes(lo - g, np.abs(lo - g).max(), 128), "divide max|delta| by 127, not 128: ±127 keeps "
            "zero in the middle of a symmetric int8 range (and +128 does not fit)"),
           (lambda lo, g: (np.trunc((lo - g) / (np.abs(lo - g).max() / 127)), None),
            "round to the nearest step; truncation biases every delta toward 0"),
           (lambda lo, g: _codes(lo - g, (lo - g).max(), 127),
            "the scale comes from the largest MAGNITUDE, max|delta|, or the most negative deltas clip")],
    hint="scale = max|local − global| / 127, q = round((local − global) / scale)",
    case=lambda a, want, got: f"a {a[1].shape} update: expected scale {want[1]:.3g}, q[0] = {int(want[0].flat[0])}",
    done="same as the federated clients' codec: 4 bytes a weight become 1 (plus 4 bytes of scale per tensor), and "
         "each weight is off by at most half a step")


def _torch_bn_stats(x):
    bn = torch.nn.BatchNorm1d(x.shape[1], momentum=None).train()
    with torch.no_grad():
        bn(torch.from_numpy(x).float())
    return bn.running_mean.numpy(), bn.running_var.numpy()


check_bn_stats = exercise(
    "bn_stats", "10", "``fn(x)`` -> ``(running_mean, running_var)`` a BatchNorm1d (momentum=None) stores after one "
                      "(N, C, L) batch.",
    cases=drawn(lambda rng, g: [(rng.normal(2.0, 3.0, size=(8, 4, 30)),), (rng.normal(size=(2, 6, 5)),),
                                (rng.normal(-1, 0.5, (32, 3, 1)),)]),
    ref=_torch_bn_stats, answer=_arrays, rtol=1e-4, atol=1e-5,
    slips=[(lambda x: (x.mean((0, 2)), x.var((0, 2))),
            "BatchNorm's running variance is the unbiased one (ddof=1, n − 1 over N·L values)"),
           (lambda x: (x.mean((1, 2)), x.var((1, 2), ddof=1)),
            "one statistic per CHANNEL: reduce over the batch and time axes (0 and 2)"),
           (lambda x: (x.mean(0).mean(1), x.var(0, ddof=1).mean(1)),
            "pool the batch and time axes before taking the variance: var over (0, 2)"),
           (lambda x: (x.mean((0, 2)), x.std((0, 2), ddof=1)), "the variance, not the standard deviation")],
    hint="mean and var(ddof=1) over axes (0, 2)",
    case=lambda a, w, got: f"a {a[0].shape} batch: channel 0 expected mean {w[0][0]:.4f}, var {w[1][0]:.4f}",
    done="same as BatchNorm1d's running statistics after one batch (momentum=None): this is all AdaBN "
         "re-estimates, with no labels")


# ---------------------------------------------------------------------------- chapter 11
check_kv_cache_bytes = exercise(
    "kv_cache_bytes", "11", "``fn(layers, context, dim, bytes_per_value=4)`` -> bytes of a KV cache (keys and "
                            "values, every layer).",
    cases=[(3, 100, 64, 4), (4, 128, 128, 4), (4, 2048, 128, 4), (16, 2048, 2048, 2), (4, 128, 128, 1)],
    ref=lambda la, c, d, b=4: 2 * la * c * d * b, answer=int, rtol=0, atol=0,
    slips=[(lambda la, c, d, b: la * c * d * b, "count keys AND values: two tensors per layer"),
           (lambda la, c, d, b: 2 * c * d * b, "every layer has its own cache: times the layers"),
           (lambda la, c, d, b: 2 * la * c * d, "bytes, not values: times bytes_per_value"),
           (lambda la, c, d, b: 2 * la * c * c * b, "each position stores dim values, not one per position")],
    case=lambda a, want, got: (f"{a[0]} layers, {a[1]} positions, dim {a[2]}, {a[3]} B: expected {want:,}, "
                               f"got {got:,}"),
    hint="2 (K and V) × layers × context × dim × bytes per value",
    done=lambda cases, wants: (f"the full-mode model's fp32 cache is {wants[1]:,} B (512 KiB) for 128 tokens and "
                               f"{wants[2]:,} B (8 MiB) for 2,048: at long contexts the cache, not the weights, fills "
                               "the memory"))


def _nll(z, y):
    return -z.double().log_softmax(1)[range(len(y)), y]


check_perplexity = exercise(
    "perplexity", "11", "``fn(logits, targets)`` -> perplexity ``exp(mean cross-entropy in nats)`` of (T, V) logits "
                        "and (T,) targets.",
    cases=drawn(lambda rng, g: [(torch.zeros(10, 512), torch.arange(10)),
                                (torch.randn(20, 8, generator=g) * 3, torch.randint(0, 8, (20,), generator=g)),
                                (torch.randn(5, 50, generator=g), torch.randint(0, 50, (5,), generator=g))]),
    ref=lambda z, y: float(torch.exp(F.cross_entropy(torch.as_tensor(z), torch.as_tensor(y)))), rtol=1e-4, atol=0,
    slips=[(lambda z, y: _nll(z, y).exp().mean(),
            "exp of the MEAN negative log-likelihood, not the mean of each token's exp"),
           (lambda z, y: _nll(z, y).mean(), "that is the loss in nats: perplexity is its exp"),
           (lambda z, y: (-z.double()[range(len(y)), y].mean()).exp(),
            "normalise first: log_softmax of the logits, not the raw logits"),
           (lambda z, y: _nll(z, y).sum().exp(), "average over the tokens before the exp")],
    hint="exp(mean over tokens of −log softmax(logits)[target])",
    case=lambda a, want, got: f"{tuple(a[0].shape)} logits: expected {want:.4f}, got {got:.4f}",
    done="matches exp(F.cross_entropy); zero logits over 512 tokens give exactly 512: knowing nothing is a uniform "
         "choice among all tokens, and ln 512 = 6.24 nats")


# ---------------------------------------------------------------------------- chapter 12
check_duty_cycle = exercise(
    "duty_cycle", "12", "``fn(instructions, period_ms, clock_hz, cpi)`` -> percent of the core busy (can exceed 100).",
    cases=[(13_000_000, 40.0, 80e6, 1.0), (2_000_000, 40.0, 80e6, 1.5), (64_000, 20.0, 64e6, 1.0),
           (5_000_000, 1000.0, 400e6, 1.2)],
    ref=lambda n, p, f, c: 100.0 * n * c / f / (p / 1e3), rtol=1e-6, atol=1e-6,
    slips=[(lambda n, p, f, c: n * c / f / (p / 1e3), "a fraction, not a percent: times 100"),
           (lambda n, p, f, c: 100 * n / f / (p / 1e3), "cycles = instructions × cycles per instruction (CPI)"),
           (lambda n, p, f, c: 100 * n * c / f / p, "the period is in milliseconds: divide by 1000 to get seconds")],
    hint="busy time = instructions × CPI / clock; duty = busy time / period",
    case=lambda a, want, got: f"{a}: expected {want:.3f} %, got {got:.3f}",
    done=lambda cases, wants: (f"{len(cases)} cases; e.g. 13 M instructions every 40 ms at 80 MHz and CPI 1 keep "
                               f"the core {wants[0]:.1f} % busy"))

check_instructions_per_mac = exercise(
    "instructions_per_mac", "12", "``fn(instructions, macs)`` -> instructions per multiply-accumulate (a float).",
    cases=[(50_000_000, 2_656_768), (8_800_000, 1_919_872), (21_117, 3_072)],
    ref=lambda n, m: n / m, rtol=1e-9, atol=0,
    slips=[(lambda n, m: m / n, "invert it: instructions divided by MACs")],
    hint="instructions / MACs", case=lambda a, want, got: f"({a[0]:,}, {a[1]:,}): expected {want:.3f}, got {got:.3f}",
    done="instructions per MAC: the figure a kernel engineer drives down (loads, address arithmetic, "
         "requantization and loop overhead all count)")
