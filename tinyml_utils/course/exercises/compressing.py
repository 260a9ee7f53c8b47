"""Self-checks of chapters 03–07: a pruning mask and schedule, int8 parameters and quantizing, soft targets and
the distillation loss, parity and dequantizing, a device budget and an NPU estimate."""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.ao.quantization.observer import MinMaxObserver
from torch.nn.utils import prune as torch_prune

from ...compress import distill, prune, quantize
from ...deploy import devices
from ...measure.accuracy import parity as measured_parity
from .base import drawn, exercise


def _floats(v):
    return np.asarray(v, dtype=np.float64)


def _pair(v):
    return float(v[0]), float(v[1])


# ---------------------------------------------------------------------------- chapter 03
def _l1_mask(weight, sparsity):
    layer = torch.nn.Linear(1, 1)
    layer.weight = torch.nn.Parameter(weight.clone())
    return torch_prune.l1_unstructured(layer, "weight", amount=sparsity).weight_mask


def _zero_k(weight, sparsity, scores, largest=False):
    """A mask that zeroes the round(sparsity·n) weights of smallest (or largest) ``scores``."""
    m = torch.ones(weight.numel())
    m[torch.topk(scores.flatten(), round(sparsity * weight.numel()), largest=largest).indices] = 0.0
    return m.reshape(weight.shape)


check_mask = exercise(
    "mask", "03", "``fn(weight, sparsity)`` -> 0/1 mask of ``weight``'s shape that zeroes the smallest |w|.",
    cases=drawn(lambda rng, g: [(torch.randn(*shape, generator=g), s) for shape, s in [
        ((16, 1, 3, 3), 0.5), ((32, 16, 3, 3), 0.8), ((10, 64), 0.0), ((64, 32, 3, 3), 0.95)]]),
    ref=_l1_mask, answer=lambda m: (np.asarray(m) != 0).astype(np.float64), rtol=0, atol=0,
    shape_hint="reshape the flat mask back to weight.shape", fill="magnitude_mask",
    slips=[(lambda w, s: _zero_k(w, s, w), "rank by magnitude |w|, not by signed value: -3 is a large weight"),
           (lambda w, s: _zero_k(w, s, w.abs(), largest=True),
            "you kept the smallest weights: zero the smallest |w|, keep the largest"),
           (lambda w, s: 1.0 - _l1_mask(w, s),
            "you kept the smallest weights: zero the smallest |w|, keep the largest")],
    hint="zero exactly round(sparsity·n) weights, those of smallest |w|",
    case=lambda a, want, got: (f"{tuple(a[0].shape)} at sparsity {a[1]}: {int((got == 0).sum())} zeros, "
                               f"expected {round(a[1] * a[0].numel())}"),
    done="same masks as torch.nn.utils.prune.l1_unstructured; at 80 % a 32×16×3×3 conv keeps 922 of its 4,608 weights")


check_schedule = exercise(
    "schedule", "03", "``fn(initial, final, n)`` -> the ``n + 1`` targets of Zhu & Gupta's cubic gradual-pruning "
                      "schedule.",
    cases=[(0.0, 0.9, 4), (0.5, 0.8, 3), (0.0, 0.9, 1), (0.2, 0.95, 6)],
    ref=prune.polynomial_schedule, answer=lambda v: [float(x) for x in v], rtol=1e-6, fill="gradual_schedule",
    slips=[(lambda si, sf, n: sf + (si - sf) * (1 - np.arange(n) / n) ** 3,
            "n pruning steps give n + 1 targets: from initial at step 0 to final at step n"),
           (lambda si, sf, n: si + (sf - si) * np.arange(n + 1) / n,
            "the curve is cubic, not linear: prune fast while many weights are redundant, then gently"),
           (lambda si, sf, n: si + (sf - si) * (np.arange(n + 1) / n) ** 3,
            "the cube goes on (1 − k/n): fast at first, slow at the end; yours starts slowly"),
           (lambda si, sf, n: sf + (si - sf) * (1 - np.arange(n + 1) / n) ** 2, "the exponent is 3")],
    hint="s_k = final + (initial − final)·(1 − k/n)³ for k = 0 … n",
    case=lambda a, want, got: f"{a}: expected {np.round(want, 4).tolist()}, got {np.round(got, 4).tolist()}",
    done=lambda cases, wants: ("same targets as prune.polynomial_schedule: 0 → 90 % in 4 steps is "
                               + ", ".join(f"{v:.1%}" for v in wants[0])
                               + ": over half of the pruning in the first step"))


