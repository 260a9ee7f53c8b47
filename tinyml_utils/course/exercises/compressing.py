"""Self-checking exercises of chapters 03–07: a pruning mask, int8 scale and zero point, quantizing,
the distillation loss, runtime parity, a device budget. See :mod:`tinyml_utils.course.exercises`."""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

from .base import _call, _hint, _ref_budget, _ref_kd_loss, _ref_parity, _report


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
                zeros, wz = int((got == 0).sum()), int((want == 0).sum())
                if zeros == w.numel() - wz:
                    hint = "you kept the smallest weights: zero the smallest |w|, keep the largest"
                elif zeros != wz:
                    hint = f"zero exactly round(sparsity·n) = {wz} weights"
                else:
                    hint = "rank by magnitude |w|, not by signed value"
                return False, _hint(f"{tuple(w.shape)} at sparsity {s}: {zeros} zeros, expected {wz}", hint)
        return True, ("same masks as torch.nn.utils.prune.l1_unstructured; at 80 % a 32×16×3×3 conv "
                      "keeps 922 of its 4,608 weights")
    return _report("mask", body, "return a 0/1 tensor of weight.shape", strict)


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
                if math.isclose(s_got, (hi - lo) / 255, rel_tol=1e-5) and lo > 0:
                    hint = "stretch the range to include 0.0 (min(x, 0), max(x, 0)) so zero is exact"
                elif math.isclose(s_got, s_want, rel_tol=1e-5):
                    hint = "zero_point = qmin - round(min / scale) with qmin = -128"
                else:
                    hint = "scale = (max - min) / (qmax - qmin) = (max - min) / 255"
                return False, _hint(f"x in [{lo:.3g}, {hi:.3g}]: expected scale {s_want:.6g}, zero point "
                                    f"{int(z_want)}; got {s_got:.6g}, {z_got}", hint)
        return True, ("matches torch's MinMaxObserver: [-1, 2] gives scale 3/255 = 0.011765 and zero point -43; "
                      "a ReLU output in [0, 6] gives 0.023529 and -128")
    return _report("qparams", body, "return (scale, zero_point)", strict)


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
                return False, _hint(f"x = {v:g}, scale {s:g}, zp {z}: expected {int(want[i])}, got {int(got[i])}",
                                    hint)
        return True, ("matches torch.quantize_per_tensor: with scale 3/255 and zp -43, "
                      "[-1, 0, 0.6, 2] -> [-128, -43, 8, 127]")
    return _report("quantize", body, "return the integer tensor", strict)


# ---------------------------------------------------------------------------- chapter 05
def check_kd_loss(fn: Callable[..., Any], strict: bool = False) -> bool | None:
    """``fn(student_logits, teacher_logits, y, temperature, alpha)`` -> scalar distillation loss."""
    def body():
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(0)
        s, t = torch.randn(8, 10, generator=g) * 2, torch.randn(8, 10, generator=g) * 3
        y = torch.randint(0, 10, (8,), generator=g)
        for T, a in [(4.0, 0.9), (1.0, 0.5), (8.0, 1.0), (2.0, 0.0)]:
            want = float(_ref_kd_loss(s, t, y, T, a))
            got = float(_call(fn, s.clone(), t.clone(), y.clone(), T, a))
            if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-6):
                kl = float(F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t / T, 1), reduction="batchmean",
                                    log_target=True))
                ce = float(F.cross_entropy(s, y))
                kl_rev = float(F.kl_div(F.log_softmax(t / T, 1), F.log_softmax(s / T, 1), reduction="batchmean",
                                        log_target=True))
                if math.isclose(got, a * kl + (1 - a) * ce, rel_tol=1e-4):
                    hint = "multiply the soft term by T² (its gradient shrinks like 1/T²)"
                elif math.isclose(got, a * T * T * kl_rev + (1 - a) * ce, rel_tol=1e-4):
                    hint = "KL(p_teacher || p_student): the teacher's probabilities are the target"
                elif math.isclose(got, a * T * T * kl * s.shape[0] + (1 - a) * ce * s.shape[0], rel_tol=1e-4):
                    hint = "average over the batch (reduction='batchmean'), do not sum"
                else:
                    hint = "alpha·T²·KL(softmax(t/T) || softmax(s/T)) + (1 − alpha)·CE(s, y), mean over the batch"
                return False, _hint(f"T={T}, alpha={a}: expected {want:.5f}, got {got:.5f}", hint)
        w = float(_ref_kd_loss(s, t, y, 4.0, 0.9))
        return True, (f"matches F.kl_div/F.cross_entropy at 4 (T, alpha) pairs; T=4, alpha=0.9 gives {w:.4f} "
                      "on the test logits")
    return _report("kd_loss", body, "return the loss as a scalar tensor", strict)


