"""Plain text, Markdown and source code: read incrementally up to a byte cap, binary files refused,
decoded as UTF-8 with fallbacks (a UTF-8 or UTF-16 byte-order mark, then cp1252, then latin-1)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from desktop_app.core.documents.extract.base import READ_BLOCK, DocumentError

# A first block with more than this share of control bytes (or invalid UTF-8 that cp1252 turns into
# controls) is binary.
_BINARY_CONTROL_RATIO = 0.10
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c\x1b")


def _looks_binary(block: bytes) -> bool:
    if b"\x00" in block:
        return True
    controls = sum(1 for b in block if b < 0x20 and b not in _TEXT_CONTROLS)
    return controls > _BINARY_CONTROL_RATIO * max(len(block), 1)


def sniff_encoding(first: bytes) -> str:
    """The codec for a file starting with `first`; DocumentError when it is not text."""
    if first.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _looks_binary(first):
        raise DocumentError("not a text file (binary)", hint="Add text, Markdown, HTML, PDF or Word files.")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(first, final=False)  # a character cut at the block's end is not an error
    except UnicodeDecodeError:
        # Mostly UTF-8 with a few stray bytes (a file pasted together) stays UTF-8; text whose only
        # non-ASCII bytes are invalid UTF-8 is a legacy 8-bit encoding.
        guess = codecs.getincrementaldecoder("utf-8")("replace").decode(first, final=False)
        errors = guess.count("\ufffd")
        valid = sum(1 for ch in guess if ord(ch) > 0x7F) - errors
        if valid > errors:
            return "utf-8"
    else:
        return "utf-8"
    try:
        first.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def read_decoded(fh: BinaryIO, max_bytes: int) -> tuple[str, bool]:
    """The text of `fh`, decoded, from at most `max_bytes` bytes; True when bytes were left unread."""
    first = fh.read(min(READ_BLOCK, max_bytes))
    if not first:
        raise DocumentError("empty: no text found", hint="The file has no content.")
    encoding = sniff_encoding(first)
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    parts = [decoder.decode(first)]
    total = len(first)
    for block in _blocks(fh, max_bytes - total):
        parts.append(decoder.decode(block))
        total += len(block)
    capped = total >= max_bytes and bool(fh.read(1))
    # a character cut by the cap is dropped rather than shown as U+FFFD
    parts.append(decoder.decode(b"", final=not capped))
    return "".join(parts), capped


def _blocks(fh: BinaryIO, budget: int) -> Iterator[bytes]:
    while budget > 0:
        block = fh.read(min(READ_BLOCK, budget))
        if not block:
            return
        budget -= len(block)
        yield block


def read_text_file(path: Path, max_bytes: int) -> tuple[str, bool]:
    try:
        with path.open("rb") as fh:
            return read_decoded(fh, max_bytes)
    except OSError as exc:
        raise DocumentError(f"cannot read the file: {exc.strerror or exc}") from exc