# ---------------------------------------------------------------------------- chapter 04
def _minmax_qparams(x) -> tuple[float, int]:
    obs = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_affine)
    obs(torch.as_tensor(x, dtype=torch.float32))
    scale, zero_point = obs.calculate_qparams()
    return float(scale), int(zero_point)


def _scale(x):
    return _minmax_qparams(x)[0]


def _low(x):
    return min(float(x.min()), 0.0)


check_qparams = exercise(
    "qparams", "04", "``fn(x)`` -> ``(scale, zero_point)`` of per-tensor affine int8 in [-128, 127] (range "
                     "includes 0).",
    cases=drawn(lambda rng, g: [(x,) for x in [torch.tensor([-1.0, 0.5, 2.0]), torch.tensor([0.0, 3.0, 6.0]),
                                               torch.randn(1000, generator=g), torch.tensor([0.5, 1.5]),
                                               torch.tensor([-4.0, -1.0])]]),
    ref=_minmax_qparams, answer=lambda v: (float(v[0]), int(v[1])), atol=0,
    slips=[(lambda x: (_scale(x), -round(_low(x) / _scale(x))),
            "the integers start at qmin = -128: zero_point = qmin - round(min / scale)"),
           (lambda x: (_scale(x), -128 + round(_low(x) / _scale(x))), "subtract round(min / scale) from qmin"),
           (lambda x: (_scale(x), None), "zero_point = qmin - round(min / scale) with qmin = -128"),
           (lambda x: ((float(x.max()) - float(x.min())) / 255, None),
            "stretch the range to include 0.0 (min(x, 0), max(x, 0)) so zero is exact"),
           (lambda x: (_scale(x) * 255 / 256, None), "int8 has 255 steps between -128 and 127, not 256")],
    hint="scale = (max - min) / (qmax - qmin) = (max - min) / 255",
    case=lambda a, want, got: (f"x in [{float(a[0].min()):.3g}, {float(a[0].max()):.3g}]: expected scale "
                               f"{want[0]:.6g}, zero point {want[1]}; got {got[0]:.6g}, {got[1]}"),
    done="matches torch's MinMaxObserver: [-1, 2] gives scale 3/255 = 0.011765 and zero point -43; "
         "a ReLU output in [0, 6] gives 0.023529 and -128")


def _torch_quantize(x, scale, zero_point):
    with warnings.catch_warnings():   # quantized tensors are deprecated; their kernel is still the oracle
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(x, scale, zero_point, torch.qint8).int_repr()


def _quantize_case(a, want, got) -> str:
    x, s, z = a
    i = int(np.flatnonzero(got != want)[0])
    return f"x = {float(x[i]):g}, scale {s:g}, zp {z}: expected {want[i]}, got {got[i]}"


check_quantize = exercise(
    "quantize", "04", "``fn(x, scale, zero_point)`` -> int8 values ``clamp(round(x / scale) + zero_point, -128, "
                      "127)``.",
    cases=[(torch.tensor([-1.0, 0.0, 0.6, 2.0]), 3 / 255, -43),
           (torch.tensor([0.0, 0.125, 0.375, 0.625, 40.0, -40.0]), 0.25, 0),   # exact ties and clamping
           (torch.linspace(-3, 3, 101), 0.02, 5)],
    ref=_torch_quantize, answer=lambda q: np.asarray(q).astype(np.int64), rtol=0, atol=0,
    shape_hint="one int8 per element of x",
    slips=[(lambda x, s, z: (x / s).round() + z, "clamp to [-128, 127]"),
           (lambda x, s, z: (x / s).round().clamp(-128, 127), "add the zero point after rounding"),
           (lambda x, s, z: (x / s + 0.5).floor().add(z).clamp(-128, 127),
            "round half to even (torch.round), then add the zero point")],
    hint="q = clamp(round(x / scale) + zero_point, -128, 127)", case=_quantize_case,
    done="matches torch.quantize_per_tensor: with scale 3/255 and zp -43, [-1, 0, 0.6, 2] -> [-128, -43, 8, 127]")


