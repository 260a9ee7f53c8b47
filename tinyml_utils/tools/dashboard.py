"""The book's results dashboard: every chapter's records in one sortable table, and one accuracy–size
and accuracy–latency panel pair per task.

Generated at book build time from the results files (``results/`` for the full book,
``build/results-quick/`` for the quick one) by :func:`write_page`, which writes ``dashboard.md``
and ``dashboard_tasks.png`` into the staged book folder. The table sorts by any column with a few
lines of inline JavaScript (no CDN, works offline).

Tasks are never mixed on one axis: MNIST digits, keywords, motion, anomaly detection (ROC AUC) and the
language model (perplexity, lower is better) each get their own panels (:func:`task_of`). Records
of personalization and federated runs are drawn as what they are (their own families, off the
Pareto front: their accuracy is on a new user's data). Every runtime a record names has a marker
(:data:`RUNTIMES`); an unknown runtime is an error, not a silent default.

One size definition throughout: ``size_bytes`` is the raw size on disk of the file the runtime
loads (a PyTorch checkpoint, an ExecuTorch ``.pte``, a ``.tflite``, an ``.onnx``, firmware flash):
:func:`tinyml_utils.report.results.file_bytes`, which swaps chapter 03's zipped sizes for the raw ones.
Latencies come from different chapters' runs on a shared machine: compare them within
a chapter (the table's ``chapter`` column), not across chapters.
"""
from __future__ import annotations

import html
from pathlib import Path

from ..core.context import Context
from ..report import plots, results

COLUMNS = ["chapter", "task", "name", "technique", "runtime", "accuracy", "size_bytes", "params", "macs",
           "latency_ms_p50", "arena_bytes", "npu_cycles", "estimated", "n_test"]
#: Coarse technique families for the figure's colours (first keyword that matches wins).
FAMILIES = [("on-device", "on-device training"), ("continual", "on-device training"),
            ("federated", "federated"), ("distill", "distillation"), ("prun", "pruning"), ("qat", "QAT"),
            ("ptq", "PTQ int8"), ("int8", "PTQ int8"), ("int4", "PTQ int8"), ("8da", "PTQ int8"),
            ("", "fp32")]
#: Families measured on another test set (a new user's data): drawn, never on a Pareto front.
OFF_FRONT = {"on-device training", "federated"}
#: Runtime families for the figure's markers: (substring of the runtime, family, marker). Order matters.
RUNTIMES = [("estimate", "estimate", "*"), ("cortex-m", "Cortex-M (emulated)", "H"),
            ("executorch", "ExecuTorch", "o"), ("tflite micro", "TFLite Micro", "s"),
            ("tflite-micro", "TFLite Micro", "s"), ("ethos", "Ethos-U (est.)", "P"), ("vela", "Ethos-U (est.)", "P"),
            ("litert", "LiteRT", "^"), ("onnx", "ONNX Runtime", "D"), ("mediapipe", "MediaPipe", "v"),
            ("keras", "Keras", "<"), ("flower", "Flower", "p"), ("pytorch", "PyTorch", "x"), ("torch", "PyTorch", "x"),
            ("numpy", "NumPy", ".")]
#: Tasks in page order: (task, metric column, metric label, higher is better).
TASKS = [("vision", "accuracy", "test accuracy (%)", True), ("keywords", "accuracy", "clip accuracy (%)", True),
         ("motion", "accuracy", "test accuracy (%)", True), ("anomaly", "auc", "ROC AUC (%)", True),
         ("language model", "perplexity", "validation perplexity (lower is better)", False)]


def technique_family(technique: str) -> str:
    t = (technique or "").lower()
    return next(f for key, f in FAMILIES if key in t)


def runtime_family(runtime: str) -> tuple[str, str]:
    """``(family, marker)`` of a runtime string; ``ValueError`` for a runtime no marker knows."""
    r = (runtime or "").lower()
    for key, family, marker in RUNTIMES:
        if key in r:
            return family, marker
    raise ValueError(f"runtime {runtime!r} has no marker: add it to tinyml_utils.tools.dashboard.RUNTIMES")


