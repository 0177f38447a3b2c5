"""Real files for the documents tests and benchmarks, written from scratch: PDFs (a minimal valid writer:
Helvetica text objects, a correct xref, optionally an /Encrypt dictionary), Word files through
python-docx, and the bad files a user's folder holds (corrupt, encrypted, empty, binary, huge, a zip bomb)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

LINE_CHARS = 90  # characters per line drawn on a PDF page (Helvetica 10 pt fits about 95 on Letter)
LINES_PER_PAGE = 60


def _pdf_escape(line: str) -> bytes:
    data = line.encode("cp1252", "replace")
    return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(text: str) -> bytes:
    """A content stream drawing `text` line by line (an explicit "\\n" starts a new line; long lines are
    wrapped at spaces)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        rest = paragraph
        while len(rest) > LINE_CHARS:
            cut = rest.rfind(" ", 0, LINE_CHARS)
            cut = cut if cut > 0 else LINE_CHARS
            lines.append(rest[:cut])
            rest = rest[cut:].lstrip()
        lines.append(rest)
    ops = [b"BT /F1 10 Tf 12 TL 50 760 Td"]
    for line in lines:
        ops.append(b"(" + _pdf_escape(line) + b") Tj T*")
    ops.append(b"ET")
    return b"\n".join(ops)


class _PdfWriter:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.offsets: dict[int, int] = {}
        fh.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def obj(self, number: int, body: bytes) -> None:
        self.offsets[number] = self.fh.tell()
        self.fh.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    def stream(self, number: int, data: bytes) -> None:
        self.obj(number, b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")

    def finish(self, trailer_extra: bytes = b"") -> None:
        xref_at = self.fh.tell()
        size = max(self.offsets) + 1
        self.fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for number in range(1, size):
            self.fh.write(b"%010d 00000 n \n" % self.offsets[number])
        self.fh.write(b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (size, trailer_extra))
        self.fh.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)


def write_pdf(path: Path, pages: Iterable[str], *, encrypted: bool = False) -> Path:
    """A PDF with one page per item of `pages` (streamed: a 500-page file is never held in memory).
    `encrypted` adds a Standard security handler whose user password is not empty, so readers ask for
    one (the content itself is left in clear: enough for a reader to refuse it)."""
    with path.open("wb") as fh:
        pdf = _PdfWriter(fh)
        pdf.obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        pdf.obj(3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
        kids: list[int] = []
        number = 4
        for text in pages:
            pdf.stream(number + 1, _content(text))
            pdf.obj(
                number,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
                b" /Contents %d 0 R >>" % (number + 1),
            )
            kids.append(number)
            number += 2
        refs = b" ".join(b"%d 0 R" % k for k in kids)
        pdf.obj(2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids)))
        extra = b""
        if encrypted:
            pdf.obj(
                number,
                b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44"
                b" /O <" + b"4a" * 32 + b"> /U <" + b"7b" * 32 + b"> >>",
            )
            file_id = b"<" + b"0123456789abcdef" * 2 + b">"
            extra = b" /Encrypt %d 0 R /ID [%s %s]" % (number, file_id, file_id)
        pdf.finish(extra)
    return path


def write_docx(path: Path, paragraphs: Iterable[str], *, table: list[list[str]] | None = None) -> Path:
    """A real Word document (python-docx): a heading, the paragraphs, and optionally a table."""
    import docx

    document = docx.Document()
    items = list(paragraphs)
    if items:
        document.add_heading(items[0], level=1)
    for paragraph in items[1:]:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.save(str(path))
    return path


def write_docx_bomb(path: Path, unpacked_mb: int = 300) -> Path:
    """A .docx-shaped zip whose document.xml unpacks to `unpacked_mb` MB of zeros (a few hundred KB)."""
    block = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(unpacked_mb):
                member.write(block)
    return path


def write_corrupt_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\ngarbage \x00\xff\x13 truncated")
    return path


def write_binary(path: Path, size: int = 4096) -> Path:
    """Bytes no one would call text (a PNG header, then a repeating non-text pattern with NULs)."""
    pattern = bytes(range(256))
    data = b"\x89PNG\r\n\x1a\n" + (pattern * (size // 256 + 1))[:size]
    path.write_bytes(data)
    return path


def write_huge_text(path: Path, megabytes: int) -> Path:
    """A plain-text file of about `megabytes` MB of numbered sentences, written in blocks."""
    line = "Sentence number {:09d} of a very long file about nothing in particular.\n"
    with path.open("w", encoding="utf-8") as fh:
        written = 0
        index = 0
        while written < megabytes * 1024 * 1024:
            block = "".join(line.format(index + i) for i in range(1000))
            fh.write(block)
            written += len(block)
            index += 1000
    return path
