"""Self-checking exercises: the learner writes a small function, a check says right or wrong.

In the style of MIT 6.5940's labs: every chapter's ``## Exercises`` has one or two fill-in cells::

    def magnitude_mask(weight, sparsity):
        ...  # your code
        return None

    exercises.check_mask(magnitude_mask)

A check runs the learner's function on small fixed inputs and compares it with a reference (PyTorch,
NumPy or a hand-checked formula, never the learner's own code path). It prints one line:

- ``✓ right — <what was compared, with the numbers>``
- ``✗ wrong — <the first case that differs: expected vs got>  hint: <what to look at>``
- ``… not attempted yet — <what to fill in>`` when the stub still returns ``None`` (or raises
  ``NotImplementedError``), so an untouched notebook runs top to bottom without error.

and returns ``True``, ``False`` or ``None`` respectively (``strict=True`` raises ``AssertionError``
on a wrong answer instead). The reference solutions live here, out of the notebook's sight;
:func:`reference` hands them to the tests (``tests/test_exercises.py``) and to teachers.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

__all__ = [
    "check_conv_macs", "check_arena", "check_num_windows", "check_num_frames", "check_conv_params",
    "check_latency_stats", "check_mask", "check_qparams", "check_quantize", "check_kd_loss",
    "check_parity", "check_budget", "reference", "EXERCISES",
]


class _NotAttempted(Exception):
    pass


def _call(fn: Callable, *args):
    try:
        out = fn(*args)
    except NotImplementedError as exc:
        raise _NotAttempted from exc
    if out is None:
        raise _NotAttempted
    return out


def _report(name: str, fn: Callable[[], tuple[bool, str]], todo: str, strict: bool) -> bool | None:
    """Run one check body; print the verdict line; return True / False / None (not attempted)."""
    try:
        ok, msg = fn()
    except _NotAttempted:
        print(f"… not attempted yet — {todo}, then re-run this cell.")
        return None
    except Exception as exc:  # the learner's code raised: show it as a wrong answer, not a crash
        ok, msg = False, f"your function raised {type(exc).__name__}: {exc}"
    if ok:
        print(f"✓ right — {msg}")
        return True
    text = f"✗ wrong ({name}) — {msg}"
    if strict:
        raise AssertionError(text)
    print(text)
    return False


def _hint(msg: str, hint: str) -> str:
    return f"{msg}  hint: {hint}"


# ---------------------------------------------------------------------------- references
def _ref_conv_macs(c_in: int, c_out: int, kernel: int, h_out: int, w_out: int) -> int:
    return c_in * c_out * kernel * kernel * h_out * w_out


def _ref_num_windows(n_samples: int, window: int, stride: int) -> int:
    return 0 if n_samples < window else (n_samples - window) // stride + 1


def _ref_conv_params(c_in: int, c_out: int, kernel: int, bias: bool) -> int:
    return c_out * c_in * kernel * kernel + (c_out if bias else 0)


def _ref_latency_stats(times_ms) -> tuple[float, float]:
    t = np.asarray(times_ms, dtype=np.float64)
    return float(np.median(t)), float(np.percentile(t, 95))


def _ref_mask(weight, sparsity: float):
    import torch

    w = weight.detach().abs().flatten()
    k = round(sparsity * w.numel())                  # weights to zero, as torch.nn.utils.prune counts
    mask = torch.ones_like(w)
    if k > 0:
        mask[torch.topk(w, k, largest=False).indices] = 0.0
    return mask.reshape(weight.shape)


def _ref_qparams(x) -> tuple[float, int]:
    import torch

    x = torch.as_tensor(x, dtype=torch.float32)
    qmin, qmax = -128, 127
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = max((hi - lo) / (qmax - qmin), float(np.finfo(np.float32).eps))
    zero_point = int(min(max(qmin - round(lo / scale), qmin), qmax))
    return scale, zero_point


def _ref_quantize(x, scale: float, zero_point: int):
    import torch

    q = torch.round(torch.as_tensor(x, dtype=torch.float32) / scale) + zero_point
    return torch.clamp(q, -128, 127).to(torch.int8)


def _ref_kd_loss(student_logits, teacher_logits, y, temperature: float, alpha: float):
    import torch.nn.functional as F

    T = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, y)


def _ref_parity(logits, reference) -> tuple[float, float]:
    a, b = np.asarray(logits, np.float32), np.asarray(reference, np.float32)
    return float(np.mean(a.argmax(1) == b.argmax(1))), float(np.max(np.abs(a - b)))


def _ref_budget(model_bytes: int, arena_bytes: int, device: dict) -> tuple[bool, int, int]:
    flash_need = int(model_bytes) + int(device["runtime_flash_bytes"])
    sram_need = int(arena_bytes)
    fits = flash_need <= device["flash_bytes"] and sram_need <= device["sram_bytes"]
    return bool(fits), flash_need, sram_need


_REFERENCE: dict[str, Callable] = {
    "conv_macs": _ref_conv_macs, "num_windows": _ref_num_windows, "num_frames": _ref_num_windows,
    "conv_params": _ref_conv_params, "latency_stats": _ref_latency_stats, "mask": _ref_mask,
    "qparams": _ref_qparams, "quantize": _ref_quantize, "kd_loss": _ref_kd_loss, "parity": _ref_parity,
    "budget": _ref_budget,
}

#: Which chapter each exercise belongs to (the tests check that every chapter has one).
EXERCISES: dict[str, str] = {
    "conv_macs": "00", "arena": "00", "num_windows": "01", "num_frames": "01", "conv_params": "02",
    "latency_stats": "02", "mask": "03", "qparams": "04", "quantize": "04", "kd_loss": "05",
    "parity": "06", "budget": "07",
}

#: The expected answer of the value exercises (the int8 arena estimate of chapter 00).
ARENA_BYTES = 15_680


def reference(name: str) -> Any:
    """The reference solution of exercise ``name`` (a function, or the expected value)."""
    if name == "arena":
        return ARENA_BYTES
    return _REFERENCE[name]


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
                hint = ("count one MAC per weight per output pixel: c_in·c_out·k·k·h_out·w_out"
                        if got != want * 2 else "a MAC is one multiply AND one add: count it once, not twice")
                return False, _hint(f"conv{c}: expected {want:,}, got {got:,}", hint)
        total = sum(_ref_conv_macs(*c) for c in cases[:3])
        return True, (f"the baseline's three convs cost {total:,} MACs "
                      f"(+ 640 for the 64→10 linear = 1,919,872, the figure chapter 02 prints)")
    return _report("conv_macs", body, "return c_in * c_out * kernel * kernel * h_out * w_out", strict)


def _layer_arena_bytes() -> int:
    """Largest int8 input+output bytes over conv/pool/linear layers of vision_cnn(16) (BN and ReLU fuse)."""
    import torch

    from . import models

    model, sizes = models.vision_cnn(16).eval(), []
    hook = lambda m, i, o: sizes.append(i[0].numel() + o.numel())
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    return max(sizes)


def check_arena(value: int | None, strict: bool = False) -> bool | None:
    """``value``: your estimate (bytes) of vision_cnn(16)'s int8 arena: max over layers of input + output."""
    def body():
        if value is None:
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
        return False, _hint(f"expected {want:,} B, got {got:,} B",
                            "list each conv/pool/linear's input and output element counts; BN and ReLU fuse away")
    return _report("arena", body, "set ARENA to your estimate in bytes", strict)


