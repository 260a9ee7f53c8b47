"""The book's results dashboard: every chapter's records in one sortable table and one Pareto figure.

Generated at book build time from the results files (``results/`` for the full book,
``build/results-quick/`` for the quick one) by :func:`write_page`, which writes ``dashboard.md``
and ``dashboard_pareto.png`` into the staged book folder. The table sorts by any column with a few
lines of inline JavaScript (no CDN, works offline).

One size definition throughout: ``size_bytes`` is the raw size on disk of the file the runtime
loads (a PyTorch checkpoint, an ExecuTorch ``.pte``, a ``.tflite``, an ``.onnx``):
:func:`tinyml_utils.report.results.file_bytes`, which swaps chapter 03's zipped sizes for the raw ones.
Latencies come from different chapters' runs on a shared machine: compare them within
a chapter (the table's ``chapter`` column), not across chapters.
"""
from __future__ import annotations

import html
from pathlib import Path

from ..core import paths
from ..report import plots, results

COLUMNS = ["chapter", "name", "technique", "runtime", "accuracy", "size_bytes", "params", "macs",
           "latency_ms_p50", "arena_bytes", "npu_cycles", "estimated", "n_test"]
#: Coarse technique families for the figure's colours (first keyword that matches wins).
FAMILIES = [("distill", "distillation"), ("prun", "pruning"), ("qat", "QAT"), ("ptq", "PTQ int8"),
            ("int8", "PTQ int8"), ("int4", "PTQ int8"), ("", "fp32")]
#: Runtime families for the figure's markers.
RUNTIMES = [("executorch", "ExecuTorch", "o"), ("tflite micro", "TFLite Micro", "s"), ("ethos", "Ethos-U (est.)", "P"),
            ("litert", "LiteRT", "^"), ("onnx", "ONNX Runtime", "D"), ("mediapipe", "MediaPipe", "v"),
            ("keras", "Keras", "<"), ("", "PyTorch", "x")]


def technique_family(technique: str) -> str:
    t = (technique or "").lower()
    return next(f for key, f in FAMILIES if key in t)


def runtime_family(runtime: str) -> tuple[str, str]:
    r = (runtime or "").lower()
    return next((f, m) for key, f, m in RUNTIMES if key in r)


def records_table(docs: list[dict]):
    """One row per record of every results document, in :data:`COLUMNS` order (pandas DataFrame)."""
    import pandas as pd

    rows = [{"chapter": d["chapter"], **{k: r.get(k) for k in COLUMNS[1:-1]}, "size_bytes": results.file_bytes(r),
             "n_test": (r.get("extra") or {}).get("n_test")} for d in docs for r in d["records"]]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["family"] = df["technique"].map(technique_family)
    df["runtime_family"] = df["runtime"].map(lambda r: runtime_family(r)[0])
    return df


