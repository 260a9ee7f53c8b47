"""Self-checking exercises of chapters 03–07: a pruning mask and schedule, int8 scale, zero point and
quantizing, soft targets and the distillation loss, runtime parity and dequantizing, a device budget
and an NPU estimate. See :mod:`tinyml_utils.course.exercises`."""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

from . import references as R
from .base import _call, _diagnose, _hint, _report, _same


# ---------------------------------------------------------------------------- chapter 03
def check_mask(fn: Callable[[Any, float], Any], strict: bool = False) -> bool | None:
    """``fn(weight, sparsity)`` -> 0/1 mask of ``weight``'s shape that zeroes the smallest |w|."""
    def body():
        import torch
        from torch.nn.utils import prune as tprune

        g = torch.Generator().manual_seed(0)
        cases = [(torch.randn(16, 1, 3, 3, generator=g), 0.5), (torch.randn(32, 16, 3, 3, generator=g), 0.8),
                 (torch.randn(10, 64, generator=g), 0.0), (torch.randn(64, 32, 3, 3, generator=g), 0.95)]
        for w, s in cases:
            layer = torch.nn.Linear(1, 1)
            layer.weight = torch.nn.Parameter(w.clone())
            want = tprune.l1_unstructured(layer, "weight", amount=s).weight_mask   # oracle: PyTorch's pruning
            got = torch.as_tensor(_call(fn, w.clone(), s))
            if tuple(got.shape) != tuple(w.shape):
                return False, _hint(f"mask shape {tuple(got.shape)} != weight shape {tuple(w.shape)}",
                                    "reshape the flat mask back to weight.shape")
            got = (got != 0).float()
            if not torch.equal(got, want):
                k = round(s * w.numel())
                flat = w.flatten()

                def zero(idx):
                    m = torch.ones(w.numel())
                    m[idx] = 0.0
                    return m.reshape(w.shape)

                hint = _diagnose(got, [
                    (lambda: zero(torch.topk(flat, k, largest=False).indices),
                     "rank by magnitude |w|, not by signed value: -3 is a large weight"),
                    (lambda: zero(torch.topk(flat.abs(), k, largest=True).indices),
                     "you kept the smallest weights: zero the smallest |w|, keep the largest"),
                    (lambda: 1.0 - want, "you kept the smallest weights: zero the smallest |w|, keep the largest"),
                ], f"zero exactly round(sparsity·n) = {k} weights, those of smallest |w|")
                zeros = int((got == 0).sum())
                return False, _hint(f"{tuple(w.shape)} at sparsity {s}: {zeros} zeros, expected {k}", hint)
        return True, ("same masks as torch.nn.utils.prune.l1_unstructured; at 80 % a 32×16×3×3 conv "
                      "keeps 922 of its 4,608 weights")
    return _report("mask", body, "magnitude_mask", strict)


def check_schedule(fn: Callable[[float, float, int], Any], strict: bool = False) -> bool | None:
    """``fn(initial, final, n)`` -> the ``n + 1`` targets of Zhu & Gupta's cubic gradual-pruning schedule."""
    cases = [(0.0, 0.9, 4), (0.5, 0.8, 3), (0.0, 0.9, 1), (0.2, 0.95, 6)]

    def body():
        from ...compress import prune

        for si, sf, n in cases:
            want = prune.polynomial_schedule(si, sf, n)                 # oracle: the helper chapter 03 runs
            got = [float(v) for v in _call(fn, si, sf, n)]
            if not _same(got, want, rtol=1e-6):
                ks = np.arange(n + 1) / n
                hint = _diagnose(got, [
                    (lambda: [sf + (si - sf) * (1 - k / n) ** 3 for k in range(n)],
                     "n pruning steps give n + 1 targets: from initial at step 0 to final at step n"),
                    (lambda: si + (sf - si) * ks, "the curve is cubic, not linear: prune fast while many weights "
                                                  "are redundant, then gently"),
                    (lambda: si + (sf - si) * ks ** 3, "the cube goes on (1 − k/n): fast at first, slow at the "
                                                       "end; yours starts slowly"),
                    (lambda: sf + (si - sf) * (1 - ks) ** 2, "the exponent is 3"),
                ], "s_k = final + (initial − final)·(1 − k/n)³ for k = 0 … n")
                return False, _hint(f"({si}, {sf}, {n}): expected {np.round(want, 4).tolist()}, "
                                    f"got {np.round(got, 4).tolist()}", hint)
        w = prune.polynomial_schedule(0.0, 0.9, 4)
        return True, (f"same targets as prune.polynomial_schedule: 0 → 90 % in 4 steps is "
                      f"{', '.join(f'{v:.1%}' for v in w)}: over half of the pruning in the first step")
    return _report("schedule", body, "gradual_schedule", strict)


