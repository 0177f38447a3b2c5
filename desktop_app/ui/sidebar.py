"""The window's left column: the brand, page navigation, the chat list, and a footer with Offline mode,
the text size and a privacy line that says what is true about the network right now.

The column scrolls as a whole when the window is too short for it at a large text size, so no row is
ever squeezed below its own height (at the default size it fits the minimum window without scrolling).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app import __version__
from desktop_app.resources import icon_path
from desktop_app.ui.widgets import button, label

WIDTH = 232
MAX_WIDTH = 300  # at the largest text sizes; the chat keeps the rest of a minimum-size window
TITLE = "Hearth"
ONLINE_BADGE = "● Private · no telemetry"
ONLINE_TIP = (
    "Chats and models stay on this computer, and Hearth sends no telemetry. It goes online only when "
    "you search for or download a model; tick Offline mode to rule that out too."
)
OFFLINE_BADGE = "● Offline: no network at all"
OFFLINE_TIP = "Offline mode is on: Hearth makes no network request. Search and downloads are off."


class Sidebar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 18, 14, 14)
        layout.setSpacing(6)

        brand = QHBoxLayout()
        brand.setSpacing(10)
        logo = QLabel()
        logo.setPixmap(QIcon(str(icon_path())).pixmap(QSize(28, 28)))
        brand.addWidget(logo)
        brand.addWidget(label(TITLE, "brand"))
        brand.addStretch(1)
        layout.addLayout(brand)
        layout.addSpacing(6)
        self.nav_layout = layout
        # The pages, packed closer than the rest: five of them and the chat list fit the minimum window.
        self._nav_items = QVBoxLayout()
        self._nav_items.setSpacing(2)
        layout.addLayout(self._nav_items)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self._stretch_index = layout.count()
        layout.addStretch(1)
        self.offline = QCheckBox("Offline mode")
        self.offline.setToolTip(
            "Guarantee that Hearth makes no network request: search and downloads are off."
        )
        self.offline.setAccessibleName("Offline mode")
        layout.addWidget(self.offline)
        sizes = QHBoxLayout()
        sizes.setSpacing(2)
        self.size_label = label("Text size", "muted", elide=True)  # at 20 pt and more: "Text…"
        self.size_label.setToolTip("Text size: Ctrl+= larger, Ctrl+- smaller, Ctrl+0 as at start")
        sizes.addWidget(self.size_label, 1)
        self.smaller = button("A\u2212", "ghost", tooltip="Smaller text (Ctrl+-)")
        self.smaller.setAccessibleName("Smaller text")
        self.larger = button("A+", "ghost", tooltip="Larger text (Ctrl+=)")
        self.larger.setAccessibleName("Larger text")
        sizes.addWidget(self.smaller)
        sizes.addWidget(self.larger)
        layout.addLayout(sizes)
        self.saved_state = button("Saved state…", "ghost")  # its menu: main_window, saved_state_menu
        layout.addWidget(self.saved_state, alignment=Qt.AlignmentFlag.AlignLeft)  # as "Import a chat…"
        self.privacy = label("", "muted", wrap=True)  # wraps at large text sizes instead of being cut
        layout.addWidget(self.privacy)
        self.version = label(f"Version {__version__}", "muted", wrap=True)
        layout.addWidget(self.version)
        self.show_offline(False)

    def heightForWidth(self, width: int) -> int:
        """The least height the rows need at `width`: the scroll area gives the column this much or
        the window's height, whichever is more (its preferred height would make it scroll for no need:
        the chat list can always be shorter)."""
        layout = self.layout()
        if layout is None:
            return super().heightForWidth(width)
        return layout.totalMinimumHeightForWidth(width)

    def show_offline(self, offline: bool) -> None:
        """The privacy line says what is true now: offline only while Offline mode is on."""
        self.privacy.setText(OFFLINE_BADGE if offline else ONLINE_BADGE)
        self.privacy.setToolTip(OFFLINE_TIP if offline else ONLINE_TIP)
        self.privacy.setProperty("role", "badge-accent" if offline else "muted")
        self.privacy.style().unpolish(self.privacy)
        self.privacy.style().polish(self.privacy)

    def add_section(self, title: str) -> None:
        self.nav_layout.insertWidget(self._stretch_index, label(title.upper(), "section"))
        self._stretch_index += 1

    def set_conversations(self, panel: QWidget) -> None:
        """The chat list fills the space between the navigation and the footer."""
        stretch = self.nav_layout.takeAt(self._stretch_index)
        del stretch
        self.nav_layout.insertSpacing(self._stretch_index, 10)
        self.nav_layout.insertWidget(self._stretch_index + 1, panel, 1)

    def add_nav(self, text: str, page_index: int, shortcut_hint: str = "") -> None:
        nav = button(text, "nav", tooltip=shortcut_hint or text)
        nav.setCheckable(True)
        self.group.addButton(nav, page_index)
        self._nav_items.addWidget(nav)
        if page_index == 0:
            nav.setChecked(True)


class SidebarScroll(QScrollArea):
    """Holds the Sidebar: WIDTH wide, or as wide as its rows need at a large text size (up to
    MAX_WIDTH), plus the scroll bar's width when the window is shorter than its rows."""

    def __init__(self, sidebar: Sidebar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SidebarScroll")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setWidget(sidebar)
        self.verticalScrollBar().rangeChanged.connect(lambda _low, _high: self.fit_width())
        self.fit_width()

    def fit_width(self) -> None:
        inner = self.widget()
        needed = inner.minimumSizeHint().width() if inner is not None else WIDTH
        width = min(MAX_WIDTH, max(WIDTH, needed))
        bar = self.verticalScrollBar()
        if bar.maximum() > 0:
            width += bar.sizeHint().width()
        if self.width() != width or self.minimumWidth() != width:
            self.setFixedWidth(width)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.fit_width()
