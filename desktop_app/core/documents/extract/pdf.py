"""PDF through PDFium (pypdfium2): one page at a time, so a 500-page file costs one page of memory.
PDFium keeps every object it has parsed for as long as the document is open (about 4 KB a page even
for plain text, far more with fonts and images), so the document is reopened every `REOPEN_EVERY`
pages. Encrypted and corrupt files are told apart by PDFium's load error code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from desktop_app.core.documents.extract.base import DocumentError, DocumentInfo, DocumentReader, cap_note
from desktop_app.core.documents.extract.normalize import normalize_text
from desktop_app.core.documents.passages import PageText

#: pages read before the document is closed and opened again, dropping PDFium's object cache
REOPEN_EVERY = 100


def _load_error(exc: pdfium.PdfiumError) -> DocumentError:
    code = exc.err_code
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return DocumentError(
            "encrypted PDF: remove the password and add it again",
            hint="Open it in a PDF viewer, save a copy without a password, and add that copy.",
        )
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return DocumentError("encrypted PDF with an unsupported security handler: save a copy without it")
    if code == pdfium_c.FPDF_ERR_FILE:
        return DocumentError("cannot read the file (missing or locked)")
    return DocumentError(f"corrupt PDF: {exc}", hint="Re-export or re-download the file, then add it again.")


class PdfReader(DocumentReader):
    def __init__(self, path: Path, max_chars: int) -> None:
        try:
            self._pdf: pdfium.PdfDocument | None = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise _load_error(exc) from exc
        count = len(self._pdf)
        if count <= 0:
            self.close()
            raise DocumentError("empty: no text found (the PDF has no pages)")
        super().__init__(DocumentInfo(path=path, kind="pdf", pages=count))
        self._path = path
        self._max_chars = max_chars

    def pages(self) -> Iterator[PageText]:
        pdf = self._pdf
        if pdf is None:
            raise DocumentError("the document was closed")
        budget = self._max_chars
        found_text = False
        for index in range(len(pdf)):
            if index and index % REOPEN_EVERY == 0:
                pdf = self._reopen()
            if budget <= 0:
                if not self.info.capped:
                    self._mark_capped(f"{cap_note(self._max_chars)} (up to page {index})")
                return
            raw, cut = self._page_text(pdf, index, budget)
            text = normalize_text(raw, dehyphenate=True)
            budget -= len(raw)
            if cut:
                self._mark_capped(f"{cap_note(self._max_chars)} (up to page {index + 1})")
                budget = 0
            if text:
                found_text = True
            yield PageText(index + 1, text)
        if not found_text:
            raise DocumentError(
                "empty: no text found (a scanned PDF needs OCR first)",
                hint="Run it through an OCR tool that adds a text layer, then add it again.",
            )

    @staticmethod
    def _page_text(pdf: pdfium.PdfDocument, index: int, budget: int) -> tuple[str, bool]:
        """The page's raw text, at most `budget` characters, and whether some was left out."""
        try:
            page = pdf[index]
        except pdfium.PdfiumError as exc:
            raise DocumentError(f"corrupt PDF: page {index + 1} cannot be read ({exc})") from exc
        try:
            textpage = page.get_textpage()
            try:
                count = textpage.count_chars()
                if count <= 0:
                    return "", False
                return textpage.get_text_range(0, min(count, budget)), count > budget
            finally:
                textpage.close()
        except pdfium.PdfiumError as exc:
            raise DocumentError(f"corrupt PDF: page {index + 1} has no readable text ({exc})") from exc
        finally:
            page.close()

    def _reopen(self) -> pdfium.PdfDocument:
        self.close()
        try:
            self._pdf = pdfium.PdfDocument(self._path)
        except pdfium.PdfiumError as exc:
            raise _load_error(exc) from exc
        return self._pdf

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None