# ---------------------------------------------------------------------------- chapter 04
def check_qparams(fn: Callable[[Any], tuple[float, int]], strict: bool = False) -> bool | None:
    """``fn(x)`` -> ``(scale, zero_point)`` of per-tensor affine int8 in [-128, 127] (range includes 0)."""
    def body():
        import torch
        from torch.ao.quantization.observer import MinMaxObserver

        g = torch.Generator().manual_seed(0)
        cases = [torch.tensor([-1.0, 0.5, 2.0]), torch.tensor([0.0, 3.0, 6.0]), torch.randn(1000, generator=g),
                 torch.tensor([0.5, 1.5]), torch.tensor([-4.0, -1.0])]
        for x in cases:
            obs = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_affine)   # oracle: PyTorch's observer
            obs(x)
            s_want, z_want = (float(v) for v in obs.calculate_qparams())
            got = _call(fn, x.clone())
            s_got, z_got = float(got[0]), int(got[1])
            if not (math.isclose(s_got, s_want, rel_tol=1e-5) and z_got == int(z_want)):
                lo, hi = float(x.min()), float(x.max())
                if math.isclose(s_got, (hi - lo) / 255, rel_tol=1e-5) and (lo > 0 or hi < 0):
                    hint = "stretch the range to include 0.0 (min(x, 0), max(x, 0)) so zero is exact"
                elif math.isclose(s_got, s_want, rel_tol=1e-5):
                    hint = _diagnose(z_got, [
                        (lambda: -round(min(lo, 0) / s_want), "the integers start at qmin = -128: "
                                                              "zero_point = qmin - round(min / scale)"),
                        (lambda: -128 + round(min(lo, 0) / s_want), "subtract round(min / scale) from qmin"),
                    ], "zero_point = qmin - round(min / scale) with qmin = -128")
                elif math.isclose(s_got, s_want * 255 / 256, rel_tol=1e-5):
                    hint = "int8 has 255 steps between -128 and 127, not 256"
                else:
                    hint = "scale = (max - min) / (qmax - qmin) = (max - min) / 255"
                return False, _hint(f"x in [{lo:.3g}, {hi:.3g}]: expected scale {s_want:.6g}, zero point "
                                    f"{int(z_want)}; got {s_got:.6g}, {z_got}", hint)
        return True, ("matches torch's MinMaxObserver: [-1, 2] gives scale 3/255 = 0.011765 and zero point -43; "
                      "a ReLU output in [0, 6] gives 0.023529 and -128")
    return _report("qparams", body, "qparams", strict)


