"""One message in the chat: plain text while it streams, Markdown once it is complete."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from desktop_app.ui.widgets import label


class MessageBubble(QFrame):
    def __init__(self, role: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setObjectName("Bubble")
        self.setProperty("role", role)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        self.author = label("You" if role == "user" else "Assistant", "section")
        layout.addWidget(self.author)
        self.thinking = label("", "muted", wrap=True)
        self.thinking.hide()
        layout.addWidget(self.thinking)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setAccessibleName(f"{self.author.text()} message")
        layout.addWidget(self.body)
        self.footer = label("", "muted")
        self.footer.hide()
        layout.addWidget(self.footer)
        self._answer: list[str] = []
        self._reasoning: list[str] = []
        if text:
            self._answer.append(text)
            self.finish()

    @property
    def text(self) -> str:
        return "".join(self._answer)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    def append(self, kind: str, text: str) -> None:
        """Called with ~40 ms batches while streaming: redraws only this bubble, as plain text."""
        if kind == "reasoning":
            self._reasoning.append(text)
            self.thinking.setText("Thinking… " + self.reasoning.strip())
            self.thinking.show()
            return
        self._answer.append(text)
        self.body.setText(self.text)

    def finish(self, footer: str = "") -> None:
        """Render Markdown once, at the end (re-rendering per token is what makes other apps stutter)."""
        self.body.setTextFormat(Qt.TextFormat.MarkdownText)
        self.body.setText(self.text.strip() or "(no text)")
        if self._reasoning:
            self.thinking.setText("Thought: " + self.reasoning.strip())
        if footer:
            self.footer.setText(footer)
            self.footer.show()

    def show_error(self, message: str) -> None:
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setText((self.text + "\n\n" if self.text else "") + message)
        self.body.setProperty("role", "error")
        self.body.style().unpolish(self.body)
        self.body.style().polish(self.body)
