"""The status bar: messages on the left; speed, first-token latency, context and memory on the right.

When the thread governor runs llama.cpp on fewer threads because other programs keep the CPU busy, a
field says so ("1 thread: the CPU is busy"): a reply that is slower than usual then explains itself."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.engine.governor import ThreadState
from desktop_app.core.system import resident_memory_bytes
from desktop_app.core.units import human_size
from desktop_app.ui.widgets import label
from desktop_app.workers.inference import InferenceController

MEMORY_POLL_MS = 2000


class StatusBar(QStatusBar):
    def __init__(self, controller: InferenceController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.message = label("Ready", "muted", elide=True)  # messages quote model names: one line
        self.message.setAccessibleName("Status")
        self.addWidget(self.message, 1)
        self.threads = self._field(
            "Threads: the model runs on fewer CPU threads while other programs keep the CPU busy, "
            "and goes back to all cores when they stop (Threads: Automatic in the model's settings)"
        )
        self.threads.hide()
        self.speed = self._field("Generation speed of the last reply, in tokens per second")
        self.ttft = self._field("Time to first token: how long the model took before it started answering")
        self.context = self._field("Tokens of the context window in use, out of the model's context length")
        self.memory = self._field("Memory used by Hearth, including the loaded model")
        self._n_ctx = 0
        controller.loaded.connect(self._on_loaded)
        controller.unloaded.connect(self._on_unloaded)
        controller.threads_changed.connect(self.show_threads)
        self._timer = QTimer(self)
        self._timer.setInterval(MEMORY_POLL_MS)
        self._timer.timeout.connect(self._poll_memory)
        self._timer.start()
        self._poll_memory()
        self._on_unloaded()

    def _field(self, tooltip: str) -> QLabel:
        field = label("", "muted")
        field.setToolTip(tooltip)
        field.setAccessibleName(tooltip.split(":", maxsplit=1)[0])
        self.addPermanentWidget(field)
        return field

    @Slot(object)
    def show_stats(self, stats: object) -> None:
        if not isinstance(stats, GenerationStats):
            return
        self.speed.setText(f"{stats.generation_tps:.1f} tok/s")
        self.ttft.setText(f"TTFT {stats.ttft_s:.2f} s")
        self.context.setText(f"Context {stats.context_used:,} / {stats.n_ctx:,}")
        if stats.n_threads:
            self._show_thread_note(stats.threads_note)

    @Slot(object)
    def show_threads(self, state: object) -> None:
        """The governor's state, while a reply streams."""
        if isinstance(state, ThreadState):
            self._show_thread_note(state.describe())

    def _show_thread_note(self, note: str) -> None:
        self.threads.setText(note)
        self.threads.setVisible(bool(note))

    @Slot(object)
    def _on_loaded(self, model: object) -> None:
        if isinstance(model, LoadedModel):
            self._n_ctx = model.n_ctx
            self.context.setText(f"Context 0 / {model.n_ctx:,}")
        self._poll_memory()

    @Slot()
    def _on_unloaded(self) -> None:
        self.speed.setText("— tok/s")
        self.ttft.setText("TTFT —")
        self.context.setText("No model")
        self._show_thread_note("")
        self._poll_memory()

    @Slot()
    def _poll_memory(self) -> None:
        rss = resident_memory_bytes()
        self.memory.setText(f"Memory {human_size(rss)}" if rss else "")
