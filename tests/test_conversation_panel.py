"""The conversation sidebar on real widgets and a real SQLite store: opening, search and jumping to a
hit, rename (inline and by method), export, delete with its confirmation, the keyboard, and the
selection surviving a refresh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMenu, QMessageBox, QWidget

from desktop_app.core.conversations import ConversationStore, UnknownConversationError
from desktop_app.core.db import Database
from desktop_app.core.errors import StorageError
from desktop_app.ui.conversation_dialogs import export_file_name
from desktop_app.ui.conversation_models import Roles
from desktop_app.ui.conversation_panel import (
    EMPTY_LIST,
    SEARCH_DEBOUNCE_MS,
    ConversationPanel,
)

NOW = datetime(2026, 11, 14, 15, 0)
# What the offscreen platform says when a real popup menu or dialog opens: a limit of the test
# platform ("does not support raise()", "grabbing the keyboard", "propagateSizeHints()"), not a bug.
OFFSCREEN_LIMITS = pytest.mark.qt_log_ignore(r"^This plugin does not support ")


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> ConversationStore:
    return ConversationStore(Database(tmp_path / "hearth.db"), clock=clock)


def add_chat(store: ConversationStore, clock: Clock, prompt: str, answer: str, hours_ago: float) -> int:
    clock.now = (NOW - timedelta(hours=hours_ago)).timestamp()
    conversation = store.create_conversation(model_name="Gemma 3 270M")
    store.add_message(conversation.id, "user", prompt)
    store.add_message(conversation.id, "assistant", answer)
    clock.now = NOW.timestamp()
    return conversation.id


@pytest.fixture
def chats(store: ConversationStore, clock: Clock) -> dict[str, int]:
    """Newest first: Rome (today), Haiku (today), Sourdough (yesterday), Regex (last week)."""
    return {
        "regex": add_chat(store, clock, "Regex for ISO dates", "Use \\d{4}-\\d{2}-\\d{2}.", 24 * 5),
        "sourdough": add_chat(store, clock, "Why does my sourdough not rise?", "Your starter is weak.", 26),
        "haiku": add_chat(store, clock, "Write a haiku about autumn", "Leaves fall on the pond.", 3),
        "rome": add_chat(store, clock, "Plan a trip to Rome", "Day 1: the Colosseum and the Forum.", 1),
    }


@pytest.fixture
def panel(
    qtbot, store: ConversationStore, clock: Clock, chats: dict[str, int]
) -> Iterator[ConversationPanel]:
    # Hosted in a plain window without a layout, as the Sidebar hosts it: a top-level window whose
    # layout sets a minimum size makes the offscreen platform warn ("propagateSizeHints").
    host = QWidget()
    host.resize(232, 700)
    widget = ConversationPanel(store, host, clock=clock)
    widget.setGeometry(0, 0, 232, 700)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    yield widget  # (and keeps `host` alive)


def row_center(panel: ConversationPanel, conversation_id: int) -> QPoint:
    index = panel.list_model.index_of(conversation_id)
    assert index.isValid()
    return panel.list_view.visualRect(index).center()


def selected_ids(panel: ConversationPanel) -> list[int]:
    return [i.data(Roles.CONVERSATION_ID) for i in panel.list_view.selectionModel().selectedIndexes()]


def test_empty_state_and_new_chat(qtbot, store, clock) -> None:
    panel = ConversationPanel(store, clock=clock)
    qtbot.addWidget(panel)
    assert panel.stack.currentWidget() is panel.empty_label
    assert panel.empty_label.text() == EMPTY_LIST
    assert panel.search_field.placeholderText() == "Search chats"
    assert panel.search_field.isClearButtonEnabled()
    assert panel.new_chat_button.property("kind") == "primary"
    assert panel.new_chat_button.accessibleName() == "New chat"
    assert panel.list_view.accessibleName() == "Conversations"
    with qtbot.waitSignal(panel.new_chat_requested):
        qtbot.mouseClick(panel.new_chat_button, Qt.MouseButton.LeftButton)
    add_chat(store, clock, "First", "Hi", 0)
    panel.refresh()
    assert panel.stack.currentWidget() is panel.list_view
    assert panel.list_model.section_labels() == ["Today"]


def test_click_opens_and_select_does_not_emit(qtbot, panel, chats) -> None:
    assert panel.list_model.section_labels() == ["Today", "Yesterday", "Previous 7 days"]
    with qtbot.waitSignal(panel.conversation_selected) as opened:
        qtbot.mouseClick(
            panel.list_view.viewport(), Qt.MouseButton.LeftButton, pos=row_center(panel, chats["haiku"])
        )
    assert opened.args == [chats["haiku"]]
    assert selected_ids(panel) == [chats["haiku"]]
    with qtbot.assertNotEmitted(panel.conversation_selected):
        panel.select(chats["regex"])
    assert selected_ids(panel) == [chats["regex"]]
    assert panel.selected_id() == chats["regex"]
    # a section row is not a chat: clicking it opens nothing and leaves the selection
    section = panel.list_view.visualRect(panel.list_model.index(0)).center()
    with qtbot.assertNotEmitted(panel.conversation_selected):
        qtbot.mouseClick(panel.list_view.viewport(), Qt.MouseButton.LeftButton, pos=section)
    assert selected_ids(panel) == [chats["regex"]]
    panel.select(None)
    assert selected_ids(panel) == []


def test_selection_survives_refresh(qtbot, panel, store, clock, chats) -> None:
    panel.select(chats["sourdough"])
    new_id = add_chat(store, clock, "A newer chat", "ok", 0)  # inserted above the selection
    panel.refresh()
    assert panel.list_model.index(1).data(Roles.CONVERSATION_ID) == new_id
    assert selected_ids(panel) == [chats["sourdough"]]
    clock.now = (NOW + timedelta(minutes=5)).timestamp()
    store.add_message(chats["sourdough"], "user", "Thanks!")  # the selected chat moves to the top
    panel.refresh()
    assert panel.list_model.index(1).data(Roles.CONVERSATION_ID) == chats["sourdough"]
    assert selected_ids(panel) == [chats["sourdough"]]
    store.rename(chats["sourdough"], "Bread troubles")
    panel.refresh()
    assert selected_ids(panel) == [chats["sourdough"]]
    assert panel.list_model.index(1).data(Roles.TITLE) == "Bread troubles"
    newest = store.create_conversation("Just created").id  # the window selects it, then refreshes
    panel.select(newest)
    assert selected_ids(panel) == []
    panel.refresh()
    assert selected_ids(panel) == [newest]


def test_search_shows_hits_and_jumps_to_one(qtbot, panel, store, chats) -> None:
    rome_answer = store.path(chats["rome"])[-1]
    qtbot.keyClicks(panel.search_field, "colosseum")
    assert panel.stack.currentWidget() is panel.list_view  # debounced: not searched on each key
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.hits_view, timeout=SEARCH_DEBOUNCE_MS * 20)
    assert panel.hits_model.rowCount() == 1
    hit = panel.hits_model.index(0)
    assert hit.data(Roles.TITLE) == "Plan a trip to Rome"
    assert "<b>Colosseum</b>" in str(hit.data(Roles.SNIPPET_HTML))
    assert panel.hits_view.accessibleName() == "Search results"
    center = panel.hits_view.visualRect(hit).center()
    with qtbot.waitSignal(panel.hit_selected) as jumped:
        qtbot.mouseClick(panel.hits_view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert jumped.args == [chats["rome"], rome_answer.id]
    assert selected_ids(panel) == [chats["rome"]]  # the chat jumped to is highlighted in the list

    # Esc clears the search and brings the list back
    qtbot.keyClick(panel.search_field, Qt.Key.Key_Escape)
    assert panel.search_field.text() == ""
    assert panel.stack.currentWidget() is panel.list_view


def test_search_without_hits_and_enter_opens_first_hit(qtbot, panel, store, chats) -> None:
    panel.search_field.setText("zebra")
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.empty_label, timeout=SEARCH_DEBOUNCE_MS * 20)
    assert panel.empty_label.text() == "No messages match “zebra”"
    panel.search_field.setText("sourdough")
    sourdough_prompt = store.path(chats["sourdough"])[0]
    with qtbot.waitSignal(panel.hit_selected) as jumped:  # Enter runs the pending search at once
        qtbot.keyClick(panel.search_field, Qt.Key.Key_Return)
    assert jumped.args == [chats["sourdough"], sourdough_prompt.id]
    # Down moves into the results, and Enter there opens the highlighted hit
    qtbot.keyClick(panel.search_field, Qt.Key.Key_Down)
    assert panel.hits_view.currentIndex().row() == 0
    with qtbot.waitSignal(panel.hit_selected):
        qtbot.keyClick(panel.hits_view, Qt.Key.Key_Return)


def test_search_follows_refresh(qtbot, panel, store, clock, chats) -> None:
    panel.search_field.setText("pond")
    qtbot.waitUntil(lambda: panel.hits_model.rowCount() == 1, timeout=SEARCH_DEBOUNCE_MS * 20)
    add_chat(store, clock, "Koi in a pond", "They need clean water.", 0)
    panel.refresh()
    assert panel.hits_model.rowCount() == 2


def test_keyboard_moves_skips_sections_and_enter_opens(qtbot, panel, chats) -> None:
    panel.list_view.setFocus()
    qtbot.waitUntil(panel.list_view.hasFocus)
    # focus lands on the first chat, not on the "Today" section row
    assert panel.list_view.currentIndex().data(Roles.CONVERSATION_ID) == chats["rome"]
    with qtbot.assertNotEmitted(panel.conversation_selected):  # moving does not open
        qtbot.keyClick(panel.list_view, Qt.Key.Key_Down)
        assert selected_ids(panel) == [chats["haiku"]]
        qtbot.keyClick(panel.list_view, Qt.Key.Key_Down)  # over the "Yesterday" section
    assert panel.list_view.currentIndex().data(Roles.CONVERSATION_ID) == chats["sourdough"]
    qtbot.keyClick(panel.list_view, Qt.Key.Key_Up)
    assert panel.list_view.currentIndex().data(Roles.CONVERSATION_ID) == chats["haiku"]
    panel.refresh()  # the minute timer's refresh does not pull the keyboard's place back
    assert panel.list_view.currentIndex().data(Roles.CONVERSATION_ID) == chats["haiku"]
    with qtbot.waitSignal(panel.conversation_selected) as opened:
        qtbot.keyClick(panel.list_view, Qt.Key.Key_Return)
    assert opened.args == [chats["haiku"]]


def test_inline_rename_with_f2(qtbot, panel, store, chats) -> None:
    panel.select(chats["haiku"])
    qtbot.keyClick(panel.list_view, Qt.Key.Key_F2)
    editor = panel.list_view.findChild(QLineEdit, "RenameEditor")
    assert editor is not None and editor.isVisible()
    assert editor.text() == "Write a haiku about autumn"
    editor.setText("Autumn haiku")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: store.get_conversation(chats["haiku"]).title == "Autumn haiku")
    assert panel.list_model.index_of(chats["haiku"]).data(Roles.TITLE) == "Autumn haiku"
    assert selected_ids(panel) == [chats["haiku"]]

    qtbot.keyClick(panel.list_view, Qt.Key.Key_F2)  # an empty title is rejected
    editor = panel.list_view.findChild(QLineEdit, "RenameEditor")
    assert editor is not None
    editor.setText("   ")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.list_view.findChild(QLineEdit, "RenameEditor") is None)
    assert store.get_conversation(chats["haiku"]).title == "Autumn haiku"


def test_rename_method(panel, store, chats) -> None:
    assert panel.rename_conversation(chats["rome"], "  Roman holiday ")
    assert store.get_conversation(chats["rome"]).title == "Roman holiday"
    assert panel.list_model.index_of(chats["rome"]).data(Roles.TITLE) == "Roman holiday"
    assert not panel.rename_conversation(chats["rome"], "  ")
    assert store.get_conversation(chats["rome"]).title == "Roman holiday"
    with pytest.raises(UnknownConversationError):
        panel.rename_conversation(9999, "Nope")


def test_export_markdown_and_json(panel, store, chats, tmp_path: Path) -> None:
    md = panel.export_conversation(chats["rome"], tmp_path / "rome.md", "md")
    text = md.read_text(encoding="utf-8")
    assert text == store.export_markdown(chats["rome"])
    assert text.startswith("# Plan a trip to Rome\n")
    assert "## User\n\nPlan a trip to Rome" in text
    assert "## Assistant\n\nDay 1: the Colosseum and the Forum." in text

    data = json.loads(
        panel.export_conversation(chats["rome"], tmp_path / "rome.json", "json").read_text("utf-8")
    )
    assert data["id"] == chats["rome"]
    assert data["title"] == "Plan a trip to Rome"
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("user", "Plan a trip to Rome"),
        ("assistant", "Day 1: the Colosseum and the Forum."),
    ]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left

    with pytest.raises(StorageError):
        panel.export_conversation(chats["rome"], tmp_path / "missing-folder" / "rome.md", "md")
    assert export_file_name('Trip: "Rome"/Paris?', "md", 3) == "Trip Rome Paris.md"
    assert export_file_name("...", "json", 3) == "chat-3.json"


@OFFSCREEN_LIMITS
def test_context_menu_has_the_actions(qtbot, panel, chats) -> None:
    menu = panel.context_menu(chats["rome"])
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Rename", "Pin to top", "Export as Markdown…", "Export as JSON…", "Delete…"]
    menu.deleteLater()
    panel.select(chats["rome"])
    panel.list_view.setFocus()
    qtbot.keyClick(panel.list_view, Qt.Key.Key_Menu)  # the Menu key opens it on the current chat
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    popup = QApplication.activePopupWidget()
    assert isinstance(popup, QMenu)
    assert next(a.text() for a in popup.actions() if not a.isSeparator()) == "Rename"
    popup.close()


def test_rename_from_the_menu_opens_the_inline_editor(qtbot, panel, store, chats) -> None:
    menu = panel.context_menu(chats["regex"])
    next(a for a in menu.actions() if a.text() == "Rename").trigger()
    editor = panel.list_view.findChild(QLineEdit, "RenameEditor")
    assert editor is not None and editor.text() == "Regex for ISO dates"
    editor.setText("Date regex")
    qtbot.keyClick(editor, Qt.Key.Key_Enter)
    qtbot.waitUntil(lambda: store.get_conversation(chats["regex"]).title == "Date regex")
    menu.deleteLater()


@OFFSCREEN_LIMITS
def test_delete_key_asks_then_deletes(qtbot, panel, store, chats) -> None:
    panel.select(chats["sourdough"])
    panel.list_view.setFocus()
    qtbot.keyClick(panel.list_view, Qt.Key.Key_Delete)
    box = panel.findChild(QMessageBox, "DeleteChatDialog")
    assert box is not None and box.isVisible()
    assert box.text() == "Delete “Why does my sourdough not rise?”?"
    assert "2 messages" in box.informativeText()
    with qtbot.assertNotEmitted(panel.conversation_deleted):  # Cancel keeps it
        box.button(QMessageBox.StandardButton.Cancel).click()
    assert store.get_conversation(chats["sourdough"])

    qtbot.waitUntil(lambda: panel.findChild(QMessageBox, "DeleteChatDialog") is None)
    qtbot.keyClick(panel.list_view, Qt.Key.Key_Delete)
    box = panel.findChild(QMessageBox, "DeleteChatDialog")
    assert box is not None
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    with qtbot.waitSignal(panel.conversation_deleted) as deleted:
        delete.click()
    assert deleted.args == [chats["sourdough"]]
    with pytest.raises(UnknownConversationError):
        store.get_conversation(chats["sourdough"])
    assert panel.list_model.row_of(chats["sourdough"]) is None
    assert "Yesterday" not in panel.list_model.section_labels()
    assert panel.selected_id() is None and selected_ids(panel) == []


def test_delete_method(qtbot, panel, store, chats) -> None:
    panel.select(chats["rome"])
    with qtbot.waitSignal(panel.conversation_deleted) as deleted:
        panel.delete_conversation(chats["haiku"])
    assert deleted.args == [chats["haiku"]]
    assert panel.list_model.row_of(chats["haiku"]) is None
    assert selected_ids(panel) == [chats["rome"]]
    for conversation_id in (chats["rome"], chats["sourdough"], chats["regex"]):
        panel.delete_conversation(conversation_id)
    assert panel.empty_label.text() == EMPTY_LIST and panel.stack.currentWidget() is panel.empty_label


def test_focus_search(qtbot, panel, chats) -> None:
    panel.search_field.setText("old")
    panel.list_view.setFocus()
    panel.focus_search()
    qtbot.waitUntil(panel.search_field.hasFocus)
    assert panel.search_field.selectedText() == "old"  # typing replaces the last query


@OFFSCREEN_LIMITS
def test_right_click_opens_the_menu_of_that_chat(qtbot, panel, chats) -> None:
    center = row_center(panel, chats["regex"])
    viewport = panel.list_view.viewport()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, center, viewport.mapToGlobal(center))
    QApplication.sendEvent(viewport, event)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    popup = QApplication.activePopupWidget()
    assert isinstance(popup, QMenu)
    assert "Delete…" in [a.text() for a in popup.actions()]
    popup.close()


@OFFSCREEN_LIMITS
def test_rename_a_search_hit_in_a_dialog(qtbot, panel, store, chats) -> None:
    panel.search_field.setText("forum")
    qtbot.waitUntil(lambda: panel.hits_model.rowCount() == 1, timeout=SEARCH_DEBOUNCE_MS * 20)
    panel.hits_view.setCurrentIndex(panel.hits_model.index(0))
    qtbot.keyClick(panel.hits_view, Qt.Key.Key_F2)  # the list is hidden: a small dialog asks instead
    dialog = panel.findChild(QInputDialog, "RenameDialog")
    assert dialog is not None and dialog.textValue() == "Plan a trip to Rome"
    dialog.setTextValue("Rome, 3 days")
    dialog.accept()
    assert store.get_conversation(chats["rome"]).title == "Rome, 3 days"
    assert panel.hits_model.index(0).data(Roles.TITLE) == "Rome, 3 days"  # the hits were re-read
