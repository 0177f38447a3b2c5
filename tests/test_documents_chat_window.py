"""The real window chatting with documents (a real index under the test's HEARTH_HOME, the scripted
engine answering): attach a collection from the composer's Documents menu, ask, see the reply's
citation chips, click one (the file opens at its page: QDesktopServices' "file" handler is captured),
open the Sources panel and a source from it; a reopened chat keeps its documents and sources; files
attached one by one are indexed off the GUI thread first."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QPushButton

from desktop_app.core import starter
from desktop_app.core.documents.context import Attachment
from desktop_app.core.documents.passages import Passage
from desktop_app.core.engine import Message
from desktop_app.core.generation import SamplingSettings
from desktop_app.ui.chat_delegate import SOURCES
from desktop_app.ui.chat_page import ATTACHED_COLLECTION
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.sources_panel import SHOWN_CHARS, SourcesPanel
from tests.chat_window import items, load, open_window, send
from tests.doc_index import FALCON, index_files, write_notes, write_report
from tests.fake_engine import ScriptedEngine
from tests.test_min_size_layout import MINIMUM, _check

QUESTION = "When did the falcon project ship?"


def cite_page_three(messages: Sequence[Message], _sampling: SamplingSettings) -> str:
    return "It shipped in March [3]." if "<<<SOURCE [3]" in str(messages[-1]["content"]) else "No sources."


class OpenedUrls(QObject):
    """Stands in for the desktop's file opener: QDesktopServices hands it every file URL."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(QUrl(url))


@pytest.fixture
def opened() -> Iterator[OpenedUrls]:
    handler = OpenedUrls()
    QDesktopServices.setUrlHandler("file", handler, "open")  # type: ignore[arg-type]  # the stub says bytes; PySide takes str
    yield handler
    QDesktopServices.unsetUrlHandler("file")


@pytest.fixture
def report(tmp_path: Path, hearth_home: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    path = write_report(folder)
    index_files([path], "work")
    return path


@pytest.fixture
def window(
    qtbot, monkeypatch: pytest.MonkeyPatch, report: Path
) -> Iterator[tuple[MainWindow, ScriptedEngine]]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    engine = ScriptedEngine(cite_page_three)
    win = open_window(qtbot, engine)
    win.resize(1100, 760)
    yield win, engine
    win.close()


def click_chip(qtbot, window: MainWindow, message_id: int, key: str) -> None:
    """Click a reply's chip where the delegate painted it, as a user does."""
    view = window.chat.view
    row = view.chat_model.row_of(message_id)
    assert row is not None
    index = view.chat_model.index(row, 0)
    view.scrollTo(index)
    view.viewport().repaint()
    layout = view.delegate.layout_for(view.chat_model.item(row), view.viewport().width())
    rect = next(rect for k, _, rect in layout.citations if k == key)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center() + view.visualRect(index).topLeft()
    )


def chips(window: MainWindow, message_id: int) -> list[tuple[str, str]]:
    view = window.chat.view
    row = view.chat_model.row_of(message_id)
    assert row is not None
    layout = view.delegate.layout_for(view.chat_model.item(row), view.viewport().width())
    return [(key, label) for key, label, _ in layout.citations]


