"""The status bar: messages on the left; speed, first-token latency, context, memory and where the model
runs (CPU, or which GPU backend with how many layers) on the right.

When the thread governor runs llama.cpp on fewer threads because other programs keep the CPU busy, a
field says so ("1 thread: the CPU is busy"): a reply that is slower than usual then explains itself.
In a narrow window (or at a large text size) the least important fields step aside rather than be cut:
a field shows when it has something to say and there is room for all of it.

While a provider's model answers (show_remote), the model field says "Remote: MODEL on HOST" instead of
the local model's context; speed and TTFT are then measured here, from the stream."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.engine.governor import ThreadState
from desktop_app.core.providers.records import LEAVES, RemoteModel
from desktop_app.core.system import gpu_support, offloaded_layers, resident_memory_bytes
from desktop_app.core.units import human_size
from desktop_app.ui.plain_text import set_tooltip
from desktop_app.ui.widgets import label
from desktop_app.workers.inference import InferenceController

MEMORY_POLL_MS = 2000
SPEED_TIP = "Generation speed of the last reply, in tokens per second"
LIVE_SPEED_TIP = "Generation speed of the reply being written, in tokens per second so far"
CONTEXT_TIP = "Tokens of the context window in use, out of the model's context length"
REMOTE_NAME_CHARS = 40  # a model id or host longer than this is cut ("…"); the tooltip has all of it


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
        self.speed = self._field(SPEED_TIP)
        self.ttft = self._field("Time to first token: how long the model took before it started answering")
        self.context = self._field(CONTEXT_TIP)
        self.memory = self._field("Memory used by Hearth, including the loaded model")
        self.gpu = self._field("Where the model runs: the CPU, or the GPU backend of this llama.cpp build")
        # known once a model loads (finding out imports llama.cpp); kept longest first:
        self._priority = (self.context, self.speed, self.threads, self.gpu, self.memory, self.ttft)
        self._n_ctx = 0
        self.controller = controller
        self._remote: RemoteModel | None = None  # a provider's model that answers the chat
        controller.loaded.connect(self._on_loaded)
        controller.unloaded.connect(self._on_unloaded)
        controller.threads_changed.connect(self.show_threads)
        controller.live_speed.connect(self.show_live_speed)
        controller.failed.connect(self._on_failed)
        self._final_speed = ""  # the last finished reply's figure, shown again if a reply fails
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
        self._final_speed = f"{stats.generation_tps:.1f} tok/s"
        self._show_speed(self._final_speed, SPEED_TIP)
        self.ttft.setText(f"TTFT {stats.ttft_s:.2f} s")
        if self._remote is None and stats.n_ctx:  # a remote reply: its server's context is not known
            self.context.setText(f"Context {stats.context_used:,} / {stats.n_ctx:,}")
        if stats.n_threads:
            self._show_thread_note(stats.threads_note)
        self._fit()

    @Slot(int, float)
    def show_live_speed(self, _request_id: int, tps: float) -> None:
        """The speed so far, while a reply streams; the final figure replaces it (show_stats)."""
        self._show_speed(f"{tps:.1f} tok/s", LIVE_SPEED_TIP)

    @Slot(int, object)
    def _on_failed(self, _request_id: int, _error: object) -> None:
        """A reply that failed has no final figure: the last finished reply's comes back."""
        self._show_speed(self._final_speed or "— tok/s", SPEED_TIP)

    def _show_speed(self, text: str, tip: str) -> None:
        self.speed.setText(text)
        self.speed.setToolTip(tip)
        self._fit()

    @Slot(object)
    def show_threads(self, state: object) -> None:
        """The governor's state, while a reply streams."""
        if isinstance(state, ThreadState):
            self._show_thread_note(state.describe())

    def _show_thread_note(self, note: str) -> None:
        self.threads.setText(note)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """Show the fields that have text, most important first, while they fit beside the message."""
        spacing = 8
        room = self.width() - self.message.minimumSizeHint().width() - 2 * spacing
        used = 0
        for field in self._priority:
            need = field.sizeHint().width() + spacing
            show = bool(field.text()) and used + need <= room
            if show:
                used += need
            field.setVisible(show)

    @Slot(object)
    def show_remote(self, remote: object) -> None:
        """A provider's model answers the chat (a RemoteModel), or None: the local model (if any) does
        again. The model field says where replies come from; the GPU field, about this computer's
        llama.cpp, says nothing meanwhile."""
        self._remote = remote if isinstance(remote, RemoteModel) else None
        if self._remote is not None:
            model, host = _cut(self._remote.model), _cut(self._remote.host)
            self.context.setText(f"Remote: {model} on {host}")
            set_tooltip(  # the model id is the server's text, the host the user's: shown literally
                self.context,
                f"Replies come from {self._remote.model}, which runs on {self._remote.host} "
                f"(provider {self._remote.provider}): {LEAVES}.",
            )
            self.gpu.setText("")
            self._show_thread_note("")
        else:
            self.context.setToolTip(CONTEXT_TIP)
            loaded = self.controller.loaded_model
            if loaded is not None:
                self._on_loaded(loaded)
            else:
                self.context.setText("No model")
        self._fit()

    @Slot(object)
    def _on_loaded(self, model: object) -> None:
        if isinstance(model, LoadedModel):
            self._n_ctx = model.n_ctx
            if self._remote is None:
                self.context.setText(f"Context 0 / {model.n_ctx:,}")
                self.show_gpu(model)
        self._poll_memory()

    def show_gpu(self, model: LoadedModel) -> None:
        """ "CPU only", or "CUDA · 29/29 layers": the backend this build has and what was offloaded."""
        support = gpu_support()
        offload = support.offload and model.gpu_offload
        on_gpu, total = offloaded_layers(model.settings.n_gpu_layers, model.summary.block_count, offload)
        if not support.offload:
            text = "CPU only"
        elif on_gpu == 0:
            text = f"{support.name} · GPU off"
        else:
            text = f"{support.name} · {on_gpu}/{total} layers"
        detail = support.describe()
        if support.offload:
            detail += (
                f" {on_gpu} of {total} layers of this model run on the GPU (GPU layers in its settings)."
            )
        self.gpu.setText(text)
        set_tooltip(self.gpu, detail)  # device names come from the native library: shown literally
        self._fit()

    @Slot()
    def _on_unloaded(self) -> None:
        self._final_speed = ""
        self.speed.setText("— tok/s")
        self.ttft.setText("TTFT —")
        if self._remote is None:  # else the remote model still answers: the field says so
            self.context.setText("No model")
        self.gpu.setText("")
        self._show_thread_note("")
        self._poll_memory()

    @Slot()
    def _poll_memory(self) -> None:
        rss = resident_memory_bytes()
        self.memory.setText(f"Memory {human_size(rss)}" if rss else "")
        self._fit()


def _cut(text: str, limit: int = REMOTE_NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
