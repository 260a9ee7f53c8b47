"""What a sweep may vary: typed knobs, read from a chapter's parameters cell or a function's signature.

A chapter declares its knobs in the cell tagged ``parameters``; every assignment there is a knob,
typed by its annotation or, without one, by its default::

    QUICK = True                                  # set by the sweep's --quick, never a knob
    SEED = 0                                      # the seed axis (--seeds)
    SPARSITY: float = 0.8                         # a float knob
    SCHEDULE: Literal["one-shot", "gradual"] = "one-shot"
    SWEEPABLE = ("SPARSITY", "SCHEDULE")          # optional: only these may vary

An experiment function declares them in its signature (``seed``, ``quick`` and ``out_dir`` are
filled in by the sweep)::

    def prune(sparsity: Annotated[float, Range(0.05, 0.99)] = 0.9,
              schedule: Literal["one-shot", "gradual"] = "one-shot", *, seed: int = 0, quick: bool = True)

A value is parsed from the command line's text with :meth:`Knob.parse`, which raises
:class:`SweepError` naming the knob, the type or choices it takes and the value it got.
"""
from __future__ import annotations

import ast
import inspect
import json
import typing
from dataclasses import dataclass
from pathlib import Path

#: filled in by the sweep itself; a function may take them, they are never knobs
RESERVED = ("seed", "quick", "out_dir")
#: chapter parameters the sweep sets itself
CHAPTER_RESERVED = ("QUICK", "SEED", "SWEEPABLE")
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


class SweepError(ValueError):
    """A sweep asked for something its target does not declare: the message says what is allowed."""


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a numeric knob: ``Annotated[float, Range(0.0, 1.0)]``."""

    low: float
    high: float


@dataclass(frozen=True)
class Knob:
    """One parameter a sweep may vary: its name, type (int, float, bool or str), default, and
    optionally the allowed choices or an inclusive range."""

    name: str
    type: type
    default: object = None
    choices: tuple | None = None
    bounds: Range | None = None
    help: str = ""

    def describe(self) -> str:
        kind = (" | ".join(repr(c) for c in self.choices) if self.choices else self.type.__name__)
        if self.bounds is not None:
            kind += f" in [{self.bounds.low}, {self.bounds.high}]"
        text = f"{self.name}: {kind} (default {self.default!r})"
        return text + (f"  # {self.help}" if self.help else "")

    def parse(self, value) -> object:
        """``value`` (text from the command line, or already typed) as this knob's type, checked."""
        try:
            if isinstance(value, str):
                if self.type is bool:
                    low = value.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    typed = low in ("true", "1", "yes")
                elif self.type is int:
                    typed = int(value)
                else:
                    typed = self.type(value)
            elif self.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                typed = float(value)
            elif isinstance(value, self.type) and not (self.type is int and isinstance(value, bool)):
                typed = value
            else:
                raise ValueError(value)
        except ValueError:
            raise SweepError(f"{self.name} takes {self.type.__name__} values; got {value!r}") from None
        if self.choices is not None and typed not in self.choices:
            raise SweepError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}; got {value!r}")
        if self.bounds is not None and not (self.bounds.low <= typed <= self.bounds.high):
            raise SweepError(f"{self.name} must lie in [{self.bounds.low}, {self.bounds.high}]; got {value!r}")
        return typed


def check_grid(knobs: dict[str, Knob], grid: dict[str, list], target: str) -> dict[str, list]:
    """The grid with every value parsed by its knob; an unknown name raises, listing the knobs."""
    out = {}
    for name, values in grid.items():
        if name not in knobs:
            known = "\n  ".join(k.describe() for k in knobs.values()) or "(none)"
            raise SweepError(f"{target} has no sweepable parameter {name!r}. It declares:\n  {known}")
        if not values:
            raise SweepError(f"{name}: give at least one value")
        typed = [knobs[name].parse(v) for v in values]
        out[name] = list(dict.fromkeys(typed))    # drop repeats, keep order
    return out


