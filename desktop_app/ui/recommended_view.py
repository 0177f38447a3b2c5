"""Discover's "Recommended for this computer": a curated list of chat models, each with the quant that
fits this machine and a one-click Download, then "For your documents": the embedding models a document
collection can use, each with the prefixes it was trained with. The list is local
(core/hub/recommended.py reads the data file the app ships), so it shows offline; downloading needs the
network and says so."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.hub.recommended import Choice, EmbeddingFacts
from desktop_app.core.units import human_size
from desktop_app.ui.plain_text import set_tooltip
from desktop_app.ui.theme import set_role
from desktop_app.ui.widgets import SPACING, BadgeRow, Card, CompactScrollArea, button, label

VERDICT_TEXT = {"green": "● Fits", "yellow": "● Tight", "red": "● Too big"}
OFFLINE_TIP = "Offline mode is on: turn it off in the sidebar to download."
DOCUMENTS_TITLE = "For your documents"
DOCUMENTS_NOTE = (
    "Embedding models let a collection's search find passages by meaning, not only by their words; "
    "they do not chat. After downloading one, pick it in Documents → a collection → Embedding model, "
    "or run: hearth docs add --embedding-model PATH"
)


def prefix_text(prefix: str) -> str:
    """A prefix as the card shows it: quoted so its trailing space is seen, or "none"."""
    return f"“{prefix}”" if prefix else "none"


def prefixes_line(facts: EmbeddingFacts) -> str:
    query, document = prefix_text(facts.query_prefix), prefix_text(facts.document_prefix)
    return f"Query prefix: {query}\nDocument prefix: {document}"


class RecommendedRow(Card):
    """One model: name, what it is, its licence, the quant offered here, and Download."""

    download = Signal(object)  # Choice

    def __init__(self, choice: Choice, parent: QWidget | None = None) -> None:
        super().__init__(parent, object_name="Card")
        self.choice = choice
        model = choice.model
        self.body.setContentsMargins(14, 10, 14, 10)
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        text = QVBoxLayout()
        text.setSpacing(3)
        self.name = label(model.name, "heading", elide=True)
        text.addWidget(self.name)
        self.description = label(model.description, "muted", wrap=True)
        text.addWidget(self.description)
        self.prefixes: QLabel | None = None
        embedding = model.embedding
        if embedding is not None:
            self.prefixes = label(prefixes_line(embedding), "muted", wrap=True)
            self.prefixes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            set_tooltip(
                self.prefixes,
                "Hearth adds these before each search and each passage itself: you do not type them.",
            )
            text.addWidget(self.prefixes)
        self.badges = BadgeRow()
        quant = choice.quant
        facts = [(model.params, "badge", 0), (model.family, "badge", 2), (model.license, "badge", 1)]
        if embedding is not None:  # the name says the family: room for the vector size and context
            facts[1] = (f"{embedding.dimensions} dims · {embedding.context:,} tokens", "badge", 0)
        if quant is not None:
            facts.insert(1, (f"{quant.quant} · {human_size(quant.size)}", "badge", 0))
        self.badges.set_badges(facts)
        text.addWidget(self.badges)
        row.addLayout(text, 1)

        side = QVBoxLayout()
        side.setSpacing(6)
        self.fit = label(VERDICT_TEXT[choice.verdict], role="fit-" + choice.verdict)
        self.fit.setAlignment(Qt.AlignmentFlag.AlignRight)
        context = embedding.context if embedding is not None else 4096
        set_tooltip(self.fit, choice.reason + f" (at a {context:,}-token context)")
        side.addWidget(self.fit)
        self.button: QPushButton = button("Download", "primary")
        self.button.setAccessibleName(f"Download {model.name}")
        self.button.clicked.connect(lambda: self.download.emit(self.choice))
        side.addWidget(self.button, 0, Qt.AlignmentFlag.AlignRight)
        side.addStretch(1)
        row.addLayout(side)
        self.body.addLayout(row)
        self._state = "ready"
        self._offline = False
        self._update()

    @property
    def files(self) -> tuple[str, ...]:
        return self.choice.quant.files if self.choice.quant is not None else ()

    def set_state(self, state: str) -> None:
        """ "ready", "queued" (in the download queue) or "owned" (in the library)."""
        self._state = state
        self._update()

    def set_offline(self, offline: bool) -> None:
        self._offline = offline
        self._update()

    @property
    def state(self) -> str:
        return self._state

    def _update(self) -> None:
        quant = self.choice.quant
        if self._state == "owned":
            text, tip, enabled = "In your library", "This model is in My models.", False
        elif self._state == "queued":
            text, tip, enabled = "Downloading…", "See the Downloads tab.", False
        elif quant is None:
            text, tip, enabled = "Too big", self.choice.reason, False
        elif self._offline:
            text, tip, enabled = "Download", OFFLINE_TIP, False
        else:
            text = "Download"
            tip = f"Download {quant.quant} ({human_size(quant.size)}), verified against the Hub's checksum."
            enabled = True
        self.button.setText(text)
        self.button.setEnabled(enabled)
        set_tooltip(self.button, tip)
        set_role(self.button, "primary" if enabled or self._state == "ready" else "ghost", "kind")


class RecommendedView(QWidget):
    """The list, in a scroll area; rows are rebuilt when the choices are (re)computed."""

    download = Signal(object)  # Choice

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.title = label("Recommended for this computer", "heading")
        layout.addWidget(self.title)
        self.subtitle = label("Working out which models fit this computer…", "muted", wrap=True)
        layout.addWidget(self.subtitle)
        self.scroll_area = CompactScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setMinimumHeight(150)  # about one row and a half; the page scrolls below that
        content = QWidget()
        self.column = QVBoxLayout(content)
        self.column.setContentsMargins(0, 0, 4, 0)
        self.column.setSpacing(8)
        # the documents section sits below the chat rows: its title and note, then its rows
        self.documents_title = label(DOCUMENTS_TITLE, "heading")
        self.documents_title.setContentsMargins(0, 10, 0, 0)
        self.documents_note = label(DOCUMENTS_NOTE, "muted", wrap=True)
        self.documents_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.documents_title, self.documents_note):
            widget.hide()
            self.column.addWidget(widget)
        self.column.addStretch(1)
        self.scroll_area.setWidget(content)
        layout.addWidget(self.scroll_area, 1)
        self.rows: list[RecommendedRow] = []  # chat rows, then embedding rows
        self._offline = False

    @property
    def embedding_rows(self) -> list[RecommendedRow]:
        return [row for row in self.rows if row.choice.model.kind == "embedding"]

    def set_choices(
        self, choices: list[Choice], memory_note: str, embedding_choices: list[Choice] | None = None
    ) -> None:
        for row in self.rows:
            self.column.removeWidget(row)
            row.deleteLater()
        self.rows = []
        for choice in choices:
            self._add_row(choice, self.column.indexOf(self.documents_title))
        for choice in embedding_choices or []:
            self._add_row(choice, self.column.count() - 1)
        self.documents_title.setVisible(bool(embedding_choices))
        self.documents_note.setVisible(bool(embedding_choices))
        fitting = sum(1 for c in choices if c.quant is not None)
        below = " Embedding models for your documents follow them." if embedding_choices else ""
        self.subtitle.setText(
            f"{fitting} of {len(choices)} well-known chat models fit; each with the version that suits "
            f"{memory_note}. One click downloads it.{below}"
        )

    def _add_row(self, choice: Choice, index: int) -> None:
        row = RecommendedRow(choice)
        row.set_offline(self._offline)
        row.download.connect(self.download)
        self.column.insertWidget(index, row)
        self.rows.append(row)

    def show_problem(self, text: str) -> None:
        self.subtitle.setText(text)

    def set_offline(self, offline: bool) -> None:
        self._offline = offline
        for row in self.rows:
            row.set_offline(offline)

    def mark(self, owned: set[tuple[str, str]], queued: set[tuple[str, str]]) -> None:
        """Rows whose files are all in the library (or in the download queue) say so."""
        for row in self.rows:
            keys = {(row.choice.model.repo, name) for name in row.files}
            if keys and keys <= owned:
                row.set_state("owned")
            elif keys and keys & queued:
                row.set_state("queued")
            else:
                row.set_state("ready")

    def row_for(self, name: str) -> RecommendedRow | None:
        return next((row for row in self.rows if row.choice.model.name == name), None)
