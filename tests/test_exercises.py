"""Self-checking exercises: every check accepts its reference solution, rejects typical wrong answers
with the hint that names each slip, and calls an untouched stub "not attempted" without giving anything
away; every chapter has at least two, laid out the same way (statement, stub, hidden solution), and each
chapter's hidden solution passes its own check."""
from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyml_utils.course import exercises as E

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FN_CHECKS = [n for n in E.EXERCISES if n != "arena"]


def _kl(s, t, T):
    return F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t / T, 1), reduction="batchmean", log_target=True)


def _signed_mask(w, s):
    m = torch.ones(w.numel())
    k = round(s * w.numel())
    if k:
        m[torch.topk(w.flatten(), k, largest=False).indices] = 0.0
    return m.reshape(w.shape)


def _nll(z, y):
    return -F.log_softmax(z.double(), 1)[torch.arange(len(y)), y]


# Typical wrong answers per exercise and a fragment of the hint each must get (the slip, named).
WRONG = {
    "conv_macs": [(lambda ci, co, k, h, w: 2 * ci * co * k * k * h * w, "count it once"),
                  (lambda ci, co, k, h, w: ci * co * k * h * w, "count kernel twice"),
                  (lambda ci, co, k, h, w: ci * co * k * k, "h_out · w_out")],
    "num_windows": [(lambda n, w, s: (n - w) // s + 1, "guard the case n < window"),
                    (lambda n, w, s: (n - w) // s, "off by one"),
                    (lambda n, w, s: n // s, "full length")],
    "num_frames": [(lambda n, f, h: (n - f) // h + 1, "guard the case n < frame"),
                   (lambda n, f, h: n // h, "full length")],
    "conv_params": [(lambda ci, co, k, b: co * ci * k * k, "one bias per output channel"),
                    (lambda ci, co, k, b: co * ci * k * k + (ci if b else 0), "not per input channel"),
                    (lambda ci, co, k, b: co * ci * k + (co if b else 0), "k·k weights")],
    "latency_stats": [(lambda t: (float(t.mean()), float(np.percentile(t, 95))), "use the median"),
                      (lambda t: (float(np.median(t)), float(t.max())), "not the slowest call"),
                      (lambda t: (float(np.median(t)), float(np.percentile(t, 0.95))), "takes 95, not 0.95")],
    "mask": [(_signed_mask, "rank by magnitude |w|, not by signed value"),
             (lambda w, s: 1.0 - E.reference("mask")(w, s), "you kept the smallest weights"),
             (lambda w, s: E.reference("mask")(w, s).flatten(), "reshape")],
    "schedule": [(lambda si, sf, n: [si + (sf - si) * k / n for k in range(n + 1)], "cubic, not linear"),
                 (lambda si, sf, n: [si + (sf - si) * (k / n) ** 3 for k in range(n + 1)], "starts slowly"),
                 (lambda si, sf, n: [sf + (si - sf) * (1 - k / n) ** 3 for k in range(n)], "n + 1 targets")],
    "qparams": [(lambda x: ((float(x.max()) - float(x.min())) / 255,
                            int(-128 - round(float(x.min()) / ((float(x.max()) - float(x.min())) / 255)))),
                 "include 0.0"),
                (lambda x: (E.reference("qparams")(x)[0], 0), "zero_point = qmin - round(min / scale)"),
                (lambda x: (E.reference("qparams")(x)[0] * 255 / 256, E.reference("qparams")(x)[1]), "255 steps")],
    "quantize": [(lambda x, s, z: torch.round(x / s) + z, "clamp to [-128, 127]"),
                 (lambda x, s, z: torch.clamp(torch.round(x / s), -128, 127), "add the zero point"),
                 (lambda x, s, z: torch.clamp(torch.floor(x / s + 0.5) + z, -128, 127), "round half to even")],
    "soft_targets": [(lambda z, T: torch.softmax(z * T, 1), "multiplying sharpens"),
                     (lambda z, T: torch.softmax(z, 1), "apply the temperature"),
                     (lambda z, T: torch.softmax(z / T, 0), "every row must sum to 1")],
    "kd_loss": [(lambda s, t, y, T, a: a * _kl(s, t, T) + (1 - a) * F.cross_entropy(s, y), "by T²"),
                (lambda s, t, y, T, a: a * T * T * _kl(t, s, T) + (1 - a) * F.cross_entropy(s, y),
                 "KL(p_teacher || p_student)"),
                (lambda s, t, y, T, a: (1 - a) * T * T * _kl(s, t, T) + a * F.cross_entropy(s, y),
                 "alpha weighs the teacher")],
    "parity": [(lambda a, b: (float((a.argmax(1) == b.argmax(1)).sum()), float(abs(a - b).max())),
                "a fraction in [0, 1]"),
               (lambda a, b: (float(np.mean(a.argmax(1) == b.argmax(1))), float(np.max(a - b))), "absolute value"),
               (lambda a, b: (float(np.mean(a.argmax(1) == b.argmax(1))), float(np.mean(np.abs(a - b)))),
                "not the mean one")],
    "dequantize": [(lambda q, s, z: (q - np.int8(z)).astype(np.float32) * s, "int8 arithmetic wraps"),
                   (lambda q, s, z: (q.astype(np.float32) + z) * s, "do not add it"),
                   (lambda q, s, z: q.astype(np.float32) * s - z, "before scaling")],
    "budget": [(lambda m, a, d: (m <= d["flash_bytes"] and a <= d["sram_bytes"], m, a), "AND the runtime"),
               (lambda m, a, d: (m + d["runtime_flash_bytes"] <= d["flash_bytes"] or a <= d["sram_bytes"],
                                 m + d["runtime_flash_bytes"], a), "BOTH"),
               (lambda m, a, d: (m + d["runtime_flash_bytes"] <= d["flash_bytes"] and a + m <= d["sram_bytes"],
                                 m + d["runtime_flash_bytes"], a + m), "weights stay in flash")],
    "npu_estimate": [(lambda m, n, t, c, p: (t / c, m / (n * p)), "seconds × 1,000"),
                     (lambda m, n, t, c, p: (1e3 * n / c, m / (n * p)), "counts total_cycles"),
                     (lambda m, n, t, c, p: (1e3 * t / c, n * p / m), "at most 1")],
    "ds_conv_macs": [(lambda ci, co, k, h, w: ci * co * k * k * h * w, "that is a full conv"),
                     (lambda ci, co, k, h, w: ci * k * k * h * w, "add the pointwise"),
                     (lambda ci, co, k, h, w: ci * co * h * w, "add the depthwise")],
    "smooth": [(lambda p, n: np.stack([np.convolve(p[:, j], np.ones(n) / n, "same") for j in range(p.shape[1])], 1),
                "not a window centred"),
               (lambda p, n: np.stack([p[max(0, i - n + 1):i + 1].sum(0) / n for i in range(len(p))]),
                "divide by how many"),
               (lambda p, n: np.stack([p[max(0, i - n):i + 1].mean(0) for i in range(len(p))]), "off by one")],
    "stream_rate": [(lambda a, b, r, e: (a * r, a * r * e), "bytes_per_sample"),
                    (lambda a, b, r, e: (a * b * r, a * b * r / e), "multiply"),
                    (lambda a, b, r, e: (8 * a * b * r, 8 * a * b * r * e), "not bits")],
    "window_stats": [(lambda x: (x.mean(0), x.std(0), np.sqrt((x ** 2).mean(0))), "axis=1"),
                     (lambda x: (x.mean(1), x.std(1, ddof=1), np.sqrt((x ** 2).mean(1))), "ddof=0"),
                     (lambda x: (x.mean(1), x.std(1), x.std(1)), "keeps the mean")],
    "quantize_delta": [(lambda lo, g: (np.round(lo / (np.abs(lo).max() / 127)), np.abs(lo).max() / 127),
                     "not the weights"),
                    (lambda lo, g: (np.round((lo - g) / (np.abs(lo - g).max() / 128)), np.abs(lo - g).max() / 128),
                     "not 128"),
                    (lambda lo, g: (np.trunc((lo - g) / (np.abs(lo - g).max() / 127)), np.abs(lo - g).max() / 127),
                     "truncation")],
    "bn_stats": [(lambda x: (x.mean((0, 2)), x.var((0, 2))), "unbiased"),
                 (lambda x: (x.mean((1, 2)), x.var((1, 2), ddof=1)), "one statistic per CHANNEL"),
                 (lambda x: (x.mean((0, 2)), x.std((0, 2), ddof=1)), "not the standard deviation")],
    "kv_cache_bytes": [(lambda la, c, d, b=4: la * c * d * b, "keys AND values"),
                       (lambda la, c, d, b=4: 2 * c * d * b, "times the layers"),
                       (lambda la, c, d, b=4: 2 * la * c * d, "times bytes_per_value")],
    "perplexity": [(lambda z, y: float(torch.exp(_nll(z, y)).mean()), "not the mean of each token's exp"),
                   (lambda z, y: float(_nll(z, y).mean()), "perplexity is its exp"),
                   (lambda z, y: float(torch.exp(-z.double()[torch.arange(len(y)), y].mean())), "log_softmax")],
    "duty_cycle": [(lambda n, p, f, c: n * c / f / (p / 1e3), "not a percent"),
                   (lambda n, p, f, c: 100 * n / f / (p / 1e3), "cycles per instruction"),
                   (lambda n, p, f, c: 100 * n * c / f / p, "divide by 1000")],
    "instructions_per_mac": [(lambda n, m: m / n, "invert it"), (lambda n, m: n / m / 2, "instructions / MACs")],
}


def _run(fn, *args, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args, **kw)
    return out, buf.getvalue()


def test_every_exercise_has_wrong_answers():
    assert set(WRONG) == set(FN_CHECKS)


@pytest.mark.parametrize("name", FN_CHECKS)
def test_check_accepts_reference(name):
    ok, text = _run(getattr(E, f"check_{name}"), E.reference(name))
    assert ok is True and text.startswith("✓ right — "), text


@pytest.mark.parametrize("name", FN_CHECKS)
def test_check_rejects_typical_slips_with_their_hint(name):
    check = getattr(E, f"check_{name}")
    assert len(WRONG[name]) >= 2
    for wrong, hint in WRONG[name]:
        bad, text = _run(check, wrong)
        assert bad is False and text.startswith("✗ wrong") and "hint:" in text, text
        assert hint in text.split("hint:", 1)[1], f"{name}: expected hint {hint!r}, got {text!r}"
    with pytest.raises(AssertionError, match="hint:"):
        _run(check, WRONG[name][0][0], strict=True)


def _reveals_nothing(text: str, name: str):
    assert text == f"… not attempted yet — fill in {text.split('fill in ')[1].split(',')[0]}, then re-run this cell.\n"
    assert not re.search(r"\d|[*/+=]|return", text), f"{name}: the not-attempted line gives something away: {text!r}"


@pytest.mark.parametrize("name", FN_CHECKS)
@pytest.mark.parametrize("stub", ["none", "ellipsis", "raise"])
def test_unfilled_stub_reveals_nothing(name, stub):
    def fn(*args):
        if stub == "raise":
            raise NotImplementedError
        return ... if stub == "ellipsis" else None

    with warnings.catch_warnings():          # Run All on an untouched chapter stays quiet
        warnings.simplefilter("error")
        out, text = _run(getattr(E, f"check_{name}"), fn)
    assert out is None
    _reveals_nothing(text, name)


def test_check_reports_a_raising_answer_as_wrong():
    out, text = _run(E.check_mask, lambda w, s: w.nonexistent())
    assert out is False and "AttributeError" in text


def test_arena_value_check():
    assert _run(E.check_arena, E.reference("arena"))[0] is True
    assert E.reference("arena") == 12_544 + 3_136            # the first max-pool's input + output, int8
    out, text = _run(E.check_arena, 784 + 12_544)            # the first conv only: a named slip
    assert out is False and "max-pool" in text
    out, text = _run(E.check_arena, 4 * E.reference("arena"))
    assert out is False and "float32" in text
    out, text = _run(E.check_arena, 12_000)                  # a wrong guess does not get the answer printed
    assert out is False and "15,680" not in text and "15680" not in text
    for stub in (None, ...):
        out, text = _run(E.check_arena, stub)
        assert out is None
        _reveals_nothing(text, "arena")


def test_budget_reads_the_device_table():
    """One source of truth: the exercise's devices are the course's device table (Cortex-M4: 128 KB SRAM)."""
    from tinyml_utils.deploy import devices

    m4 = devices.profile("Cortex-M4 MCU")
    assert E.BUDGET_DEVICES["Cortex-M4"]["sram_bytes"] == m4.sram_bytes == 128 * 1024
    assert E.BUDGET_DEVICES["Cortex-M0+"]["flash_bytes"] == devices.profile("Cortex-M0+ MCU").flash_bytes
    # an answer with the old 256 KB hard-coded fails on the case that needs more than 128 KB of SRAM
    out, _ = _run(E.check_budget, lambda m, a, d: E.reference("budget")(m, a, {**d, "sram_bytes": 256 * 1024}))
    assert out is False


def test_references_are_the_oracles():
    """A reference is the oracle its check compares with: a package helper where one exists (checked
    here against a hand computation), else PyTorch or NumPy (checked against the package's helper)."""
    from tinyml_utils.compress import distill, prune, quantize
    from tinyml_utils.data import audio
    from tinyml_utils.measure import streaming

    assert E.reference("kd_loss") is distill.distillation_loss
    assert E.reference("schedule") is prune.polynomial_schedule
    assert E.reference("smooth") is streaming.smooth
    assert E.reference("num_frames") is E.reference("num_windows") is audio.num_frames
    assert E.reference("schedule")(0.0, 0.9, 4) == pytest.approx([0.0, 0.5203125, 0.7875, 0.8859375, 0.9])
    assert E.reference("num_frames")(16000, 480, 320) == 49 and E.reference("num_windows")(20, 50, 10) == 0
    p = np.eye(4)[[0, 0, 1, 1, 1]]
    assert np.allclose(E.reference("smooth")(p, 3)[[0, 2, 4]], [[1, 0, 0, 0], [2 / 3, 1 / 3, 0, 0], [0, 1, 0, 0]])
    g = torch.Generator().manual_seed(1)
    s, t, y = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g), torch.tensor([0, 1, 2, 3])
    assert float(E.reference("kd_loss")(s, t, y, 4.0, 0.0)) == pytest.approx(float(F.cross_entropy(s, y)))
    assert float(E.reference("kd_loss")(s, t, y, 4.0, 1.0)) == pytest.approx(16 * float(_kl(s, t, 4.0)), rel=1e-5)

    x = torch.tensor([-1.0, 0.5, 2.0])
    qp = quantize.choose_qparams(x, symmetric=False)
    assert E.reference("qparams")(x) == pytest.approx((float(qp.scale), int(qp.zero_point)))
    assert E.reference("perplexity")(np.zeros((10, 512), np.float32), np.arange(10)) == pytest.approx(512.0)


# ------------------------------------------------------------------------------------------ the notebooks
def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _exercises(path: Path):
    """``(statement, stub, solution cell)`` for every fill-in exercise of a chapter, in order."""
    cells = json.loads(path.read_text())["cells"]
    out = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and _source(cell).startswith("### Self-check:"):
            assert i + 2 < len(cells), f"{path.name}: exercise at the end without stub and solution"
            out.append((_source(cell), _source(cells[i + 1]), cells[i + 2], i))
    return cells, out


CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_two_exercises_in_the_same_shape(path):
    cells, exs = _exercises(path)
    assert len(exs) >= 2, f"{path.name} has {len(exs)} fill-in exercise(s); the convention is at least two"
    ex = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "## Exercises" in _source(c))
    names = set()
    for statement, stub, sol, i in exs:
        assert ex < i < len(cells) - 3, f"{path.name}: a self-check sits in ## Exercises, before the results cell"
        assert "```" not in statement and "<details>" not in statement, f"{path.name}: the statement shows code"
        m = re.search(r"exercises\.check_(\w+)\(", stub)
        assert m and m.group(1) in E.EXERCISES, f"{path.name}: the stub cell does not call a course.exercises check"
        assert E.EXERCISES[m.group(1)] == path.stem[:2], f"{path.name}: check_{m.group(1)} belongs to another chapter"
        names.add(m.group(1))
        assert "YOUR CODE HERE" in stub or "YOUR ANSWER HERE" in stub
        assert re.search(r"^\s+\.\.\.|raise NotImplementedError|= \.\.\.", stub, re.M), f"{path.name}: stub filled"
        src = _source(sol)
        assert sol["cell_type"] == "markdown" and "solution" in sol["metadata"].get("tags", []), path.name
        assert src.startswith("<details><summary>Solution</summary>") and src.rstrip().endswith("</details>")
        assert "```python" in src and "Expect" in src, f"{path.name}: the solution gives code and what to expect"
    assert len(names) >= 2


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stub_says_not_attempted_and_hidden_solution_passes(path):
    """Run All on the untouched chapter prints "not attempted" (never "right"); the hidden solution's code
    makes the same check say right, and the solution states numbers that the check prints."""
    _, exs = _exercises(path)
    for statement, stub, sol, _ in exs:
        ns: dict = {}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(stub, f"<{path.stem} stub>", "exec"), ns)
        assert "not attempted yet" in out.getvalue() and "✓" not in out.getvalue(), out.getvalue()
        solution = re.search(r"```python\n(.*?)```", _source(sol), re.S).group(1)
        body = [ln.strip() for ln in solution.splitlines() if ln.strip() and not ln.strip().startswith(("#", "def ",
                                                                                                       "import ",
                                                                                                       "from "))]
        assert not any(ln in stub for ln in body), f"{path.name}: the stub contains the solution"
        check = stub.strip().splitlines()[-1].rstrip(";")
        ns = {}
        exec(compile("from tinyml_utils.course import exercises\n" + solution, f"<{path.stem} solution>", "exec"), ns)
        result, text = _run(eval, check, ns)
        assert result is True, f"{path.name}: the hidden solution fails its check: {text}"
        nums = re.findall(r"\d[\d,]*\.?\d*", text.split("—", 1)[1])
        assert not nums or any(n in _source(sol) for n in nums), f"{path.name}: numbers differ from {text!r}"


def test_every_chapter_has_two_exercises_in_the_module():
    per = {}
    for name, ch in E.EXERCISES.items():
        per.setdefault(ch, []).append(name)
    chapters = sorted({p.stem[:2] for p in CHAPTERS} | {f"{i:02d}" for i in range(13)})
    assert all(len(per.get(ch, [])) >= 2 for ch in chapters), per
