"""A window onto one message's text where any part of it can be selected and copied.

The chat view paints messages (that is what keeps long chats fast), so it has no text cursor; this
read-only browser is what a double-click or "Select text…" opens.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QVBoxLayout, QWidget

from desktop_app.ui.chat_model import ChatItem
from desktop_app.ui.plain_text import SafeTextBrowser
from desktop_app.ui.theme import DARK, Colors


class MessageTextDialog(QDialog):
    def __init__(self, item: ChatItem, colors: Colors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        who = "your message" if item.role == "user" else "the reply"
        self.setWindowTitle(f"Text of {who}")
        self.resize(720, 520)
        layout = QVBoxLayout(self)
        self.browser = SafeTextBrowser()  # a reply's Markdown never makes it read a file or a share
        self.browser.setAccessibleName("Message text")
        if item.role == "assistant" and not item.live:
            from desktop_app.ui.markdown_html import render_markdown  # loaded when first needed

            self.browser.setHtml(render_markdown(item.content, dark=colors is DARK).html)
        else:
            self.browser.setPlainText(item.content)
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def show_message_text(parent: QWidget, item: ChatItem, colors: Colors) -> MessageTextDialog:
    dialog = MessageTextDialog(item, colors, parent)
    dialog.setModal(False)
    dialog.show()
    dialog.browser.selectAll()
    return dialog
