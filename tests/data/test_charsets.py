import pytest

from glyphgen.data.charsets import NAMED, get_charset
from glyphgen.errors import GlyphgenError


@pytest.mark.parametrize(
    "name, size", [("seed", 20992), ("gb2312-1", 3755), ("joyo", 2136), ("latin", 62), ("alnum36", 36), ("digits", 10)]
)
def test_named_sets_have_documented_sizes(name, size):
    chars = get_charset(name)
    assert len(chars) == size
    assert len(set(chars)) == size


def test_sets_hold_the_expected_characters():
    assert "永" in get_charset("joyo") and "啊" in get_charset("gb2312-1")
    assert get_charset("gb2312-1")[0] == "啊"  # GB2312 level 1 starts at 0xB0A1
    assert all("\u4e00" <= c <= "\u9fff" for c in get_charset("seed"))
    kanjivg = get_charset("kanjivg")
    assert len(kanjivg) == 6703 and "永" in kanjivg


def test_literal_file_and_ascii_sets(tmp_path):
    assert get_charset("永字八法永") == ["永", "字", "八", "法"]  # duplicates dropped, order kept
    assert get_charset("=Hello 123") == list("Helo123")
    f = tmp_path / "chars.txt"
    f.write_text("# my set\n永 字\n八法\n", encoding="utf-8")
    assert get_charset(f"@{f}") == ["永", "字", "八", "法"]


@pytest.mark.parametrize("spec", ["gb2312", "jouyou", "kanji-vg", ""])
def test_unknown_names_are_one_line_errors(spec):
    with pytest.raises(GlyphgenError) as e:
        get_charset(spec)
    assert "\n" not in str(e.value)
    if spec:
        assert spec in str(e.value) and "joyo" in str(e.value)


def test_missing_charset_file():
    with pytest.raises(GlyphgenError, match="not found"):
        get_charset("@/nonexistent/chars.txt")


def test_every_named_set_is_listed():
    assert {"seed", "gb2312-1", "joyo", "kanjivg", "latin"} <= set(NAMED)


def test_kanji_is_kanjivg_without_kana_letters_or_symbols():
    kanji, everything = get_charset("kanji"), set(get_charset("kanjivg"))
    assert 6000 < len(kanji) < len(everything) and set(kanji) <= everything
    assert "永" in kanji and "あ" not in kanji and "A" not in kanji and "7" not in kanji and "、" not in kanji
