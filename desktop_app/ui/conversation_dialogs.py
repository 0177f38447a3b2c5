"""The questions the chat sidebar asks before it acts on a chat: where to export it, which file to
import, a new title (when the chat is not in the visible list), and whether to really delete it.

Each one only asks: the answer goes to the caller, which does the work and reports its errors.
The dialogs are window-modal and non-blocking where Qt allows it, and parented to the caller, so tests
find them by object name ("RenameDialog", "DeleteChatDialog").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from desktop_app.core.conversations import ExportFormat
from desktop_app.ui.plain_text import message_box

EXPORT_FILTERS: dict[ExportFormat, str] = {"md": "Markdown (*.md)", "json": "JSON (*.json)"}


def export_file_name(title: str, fmt: ExportFormat, conversation_id: int) -> str:
    """A safe default file name from the title ("Trip to Rome?" -> "Trip to Rome.md")."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    name = re.sub(r"\s+", " ", name).strip(" .")[:60].strip()
    return f"{name or f'chat-{conversation_id}'}.{fmt}"


def _start_folder(last: Path | None) -> Path:
    """Where a file dialog opens: the last export's folder, else Documents, else home."""
    return last or Path(
        QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or Path.home()
    )


def choose_import_file(parent: QWidget, last_folder: Path | None) -> Path | None:
    """The chat export the user picked to import, or None."""
    chosen, _ = QFileDialog.getOpenFileName(
        parent, "Import a chat", str(_start_folder(last_folder)), EXPORT_FILTERS["json"]
    )
    return Path(chosen) if chosen else None


def choose_export_file(
    parent: QWidget, title: str, fmt: ExportFormat, conversation_id: int, last_folder: Path | None
) -> Path | None:
    """Where to export a chat, with the format's suffix added when the user left it out; None: cancelled."""
    name = export_file_name(title, fmt, conversation_id)
    what = "Markdown" if fmt == "md" else "JSON"
    chosen, _ = QFileDialog.getSaveFileName(
        parent, f"Export chat as {what}", str(_start_folder(last_folder) / name), EXPORT_FILTERS[fmt]
    )
    if not chosen:
        return None
    path = Path(chosen)
    if path.suffix.lower() != f".{fmt}":
        path = path.with_name(path.name + f".{fmt}")
    return path


def ask_new_title(parent: QWidget, title: str, rename: Callable[[str], object]) -> None:
    """A small dialog for a chat's title; `rename` gets the text when the user confirms."""
    dialog = QInputDialog(parent)
    dialog.setObjectName("RenameDialog")
    dialog.setWindowTitle("Rename chat")
    dialog.setLabelText("Title")
    dialog.setTextValue(title)
    dialog.setOkButtonText("Rename")
    dialog.textValueSelected.connect(rename)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()


def confirm_delete(parent: QWidget, title: str, count: int, delete: Callable[[], object]) -> None:
    """A confirmation (window-modal, non-blocking); `delete` runs when the user picks Delete."""
    messages = f"{count} message" + ("" if count == 1 else "s")
    box = message_box(  # plain text: the title may come from an imported chat
        parent,
        "Delete chat",
        f"Delete “{title}”?",
        informative=f"Its {messages} will be deleted from this computer. This cannot be undone.",
    )
    box.setObjectName("DeleteChatDialog")
    delete_button = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)

    def done() -> None:
        if box.clickedButton() is delete_button:
            delete()
        box.deleteLater()

    box.finished.connect(done)
    box.open()