def task_of(chapter: str, record: dict) -> str | None:
    """The task a record measures (``extra.task`` when the chapter names it), or ``None`` for records with
    no quality metric of a task (datasets, budgets, energy models, a stream's hit rate: table only)."""
    extra = record.get("extra") or {}
    if extra.get("task"):
        return str(extra["task"])
    name, technique, n = str(record.get("name", "")), str(record.get("technique", "")), chapter[:2]
    if n in ("00", "01") or "estimate" in str(record.get("runtime", "")) or technique in ("streaming", "budget"):
        return None
    if n <= "07":
        return "vision"
    if n == "08":
        return "keywords"
    if n == "09":
        return "anomaly" if name.startswith("anomaly") else ("motion" if name.startswith("motion") else None)
    if n == "10":
        return "motion"
    if n == "11":
        return "language model"
    return None


def records_table(docs: list[dict]):
    """One row per record of every results document, in :data:`COLUMNS` order (pandas DataFrame)."""
    import pandas as pd

    rows = [{"chapter": d["chapter"], "task": task_of(d["chapter"], r), **{k: r.get(k) for k in COLUMNS[2:-1]},
             "size_bytes": results.file_bytes(r), "n_test": (r.get("extra") or {}).get("n_test"),
             "auc": (r.get("extra") or {}).get("auc"), "perplexity": (r.get("extra") or {}).get("perplexity")}
            for d in docs for r in d["records"]]
    df = pd.DataFrame(rows, columns=COLUMNS + ["auc", "perplexity"])
    df["family"] = df["technique"].map(technique_family)
    df["runtime_family"] = df["runtime"].map(lambda r: runtime_family(r)[0])
    return df


def _panel(ax, sub, x: str, metric: str, higher: bool, fams: list[str]) -> None:
    """One task's points on one axis, its Pareto front (families in :data:`OFF_FRONT` excluded) dashed."""
    import numpy as np

    scale = 100.0 if metric in ("accuracy", "auc") else 1.0
    for _, r in sub.iterrows():
        color = plots.PALETTE[fams.index(r["family"]) % len(plots.PALETTE)]
        ax.scatter(r[x], scale * r[metric], color=color, marker=runtime_family(r["runtime"])[1], s=36, zorder=3)
    on = sub[~sub["family"].isin(OFF_FRONT)]
    if len(on) > 1:
        value = on[metric].to_numpy(float) * (1 if higher else -1)
        front = on.iloc[plots.pareto_front(on[x].to_numpy(float), value)].sort_values(x)
        ax.step(front[x], scale * front[metric], where="post", color="gray", ls="--", lw=1, zorder=2)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())   # narrow log ranges: no overlapping minor labels
    if higher and len(sub):
        ylo = float(np.floor(np.quantile(scale * sub[metric].to_numpy(float), 0.1))) - 1
        ax.set_ylim(ylo, 100.5 if scale == 100 else None)
        below = int((scale * sub[metric] < ylo).sum())
        if below:
            ax.text(0.99, 0.02, f"{below} below {ylo:.0f} not shown", transform=ax.transAxes, ha="right",
                    fontsize=7, style="italic")