# ---------------------------------------------------------------------------------- functions
def _from_hint(name: str, hint, default) -> Knob:
    choices, bounds = None, None
    if typing.get_origin(hint) is typing.Annotated:
        hint, *extras = typing.get_args(hint)
        bounds = next((e for e in extras if isinstance(e, Range)), None)
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        kinds = {type(c) for c in choices}
        if len(kinds) != 1 or next(iter(kinds)) not in _TYPES.values():
            raise SweepError(f"{name}: Literal choices must all be int, float, bool or str")
        hint = next(iter(kinds))
    if hint not in _TYPES.values():
        raise SweepError(f"{name}: a sweepable parameter must be annotated int, float, bool, str, a Literal "
                         f"or Annotated[..., Range(lo, hi)]; got {hint!r}")
    return Knob(name, hint, None if default is inspect.Parameter.empty else default, choices, bounds)


def function_knobs(fn) -> dict[str, Knob]:
    """The knobs of an experiment function: every parameter but :data:`RESERVED`, typed by its annotation."""
    hints = typing.get_type_hints(fn, include_extras=True)
    knobs = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in RESERVED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name not in hints:
            raise SweepError(f"{fn.__module__}.{fn.__name__}: parameter {name!r} has no type annotation")
        knobs[name] = _from_hint(name, hints[name], p.default)
    return knobs


# ---------------------------------------------------------------------------------- chapters
def parameters_source(nb_path: Path) -> str:
    """The source of ``nb_path``'s cell tagged ``parameters`` (an error if there is none)."""
    nb = json.loads(Path(nb_path).read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = cell.get("source", "")
            return "".join(src) if isinstance(src, list) else src
    raise SweepError(f"{nb_path.name} has no cell tagged 'parameters', so it declares nothing a sweep may vary")


def _annotation(name: str, node: ast.expr) -> tuple[type, tuple | None]:
    if isinstance(node, ast.Name) and node.id in _TYPES:
        return _TYPES[node.id], None
    if isinstance(node, ast.Subscript) and getattr(node.value, "id", getattr(node.value, "attr", "")) == "Literal":
        choices = ast.literal_eval(node.slice)
        choices = choices if isinstance(choices, tuple) else (choices,)
        return type(choices[0]), choices
    raise SweepError(f"parameter {name}: annotate it int, float, bool, str or Literal[...]")


def chapter_knobs(nb_path: Path) -> tuple[dict[str, Knob], bool]:
    """``(knobs, seeded)`` of a chapter: its parameters cell's assignments (typed by annotation or
    default; ``SWEEPABLE`` narrows them), and whether it has a ``SEED`` the sweep can set."""
    src = parameters_source(nb_path)
    lines = src.splitlines()
    knobs, sweepable, seeded = {}, None, False
    for node in ast.parse(src).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) else None
        if not isinstance(target, ast.Name) or node.value is None:
            continue
        name = target.id
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            continue                               # a computed value: not a knob
        if name == "SWEEPABLE":
            sweepable = tuple(default)
            continue
        if name == "SEED":
            seeded = True
        if name in CHAPTER_RESERVED:
            continue
        comment = lines[node.lineno - 1].split("#", 1)[1].strip() if "#" in lines[node.lineno - 1] else ""
        if isinstance(node, ast.AnnAssign):
            typ, choices = _annotation(name, node.annotation)
        elif type(default) in _TYPES.values():
            typ, choices = type(default), None
        else:
            continue                               # None, paths, lists: not sweepable
        knobs[name] = Knob(name, typ, default, choices, None, comment)
    if sweepable is not None:
        unknown = [n for n in sweepable if n not in knobs]
        if unknown:
            raise SweepError(f"{nb_path.name}: SWEEPABLE names {unknown}, which the parameters cell does not assign")
        knobs = {n: knobs[n] for n in sweepable}
    return knobs, seeded
