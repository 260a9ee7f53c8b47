"""The machinery of the self-checking exercises: calling the learner's function, the verdict line,
and the reference solutions (:func:`reference`), kept out of the notebooks' sight."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


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

