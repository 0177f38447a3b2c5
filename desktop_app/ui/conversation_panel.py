"""The conversation sidebar: New chat, a full-text search box, and the chats grouped by date.

The panel only reads and edits the store and says what the user picked; the main window opens chats.
Opening is explicit (a click or Enter): Up/Down only move the highlight, so browsing the list with the
keyboard never reloads the chat view. Rename, export and delete go through public methods that raise
`HearthError`s (tests and the window call them directly); the menu and key paths ask first (inline
editor, save dialog, confirmation) and show errors with `show_error`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QHideEvent, QIcon, QKeyEvent, QPainter, QPen, QPixmap, QShowEvent
from PySide6.QtWidgets import QLineEdit, QMenu, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.core.conversations import ConversationStore, ExportFormat, read_chat_file, write_export
from desktop_app.core.errors import HearthError
from desktop_app.ui.conversation_delegates import ConversationDelegate, HitDelegate
from desktop_app.ui.conversation_dialogs import (
    ask_new_title,
    choose_export_file,
    choose_import_file,
    confirm_delete,
)
from desktop_app.ui.conversation_models import (
    Clock,
    ConversationListModel,
    Roles,
    SearchResultsModel,
)
from desktop_app.ui.error_dialog import show_error
from desktop_app.ui.sidebar_list_view import SidebarListView
from desktop_app.ui.theme import current_colors
from desktop_app.ui.widgets import button, label

SEARCH_DEBOUNCE_MS = 200
AGE_REFRESH_MS = 60_000  # relative times ("5m") and the date groups age while the app is open
EMPTY_LIST = "No chats yet — start one with New chat"


def _search_icon(color: str) -> QIcon:
    """A magnifier drawn at run time, so the search field needs no icon files and follows the theme."""
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(color), 3.2)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.drawEllipse(QPointF(13.5, 13.5), 8.0, 8.0)
    painter.drawLine(QPointF(19.5, 19.5), QPointF(26.5, 26.5))
    painter.end()
    return QIcon(pixmap)


class ConversationPanel(QWidget):
    """New chat, search and the grouped chat list, for the main window's sidebar."""

    new_chat_requested = Signal()
    conversation_selected = Signal(int)  # conversation id
    hit_selected = Signal(int, int)  # conversation id, message id (jump to that message)
    conversation_deleted = Signal(int)
    conversation_imported = Signal(int)
    status = Signal(str)  # what an action did ("Exported to …"), for the status bar

    def __init__(
        self, store: ConversationStore, parent: QWidget | None = None, *, clock: Clock = time.time
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ConversationPanel")
        self.store = store
        self._selected_id: int | None = None
        self._last_export_dir: Path | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)

        self.new_chat_button = button("+  New chat", "primary", tooltip="Start a new chat")
        self.new_chat_button.setAccessibleName("New chat")
        self.new_chat_button.clicked.connect(self.new_chat_requested)
        layout.addWidget(self.new_chat_button)

        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search chats")
        self.search_field.setAccessibleName("Search chats")
        self.search_field.setToolTip("Find text in any message of any chat")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.addAction(
            _search_icon(current_colors().muted), QLineEdit.ActionPosition.LeadingPosition
        )
        self.search_field.installEventFilter(self)
        layout.addWidget(self.search_field)

        self.list_model = ConversationListModel(store, self, clock=clock)
        self.list_view = SidebarListView("Conversations")
        self.list_view.setModel(self.list_model)
        self.delegate = ConversationDelegate(self.list_view)
        self.list_view.setItemDelegate(self.delegate)

        self.hits_model = SearchResultsModel(store, self)
        self.hits_view = SidebarListView("Search results")
        self.hits_view.setModel(self.hits_model)
        self.hits_view.setItemDelegate(HitDelegate(self.hits_view))
        self.hits_view.setWordWrap(True)

        self.empty_label = label("", "muted", wrap=True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.empty_label.setContentsMargins(8, 24, 8, 0)
        self.empty_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)

        self.stack = QStackedWidget()
        for widget in (self.list_view, self.hits_view, self.empty_label):
            self.stack.addWidget(widget)
        layout.addWidget(self.stack, 1)
        self.import_button = button("Import a chat…", "ghost", tooltip="Add a chat exported as JSON")
        self.import_button.setAccessibleName("Import a chat")
        self.import_button.clicked.connect(self.ask_import)
        layout.addWidget(self.import_button, alignment=Qt.AlignmentFlag.AlignLeft)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._run_search)
        self.search_field.textChanged.connect(self._query_changed)
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self.refresh)

        self.list_view.clicked.connect(self._open_index)
        self.list_view.open_requested.connect(self._open_index)
        self.list_view.delete_requested.connect(self._delete_index)
        self.list_view.rename_requested.connect(self._rename_index)
        self.list_view.menu_requested.connect(self._show_menu)
        self.hits_view.clicked.connect(self._open_hit)
        self.hits_view.open_requested.connect(self._open_hit)
        self.hits_view.delete_requested.connect(self._delete_index)
        self.hits_view.rename_requested.connect(self._rename_index)
        self.hits_view.menu_requested.connect(self._show_menu)
        self.delegate.rename_committed.connect(self._rename_committed)
        self.refresh()

    # -- public API --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the list (and the search, when one is shown); the highlighted chat stays."""
        scroll = self.list_view.verticalScrollBar().value()
        self.list_model.refresh()
        browsing = self.list_view.hasFocus() and self.list_view.currentIndex().isValid()
        if not browsing:  # don't pull the keyboard's place back while the user moves through the list
            self._restore_selection()
        self.list_view.verticalScrollBar().setValue(scroll)
        if self.search_field.text().strip():
            self._run_search()
        else:
            self._show_current()

    def select(self, conversation_id: int | None) -> None:
        """Highlight a chat (the one the window shows) without emitting conversation_selected. A chat
        not listed yet (just created) is highlighted by the next refresh(); None clears."""
        self._selected_id = conversation_id
        self._restore_selection()
        index = self.list_model.index_of(conversation_id) if conversation_id is not None else None
        if index is not None and index.isValid():
            self.list_view.scrollTo(index)

    def selected_id(self) -> int | None:
        return self._selected_id

    def focus_search(self) -> None:
        self.search_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_field.selectAll()

    def rename_conversation(self, conversation_id: int, title: str) -> bool:
        """Rename; False (and nothing changes) for an empty or blank title. Raises HearthError."""
        if not title.strip():
            return False
        self.store.rename(conversation_id, title)
        self.refresh()
        return True

    def export_conversation(self, conversation_id: int, path: Path, fmt: ExportFormat) -> Path:
        """Write the chat as Markdown ("md") or JSON ("json", the `hearth chats export` shape) to `path`,
        via a temporary file so a failed write never leaves half a file. Raises HearthError."""
        write_export(path, self.store.export_text(conversation_id, fmt))
        self._last_export_dir = path.parent
        self.status.emit(f"Exported “{self._title_of(conversation_id)}” to {path}")
        return path

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        """Pin a chat to the top of the list, or unpin it. Raises HearthError."""
        self.store.set_pinned(conversation_id, pinned)
        self.refresh()
        self.select(self._selected_id)  # keep the open chat highlighted where it moved to

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete without asking (the menu and the Delete key ask first). Raises HearthError."""
        self.store.delete_conversation(conversation_id)
        if self._selected_id == conversation_id:
            self._selected_id = None
        self.refresh()
        self.conversation_deleted.emit(conversation_id)

    def context_menu(self, conversation_id: int) -> QMenu:
        """The menu for one chat (right click, the Menu key); its actions ask before acting."""
        menu = QMenu(self)
        menu.setAccessibleName("Chat actions")
        menu.addAction("Rename", lambda: self.ask_rename(conversation_id))
        pinned = self._is_pinned(conversation_id)
        menu.addAction(
            "Unpin" if pinned else "Pin to top",
            lambda: self._guarded(lambda: self.set_pinned(conversation_id, not pinned)),
        )
        menu.addSeparator()
        menu.addAction("Export as Markdown…", lambda: self.ask_export(conversation_id, "md"))
        menu.addAction("Export as JSON…", lambda: self.ask_export(conversation_id, "json"))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.ask_delete(conversation_id))
        return menu

    # -- asking the user ---------------------------------------------------------------------------

    def ask_rename(self, conversation_id: int) -> None:
        """Edit the title in place when the chat is in the visible list, else in a small dialog."""
        index = self.list_model.index_of(conversation_id)
        if self.stack.currentWidget() is self.list_view and index.isValid():
            self.list_view.scrollTo(index)
            self.list_view.edit(index)
            return
        ask_new_title(
            self, self._title_of(conversation_id), lambda text: self._rename_committed(conversation_id, text)
        )

    def import_chat(self, path: Path) -> int:
        """Add a chat from a JSON export (Hearth's, or the same shape) and list it. Raises HearthError
        with what is wrong with the file."""
        conversation_id = self.store.import_json(read_chat_file(path))
        self.refresh()
        self.conversation_imported.emit(conversation_id)
        self.status.emit(f"Imported “{self._title_of(conversation_id)}” from {path.name}")
        return conversation_id

    def ask_import(self) -> None:
        chosen = choose_import_file(self, self._last_export_dir)
        if chosen is not None:
            self._guarded(lambda: self.import_chat(chosen))

    def ask_export(self, conversation_id: int, fmt: ExportFormat) -> None:
        title = self._title_of(conversation_id)
        path = choose_export_file(self, title, fmt, conversation_id, self._last_export_dir)
        if path is not None:
            self._guarded(lambda: self.export_conversation(conversation_id, path, fmt))

    def ask_delete(self, conversation_id: int) -> None:
        """A confirmation (window-modal, non-blocking); Delete in it deletes."""
        try:
            conversation = self.store.get_conversation(conversation_id)
            count = len(self.store.path(conversation_id))
        except HearthError as exc:
            show_error(self, exc)
            return
        confirm_delete(
            self,
            conversation.display_title,
            count,
            lambda: self._guarded(lambda: self.delete_conversation(conversation_id)),
        )

    # -- slots -------------------------------------------------------------------------------------

    @Slot(QModelIndex)
    def _open_index(self, index: QModelIndex) -> None:
        conversation_id = index.data(Roles.CONVERSATION_ID)
        if index.data(Roles.KIND) != "conversation" or not isinstance(conversation_id, int):
            return
        self._selected_id = conversation_id
        self._restore_selection()
        self.conversation_selected.emit(conversation_id)

    @Slot(QModelIndex)
    def _open_hit(self, index: QModelIndex) -> None:
        conversation_id = index.data(Roles.CONVERSATION_ID)
        message_id = index.data(Roles.MESSAGE_ID)
        if not isinstance(conversation_id, int) or not isinstance(message_id, int):
            return
        self._selected_id = conversation_id
        self._restore_selection()
        self.hit_selected.emit(conversation_id, message_id)

    @Slot(QModelIndex)
    def _delete_index(self, index: QModelIndex) -> None:
        conversation_id = index.data(Roles.CONVERSATION_ID)
        if isinstance(conversation_id, int):
            self.ask_delete(conversation_id)

    @Slot(QModelIndex)
    def _rename_index(self, index: QModelIndex) -> None:
        conversation_id = index.data(Roles.CONVERSATION_ID)
        if isinstance(conversation_id, int):
            self.ask_rename(conversation_id)

    @Slot(QModelIndex, QPoint)
    def _show_menu(self, index: QModelIndex, global_pos: QPoint) -> None:
        conversation_id = index.data(Roles.CONVERSATION_ID)
        if isinstance(conversation_id, int):
            menu = self.context_menu(conversation_id)
            menu.aboutToHide.connect(menu.deleteLater)
            menu.popup(global_pos)

    @Slot(int, str)
    def _rename_committed(self, conversation_id: int, title: str) -> None:
        self._guarded(lambda: self.rename_conversation(conversation_id, title))

    @Slot(str)
    def _query_changed(self, text: str) -> None:
        if text.strip():
            self._search_timer.start()
        else:
            self._search_timer.stop()
            self.hits_model.search("")
            self._show_current()

    @Slot()
    def _run_search(self) -> None:
        self._search_timer.stop()
        query = self.search_field.text()
        try:
            self.hits_model.search(query)
        except HearthError as exc:
            self.hits_model.set_hits([])
            self.empty_label.setText(exc.message)
            self.stack.setCurrentWidget(self.empty_label)
            return
        self._show_current()

    # -- helpers -----------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search_field and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key == Qt.Key.Key_Escape and self.search_field.text():
                self.search_field.clear()
                return True
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter):
                return self._enter_results(open_first=key != Qt.Key.Key_Down)
        return super().eventFilter(watched, event)

    def _enter_results(self, *, open_first: bool) -> bool:
        """From the search field: Down moves into the list shown, Enter opens its first hit."""
        if self._search_timer.isActive():
            self._run_search()
        view = self.stack.currentWidget()
        if not isinstance(view, SidebarListView):
            return False
        model = view.model()
        first = next(
            (model.index(row, 0) for row in range(model.rowCount())
             if model.flags(model.index(row, 0)) & Qt.ItemFlag.ItemIsSelectable),
            None,
        )  # fmt: skip
        if first is None:
            return False
        if open_first:
            view.open_requested.emit(first)
            return True
        if not view.currentIndex().isValid() or view is self.hits_view:
            view.setCurrentIndex(first)
        view.setFocus(Qt.FocusReason.TabFocusReason)
        return True

    def _show_current(self) -> None:
        query = self.search_field.text().strip()
        if query:
            if self.hits_model.rowCount():
                self.stack.setCurrentWidget(self.hits_view)
            else:
                self.empty_label.setText(f"No messages match “{query}”")
                self.stack.setCurrentWidget(self.empty_label)
        elif self.list_model.rowCount():
            self.stack.setCurrentWidget(self.list_view)
        else:
            self.empty_label.setText(EMPTY_LIST)
            self.stack.setCurrentWidget(self.empty_label)

    def _restore_selection(self) -> None:
        selection = self.list_view.selectionModel()
        index = self.list_model.index_of(self._selected_id) if self._selected_id is not None else None
        if index is None or not index.isValid():
            selection.clearSelection()
            return
        if index != self.list_view.currentIndex() or not selection.isSelected(index):
            selection.setCurrentIndex(index, selection.SelectionFlag.ClearAndSelect)

    def _is_pinned(self, conversation_id: int) -> bool:
        try:
            return self.store.get_conversation(conversation_id).pinned_at is not None
        except HearthError:
            return False

    def _title_of(self, conversation_id: int) -> str:
        try:
            return self.store.get_conversation(conversation_id).display_title
        except HearthError:
            return ""

    def _guarded(self, action: Callable[[], object]) -> None:
        """Run a store action from a user gesture; its HearthError becomes a dialog."""
        try:
            action()
        except HearthError as exc:
            show_error(self, exc)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._age_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._age_timer.stop()
        super().hideEvent(event)
