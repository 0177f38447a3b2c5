"""The composer's "Documents" button: attach collections (a checkable list, read when the menu opens)
or single files to the chat, or detach them. It only asks: the chat page keeps the attachment, stores
it with the conversation and indexes chosen files off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from desktop_app.core.documents.context import Attachment
from desktop_app.ui.plain_text import set_tooltip
from desktop_app.ui.theme import Colors, ThemedStyleSheet

ATTACH_TEXT = "Documents \u25be"  # a small down triangle: it opens a menu
NO_COLLECTIONS = "No collections yet: add files with Files…"


def menu_text(text: str) -> str:
    """A name as a menu item shows it: "&" is a mnemonic marker in Qt, so a literal one is doubled."""
    return text.replace("&", "&&")


class AttachButton(ThemedStyleSheet, QToolButton):
    collection_toggled = Signal(str, bool)  # a collection attached (True) or detached
    files_requested = Signal()  # "Files…": the page asks which, and indexes them
    detach_all = Signal()

    def __init__(self, list_collections: Callable[[], list[str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AttachButton")
        self.setText(ATTACH_TEXT)
        self.setAccessibleName("Attach documents")
        set_tooltip(self, "Attach documents: answers use them and cite file and page")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.list_collections = list_collections
        self.attachment = Attachment()
        self.menu_ = QMenu(self)
        self.menu_.setToolTipsVisible(True)
        self.menu_.aboutToShow.connect(self._fill)
        self.setMenu(self.menu_)
        self._restyle()

    def themed_stylesheet(self, c: Colors) -> str:
        return (
            f"QToolButton#AttachButton {{ border: none; color: {c.muted}; padding: 6px 4px; }}"
            f"QToolButton#AttachButton:hover {{ color: {c.text}; background: {c.surface_alt};"
            " border-radius: 6px; }"
            "QToolButton#AttachButton::menu-indicator { image: none; width: 0px; }"
        )

    def set_attachment(self, attachment: Attachment) -> None:
        """What the menu checks; the composer names the documents beside the button."""
        self.attachment = attachment

    @Slot()
    def _fill(self) -> None:
        """The collections as they are now (one indexed in a terminal meanwhile shows up)."""
        menu = self.menu_
        menu.clear()
        title = menu.addAction("Answer from a collection")
        title.setEnabled(False)
        names = self.list_collections()
        for name in names:
            action = menu.addAction(menu_text(name))
            action.setCheckable(True)
            action.setChecked(name in self.attachment.collections)
            action.toggled.connect(lambda on, n=name: self.collection_toggled.emit(n, on))
        if not names:
            menu.addAction(NO_COLLECTIONS).setEnabled(False)
        menu.addSeparator()
        menu.addAction("Files…", self.files_requested.emit)
        if self.attachment:
            menu.addAction("Detach all documents", self.detach_all.emit)
