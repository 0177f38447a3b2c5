"""The notices around the conversation: the banner above it (the starter model's note, a refused
template, a load that failed), the offer to load a reopened chat's model, and the context gauge
that warns before old messages are left out.

Kept apart from the chat page, which is about the turn; these only change their text. Every string
that can quote a model file (a name, a path, a template warning) is shown as plain text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QWidget

from desktop_app.ui.chat_welcome import EmptyState, short_name
from desktop_app.ui.widgets import MARGIN, Card, button, label

__all__ = ["Banner", "ContextNotice", "EmptyState", "ModelOffer", "context_warning", "inset"]

#: share of the context at which the chat warns that old messages will soon be left out
CONTEXT_WARN_AT = 0.8


class Banner(Card):
    """A notice above the chat. Plain text unless the caller escaped every piece and asks for rich.
    A note shown with a `key` can be closed; `closed` then carries the key (the window remembers)."""

    closed = Signal(str)

    def __init__(self) -> None:
        super().__init__(object_name="Notice")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.text = label("", wrap=True)
        self.text.setOpenExternalLinks(False)
        row.addWidget(self.text, 1)
        self.close_button = button("\u2715", "ghost", tooltip="Close this note; it stays closed")
        self.close_button.setAccessibleName("Close note")
        self.close_button.clicked.connect(self._close)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.body.addLayout(row)
        self.key: str | None = None
        self.hide()

    def show_text(self, text: str, *, rich: bool = False, key: str | None = None) -> None:
        self.text.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.text.setText(text)
        self.key = key
        self.close_button.setVisible(key is not None)
        self.show()

    def _close(self) -> None:
        key, self.key = self.key, None
        self.hide()
        if key is not None:
            self.closed.emit(key)


class ModelOffer(Card):
    """A reopened chat whose model is not the one loaded: which model it used, and a button to load
    it ("Load <model> to continue"), or why that cannot be done."""

    load = Signal()

    def __init__(self) -> None:
        super().__init__(object_name="Notice")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(12)
        self.text = label("", wrap=True)
        row.addWidget(self.text, 1)
        self.button = button("Load", "primary")
        self.button.clicked.connect(self.load)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.body.addLayout(row)
        self.hide()

    def offer(self, chat_model: str, *, loadable: bool, loaded: str | None) -> None:
        """`chat_model` answered this chat; `loadable`: it is in the library; `loaded`: the model
        loaded now (None: none)."""
        if loadable:
            what = f"Load {short_name(chat_model)} to continue"
            self.button.setText(what.replace("&", "&&"))
            self.button.setAccessibleName(what)
            self.button.setToolTip(f"Load {chat_model}")
            if loaded is None:
                self.text.setText(f"This chat was with {chat_model}, which is not loaded.")
            else:
                self.text.setText(f"This chat was with {chat_model}. Replies now come from {loaded}.")
        else:
            where = (
                f"Replies now come from {loaded}."
                if loaded is not None
                else "Choose another model in the bar above to continue."
            )
            self.text.setText(f"This chat was with {chat_model}, which is no longer in your library. {where}")
        self.button.setVisible(loadable)
        self.show()


class ContextNotice(Card):
    """How full the model's context is, once it is nearly full: what the model reads next time is cut
    from the oldest messages, and the user should know before it happens."""

    def __init__(self) -> None:
        super().__init__(object_name="Notice")
        self.text = label("", wrap=True)
        self.text.setAccessibleName("Context warning")
        self.body.addWidget(self.text)
        self.hide()

    def show_stats(self, stats: dict[str, object] | None) -> None:
        warning = context_warning(stats)
        self.text.setText(warning or "")
        self.setVisible(warning is not None)


def _count(stats: dict[str, object], key: str) -> int:
    value = stats.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def context_warning(stats: dict[str, object] | None) -> str | None:
    """The warning for a reply's stats (what its request used of the context), or None."""
    if not stats:
        return None
    used, size, dropped = (_count(stats, k) for k in ("context_used", "n_ctx", "dropped_messages"))
    fix = "Start a new chat, or raise the context length in Settings (the model loads again)."
    if dropped:
        some = "message" if dropped == 1 else f"{dropped} messages"
        return (
            f"The chat no longer fits the model's context: the oldest {some} "
            f"{'was' if dropped == 1 else 'were'} left out of what it read. {fix}"
        )
    if size and used >= CONTEXT_WARN_AT * size:
        return (
            f"This chat fills {min(used / size, 1.0):.0%} of the model's context ({used:,} of "
            f"{size:,} tokens). Soon the oldest messages will be left out of what it reads. {fix}"
        )
    return None


def inset(widget: QWidget, *, max_width: int | None = None) -> QWidget:
    """Center a widget in the page with the page margins (and a reading width, if given)."""
    host = QWidget()
    row = QHBoxLayout(host)
    row.setContentsMargins(MARGIN, 0, MARGIN, 0)
    if max_width is not None:
        widget.setMaximumWidth(max_width)
    row.addWidget(widget)
    return host
