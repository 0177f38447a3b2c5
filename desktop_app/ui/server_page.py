"""The Server page: the switch for the local OpenAI-compatible API, its key, its URL, its activity.

Off at every start of the app, whatever it was when the app closed: a server listens only while the
user wants it to. Starting binds at once (a busy port is reported inline); uvicorn runs on its own
thread and the API's requests queue on the inference thread with the chat's, so the activity list is
fed by the inference controller's signals.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.errors import HearthError
from desktop_app.core.paths import AppPaths
from desktop_app.server.config import (
    DEFAULT_HOST,
    ServerOptions,
    ServerPrefs,
    check_origin,
    load_prefs,
    save_prefs,
    url_for,
)
from desktop_app.server.keys import load_or_create_key, regenerate_key
from desktop_app.ui.plain_text import ask, tooltip
from desktop_app.ui.theme import current_colors, set_role
from desktop_app.ui.widgets import MARGIN, SPACING, Card, button, label
from desktop_app.workers.inference import InferenceController
from desktop_app.workers.server_bridge import ServerController

MAX_ACTIVITY_ROWS = 500
COLUMNS = ("Time", "Request", "Tokens", "Speed", "Status")
REJECTIONS = {
    "invalid_api_key": "refused: missing or wrong key",
    "host_not_allowed": "refused: foreign Host header",
    "origin_not_allowed": "refused: web page not allowlisted",
    "request_too_large": "refused: body too large",
    "bad_content_length": "refused: bad request",
}
STOP_REASONS = {
    "eos": "done",
    "stop_string": "done",
    "max_tokens": "done (length)",
    "context_full": "done (context full)",
    "cancelled": "cancelled",
}


class ToggleSwitch(QAbstractButton):
    """An on/off switch, painted in the theme's colours (Qt has no native one)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFixedSize(self.sizeHint())
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def sizeHint(self) -> QSize:
        return QSize(46, 26)

    def paintEvent(self, _event: QPaintEvent) -> None:
        colors = current_colors()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        track = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        on = self.isChecked()
        if not self.isEnabled():
            painter.setOpacity(0.5)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colors.accent if on else colors.border))
        painter.drawRoundedRect(track, track.height() / 2, track.height() / 2)
        diameter = track.height() - 6
        x = track.right() - 3 - diameter if on else track.left() + 3
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(QRectF(x, track.top() + 3, diameter, diameter))
        if self.hasFocus():
            painter.setPen(QColor(colors.accent_hover))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(track, track.height() / 2, track.height() / 2)
        painter.end()


def _mono(widget: QWidget) -> None:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(max(widget.font().pointSizeF(), 9.0))
    widget.setFont(font)