# ---------------------------------------------------------------------------- chapter 05
check_soft_targets = exercise(
    "soft_targets", "05", "``fn(logits, T)`` -> softmax(logits / T) over the classes of each row.",
    cases=[(torch.tensor([[4.0, 1.0, 0.0], [2.0, 2.0, -1.0]]), T) for T in (1.0, 4.0, 0.5)],
    ref=lambda z, T: (z / T).softmax(1), answer=_floats,
    slips=[(lambda z, T: (z * T).softmax(1), "divide the logits by T; multiplying sharpens them"),
           (lambda z, T: z.softmax(1), "apply the temperature: softmax(logits / T)"),
           (lambda z, T: (z / T).softmax(0), "softmax over the classes of each row (dim=1): every row must sum to 1"),
           (lambda z, T: z.softmax(1) / T, "divide the logits by T before the softmax, not after")],
    hint="softmax(logits / T) along dim=1",
    case=lambda a, want, got: (f"T = {a[1]}: expected {np.round(want[0], 4).tolist()} for the first row, "
                               f"got {np.round(got[0], 4).tolist()}"),
    done=lambda cases, wants: (f"matches torch.softmax: logits [4, 1, 0] give {wants[0][0, 1]:.3f} to the runner-up at "
                               f"T = 1 and {wants[1][0, 1]:.3f} at T = 4; the temperature lets the student see the "
                               "teacher's second choices"))


def _kd_cases(rng, g) -> list[tuple]:
    s, t = torch.randn(8, 10, generator=g) * 2, torch.randn(8, 10, generator=g) * 3
    y = torch.randint(0, 10, (8,), generator=g)
    return [(s, t, y, T, a) for T, a in [(4.0, 0.9), (1.0, 0.5), (8.0, 1.0), (2.0, 0.0)]]


def _kl(s, t, T):
    """KL(softmax(t/T) || softmax(s/T)), mean over the batch."""
    return F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t / T, 1), reduction="batchmean", log_target=True)


check_kd_loss = exercise(
    "kd_loss", "05", "``fn(student_logits, teacher_logits, y, temperature, alpha)`` -> scalar distillation loss.",
    cases=drawn(_kd_cases), ref=distill.distillation_loss, rtol=1e-4, atol=1e-6,
    slips=[(lambda s, t, y, T, a: a * _kl(s, t, T) + (1 - a) * F.cross_entropy(s, y),
            "multiply the soft term by T² (its gradient shrinks like 1/T²)"),
           (lambda s, t, y, T, a: a * T * T * _kl(t, s, T) + (1 - a) * F.cross_entropy(s, y),
            "KL(p_teacher || p_student): the teacher's probabilities are the target"),
           (lambda s, t, y, T, a: len(s) * (a * T * T * _kl(s, t, T) + (1 - a) * F.cross_entropy(s, y)),
            "average over the batch (reduction='batchmean'), do not sum"),
           (lambda s, t, y, T, a: (1 - a) * T * T * _kl(s, t, T) + a * F.cross_entropy(s, y),
            "alpha weighs the teacher's soft term, 1 − alpha the labels")],
    hint="alpha·T²·KL(softmax(t/T) || softmax(s/T)) + (1 − alpha)·CE(s, y), mean over the batch",
    case=lambda a, want, got: f"T={a[3]}, alpha={a[4]}: expected {want:.5f}, got {got:.5f}",
    done=lambda cases, wants: (f"matches compress.distill.distillation_loss at 4 (T, alpha) pairs; T=4, alpha=0.9 "
                               f"gives {wants[0]:.4f} on the test logits"))


# ---------------------------------------------------------------------------- chapter 06
def _parity(logits, reference) -> tuple[float, float]:
    p = measured_parity(logits, reference)
    return p["top1_agreement"], p["max_abs_diff"]


def _parity_cases(rng, g) -> list[tuple]:
    ref = rng.normal(size=(200, 10)).astype(np.float32)
    out = ref + rng.normal(scale=0.05, size=ref.shape).astype(np.float32)
    return [(ref.copy(), ref.copy()), (out, ref), (np.roll(ref, 1, axis=1), ref)]


