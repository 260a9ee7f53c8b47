"""The pages ``data/*.md``, generated from the loaders' DataCard objects (a test compares them).

Regenerate after editing a card: ``python -m tinyml_utils.tools.cards``.
"""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ..core import paths

#: page in data/ → the cards it holds, as ``module:attribute`` (the first card is the page's title).
PAGES: dict[str, tuple[str, ...]] = {
    "vision.md": ("tinyml_utils.data.vision:CARD",),
    "motion.md": ("tinyml_utils.data.motion:CARD",),
    "keywords.md": ("tinyml_utils.data.keywords:CARD", "tinyml_utils.data.kws_eval:CARD"),
    "speech_commands.md": ("tinyml_utils.data.public:SPEECH_COMMANDS_CARD",),
}

HEADER = ("<!-- Generated from the DataCard objects by `python -m tinyml_utils.tools.cards`: "
          "edit those, not this file. -->\n")


def _card(ref: str):
    module, attr = ref.split(":")
    return getattr(import_module(module), attr)


def render(page: str) -> str:
    """The Markdown of one ``data/`` page: its first card as the title, the others as sections."""
    cards = [_card(ref) for ref in PAGES[page]]
    return HEADER + "\n".join(c.page(level=1 if i == 0 else 2) for i, c in enumerate(cards))


def write_pages(folder: Path | None = None) -> list[Path]:
    """Write every page of :data:`PAGES` into ``folder`` (default ``data/``); returns the paths."""
    folder = Path(folder or paths.DATA)
    out = []
    for page in PAGES:
        (folder / page).write_text(render(page), encoding="utf-8")
        out.append(folder / page)
    return out


if __name__ == "__main__":
    for p in write_pages():
        print("wrote", p.relative_to(paths.REPO))
