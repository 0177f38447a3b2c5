"""Build a real documents index for chat tests with the indexer `hearth docs add` uses, under the
test's HEARTH_HOME."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from desktop_app.core.documents.indexer import add_paths
from desktop_app.core.documents.store import DocumentStore
from desktop_app.core.paths import app_paths
from tests.doc_fixtures import write_pdf

FALCON = "The falcon project shipped in March with three engineers."
REVENUE = "Revenue grew by twelve percent in the northern region."


def index_files(paths: Sequence[Path], collection: str = "work") -> None:
    store = DocumentStore.open(app_paths().ensure())
    try:
        report = add_paths(store, paths, collection=collection)
        assert report.failed == [] and report.indexed == len(paths), report
    finally:
        store.close()


def write_report(folder: Path, *, filler: int = 0) -> Path:
    """A three-page PDF: the falcon project on page 3, revenue on page 2."""
    pad = "\n".join(["Background material on the annual cycle."] * filler)
    return write_pdf(
        folder / "report.pdf",
        [f"Introduction to the annual report.\n{pad}", f"{REVENUE}\n{pad}", f"{FALCON}\n{pad}"],
    )


def write_notes(folder: Path) -> Path:
    path = folder / "notes.md"
    path.write_text("# Notes\n\nBuy milk and bread on Friday.\n", encoding="utf-8")
    return path
