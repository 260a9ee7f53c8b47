"""One figure style for the whole book, and the plots more than one chapter draws."""
from __future__ import annotations

from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

PALETTE = ["#1b6ca8", "#e07b39", "#3a9d5d", "#c4473a", "#7d5ba6", "#8c6d46", "#d16ba5", "#6b6b6b"]


def use_style() -> None:
    """Apply the course style (call once in each chapter's setup cell)."""
    plt.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.dpi": 120,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "axes.titlesize": 12,
        "axes.titleweight": "bold", "font.size": 10, "legend.frameon": False,
        "figure.constrained_layout.use": True,
    })


def caption(fig, text: str) -> None:
    """A one-line caption under the figure: what to notice."""
    fig.text(0.01, -0.02, text, ha="left", va="top", fontsize=9, style="italic", wrap=True)


def history(hist, title: str = "Training"):
    """Loss and accuracy per epoch of a :class:`tinyml_utils.train.History`."""
    df = hist.frame()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(df.index, df["train_loss"], label="train")
    if "val_loss" in df:
        axes[0].plot(df.index, df["val_loss"], label="validation")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{title}: loss")
    axes[1].plot(df.index, 100 * df["train_accuracy"], label="train")
    if "val_accuracy" in df:
        axes[1].plot(df.index, 100 * df["val_accuracy"], label="validation")
    axes[1].set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
    axes[1].legend()
    return fig


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], title: str = "Confusion matrix",
              ax=None):
    """Row-normalised confusion matrix with counts in the cells."""
    k = len(classes)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    fig, ax = plt.subplots(figsize=(0.45 * k + 2.5, 0.45 * k + 2)) if ax is None else (ax.figure, ax)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.6 else "black")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=45 if max(len(c) for c in classes) > 2 else 0, ha="right")
    ax.set_yticklabels(classes)
    ax.grid(False)
    return fig


def tradeoff(df, x: str = "size_bytes", y: str = "accuracy", title: str = "Accuracy vs size",
             xlabel: str = "size (bytes)"):
    """Model variants (rows with a ``name``) on a log x axis, with the Pareto front; ``y`` in %."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(df[x], 100 * df[y], s=36, color=PALETTE[0], zorder=3)
    for _, r in df.iterrows():
        ax.annotate(str(r["name"]), (r[x], 100 * r[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if len(df) > 1:
        pts = df.iloc[pareto_front(df[x].to_numpy(), df[y].to_numpy())].sort_values(x)
        ax.step(pts[x], 100 * pts[y], where="post", color="gray", lw=1, ls="--", label="Pareto front", zorder=2)
    ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="test accuracy (%)", title=title)
    ax.legend(fontsize=8)
    return fig


def pareto_front(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats (lower-or-equal cost and higher-or-equal value, one strictly)."""
    cost, value = np.asarray(cost, float), np.asarray(value, float)
    c, v = cost[:, None], value[:, None]          # row i: point i; column j: the point that may beat it
    beaten = (cost <= c) & (value >= v) & ((cost < c) | (value > v))
    return np.flatnonzero(~beaten.any(1))


def bars(labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None = None,
         xlabel: str = "", title: str = ""):
    """Horizontal bars (e.g. latency per runtime) with optional error bars."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(labels) + 1.2))
    ax.barh(list(labels), list(values), xerr=None if errors is None else list(errors),
            color=PALETTE[0], capsize=3)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title)
    return fig
