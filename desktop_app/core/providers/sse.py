"""A bounded parser for the server-sent events of a streamed chat completion.

The stream is hostile until proven otherwise: a line longer than 1 MiB, an event larger than 1 MiB,
bytes that are not UTF-8, lines that are not SSE fields (an HTML error page, a proxy's banner), or data
that is not a JSON object all end the stream with a ProviderProtocolError, and memory never grows past
those caps. Only `data:` matters (OpenAI's format); comments (`:` lines, used as keep-alives), `event:`,
`id:` and `retry:` are accepted and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from desktop_app.core.providers.errors import ProviderProtocolError

__all__ = ["DONE", "MAX_EVENT_BYTES", "MAX_LINE_BYTES", "sse_data", "sse_json"]

MAX_LINE_BYTES = 1 << 20
MAX_EVENT_BYTES = 1 << 20
DONE = "[DONE]"
_IGNORED_FIELDS = (b"event", b"id", b"retry")


def _garbage(what: str) -> ProviderProtocolError:
    return ProviderProtocolError(
        f"The server's stream is not valid server-sent events: {what}.",
        hint="Check that the URL points at an OpenAI-compatible API (such as http://HOST:8000/v1), "
        "not a web page or a proxy's login page.",
    )


def sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """The data of each event, in order, as text (several `data:` lines joined with newlines)."""
    buffer = b""
    data: list[bytes] = []
    size = 0
    for chunk in chunks:
        buffer += chunk
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:  # a blank line ends the event
                if data:
                    yield _text(b"\n".join(data))
                data, size = [], 0
                continue
            if line.startswith(b":"):
                continue  # a comment: keep-alive
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                size += len(value)
                if size > MAX_EVENT_BYTES:
                    raise _garbage("an event is larger than 1 MiB")
                data.append(value)
            elif name not in _IGNORED_FIELDS:
                raise _garbage(f"unexpected line {_preview(line)}")
        buffer = buffer[start:]
        if len(buffer) > MAX_LINE_BYTES:
            raise _garbage("a line is longer than 1 MiB")
    if data and not buffer:
        # the last event lacked its blank line ("data: [DONE]\n" then EOF): complete lines, so keep it.
        # A partial line is dropped: the caller sees a stream that ended early and says so.
        yield _text(b"\n".join(data))


def sse_json(chunks: Iterable[bytes]) -> Iterator[dict[str, Any] | None]:
    """Each event's JSON object; None for the final `[DONE]`, after which nothing more is read."""
    for text in sse_data(chunks):
        if text.strip() == DONE:
            yield None
            return
        try:
            value = json.loads(text)
        except ValueError:
            raise _garbage(f"an event is not JSON ({_preview(text.encode())})") from None
        if not isinstance(value, dict):
            raise _garbage("an event is not a JSON object")
        yield value


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _garbage("it is not UTF-8 text") from None


def _preview(raw: bytes) -> str:
    text = raw[:60].decode("utf-8", errors="replace")
    return repr("".join(ch if ch.isprintable() else "?" for ch in text))
