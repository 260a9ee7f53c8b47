"""A sweep's table and figure: per configuration, the mean, standard deviation and 95 % interval over seeds.

The interval is Student's t: ``mean ± t(0.975, n-1) · std / sqrt(n)`` with the sample standard
deviation (``ddof=1``); with one seed there is no spread, and std and interval are left empty (NaN).
"""
from __future__ import annotations

import math
from pathlib import Path


def long_frame(points: list[tuple[dict, dict]]):
    """One row per (point, record): the point's parameters, ``seed``, ``record`` and the numbers."""
    import pandas as pd

    rows = []
    for point, result in points:
        for rec in result["records"]:
            row = dict(point["params"], seed=point["seed"], record=rec.get("name", ""))
            row.update({k: v for k, v in rec.items() if k != "name" and k not in point["params"]})
            rows.append(row)
    return pd.DataFrame(rows)


def numeric_metrics(frame, params: list[str]) -> list[str]:
    """The numeric columns of ``frame`` that are results (not parameters, seed or booleans)."""
    skip = set(params) | {"seed", "record"}
    return [c for c in frame.columns if c not in skip and frame[c].dtype.kind in "if"]


def ci95_halfwidth(std: float, n: int) -> float:
    """Half-width of the two-sided 95 % Student-t interval of a mean of ``n`` values."""
    from scipy import stats

    if n < 2 or not math.isfinite(std):
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))


def aggregate(frame, params: list[str], metrics: list[str]):
    """Per configuration (``params``) and record: ``n_seeds`` (the seeds that finished), then for
    each metric its ``_mean``, ``_std`` (ddof=1), ``_ci95_lo`` and ``_ci95_hi``. Rows in grid order."""
    import pandas as pd

    keys = params + ["record"]
    rows = []
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key), n_seeds=int(group["seed"].nunique()) if "seed" in group else len(group))
        for m in metrics:
            vals = group[m].dropna().astype(float)
            n = len(vals)
            mean = float(vals.mean()) if n else float("nan")
            std = float(vals.std(ddof=1)) if n > 1 else float("nan")
            half = ci95_halfwidth(std, n)
            row.update({f"{m}_mean": mean, f"{m}_std": std, f"{m}_ci95_lo": mean - half, f"{m}_ci95_hi": mean + half})
        rows.append(row)
    return pd.DataFrame(rows)


def display(table, params: list[str], metrics: list[str], digits: int = 4):
    """A narrow view for print and the book: ``metric: mean ± half-width (std)`` per metric."""
    import pandas as pd

    out = table[params + ["record", "n_seeds"]].copy()
    for m in metrics:
        half = (table[f"{m}_ci95_hi"] - table[f"{m}_mean"])
        out[m] = [f"{mu:.{digits}g} ± {h:.2g} (sd {sd:.2g})" if pd.notna(h) else f"{mu:.{digits}g}"
                  for mu, h, sd in zip(table[f"{m}_mean"], half, table[f"{m}_std"])]
    if out["record"].nunique() == 1:
        out = out.drop(columns="record")
    return out


def figure(table, params: list[str], metric: str, path: Path, title: str = ""):
    """Mean ± 95 % interval of ``metric`` against the first numeric parameter (or the first one),
    one line per setting of the others (and per record when there are several). Saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..report.plots import caption, use_style

    use_style()
    varied = [p for p in params if table[p].dtype.kind in "if" and table[p].nunique() > 1]
    x = varied[0] if varied else (params[0] if params else None)
    fixed = [p for p in params if p != x and table[p].nunique() == 1]
    others = [p for p in params if p != x and p not in fixed] + (["record"] if table["record"].nunique() > 1 else [])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    groups = table.groupby(others, sort=False) if others else [((), table)]
    numeric_x = x is not None and table[x].dtype.kind in "if"
    labels = list(dict.fromkeys(table[x])) if x is not None else ["all"]
    n_series = len(groups) if others else 1
    span = (float(table[x].max() - table[x].min()) or 1.0) if numeric_x else 1.0
    for i, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        xs = g[x].to_numpy(float) if numeric_x else np.array([labels.index(v) for v in g[x]]) if x else np.zeros(len(g))
        xs = xs + (i - (n_series - 1) / 2) * 0.015 * span      # side by side, so the intervals do not hide each other
        mean = g[f"{metric}_mean"].to_numpy(float)
        half = (g[f"{metric}_ci95_hi"] - g[f"{metric}_mean"]).to_numpy(float)
        name = ", ".join(f"{k}={v}" for k, v in zip(others, key)) or metric
        ax.errorbar(xs, mean, yerr=np.nan_to_num(half), marker="o", capsize=3, label=name)
    if x is not None and not numeric_x:
        ax.set_xticks(range(len(labels)), [str(v) for v in labels])
    ax.set_xlabel(x or "")
    ax.set_ylabel(f"{metric} (mean, 95 % interval over seeds)")
    ax.set_title(title or f"{metric} over the sweep")
    if fixed:
        ax.text(0.0, 1.0, ", ".join(f"{p}={table[p].iloc[0]}" for p in fixed), transform=ax.transAxes,
                fontsize=8, va="bottom")
    if others:
        ax.legend(fontsize=8)
    n = int(table["n_seeds"].min()) if len(table) else 0
    caption(fig, f"Bars: 95 % Student-t interval of the mean over seeds (n = {n} per point where complete).")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
