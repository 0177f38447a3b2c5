"""Qt list models for the conversation sidebar: thin adapters over `ConversationStore`.

`ConversationListModel` shows `list_conversations()`: pinned chats first, under "Pinned", then the
rest grouped by date ("Today", "Yesterday", "Previous 7 days", "Previous 30 days", then one group per
month), with a non-selectable section row before each group. `SearchResultsModel` shows `search()`
hits. Both read the store only in `refresh()`/`search()`, never in `data()`, and `refresh()` applies
the difference as row inserts and removes, so the view keeps its selection and scroll position when
little changed.
"""

from __future__ import annotations

import difflib
import html
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import Final

from PySide6.QtCore import QAbstractListModel, QByteArray, QModelIndex, QObject, QPersistentModelIndex, Qt

from desktop_app.core.conversations import ConversationStore, ConversationSummary, SearchHit
from desktop_app.ui.plain_text import tooltip

Index = QModelIndex | QPersistentModelIndex
Clock = Callable[[], float]

MONTHS: Final = ("January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December")  # fmt: skip
# Control characters never typed into a chat, so a snippet's own "[" or "<b>" cannot be mistaken for
# a match marker; they are swapped for <b> tags after the text is HTML-escaped.
MARK_OPEN: Final = "\x02"
MARK_CLOSE: Final = "\x03"


class Roles(IntEnum):
    """Custom data roles shared by both models (a view's delegate reads these, not DisplayRole)."""

    KIND = Qt.ItemDataRole.UserRole + 1  # "section" | "conversation" | "hit"
    CONVERSATION_ID = Qt.ItemDataRole.UserRole + 2
    TITLE = Qt.ItemDataRole.UserRole + 3
    TIME = Qt.ItemDataRole.UserRole + 4  # short relative time: "now", "5m", "3h", "2d", "Oct 12"
    MODEL_NAME = Qt.ItemDataRole.UserRole + 5
    UPDATED_AT = Qt.ItemDataRole.UserRole + 6
    MESSAGE_ID = Qt.ItemDataRole.UserRole + 7
    SNIPPET_HTML = Qt.ItemDataRole.UserRole + 8  # escaped text, matches in <b>…</b>
    SNIPPET = Qt.ItemDataRole.UserRole + 9  # plain text
    MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 10  # "user" | "assistant" | "system"
    PINNED = Qt.ItemDataRole.UserRole + 11  # bool: listed under "Pinned"


ROLE_NAMES: Final = {role: role.name.lower().encode() for role in Roles}


def date_group(timestamp: float, now: float) -> str:
    """The sidebar group of a conversation last active at `timestamp`, in local calendar days."""
    day = date.fromtimestamp(timestamp)
    days = (date.fromtimestamp(now) - day).days
    if days <= 0:  # today, or a clock that moved backwards
        return "Today"
    if days == 1:
        return "Yesterday"
    if days <= 7:
        return "Previous 7 days"
    if days <= 30:
        return "Previous 30 days"
    return f"{MONTHS[day.month - 1]} {day.year}"


def short_age(timestamp: float, now: float) -> str:
    """A compact relative time that fits beside a title in a 232 px sidebar."""
    seconds = max(0.0, now - timestamp)
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)}d"
    moment = datetime.fromtimestamp(timestamp)
    text = f"{MONTHS[moment.month - 1][:3]} {moment.day}"
    if moment.year != datetime.fromtimestamp(now).year:
        text += f", {moment.year}"
    return text


def long_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def snippet_html(snippet: str) -> str:
    """Escape a marked snippet and bold its matches; whitespace runs (newlines too) become one space."""
    text = html.escape(re.sub(r"\s+", " ", snippet).strip(), quote=False)
    return text.replace(MARK_OPEN, "<b>").replace(MARK_CLOSE, "</b>")


