"""The sidebar's "Saved chat state" menu: how much disk instant reopen uses, and a way to clear it.

Saved state holds the tokens of the user's chats, so besides the size cap (settings.json's
`saved_state_limit_gb`) a user must be able to see it and delete it in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMenu, QPushButton, QWidget

from desktop_app.core.engine.state_cache import StateCache
from desktop_app.core.units import human_size

TIP = (
    "After each reply Hearth keeps what the model computed from the chat, so that reopening a long "
    "chat or switching back to it continues at once instead of re-reading the whole history."
)


def usage_text(used: int, cap: int) -> str:
    if cap <= 0:
        return "Saved on disk: off (kept in memory only)"
    return f"Saved on disk: {human_size(used)} of {human_size(cap)}"


class SavedStateMenu(QMenu):
    """Built on the GUI thread; reading the folder's size and deleting its files are quick (tens of
    files at most, bounded by the cap)."""

    def __init__(
        self, cache: StateCache, report: Callable[[str], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.cache = cache
        self.report = report
        self.usage = self.addAction("")
        self.usage.setEnabled(False)
        self.addSeparator()
        self.clear_action = self.addAction("Clear saved chat state")
        self.clear_action.setToolTip("Chats stay; the next turn of a long chat reads its history again.")
        self.clear_action.triggered.connect(self.clear)
        self.aboutToShow.connect(self.refresh)
        self.setToolTipsVisible(True)

    def refresh(self) -> None:
        used = self.cache.disk_usage()
        self.usage.setText(usage_text(used, self.cache.cap_bytes))
        self.clear_action.setEnabled(used > 0 or self.cache.has_memory())

    def clear(self) -> None:
        freed = self.cache.clear()
        self.report(f"Cleared saved chat state ({human_size(freed)} on disk). Your chats are kept.")


def attach(button: QPushButton, cache: StateCache, report: Callable[[str], None]) -> SavedStateMenu:
    menu = SavedStateMenu(cache, report, button)
    button.setMenu(menu)
    button.setToolTip(TIP)
    return menu