# ---------------------------------------------------------------------------- chapter 01
def _check_count(fn, cases, hint: str, done: str):
    """Body of a check whose answer is a count: compare ``fn(*case)`` with the reference on each case."""
    def body():
        for c in cases:
            want = _ref_num_windows(*c)
            got = int(_call(fn, *c))
            if got != want:
                extra = "  (off by one: the last window that fits counts too)" if abs(got - want) == 1 else ""
                return False, _hint(f"{c}: expected {want}, got {got}{extra}", hint)
        return True, done
    return body


def check_num_windows(fn: Callable[[int, int, int], int], strict: bool = False) -> bool | None:
    """``fn(n_samples, window, stride)`` -> number of full windows cut from one recording."""
    cases = [(100, 50, 10), (100, 20, 10), (100, 100, 10), (100, 30, 10), (40, 50, 10), (101, 50, 25)]

    def body():
        for c in cases:   # oracle: NumPy's own sliding windows
            n = np.lib.stride_tricks.sliding_window_view(np.arange(c[0]), c[1])[::c[2]].shape[0] if c[0] >= c[1] else 0
            if n != _ref_num_windows(*c):  # pragma: no cover - guards the reference itself
                raise RuntimeError("reference disagrees with NumPy")
        return _check_count(fn, cases, "windows start at 0, stride, 2·stride, ... while start + window <= n",
                            "a 10 s recording at 10 Hz gives 9 windows of 2 s (stride 1 s) and 6 of 5 s")()
    return _report("num_windows", body, "return how many windows fit", strict)


