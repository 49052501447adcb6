"""User-facing errors.

A `GlyphgenError` is a mistake the user can fix (a missing file, an unknown name, a font without the requested
glyphs). Its message is one line that names the problem and the fix; the CLI prints it without a traceback and
exits non-zero. Anything else is a bug and keeps its traceback.
"""


class GlyphgenError(Exception):
    """A one-line, user-fixable error."""
