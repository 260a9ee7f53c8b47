"""Sliders for a learner in JupyterLab, nothing anywhere else.

A chapter draws its static figure for every reader (papermill, the book, a plain kernel) and may add
an ipywidgets slider beside it. A widget displayed where no frontend renders widgets leaves only its
text fallback (``interactive(children=...)``) in the executed copy, and the book could only print
that line; so a slider is shown only when :func:`frontend_has_widgets` says a widget frontend runs,
and the chapter never depends on it (every failure is swallowed and reported as ``False``).

How it knows: a kernel that a Jupyter server starts for a notebook (JupyterLab, Notebook 7) carries
``JPY_SESSION_NAME`` in its environment; papermill and nbclient kernels do not. ``TINYML_WIDGETS=1``
turns sliders on elsewhere (VS Code's notebooks render widgets too), ``TINYML_WIDGETS=0`` turns them off.
"""
from __future__ import annotations

import os
from typing import Callable

#: the environment variable that overrides the detection: "1" shows sliders, "0" hides them
ENV = "TINYML_WIDGETS"


def frontend_has_widgets() -> bool:
    """True when this code runs in an IPython kernel that a widget frontend (JupyterLab) is attached to."""
    forced = os.environ.get(ENV, "").strip()
    if forced in ("0", "1"):
        want = forced == "1"
    else:
        want = bool(os.environ.get("JPY_SESSION_NAME"))
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
    """Show a float slider from ``low`` to ``high`` that calls ``draw(value)`` on every move, but only
    where :func:`frontend_has_widgets`; ``draw`` makes its own figure (``plt.show()`` or returns it).
    Returns whether a slider is shown (``False`` in papermill, the book, or on any widget error)."""
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
