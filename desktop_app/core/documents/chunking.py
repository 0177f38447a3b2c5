"""Pages cut into overlapping chunks of about `size` characters, each within one page so that it cites
one page. Cuts prefer a paragraph break, then a sentence end, then a space; the overlap starts at a word.
A generator: only the current page is held."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from desktop_app.core.documents.passages import PageText

# . ! ? (and their CJK forms), then any closing quotes or brackets, then a space
_SENTENCE_END = re.compile("[.!?\u3002\uff01\uff1f][\"')\\]\u00bb\u201d\u2019]*(?=\\s)")
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Chunk:
    """`text == page_text[start:end]`; `page` is the page's number (None for formats without pages)."""

    page: int | None
    start: int
    end: int
    text: str


def chunk_pages(pages: Iterable[PageText], *, size: int = 1000, overlap: int = 150) -> Iterator[Chunk]:
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("need size >= 1 and 0 <= overlap < size")
    for page in pages:
        for start, end in chunk_spans(page.text, size=size, overlap=overlap):
            yield Chunk(page.number, start, end, page.text[start:end])


def chunk_spans(text: str, *, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of the chunks of one page's text, stripped of surrounding whitespace."""
    n = len(text)
    start = _skip_space(text, 0)
    while start < n:
        end = n if n - start <= size else _cut(text, start, start + size)
        trimmed_end = end
        while trimmed_end > start and text[trimmed_end - 1].isspace():
            trimmed_end -= 1
        if trimmed_end > start:
            yield start, trimmed_end
        if end >= n:
            return
        following = _overlap_start(text, start, end, overlap)
        start = _skip_space(text, following)


def _cut(text: str, start: int, limit: int) -> int:
    """Where a chunk starting at `start` ends, at most `limit`: the last paragraph break, sentence end
    or space in the window's second half, else `limit` itself (a very long word)."""
    floor = start + (limit - start) // 2
    paragraph = text.rfind("\n\n", floor, limit)
    if paragraph > floor:
        return paragraph
    sentence_end = -1
    for match in _SENTENCE_END.finditer(text, floor, limit):
        sentence_end = match.end()
    if sentence_end > floor:
        return sentence_end
    for pos in range(limit, floor, -1):
        if text[pos].isspace():
            return pos
    return limit


def _overlap_start(text: str, start: int, end: int, overlap: int) -> int:
    """The next chunk's start: `overlap` characters before `end`, moved forward to a word's start, and
    always past `start` so the loop advances."""
    if overlap <= 0:
        return end
    candidate = max(end - overlap, start + 1)
    if candidate < end and not text[candidate - 1].isspace():
        match = _WHITESPACE.search(text, candidate, end)
        candidate = match.end() if match else end
    return candidate


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    return pos
