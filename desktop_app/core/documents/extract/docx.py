"""Word (.docx) through python-docx, after checking the zip's declared sizes so a zip bomb is refused
before anything is unpacked (zipfile never reads past a member's declared size)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from desktop_app.core.documents.extract.base import (
    MAX_DOCX_PARTS,
    MAX_DOCX_TEXT_PART,
    MAX_DOCX_UNPACKED,
    DocumentError,
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def check_docx_container(path: Path, max_unpacked: int = MAX_DOCX_UNPACKED) -> None:
    """DocumentError unless `path` is a zip of sane size with a word/document.xml."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise DocumentError(f"cannot read the file: {exc.strerror or exc}") from exc
    if head == _OLE_MAGIC:
        raise DocumentError(
            "encrypted or old-format Word document: save it as .docx without a password and add it again"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(f"corrupt Word document: not a valid .docx ({exc})") from exc
    if len(members) > MAX_DOCX_PARTS:
        raise DocumentError(f"refused: the .docx has {len(members):,} parts (a real one has a few dozen)")
    unpacked = sum(m.file_size for m in members)
    if unpacked > max_unpacked:
        raise DocumentError(
            f"refused: the .docx would unpack to {unpacked / 2**20:,.0f} MB (a zip bomb?)",
            hint="Save the document again from Word, or split it.",
        )
    main = next((m for m in members if m.filename == "word/document.xml"), None)
    if main is None:
        raise DocumentError("corrupt Word document: it has no word/document.xml")
    if main.file_size > MAX_DOCX_TEXT_PART:
        raise DocumentError(
            f"refused: the .docx text part would unpack to {main.file_size / 2**20:,.0f} MB",
            hint="Split the document into smaller files.",
        )


def docx_text(path: Path, max_chars: int) -> tuple[str, bool]:
    """Paragraphs and table cells in document order, blank-line separated, up to `max_chars`."""
    check_docx_container(path)
    import docx  # python-docx: imported here, it is only needed for Word files
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        parts: list[str] = []
        size = 0
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                text = "\n".join(" | ".join(cell.text for cell in row.cells) for row in block.rows)
            else:
                text = block.text
            if not text.strip():
                continue
            if size + len(text) > max_chars:
                parts.append(text[: max_chars - size])
                return "\n\n".join(parts), True
            parts.append(text)
            size += len(text) + 2
    except DocumentError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types on a damaged part
        raise DocumentError(f"corrupt Word document: {type(exc).__name__}: {exc}") from exc
    return "\n\n".join(parts), False
