"""The chat page: model header with load progress, the conversation, and the composer.

Streaming: the worker sends ~40 ms text batches; only the live bubble is updated, as plain text, and
Markdown is rendered once when the reply ends. All engine calls go through the InferenceController.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QProgressBar,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import starter
from desktop_app.core.engine import GenerationStats, LoadedModel, Message
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.ui.composer import Composer
from desktop_app.ui.error_dialog import describe
from desktop_app.ui.message_bubble import MessageBubble
from desktop_app.ui.widgets import MARGIN, SPACING, Card, button, label
from desktop_app.workers.inference import InferenceController

_STOP_LABELS = {
    "max_tokens": "stopped at the token limit",
    "cancelled": "stopped",
    "context_full": "context full",
    "stop_string": "stop string",
}


def format_stats(stats: GenerationStats) -> str:
    parts = [
        f"{stats.completion_tokens} tokens",
        f"{stats.generation_tps:.1f} tok/s",
        f"TTFT {stats.ttft_s:.2f} s",
    ]
    if stats.cached_tokens:
        parts.append(f"{stats.cached_tokens} prompt tokens reused")
    if stats.dropped_messages:
        parts.append(f"{stats.dropped_messages} old messages left out to fit the context")
    if stats.stop_reason != "eos":
        parts.append(_STOP_LABELS.get(stats.stop_reason, stats.stop_reason))
    return " · ".join(parts)


class ChatPage(QWidget):
    choose_model = Signal()
    status_changed = Signal(str)

    def __init__(self, controller: InferenceController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.controller = controller
        self.history: list[Message] = []
        self.sampling = SamplingSettings()
        self._request_id = 0
        self._live: MessageBubble | None = None
        self._loading_since = 0.0

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._build_header())

        body = QVBoxLayout()
        body.setContentsMargins(MARGIN, SPACING, MARGIN, MARGIN)
        body.setSpacing(SPACING)
        self.banner = Card(object_name="Notice")
        self.banner_text = label("", wrap=True)
        self.banner.body.addWidget(self.banner_text)
        self.banner.hide()
        body.addWidget(self.banner)

        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        host = QWidget()
        self.messages = QVBoxLayout(host)
        self.messages.setContentsMargins(0, 0, 6, 0)
        self.messages.setSpacing(SPACING)
        self.empty = self._build_empty_state()
        self.messages.addWidget(self.empty)
        self.messages.addStretch(1)
        self.scroll_area.setWidget(host)
        body.addWidget(self.scroll_area, 1)

        self.composer = Composer()
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        body.addWidget(self.composer)
        outer.addLayout(body, 1)

        self._elapsed = QTimer(self)
        self._elapsed.setInterval(250)
        self._elapsed.timeout.connect(self._tick_loading)

        controller.loaded.connect(self._on_loaded)
        controller.load_failed.connect(self._on_load_failed)
        controller.unloaded.connect(self._on_unloaded)
        controller.text.connect(self._on_text)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)

    # -- construction ------------------------------------------------------------------------------

    def _build_header(self) -> QWidget:
        header = QFrame()
        header.setObjectName("ChatHeader")
        row = QHBoxLayout(header)
        row.setContentsMargins(MARGIN, 14, MARGIN, 14)
        row.setSpacing(10)
        self.model_title = label("No model loaded", "heading")
        row.addWidget(self.model_title)
        self.model_badges = QHBoxLayout()
        self.model_badges.setSpacing(6)
        row.addLayout(self.model_badges)
        row.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setFixedWidth(140)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Loading progress")
        self.progress.hide()
        row.addWidget(self.progress)
        self.progress_label = label("", "muted")
        row.addWidget(self.progress_label)
        self.open_button = button("Open file…", "ghost", tooltip="Load a .gguf file from anywhere")
        self.open_button.clicked.connect(self._open_file)
        row.addWidget(self.open_button)
        self.unload_button = button("Unload", tooltip="Free the memory the model uses")
        self.unload_button.clicked.connect(self.controller.unload)
        self.unload_button.hide()
        row.addWidget(self.unload_button)
        return header

    def _build_empty_state(self) -> QWidget:
        card = Card()
        card.body.setContentsMargins(32, 32, 32, 32)
        card.body.setSpacing(10)
        self.empty_title = label("Start a private chat", "title")
        card.body.addWidget(self.empty_title, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.empty_text = label(
            "Load a model from your library, then type below. Everything is computed on this computer.",
            "muted",
            wrap=True,
        )
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        card.body.addWidget(self.empty_text)
        self.choose_button = button("Choose a model", "primary")
        self.choose_button.clicked.connect(self.choose_model)
        card.body.addWidget(self.choose_button, alignment=Qt.AlignmentFlag.AlignHCenter)
        return card

    # -- loading -----------------------------------------------------------------------------------

    def load(
        self, path: Path, settings: LoadSettings | None = None, template_override: str | None = None
    ) -> None:
        self.stop()
        self._loading_since = time.monotonic()
        self.model_title.setText(f"Loading {path.name}…")
        self._clear_badges()
        self.progress.show()
        self._elapsed.start()
        self.composer.set_ready(False, "Loading the model…")
        self.banner.hide()
        self.unload_button.hide()
        self.controller.load(path, settings, template_override)

    def _tick_loading(self) -> None:
        self.progress_label.setText(f"{time.monotonic() - self._loading_since:.1f} s")

    def _loading_done(self) -> None:
        self._elapsed.stop()
        self.progress.hide()
        self.progress_label.setText("")

    @Slot(object)
    def _on_loaded(self, model: object) -> None:
        assert isinstance(model, LoadedModel)
        self._loading_done()
        summary = model.summary
        is_starter = starter.is_starter(summary.path)
        self.model_title.setText(starter.DISPLAY_NAME if is_starter else summary.name)
        for text in (summary.architecture, summary.file_type, f"{model.n_ctx:,} ctx"):
            self._add_badge(text)
        if model.chat_format.source == "builtin":
            self._add_badge(f"{model.chat_format.family} template", accent=True)
        self.unload_button.show()
        self.composer.set_ready(True, f"Message {summary.name}…  (Enter to send, Shift+Enter for a new line)")
        self.composer.input.setFocus()
        self.empty_title.setText("Say hello")
        self.empty_text.setText(f"{summary.name} is loaded in {model.load_s:.1f} s. Type a message below.")
        self.choose_button.hide()
        if is_starter:
            self._show_banner(starter.NOTE)
        self.status_changed.emit(f"Loaded {summary.name} in {model.load_s:.1f} s")

    @Slot(object)
    def _on_load_failed(self, exc: object) -> None:
        self._loading_done()
        self.model_title.setText("No model loaded")
        assert isinstance(exc, BaseException)
        title, message, hint = describe(exc)
        self._show_banner(f"<b>{title}.</b> {message} {hint}", rich=True)
        self.composer.set_ready(False, "Load a model to start chatting")
        self.status_changed.emit(title)

    @Slot()
    def _on_unloaded(self) -> None:
        self.model_title.setText("No model loaded")
        self._clear_badges()
        self.unload_button.hide()
        self.banner.hide()
        self.composer.set_ready(False, "Load a model to start chatting")
        self.empty_title.setText("Start a private chat")
        self.choose_button.show()
        self.status_changed.emit("Model unloaded")

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", "", "GGUF models (*.gguf)")
        if path:
            self.load(Path(path))

    # -- chatting ------------------------------------------------------------------------------------

    @Slot(str)
    def send(self, text: str) -> None:
        self.empty.hide()
        self.history.append({"role": "user", "content": text})
        self._add_bubble(MessageBubble("user", text))
        self._live = MessageBubble("assistant")
        self._add_bubble(self._live)
        self.composer.set_generating(True)
        self._request_id = self.controller.generate(self.history, self.sampling)

    @Slot()
    def stop(self) -> None:
        if self._live is not None:
            self.controller.cancel()

    @Slot(int, str, str)
    def _on_text(self, request_id: int, kind: str, text: str) -> None:
        if request_id == self._request_id and self._live is not None:
            self._live.append(kind, text)
            self._scroll_to_end()

    @Slot(int, object)
    def _on_finished(self, request_id: int, stats: object) -> None:
        if request_id != self._request_id or self._live is None:
            return
        assert isinstance(stats, GenerationStats)
        bubble, self._live = self._live, None
        bubble.finish(format_stats(stats))
        if bubble.text:
            self.history.append({"role": "assistant", "content": bubble.text})
        self.composer.set_generating(False)
        self.composer.input.setFocus()
        self.status_changed.emit(
            f"{stats.generation_tps:.1f} tok/s · TTFT {stats.ttft_s:.2f} s · "
            f"context {stats.context_used:,}/{stats.n_ctx:,}"
        )
        self._scroll_to_end()

    @Slot(int, object)
    def _on_failed(self, request_id: int, exc: object) -> None:
        if request_id != self._request_id or self._live is None:
            return
        assert isinstance(exc, BaseException)
        _, message, hint = describe(exc)
        self._live.show_error(f"{message} {hint}".strip())
        self._live = None
        self.history.pop()  # the user's message got no answer: do not send it again as history
        self.composer.set_generating(False)

    # -- helpers -------------------------------------------------------------------------------------

    def _add_bubble(self, bubble: MessageBubble) -> None:
        self.messages.insertWidget(self.messages.count() - 1, bubble)
        self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        QTimer.singleShot(0, lambda: bar.setValue(bar.maximum()))

    def _show_banner(self, text: str, *, rich: bool = False) -> None:
        self.banner_text.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.banner_text.setText(text)
        self.banner.show()

    def _add_badge(self, text: str, *, accent: bool = False) -> None:
        self.model_badges.addWidget(label(text, "badge-accent" if accent else "badge"))

    def _clear_badges(self) -> None:
        while (item := self.model_badges.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.deleteLater()
