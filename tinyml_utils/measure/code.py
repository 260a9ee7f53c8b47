"""Effort of a conversion path: its steps (ok, seconds) and the lines of ``tinyml_utils`` code it reaches."""
from __future__ import annotations

import inspect
import io
import sys
import textwrap
import time
import tokenize
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class ConversionLog:
    """Steps of each runtime's conversion: (runtime, step, ok, seconds, error)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def step(self, runtime: str, step: str, fn: Callable[[], Any], *, required: bool = False):
        """Run ``fn()`` and record it; on failure record the error and return None (raise if ``required``)."""
        t0 = time.perf_counter()
        out = error = None
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - a failing conversion is a result to report
            error = e
        message = "" if error is None else f"{type(error).__name__}: {error}"[:300]
        self.rows.append({"runtime": runtime, "step": step, "ok": error is None,
                          "seconds": time.perf_counter() - t0, "error": message})
        if error is not None and required:
            raise error
        return out

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["runtime", "step", "ok", "seconds", "error"])


def code_lines(*objs) -> int:
    """Lines of code of functions/classes, docstrings, comments and blank lines not counted."""
    total = 0
    for obj in objs:
        src = inspect.getsource(obj)
        lines: set[int] = set()
        prev = tokenize.INDENT
        for tok in tokenize.generate_tokens(io.StringIO(textwrap.dedent(src)).readline):
            if tok.type == tokenize.STRING and prev in (tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT):
                prev = tok.type
                continue  # a docstring or bare string statement
            if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                tokenize.DEDENT, tokenize.ENDMARKER):
                lines.update(range(tok.start[0], tok.end[0] + 1))
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                prev = tok.type
        total += len(lines)
    return total


def reachable_code(*entries) -> list:
    """The ``tinyml_utils`` functions and classes ``entries`` use, transitively (names resolving to
    module globals; trap: an import inside a function is not followed)."""
    import ast

    seen: dict[str, Any] = {}
    todo = list(entries)
    while todo:
        obj = inspect.unwrap(todo.pop())
        mod = getattr(obj, "__module__", "") or ""
        key = f"{mod}.{getattr(obj, '__qualname__', repr(obj))}"
        if not mod.startswith("tinyml_utils") or key in seen:
            continue
        seen[key] = obj
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        except (OSError, TypeError, SyntaxError):
            continue
        namespace = dict(vars(sys.modules[mod]))
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Name):
                target = namespace.get(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                base = namespace.get(node.value.id)
                if inspect.ismodule(base) and base.__name__.startswith("tinyml_utils"):
                    target = getattr(base, node.attr, None)
            if (inspect.isfunction(target) or inspect.isclass(target)) and \
                    (getattr(target, "__module__", "") or "").startswith("tinyml_utils"):
                todo.append(target)
    return list(seen.values())
