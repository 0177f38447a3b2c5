"""What every extractor shares: the error a user sees per file, the facts about an opened document, the
reader interface, and the limits that keep a crafted file from hanging the app or eating its memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from desktop_app.core.documents.passages import PageText
from desktop_app.core.errors import HearthError

#: Bytes read from a text, Markdown, code or HTML file; the rest is left out (and the reader says so).
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: Characters kept from any one document, whatever its format.
DEFAULT_MAX_CHARS = 5_000_000
#: How much a .docx may unpack to (its parts together) before it is refused as a likely zip bomb.
MAX_DOCX_UNPACKED = 256 * 1024 * 1024
#: The main text part of a .docx, unpacked (lxml builds a tree several times its size).
MAX_DOCX_TEXT_PART = 64 * 1024 * 1024
#: Parts in a .docx; a real document has a few dozen.
MAX_DOCX_PARTS = 5_000
#: Bytes of HTML parsed: html.parser manages about 1 MB/s of dense markup on a busy machine, and
#: rescans an unterminated tag at each feed, so keep it modest (real pages are far smaller).
MAX_HTML_BYTES = 4 * 1024 * 1024
#: Seconds of parsing after which the HTML read so far is kept and the rest left out.
HTML_DEADLINE_S = 20.0
#: Size of each read from disk.
READ_BLOCK = 64 * 1024


class DocumentError(HearthError):
    """A file that cannot be indexed: `message` is one line saying why and what to do."""

    title = "This document cannot be indexed"
    exit_code = 2  # bad input, as a malformed setting (7 is StorageError)


@dataclass(frozen=True)
class DocumentInfo:
    """What was opened. `capped` is True when only part of the text was kept; `note` says which part.
    For a PDF, `capped`/`note` are final only once `pages()` has been read to the end."""

    path: Path
    kind: str  # "pdf", "docx", "html", "markdown", "text", "code"
    pages: int | None
    capped: bool = False
    note: str = ""


def cap_note(max_chars: int) -> str:
    return f"only the first {max_chars:,} characters were indexed"


class DocumentReader:
    """An opened document. `pages()` yields its text page by page (one page for formats without pages),
    normalised; it may raise DocumentError too (a PDF with no text at all is only known at its end)."""

    def __init__(self, info: DocumentInfo) -> None:
        self.info = info

    def pages(self) -> Iterator[PageText]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the file; safe to call twice."""

    def _mark_capped(self, note: str) -> None:
        self.info = dataclasses.replace(self.info, capped=True, note=note)

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SinglePageReader(DocumentReader):
    """A format without pages whose whole (capped) text was read at open."""

    def __init__(self, info: DocumentInfo, text: str) -> None:
        super().__init__(info)
        self._text = text

    def pages(self) -> Iterator[PageText]:
        yield PageText(None, self._text)