def test_attach_ask_see_citations_and_open_a_source(
    qtbot, window: tuple[MainWindow, ScriptedEngine], report: Path, tiny_gguf, opened: OpenedUrls
) -> None:
    win, engine = window
    chat = win.chat
    load(qtbot, win, tiny_gguf())

    # attach the collection from the composer's Documents menu
    attach = chat.composer.attach
    attach.menu_.aboutToShow.emit()
    entries = {a.text(): a for a in attach.menu_.actions()}
    assert "Files…" in entries and "work" in entries and not entries["work"].isChecked()
    entries["work"].trigger()
    assert chat.attachment == Attachment(collections=("work",))
    assert chat.composer.docs_note.text() == "work" and chat.composer.docs_note.isVisible()

    reply = send(qtbot, win, QUESTION)
    assert reply.content == "It shipped in March [3]."
    sent = engine.requests[-1][-1]["content"]
    assert FALCON in sent and "<<<SOURCE [3] report.pdf, page 3>>>" in sent
    assert [(p.file, p.page) for p in reply.sources] == [(str(report), n) for n in (1, 2, 3)]
    assert items(win)[-2].content == QUESTION  # the chat shows (and stores) what the user typed
    assert chips(win, reply.id) == [("cite:3", "[3] report.pdf, page 3"), (SOURCES, "Sources (3)")]

    # a citation opens the file at its page
    click_chip(qtbot, win, reply.id, "cite:3")
    assert [(u.toLocalFile(), u.fragment()) for u in opened.urls] == [(str(report), "page=3")]

    # the Sources panel shows the passages as plain text; a title opens that source
    click_chip(qtbot, win, reply.id, SOURCES)
    panel = chat.sources_panel
    assert panel.isVisible() and not chat.settings_panel.isVisible()
    titles = [title.text() for title, _ in panel.entries]  # type: ignore[attr-defined]
    assert titles == ["[1] report.pdf, page 1", "[2] report.pdf, page 2", "[3] report.pdf, page 3  · cited"]
    assert FALCON in panel.entries[2][1].text()  # type: ignore[attr-defined]
    panel.entries[0][0].click()  # type: ignore[attr-defined]
    assert opened.urls[-1].fragment() == "page=1"

    # at the minimum window the chat, its composer and the open panel all fit, nothing cut
    win.resize(*MINIMUM)
    problems = _check(qtbot, win, chat, "chat with the Sources panel open")
    assert problems == [], "\n".join(problems)
    assert panel.geometry().right() <= chat.width()
    win.grab().save(str(report.parent / "documents-chat.png"))  # looked at while writing this test

    # the chat remembers its documents and each reply's sources
    conversation = chat.conversation
    assert conversation is not None
    assert (
        Attachment.from_settings(win.conversations.get_conversation(conversation.id).settings)
        == chat.attachment
    )
    chat.new_chat()
    assert not chat.attachment and chat.composer.docs_note.isHidden()
    assert chat.open_conversation(conversation.id)
    assert chat.attachment == Attachment(collections=("work",))
    reopened = items(win)[-1]
    assert [(p.file, p.page) for p in reopened.sources] == [(str(report), n) for n in (1, 2, 3)]
    assert chips(win, reopened.id)[0] == ("cite:3", "[3] report.pdf, page 3")


def test_files_are_indexed_off_the_gui_thread_then_attached(
    qtbot, window: tuple[MainWindow, ScriptedEngine], tmp_path: Path, tiny_gguf
) -> None:
    win, engine = window
    chat = win.chat
    load(qtbot, win, tiny_gguf())
    notes = write_notes(tmp_path)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 64)
    chat.attach_files([notes, binary])
    qtbot.waitUntil(lambda: bool(chat.attachment.files), timeout=30_000)
    assert chat.attachment.files == (str(notes),)  # the binary file was refused, with its reason
    assert ATTACHED_COLLECTION not in chat._collection_names()  # files attached alone are not a collection
    reply = send(qtbot, win, "What should I buy?")
    assert "Buy milk" in str(engine.requests[-1][-1]["content"])
    assert [(p.file, p.page) for p in reply.sources] == [(str(notes), None)]
    assert chips(win, reply.id)[0] == ("cite:1", "[1] notes.md")
    chat.composer.attach.menu_.aboutToShow.emit()
    detach = next(a for a in chat.composer.attach.menu_.actions() if a.text() == "Detach all documents")
    detach.trigger()
    assert not chat.attachment and chat.conversation is not None
    assert "documents" not in win.conversations.get_conversation(chat.conversation.id).settings


def test_the_sources_panel_shows_hostile_names_and_text_as_plain_text(qtbot) -> None:
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    hostile = "<img src='http://evil.example/x.png'> &amp; <b>bold</b>" + "x" * 10_000
    panel.show_sources(1, [Passage("/d/R&D <b>x<b>.pdf", 2, hostile, 1.0)], [1])
    ((title, text),) = panel.entries
    assert isinstance(title, QPushButton) and isinstance(text, QLabel)
    assert title.text() == "[1] R&&D <b>x<b>.pdf, page 2  · cited"  # shown as "R&D …", no mnemonic
    assert text.textFormat() == Qt.TextFormat.PlainText and text.text().startswith("<img src=")
    assert len(text.text()) <= SHOWN_CHARS + 2  # a whole inlined page is cut for the panel


def test_indexing_attached_files_waits_for_the_reply_being_generated(
    qtbot, window: tuple[MainWindow, ScriptedEngine], tmp_path: Path, tiny_gguf
) -> None:
    win, engine = window
    chat = win.chat
    load(qtbot, win, tiny_gguf())
    engine.delay_s = 0.3  # a reply of a few words takes over a second
    chat.composer.input.setPlainText("a question before any document")
    chat.composer._on_submit()
    assert chat.generating
    chat.attach_files([write_notes(tmp_path)])
    qtbot.wait(500)
    assert chat.generating and not chat.attachment  # the indexer waits: the reply has the CPU
    qtbot.waitUntil(lambda: not chat.generating, timeout=30_000)
    qtbot.waitUntil(lambda: bool(chat.attachment.files), timeout=30_000)
