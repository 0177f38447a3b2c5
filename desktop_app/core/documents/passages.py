"""The values every part of the documents feature passes around: the text of one page as extracted, and
a passage found in the index. Kept apart so extraction, the index, the chat and the CLI agree on them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageText:
    """The normalised text of one page; `number` is 1-based, None for formats without pages."""

    number: int | None
    text: str


@dataclass(frozen=True)
class Passage:
    """A chunk of a file, as retrieval returns it: enough to cite it (file, page) and to show it.
    `start`/`end` are character offsets in the page's text (the whole file's when it has no pages)."""

    file: str  # absolute path, as indexed
    page: int | None
    text: str
    score: float
    start: int = 0
    end: int = 0
    chunk_id: int = 0