check_parity = exercise(
    "parity", "06", "``fn(logits, reference)`` -> ``(top1_agreement in [0, 1], max_abs_diff)`` of two (N, classes) "
                    "arrays.",
    cases=drawn(_parity_cases), ref=_parity, answer=_pair, atol=0,
    slips=[(lambda a, b: (np.sum(a.argmax(1) == b.argmax(1)), _parity(a, b)[1]),
            "agreement is a fraction in [0, 1] (mean of argmax equality), not a count or a percentage"),
           (lambda a, b: (np.mean(a.argmax(0) == b.argmax(0)), _parity(a, b)[1]),
            "compare the arg-max over the class axis (axis=1), one per row"),
           (lambda a, b: (_parity(a, b)[0], np.max(a - b)), "the diff is max |a - b|: take the absolute value"),
           (lambda a, b: (_parity(a, b)[0], np.mean(np.abs(a - b))), "the largest difference, not the mean one")],
    hint="agreement is the fraction of rows whose argmax over the class axis (axis=1) agree; the diff is max |a - b|",
    case=lambda a, want, got: f"expected ({want[0]:.3f}, {want[1]:.4g}), got ({got[0]:.3f}, {got[1]:.4g})",
    done=lambda cases, wants: (f"noise of std 0.05 on the logits keeps {wants[1][0]:.1%} top-1 agreement with max "
                               f"|diff| {wants[1][1]:.3f}: agreement and max diff tell different stories"))


check_dequantize = exercise(
    "dequantize", "06", "``fn(q, scale, zero_point)`` -> float32 real values ``(q - zero_point) * scale`` of an "
                        "int8 array.",
    cases=[(np.array([-128, -43, 0, 8, 127], np.int8), 3 / 255, -43),
           (np.array([[-128, -1, 0, 1, 127]], np.int8), 0.1, -128), (np.array([-100, 0, 100], np.int8), 0.05, 10)],
    ref=quantize.dequantize, answer=_floats, atol=1e-6,
    slips=[(lambda q, s, z: (q - np.int8(z)).astype(np.float32) * s,
            "int8 arithmetic wraps around: cast q to float32 before subtracting the zero point"),
           (lambda q, s, z: (q.astype(np.float32) + z) * s, "subtract the zero point, do not add it"),
           (lambda q, s, z: q.astype(np.float32) * s - z, "subtract the zero point before scaling: (q − z)·s"),
           (lambda q, s, z: q.astype(np.float32) * s, "the zero point shifts the integers: (q − z)·s")],
    hint="real = (q − zero_point) · scale, in float32",
    case=lambda a, want, got: (f"q = {a[0].ravel().tolist()}, scale {a[1]:.4g}, zp {a[2]}: expected "
                               f"{np.round(want.ravel(), 4).tolist()}, got {np.round(got.ravel(), 4).tolist()}"),
    done="matches compress.quantize.dequantize: with scale 3/255 and zp −43 the integers [−128, −43, 0, 8, 127] "
         "are [−1, 0, 0.506, 0.6, 2]; the zero point maps to exactly 0.0")


# ---------------------------------------------------------------------------- chapter 07
#: Device figures of the exercise in bytes, from the course's one device table (chapter 00 displays it).
BUDGET_DEVICES = {key: {"sram_bytes": p.sram_bytes, "flash_bytes": p.flash_bytes,
                        "runtime_flash_bytes": p.runtime_flash_bytes}
                  for key, p in (("Cortex-M0+", devices.profile("Cortex-M0+ MCU")),
                                 ("Cortex-M4", devices.profile("Cortex-M4 MCU")))}


_M0 = BUDGET_DEVICES["Cortex-M0+"]


def _flash(model_bytes, device):
    return model_bytes + device["runtime_flash_bytes"]