def check_quantize(fn: Callable[[Any, float, int], Any], strict: bool = False) -> bool | None:
    """``fn(x, scale, zero_point)`` -> int8 values ``clamp(round(x / scale) + zero_point, -128, 127)``."""
    def body():
        import torch

        cases = [(torch.tensor([-1.0, 0.0, 0.6, 2.0]), 3 / 255, -43),
                 (torch.tensor([0.0, 0.125, 0.375, 0.625, 40.0, -40.0]), 0.25, 0),   # exact ties and clamping
                 (torch.linspace(-3, 3, 101), 0.02, 5)]
        for x, s, z in cases:
            with warnings.catch_warnings():   # quantized tensors are deprecated; their kernel is still the oracle
                warnings.simplefilter("ignore")
                want = torch.quantize_per_tensor(x, s, z, torch.qint8).int_repr()
            got = torch.as_tensor(_call(fn, x.clone(), s, z)).to(torch.int32)
            if not torch.equal(got, want.to(torch.int32)):
                i = int((got != want.to(torch.int32)).nonzero()[0][0])
                v = float(x[i])
                hint = ("clamp to [-128, 127]" if abs(v / s) > 120 else
                        "round half to even (torch.round), then add the zero point" if abs(v / s % 1 - 0.5) < 1e-6
                        else "q = round(x / scale) + zero_point")
                if int(got[i]) == int(round(v / s)) and z != 0:
                    hint = "add the zero point after rounding"
                return False, _hint(f"x = {v:g}, scale {s:g}, zp {z}: expected {int(want[i])}, got {int(got[i])}",
                                    hint)
        return True, ("matches torch.quantize_per_tensor: with scale 3/255 and zp -43, "
                      "[-1, 0, 0.6, 2] -> [-128, -43, 8, 127]")
    return _report("quantize", body, "quantize", strict)


# ---------------------------------------------------------------------------- chapter 05
def check_soft_targets(fn: Callable[[Any, float], Any], strict: bool = False) -> bool | None:
    """``fn(logits, T)`` -> softmax(logits / T) over the classes of each row."""
    def body():
        import torch

        z = torch.tensor([[4.0, 1.0, 0.0], [2.0, 2.0, -1.0]])
        for T in (1.0, 4.0, 0.5):
            want = torch.softmax(z / T, dim=1)                          # oracle: torch.softmax
            got = torch.as_tensor(_call(fn, z.clone(), T), dtype=torch.float32)
            if not _same(got, want):
                hint = _diagnose(got, [
                    (lambda: torch.softmax(z * T, dim=1), "divide the logits by T; multiplying sharpens them"),
                    (lambda: torch.softmax(z, dim=1), "apply the temperature: softmax(logits / T)"),
                    (lambda: torch.softmax(z / T, dim=0), "softmax over the classes of each row (dim=1): "
                                                          "every row must sum to 1"),
                    (lambda: torch.softmax(z, dim=1) / T, "divide the logits by T before the softmax, not after"),
                ], "softmax(logits / T) along dim=1")
                return False, _hint(f"T = {T}: expected {want[0].numpy().round(4).tolist()} for the first row, "
                                    f"got {got[0].numpy().round(4).tolist()}", hint)
        hot, soft = torch.softmax(z[0], 0), torch.softmax(z[0] / 4, 0)
        return True, (f"matches torch.softmax: logits [4, 1, 0] give {hot[1]:.3f} to the runner-up at T = 1 and "
                      f"{soft[1]:.3f} at T = 4; the temperature lets the student see the teacher's second choices")
    return _report("soft_targets", body, "soft_targets", strict)


