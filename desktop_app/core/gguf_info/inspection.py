"""The entry points: summarize a GGUF file on disk, or the first bytes of a remote one.

Any failure is a ModelFileError; an unexpected exception from the parser is logged and reported as one
too, so one bad file never breaks a listing.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Final

from desktop_app.core.errors import ModelFileError
from desktop_app.core.gguf_info.errors import HINT_CORRUPT, show, truncated
from desktop_app.core.gguf_info.limits import INT64_MAX
from desktop_app.core.gguf_info.parser import (
    align_up,
    check_layout,
    read_alignment,
    read_header,
    read_kvs,
    read_tensors,
)
from desktop_app.core.gguf_info.reader import PrefixSource, Source
from desktop_app.core.gguf_info.summarize import summarize
from desktop_app.core.gguf_info.summary import ModelSummary


def _parse(path: Path, file: BinaryIO, size: int) -> ModelSummary:
    return _parse_source(path, Source(file, size))


def _parse_source(path: Path, src: Source, *, local: bool = True) -> ModelSummary:
    version, n_tensors, n_kv = read_header(src)
    kvs, types = read_kvs(src, n_kv)
    alignment = read_alignment(kvs, types)
    tensors = read_tensors(src, n_tensors)
    data_start = align_up(src.pos, alignment)
    check_layout(tensors, data_start, src.size, alignment)
    return summarize(path, src, version, kvs, tensors, local=local)


# --------------------------------------------------------------------------------------------- entry

_log = logging.getLogger(__name__)

# What a bug in this parser could raise; never HearthError, OSError or a signal (KeyboardInterrupt).
_PARSER_FAILURES: Final = (ArithmeticError, LookupError, ValueError, TypeError, struct.error, MemoryError)


def _parser_failure(name: str, exc: Exception) -> ModelFileError:
    """A file this parser could not make sense of: the user still gets a ModelFileError (so one bad
    file never breaks a listing), and the log gets the traceback (it is a bug to fix)."""
    _log.error("Unexpected failure parsing the GGUF file %s", name, exc_info=exc)
    return ModelFileError(
        f"The file is damaged: Hearth could not make sense of its header ({exc.__class__.__name__}).",
        hint=HINT_CORRUPT,
        details=f"{exc.__class__.__name__}: {exc}",
    )


def inspect_gguf(path: str | os.PathLike[str]) -> ModelSummary:
    """Validate a GGUF file against its own size and summarize it, without reading tensor data.

    Raises ModelFileError when the file is missing, unreadable, truncated or malformed, and
    UnsupportedModelError when it is well formed but the pinned llama.cpp cannot run it.
    """
    p = Path(path)
    if "\0" in str(p):  # os.stat would raise ValueError
        raise ModelFileError("The model path contains a NUL character.", hint="Pick the file again.")
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):  # opening a FIFO would block forever
            raise ModelFileError(
                f"{show(p.name, 80)} is not a regular file.", hint="Pick a .gguf model file."
            )
        with p.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                raise truncated("The file is empty.")
            return _parse(p, file, size)
    except FileNotFoundError:
        raise ModelFileError(
            f"The model file {show(p.name, 80)} does not exist.",
            hint="It may have been moved or deleted; import it again.",
        ) from None
    except OSError as exc:
        raise ModelFileError(
            f"The model file cannot be read: {exc.strerror or exc.__class__.__name__}.",
            hint="Check that the file is readable and the disk is connected.",
            details=str(exc),
        ) from exc
    except _PARSER_FAILURES as exc:
        raise _parser_failure(p.name, exc) from exc


def inspect_gguf_header(data: bytes, *, name: str, total_size: int | None = None) -> ModelSummary:
    """Summarize a GGUF from its first bytes (a ranged read of a remote file), with the same checks.

    Why: to show a model's architecture, context length and layer shapes before a multi-gigabyte
    download. `total_size` is the whole file's size; counts, lengths and tensor offsets are checked
    against it. Without it they can only be checked for sanity, and `size_bytes` is the prefix length.
    Raises IncompleteHeaderError (with `.needed`) when the metadata or tensor list runs past `data`;
    other ModelFileErrors mean the file itself is bad. Split parts on disk are not looked for.
    """
    if total_size is not None and total_size < len(data):
        raise ValueError(f"total_size {total_size} is smaller than the {len(data)} bytes given")
    src = PrefixSource(data, INT64_MAX if total_size is None else total_size)
    if total_size == 0:
        raise truncated("The file is empty.")
    try:
        summary = _parse_source(Path(name), src, local=False)
    except _PARSER_FAILURES as exc:
        raise _parser_failure(name, exc) from exc
    if total_size is None:
        summary = replace(summary, size_bytes=len(data))
    return summary
