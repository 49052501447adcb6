"""Text laid out as a page of glyph cells: lines of characters a model knows, spaces as paper, unknown characters as
empty boxes. The web app's Write and Your-style tabs and `glyphgen write` use it, so text is written the same way."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from glyphgen.data.charsets import describe
from glyphgen.errors import GlyphgenError

COLUMNS = 16  # written text wraps after this many characters


@dataclass
class Page:
    """Typed text laid out in cells: rows of (character, label) for known characters, spaces as paper, unknown
    characters as empty boxes (and a note naming them)."""

    rows: list[list[tuple[str, int | None]]]
    glyphs: list[tuple[str, int]]  # the characters to render, in reading order, with their labels
    notes: list[str]
    columns: int

    @classmethod
    def layout(
        cls,
        text,
        classes: list[str],
        max_text: int = 2000,
        max_glyphs: int = 1024,
        columns: int = COLUMNS,
        what: str = "glyphgen",
    ) -> Page:
        """Lay `text` out in lines of at most `columns` cells (its own line breaks kept) for a model that knows
        `classes`; over `max_text` characters or `max_glyphs` glyphs is an error saying that `what` writes at most
        that many."""
        text = "" if text is None else str(text)
        if len(text) > max_text:
            raise GlyphgenError(f"the text has {len(text)} characters; {what} writes at most {max_text}")
        index = {c: i for i, c in enumerate(classes)}
        rows, glyphs, unknown, folded = [], [], [], []
        for line in text.replace("\r", "").split("\n"):
            line = line.rstrip()
            for start in range(0, max(len(line), 1), columns):
                row = []
                for c in line[start : start + columns]:
                    if c.isspace():
                        row.append((c, None))
                        continue
                    label = index.get(c)
                    if label is None and (c.swapcase() in index):  # a letters model of one case
                        label = index[c.swapcase()]
                        folded.append(c)
                    if label is None:
                        unknown.append(c)
                        row.append((c, -1))
                    else:
                        glyphs.append((c, label))
                        row.append((c, label))
                rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        while rows and not rows[0]:
            rows.pop(0)
        if not glyphs:
            if unknown:
                raise GlyphgenError(f"the model knows none of {listing(unknown)}; it knows {known(classes)}")
            raise GlyphgenError("type some characters to write")
        if len(glyphs) > max_glyphs:
            raise GlyphgenError(f"{len(glyphs)} characters to write; {what} writes at most {max_glyphs}")
        notes = []
        if unknown:
            notes.append(f"not in this model (left as empty boxes): {listing(unknown)}; it knows {known(classes)}.")
        if folded:
            notes.append(f"written in the other case: {''.join(dict.fromkeys(folded))}.")
        columns = max(len(r) for r in rows)
        return cls(rows, glyphs, notes, columns)

    def labels(self) -> torch.Tensor:
        return torch.tensor([label for _, label in self.glyphs])

    def cells(self, images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """(rows * columns, C, H, W) in [0, 1]: the rendered glyphs in place, paper for spaces, boxes for unknowns."""
        paper = torch.zeros(shape)
        box = paper.clone()
        edge = max(1, shape[1] // 10)
        box[:, edge, edge:-edge] = box[:, -edge - 1, edge:-edge] = 0.35
        box[:, edge:-edge, edge] = box[:, edge:-edge, -edge - 1] = 0.35
        out, k = [], 0
        for row in self.rows:
            for _, label in row:
                if label is None:
                    out.append(paper)
                elif label < 0:
                    out.append(box)
                else:
                    out.append(images[k].cpu())
                    k += 1
            out += [paper] * (self.columns - len(row))
        return torch.stack(out)


def listing(chars: list[str]) -> str:
    """'永' (U+6C38), 'A' (U+0041) and 3 more: characters named for a message."""
    chars = list(dict.fromkeys(chars))
    return ", ".join(describe(c) for c in chars[:8]) + (f" and {len(chars) - 8} more" if len(chars) > 8 else "")


def known(classes: list[str]) -> str:
    """A model's characters, shortened for a message."""
    if len(classes) <= 40:
        return f"{len(classes)} characters: {''.join(classes)}"
    return f"{len(classes):,d} characters ({''.join(classes[:20])} …)"
