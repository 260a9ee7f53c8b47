"""Sliders for a learner in JupyterLab, nothing anywhere else (the static figure stays for everyone).

Trap: unrendered, a widget leaves only its text fallback in the executed copy. A Jupyter server's kernel has
``JPY_SESSION_NAME``, papermill's not; ``TINYML_WIDGETS`` = "1"/"0" overrides (VS Code renders widgets too).
"""
from __future__ import annotations

import os
from typing import Callable

ENV = "TINYML_WIDGETS"


def frontend_has_widgets() -> bool:
    """True when this code runs in an IPython kernel that a widget frontend (JupyterLab) is attached to."""
    forced = os.environ.get(ENV, "").strip()
    want = forced == "1" if forced in ("0", "1") else bool(os.environ.get("JPY_SESSION_NAME"))
    if not want:
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def slider(draw: Callable[[float], object], low: float, high: float, step: float, value: float,
           description: str = "T") -> bool:
    """Show a float slider calling ``draw(value)`` on every move, where :func:`frontend_has_widgets`;
    returns whether it is shown (never raises)."""
    if not frontend_has_widgets():
        return False
    try:
        import ipywidgets as w
        from IPython.display import display

        control = w.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                continuous_update=False)
        display(w.interactive(lambda value: draw(value), value=control))
        return True
    except Exception:  # noqa: BLE001 - a slider is an extra: the static figure above stays
        return False
