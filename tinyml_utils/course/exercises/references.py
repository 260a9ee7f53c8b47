"""Reference solutions of the self-checking exercises, out of the notebooks' sight.

The checks compare a learner's answer with an independent oracle (PyTorch, NumPy, Flower or a
package helper) where one exists; these functions are what a teacher hands out and what the tests
feed the checks. :func:`tinyml_utils.course.exercises.reference` looks them up by exercise name.
"""
from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------------------- chapters 00-02
def conv_macs(c_in: int, c_out: int, kernel: int, h_out: int, w_out: int) -> int:
    return c_in * c_out * kernel * kernel * h_out * w_out


def num_windows(n_samples: int, window: int, stride: int) -> int:
    return 0 if n_samples < window else (n_samples - window) // stride + 1


def conv_params(c_in: int, c_out: int, kernel: int, bias: bool) -> int:
    return c_out * c_in * kernel * kernel + (c_out if bias else 0)


def latency_stats(times_ms) -> tuple[float, float]:
    t = np.asarray(times_ms, dtype=np.float64)
    return float(np.median(t)), float(np.percentile(t, 95))


# ---------------------------------------------------------------------------- chapters 03-07
def mask(weight, sparsity: float):
    import torch

    w = weight.detach().abs().flatten()
    k = round(sparsity * w.numel())                  # weights to zero, as torch.nn.utils.prune counts
    m = torch.ones_like(w)
    if k > 0:
        m[torch.topk(w, k, largest=False).indices] = 0.0
    return m.reshape(weight.shape)


def schedule(initial: float, final: float, n: int) -> list[float]:
    return [final + (initial - final) * (1 - k / n) ** 3 for k in range(n + 1)]


def qparams(x) -> tuple[float, int]:
    import torch

    x = torch.as_tensor(x, dtype=torch.float32)
    qmin, qmax = -128, 127
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = max((hi - lo) / (qmax - qmin), float(np.finfo(np.float32).eps))
    zero_point = int(min(max(qmin - round(lo / scale), qmin), qmax))
    return scale, zero_point


def quantize(x, scale: float, zero_point: int):
    import torch

    q = torch.round(torch.as_tensor(x, dtype=torch.float32) / scale) + zero_point
    return torch.clamp(q, -128, 127).to(torch.int8)


def soft_targets(logits, T: float):
    import torch

    return torch.softmax(torch.as_tensor(logits) / T, dim=1)


def kd_loss(student_logits, teacher_logits, y, temperature: float, alpha: float):
    import torch.nn.functional as F

    T = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, y)


def parity(logits, reference) -> tuple[float, float]:
    a, b = np.asarray(logits, np.float32), np.asarray(reference, np.float32)
    return float(np.mean(a.argmax(1) == b.argmax(1))), float(np.max(np.abs(a - b)))


def dequantize(q, scale: float, zero_point: int):
    return (np.asarray(q).astype(np.float32) - zero_point) * np.float32(scale)


def budget(model_bytes: int, arena_bytes: int, device: dict) -> tuple[bool, int, int]:
    flash_need = int(model_bytes) + int(device["runtime_flash_bytes"])
    sram_need = int(arena_bytes)
    fits = flash_need <= device["flash_bytes"] and sram_need <= device["sram_bytes"]
    return bool(fits), flash_need, sram_need


def npu_estimate(macs: int, npu_cycles: int, total_cycles: int, clock_hz: float,
                 macs_per_cycle: int) -> tuple[float, float]:
    latency_ms = 1e3 * total_cycles / clock_hz
    utilization = macs / (npu_cycles * macs_per_cycle)
    return latency_ms, utilization


# ---------------------------------------------------------------------------- chapters 08-11
def ds_conv_macs(c_in: int, c_out: int, kernel: int, h_out: int, w_out: int) -> int:
    return c_in * kernel * kernel * h_out * w_out + c_in * c_out * h_out * w_out


def smooth(probs, n: int):
    p = np.asarray(probs, dtype=np.float64)
    out = np.empty_like(p)
    for i in range(len(p)):
        out[i] = p[max(0, i - n + 1):i + 1].mean(axis=0)
    return out


def stream_rate(axes: int, bytes_per_sample: int, rate_hz: float, uj_per_byte: float) -> tuple[float, float]:
    b = axes * bytes_per_sample * rate_hz
    return b, b * uj_per_byte


def window_stats(window):
    x = np.asarray(window, dtype=np.float64)
    return x.mean(axis=1), x.std(axis=1), np.sqrt(np.mean(x ** 2, axis=1))


def quantize_delta(local, global_):
    delta = np.asarray(local, np.float32) - np.asarray(global_, np.float32)
    scale = float(np.abs(delta).max()) / 127
    return np.round(delta / scale).astype(np.int8), scale


def bn_stats(x):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=(0, 2)), x.var(axis=(0, 2), ddof=1)


def kv_cache_bytes(layers: int, context: int, dim: int, bytes_per_value: int = 4) -> int:
    return 2 * layers * context * dim * bytes_per_value


def perplexity(logits, targets) -> float:
    import torch
    import torch.nn.functional as F

    z = torch.as_tensor(logits, dtype=torch.float64)
    return float(torch.exp(F.cross_entropy(z, torch.as_tensor(targets))))


# ---------------------------------------------------------------------------- chapter 12
def duty_cycle(instructions: float, period_ms: float, clock_hz: float, cpi: float) -> float:
    return 100.0 * instructions * cpi / clock_hz / (period_ms / 1e3)


def instructions_per_mac(instructions: int, macs: int) -> float:
    return instructions / macs
