"""The first paragraph of prose in a model card's README, found in one linear pass.

Card text comes from the network, so no pattern below may backtrack over it: the old regexes for
links, images, tags, comments and front matter rescanned to the end of the card from every "[",
"<" or "<!--" that had no end, which is quadratic (minutes on a 256 KiB card of "[[[["). Those
spans are found with str.find, in one pass; what is left are single-class patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

__all__ = ["MAX_README_BYTES", "first_paragraph"]

#: the most of a README Hearth reads (and looks at)
MAX_README_BYTES: Final = 256 << 10
_DESCRIPTION_CHARS: Final = 400
_EMPHASIS: Final = re.compile(r"\*\*|__|\*|`")
_SPACES: Final = re.compile(r"\s+")
_WORD: Final = re.compile(r"[A-Za-z]{2,}")
# Anchored at the start of a stripped line, and no repeat is followed by one that overlaps it.
_NOT_PROSE: Final = re.compile(r"(#|\||>|```|~~~|[-*_]{3,}\s*$|[-*+]\s|\d+\.\s|https?://\S+\s*$)")


def first_paragraph(markdown: str) -> str | None:
    """The first paragraph of prose in a README: no headings, tables, lists, code, badges or bare links.

    Only the first `MAX_README_BYTES` characters are looked at (what `card_summary` reads), and
    the work is linear in them: the card is untrusted text from the network.
    """
    text = _strip_comments(_strip_front_matter(markdown[:MAX_README_BYTES].replace("\r\n", "\n")))
    in_code = False
    for block in _blocks(text):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if not lines:
            continue
        fences = sum(line.lstrip().startswith(("```", "~~~")) for line in lines)
        if in_code or fences:
            in_code = in_code != (fences % 2 == 1)
            continue
        if _NOT_PROSE.match(lines[0].lstrip()):
            continue
        prose = " ".join(line.strip() for line in lines)
        prose = _strip_tags(_strip_links(_strip_links(prose, "!["), "["))
        prose = _SPACES.sub(" ", _EMPHASIS.sub("", prose)).strip()
        if len(_WORD.findall(prose)) < 3:  # badges, a lone name, stray markup
            continue
        if len(prose) > _DESCRIPTION_CHARS:
            prose = prose[:_DESCRIPTION_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        return prose
    return None


def _strip_front_matter(text: str) -> str:
    """Drop YAML front matter: a first line `---` up to the next line `---`; unclosed, keep it all."""
    first_end = text.find("\n")
    if not text.startswith("---") or first_end < 0 or text[3:first_end].strip():
        return text
    pos = first_end
    while (start := text.find("\n---", pos)) >= 0:
        end = text.find("\n", start + 4)
        if not text[start + 4 : len(text) if end < 0 else end].strip():
            return "" if end < 0 else text[end + 1 :]
        pos = end if end >= 0 else len(text)
    return text


def _strip_comments(text: str) -> str:
    """Drop every closed `<!-- … -->`; an unclosed one (and what follows it) stays as it is."""
    kept: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        kept.append(text[pos:start])
        pos = end + 3
    kept.append(text[pos:])
    return "".join(kept)


def _strip_links(text: str, opener: str) -> str:
    """`[label](target)` becomes `label` (opener "["); `![alt](src)` goes (opener "![").

    The same matches as the old regex (a label up to the first "]", then "(" and a target up to the
    first ")"), found in one pass: the openers before an opener's first "]" all share that "]", so
    one that failed is never scanned again.
    """
    kept: list[str] = []
    pos = search = 0
    while (start := text.find(opener, search)) >= 0:
        close = text.find("]", start + len(opener))
        if close < 0:
            break
        if not text.startswith("(", close + 1):
            search = close + 1
            continue
        end = text.find(")", close + 2)
        if end < 0:
            break  # no later opener can find a ")" either
        kept.append(text[pos:start])
        if opener == "[":
            kept.append(text[start + 1 : close])
        pos = search = end + 1
    kept.append(text[pos:])
    return "".join(kept)


def _strip_tags(text: str) -> str:
    """Drop `<…>` spans (the regex `<[^>]+>`), in one pass."""
    kept: list[str] = []
    pos = search = 0
    while (start := text.find("<", search)) >= 0:
        end = text.find(">", start + 1)
        if end < 0:
            break
        if end == start + 1:  # "<>" is not a tag
            search = end
            continue
        kept.append(text[pos:start])
        pos = search = end + 1
    kept.append(text[pos:])
    return "".join(kept)


def _blocks(text: str) -> Iterator[str]:
    """Paragraphs: runs of lines between blank (whitespace-only) lines."""
    block: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)
