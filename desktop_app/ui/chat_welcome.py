"""What an empty chat shows: the next step for whoever is looking at it.

- The starter model is being prepared (first run): say so, with its progress, so "no models" is never
  the first thing a new user reads.
- No model in the library: point to Discover's "Recommended for this computer" list.
- Models, none loaded: offer the last used one, and the setting to load it at every start.
- A model loaded: say hello (and, under the tiny starter model, where real chat models are).

Only widgets and their text; the chat page and the window decide which case applies.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QProgressBar, QWidget

from desktop_app.ui.widgets import Card, button, label, vertical_scroll

NO_MODEL_TITLE = "Start a private chat"
NO_MODEL_TEXT = (
    "Choose a model in the bar above, then type below. Everything is computed on this computer, "
    "and your chats are saved only here."
)
FIRST_TITLE = "Get your first chat model"
FIRST_TEXT = (
    "Discover lists chat models recommended for this computer, each in the size that fits its "
    "memory: one click downloads one. Everything is computed on this computer, and your chats are "
    "saved only here."
)
PREPARING_TITLE = "Getting Hearth ready"
PREPARING_TEXT = (
    "Preparing {name}, a tiny model to try Hearth offline. It is ready in a moment; this happens "
    "once. For real conversations, get a recommended chat model in Discover."
)
STARTER_HINT = (
    "The starter model is tiny and not tuned for chat. Discover lists chat models recommended for "
    "this computer."
)
DISCOVER = "See recommended models"
NAME_CHARS = 40  # a model's name on a button: the file's metadata can make it any length
LOAD_LAST_AT_START = "Load the last used model when Hearth starts"
LOAD_LAST_AT_START_SHORT = "Load it when Hearth starts"  # beside the "Load <model>" button; fits narrow


class EmptyState(QWidget):
    """A centred card with the next step: wait for the starter, get a model, load one, or type."""

    choose_model = Signal()  # "See recommended models": Discover
    load_last = Signal()  # "Load <the last used model>"
    load_last_at_start = Signal(bool)  # the check box

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # In a short window beside the open settings drawer the card's wrapped text needs more height
        # than there is: it scrolls rather than being cut.
        _area, column = vertical_scroll(self)
        column.addStretch(1)
        card = Card()
        card.setMaximumWidth(520)  # a wrapped label inside a centred card otherwise gets squeezed
        card.setMinimumWidth(240)  # beside the open settings drawer at the minimum window size
        card.body.setContentsMargins(24, 24, 24, 24)
        card.body.setSpacing(10)
        self.title = label(NO_MODEL_TITLE, "title", wrap=True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        card.body.addWidget(self.title)
        self.text = label(NO_MODEL_TEXT, "muted", wrap=True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        card.body.addWidget(self.text)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Starter model progress")
        self.progress.hide()
        card.body.addWidget(self.progress)
        self.progress_text = label("", "muted", wrap=True)
        self.progress_text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.progress_text.hide()
        card.body.addWidget(self.progress_text)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addStretch(1)
        self.load_button = button("Load", "primary")
        self.load_button.clicked.connect(self.load_last)
        self.load_button.hide()
        buttons.addWidget(self.load_button)
        self.choose_button = button(DISCOVER, "primary")
        self.choose_button.setToolTip("Discover: chat models recommended for this computer")
        self.choose_button.clicked.connect(self.choose_model)
        buttons.addWidget(self.choose_button)
        buttons.addStretch(1)
        card.body.addLayout(buttons)
        self.auto_load = QCheckBox(LOAD_LAST_AT_START_SHORT)
        self.auto_load.setAccessibleName(LOAD_LAST_AT_START)
        self.auto_load.setToolTip(LOAD_LAST_AT_START)
        self.auto_load.toggled.connect(self.load_last_at_start)
        self.auto_load.hide()
        card.body.addWidget(self.auto_load, alignment=Qt.AlignmentFlag.AlignHCenter)
        row = QHBoxLayout()  # centred by stretches, not an alignment flag, so wrapped text gets its height
        row.addStretch(1)
        row.addWidget(card, 100)
        row.addStretch(1)
        column.addLayout(row)
        column.addStretch(2)
        self._loaded: tuple[str, float, bool] | None = None  # name, load time, is the starter
        self._has_models = False
        self._last: str | None = None
        self._preparing: str | None = None  # the starter's name while it is being prepared

    # -- what the window tells it ------------------------------------------------------------------

    def set_library(self, has_models: bool, last_used: str | None) -> None:
        """Whether there is any model to load, and the name of the last used one (None: none)."""
        self._has_models, self._last = has_models, last_used
        self._show()

    def set_auto_load(self, on: bool) -> None:
        self.auto_load.blockSignals(True)
        self.auto_load.setChecked(on)
        self.auto_load.blockSignals(False)

    def show_preparing(self, name: str | None, fraction: float | None = None) -> None:
        """The starter model `name` is being prepared (None: it is not); `fraction` done, if known."""
        self._preparing = name
        if name is not None:
            if fraction is None:
                self.progress.setRange(0, 0)  # busy, no number yet
                self.progress_text.setText("Starting…")
            else:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(fraction * 1000))
                self.progress_text.setText(f"{fraction:.0%}" if fraction < 1 else "Checking the file…")
        self._show()

    def show_loaded(self, name: str, load_s: float, *, is_starter: bool = False) -> None:
        self._loaded = (name, load_s, is_starter)
        self._show()

    def show_unloaded(self) -> None:
        self._loaded = None
        self._show()

    # -- which case ---------------------------------------------------------------------------------

    def _show(self) -> None:
        preparing = self._preparing is not None and self._loaded is None
        self.progress.setVisible(preparing)
        self.progress_text.setVisible(preparing)
        self.load_button.setVisible(False)
        self.auto_load.setVisible(self._has_models)
        discover_kind = "primary"
        if self._loaded is not None:
            name, load_s, is_starter = self._loaded
            self.title.setText("Say hello")
            text = f"{name} is loaded ({load_s:.1f} s). Type a message below; this chat is saved only here."
            if is_starter:
                text += "\n\n" + STARTER_HINT
            self.text.setText(text)
            self.choose_button.setVisible(is_starter)
            discover_kind = "ghost"
        elif preparing:
            self.title.setText(PREPARING_TITLE)
            self.text.setText(PREPARING_TEXT.format(name=self._preparing))
            self.choose_button.show()
            discover_kind = "ghost"
        elif not self._has_models:
            self.title.setText(FIRST_TITLE)
            self.text.setText(FIRST_TEXT)
            self.choose_button.show()
        else:
            self.title.setText(NO_MODEL_TITLE)
            self.text.setText(NO_MODEL_TEXT)
            self.choose_button.show()
            if self._last is not None:
                self.load_button.setText(f"Load {short_name(self._last)}".replace("&", "&&"))
                self.load_button.setAccessibleName(f"Load {self._last}")
                self.load_button.show()
                discover_kind = "ghost"
        if self.choose_button.property("kind") != discover_kind:
            self.choose_button.setProperty("kind", discover_kind)
            self.choose_button.style().unpolish(self.choose_button)
            self.choose_button.style().polish(self.choose_button)


def short_name(name: str, limit: int = NAME_CHARS) -> str:
    """A model's name cut to fit a button (the whole name is in the tooltip or the status bar)."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"
