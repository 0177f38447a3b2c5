"""Bounded reads over a GGUF file: every read is checked against the bytes left before it is made.

Reads are buffered `read()` calls rather than `mmap`, because a file that shrinks under an mmap (a
download being rewritten) kills the process with SIGBUS; here it is only a short read. The same
reader works over the first bytes of a remote file (`PrefixSource`), asking for more when it runs out.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import BinaryIO, Final

from desktop_app.core.gguf_info.errors import IncompleteHeaderError, corrupt, truncated
from desktop_app.core.gguf_info.limits import MAX_STRING_BYTES, READ_CHUNK, TOKEN_INDEX_STRIDE

_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")


class Source:
    """Buffered reads over the file where every read is first checked against the bytes left.

    `section` names the part being parsed, so running out of bytes reads as "ends inside its …".
    """

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self.size = size
        self.pos = 0
        self.section = "header"
        self._buf = b""
        self._buf_start = 0

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int) -> None:
        if n > self.size - self.pos:
            raise truncated(
                f"The file is truncated: it ends inside its {self.section}, at byte {self.size:,}."
            )

    def _window(self, n: int) -> int:
        """Make `n` bytes from `pos` available in the buffer; return their index in it."""
        self.need(n)
        start = self.pos - self._buf_start
        if start >= 0 and start + n <= len(self._buf):
            return start
        want = min(max(n, READ_CHUNK), self.size - self.pos)
        self._file.seek(self.pos)
        data = self._file.read(want)
        if len(data) < n:  # the file shrank while we read it
            raise truncated(
                f"The file is truncated: it ends inside its {self.section}, at byte {self.pos + len(data):,}."
            )
        self._buf, self._buf_start = data, self.pos
        return 0

    def read(self, n: int) -> bytes:
        i = self._window(n)
        self.pos += n
        return self._buf[i : i + n]

    def scalar(self, fmt: struct.Struct) -> int | float | bool:
        i = self._window(fmt.size)
        self.pos += fmt.size
        value: int | float | bool = fmt.unpack_from(self._buf, i)[0]
        return value

    def u32(self) -> int:
        i = self._window(4)
        self.pos += 4
        value: int = _U32.unpack_from(self._buf, i)[0]
        return value

    def u64(self) -> int:
        i = self._window(8)
        self.pos += 8
        value: int = _U64.unpack_from(self._buf, i)[0]
        return value

    def skip(self, n: int) -> None:
        self.need(n)
        self.pos += n

    def string_length(self, what: str | Callable[[], str], limit: int = MAX_STRING_BYTES) -> int:
        """Read a string's u64 length and prove the file holds that many bytes.

        `what` names the string for the error; a callable is only called then (this runs for every
        metadata entry, and quoting a key costs more than reading it)."""
        n = self.u64()
        if n > limit:
            name = what() if callable(what) else what
            raise corrupt(f"The file is damaged: {name} claims to be {n:,} bytes long.")
        self.need(n)
        return n

    def text(self, n: int) -> str:
        return self.read(n).decode("utf-8", errors="replace")

    def skip_strings(self, count: int, what: str, index: list[int] | None = None) -> None:
        """Skip `count` strings by their lengths alone; optionally note every 256th one's offset.

        The hot loop of the whole parse (262k tokens for Gemma), so it works on the buffer directly.
        """
        unpack = _U64.unpack_from
        i = 0
        while i < count:
            self._window(8)
            buf, base = self._buf, self._buf_start
            p, end = self.pos - base, len(buf)
            # Fast path: walk whole strings that lie inside the current buffer.
            while i < count and p + 8 <= end:
                if (
                    index is not None
                    and i % TOKEN_INDEX_STRIDE == 0
                    and len(index) == i // TOKEN_INDEX_STRIDE
                ):
                    index.append(base + p)
                (n,) = unpack(buf, p)
                if n > MAX_STRING_BYTES:
                    raise corrupt(f"The file is damaged: item {i:,} of {what} claims to be {n:,} bytes long.")
                if p + 8 + n > end:
                    break
                p += 8 + n
                i += 1
            self.pos = base + p
            if i < count and p + 8 <= end:
                # The next string runs past the buffer: check it against the file and step over it.
                self.skip(self.string_length(f"item {i:,} of {what}"))
                i += 1


class PrefixSource(Source):
    """The first bytes of a file whose full size is known: counts and lengths are still checked
    against the whole file, but a read past the prefix asks for more bytes instead of failing."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(io.BytesIO(data), size)
        self.available = len(data)

    def _window(self, n: int) -> int:
        self.need(n)
        if self.pos + n > self.available:
            raise IncompleteHeaderError(self.pos + n, self.available)
        return super()._window(n)