# ---------------------------------------------------------------------------- chapter 06
def check_parity(fn: Callable[[Any, Any], tuple[float, float]], strict: bool = False) -> bool | None:
    """``fn(logits, reference)`` -> ``(top1_agreement in [0, 1], max_abs_diff)`` of two (N, classes) arrays."""
    def body():
        rng = np.random.default_rng(0)
        ref = rng.normal(size=(200, 10)).astype(np.float32)
        out = ref + rng.normal(scale=0.05, size=ref.shape).astype(np.float32)
        cases = [(ref.copy(), ref.copy()), (out, ref), (np.roll(ref, 1, axis=1), ref)]
        for a, b in cases:
            want = _ref_parity(a, b)
            got = _call(fn, a.copy(), b.copy())
            agree, diff = float(got[0]), float(got[1])
            if not (math.isclose(agree, want[0], abs_tol=1e-9) and math.isclose(diff, want[1], rel_tol=1e-5)):
                hint = ("agreement is a fraction in [0, 1] (mean of argmax equality), not a count or a percentage"
                        if agree > 1 else "compare argmax over the class axis (axis=1); the diff is max |a - b|")
                return False, _hint(f"expected ({want[0]:.3f}, {want[1]:.4g}), got ({agree:.3f}, {diff:.4g})", hint)
        w = _ref_parity(out, ref)
        return True, (f"noise of std 0.05 on the logits keeps {w[0]:.1%} top-1 agreement with max |diff| {w[1]:.3f}: "
                      "agreement and max diff tell different stories")
    return _report("parity", body, "return (agreement, max_abs_diff)", strict)


# ---------------------------------------------------------------------------- chapter 07
#: Device figures of the exercise (chapter 00's table: deploy.DEVICE_PROFILES), in bytes.
BUDGET_DEVICES = {
    "Cortex-M0+": {"sram_bytes": 36 * 1024, "flash_bytes": 128 * 1024, "runtime_flash_bytes": 100 * 1024},
    "Cortex-M4": {"sram_bytes": 256 * 1024, "flash_bytes": 1024 * 1024, "runtime_flash_bytes": 100 * 1024},
}


def check_budget(fn: Callable[[int, int, dict], tuple[bool, int, int]], strict: bool = False) -> bool | None:
    """``fn(model_bytes, arena_bytes, device)`` -> ``(fits, flash_need_bytes, sram_need_bytes)``.

    ``device`` has ``sram_bytes``, ``flash_bytes`` and ``runtime_flash_bytes`` (the interpreter's code).
    """
    cases = [(31_224, 18_896, "Cortex-M0+"), (11_928, 10_608, "Cortex-M0+"), (31_224, 18_896, "Cortex-M4"),
             (20_000, 40_000, "Cortex-M0+"), (96_000, 20_000, "Cortex-M4")]

    def body():
        for mb, ab, dev in cases:
            want = _ref_budget(mb, ab, BUDGET_DEVICES[dev])
            got = _call(fn, mb, ab, dict(BUDGET_DEVICES[dev]))
            got = (bool(got[0]), int(got[1]), int(got[2]))
            if got != want:
                if got[1] == mb:
                    hint = "flash holds the model AND the runtime's code (runtime_flash_bytes)"
                elif got[2] != want[2]:
                    hint = "SRAM needs the tensor arena (the model's weights stay in flash)"
                else:
                    hint = "it fits only if BOTH flash and SRAM needs are within the device's"
                return False, _hint(f"{mb:,} B model, {ab:,} B arena on {dev}: expected {want}, got {got}", hint)
        b, d = _ref_budget(31_224, 18_896, BUDGET_DEVICES["Cortex-M0+"]), _ref_budget(11_928, 10_608,
                                                                                      BUDGET_DEVICES["Cortex-M0+"])
        return True, (f"on the Cortex-M0+ (128 KB flash, 100 KB runtime) the int8 baseline needs {b[1]:,} B of "
                      f"131,072 (does not fit); the distilled student needs {d[1]:,} B (fits)")
    return _report("budget", body, "return (fits, flash_need, sram_need)", strict)
