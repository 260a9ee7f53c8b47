"""Every chapter's quick/full choices live in ``course.recipes`` (typed ``Modes``), not in the notebooks.

A code cell may still pick a *text* by mode (``("quick" if QUICK else "full")``, a sentence that says
"quick mode: ..."); a number, list, dict or config chosen by ``if QUICK else`` belongs in the chapter's recipe.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing

import pytest

from tinyml_utils.core import paths
from tinyml_utils.core.context import Context
from tinyml_utils.course import recipes

# `... if QUICK else <not a string literal>` (also `if not QUICK else`): a mode-dependent value, not a text
MODE_VALUE = re.compile(r"\bif\s+(?:not\s+)?QUICK\s+else\b(?!\s*[rRfFbBuU]{0,2}[\"'])")
CHAPTERS = sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def mode_values(source: str) -> list[str]:
    """The lines of ``source`` that choose a non-text value by ``if QUICK else``."""
    return [line.strip() for line in source.splitlines() if MODE_VALUE.search(line)]


def test_detector_flags_values_and_passes_texts():
    flagged = ["EPOCHS = 40 if QUICK else 100", "SEEDS = [SEED] if QUICK else [SEED, SEED + 1]",
               "bound = 0.90 if not QUICK else 0.40", "LAT = dict(rounds=3) if QUICK else dict(rounds=9)",
               "rounds=7 if QUICK else 9, calls=20 if QUICK else 40)", "x = a if QUICK else b"]
    texts = ['BUILD = paths.build_dir() / ("quick" if QUICK else "full")',
             "print(f\"{'1,000' if QUICK else 'all 3,500'} digits\")",
             '+ (" (quick mode: an undertrained model)" if QUICK else ""),',
             "msg = 'quick' if QUICK else f'full {n}'", "if QUICK:", "k = 1 if task == 'kw' else 0"]
    assert mode_values("\n".join(flagged)) == flagged
    assert mode_values("\n".join(texts)) == []


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name[:2])
def test_no_mode_dependent_values_in_code_cells(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    found = [line for c in cells if c["cell_type"] == "code" for line in mode_values("".join(c["source"]))]
    assert not found, (f"{nb.name}: move these quick/full choices into a typed recipe in course/recipes.py "
                       f"(R = recipes.<CHAPTER>(QUICK); R.<field>): {found}")


def test_every_chapter_is_checked():
    assert len(CHAPTERS) >= 13 and CHAPTERS[0].name.startswith("00_")


def _fits(value, hint) -> bool:
    """Whether ``value`` is of the annotated type ``hint`` (int, float, bool, str, X | None,
    tuple[X, ...], a dataclass)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args))
    if hint is float:
        return type(value) is float
    if hint is int:
        return type(value) is int                 # a bool is no int here
    return isinstance(value, hint)


def _check_same_type(quick, full, where: str) -> None:
    assert type(quick) is type(full), f"{where}: quick is {type(quick).__name__}, full {type(full).__name__}"
    hints = typing.get_type_hints(type(quick))
    for f in dataclasses.fields(quick):
        q, v = getattr(quick, f.name), getattr(full, f.name)
        at = f"{where}.{f.name}"
        assert _fits(q, hints[f.name]) and _fits(v, hints[f.name]), \
            f"{at}: quick {q!r} / full {v!r} do not match the annotation {hints[f.name]}"
        if q is not None and v is not None:
            assert type(q) is type(v), f"{at}: quick {type(q).__name__}, full {type(v).__name__}"
            if dataclasses.is_dataclass(q):
                _check_same_type(q, v, at)
            if isinstance(q, tuple):
                assert len({type(x) for x in q + v}) <= 1, f"{at}: mixed element types {q!r} / {v!r}"


MODES = {name: m for name, m in vars(recipes).items() if isinstance(m, recipes.Modes)}


def test_recipes_cover_every_chapter():
    # 02-05 and 08 train with the technique recipes; the chapters' other knobs have one Modes each
    for name in ("INTRO", "BASELINE", "PRUNING", "QUANTIZATION", "DISTILLATION", "FRAMEWORKS", "NPU",
                 "KEYWORDS", "KEYWORDS_CHAPTER", "SENSORS", "ON_DEVICE", "LANGUAGE_MODEL", "MICROCONTROLLER"):
        assert name in MODES, name


@pytest.mark.parametrize("name", sorted(MODES))
def test_quick_and_full_have_the_same_types(name):
    m = MODES[name]
    assert m(Context(quick=True)) is m.quick and m(Context(quick=False)) is m.full
    _check_same_type(m.quick, m.full, name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(m.full, dataclasses.fields(m.full)[0].name, None)


def test_type_check_catches_a_mismatch():
    bad = recipes.Modes(full=recipes.Sensors(n_seeds=3, epochs=100, ae_epochs=300, acc_bound=0.9, int8_points=1.0),
                        quick=recipes.Sensors(n_seeds=1, epochs=40, ae_epochs=100, acc_bound=0.8, int8_points=2))
    with pytest.raises(AssertionError, match="int8_points"):
        _check_same_type(bad.quick, bad.full, "bad")
