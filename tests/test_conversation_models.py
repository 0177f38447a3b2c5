"""The sidebar's Qt models on a real SQLite store: date groups, incremental refresh, search hits, and
qtmodeltester watching every change."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt

from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.ui.conversation_models import (
    MARK_CLOSE,
    MARK_OPEN,
    ConversationListModel,
    Roles,
    SearchResultsModel,
    date_group,
    short_age,
    snippet_html,
)

NOW = datetime(2026, 11, 14, 15, 0)  # local time: groups are local calendar days


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment.timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> ConversationStore:
    return ConversationStore(Database(tmp_path / "hearth.db"), clock=clock)


def add_chat(
    store: ConversationStore, clock: Clock, title: str, when: datetime, model: str | None = None
) -> int:
    clock.at(when)
    conversation = store.create_conversation(model_name=model)
    store.add_message(conversation.id, "user", title)
    store.add_message(conversation.id, "assistant", f"An answer about {title.lower()}.")
    clock.at(NOW)
    return conversation.id


SPREAD = [  # (title, how long before NOW); one or more chats in every kind of group
    ("Mutex or semaphore", timedelta(minutes=5)),
    ("Haiku about autumn", timedelta(hours=14)),  # 01:00 today
    ("Rename photos by date", timedelta(hours=16)),  # 23:00 yesterday
    ("Trip to Rome", timedelta(days=3)),
    ("Window functions", timedelta(days=7)),
    ("Fusion energy summary", timedelta(days=12)),
    ("Sourdough that will not rise", timedelta(days=30)),
    ("Regex for dates", timedelta(days=40)),  # 5 October
    ("Birthday message", timedelta(days=45)),  # 30 September
    ("Capital of Australia", timedelta(days=400)),  # October 2025
]


def fill(store: ConversationStore, clock: Clock) -> dict[str, int]:
    return {title: add_chat(store, clock, title, NOW - ago, "Gemma 3 270M") for title, ago in SPREAD}


def titles(model: ConversationListModel) -> list[str]:
    return [str(model.index(row).data(Roles.TITLE)) for row in range(model.rowCount())]


def test_date_group_boundaries() -> None:
    now = NOW.timestamp()
    midnight = datetime(2026, 11, 14)
    assert date_group(now, now) == "Today"
    assert date_group(midnight.timestamp(), now) == "Today"
    assert date_group((midnight - timedelta(seconds=1)).timestamp(), now) == "Yesterday"
    assert date_group((NOW - timedelta(days=2)).timestamp(), now) == "Previous 7 days"
    assert date_group((NOW - timedelta(days=7)).timestamp(), now) == "Previous 7 days"
    assert date_group((NOW - timedelta(days=8)).timestamp(), now) == "Previous 30 days"
    assert date_group((NOW - timedelta(days=30)).timestamp(), now) == "Previous 30 days"
    assert date_group((NOW - timedelta(days=31)).timestamp(), now) == "October 2026"
    assert date_group(datetime(2025, 11, 20).timestamp(), now) == "November 2025"
    assert date_group(now + 3600, now) == "Today"  # a clock that went backwards


def test_short_age() -> None:
    now = NOW.timestamp()
    assert short_age(now - 20, now) == "now"
    assert short_age(now - 5 * 60, now) == "5m"
    assert short_age(now - 3 * 3600, now) == "3h"
    assert short_age(now - 2 * 86400, now) == "2d"
    assert short_age(datetime(2026, 10, 12, 9).timestamp(), now) == "Oct 12"
    assert short_age(datetime(2025, 10, 12, 9).timestamp(), now) == "Oct 12, 2025"


def test_list_model_groups_by_date_under_qtmodeltester(qtmodeltester, store, clock) -> None:
    fill(store, clock)
    model = ConversationListModel(store, clock=clock)
    model.refresh()
    qtmodeltester.check(model)
    assert model.section_labels() == [
        "Today", "Yesterday", "Previous 7 days", "Previous 30 days", "October 2026", "September 2026",
        "October 2025",
    ]  # fmt: skip
    assert titles(model) == [
        "Today", "Mutex or semaphore", "Haiku about autumn",
        "Yesterday", "Rename photos by date",
        "Previous 7 days", "Trip to Rome", "Window functions",
        "Previous 30 days", "Fusion energy summary", "Sourdough that will not rise",
        "October 2026", "Regex for dates",
        "September 2026", "Birthday message",
        "October 2025", "Capital of Australia",
    ]  # fmt: skip
    assert model.conversation_count() == len(SPREAD)

    section, first = model.index(0), model.index(1)
    assert section.data(Roles.KIND) == "section"
    assert not section.flags() & Qt.ItemFlag.ItemIsSelectable
    assert not section.flags() & Qt.ItemFlag.ItemIsEnabled  # the view's arrow keys skip it
    assert first.data(Roles.KIND) == "conversation"
    assert first.flags() & Qt.ItemFlag.ItemIsSelectable
    assert first.data(Roles.TIME) == "5m"
    assert first.data(Roles.MODEL_NAME) == "Gemma 3 270M"
    tooltip = str(first.data(Qt.ItemDataRole.ToolTipRole))
    assert "Mutex or semaphore" in tooltip and "Gemma 3 270M" in tooltip and "2 messages" in tooltip
    assert str(first.data(Qt.ItemDataRole.AccessibleTextRole)).startswith("Mutex or semaphore, last active")
    assert model.index(model.rowCount() - 1).data(Roles.TIME) == "Oct 10, 2025"


def test_refresh_applies_changes_as_row_edits(qtmodeltester, store, clock) -> None:
    ids = fill(store, clock)
    model = ConversationListModel(store, clock=clock)
    model.refresh()
    qtmodeltester.check(model)  # stays attached: every change below is checked too
    rome = QPersistentModelIndex(model.index_of(ids["Trip to Rome"]))
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))

    model.refresh()  # nothing changed: no rows move
    assert (inserted, removed) == ([], [])

    new_id = add_chat(store, clock, "Brand new chat", NOW)
    model.refresh()
    assert inserted == [(1, 1)] and removed == []
    assert model.index(1).data(Roles.CONVERSATION_ID) == new_id
    assert rome.isValid() and rome.data(Roles.TITLE) == "Trip to Rome"  # unchanged rows keep indexes

    store.rename(ids["Trip to Rome"], "Three days in Rome")
    model.refresh()
    assert rome.isValid() and rome.data(Roles.TITLE) == "Three days in Rome"

    store.delete_conversation(ids["Birthday message"])  # its month group goes with it
    model.refresh()
    assert "September 2026" not in model.section_labels()
    assert model.row_of(ids["Birthday message"]) is None

    clock.at(NOW + timedelta(minutes=1))
    store.add_message(ids["Capital of Australia"], "user", "And of Canada?")  # jumps to the top
    model.refresh()
    assert model.index(1).data(Roles.CONVERSATION_ID) == ids["Capital of Australia"]
    assert "October 2025" not in model.section_labels()
    assert rome.isValid() and rome.data(Roles.TITLE) == "Three days in Rome"

    for conversation_id in ids.values():
        if model.row_of(conversation_id) is not None:
            store.delete_conversation(conversation_id)
    store.delete_conversation(new_id)
    model.refresh()
    assert model.rowCount() == 0


def test_relative_times_age_on_refresh(store, clock) -> None:
    add_chat(store, clock, "Hello", NOW - timedelta(minutes=2))
    model = ConversationListModel(store, clock=clock)
    model.refresh()
    assert model.index(1).data(Roles.TIME) == "2m"
    clock.at(NOW + timedelta(hours=3))
    changed: list[int] = []
    model.dataChanged.connect(lambda top, bottom, roles=(): changed.append(bottom.row()))
    model.refresh()
    assert model.index(1).data(Roles.TIME) == "3h"
    assert changed  # the view is told to repaint the new text


def test_search_model_under_qtmodeltester(qtmodeltester, store, clock) -> None:
    ids = fill(store, clock)
    tricky = add_chat(store, clock, "Rome <b>bold</b> & [brackets]", NOW)
    model = SearchResultsModel(store)
    qtmodeltester.check(model)
    model.search("rome")
    assert model.rowCount() == 4  # two chats, each with a user message and an answer
    assert {model.index(row).data(Roles.CONVERSATION_ID) for row in range(4)} == {ids["Trip to Rome"], tricky}
    for row in range(model.rowCount()):
        index = model.index(row)
        hit = model.hit_at(row)
        assert hit is not None
        assert index.data(Roles.MESSAGE_ID) == hit.message_id
        assert index.data(Roles.MESSAGE_ROLE) in ("user", "assistant")
        assert index.flags() & Qt.ItemFlag.ItemIsSelectable
    rows = {
        str(model.index(r).data(Roles.SNIPPET)): str(model.index(r).data(Roles.SNIPPET_HTML))
        for r in range(4)
    }
    html = rows["Rome <b>bold</b> & [brackets]"]  # the user's text is escaped; only the match is bold
    assert html == "<b>Rome</b> &lt;b&gt;bold&lt;/b&gt; &amp; [brackets]"
    model.search("   ")
    assert model.rowCount() == 0
    model.search("c++ a:b")  # not valid FTS5 syntax: searched as words, no error
    assert model.rowCount() == 0


def test_snippet_html_marks_and_whitespace() -> None:
    snippet = f"…line one\n\nthe {MARK_OPEN}match{MARK_CLOSE} & <i>more</i>"
    assert snippet_html(snippet) == "…line one the <b>match</b> &amp; &lt;i&gt;more&lt;/i&gt;"
