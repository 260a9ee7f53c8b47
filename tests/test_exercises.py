"""Self-checking exercises: every check accepts its reference solution, rejects a wrong answer with a
hint, and calls an untouched stub "not attempted" without raising; every chapter has one, and the
solution printed in the chapter's dropdown passes its own check."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from tinyml_utils.course import exercises as E

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FN_CHECKS = ["conv_macs", "num_windows", "num_frames", "conv_params", "latency_stats", "mask", "qparams",
             "quantize", "kd_loss", "parity", "budget"]

# A plausible wrong answer per exercise (the slips the hints are written for).
WRONG = {
    "conv_macs": lambda ci, co, k, h, w: 2 * ci * co * k * k * h * w,
    "num_windows": lambda n, win, s: (n - win) // s,
    "num_frames": lambda n, f, h: n // h,
    "conv_params": lambda ci, co, k, b: co * ci * k * k,
    "latency_stats": lambda t: (float(t.mean()), float(t.max())),
    "mask": lambda w, s: (w.abs() > w.abs().flatten().kthvalue(max(1, round(s * w.numel()))).values).float()
    if s > 0 else torch.ones_like(w) * 0,
    "qparams": lambda x: ((float(x.max()) - float(x.min())) / 255, 0),
    "quantize": lambda x, s, z: torch.round(x / s) + z,
    "kd_loss": lambda s, t, y, T, a: a * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1),
                                                  reduction="batchmean") + (1 - a) * F.cross_entropy(s, y),
    "parity": lambda a, b: (float((a.argmax(1) == b.argmax(1)).sum()), float(abs(a - b).max())),
    "budget": lambda m, a, d: (m <= d["flash_bytes"], m, a),
}


def _run(fn, *args, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args, **kw)
    return out, buf.getvalue()


@pytest.mark.parametrize("name", FN_CHECKS)
def test_check_accepts_reference_rejects_wrong(name):
    check = getattr(E, f"check_{name}")
    ok, text = _run(check, E.reference(name))
    assert ok is True and text.startswith("✓ right — "), text
    bad, text = _run(check, WRONG[name])
    assert bad is False and text.startswith("✗ wrong") and "hint:" in text, text
    with pytest.raises(AssertionError, match="hint:"):
        _run(check, WRONG[name], strict=True)
    none, text = _run(check, lambda *a: None)
    assert none is None and "not attempted yet" in text, text


def test_check_reports_a_raising_answer_as_wrong():
    out, text = _run(E.check_mask, lambda w, s: w.nonexistent())
    assert out is False and "AttributeError" in text


def test_arena_value_check():
    assert _run(E.check_arena, E.reference("arena"))[0] is True
    assert E.reference("arena") == 12_544 + 3_136            # the first max-pool's input + output, int8
    out, text = _run(E.check_arena, 784 + 12_544)            # the first conv only: a named slip
    assert out is False and "max-pool" in text
    assert _run(E.check_arena, None)[0] is None


def test_references_match_package_helpers():
    """The hidden references agree with the package's own helpers (two independent routes)."""
    from tinyml_utils.compress import distill, quantize
    from tinyml_utils.data import features

    x = torch.tensor([-1.0, 0.5, 2.0])
    qp = quantize.choose_qparams(x, symmetric=False)
    assert E.reference("qparams")(x) == pytest.approx((float(qp.scale), int(qp.zero_point)))
    assert E.reference("num_frames")(16000, 480, 320) == features.num_frames(16000) == 49
    g = torch.Generator().manual_seed(1)
    s, t, y = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g), torch.tensor([0, 1, 2, 3])
    assert float(E.reference("kd_loss")(s, t, y, 4.0, 0.7)) == pytest.approx(
        float(distill.distillation_loss(s, t, y, 4.0, 0.7)), rel=1e-5)


def _selfcheck_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    pairs = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and cell.source.startswith("### Self-check:"):
            assert nb.cells[i + 1].cell_type == "code", f"{path.name}: no code cell after {cell.source[:40]!r}"
            pairs.append((i, cell.source, nb.cells[i + 1].source))
    return nb, pairs


CHAPTERS = sorted(p for p in NOTEBOOKS.glob("0[0-7]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_self_checking_exercise(path):
    nb, pairs = _selfcheck_cells(path)
    assert pairs, f"{path.name} has no self-checking exercise"
    ex = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    for i, md, code in pairs:
        assert ex < i < len(nb.cells) - 1, f"{path.name}: self-check must sit in ## Exercises, before the results cell"
        assert re.search(r"exercises\.check_\w+\(", code)
        assert "<details>" in md and "Expect" in md, "the solution is in a dropdown and states what to expect"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stub_runs_and_dropdown_solution_passes(path):
    """The untouched stub cell runs without error; the dropdown's code makes the same check say right."""
    _, pairs = _selfcheck_cells(path)
    for _, md, code in pairs:
        ns: dict = {}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<{path.stem} stub>", "exec"), ns)
        assert "not attempted yet" in out.getvalue(), out.getvalue()
        solution = re.search(r"```python\n(.*?)```", md, re.S).group(1)
        check = code.strip().splitlines()[-1].rstrip(";")
        ns = {}
        exec(compile("from tinyml_utils.course import exercises\n" + solution, f"<{path.stem} solution>", "exec"), ns)
        result, text = _run(eval, check, ns)
        assert result is True, f"{path.name}: the dropdown solution fails its check: {text}"
        # the dropdown states numbers that the check itself prints
        nums = re.findall(r"\d[\d,]*\.?\d*", text.split("—", 1)[1])
        assert any(n in md for n in nums), f"{path.name}: the dropdown's numbers differ from {text!r}"


def test_every_chapter_has_an_exercise_in_the_module():
    assert sorted(set(E.EXERCISES.values())) == [f"{i:02d}" for i in range(8)]
