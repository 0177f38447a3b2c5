"""The Qt model behind the chat view: one row per message of the branch on screen.

A thin adapter over conversations.Message plus the view state the store does not hold (the live text of
a streaming reply, whether its Thinking section is open). Every change bumps the row's `version`, which
is what the delegate keys its rendered-document cache on, and emits dataChanged for that row only: a
streaming reply never makes the view re-render the other 499 messages.

Versions come from one counter per model, never reused: a row rebuilt for the same message (another
branch shown, then this one again, with its "2/3" now "2/4") gets a version no cached layout has, so
the delegate can never paint a stale layout for it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from desktop_app.core.conversations import Message
from desktop_app.core.documents.passages import Passage

ItemRole = Qt.ItemDataRole.UserRole + 1
ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass
class ChatItem:
    message: Message
    position: tuple[int, int] = (1, 1)  # place among its siblings, and how many there are
    live: bool = False  # streaming now: shown as plain text, Markdown once it ends
    thinking_open: bool = False
    version: int = 0
    answer_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    awaiting_reply: bool = False  # the user's message that ends the branch: it offers "Reply"
    live_tps: float = 0.0  # a streaming reply's speed so far (0: not known yet)
    sources: list[Passage] = field(default_factory=list)  # what a reply was shown from documents

    @property
    def id(self) -> int:
        return self.message.id

    @property
    def role(self) -> str:
        return self.message.role

    @property
    def content(self) -> str:
        if self.live:
            return self.message.content + "".join(self.answer_parts)
        return self.message.content

    @property
    def reasoning(self) -> str:
        if self.live:
            return self.message.reasoning + "".join(self.reasoning_parts)
        return self.message.reasoning


class ChatModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self._items: list[ChatItem] = []
        self._rows: dict[int, int] = {}  # message id -> row
        self._versions = itertools.count(1)  # every item and every change gets a fresh version

    # -- the Qt interface --------------------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == ItemRole:
            return item
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return item.content
        if role == Qt.ItemDataRole.AccessibleTextRole:
            who = "You" if item.role == "user" else (item.message.model or "Assistant")
            return f"{who}: {item.content}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return None
        return None

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- changes -----------------------------------------------------------------------------------

    def set_messages(
        self,
        messages: list[Message],
        positions: dict[int, tuple[int, int]],
        sources: dict[int, list[Passage]] | None = None,
    ) -> None:
        """Show a branch; `sources`: message id -> the documents' passages its reply was shown."""
        found = sources or {}
        self.beginResetModel()
        self._items = [
            ChatItem(
                m,
                positions.get(m.id, (1, 1)),
                version=next(self._versions),
                sources=list(found.get(m.id, [])),
            )
            for m in messages
        ]
        self._reindex()
        self._mark_tail(quiet=True)
        self.endResetModel()

    def append(self, message: Message, *, position: tuple[int, int] = (1, 1), live: bool = False) -> None:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        item = ChatItem(message, position, live=live, thinking_open=live, version=next(self._versions))
        self._items.append(item)
        self._rows[message.id] = row
        self.endInsertRows()
        self._mark_tail()

    def truncate(self, rows: int) -> None:
        """Keep the first `rows` rows (an edit or a regeneration replaces what follows)."""
        if rows >= len(self._items):
            return
        self.beginRemoveRows(QModelIndex(), rows, len(self._items) - 1)
        del self._items[rows:]
        self._reindex()
        self.endRemoveRows()
        self._mark_tail()

    def append_text(self, message_id: int, kind: str, text: str) -> None:
        item = self.item_by_id(message_id)
        if item is None or not item.live:
            return
        (item.reasoning_parts if kind == "reasoning" else item.answer_parts).append(text)
        self._changed(item)

    def finish(self, message: Message) -> None:
        """The reply ended: show the stored message (text, stats, state) as Markdown from now on."""
        item = self.item_by_id(message.id)
        if item is None:
            return
        item.message = message
        item.live = False
        item.live_tps = 0.0
        item.answer_parts.clear()
        item.reasoning_parts.clear()
        item.thinking_open = False
        self._changed(item)

    def restart_live(self, message: Message) -> None:
        """Continue: the reply streams again, on top of its current text."""
        item = self.item_by_id(message.id)
        if item is None:
            return
        item.message = message
        item.live = True
        self._changed(item)

    def set_sources(self, message_id: int, sources: list[Passage]) -> None:
        """The passages a reply is shown (they arrive before its text): its citation chips."""
        item = self.item_by_id(message_id)
        if item is not None:
            item.sources = list(sources)
            self._changed(item)

    def set_live_speed(self, message_id: int, tps: float) -> None:
        """A streaming reply's speed so far; shown with its next text batch (no repaint of its own)."""
        item = self.item_by_id(message_id)
        if item is not None and item.live:
            item.live_tps = tps

    def toggle_thinking(self, row: int) -> None:
        if 0 <= row < len(self._items):
            item = self._items[row]
            item.thinking_open = not item.thinking_open
            self._changed(item)

    # -- reads -------------------------------------------------------------------------------------

    def items(self) -> list[ChatItem]:
        return list(self._items)

    def item(self, row: int) -> ChatItem:
        return self._items[row]

    def item_by_id(self, message_id: int) -> ChatItem | None:
        row = self._rows.get(message_id)
        return None if row is None else self._items[row]

    def row_of(self, message_id: int) -> int | None:
        return self._rows.get(message_id)

    def _changed(self, item: ChatItem) -> None:
        item.version = next(self._versions)
        row = self._rows[item.id]
        index = self.index(row, 0)
        self.dataChanged.emit(index, index, [ItemRole])

    def _reindex(self) -> None:
        self._rows = {item.id: row for row, item in enumerate(self._items)}

    def _mark_tail(self, *, quiet: bool = False) -> None:
        """Only a user's message that ends the branch (an imported chat, a reply deleted) awaits a
        reply; a row whose flag changes is repainted (`quiet` inside a reset: no signals)."""
        last = len(self._items) - 1
        for row, item in enumerate(self._items):
            awaiting = row == last and item.role == "user"
            if item.awaiting_reply != awaiting:
                item.awaiting_reply = awaiting
                if quiet:
                    item.version = next(self._versions)
                else:
                    self._changed(item)