def check_kd_loss(fn: Callable[..., Any], strict: bool = False) -> bool | None:
    """``fn(student_logits, teacher_logits, y, temperature, alpha)`` -> scalar distillation loss."""
    def body():
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(0)
        s, t = torch.randn(8, 10, generator=g) * 2, torch.randn(8, 10, generator=g) * 3
        y = torch.randint(0, 10, (8,), generator=g)
        for T, a in [(4.0, 0.9), (1.0, 0.5), (8.0, 1.0), (2.0, 0.0)]:
            want = float(R.kd_loss(s, t, y, T, a))
            got = float(_call(fn, s.clone(), t.clone(), y.clone(), T, a))
            if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
                def kl(p, q):
                    return float(F.kl_div(F.log_softmax(p / T, 1), F.log_softmax(q / T, 1), reduction="batchmean",
                                          log_target=True))
                ce, n = float(F.cross_entropy(s, y)), s.shape[0]
                hint = _diagnose(got, [
                    (lambda: a * kl(s, t) + (1 - a) * ce, "multiply the soft term by T² (its gradient shrinks "
                                                          "like 1/T²)"),
                    (lambda: a * T * T * kl(t, s) + (1 - a) * ce, "KL(p_teacher || p_student): the teacher's "
                                                                  "probabilities are the target"),
                    (lambda: a * T * T * kl(s, t) * n + (1 - a) * ce * n, "average over the batch "
                                                                          "(reduction='batchmean'), do not sum"),
                    (lambda: (1 - a) * T * T * kl(s, t) + a * ce, "alpha weighs the teacher's soft term, "
                                                                  "1 − alpha the labels"),
                ], "alpha·T²·KL(softmax(t/T) || softmax(s/T)) + (1 − alpha)·CE(s, y), mean over the batch",
                    rtol=1e-4)
                return False, _hint(f"T={T}, alpha={a}: expected {want:.5f}, got {got:.5f}", hint)
        w = float(R.kd_loss(s, t, y, 4.0, 0.9))
        return True, (f"matches F.kl_div/F.cross_entropy at 4 (T, alpha) pairs; T=4, alpha=0.9 gives {w:.4f} "
                      "on the test logits")
    return _report("kd_loss", body, "kd_loss", strict)


# ---------------------------------------------------------------------------- chapter 06
def check_parity(fn: Callable[[Any, Any], tuple[float, float]], strict: bool = False) -> bool | None:
    """``fn(logits, reference)`` -> ``(top1_agreement in [0, 1], max_abs_diff)`` of two (N, classes) arrays."""
    def body():
        rng = np.random.default_rng(0)
        ref = rng.normal(size=(200, 10)).astype(np.float32)
        out = ref + rng.normal(scale=0.05, size=ref.shape).astype(np.float32)
        cases = [(ref.copy(), ref.copy()), (out, ref), (np.roll(ref, 1, axis=1), ref)]
        for a, b in cases:
            want = R.parity(a, b)
            got = _call(fn, a.copy(), b.copy())
            agree, diff = float(got[0]), float(got[1])
            if not (math.isclose(agree, want[0], abs_tol=1e-9) and math.isclose(diff, want[1], rel_tol=1e-5)):
                hint = ("agreement is a fraction in [0, 1] (mean of argmax equality), not a count or a percentage"
                        if agree > 1 else _diagnose((agree, diff), [
                            (lambda: (np.mean(a.argmax(0) == b.argmax(0)), want[1]),
                             "compare the arg-max over the class axis (axis=1), one per row"),
                            (lambda: (want[0], np.max(a - b)), "the diff is max |a - b|: take the absolute value"),
                            (lambda: (want[0], np.mean(np.abs(a - b))), "the largest difference, not the mean one"),
                        ], "compare argmax over the class axis (axis=1); the diff is max |a - b|"))
                return False, _hint(f"expected ({want[0]:.3f}, {want[1]:.4g}), got ({agree:.3f}, {diff:.4g})", hint)
        w = R.parity(out, ref)
        return True, (f"noise of std 0.05 on the logits keeps {w[0]:.1%} top-1 agreement with max |diff| {w[1]:.3f}: "
                      "agreement and max diff tell different stories")
    return _report("parity", body, "parity", strict)


