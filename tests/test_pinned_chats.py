"""Pinned chats: pin and unpin from the chat's menu, pinned ones listed first under "Pinned", kept
across restarts (a schema migration adds the column to an existing database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core import db as db_module
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.ui.conversation_models import PINNED, Roles
from desktop_app.ui.conversation_panel import ConversationPanel


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 60.0  # every write a minute later
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(Database(tmp_path / "hearth.db"), clock=Clock())


def _chat(store: ConversationStore, title: str) -> int:
    chat = store.create_conversation(title)
    store.add_message(chat.id, "user", f"About {title}")
    return chat.id


def test_pinned_chats_come_first_and_keep_their_activity(store: ConversationStore) -> None:
    old, middle, new = (_chat(store, t) for t in ("Old", "Middle", "New"))
    assert [c.id for c in store.list_conversations()] == [new, middle, old]
    updated = store.get_conversation(old).updated_at
    store.set_pinned(old, True)
    store.set_pinned(middle, True)
    listed = store.list_conversations()
    assert [(c.id, c.pinned) for c in listed] == [(middle, True), (old, True), (new, False)]
    assert store.get_conversation(old).updated_at == updated  # pinning is not activity
    assert listed[0].to_dict()["pinned"] is True
    store.set_pinned(middle, False)
    assert [c.id for c in store.list_conversations()] == [old, new, middle]


def test_an_older_database_gains_the_pin_column_and_keeps_its_chats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        patch.setattr(db_module, "MIGRATIONS", db_module.MIGRATIONS[:3])
        patch.setattr(db_module, "SCHEMA_VERSION", 3)
        v3 = Database(path)
        kept = _chat(ConversationStore(v3), "Kept")
        v3.close()
    upgraded = Database(path)
    assert upgraded.connection().execute("PRAGMA user_version").fetchone()[0] == db_module.SCHEMA_VERSION
    store = ConversationStore(upgraded)
    assert [(c.id, c.title, c.pinned) for c in store.list_conversations()] == [(kept, "Kept", False)]
    assert store.set_pinned(kept, True).pinned_at is not None


def test_the_menu_pins_and_the_list_shows_a_pinned_section(qtbot, store: ConversationStore) -> None:
    first, second = _chat(store, "First"), _chat(store, "Second")
    host = QWidget()
    panel = ConversationPanel(store, host)
    panel.setGeometry(0, 0, 232, 600)
    qtbot.addWidget(host)
    menu = panel.context_menu(first)
    pin = next(a for a in menu.actions() if a.text() == "Pin to top")
    pin.trigger()
    model = panel.list_model
    assert model.section_labels()[0] == PINNED
    top = model.conversation_at(1)
    assert top is not None and top.id == first
    assert model.index_of(first).data(Roles.PINNED) is True
    assert model.index_of(second).data(Roles.PINNED) is False
    again = ConversationPanel(store, host)  # a restart: the pin was stored
    assert again.list_model.section_labels()[0] == PINNED
    unpin = next(a for a in panel.context_menu(first).actions() if a.text() == "Unpin")
    unpin.trigger()
    assert PINNED not in panel.list_model.section_labels()
