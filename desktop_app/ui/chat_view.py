"""The message list: a QListView over ChatModel, painted by MessageDelegate.

Model/view instead of a widget per message: only visible rows are painted, and layouts are cached per
row, so a chat of 500 messages opens and scrolls like a short one. While a reply streams, a batch that
does not grow the row past its 120 px step repaints just that row; one that does triggers a relayout that
reads cached sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import (
    QContextMenuEvent,
    QCursor,
    QDesktopServices,
    QGuiApplication,
    QHelpEvent,
    QMouseEvent,
    QPaintEvent,
    Qt,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QFrame, QListView, QMenu, QToolTip, QWidget

from desktop_app.ui.chat_delegate import GENERATING_ACTIONS, MessageDelegate, actions_for
from desktop_app.ui.chat_model import ChatItem, ChatModel, ItemRole
from desktop_app.ui.text_viewer import show_message_text

STICK_SLACK = 24  # px from the bottom that still counts as "following the reply"
ACTION_TIPS = {
    "reply": "Answer the last message with the model loaded",
    "regenerate": "Write another version of this reply (the old one stays, one step away)",
    "continue": "Make this reply longer",
    "edit": "Change this message; sending it starts a new branch",
    "prev": "Previous version",
    "next": "Next version",
}


class ChatView(QListView):
    action_triggered = Signal(str, int)  # action key ("edit", "regenerate", …), message id
    notice = Signal(str)  # short feedback for the status bar ("Copied")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatView")
        self.setAccessibleName("Conversation")
        self.chat_model = ChatModel()
        self.setModel(self.chat_model)
        self.delegate = MessageDelegate(self, self)
        self.setItemDelegate(self.delegate)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(False)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)  # sizes are estimates or cached: cheap
        self.setMouseTracking(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._stick = True
        self._target: int | None = None  # a search hit to keep centred while estimates settle
        self.chat_model.modelReset.connect(self._reset)
        self.chat_model.rowsInserted.connect(self._follow)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)
        self._highlight_timer = QTimer(self)
        self._highlight_timer.setSingleShot(True)
        self._highlight_timer.setInterval(2500)
        self._highlight_timer.timeout.connect(self._clear_highlight)

    # -- following the reply -------------------------------------------------------------------------

    @Slot(int)
    def _scrolled(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - STICK_SLACK

    @Slot(int, int)
    def _range_changed(self, _minimum: int, maximum: int) -> None:
        if self._target is not None:
            row = self.chat_model.row_of(self._target)
            if row is not None:
                self.scrollTo(self.chat_model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        elif self._stick:
            self.verticalScrollBar().setValue(maximum)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        corrected = self.delegate.corrected
        if corrected:  # rows whose estimated height was off: one relayout once painting is done
            self.delegate.corrected = set()
            for index in corrected:
                if index.isValid():
                    self.delegate.sizeHintChanged.emit(self.chat_model.index(index.row(), 0))

    @Slot()
    def _follow(self) -> None:
        self._stick = True
        QTimer.singleShot(0, self.scrollToBottom)

    @Slot()
    def _reset(self) -> None:
        self._target = None
        self._stick = True
        QTimer.singleShot(0, self.scrollToBottom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self._target = None  # the user scrolls: stop holding the search hit in place
        super().wheelEvent(event)

    def scroll_to_end(self) -> None:
        self._stick = True
        self.scrollToBottom()

    def dataChanged(
        self,
        top: QModelIndex | QPersistentModelIndex,
        bottom: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        """A row changed (a streamed batch, mostly). QListView's own handler schedules a layout of
        every row for any change (QListModeViewBase::dataChanged), which with 500 messages was most of
        the GUI thread's time while a reply streamed; here only a row whose height changed does."""
        item = top.data(ItemRole) if top == bottom else None
        if not isinstance(item, ChatItem):
            super().dataChanged(top, bottom, roles)
            return
        if self.delegate.height_changed(item, self.viewport().width()):
            super().dataChanged(top, bottom, roles)  # relayout; other rows' sizes come from the cache
        else:
            QAbstractItemView.dataChanged(self, top, bottom, roles)  # repaints the row, nothing more

    # -- search hits -------------------------------------------------------------------------------

    def show_message(self, message_id: int) -> bool:
        row = self.chat_model.row_of(message_id)
        if row is None:
            return False
        self._stick = False
        self._target = message_id
        self.delegate.highlight_id = message_id
        self.doItemsLayout()
        self.scrollTo(self.chat_model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        self.viewport().update()
        self._highlight_timer.start()
        return True

    @Slot()
    def _clear_highlight(self) -> None:
        self._target = None
        self.delegate.highlight_id = None
        self.viewport().update()

    # -- mouse ------------------------------------------------------------------------------------------

    def _hit_at(self, pos: QPoint) -> tuple[int, ChatItem, tuple[str, object] | None] | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        item = index.data(ItemRole)
        if not isinstance(item, ChatItem):
            return None
        local = pos - self.visualRect(index).topLeft()
        return index.row(), item, self.delegate.hit(item, local)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        found = self._hit_at(event.position().toPoint())
        hover: tuple[int, str | None] = (-1, None)
        if found is not None:
            row, _, hit = found
            key = None
            if hit is not None:
                key = str(hit[1]) if hit[0] == "action" else hit[0]
            hover = (row, key)
        if hover != self.delegate.hover:
            old_row = self.delegate.hover[0]
            self.delegate.hover = hover
            for row in {old_row, hover[0]}:
                if row >= 0:
                    self.viewport().update(self.visualRect(self.chat_model.index(row, 0)))
        clickable = hover[1] is not None
        self.viewport().setCursor(
            QCursor(Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor)
        )
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: object) -> None:
        if self.delegate.hover[0] >= 0:
            self.delegate.hover = (-1, None)
            self.viewport().update()
        super().leaveEvent(event)  # type: ignore[arg-type]

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        found = self._hit_at(event.position().toPoint())
        hit = found[2] if found is not None else None
        if found is None or hit is None:
            super().mousePressEvent(event)
            return
        self.activate(hit[0], hit[1], found[0], found[1])

    def activate(self, kind: str, value: object, row: int, item: ChatItem) -> None:
        """Carry out a click on a row's control (also what tests and the context menu call)."""
        if kind == "thinking":
            self.chat_model.toggle_thinking(row)
        elif kind == "copy-code" and isinstance(value, int):
            code = self.delegate.code_block(item, value)
            if code is not None:
                QGuiApplication.clipboard().setText(code)
                self.notice.emit("Code copied to the clipboard")
        elif kind == "link" and isinstance(value, str):
            url = QUrl(value)
            if url.scheme() in ("http", "https", "mailto"):
                QDesktopServices.openUrl(url)
        elif kind == "action" and value == "copy":
            QGuiApplication.clipboard().setText(item.content)
            self.notice.emit("Message copied to the clipboard")
        elif kind == "action" and value in GENERATING_ACTIONS and self.delegate.blocked is not None:
            self.notice.emit(self.delegate.blocked)  # disabled: say why instead of doing nothing
        elif kind == "action" and isinstance(value, str):
            self.action_triggered.emit(value, item.id)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        found = self._hit_at(event.pos())
        if found is None:
            return
        row, item, _ = found
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        for key, label in actions_for(item):
            action = menu.addAction(label, partial(self.activate, "action", key, row, item))
            if key in GENERATING_ACTIONS and self.delegate.blocked is not None:
                action.setEnabled(False)
                action.setToolTip(self.delegate.blocked)
        if item.position[1] > 1:
            menu.addSeparator()
            menu.addAction("Previous version", lambda: self.activate("action", "prev", row, item))
            menu.addAction("Next version", lambda: self.activate("action", "next", row, item))
        menu.addSeparator()
        menu.addAction("Select text…", lambda: show_message_text(self, item, self.delegate.colors))
        menu.exec(event.globalPos())

    def viewportEvent(self, event: QEvent) -> bool:
        """Tooltips for the painted controls: what a disabled Regenerate, Continue or Reply needs."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            found = self._hit_at(event.pos())
            hit = found[2] if found is not None else None
            if hit is not None and hit[0] == "action":
                key = str(hit[1])
                blocked = self.delegate.blocked if key in GENERATING_ACTIONS else None
                tip = blocked or ACTION_TIPS.get(key)
                if tip:
                    QToolTip.showText(event.globalPos(), tip, self.viewport())
                    return True
            QToolTip.hideText()
            event.ignore()
            return True
        return super().viewportEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        found = self._hit_at(event.position().toPoint())
        if found is not None and found[2] is None:
            show_message_text(self, found[1], self.delegate.colors)
            return
        super().mouseDoubleClickEvent(event)