def check_num_frames(fn: Callable[[int, int, int], int], strict: bool = False) -> bool | None:
    """``fn(num_samples, n_fft, hop)`` -> audio frames of an STFT without padding (as features.log_mel)."""
    cases = [(16000, 480, 320), (16000, 512, 256), (8000, 480, 320), (479, 480, 320), (480, 480, 320)]
    return _report("num_frames", _check_count(
        fn, cases, "like windows: frames start every hop samples and need n_fft samples",
        "1 s at 16 kHz with 30 ms frames (480) every 20 ms (320) gives 49 frames: a 49×40 log-mel image"),
        "return how many frames fit", strict)


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
                return False, _hint(f"conv{c}: expected {want:,}, got {got:,}",
                                    "weights c_out·c_in·k·k, plus one bias per output channel when bias=True")
        return True, ("convs 144 + 4,608 + 18,432; with BatchNorm (2 per channel: 224) and the 64→10 linear (650) "
                      "that is vision_cnn(16)'s 24,058 parameters")
    return _report("conv_params", body, "return the parameter count", strict)


def check_latency_stats(fn: Callable[[Any], tuple[float, float]], strict: bool = False) -> bool | None:
    """``fn(times_ms)`` -> ``(p50, p95)`` in ms of per-call times (a 1-D array)."""
    rng = np.random.default_rng(0)
    cases = [np.array([5.0, 1.0, 1.2, 1.1, 0.9, 1.0, 1.3, 1.0, 1.1, 9.0]),
             np.round(rng.lognormal(0.0, 0.3, 201), 4), np.arange(1.0, 101.0)]

    def body():
        for t in cases:
            want = _ref_latency_stats(t)
            got = _call(fn, t.copy())
            p50, p95 = float(got[0]), float(got[1])
            if not (math.isclose(p50, want[0], rel_tol=1e-6) and math.isclose(p95, want[1], rel_tol=1e-6)):
                hint = ("the mean is pulled up by the cold first call and outliers: use the median"
                        if math.isclose(p50, float(np.mean(t)), rel_tol=1e-6)
                        else "np.median(t) and np.percentile(t, 95) (linear interpolation)")
                return False, _hint(f"expected ({want[0]:.4f}, {want[1]:.4f}) ms, got ({p50:.4f}, {p95:.4f})", hint)
        w = _ref_latency_stats(cases[0])
        return True, (f"on the 10 calls with a cold start of 5 ms: p50 {w[0]:.2f} ms, p95 {w[1]:.2f} ms, "
                      f"while the mean would say {np.mean(cases[0]):.2f} ms")
    return _report("latency_stats", body, "return (median, 95th percentile)", strict)


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
        return True, "matches torch.quantize_per_tensor: with scale 3/255 and zp -43, [-1, 0, 0.6, 2] -> [-128, -43, 8, 127]"
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
        return True, f"matches F.kl_div/F.cross_entropy at 4 (T, alpha) pairs; T=4, alpha=0.9 gives {w:.4f} on the test logits"
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
