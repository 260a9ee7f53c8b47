"""Sphinx extension for the course book: keeps the offline MathJax copy loading correctly.

Jupyter Book 1.x adds every ``*.js`` file found under ``_static/`` to every page
(``jupyter_book/config.py``: "Search the static files paths and initialize any CSS or JS
files"). ``tinyml_utils.tools.book`` copies MathJax 3 into ``_static/mathjax/`` so that math renders
without a CDN; without this filter each page would eagerly load all ~60 MathJax components
(extensions, the speech engine, a second tex-chtml.js) as plain scripts. Sphinx itself loads
``mathjax_path`` (``mathjax/tex-chtml.js``) on pages that contain math, and MathJax fetches the
rest on demand relative to that script.
"""
from __future__ import annotations

MATHJAX_PREFIX = "mathjax/"


def _entry_name(entry) -> str:
    return entry[0] if isinstance(entry, (tuple, list)) else str(entry)


def _drop_autoincluded_mathjax(app, config) -> None:
    config.html_js_files = [
        e for e in config.html_js_files if not _entry_name(e).startswith(MATHJAX_PREFIX)
    ]


def setup(app):
    # Sphinx normalises html_js_files at priority 800; run before it.
    app.connect("config-inited", _drop_autoincluded_mathjax, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