def snippet_text(snippet: str) -> str:
    return re.sub(r"\s+", " ", snippet.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")).strip()


@dataclass(frozen=True)
class Section:
    label: str


Row = Section | ConversationSummary


def _key(row: Row) -> tuple[str, str | int]:
    return ("section", row.label) if isinstance(row, Section) else ("conversation", row.id)


PINNED: Final = "Pinned"


def grouped_rows(conversations: Sequence[ConversationSummary], now: float) -> list[Row]:
    """Conversations (pinned ones first, then the most recent) with a Section row before each group:
    "Pinned", then the date groups."""
    rows: list[Row] = []
    current = ""
    for conversation in conversations:
        group = PINNED if conversation.pinned else date_group(conversation.updated_at, now)
        if group != current:
            rows.append(Section(group))
            current = group
        rows.append(conversation)
    return rows


class ConversationListModel(QAbstractListModel):
    """The sidebar's conversations grouped by date. Section rows have no flags (not selectable, and
    skipped by the view's keyboard navigation); conversation rows are selectable."""

    def __init__(
        self, store: ConversationStore, parent: QObject | None = None, *, clock: Clock = time.time
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        self._rows: list[Row] = []
        self._now = clock()

    # -- reading the store -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the store and apply the difference: unchanged rows keep their indexes (and so the
        view's selection); moved ones are removed and re-inserted; changed ones emit dataChanged."""
        self._now = self._clock()
        self.set_rows(grouped_rows(self._store.list_conversations(), self._now))

    def set_rows(self, new_rows: Sequence[Row]) -> None:
        old_keys = [_key(row) for row in self._rows]
        new_keys = [_key(row) for row in new_rows]
        matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
        # Walk the edits from the end so that the old positions still to visit stay valid.
        for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
            if tag == "equal":
                self._rows[i1:i2] = list(new_rows[j1:j2])  # same keys; titles or times may differ
                continue
            if i2 > i1:
                self.beginRemoveRows(QModelIndex(), i1, i2 - 1)
                del self._rows[i1:i2]
                self.endRemoveRows()
            if j2 > j1:
                self.beginInsertRows(QModelIndex(), i1, i1 + (j2 - j1) - 1)
                self._rows[i1:i1] = list(new_rows[j1:j2])
                self.endInsertRows()
        if self._rows:
            # Titles may have changed, and relative times ("5m") age even when nothing else did.
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))

    # -- lookups for the view ----------------------------------------------------------------------

    def conversation_count(self) -> int:
        return sum(1 for row in self._rows if isinstance(row, ConversationSummary))

    def conversation_at(self, row: int) -> ConversationSummary | None:
        item = self._rows[row] if 0 <= row < len(self._rows) else None
        return item if isinstance(item, ConversationSummary) else None

    def row_of(self, conversation_id: int) -> int | None:
        for row, item in enumerate(self._rows):
            if isinstance(item, ConversationSummary) and item.id == conversation_id:
                return row
        return None

    def index_of(self, conversation_id: int) -> QModelIndex:
        row = self.row_of(conversation_id)
        return QModelIndex() if row is None else self.index(row)

    def section_labels(self) -> list[str]:
        return [row.label for row in self._rows if isinstance(row, Section)]

    # -- QAbstractListModel ------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return Qt.ItemFlag.NoItemFlags
        if isinstance(self._rows[index.row()], Section):
            return Qt.ItemFlag.NoItemFlags
        # Editable so the view can open the inline rename editor; the panel's delegate commits the
        # new title through the store (with error dialogs), not through setData.
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsEditable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        item = self._rows[index.row()]
        if isinstance(item, Section):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole, Roles.TITLE):
                return item.label
            if role == Roles.KIND:
                return "section"
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Roles.TITLE):
            return item.title
        if role == Roles.KIND:
            return "conversation"
        if role == Roles.CONVERSATION_ID:
            return item.id
        if role == Roles.TIME:
            return short_age(item.updated_at, self._now)
        if role == Roles.MODEL_NAME:
            return item.model_name or ""
        if role == Roles.UPDATED_AT:
            return item.updated_at
        if role == Roles.PINNED:
            return item.pinned
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [item.title + (" (pinned)" if item.pinned else "")]
            if item.model_name:
                lines.append(item.model_name)
            count = f"{item.message_count} message" + ("" if item.message_count == 1 else "s")
            lines.append(f"{count} · last active {long_time(item.updated_at)}")
            return tooltip("\n".join(lines))  # titles come from imported chats: shown literally
        if role == Qt.ItemDataRole.AccessibleTextRole:
            pinned = ", pinned" if item.pinned else ""
            return f"{item.title}{pinned}, last active {long_time(item.updated_at)}"
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({int(role): QByteArray(name) for role, name in ROLE_NAMES.items()})
        return names


class SearchResultsModel(QAbstractListModel):
    """Messages matching a query across all chats, best first (one row per message)."""

    def __init__(self, store: ConversationStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._hits: list[SearchHit] = []
        self.query = ""

    def search(self, query: str) -> None:
        """Run the full-text search (SQLite FTS5: a few ms) and show its hits; "" clears."""
        hits = self._store.search(query, marks=(MARK_OPEN, MARK_CLOSE)) if query.strip() else []
        self.query = query
        self.set_hits(hits)

    def set_hits(self, hits: Sequence[SearchHit]) -> None:
        self.beginResetModel()
        self._hits = list(hits)
        self.endResetModel()

    def hit_at(self, row: int) -> SearchHit | None:
        return self._hits[row] if 0 <= row < len(self._hits) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._hits)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._hits):
            return None
        hit = self._hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{hit.title}: {snippet_text(hit.snippet)}"
        if role == Roles.KIND:
            return "hit"
        if role == Roles.TITLE:
            return hit.title
        if role == Roles.CONVERSATION_ID:
            return hit.conversation_id
        if role == Roles.MESSAGE_ID:
            return hit.message_id
        if role == Roles.SNIPPET_HTML:
            return snippet_html(hit.snippet)
        if role == Roles.SNIPPET:
            return snippet_text(hit.snippet)
        if role == Roles.MESSAGE_ROLE:
            return hit.role
        if role == Qt.ItemDataRole.ToolTipRole:
            who = {"user": "You", "assistant": "Assistant", "system": "System prompt"}[hit.role]
            return tooltip(f"{hit.title}\n{who}: {snippet_text(hit.snippet)}")
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{hit.title}: {snippet_text(hit.snippet)}"
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({int(role): QByteArray(name) for role, name in ROLE_NAMES.items()})
        return names