def check_dequantize(fn: Callable[[Any, float, int], Any], strict: bool = False) -> bool | None:
    """``fn(q, scale, zero_point)`` -> float32 real values ``(q - zero_point) * scale`` of an int8 array."""
    def body():
        import torch

        cases = [(np.array([-128, -43, 0, 8, 127], np.int8), 3 / 255, -43),
                 (np.array([[-128, -1, 0, 1, 127]], np.int8), 0.1, -128),
                 (np.array([-100, 0, 100], np.int8), 0.05, 10)]
        import torch.ao.quantization.fx._decomposed  # noqa: F401 - registers torch.ops.quantized_decomposed

        for q, s, z in cases:
            got = np.asarray(_call(fn, q.copy(), s, z), dtype=np.float64)
            want = torch.ops.quantized_decomposed.dequantize_per_tensor(   # oracle: PT2E's dequantize op
                torch.from_numpy(q), s, z, -128, 127, torch.int8).numpy()
            if not _same(got, want, rtol=1e-5, atol=1e-6):
                with np.errstate(over="ignore"):
                    hint = _diagnose(got, [
                        (lambda: (q - np.int8(z)).astype(np.float32) * s,
                         "int8 arithmetic wraps around: cast q to float32 before subtracting the zero point"),
                        (lambda: (q.astype(np.float32) + z) * s, "subtract the zero point, do not add it"),
                        (lambda: q.astype(np.float32) * s - z, "subtract the zero point before scaling: (q − z)·s"),
                        (lambda: q.astype(np.float32) * s, "the zero point shifts the integers: (q − z)·s"),
                    ], "real = (q − zero_point) · scale, in float32")
                w4, g4 = (np.round(np.asarray(v, np.float64).ravel(), 4).tolist() for v in (want, got))
                return False, _hint(f"q = {q.ravel().tolist()}, scale {s:.4g}, zp {z}: expected {w4}, got {g4}", hint)
        return True, ("matches PT2E's dequantize_per_tensor: with scale 3/255 and zp −43 the integers "
                      "[−128, −43, 0, 8, 127] are [−1, 0, 0.506, 0.6, 2]; the zero point maps to exactly 0.0")
    return _report("dequantize", body, "dequantize", strict)


# ---------------------------------------------------------------------------- chapter 07
def _budget_devices() -> dict[str, dict]:
    """The exercise's devices, read from the course's device table (:data:`deploy.devices.DEVICE_PROFILES`)."""
    from ...deploy import devices

    out = {}
    for key, name in (("Cortex-M0+", "Cortex-M0+ MCU"), ("Cortex-M4", "Cortex-M4 MCU")):
        p = devices.profile(name)
        out[key] = {"sram_bytes": p.sram_bytes, "flash_bytes": p.flash_bytes,
                    "runtime_flash_bytes": p.runtime_flash_bytes}
    return out


#: Device figures of the exercise in bytes, from the course's one device table (chapter 00 displays it).
BUDGET_DEVICES = _budget_devices()


def check_budget(fn: Callable[[int, int, dict], tuple[bool, int, int]], strict: bool = False) -> bool | None:
    """``fn(model_bytes, arena_bytes, device)`` -> ``(fits, flash_need_bytes, sram_need_bytes)``.

    ``device`` has ``sram_bytes``, ``flash_bytes`` and ``runtime_flash_bytes`` (the interpreter's code).
    """
    devs = _budget_devices()
    cases = [(31_224, 18_896, "Cortex-M0+"), (11_928, 10_608, "Cortex-M0+"), (31_224, 18_896, "Cortex-M4"),
             (20_000, 40_000, "Cortex-M0+"), (96_000, 20_000, "Cortex-M4"), (200_000, 150_000, "Cortex-M4")]

    def body():
        for mb, ab, dev in cases:
            d = devs[dev]
            want = R.budget(mb, ab, d)
            got = _call(fn, mb, ab, dict(d))
            got = (bool(got[0]), int(got[1]), int(got[2]))
            if got != want:
                fl, sr = want[1], want[2]
                hint = _diagnose(got, [
                    (lambda: (mb <= d["flash_bytes"] and sr <= d["sram_bytes"], mb, sr),
                     "flash holds the model AND the runtime's code (runtime_flash_bytes)"),
                    (lambda: (fl <= d["flash_bytes"] and ab + mb <= d["sram_bytes"], fl, ab + mb),
                     "SRAM needs only the tensor arena: the model's weights stay in flash"),
                    (lambda: (fl <= d["flash_bytes"] or sr <= d["sram_bytes"], fl, sr),
                     "it fits only if BOTH flash and SRAM needs are within the device's"),
                    (lambda: (fl <= d["flash_bytes"], fl, sr), "check the SRAM too: the arena must fit"),
                ], "flash_need = model + runtime code, sram_need = arena; fits when both are within the device")
                return False, _hint(f"{mb:,} B model, {ab:,} B arena on {dev}: expected {want}, got {got}", hint)
        m0 = devs["Cortex-M0+"]
        b, s = R.budget(31_224, 18_896, m0), R.budget(11_928, 10_608, m0)
        return True, (f"on the Cortex-M0+ ({m0['flash_bytes'] // 1024} KB flash, "
                      f"{m0['runtime_flash_bytes'] // 1024} KB runtime) the int8 baseline needs {b[1]:,} B of "
                      f"{m0['flash_bytes']:,} (does not fit); the distilled student needs {s[1]:,} B (fits)")
    return _report("budget", body, "budget", strict)


