"""Text normalisation shared by every format, so that the same words index the same way whatever file
they came from: NFKC (which also expands ligatures such as "ﬁ"), no control characters, line-end
hyphenation undone, runs of spaces collapsed while paragraph breaks are kept."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls, except tab and newline (handled below); also the BOM, zero-width and bidi controls.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\u200b-\u200f\u202a-\u202e\u2060-\u2064]")
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]")
# "extrac-\ntion": a hyphen (or PDFium's soft-hyphen marks) at a line end, then a lowercase letter.
_HYPHEN_BREAK = re.compile(r"([^\W\d_])[-\u2010\u00ad\x02][ \t]*\n[ \t]*([^\W\d_])")
# PDFium already joins a hyphenated line end itself and leaves U+FFFE where the hyphen was.
_PDFIUM_HYPHEN = re.compile(r"([^\W\d_])\ufffe[ \t]*\n?[ \t]*([^\W\d_])")
_SOFT_HYPHEN = re.compile("[\u00ad\x02\ufffe]")
_SPACES = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NL = re.compile(r" *\n *")
_MANY_NL = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[^\S\n]+\n")


def _join_hyphenated(match: re.Match[str]) -> str:
    # "Jean-\nPaul" keeps its hyphen (and its line break): only a lowercase continuation is a split word.
    before, after = match.group(1), match.group(2)
    return before + after if after.islower() else match.group(0)


def _join_pdfium_hyphen(match: re.Match[str]) -> str:
    before, after = match.group(1), match.group(2)
    return before + after if after.islower() else f"{before}-{after}"


def normalize_text(text: str, *, dehyphenate: bool = False) -> str:
    """Prose: NFKC, controls dropped, whitespace runs collapsed to one space, at most one blank line
    between paragraphs, stripped. `dehyphenate` joins words split across lines (for PDFs)."""
    text = _NEWLINES.sub("\n", text)
    text = unicodedata.normalize("NFKC", text)
    if dehyphenate:
        text = _HYPHEN_BREAK.sub(_join_hyphenated, text)
        text = _PDFIUM_HYPHEN.sub(_join_pdfium_hyphen, text)
    text = _SOFT_HYPHEN.sub("", text)
    text = _CONTROL.sub("", text.replace("\t", " "))
    text = _SPACES.sub(" ", text)
    text = _SPACE_AROUND_NL.sub("\n", text)
    text = _MANY_NL.sub("\n\n", text)
    return text.strip()


def normalize_code(text: str) -> str:
    """Source code keeps its indentation and lines: NFKC, controls dropped, trailing spaces removed,
    at most two blank lines in a row."""
    text = _NEWLINES.sub("\n", text)
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    text = _TRAILING.sub("\n", text)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.strip("\n").rstrip()