check_budget = exercise(
    "budget", "07", "``fn(model_bytes, arena_bytes, device)`` -> ``(fits, flash_need_bytes, sram_need_bytes)``; "
                    "``device`` has ``sram_bytes``, ``flash_bytes`` and ``runtime_flash_bytes`` (the interpreter's "
                    "code).",
    cases=[(mb, ab, BUDGET_DEVICES[dev]) for mb, ab, dev in [
        (31_224, 18_896, "Cortex-M0+"), (11_928, 10_608, "Cortex-M0+"), (31_224, 18_896, "Cortex-M4"),
        (20_000, 40_000, "Cortex-M0+"), (96_000, 20_000, "Cortex-M4"), (200_000, 150_000, "Cortex-M4")]],
    ref=lambda mb, ab, d: (_flash(mb, d) <= d["flash_bytes"] and ab <= d["sram_bytes"], _flash(mb, d), ab),
    answer=lambda v: (bool(v[0]), int(v[1]), int(v[2])), rtol=0, atol=0,
    slips=[(lambda mb, ab, d: (mb <= d["flash_bytes"] and ab <= d["sram_bytes"], mb, ab),
            "flash holds the model AND the runtime's code (runtime_flash_bytes)"),
           (lambda mb, ab, d: (_flash(mb, d) <= d["flash_bytes"] and ab + mb <= d["sram_bytes"], _flash(mb, d),
                               ab + mb), "SRAM needs only the tensor arena: the model's weights stay in flash"),
           (lambda mb, ab, d: (_flash(mb, d) <= d["flash_bytes"] or ab <= d["sram_bytes"], _flash(mb, d), ab),
            "it fits only if BOTH flash and SRAM needs are within the device's")],
    hint="flash_need = model + runtime code, sram_need = arena; fits when both are within the device",
    case=lambda a, want, got: f"{a[0]:,} B model, {a[1]:,} B arena on {a[2]}: expected {want}, got {got}",
    done=lambda cases, wants: (f"on the Cortex-M0+ ({_M0['flash_bytes'] // 1024} KB flash, "
                               f"{_M0['runtime_flash_bytes'] // 1024} KB runtime) the int8 baseline needs "
                               f"{wants[0][1]:,} B of {_M0['flash_bytes']:,} (does not fit); the distilled student "
                               f"needs {wants[1][1]:,} B (fits)"))


check_npu_estimate = exercise(
    "npu_estimate", "07", "``fn(macs, npu_cycles, total_cycles, clock_hz, macs_per_cycle)`` -> ``(latency_ms, "
                          "mac_utilization)``.",
    # Vela's figures for chapter 07's models (committed full run): the baseline on the Ethos-U55-128 and -256
    # at 500 MHz, the distilled student on the U55-128, and the baseline on the U65-256 at 1 GHz
    cases=[(1_919_872, 43_337, 52_965, 500e6, 128), (1_919_872, 30_126, 42_194, 500e6, 256),
           (508_352, 20_554, 23_798, 500e6, 128), (1_919_872, 31_299, 31_299, 1e9, 256)],
    ref=lambda m, n, t, c, p: (devices.estimated_latency_ms(t, c), m / (n * p)), answer=_pair, rtol=1e-6,
    slips=[(lambda m, n, t, c, p: (t / c, m / (n * p)), "latency in milliseconds: seconds × 1,000"),
           (lambda m, n, t, c, p: (1e3 * n / c, m / (n * p)),
            "the latency counts total_cycles: the NPU also waits for memory"),
           (lambda m, n, t, c, p: (1e3 * t / c, n * p / m),
            "utilization is the ideal cycles (MACs / MACs per cycle) over the NPU's cycles: at most 1"),
           (lambda m, n, t, c, p: (1e3 * t / c, m / (t * p)),
            "utilization of the MAC engine: divide by npu_cycles, its own busy time"),
           (lambda m, n, t, c, p: (1e3 * t / c, m / n), "divide by the MACs the engine could do per cycle too")],
    hint="latency_ms = 1,000 · total_cycles / clock_hz; utilization = MACs / (npu_cycles · MACs per cycle)",
    case=lambda a, want, got: (f"case {a[0]:,} MACs, {a[1]:,}/{a[2]:,} cycles at {a[3] / 1e6:g} MHz, {a[4]} "
                               f"MACs/cycle: expected ({want[0]:.4g} ms, {want[1]:.3f}), got ({got[0]:.4g}, "
                               f"{got[1]:.3f})"),
    done=lambda cases, w: (f"the baseline keeps the U55-128's MACs {w[0][1]:.0%} busy and takes {w[0][0] * 1e3:.0f} "
                           f"µs; the U55-256 is faster ({w[1][0] * 1e3:.0f} µs) but {w[1][1]:.0%} busy: doubling the "
                           "engine does not halve the time (Vela's estimates, not measurements)"))
