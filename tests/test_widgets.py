"""report.widgets: a slider appears only where a widget frontend runs, and never breaks a chapter."""
from __future__ import annotations

import types

import pytest

from tinyml_utils.report import widgets

pytest.importorskip("ipywidgets")


def _kernel_shell(monkeypatch):
    """Pretend this process is an IPython kernel (a shell with a .kernel)."""
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))


def test_no_frontend_outside_a_jupyter_server_session(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv(widgets.ENV, raising=False)
    _kernel_shell(monkeypatch)
    assert widgets.frontend_has_widgets() is False          # papermill / nbclient kernels


def test_jupyterlab_session_kernel_has_widgets(monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/05_distillation.ipynb")
    monkeypatch.delenv(widgets.ENV, raising=False)
    _kernel_shell(monkeypatch)
    assert widgets.frontend_has_widgets() is True
    monkeypatch.setenv(widgets.ENV, "0")                     # the override wins both ways
    assert widgets.frontend_has_widgets() is False


def test_not_a_kernel_means_no_widgets(monkeypatch):
    import IPython

    monkeypatch.setenv(widgets.ENV, "1")
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)   # plain python, pytest
    assert widgets.frontend_has_widgets() is False


def test_slider_is_silent_without_a_frontend(monkeypatch):
    monkeypatch.setattr(widgets, "frontend_has_widgets", lambda: False)
    calls = []
    assert widgets.slider(calls.append, 0.5, 8.0, 0.5, 4.0) is False
    assert calls == []


def test_slider_draws_the_start_value_and_survives_a_failing_draw(monkeypatch):
    monkeypatch.setattr(widgets, "frontend_has_widgets", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    calls = []
    assert widgets.slider(calls.append, 0.5, 8.0, 0.5, 4.0) is True
    assert calls == [4.0]                                     # interactive draws once at creation

    def broken(value):
        raise RuntimeError("no figure")

    widgets.slider(broken, 0.5, 8.0, 0.5, 4.0)                # must not raise into the chapter