def check_npu_estimate(fn: Callable[..., tuple[float, float]], strict: bool = False) -> bool | None:
    """``fn(macs, npu_cycles, total_cycles, clock_hz, macs_per_cycle)`` -> ``(latency_ms, mac_utilization)``."""
    # Vela's figures for chapter 07's models (committed full run): the baseline on the Ethos-U55-128 and
    # -256 at 500 MHz, the distilled student on the U55-128, and the baseline on the U65-256 at 1 GHz
    cases = [(1_919_872, 43_337, 52_965, 500e6, 128), (1_919_872, 30_126, 42_194, 500e6, 256),
             (508_352, 20_554, 23_798, 500e6, 128), (1_919_872, 31_299, 31_299, 1e9, 256)]

    def body():
        for macs, npu, total, clk, mpc in cases:
            want = R.npu_estimate(macs, npu, total, clk, mpc)
            got = tuple(float(v) for v in _call(fn, macs, npu, total, clk, mpc))
            if not _same(got, want, rtol=1e-6):
                lat, util = want
                hint = _diagnose(got, [
                    (lambda: (total / clk, util), "latency in milliseconds: seconds × 1,000"),
                    (lambda: (1e3 * npu / clk, util), "the latency counts total_cycles: the NPU also waits for "
                                                      "memory"),
                    (lambda: (lat, npu * mpc / macs), "utilization is the ideal cycles (MACs / MACs per cycle) "
                                                      "over the NPU's cycles: at most 1"),
                    (lambda: (lat, macs / (total * mpc)), "utilization of the MAC engine: divide by npu_cycles, "
                                                          "its own busy time"),
                    (lambda: (lat, macs / npu), "divide by the MACs the engine could do per cycle too"),
                ], "latency_ms = 1,000 · total_cycles / clock_hz; utilization = MACs / (npu_cycles · MACs per cycle)")
                return False, _hint(f"case {macs:,} MACs, {npu:,}/{total:,} cycles at {clk / 1e6:g} MHz, {mpc} "
                                    f"MACs/cycle: expected ({lat:.4g} ms, {util:.3f}), got ({got[0]:.4g}, "
                                    f"{got[1]:.3f})", hint)
        lat, util = R.npu_estimate(*cases[0])
        lat2, util2 = R.npu_estimate(*cases[1])
        return True, (f"the baseline keeps the U55-128's MACs {util:.0%} busy and takes {lat * 1e3:.0f} µs; the "
                      f"U55-256 is faster ({lat2 * 1e3:.0f} µs) but {util2:.0%} busy: doubling the engine does not "
                      "halve the time (Vela's estimates, not measurements)")
    return _report("npu_estimate", body, "npu_estimate", strict)