class ServerPage(QWidget):
    status_changed = Signal(str)

    def __init__(
        self, inference: InferenceController, paths: AppPaths, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.inference = inference
        self.paths = paths
        self.server = ServerController(inference, self)
        self.prefs = load_prefs(paths)
        try:
            self.api_key = load_or_create_key(paths)
        except HearthError as exc:  # an unwritable config folder: say so; the switch stays usable
            self.api_key = ""
            self._key_problem: str | None = str(exc)
        else:
            self._key_problem = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, MARGIN)
        layout.setSpacing(SPACING)
        layout.addWidget(label("Local server", "title"))
        layout.addWidget(
            label(
                "An OpenAI-compatible API for your editor, scripts and other apps, answered by the model "
                "loaded in Chat. Off until you turn it on; only this computer can reach it.",
                "muted",
                wrap=True,
            )
        )
        top = QHBoxLayout()
        top.setSpacing(SPACING)
        top.addWidget(self._build_status_card(), 5)
        top.addWidget(self._build_cors_card(), 3)
        layout.addLayout(top)
        layout.addLayout(self._build_activity_header())
        self.activity = self._build_activity_table()
        layout.addWidget(self.activity, 1)
        self.empty = label(
            "No requests yet. Point an OpenAI client at the base URL above, with the API key.",
            "muted",
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty, 1)
        self.activity.hide()

        self.switch.toggled.connect(self._on_switch)
        self.server.started.connect(self._on_started)
        self.server.stopped.connect(self._on_stopped)
        self.server.failed.connect(self._on_failed)
        self.server.rejected.connect(self._on_rejected)
        inference.external_started.connect(self._on_job_started)
        inference.external_finished.connect(self._on_job_finished)
        inference.loaded.connect(lambda _m: self._show_model())
        inference.unloaded.connect(self._show_model)
        self._show_state()
        self._show_model()
        self._show_origins()

    # -- layout ------------------------------------------------------------------------------------

    def _build_status_card(self) -> Card:
        card = Card(object_name="Card")
        head = QHBoxLayout()
        head.setSpacing(SPACING)
        self.switch = ToggleSwitch()
        self.switch.setAccessibleName("Server on or off")
        self.switch.setToolTip("Turn the local API server on or off")
        head.addWidget(self.switch)
        self.state_title = label("Server is off", "heading")
        head.addWidget(self.state_title)
        head.addStretch(1)
        self.state_badge = label("Off", "badge")
        head.addWidget(self.state_badge, 0, Qt.AlignmentFlag.AlignVCenter)
        card.body.addLayout(head)
        self.model_line = label("", "muted", wrap=True)
        card.body.addWidget(self.model_line)
        self.error = label("", "error", wrap=True)
        self.error.hide()
        card.body.addWidget(self.error)
        card.body.addSpacing(6)

        grid = QGridLayout()
        grid.setHorizontalSpacing(SPACING)
        grid.setVerticalSpacing(8)
        grid.setColumnStretch(1, 1)

        grid.addWidget(label("Base URL", "muted"), 0, 0)
        self.url_field = QLineEdit()
        self.url_field.setReadOnly(True)
        self.url_field.setAccessibleName("Base URL")
        _mono(self.url_field)
        grid.addWidget(self.url_field, 0, 1)
        self.copy_url = button("Copy", tooltip="Copy the base URL")
        self.copy_url.clicked.connect(lambda: self._copy(self.base_url(), "Base URL copied."))
        grid.addWidget(self.copy_url, 0, 2)
        self.copy_example = button("Copy curl", "ghost", tooltip="Copy a curl command that calls the API")
        self.copy_example.clicked.connect(lambda: self._copy(self.curl_example(), "Example copied."))
        grid.addWidget(self.copy_example, 0, 3)

        grid.addWidget(label("Port", "muted"), 1, 0)
        port_row = QHBoxLayout()
        port_row.setSpacing(SPACING)
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(self.prefs.port if 1024 <= self.prefs.port <= 65535 else 8765)
        self.port.setAccessibleName("Port")
        self.port.setMinimumWidth(110)
        self.port.valueChanged.connect(self._on_port_changed)
        port_row.addWidget(self.port)
        port_row.addWidget(label(f"Listens on {DEFAULT_HOST} only", "muted"))
        port_row.addStretch(1)
        grid.addLayout(port_row, 1, 1, 1, 3)

        grid.addWidget(label("API key", "muted"), 2, 0)
        self.key_field = QLineEdit(self.api_key)
        self.key_field.setReadOnly(True)
        self.key_field.setAccessibleName("API key")
        self.key_field.setCursorPosition(0)
        _mono(self.key_field)
        grid.addWidget(self.key_field, 2, 1)
        self.copy_key = button("Copy", tooltip="Copy the API key")
        self.copy_key.clicked.connect(lambda: self._copy(self.api_key, "API key copied."))
        grid.addWidget(self.copy_key, 2, 2)
        self.regenerate = button(
            "Regenerate", "ghost", tooltip="Make a new key; apps using the old one stop working"
        )
        self.regenerate.clicked.connect(lambda: self.regenerate_key(confirm=True))
        grid.addWidget(self.regenerate, 2, 3)
        card.body.addLayout(grid)
        self.key_note = label(
            "Send it as “Authorization: Bearer KEY”. Stored in your settings folder, readable by you only.",
            "muted",
            wrap=True,
        )
        card.body.addWidget(self.key_note)
        if self._key_problem:
            self._show_error(self._key_problem)
        return card

    def _build_cors_card(self) -> Card:
        card = Card(object_name="Card")
        card.body.addWidget(label("Web pages allowed (CORS)", "heading"))
        card.body.addWidget(
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
        self.cors_list.addItems(list(self.prefs.cors_origins))
        self.cors_list.setMinimumHeight(60)
        self.cors_list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        card.body.addWidget(self.cors_list, 1)
        self.cors_empty = label("No web page is allowed.", "muted")
        card.body.addWidget(self.cors_empty, 1, Qt.AlignmentFlag.AlignTop)
        add_row = QHBoxLayout()
        add_row.setSpacing(8)
        self.origin_input = QLineEdit()
        self.origin_input.setPlaceholderText("https://app.example.com")
        self.origin_input.setAccessibleName("Origin to allow")
        self.origin_input.returnPressed.connect(self._add_origin)
        add_row.addWidget(self.origin_input, 1)
        self.add_origin = button("Add")
        self.add_origin.clicked.connect(self._add_origin)
        add_row.addWidget(self.add_origin)
        self.remove_origin = button("Remove", "ghost")
        self.remove_origin.clicked.connect(self._remove_origin)
        add_row.addWidget(self.remove_origin)
        card.body.addLayout(add_row)
        self.cors_error = label("", "error", wrap=True)
        self.cors_error.hide()
        card.body.addWidget(self.cors_error)
        return card

    def _build_activity_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        row.addWidget(label("Activity", "heading"))
        self.activity_note = label("Requests wait their turn with your chats: one model, one queue.", "muted")
        row.addWidget(self.activity_note)
        row.addStretch(1)
        self.clear_activity = button("Clear", "ghost")
        self.clear_activity.clicked.connect(self._clear_activity)
        row.addWidget(self.clear_activity)
        return row

    def _build_activity_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(list(COLUMNS))
        table.setAccessibleName("Server activity")
        table.verticalHeader().hide()
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.verticalHeader().setDefaultSectionSize(30)
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        return table

    # -- public API --------------------------------------------------------------------------------

    def base_url(self) -> str:
        url = self.server.url or url_for(DEFAULT_HOST, self.port.value())
        return f"{url}/v1"

    def curl_example(self) -> str:
        return (
            f"curl {self.base_url()}/chat/completions -H 'Authorization: Bearer {self.api_key}' "
            "-H 'Content-Type: application/json' "
            '-d \'{"messages": [{"role": "user", "content": "Hello!"}]}\''
        )

    def start_server(self) -> bool:
        """Turn the server on (what the switch does). False, with the reason shown, if it cannot."""
        if self.server.is_running():
            return True
        self.error.hide()
        try:
            options = ServerOptions(
                api_key=self.api_key or load_or_create_key(self.paths),
                port=self.port.value(),
                cors_origins=self.origins(),
            )
        except HearthError as exc:
            self._on_failed(exc)
            return False
        started = self.server.start(options)
        if not started:
            self._set_switch(False)
        return started

    def stop_server(self) -> None:
        """Turn the server off; returns at once, `server.stopped` follows."""
        self.server.stop()
        self._show_state(stopping=self.server.is_running())

    def shutdown(self) -> None:
        """Quitting: stop the server and wait for its thread (requests in flight are cancelled)."""
        self.server.stop_and_wait()

    def origins(self) -> tuple[str, ...]:
        return tuple(self.cors_list.item(i).text() for i in range(self.cors_list.count()))

    def regenerate_key(self, *, confirm: bool = True) -> None:
        if confirm and not ask(
            self,
            "Regenerate the API key?",
            "Apps that use the current key will get “401 Unauthorized” until you give them the new one.",
        ):
            return
        try:
            self.api_key = regenerate_key(self.paths)
        except HearthError as exc:
            self._show_error(str(exc))
            return
        self.key_field.setText(self.api_key)
        self.key_field.setCursorPosition(0)
        self.server.set_api_key(self.api_key)
        self.status_changed.emit("New API key: the old one no longer works.")

    # -- switch and state --------------------------------------------------------------------------

    @Slot(bool)
    def _on_switch(self, on: bool) -> None:
        if on:
            self.start_server()
        else:
            self.stop_server()

    def _set_switch(self, on: bool) -> None:
        self.switch.blockSignals(True)
        self.switch.setChecked(on)
        self.switch.blockSignals(False)
        self.switch.update()

    @Slot(str)
    def _on_started(self, url: str) -> None:
        self._set_switch(True)
        self._show_state()
        self.status_changed.emit(f"API server on at {url}/v1")

    @Slot()
    def _on_stopped(self) -> None:
        self._set_switch(False)
        self._show_state()
        self.status_changed.emit("API server off")

    @Slot(object)
    def _on_failed(self, exc: object) -> None:
        self._set_switch(False)
        self._show_error(str(exc))
        self._show_state()

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _show_state(self, *, stopping: bool = False) -> None:
        running = self.server.is_running()
        if stopping:
            title, badge, role = "Stopping…", "Stopping", "badge"
        elif running:
            title, badge, role = "Server is on", "● Running", "badge-accent"
        else:
            title, badge, role = "Server is off", "Off", "badge"
        self.state_title.setText(title)
        self.state_badge.setText(badge)
        set_role(self.state_badge, role)
        self.port.setEnabled(not running)
        self.url_field.setText(self.base_url())
        self.url_field.setCursorPosition(0)

    def _show_model(self) -> None:
        model = self.inference.loaded_model
        if isinstance(model, LoadedModel):
            self.model_line.setText(
                f"Serving {model.summary.name} ({model.summary.file_type}, {model.n_ctx}-token context)."
            )
        else:
            self.model_line.setText(
                "No model loaded: load one in Chat. Until then requests get a clear error."
            )

    @Slot(int)
    def _on_port_changed(self, port: int) -> None:
        self.url_field.setText(self.base_url())
        self._save_prefs()

    def _save_prefs(self) -> None:
        self.prefs = ServerPrefs(port=self.port.value(), cors_origins=self.origins())
        save_prefs(self.paths, self.prefs)

    # -- CORS allowlist ----------------------------------------------------------------------------

    @Slot()
    def _add_origin(self) -> None:
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
    def _remove_origin(self) -> None:
        for item in self.cors_list.selectedItems():
            self.cors_list.takeItem(self.cors_list.row(item))
        self._origins_changed()

    def _show_origins(self) -> None:
        has_any = self.cors_list.count() > 0
        self.cors_list.setVisible(has_any)
        self.cors_empty.setVisible(not has_any)

    def _origins_changed(self) -> None:
        self._show_origins()
        self.server.set_cors_origins(self.origins())
        self._save_prefs()

    # -- activity ----------------------------------------------------------------------------------

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        item = self.activity.item(row, column)
        if item is None:
            item = QTableWidgetItem("")
            self.activity.setItem(row, column, item)
        return item

    def _add_row(self, request: str, status: str, color: str, request_id: int = 0) -> None:
        """A new row at the top; `request_id` (0: none) lets the job's end find it again."""
        table = self.activity
        table.insertRow(0)
        for column, text in enumerate((time.strftime("%H:%M:%S"), request, "", "", status)):
            table.setItem(0, column, QTableWidgetItem(text))
        self._cell(0, 0).setData(Qt.ItemDataRole.UserRole, request_id)
        self._cell(0, 4).setForeground(QColor(color))
        while table.rowCount() > MAX_ACTIVITY_ROWS:
            table.removeRow(table.rowCount() - 1)
        self.empty.hide()
        table.show()

    def _row_of(self, request_id: int) -> int | None:
        for row in range(self.activity.rowCount()):
            if self._cell(row, 0).data(Qt.ItemDataRole.UserRole) == request_id:
                return row
        return None

    def activity_rows(self) -> list[tuple[str, ...]]:
        """The activity list as text, newest first (what a user reads; tests use it too)."""
        rows = range(self.activity.rowCount())
        return [tuple(self._cell(r, c).text() for c in range(len(COLUMNS))) for r in rows]

    @Slot(int, str)
    def _on_job_started(self, request_id: int, description: str) -> None:
        self._add_row(description, "running…", current_colors().accent, request_id)

    @Slot(int, object)
    def _on_job_finished(self, request_id: int, result: object) -> None:
        row = self._row_of(request_id)
        if row is None:  # cleared, or pushed out of the list
            return
        colors = current_colors()
        status = self._cell(row, 4)
        if isinstance(result, GenerationStats):
            self._cell(row, 2).setText(f"{result.prompt_tokens} in · {result.completion_tokens} out")
            if result.completion_tokens:
                self._cell(row, 3).setText(f"{result.generation_tps:.1f} tok/s")
            status.setText(STOP_REASONS.get(result.stop_reason, result.stop_reason))
            status.setForeground(
                QColor(colors.muted if result.stop_reason == "cancelled" else colors.success)
            )
        elif isinstance(result, BaseException):
            message = result.message if isinstance(result, HearthError) else str(result)
            status.setText(f"error: {message}")
            status.setToolTip(tooltip(message))  # it may quote the request: shown literally
            status.setForeground(QColor(colors.danger))
        else:
            status.setText("cancelled")
            status.setForeground(QColor(colors.muted))

    @Slot(str, str, int, str)
    def _on_rejected(self, method: str, path: str, status: int, code: str) -> None:
        self._add_row(
            f"{method} {path}", f"{status} {REJECTIONS.get(code, 'refused')}", current_colors().warning
        )

    @Slot()
    def _clear_activity(self) -> None:
        self.activity.setRowCount(0)
        self.activity.hide()
        self.empty.show()

    def _copy(self, text: str, done: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.status_changed.emit(done)
