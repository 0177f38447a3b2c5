"""What the chat page shows around the conversation: the empty state (before the first message) and the
notice banner (the starter model's note, a refused template, a load that failed).

Kept apart from the chat page, which is about the turn; these only change their text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from desktop_app.ui.widgets import MARGIN, Card, button, label

NO_MODEL_TITLE = "Start a private chat"
NO_MODEL_TEXT = (
    "Choose a model in the bar above, then type below. Everything is computed on this computer, "
    "and your chats are saved only here."
)


class EmptyState(QWidget):
    """A centred card that says what to do next: choose a model, or say hello to the loaded one."""

    choose_model = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.addStretch(1)
        card = Card()
        card.setFixedWidth(520)  # a wrapped label inside a centred card otherwise gets squeezed
        card.body.setContentsMargins(36, 32, 36, 32)
        card.body.setSpacing(10)
        self.title = label(NO_MODEL_TITLE, "title")
        card.body.addWidget(self.title, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.text = label(NO_MODEL_TEXT, "muted", wrap=True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        card.body.addWidget(self.text)
        self.choose_button = button("Browse models", "primary")
        self.choose_button.clicked.connect(self.choose_model)
        card.body.addWidget(self.choose_button, alignment=Qt.AlignmentFlag.AlignHCenter)
        row = QHBoxLayout()  # centred by stretches, not an alignment flag, so wrapped text gets its height
        row.addStretch(1)
        row.addWidget(card)
        row.addStretch(1)
        column.addLayout(row)
        column.addStretch(2)

    def show_loaded(self, name: str, load_s: float) -> None:
        self.title.setText("Say hello")
        self.text.setText(
            f"{name} is loaded ({load_s:.1f} s). "
            "Type a message below; this chat is saved on this computer only."
        )
        self.choose_button.hide()

    def show_unloaded(self) -> None:
        self.title.setText(NO_MODEL_TITLE)
        self.choose_button.show()


class Banner(Card):
    """A notice above the chat. Plain text unless the caller escaped every piece and asks for rich."""

    def __init__(self) -> None:
        super().__init__(object_name="Notice")
        self.text = label("", wrap=True)
        self.text.setOpenExternalLinks(False)
        self.body.addWidget(self.text)
        self.hide()

    def show_text(self, text: str, *, rich: bool = False) -> None:
        self.text.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.text.setText(text)
        self.show()


def inset(widget: QWidget, *, max_width: int | None = None) -> QWidget:
    """Center a widget in the page with the page margins (and a reading width, if given)."""
    host = QWidget()
    row = QHBoxLayout(host)
    row.setContentsMargins(MARGIN, 0, MARGIN, 0)
    if max_width is not None:
        widget.setMaximumWidth(max_width)
    row.addWidget(widget)
    return host
