"""Character sets: named lists of characters, and the character <-> label mapping built from them.

Names (`glyphgen data charsets` lists them with their sizes):
    seed      U+4E00..U+9FFF with Unicode category Lo (the original dream model's set; 20,992 on Python 3.11)
    gb2312-1  GB2312 level 1, the 3,755 common simplified hanzi (decoded from the GB2312 codec's rows 16-55)
    joyo      the 2,136 jōyō kanji (2010 list, shipped as package data)
    kanjivg   every character KanjiVG has a base stroke file for (kanji, kana, Latin letters, digits, punctuation)
    kanji     KanjiVG's CJK characters only (ideographs and radicals): no kana, Latin letters or symbols
    latin     A-Z a-z 0-9 (62)        upper  A-Z        lower  a-z        digits  0-9
    alnum36   0-9 A-Z (36, the handwriting model's classes: MNIST digits + A-Z letters)
Anything else is taken literally ("永字八法"), or read from a UTF-8 file with "@path/to/chars.txt" (whitespace and
lines starting with # ignored). A plain ASCII word such as "gb2312" is read as a set name, so a typo is an error
rather than a set of letters; give ASCII characters literally with a leading "=" ("=Hello123"). Duplicates are
dropped, first occurrence kept, so labels are stable.
"""

from __future__ import annotations

import string
import unicodedata
from functools import cache
from importlib import resources
from pathlib import Path

from glyphgen.errors import GlyphgenError

_LISTS = resources.files("glyphgen.data") / "lists"


def _seed() -> list[str]:
    return [chr(c) for c in range(0x4E00, 0xA000) if unicodedata.category(chr(c)) == "Lo"]


def _gb2312_level1() -> list[str]:
    # Level 1 occupies rows 16-55 (lead bytes 0xB0-0xD7); the codec knows which cells are empty (row 55 is short).
    chars = []
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.append(bytes([lead, trail]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def _read_list(name: str) -> list[str]:
    text = (_LISTS / name).read_text(encoding="utf-8")
    return _parse_text(text)


def _parse_text(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [c for c in "".join(lines) if not c.isspace()]


def _kanjivg() -> list[str]:
    from glyphgen.data.strokes import kanjivg_chars

    return kanjivg_chars()


def _kanji() -> list[str]:
    return [c for c in _kanjivg() if unicodedata.name(c, "").startswith("CJK ")]  # unified + compatibility ideographs


NAMED = {
    "seed": (_seed, "U+4E00-U+9FFF, category Lo (the original dream model's set)"),
    "gb2312-1": (_gb2312_level1, "GB2312 level 1: common simplified hanzi"),
    "joyo": (lambda: _read_list("joyo.txt"), "jōyō kanji (2010)"),
    "kanjivg": (_kanjivg, "characters with KanjiVG stroke data"),
    "kanji": (_kanji, "the CJK ideographs of kanjivg (no kana, letters or symbols)"),
    "latin": (lambda: list(string.ascii_uppercase + string.ascii_lowercase + string.digits), "A-Z a-z 0-9"),
    "upper": (lambda: list(string.ascii_uppercase), "A-Z"),
    "lower": (lambda: list(string.ascii_lowercase), "a-z"),
    "digits": (lambda: list(string.digits), "0-9"),
    "alnum36": (lambda: list(string.digits + string.ascii_uppercase), "0-9 A-Z (MNIST digits + A-Z letters)"),
}


@cache
def _named(name: str) -> tuple[str, ...]:
    return tuple(NAMED[name][0]())


def get_charset(spec: str) -> list[str]:
    """The characters of `spec`: a set name, "@file", or a literal string (see module docstring)."""
    if not spec:
        raise GlyphgenError("empty character set; give a set name (see `glyphgen data charsets`), characters, or @file")
    if spec in NAMED:
        return list(_named(spec))
    if spec.startswith("@"):
        path = Path(spec[1:])
        if not path.is_file():
            raise GlyphgenError(f"character file not found: {path}; write the characters (UTF-8) into it")
        chars = _parse_text(path.read_text(encoding="utf-8"))
    elif spec.startswith("="):
        chars = [c for c in spec[1:] if not c.isspace()]
    elif _looks_like_name(spec):
        raise GlyphgenError(
            f"unknown character set {spec!r}; choose one of {', '.join(NAMED)}, "
            f"or give the characters themselves (prefix ASCII text with '=': '={spec}') or @file"
        )
    else:
        chars = [c for c in spec if not c.isspace()]
    chars = list(dict.fromkeys(chars))
    if not chars:
        raise GlyphgenError(f"character set {spec!r} holds no characters")
    return chars


def _looks_like_name(spec: str) -> bool:
    return len(spec) > 1 and spec.isascii() and all(c.isalnum() or c in "-_" for c in spec)


def describe(c: str) -> str:
    """'永' -> "'永' (U+6C38)" for messages."""
    return f"'{c}' (U+{ord(c):04X})"
