"""The Documents page on real parts: a real index in HEARTH_HOME, real files (PDFs, a docx, bad files),
indexing on the worker thread, progress, pause, cancel, per-file reasons shown, and remove."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.core.documents.indexer import IndexReport, Progress
from desktop_app.core.services import AppServices
from desktop_app.ui.documents_page import DocumentsPage, eta_text
from desktop_app.ui.theme import apply_theme
from desktop_app.workers.document_worker import CollectionView
from tests.doc_fixtures import write_binary, write_docx, write_pdf
from tests.layout_check import layout_problems

WAIT_MS = 60_000  # the machine is shared: generous, never a measured time


@pytest.fixture
def page(qtbot) -> Iterator[DocumentsPage]:
    services = AppServices.open()
    host = QWidget()  # hosted as the main window's page stack hosts it
    host.resize(900, 700)
    page = DocumentsPage(services, host)
    page.resize(900, 700)
    qtbot.addWidget(host)
    host.show()
    yield page
    assert page.shutdown()
    services.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "papers"
    root.mkdir()
    write_pdf(root / "report.pdf", ["The harbour budget.", "Page two: cranes."])
    write_docx(root / "memo.docx", ["Memo", "The lighthouse keeper retires."])
    (root / "notes.md").write_text("# Notes\n\nBees make honey.\n", encoding="utf-8")
    write_pdf(root / "locked.pdf", ["secret"], encrypted=True)
    write_binary(root / "data.txt")
    return root


def finished_reports(page: DocumentsPage) -> list[tuple[str, IndexReport]]:
    reports: list[tuple[str, IndexReport]] = []
    page.indexer.finished.connect(lambda name, report: reports.append((name, report)))
    return reports


def test_add_folder_indexes_it_and_shows_each_failure(qtbot, page: DocumentsPage, folder: Path) -> None:
    assert page.empty.isVisible()
    reports = finished_reports(page)
    progress: list[Progress] = []
    page.indexer.progress.connect(lambda _name, p: progress.append(p))
    with qtbot.waitSignal(page.collections_changed, timeout=WAIT_MS) as changed:
        page.add_paths([folder], "work")
        qtbot.waitUntil(lambda: bool(reports), timeout=WAIT_MS)
    name, report = reports[0]
    assert name == "work"
    assert report.indexed == 3
    assert len(report.failed) == 2
    assert progress
    assert progress[-1].files_done == progress[-1].files_total == 5

    views: list[CollectionView] = changed.args[0]
    assert [v.name for v in views] == ["work"]
    card = page.cards["work"]
    assert not page.empty.isVisible()
    assert card.counts.text().startswith("3 files · ")
    assert "2 could not be indexed" in card.counts.text()
    errors = card.errors.text().splitlines()
    assert "locked.pdf: encrypted PDF: remove the password and add it again" in errors
    assert "data.txt: not a text file (binary)" in errors
    assert card.status.text().startswith("Up to date. 3 indexed")
    assert not card.bar.isVisible()
    assert "work" in [page.collection_box.itemText(i) for i in range(page.collection_box.count())]
    page.grab().save("/tmp/documents_page.png")


def test_pause_holds_indexing_and_cancel_stops_it(qtbot, page: DocumentsPage, folder: Path) -> None:
    reports = finished_reports(page)
    progress: list[Progress] = []
    page.indexer.progress.connect(lambda _name, p: progress.append(p))
    page.indexer.set_paused(True)  # as while the chat generates
    page.add_paths([folder], "held")
    qtbot.waitUntil(lambda: bool(progress), timeout=WAIT_MS)
    card = page.cards["held"]
    assert card.bar.isVisible()
    assert card.cancel_button.isVisible()
    qtbot.wait(300)
    assert not reports  # parked before its first file
    assert progress[-1].files_done == 0

    card.cancel_button.click()
    qtbot.waitUntil(lambda: bool(reports), timeout=WAIT_MS)
    assert reports[0][1].cancelled
    assert reports[0][1].indexed == 0
    qtbot.waitUntil(lambda: card.status.text().startswith("Stopped."), timeout=WAIT_MS)

    page.indexer.set_paused(False)
    card.update_button.click()  # Update picks up where it stopped
    qtbot.waitUntil(lambda: len(reports) == 2, timeout=WAIT_MS)
    assert reports[1][1].indexed == 3
    assert not reports[1][1].cancelled


def test_remove_collection(qtbot, page: DocumentsPage, folder: Path) -> None:
    reports = finished_reports(page)
    page.add_paths([folder / "notes.md"], "gone")
    qtbot.waitUntil(lambda: bool(reports), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.cards["gone"].counts.text().startswith("1 file "), timeout=WAIT_MS)
    with qtbot.waitSignal(page.collections_changed, timeout=WAIT_MS) as changed:
        page.remove_collection("gone")
    assert changed.args[0] == []
    assert "gone" not in page.cards
    assert page.empty.isVisible()
    assert (folder / "notes.md").exists()  # the file itself stays


def test_names_and_reasons_are_plain_text(qtbot, page: DocumentsPage, tmp_path: Path) -> None:
    hostile = tmp_path / "<b>bold<img src=x>.txt"
    hostile.write_bytes(b"")
    reports = finished_reports(page)
    page.add_paths([hostile], "<i>c</i>")
    qtbot.waitUntil(lambda: bool(reports), timeout=WAIT_MS)
    card = page.cards["<i>c</i>"]
    qtbot.waitUntil(lambda: bool(card.errors.text()), timeout=WAIT_MS)
    assert card.errors.text() == "<b>bold<img src=x>.txt: empty: no text found"
    from PySide6.QtCore import Qt

    assert card.errors.textFormat() == Qt.TextFormat.PlainText
    assert card.title.textFormat() == Qt.TextFormat.PlainText


def test_eta_text() -> None:
    assert eta_text(None) == ""
    assert eta_text(0.2) == "about 1 s left"
    assert eta_text(42) == "about 42 s left"
    assert eta_text(150) == "about 2 min left"
    assert eta_text(5400) == "about 1.5 h left"


def test_remove_while_its_first_indexing_waits(qtbot, page: DocumentsPage, folder: Path) -> None:
    reports = finished_reports(page)
    page.indexer.set_paused(True)
    page.add_paths([folder / "notes.md"], "first")
    page.add_paths([folder / "report.pdf"], "second")  # queued behind the paused job
    assert page.cards["second"].busy
    page.remove_collection("second")
    page.remove_collection("first")
    page.indexer.set_paused(False)
    qtbot.waitUntil(lambda: len(reports) == 2, timeout=WAIT_MS)
    assert all(report.cancelled for _, report in reports)
    qtbot.waitUntil(lambda: not page.cards, timeout=WAIT_MS)
    assert page.empty.isVisible()


def test_shutdown_while_paused_returns(qtbot, folder: Path) -> None:
    services = AppServices.open()
    try:
        page = DocumentsPage(services)
        qtbot.addWidget(page)
        page.indexer.set_paused(True)
        page.add_paths([folder], "parked")
        assert page.shutdown()  # cancels the parked job and ends the thread
    finally:
        services.close()


def test_refresh_all_indexes_what_changed(qtbot, page: DocumentsPage, folder: Path) -> None:
    reports = finished_reports(page)
    page.add_paths([folder], "work")
    qtbot.waitUntil(lambda: bool(reports) and bool(page.views), timeout=WAIT_MS)
    (folder / "notes.md").write_text("# Notes\n\nBees make wax as well.\n", encoding="utf-8")
    page.refresh_all()
    qtbot.waitUntil(lambda: len(reports) == 2, timeout=WAIT_MS)
    report = reports[1][1]
    assert report.indexed == 1  # only the changed file
    assert report.skipped == 4  # the two unchanged good files and the two unchanged bad ones


@pytest.mark.parametrize("font_pt", [None, 14.0])
def test_page_fits_the_minimum_window(qtbot, folder: Path, font_pt: float | None) -> None:
    # the page's share of the 820 x 540 minimum window, beside the sidebar; at the default and a large
    # text size, with a busy card and a card listing failures
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.font().pointSizeF()
    apply_theme(app, font_pt)
    services = AppServices.open()
    host = QWidget()
    host.resize(600, 540)
    page = DocumentsPage(services, host)
    page.resize(600, 540)
    qtbot.addWidget(host)
    host.show()
    try:
        reports = finished_reports(page)
        page.add_paths([folder], "a collection with a rather long name for its card")
        qtbot.waitUntil(lambda: bool(reports) and bool(page.views), timeout=WAIT_MS)
        page._card("busy").show_progress(Progress(3, 40, 120, 95.0, str(folder / "Annual report 2026.pdf")))
        for _ in range(3):
            QApplication.sendPostedEvents()
            qtbot.wait(20)
        assert layout_problems(page) == []
        page.grab().save(f"/tmp/documents_page_min_{font_pt or 'default'}.png")
    finally:
        assert page.shutdown()
        services.close()
        apply_theme(app, before)
