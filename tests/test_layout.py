"""Text laid out in lines of glyph cells (glyphgen.layout): spaces, line breaks, unknown characters, case, caps."""

import pytest
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.layout import COLUMNS, Page

CVAE_CLASSES = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ永字")


def test_page_layout_spaces_lines_unknowns_and_case():
    page = Page.layout("Ab 1\n\n永?", CVAE_CLASSES)
    assert [[c for c, _ in row] for row in page.rows] == [["A", "b", " ", "1"], [], ["永", "?"]]
    assert [c for c, _ in page.glyphs] == ["A", "b", "1", "永"]
    assert page.glyphs[1][1] == CVAE_CLASSES.index("B")  # a one-case letters model writes b as B
    assert page.columns == 4 and any("'?' (U+003F)" in n for n in page.notes) and any("b" in n for n in page.notes)
    cells = page.cells(torch.ones(4, 1, 28, 28), (1, 28, 28))
    assert cells.shape == (12, 1, 28, 28)
    assert cells[2].sum() == 0 and cells[4:8].sum() == 0  # a space, an empty line
    assert 0 < cells[9].sum() < 28 * 28 * 0.5  # the unknown '?': an empty box
    long = Page.layout("1" * (COLUMNS + 3), CVAE_CLASSES)
    assert [len(r) for r in long.rows] == [COLUMNS, 3]


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "type some characters"),
        ("   ", "type some characters"),
        ("??", "knows none of '\\?'"),
        ("1" * 2001, "2000"),
    ],
)
def test_page_layout_errors(text, match):
    with pytest.raises(GlyphgenError, match=match):
        Page.layout(text, CVAE_CLASSES)


def test_page_layout_caps_the_characters_written():
    with pytest.raises(GlyphgenError, match="at most 4"):
        Page.layout("12345", CVAE_CLASSES, max_glyphs=4)
