"""HTML through the standard library's parser: visible text only (no script, style or template), block
elements become paragraph breaks, and the amount parsed and kept is bounded."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

from desktop_app.core.documents.extract.base import HTML_DEADLINE_S, DocumentError

# html.unescape turns "&#" and a million digits into int(...), which raises past 4,300 digits
_LONG_CHARREF = re.compile(r"&#(?:[xX][0-9a-fA-F]{8,}|[0-9]{9,});?")

_SKIP = frozenset({"script", "style", "template", "svg", "math", "iframe", "object", "noembed"})
_BLOCK = frozenset(
    {
        "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "table", "section",
        "article", "header", "footer", "nav", "aside", "main", "blockquote", "pre", "h1", "h2", "h3",
        "h4", "h5", "h6", "title", "figure", "figcaption", "form", "fieldset", "address", "details",
        "summary", "caption", "body",
    }
)  # fmt: skip
_VOID = frozenset(
    {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"}
)


class _TextCollector(HTMLParser):
    """Collects visible text, up to `max_chars` characters."""

    def __init__(self, max_chars: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.max_chars = max_chars
        self.full = False
        self._skip_depth = 0
        self._title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP and tag not in _VOID:
            self._skip_depth += 1
        if tag in _BLOCK:
            self._add("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag in _BLOCK:
            self._add("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            if sum(map(len, self._title)) < 1000:
                self._title.append(data)
        elif not self._skip_depth:
            self._add(data)

    def _add(self, text: str) -> None:
        if self.full:
            return
        room = self.max_chars - self.size
        if len(text) > room:
            text = text[:room]
            self.full = True
        self.parts.append(text)
        self.size += len(text)

    @property
    def title(self) -> str:
        return " ".join("".join(self._title).split())


def html_to_text(
    source: str, max_chars: int, *, feed_size: int = 512 * 1024, deadline_s: float = HTML_DEADLINE_S
) -> tuple[str, bool]:
    """Visible text of `source` (the title first, when the body does not already start with it) and
    whether it was cut short (by `max_chars`, or by `deadline_s` of parsing). Fed in large pieces:
    an unterminated tag makes the parser rescan its buffer at each feed."""
    source = _LONG_CHARREF.sub("\ufffd", source)
    parser = _TextCollector(max_chars)
    started = time.monotonic()
    try:
        for offset in range(0, len(source), feed_size):
            parser.feed(source[offset : offset + feed_size])
            if parser.full:
                break
            if time.monotonic() - started > deadline_s:
                parser.full = True
                break
        if not parser.full:
            parser.close()
    except (ValueError, AssertionError, RecursionError) as exc:  # html.parser on hostile markup
        raise DocumentError(f"malformed HTML: {type(exc).__name__}") from exc
    body = "".join(parser.parts)
    title = parser.title
    if title and not body.lstrip().startswith(title):
        body = f"{title}\n\n{body}"
    return body, parser.full
