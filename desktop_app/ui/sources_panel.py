"""The Sources panel: the passages a reply was shown, numbered as the model saw them, as plain text.

Each source's title opens the file at its page (the chat page does the opening). Passages come from
documents, so they are hostile text: plain-text labels only, cut to a bounded length."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from desktop_app.core.documents.context import source_label
from desktop_app.core.documents.passages import Passage
from desktop_app.ui.theme import Colors, ThemedStyleSheet
from desktop_app.ui.widgets import button, label

SHOWN_CHARS = 3_000  # of one passage (a whole inlined page can be long)


class SourcesPanel(ThemedStyleSheet, QFrame):
    open_source = Signal(int)  # source number (1-based) of the reply shown
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SourcesPanel")
        self.message_id: int | None = None
        self.sources: list[Passage] = []
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 12, 10, 12)
        column.setSpacing(8)
        top = QHBoxLayout()
        self.title = label("Sources", "heading")
        top.addWidget(self.title, 1)
        close = button("Close", "ghost", tooltip="Hide the sources")
        close.clicked.connect(self.closed)
        top.addWidget(close)
        column.addLayout(top)
        self.note = label("", "muted", wrap=True)
        column.addWidget(self.note)
        self.list_area = QScrollArea()
        self.list_area.setWidgetResizable(True)
        self.list_area.setFrameShape(QFrame.Shape.NoFrame)
        self.list_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        column.addWidget(self.list_area, 1)
        self.entries: list[tuple[QWidget, QWidget]] = []  # (title button, passage label) per source
        self._restyle()
        self.show_sources(None, [], [])

    def themed_stylesheet(self, c: Colors) -> str:
        return (
            f"QFrame#SourcesPanel {{ background: {c.surface}; border-left: 1px solid {c.border}; }}"
            "QFrame#SourcesPanel QScrollArea, QWidget#SourcesList { background: transparent; border: none; }"
            f"QPushButton#SourceTitle {{ color: {c.accent}; text-align: left; font-weight: 600;"
            " border: none; background: transparent; padding: 2px 0px; }"
            f"QPushButton#SourceTitle:hover {{ color: {c.accent_hover}; text-decoration: underline; }}"
        )

    def show_sources(self, message_id: int | None, sources: list[Passage], cited: list[int]) -> None:
        """The sources of reply `message_id`; `cited`: the numbers its text cites (marked)."""
        self.message_id = message_id
        self.sources = list(sources)
        body = QWidget()
        body.setObjectName("SourcesList")
        rows = QVBoxLayout(body)
        rows.setContentsMargins(0, 0, 6, 0)
        rows.setSpacing(6)
        self.entries = []
        for n, passage in enumerate(sources, 1):
            mark = "  · cited" if n in cited else ""
            name = source_label(passage).replace("&", "&&")  # "&" marks a mnemonic in a button
            title = button(f"[{n}] {name}{mark}", "ghost", tooltip=passage.file)
            title.setObjectName("SourceTitle")
            title.clicked.connect(lambda _=False, k=n: self.open_source.emit(k))
            text = passage.text if len(passage.text) <= SHOWN_CHARS else passage.text[:SHOWN_CHARS] + " …"
            passage_label = label(text, "muted", wrap=True)
            passage_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if n > 1:
                rows.addSpacing(6)
            rows.addWidget(title, 0, Qt.AlignmentFlag.AlignLeft)
            rows.addWidget(passage_label)
            self.entries.append((title, passage_label))
        rows.addStretch(1)
        self.list_area.setWidget(body)
        files = len({p.file for p in sources})
        self.note.setText(
            f"{len(sources)} passage{'s' if len(sources) != 1 else ''} from "
            f"{files} file{'s' if files != 1 else ''}, as the model was shown them. "
            "Click a title to open the file."
            if sources
            else "This reply was not given any document."
        )

    def file_name(self, n: int) -> str:
        return Path(self.sources[n - 1].file).name
