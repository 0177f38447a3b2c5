"""A chat remembers its model (issue #18, items 5 and 9): a reopened chat offers "Load <model> to
continue", what needs a model is disabled and says why, loads from the top bar count as "last used",
and the last used model can load at start. The real window, stores and inference thread, with a
scripted engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import starter
from desktop_app.core.library import LibraryModel
from desktop_app.core.settings import AppSettings
from desktop_app.ui.main_window import LOAD_LAST_MODEL, MainWindow
from tests.chat_window import items, load, open_window, painted, send
from tests.fake_engine import ScriptedEngine

HAS_PREF = LOAD_LAST_MODEL in AppSettings.__dataclass_fields__
NEEDS_PREF = pytest.mark.skipif(
    not HAS_PREF, reason="AppSettings has no load_last_model field yet (core/settings.py)"
)


@pytest.fixture(autouse=True)
def no_starter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)


@pytest.fixture
def window(qtbot):
    win = open_window(qtbot, ScriptedEngine())
    yield win
    win.close()


def _library_model(window: MainWindow, tiny_gguf, name: str) -> LibraryModel:
    model = window.library_store.import_file(tiny_gguf(name=name), link=True)
    window._refresh_model_picker()
    return model


def test_a_chat_remembers_the_model_that_answered_it_last(qtbot, window, tiny_gguf) -> None:
    alpha = _library_model(window, tiny_gguf, "Alpha")
    beta = _library_model(window, tiny_gguf, "Beta")
    load(qtbot, window, alpha)
    send(qtbot, window, "Hello")
    chat = window.chat.conversation
    assert chat is not None
    stored = window.conversations.get_conversation(chat.id)
    assert (stored.model_id, stored.model_name) == (alpha.id, "Alpha")
    load(qtbot, window, beta)
    assert window.chat.model_offer.isVisibleTo(window.chat)  # the chat was with Alpha
    assert "Replies now come from Beta" in window.chat.model_offer.text.text()
    send(qtbot, window, "And now?")  # the user goes on with Beta: the chat now remembers Beta
    assert window.conversations.get_conversation(chat.id).model_id == beta.id
    assert not window.chat.model_offer.isVisibleTo(window.chat)


def test_a_reopened_chat_offers_its_model_and_disables_what_needs_one(qtbot, window, tiny_gguf) -> None:
    alpha = _library_model(window, tiny_gguf, "Alpha")
    store = window.conversations
    chat = store.create_conversation("Old chat", model_name="Alpha", model_id=alpha.id)
    store.add_message(chat.id, "user", "Hi")
    reply = store.add_message(chat.id, "assistant", "Hello there")
    window.open_conversation(chat.id)
    page = window.chat
    offer = page.model_offer
    assert offer.isVisibleTo(page) and offer.button.isVisibleTo(offer)
    assert offer.button.text() == "Load Alpha to continue"
    assert not page.composer.input.isEnabled()
    assert "Load Alpha" in page.composer.input.placeholderText()
    reason = page.view.delegate.blocked
    assert reason is not None and "Load Alpha" in reason
    # a click on the painted Regenerate says why instead of doing nothing
    notices: list[str] = []
    page.view.notice.connect(notices.append)
    triggered: list[tuple[str, int]] = []
    page.view.action_triggered.connect(lambda key, mid: triggered.append((key, mid)))
    row = page.view.chat_model.row_of(reply.id)
    assert row is not None
    page.view.activate("action", "regenerate", row, page.view.chat_model.item(row))
    assert notices == [reason] and not triggered
    # the offer loads it; then everything is enabled again and the offer goes
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000):
        offer.button.click()
    qtbot.waitUntil(page.composer.input.isEnabled, timeout=10_000)
    assert page.view.delegate.blocked is None
    assert not offer.isVisibleTo(page)
    assert window.library_store.get(alpha.id).last_used_at is not None


def test_a_chat_whose_model_is_gone_says_so(qtbot, window) -> None:
    store = window.conversations
    chat = store.create_conversation("Old chat", model_name="Vanished 7B", model_path="/nowhere/v.gguf")
    store.add_message(chat.id, "user", "Hi")
    store.add_message(chat.id, "assistant", "Hello")
    window.open_conversation(chat.id)
    offer = window.chat.model_offer
    assert offer.isVisibleTo(window.chat) and not offer.button.isVisibleTo(offer)
    assert "Vanished 7B, which is no longer in your library" in offer.text.text()


def test_loads_from_the_top_bar_count_as_last_used(qtbot, window, tiny_gguf) -> None:
    alpha = _library_model(window, tiny_gguf, "Alpha")
    assert window.library_store.get(alpha.id).last_used_at is None
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000):
        window.chat.header.model_chosen.emit(alpha)  # what picking it in the top bar does
    assert window.library_store.get(alpha.id).last_used_at is not None
    last = window.last_used_model()
    assert last is not None and last.id == alpha.id


def test_the_empty_chat_offers_the_last_used_model(qtbot, window, tiny_gguf) -> None:
    alpha = _library_model(window, tiny_gguf, "Alpha")
    _library_model(window, tiny_gguf, "Beta")
    window.library_store.touch(alpha.id)
    window._refresh_model_picker()
    empty = window.chat.empty
    assert empty.load_button.isVisibleTo(empty) and empty.load_button.text() == "Load Alpha"
    assert empty.auto_load.isVisibleTo(empty) and not empty.auto_load.isChecked()
    with qtbot.waitSignal(window.inference.loaded, timeout=30_000) as loaded:
        empty.load_button.click()
    assert loaded.args[0].summary.name == "Alpha"


@NEEDS_PREF
def test_the_last_used_model_loads_at_start_when_asked(qtbot, window, tiny_gguf) -> None:
    alpha = _library_model(window, tiny_gguf, "Alpha")
    window.library_store.touch(alpha.id)
    window._refresh_model_picker()
    window.chat.empty.auto_load.setChecked(True)
    window.close()
    again = open_window(qtbot, ScriptedEngine())
    try:
        assert again.chat.empty.auto_load.isChecked()
        qtbot.waitUntil(lambda: again.inference.loaded_model is not None, timeout=30_000)
        loaded = again.inference.loaded_model
        assert loaded is not None and loaded.summary.name == "Alpha"
    finally:
        again.close()


def test_export_says_where_it_wrote(qtbot, window, tmp_path: Path) -> None:
    store = window.conversations
    chat = store.create_conversation("Sailing")
    store.add_message(chat.id, "user", "Knots?")
    window.chat_list.refresh()
    target = window.chat_list.export_conversation(chat.id, tmp_path / "sailing.md", "md")
    assert window.status_message.text() == f"Exported “Sailing” to {target}"


def test_a_chat_that_ends_with_the_users_message_offers_reply(qtbot, window, tiny_gguf) -> None:
    store = window.conversations
    chat = store.create_conversation("Imported")
    store.add_message(chat.id, "user", "First question")
    store.add_message(chat.id, "assistant", "First answer")
    last = store.add_message(chat.id, "user", "Second question")
    window.open_conversation(chat.id)
    assert "reply" in painted(window, last.id)
    assert "reply" not in painted(window, items(window)[0].id)
    load(qtbot, window, _library_model(window, tiny_gguf, "Alpha"))
    window.chat.view.action_triggered.emit("reply", last.id)
    qtbot.waitUntil(lambda: not window.chat.generating, timeout=30_000)
    answer = items(window)[-1]
    assert answer.role == "assistant" and answer.content == "You said: Second question"
    assert answer.message.parent_id == last.id
    assert "reply" not in painted(window, last.id)  # answered: the button goes
    stored = store.path(chat.id)
    assert [m.content for m in stored][-2:] == ["Second question", "You said: Second question"]


@pytest.mark.skipif(
    "starter_note_closed" not in AppSettings.__dataclass_fields__,
    reason="AppSettings has no starter_note_closed field yet (core/settings.py)",
)
def test_a_closed_starter_note_stays_closed_after_a_restart(qtbot, window, tmp_path: Path) -> None:
    from tests.tiny_gguf import write_tiny_model

    fake_starter = write_tiny_model(tmp_path / starter.FILE_NAME)  # the starter is known by its name
    load(qtbot, window, fake_starter)
    window.chat.banner.close_button.click()
    window.close()
    again = open_window(qtbot, ScriptedEngine())
    try:
        load(qtbot, again, fake_starter)
        assert not again.chat.banner.isVisibleTo(again.chat)
    finally:
        again.close()


@pytest.mark.qt_log_ignore(r"^This plugin does not support ")  # a tooltip is a window offscreen
def test_a_disabled_button_says_why_on_hover(qtbot, window) -> None:
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    store = window.conversations
    chat = store.create_conversation("Old chat", model_name="Alpha")
    store.add_message(chat.id, "user", "Hi")
    reply = store.add_message(chat.id, "assistant", "Hello")
    window.open_conversation(chat.id)
    view = window.chat.view
    painted(window, reply.id)
    item = view.chat_model.item_by_id(reply.id)
    assert item is not None
    layout = view.delegate.layout_for(item, view.viewport().width())
    spot = next(rect for key, _, rect in layout.actions if key == "regenerate").center()
    row = view.chat_model.row_of(reply.id)
    assert row is not None
    at = view.visualRect(view.chat_model.index(row, 0)).topLeft() + spot
    event = QHelpEvent(QEvent.Type.ToolTip, at, view.viewport().mapToGlobal(at))
    QApplication.sendEvent(view.viewport(), event)
    assert QToolTip.isVisible() and QToolTip.text() == view.delegate.blocked
    assert "Load Alpha" in QToolTip.text()
    event = QHelpEvent(QEvent.Type.ToolTip, QPoint(1, 1), view.viewport().mapToGlobal(QPoint(1, 1)))
    QApplication.sendEvent(view.viewport(), event)  # nothing under the mouse: the tooltip goes
    qtbot.waitUntil(lambda: not QToolTip.isVisible(), timeout=2_000)


def test_the_empty_chat_points_new_users_to_discover(qtbot, window) -> None:
    empty = window.chat.empty
    assert "recommended for this computer" in empty.text.text()
    empty.choose_button.click()
    assert window.pages.currentWidget() is window.models
    assert window.models.tabs.currentWidget() is window.models.discover
