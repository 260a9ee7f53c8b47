"""One source of truth for data cards: every ``data/*.md`` page is exactly what its DataCard renders."""
from __future__ import annotations

import pytest

from tinyml_utils.core import paths
from tinyml_utils.tools import cards


@pytest.mark.parametrize("page", sorted(cards.PAGES))
def test_page_is_generated_from_the_card(page):
    committed = (paths.DATA / page).read_text(encoding="utf-8")
    assert committed == cards.render(page), (
        f"data/{page} differs from its DataCard: edit the card, then run python -m tinyml_utils.tools.cards")


def test_every_card_page_is_listed_and_linked():
    listed = {p.name for p in paths.DATA.glob("*.md")} - {"README.md"}
    assert listed == set(cards.PAGES), "every data/*.md page is generated from a DataCard"
    readme = (paths.DATA / "README.md").read_text(encoding="utf-8")
    assert all(f"({page})" in readme for page in cards.PAGES)


def test_card_printed_by_a_chapter_and_page_share_their_text(tmp_path):
    from tinyml_utils.data import vision

    short, page = vision.CARD.to_markdown(), vision.CARD.page()
    for field in (vision.CARD.source, vision.CARD.license):
        assert field in short and field.split()[0] in page
    assert "shifts, rotations and scales" in page   # what train.random_affine does (it was "random shifts")
    written = cards.write_pages(tmp_path)
    assert [p.read_text(encoding="utf-8") for p in written] == [cards.render(p.name) for p in written]
