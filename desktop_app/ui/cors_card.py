"""The Server page's allowlist of web pages (CORS origins): shown, validated, added and removed.

Apps and scripts need nothing here; a web page's requests are refused unless its origin is listed.
The card only edits the list and says when it changed; the page applies it to the running server and
saves it with the other server preferences.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLineEdit, QListWidget, QSizePolicy, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.server_config import check_origin
from desktop_app.ui.widgets import Card, button, label


class CorsCard(Card):
    """The list of allowed origins, with a field to add one (checked by `check_origin`)."""

    changed = Signal()  # the user added or removed an origin

    def __init__(self, origins: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent, object_name="Card")
        self.body.addWidget(label("Web pages allowed (CORS)", "heading", wrap=True))
        self.body.addWidget(
            label(
                "Apps and scripts need nothing here. Web pages are refused unless their origin is listed.",
                "muted",
                wrap=True,
            )
        )
        self.cors_list = QListWidget()
        self.cors_list.setAccessibleName("Allowed origins")
        self.cors_list.setFrameShape(QFrame.Shape.NoFrame)
        self.cors_list.setAlternatingRowColors(True)
        self.cors_list.addItems(list(origins))
        self.cors_list.setMinimumHeight(60)
        self.cors_list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.body.addWidget(self.cors_list, 1)
        self.cors_empty = label("No web page is allowed.", "muted")
        self.body.addWidget(self.cors_empty, 1, Qt.AlignmentFlag.AlignTop)
        add_row = QHBoxLayout()
        add_row.setSpacing(8)
        self.origin_input = QLineEdit()
        self.origin_input.setPlaceholderText("https://app.example.com")
        self.origin_input.setAccessibleName("Origin to allow")
        self.origin_input.returnPressed.connect(self.add_origin)
        add_row.addWidget(self.origin_input, 1)
        self.add_button = button("Add")
        self.add_button.clicked.connect(self.add_origin)
        add_row.addWidget(self.add_button)
        self.remove_button = button("Remove", "ghost")
        self.remove_button.clicked.connect(self.remove_origin)
        add_row.addWidget(self.remove_button)
        self.body.addLayout(add_row)
        self.cors_error = label("", "error", wrap=True)
        self.cors_error.hide()
        self.body.addWidget(self.cors_error)
        self._show_origins()

    def origins(self) -> tuple[str, ...]:
        return tuple(self.cors_list.item(i).text() for i in range(self.cors_list.count()))

    @Slot()
    def add_origin(self) -> None:
        """Add what the field holds, once; a malformed origin is explained under the field."""
        text = self.origin_input.text().strip()
        if not text:
            return
        try:
            origin = check_origin(text)
        except HearthError as exc:
            self.cors_error.setText(str(exc))
            self.cors_error.show()
            return
        self.cors_error.hide()
        if origin not in self.origins():
            self.cors_list.addItem(origin)
        self.origin_input.clear()
        self._origins_changed()

    @Slot()
    def remove_origin(self) -> None:
        """Remove the selected origins."""
        for item in self.cors_list.selectedItems():
            self.cors_list.takeItem(self.cors_list.row(item))
        self._origins_changed()

    def _show_origins(self) -> None:
        has_any = self.cors_list.count() > 0
        self.cors_list.setVisible(has_any)
        self.cors_empty.setVisible(not has_any)

    def _origins_changed(self) -> None:
        self._show_origins()
        self.changed.emit()
