"""The course's roadmap, read from each chapter's first cell (its ``**Prerequisites:**`` line)."""
from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..core import paths

_PRE = re.compile(r"\*\*Prerequisites:\*\*(.*?)(?:\n\s*\n|\n\*\*|$)", re.S)


@dataclass(frozen=True)
class Chapter:
    number: str                      # "08"
    title: str                       # the heading after "NN · "
    prerequisites: tuple[str, ...]   # chapter numbers, in order


def chapters() -> list[Chapter]:
    """Every ``NN_slug.ipynb`` chapter in number order, with its title and prerequisites."""
    out = []
    for nb_path in sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"])
        heading = first.lstrip("# ").splitlines()[0]
        title = heading.split("·", 1)[-1].strip()
        m = _PRE.search(first)
        if m is None:
            raise ValueError(f"{nb_path.name}: its first cell has no '**Prerequisites:**' line")
        number = nb_path.stem[:2]
        pre = tuple(dict.fromkeys(n for n in re.findall(r"\b(\d\d)\b", m.group(1)) if n < number))
        out.append(Chapter(number, title, pre))
    return out


def direct(chs: list[Chapter]) -> dict[str, tuple[str, ...]]:
    """Each chapter's prerequisites minus those another prerequisite builds on (the transitive reduction)."""
    import networkx as nx

    kept = nx.transitive_reduction(nx.DiGraph([(p, c.number) for c in chs for p in c.prerequisites]))
    return {c.number: tuple(p for p in c.prerequisites if kept.has_edge(p, c.number)) for c in chs}


def figure(path: Path | None = None):
    """The roadmap as a figure: chapters 00–07 on top, 08 on below; saved as PNG when ``path`` is given."""
    import matplotlib.pyplot as plt

    from .plots import use_style

    use_style()
    chs = chapters()
    spine = [c for c in chs if c.number <= "07"]
    rest = [c for c in chs if c.number > "07"]
    pos = {c.number: (i, 1.0) for i, c in enumerate(spine)}
    pos.update({c.number: (i * (len(spine) - 1) / max(len(rest) - 1, 1), 0.0) for i, c in enumerate(rest)})
    fig, ax = plt.subplots(figsize=(11, 4.6))
    arrows = direct(chs)
    for c in chs:
        for p in arrows[c.number]:
            (x0, y0), (x1, y1) = pos[p], pos[c.number]
            bend = 0.0 if y0 != y1 else (0.35 if x1 - x0 > 1 else 0.0)
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=1,
                        arrowprops=dict(arrowstyle="-|>", color="#9a9a9a", lw=0.8, shrinkA=17, shrinkB=17,
                                        connectionstyle=f"arc3,rad={bend}"))
    for c in chs:
        x, y = pos[c.number]
        color = "#1b6ca8" if c.number <= "07" else "#e07b39"
        ax.scatter([x], [y], s=900, color=color, zorder=2)
        ax.text(x, y, c.number, ha="center", va="center", color="white", fontweight="bold", zorder=3)
        words = c.title.split(":")[0]
        lines = textwrap.wrap(words, 16, break_long_words=False, break_on_hyphens=False)
        ax.text(x, y + (0.2 if y else -0.2), "\n".join(lines), ha="center",
                va="bottom" if y else "top", fontsize=8)
    ax.set_xlim(-0.6, len(spine) - 0.4)
    ax.set_ylim(-0.75, 1.75)
    ax.axis("off")
    ax.set_title("The course: an arrow from each chapter a chapter builds on directly (its own prerequisites implied)",
                 fontsize=10)
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig
