"""The Server page: the switch for the local OpenAI-compatible API, its key, its URL, its activity.

Off at every start of the app, whatever it was when the app closed: a server listens only while the
user wants it to. Starting binds at once (a busy port is reported inline); uvicorn runs on its own
thread and the API's requests queue on the inference thread with the chat's, so the activity list is
fed by the inference controller's signals.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from desktop_app.core.api_key import load_or_create_key, regenerate_key
from desktop_app.core.engine import LoadedModel
from desktop_app.core.errors import HearthError
from desktop_app.core.library import shown_name
from desktop_app.core.paths import AppPaths
from desktop_app.core.server_config import (
    DEFAULT_HOST,
    MAX_PARALLEL,
    ServerOptions,
    ServerPrefs,
    load_prefs,
    save_prefs,
    url_for,
)
from desktop_app.ui.cors_card import CorsCard
from desktop_app.ui.plain_text import ask
from desktop_app.ui.server_activity import ActivityTable
from desktop_app.ui.theme import set_role
from desktop_app.ui.toggle_switch import ToggleSwitch
from desktop_app.ui.widgets import SPACING, Card, ResponsiveRow, button, label, page_layout
from desktop_app.workers.inference import InferenceController
from desktop_app.workers.server_bridge import ServerController

CARDS_SIDE_BY_SIDE_FROM = 860  # narrower, the CORS card goes under the status card
ACTIVITY_MIN_HEIGHT = 160


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

        self.scroll_area, layout = page_layout(self)
        layout.addWidget(label("Local server", "title"))
        layout.addWidget(
            label(
                "An OpenAI-compatible API for your editor, scripts and other apps, answered by the model "
                "loaded in Chat. Off until you turn it on; only this computer can reach it.",
                "muted",
                wrap=True,
            )
        )
        self.cards = ResponsiveRow(CARDS_SIDE_BY_SIDE_FROM)
        self.cards.add(self._build_status_card(), 5)
        self.cors = CorsCard(self.prefs.cors_origins)
        self.cards.add(self.cors, 3)
        layout.addWidget(self.cards)
        layout.addLayout(self._build_activity_header())
        self.activity = ActivityTable()
        self.activity.setMinimumHeight(ACTIVITY_MIN_HEIGHT)  # then the page scrolls; it grows with the window
        layout.addWidget(self.activity, 1)
        self.empty = label(
            "No requests yet. Point an OpenAI client at the base URL above, with the API key.",
            "muted",
            wrap=True,
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMinimumHeight(ACTIVITY_MIN_HEIGHT // 2)
        layout.addWidget(self.empty, 1)
        self.activity.hide()

        self.switch.toggled.connect(self._on_switch)
        self.server.started.connect(self._on_started)
        self.server.stopped.connect(self._on_stopped)
        self.server.failed.connect(self._on_failed)
        self.server.rejected.connect(self._on_rejected)
        self.cors.changed.connect(self._origins_changed)
        inference.external_started.connect(self._on_job_started)
        inference.external_finished.connect(self._on_job_finished)
        inference.loaded.connect(lambda _m: self._show_model())
        inference.unloaded.connect(self._show_model)
        self._show_state()

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
        head.addWidget(self.state_title, 1)
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
        port_row.addWidget(label(f"Listens on {DEFAULT_HOST} only", "muted", wrap=True), 1)
        port_row.addWidget(label("At once", "muted"))
        self.parallel = QSpinBox()
        self.parallel.setRange(1, MAX_PARALLEL)
        self.parallel.setValue(self.prefs.parallel)
        self.parallel.setAccessibleName("Parallel requests")
        self.parallel.setToolTip(
            "How many requests are answered together. Decoding several at once gives more tokens per "
            "second in total (fewer when memory is short). Applies when the server next starts."
        )
        self.parallel.valueChanged.connect(lambda _value: self._save_prefs())
        port_row.addWidget(self.parallel)
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

    def _build_activity_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(SPACING)
        row.addWidget(label("Activity", "heading"))
        self.activity_note = label(
            "Requests wait their turn with your chats: one model, one queue.", "muted", wrap=True
        )
        row.addWidget(self.activity_note, 1)
        self.clear_activity = button("Clear", "ghost")
        self.clear_activity.clicked.connect(self._clear_activity)
        row.addWidget(self.clear_activity)
        return row

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
                parallel=self.parallel.value(),
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
        return self.cors.origins()

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
        self._show_model()

    def _show_model(self) -> None:
        """Which model answers: said as a fact while the server runs, as what would answer while off
        (a line reading "Serving…" under "Server is off" contradicted it)."""
        model = self.inference.loaded_model
        running = self.server.is_running()
        if isinstance(model, LoadedModel):
            name = shown_name(model.summary.path, model.summary.name)  # as My models names it
            what = f"{name} ({model.summary.file_type}, {model.n_ctx:,}-token context)"
            self.model_line.setText(
                f"Serving {what}, the model loaded in Chat."
                if running
                else f"When on, it answers with {what}, the model loaded in Chat."
            )
        elif running:
            self.model_line.setText("No model loaded: requests get a clear error until you load one in Chat.")
        else:
            self.model_line.setText("No model loaded. Load one in Chat: the server answers with it.")

    @Slot(int)
    def _on_port_changed(self, port: int) -> None:
        self.url_field.setText(self.base_url())
        self._save_prefs()

    def _save_prefs(self) -> None:
        self.prefs = ServerPrefs(
            port=self.port.value(), cors_origins=self.origins(), parallel=self.parallel.value()
        )
        save_prefs(self.paths, self.prefs)

    @Slot()
    def _origins_changed(self) -> None:
        self.server.set_cors_origins(self.origins())
        self._save_prefs()

    # -- activity ----------------------------------------------------------------------------------

    def activity_rows(self) -> list[tuple[str, ...]]:
        """The activity list as text, newest first (what a user reads; tests use it too)."""
        return self.activity.rows()

    def _show_activity(self) -> None:
        self.empty.hide()
        self.activity.show()

    @Slot(int, str)
    def _on_job_started(self, request_id: int, description: str) -> None:
        self.activity.add_job(request_id, description)
        self._show_activity()

    @Slot(int, object)
    def _on_job_finished(self, request_id: int, result: object) -> None:
        self.activity.finish_job(request_id, result)

    @Slot(str, str, int, str)
    def _on_rejected(self, method: str, path: str, status: int, code: str) -> None:
        self.activity.add_rejection(method, path, status, code)
        self._show_activity()

    @Slot()
    def _clear_activity(self) -> None:
        self.activity.setRowCount(0)
        self.activity.hide()
        self.empty.show()

    def _copy(self, text: str, done: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.status_changed.emit(done)
