"""glyphgen: generate images of characters (Chinese characters, kanji, handwritten letters and digits)."""

__version__ = "0.1.0"