def pareto_figure(df, path: Path) -> Path:
    """Accuracy vs size (left) and vs p50 latency (right), Pareto fronts dashed; saved as PNG.

    Records whose accuracy comes from a subset of the test set (``extra.n_test`` < 1,000) stay out
    of the figure (their accuracy is not comparable); far-off records are counted under the axis.
    """
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.use_style()
    fams = [f for _, f in FAMILIES]
    fams = list(dict.fromkeys(fams))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, x, xlabel in ((axes[0], "size_bytes", "size of the file the runtime loads (bytes)"),
                          (axes[1], "latency_ms_p50", "p50 latency on the host, batch 1 (ms)")):
        sub = df[df["n_test"].isna() | (df["n_test"].fillna(0) >= 1000)]
        sub = sub.dropna(subset=["accuracy", x]).drop_duplicates(subset=["accuracy", x, "runtime_family"])
        for _, r in sub.iterrows():
            color = plots.PALETTE[fams.index(r["family"]) % len(plots.PALETTE)]
            ax.scatter(r[x], 100 * r["accuracy"], color=color, marker=runtime_family(r["runtime"])[1], s=36, zorder=3)
        if len(sub) > 1:
            front = sub.iloc[plots.pareto_front(sub[x].to_numpy(float), sub["accuracy"].to_numpy(float))]
            front = front.sort_values(x)
            ax.step(front[x], 100 * front["accuracy"], where="post", color="gray", ls="--", lw=1, zorder=2)
        ax.set_xscale("log")
        ax.set(xlabel=xlabel, ylabel="test accuracy (%)")
        ylo = float(np.floor(np.quantile(100 * sub["accuracy"].to_numpy(float), 0.1))) - 1 if len(sub) else 50.0
        ax.set_ylim(ylo, 100)
        below = int((100 * sub["accuracy"] < ylo).sum())
        if below:
            ax.text(0.99, 0.02, f"{below} record(s) below {ylo:.0f} % not shown", transform=ax.transAxes,
                    ha="right", fontsize=8, style="italic")
    axes[0].set_title("Accuracy vs size")
    axes[1].set_title("Accuracy vs latency")
    handles = [plt.Line2D([], [], color=plots.PALETTE[i % len(plots.PALETTE)], marker="o", ls="", label=f)
               for i, f in enumerate(fams) if f in set(df["family"])]
    handles += [plt.Line2D([], [], color="black", marker=m, ls="", label=n)
                for _, n, m in RUNTIMES if n in set(df["runtime_family"])]
    handles.append(plt.Line2D([], [], color="gray", ls="--", label="Pareto front"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _cell(v) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "<td></td>"
    if isinstance(v, bool):
        return f"<td>{'yes' if v else ''}</td>"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 100:
        v = int(v)
    if isinstance(v, int):
        return f'<td data-v="{v}" style="text-align:right">{v:,}</td>'
    if isinstance(v, float):
        return f'<td data-v="{v!r}" style="text-align:right">{v:.4g}</td>'
    return f"<td>{html.escape(str(v))}</td>"


_SORT_JS = """<script>
document.querySelectorAll("table.tinyml-sortable").forEach(function (t) {
  t.querySelectorAll("th").forEach(function (th, i) {
    th.style.cursor = "pointer"; th.title = "sort";
    th.addEventListener("click", function () {
      var rows = Array.from(t.tBodies[0].rows), asc = th.dataset.asc !== "1";
      var key = function (r) { var c = r.cells[i], v = c.dataset.v;
        return v === undefined ? c.textContent : parseFloat(v); };
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x === "number" && typeof y === "number") return asc ? x - y : y - x;
        return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x)); });
      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
      th.dataset.asc = asc ? "1" : "0";
    });
  });
});
</script>"""


def table_html(df) -> str:
    """The records as an HTML table that sorts by a click on any header."""
    cols = [c for c in COLUMNS if c in df.columns and df[c].notna().any()]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "\n".join("<tr>" + "".join(_cell(r[c]) for c in cols) + "</tr>" for _, r in df.iterrows())
    return (f'<table class="tinyml-sortable table">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n'
            f"</table>\n{_SORT_JS}")


def write_page(staged: Path, quick: bool = False, results_dir: Path | None = None) -> Path:
    """Write ``dashboard.md`` (+ its PNG) into the staged book folder; returns the page's path.

    :func:`tinyml_utils.tools.book.stage_book` calls it; ``book/_toc.yml`` lists the page (``- file: dashboard``).
    """
    staged = Path(staged)
    src = Path(results_dir) if results_dir is not None else paths.results_dir(quick)
    docs = results.load_all(quick, src)
    mode = "quick" if quick else "full"
    page = staged / "dashboard.md"
    if not docs:
        page.write_text(f"# Results dashboard\n\nNo results files in `{src.name}/` yet ({mode} mode): "
                        "run the chapters.\n")
        return page
    df = records_table(docs)
    pareto_figure(df, staged / "dashboard_pareto.png")
    n_claims = sum(len(d.get("claims", [])) for d in docs)
    passed = sum(bool(c.get("passed")) for d in docs for c in d.get("claims", []))
    text = [
        "# Results dashboard", "",
        f"Every record the chapters wrote in this book's {mode}-mode run ({len(df)} records from "
        f"{len(docs)} chapters; {passed} of {n_claims} claims passed). Click a column header to sort.", "",
        "**Size** is always the size on disk of the file the runtime loads (checkpoint, `.pte`, `.tflite`, "
        "`.onnx`). **Latency** is the median of batch-1 calls on the host, measured by each chapter in its own "
        "run on a shared machine: compare latencies within a chapter, not across chapters. Rows marked "
        "*estimated* come from a compiler's model of the hardware (Vela), not a measurement.", "",
        "```{figure} dashboard_pareto.png",
        ":alt: accuracy against file size and against latency for every record, Pareto fronts dashed",
        ":width: 100%", "",
        "Accuracy against size and against latency. Colour: technique family; marker: runtime. The dashed "
        "steps are the Pareto fronts: no record is both smaller (or faster) and more accurate than a point on them. "
        "Records tested on a subset of the test set (column n_test) are in the table only.",
        "```", "",
        "```{raw} html", table_html(df), "```", "",
    ]
    page.write_text("\n".join(text))
    return page


__all__ = ["records_table", "pareto_figure", "table_html", "write_page", "technique_family", "runtime_family"]