def task_figure(df, path: Path) -> tuple[Path, list[str]]:
    """Per task: its metric vs file size (left) and vs p50 latency (right); saved as PNG.

    Records whose accuracy comes from a subset of the test set (``extra.n_test`` < 1,000) stay out
    of the figure (not comparable). Returns the path and the tasks drawn, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.use_style()
    fams = list(dict.fromkeys(f for _, f in FAMILIES))
    keep = df[df["n_test"].isna() | (df["n_test"].fillna(0) >= 1000)]
    drawn = [t for t in TASKS if len(keep[(keep["task"] == t[0])].dropna(subset=[t[1]]))]
    fig, axes = plt.subplots(len(drawn), 2, figsize=(10, 3.1 * len(drawn)), squeeze=False)
    for row, (task, metric, label, higher) in zip(axes, drawn):
        sub_all = keep[keep["task"] == task].dropna(subset=[metric])
        for ax, x, xlabel in ((row[0], "size_bytes", "file the runtime loads (bytes)"),
                              (row[1], "latency_ms_p50", "p50 latency on the host, batch 1 (ms)")):
            sub = sub_all.dropna(subset=[x]).drop_duplicates(subset=[metric, x, "runtime_family"])
            _panel(ax, sub, x, metric, higher, fams)
            ax.set(xlabel=xlabel, ylabel=label)
            ax.set_title(f"{task}: {'size' if x == 'size_bytes' else 'latency'}", fontsize=10)
            if not len(sub):
                ax.text(0.5, 0.5, f"no record of this task has {x}", transform=ax.transAxes, ha="center", fontsize=8)
    present = set(keep[keep["task"].isin([t[0] for t in drawn])]["family"])
    handles = [plt.Line2D([], [], color=plots.PALETTE[i % len(plots.PALETTE)], marker="o", ls="", label=f)
               for i, f in enumerate(fams) if f in present]
    markers = dict.fromkeys((n, m) for _, n, m in RUNTIMES)
    runtimes_present = set(keep[keep["task"].isin([t[0] for t in drawn])]["runtime_family"])
    handles += [plt.Line2D([], [], color="black", marker=m, ls="", label=n)
                for n, m in markers if n in runtimes_present]
    handles.append(plt.Line2D([], [], color="gray", ls="--", label="Pareto front"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path, [t[0] for t in drawn]


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
    docs = results.load_all(Context(quick=quick), Path(results_dir) if results_dir is not None else None)
    mode = "quick" if quick else "full"
    page = staged / "dashboard.md"
    if not docs:
        page.write_text(f"# Results dashboard\n\nNo results files yet ({mode} mode): run the chapters.\n")
        return page
    df = records_table(docs)
    _, drawn = task_figure(df, staged / "dashboard_tasks.png")
    n_claims = sum(len(d.get("claims", [])) for d in docs)
    passed = sum(bool(c.get("passed")) for d in docs for c in d.get("claims", []))
    text = [
        "# Results dashboard", "",
        f"Every record the chapters wrote in this book's {mode}-mode run ({len(df)} records from "
        f"{len(docs)} chapters; {passed} of {n_claims} claims passed). Click a column header to sort.", "",
        "**Size** is always the size on disk of the file the runtime loads (checkpoint, `.pte`, `.tflite`, "
        "`.onnx`). **Latency** is the median of batch-1 calls on the host, measured by each chapter in its own "
        "run on a shared machine: compare latencies within a chapter, not across chapters. Rows marked "
        "*estimated* come from a model of the hardware (Vela, a cycles-per-MAC guess), not a measurement.", "",
        "```{figure} dashboard_tasks.png",
        ":alt: per task, quality against file size and against latency, Pareto fronts dashed",
        ":width: 100%", "",
        f"One row of panels per task ({', '.join(drawn)}): each task's own metric against size and against "
        "latency; tasks are never compared on one axis. Colour: technique family; marker: runtime. The dashed "
        "steps are the Pareto fronts: no record is both smaller (or faster) and better than a point on them. "
        "On-device training and federated runs are measured on a new user's data: drawn, never on a front. "
        "Records tested on a subset of the test set (column n_test) and records without a task metric "
        "(datasets, budgets, energy estimates, a stream's hit rate) are in the table only.",
        "```", "",
        "```{raw} html", table_html(df), "```", "",
    ]
    page.write_text("\n".join(text))
    return page


__all__ = ["records_table", "task_figure", "table_html", "write_page", "technique_family", "runtime_family", "task_of"]
