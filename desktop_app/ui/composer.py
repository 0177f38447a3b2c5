"""The message box: Enter sends, Shift+Enter is a new line, Esc stops (or leaves editing); one button
that is Send or Stop. Editing a sent message happens here too: the next send makes a branch. The
"Documents" menu under the box attaches documents to the chat, and the line beside it names them.

The box grows with its text, from MIN_LINES up to MAX_LINES (wrapped lines count), then scrolls.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPlainTextEdit, QSizePolicy, QVBoxLayout, QWidget

from desktop_app.core.documents.context import Attachment
from desktop_app.ui.attach_menu import AttachButton
from desktop_app.ui.plain_text import ElidedLabel, set_tooltip
from desktop_app.ui.widgets import button, label

MIN_LINES = 2
MAX_LINES = 8
#: QPushButton text: "&" marks a mnemonic, so a literal one is written "&&"
SEND, SAVE_AND_SEND, STOP = "Send", "Save && send", "Stop"


class _Input(QPlainTextEdit):
    submit = Signal()
    stop = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.document().contentsChanged.connect(self.fit_height)
        self.fit_height()

    def lines(self) -> int:
        """The lines the text takes at the box's width (a plain-text document counts wrapped lines)."""
        return max(1, int(self.document().size().height()))

    def fit_height(self) -> None:
        """As tall as its text, between MIN_LINES and MAX_LINES; beyond that it scrolls."""
        shown = min(MAX_LINES, max(MIN_LINES, self.lines()))
        margins = self.contentsMargins()
        frame = margins.top() + margins.bottom() + 2 * int(self.document().documentMargin())
        height = shown * self.fontMetrics().lineSpacing() + frame + 2
        if self.height() != height or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # the text wraps differently
            self.fit_height()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submit.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.stop.emit()
            return
        super().keyPressEvent(event)


class Composer(QFrame):
    send_requested = Signal(str)
    stop_requested = Signal()
    cancel_edit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Composer")
        column = QVBoxLayout(self)
        column.setContentsMargins(10, 8, 8, 8)
        column.setSpacing(6)
        self.edit_bar = QWidget()
        edit_row = QHBoxLayout(self.edit_bar)
        edit_row.setContentsMargins(4, 0, 0, 0)
        self.edit_note = label("Editing your message: sending it starts a new branch of this chat.", "muted")
        edit_row.addWidget(self.edit_note, 1)
        self.cancel_edit = button("Cancel", "ghost", tooltip="Keep the message as it was (Esc)")
        self.cancel_edit.clicked.connect(self.cancel_edit_requested)
        edit_row.addWidget(self.cancel_edit)
        self.edit_bar.hide()
        column.addWidget(self.edit_bar)
        self.input = _Input()
        self.input.setAccessibleName("Message")
        self.input.submit.connect(self._on_submit)
        self.input.stop.connect(self._on_escape)
        column.addWidget(self.input)
        row = QHBoxLayout()  # under the box: the Documents menu, what is attached, and Send/Stop
        row.setSpacing(8)
        column.addLayout(row)
        self.attach = AttachButton(lambda: [])  # the chat page lists the collections
        self.attach.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # never cut
        row.addWidget(self.attach)
        self.docs_note = ElidedLabel(mode=Qt.TextElideMode.ElideRight)  # the documents attached, if any
        self.docs_note.setProperty("role", "badge-accent")
        self.docs_note.setMinimumWidth(28)  # a long list of names gives way first
        self.docs_note.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)  # its text's width
        self.docs_note.hide()
        row.addWidget(self.docs_note, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addStretch(1)
        self.action = button(SEND, "primary", tooltip="Send (Enter)")
        self.action.setMinimumWidth(84)
        self.action.clicked.connect(self._on_action)
        row.addWidget(self.action)
        self._generating = False
        self.set_ready(False, "Load a model to start chatting")

    def set_attachment(self, attachment: Attachment) -> None:
        """Show which documents the chat answers from (none: the line hides)."""
        self.attach.set_attachment(attachment)
        self.docs_note.setText(attachment.describe())
        set_tooltip(self.docs_note, f"Answers use: {attachment.describe()}" if attachment else "")
        self.docs_note.setVisible(bool(attachment))

    @property
    def editing(self) -> bool:
        return not self.edit_bar.isHidden()

    def set_editing(self, editing: bool) -> None:
        self.edit_bar.setVisible(editing)
        self._show_action()

    def _on_escape(self) -> None:
        if self._generating:
            self.stop_requested.emit()
        elif self.editing:
            self.cancel_edit_requested.emit()

    def set_ready(self, ready: bool, placeholder: str) -> None:
        self.input.setEnabled(ready)
        self.action.setEnabled(ready)
        self.input.setPlaceholderText(placeholder)

    def set_generating(self, generating: bool) -> None:
        self._generating = generating
        self._show_action()
        self.action.setProperty("kind", "danger" if generating else "primary")
        self.action.style().unpolish(self.action)
        self.action.style().polish(self.action)

    def _show_action(self) -> None:
        generating = self._generating
        self.action.setText(STOP if generating else (SAVE_AND_SEND if self.editing else SEND))
        self.action.setToolTip("Stop generating (Esc)" if generating else "Send (Enter)")
        self.action.setAccessibleName(self.action.text().replace("&&", "&"))

    def _on_action(self) -> None:
        if self._generating:
            self.stop_requested.emit()
        else:
            self._on_submit()

    def _on_submit(self) -> None:
        if self._generating or not self.input.isEnabled():
            return
        text = self.input.toPlainText().strip()
        if text:
            self.input.clear()
            self.send_requested.emit(text)
