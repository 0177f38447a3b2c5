"""Text out of a user's files: txt, Markdown, HTML, PDF (page by page), Word and source code.

`open_document(path)` refuses what cannot be indexed (unsupported, binary, encrypted, corrupt, empty)
with a `DocumentError` whose message says why in one line; `reader.pages()` streams normalised text.
Everything is bounded: bytes read, characters kept, a .docx's unpacked size, HTML parsed."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.documents.extract.base import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHARS,
    MAX_HTML_BYTES,
    DocumentError,
    DocumentInfo,
    DocumentReader,
    SinglePageReader,
    cap_note,
)
from desktop_app.core.documents.extract.docx import docx_text
from desktop_app.core.documents.extract.html import html_to_text
from desktop_app.core.documents.extract.normalize import normalize_code, normalize_text
from desktop_app.core.documents.extract.pdf import PdfReader
from desktop_app.core.documents.extract.text import read_text_file

__all__ = [
    "KIND_BY_SUFFIX",
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "DocumentInfo",
    "DocumentReader",
    "open_document",
]

_CODE_SUFFIXES = (
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".c", ".h", ".cc", ".cpp", ".cxx",
    ".hpp", ".hh", ".rs", ".go", ".java", ".kt", ".kts", ".scala", ".rb", ".php", ".pl", ".lua",
    ".swift", ".m", ".cs", ".fs", ".r", ".jl", ".dart", ".ex", ".exs", ".erl", ".hs", ".clj", ".sh",
    ".bash", ".zsh", ".fish", ".ps1", ".bat", ".sql", ".css", ".scss", ".less", ".json", ".jsonl",
    ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml", ".proto", ".graphql", ".tf", ".cmake",
    ".gradle", ".vue", ".svelte",
)  # fmt: skip

KIND_BY_SUFFIX: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".csv": "text",
    ".tsv": "text",
    ".rst": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    **dict.fromkeys(_CODE_SUFFIXES, "code"),
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(KIND_BY_SUFFIX)


def open_document(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_chars: int = DEFAULT_MAX_CHARS
) -> DocumentReader:
    """Open `path` for extraction; DocumentError (one actionable line) when it cannot be indexed."""
    path = Path(path)
    kind = KIND_BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(
            f"unsupported format ({path.suffix or 'no extension'})",
            hint="Add text, Markdown, HTML, PDF, Word (.docx) or source code files.",
        )
    if not path.is_file():
        raise DocumentError("cannot read the file: it is missing or not a regular file")
    if kind == "pdf":
        return PdfReader(path, max_chars)
    if kind == "docx":
        raw, capped = docx_text(path, max_chars)
        return _single(path, kind, normalize_text(raw), capped, cap_note(max_chars))
    limit = min(max_bytes, MAX_HTML_BYTES) if kind == "html" else max_bytes
    raw, bytes_capped = read_text_file(path, limit)
    byte_note = f"only the first {limit / 2**20:,.0f} MB were indexed"
    if kind == "html":
        raw, chars_capped = html_to_text(raw, max_chars)
        text = normalize_text(raw)
    else:
        chars_capped = len(raw) > max_chars
        raw = raw[:max_chars]
        text = normalize_code(raw) if kind == "code" else normalize_text(raw)
    note = cap_note(max_chars) if chars_capped else byte_note
    return _single(path, kind, text, bytes_capped or chars_capped, note)


def _single(path: Path, kind: str, text: str, capped: bool, note: str) -> DocumentReader:
    if not text:
        raise DocumentError("empty: no text found", hint="The file has no readable text.")
    info = DocumentInfo(path=path, kind=kind, pages=None, capped=capped, note=note if capped else "")
    return SinglePageReader(info, text)
