"""The settings drawer's parts: what each setting means (the tooltips), stop-string parsing, the small
input widgets (spin boxes and sliders that take the wheel only when focused, foldable sections) and the
drawer's stylesheet. Kept apart from settings_panel.py, which holds the behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.limits import (
    GPU_LAYERS_WIDGET_MAX,
    N_GPU_LAYERS,
    SEED_MAX,
    STOP_LENGTH_MAX,
    STOP_STRINGS_MAX,
)
from desktop_app.ui.theme import Colors
from desktop_app.ui.widgets import ChevronCombo, label

NO_PRESET: Final = "No preset"

State = tuple[str, SamplingSettings, LoadSettings]  # system prompt, sampling, load

TIPS: Final[dict[str, str]] = {
    "system_prompt": (
        "Instructions the model reads before the conversation: a role, a tone, rules "
        "(\u201canswer briefly, in French\u201d). It is sent with every message and takes up part of "
        "the context."
    ),
    "temperature": (
        "How adventurous the wording is. Low (0\u20130.3): focused and repeatable, good for facts "
        "and code. About 0.7: natural conversation. Above 1: more surprising, with more mistakes. "
        "0 always picks the likeliest word. Range 0\u20135."
    ),
    "top_p": (
        "Nucleus sampling: only the likeliest words whose chances add up to this share are "
        "considered. 0.95 trims the unlikely tail; lower is safer and plainer; 1 turns it off. "
        "Range 0\u20131."
    ),
    "top_k": (
        "Only this many of the likeliest next words are considered. 40 is a common choice; lower "
        "is more predictable; 0 turns the limit off. Range 0\u20131000."
    ),
    "min_p": (
        "Drop words less likely than this fraction of the likeliest one. 0.05 removes nonsense "
        "while keeping variety, even at a high temperature; 0 turns it off. Range 0\u20131."
    ),
    "repeat_penalty": (
        "Makes words the model used recently less likely, to stop it looping. 1 is off; "
        "1.05\u20131.15 is gentle; too high and it avoids words it needs. Range 0\u20135."
    ),
    "repeat_last_n": (
        "How many recent tokens the repeat penalty looks back over. 64 by default; 0 turns the "
        "penalty off; \u22121 means the whole context."
    ),
    "max_tokens": (
        "The longest reply, in tokens (a token is about three quarters of an English word). The "
        "reply is cut off here, even mid-sentence. It also stops when the context is full."
    ),
    "seed": (
        "The random number that drives sampling. Random: every reply differs. Fixed: the same "
        "prompt with the same settings gives the same reply again, handy to compare settings. "
        f"A whole number from 0 to {SEED_MAX:,}."
    ),
    "stop": (
        "The reply ends as soon as the model writes one of these; the stop text itself is not "
        "shown. One per line. Write \\n for a line break, \\t for a tab and \\\\ for a backslash."
    ),
    "n_ctx": (
        "How many tokens the model sees at once: system prompt, history and reply together. "
        "Longer remembers more of the chat but needs more memory. It cannot exceed the length "
        "the model was trained on."
    ),
    "n_threads": (
        "How many CPU cores generate tokens. More is faster up to the number of physical cores, then slower."
    ),
    "n_gpu_layers": (
        "How many of the model's layers run on the graphics card; the rest run on the CPU. "
        "All is fastest when it fits in video memory; 0 keeps everything on the CPU. Needs a GPU "
        "build of llama.cpp (CUDA, Metal, Vulkan); a CPU build ignores it."
    ),
    "flash_attention": (
        "A faster, leaner way to compute attention, most useful with long contexts. Required for "
        "a q8_0 or q4_0 KV cache. Turn it off if replies come out garbled."
    ),
    "kv_cache_type": (
        "How the model's memory of the conversation (the KV cache) is stored. f16: full quality. "
        "q8_0: about half the memory, nearly the same quality. q4_0: about a quarter, some "
        "quality loss. f32: twice f16, rarely useful. q8_0 and q4_0 need flash attention."
    ),
    "use_mmap": (
        "Map the model file into memory instead of reading it all in: loads faster and lets the "
        "system share the pages. Turn it off if the file is on a slow or network drive."
    ),
    "use_mlock": (
        "Pin the model in RAM so the system never swaps it out. Steadier speed on a busy machine, "
        "but the memory stays taken while the model is loaded, and some systems refuse without "
        "extra permissions."
    ),
    "preset": (
        "Named sets of system prompt, sampling and load settings for this model. Picking one applies it."
    ),
}

FIELD_TITLES: Final[dict[str, str]] = {
    "temperature": "Temperature",
    "top_p": "Top-p",
    "top_k": "Top-k",
    "min_p": "Min-p",
    "repeat_penalty": "Repeat penalty",
    "repeat_last_n": "Penalty window",
    "max_tokens": "Max reply tokens",
}

KV_CHOICES: Final[tuple[tuple[str, str], ...]] = (
    ("f16", "f16 \u00b7 full quality"),
    ("q8_0", "q8_0 \u00b7 half the memory"),
    ("q4_0", "q4_0 \u00b7 a quarter"),
    ("f32", "f32 \u00b7 twice f16"),
)
QUANTIZED_KV: Final = frozenset({"q8_0", "q4_0"})


# ----------------------------------------------------------------------------------- stop strings


def parse_stop_strings(text: str) -> tuple[str, ...]:
    """One stop string per non-empty line, with \\n, \\t and \\\\ escapes; SettingsError otherwise.
    Lines are not stripped: a leading space can matter ("\\nUser:" vs " User:")."""
    stops: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        out: list[str] = []
        chars = iter(line)
        for char in chars:
            if char != "\\":
                out.append(char)
                continue
            escaped = next(chars, "")
            mapped = {"n": "\n", "t": "\t", "\\": "\\"}.get(escaped)
            if mapped is None:
                shown = f"\\{escaped}" if escaped else "a lone \\ at the end"
                raise SettingsError(
                    f"Line {number}: {shown} is not an escape Hearth knows.",
                    hint="Use \\n, \\t or \\\\ (a backslash).",
                )
            out.append(mapped)
        stop = "".join(out)
        if len(stop) > STOP_LENGTH_MAX:
            raise SettingsError(
                f"Line {number} is longer than {STOP_LENGTH_MAX} characters.", hint="Shorten it."
            )
        if stop not in stops:
            stops.append(stop)
    if len(stops) > STOP_STRINGS_MAX:
        raise SettingsError(f"At most {STOP_STRINGS_MAX} stop strings.", hint="Remove some lines.")
    return tuple(stops)


def format_stop_strings(stops: tuple[str, ...]) -> str:
    return "\n".join(s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") for s in stops)


# ----------------------------------------------------------------------------------- small widgets


def wheel_when_focused(widget: QWidget, event: QWheelEvent, default: Callable[[QWheelEvent], None]) -> None:
    """Scrolling the drawer must not change a value the pointer happens to pass over: controls take
    the wheel only when they have focus; otherwise it goes on to the scroll area."""
    if widget.hasFocus():
        default(event)
    else:
        event.ignore()


class Spin(QSpinBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        wheel_when_focused(self, event, super().wheelEvent)


class DoubleSpin(QDoubleSpinBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        wheel_when_focused(self, event, super().wheelEvent)


class Slider(QSlider):
    def wheelEvent(self, event: QWheelEvent) -> None:
        wheel_when_focused(self, event, super().wheelEvent)


class FieldCombo(ChevronCombo):
    def wheelEvent(self, event: QWheelEvent) -> None:
        wheel_when_focused(self, event, super().wheelEvent)


class NameEdit(QLineEdit):
    cancelled = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)


class Section(QFrame):
    """A card with a header that folds its body away."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SettingsSection")
        self._title = title
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.header = QPushButton()
        self.header.setObjectName("SectionHeader")
        self.header.setCheckable(True)
        self.header.setChecked(True)
        self.header.setCursor(Qt.CursorShape.PointingHandCursor)
        self.header.toggled.connect(self._toggled)
        outer.addWidget(self.header)
        self.body_widget = QWidget()
        self.body = QVBoxLayout(self.body_widget)
        self.body.setContentsMargins(14, 0, 14, 14)
        self.body.setSpacing(10)
        outer.addWidget(self.body_widget)
        self._toggled(True)

    @Slot(bool)
    def _toggled(self, expanded: bool) -> None:
        self.body_widget.setVisible(expanded)
        arrow = "\u25be" if expanded else "\u25b8"
        self.header.setText(f"{arrow}  {self._title}")
        state = "expanded" if expanded else "collapsed"
        self.header.setAccessibleName(f"{self._title} section, {state}")
        self.header.setToolTip(f"{'Hide' if expanded else 'Show'} the {self._title.lower()} settings")

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()


class Field(QWidget):
    """A labelled control, an optional line under it (a slider, a note) and a red hint that appears
    only while the input is invalid."""

    def __init__(
        self,
        title: str,
        control: QWidget,
        tip: str,
        *,
        stacked: bool = False,
        extra: QWidget | None = None,
        note: str = "",
    ) -> None:
        super().__init__()
        self.control = control
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.title = label(title)
        self.title.setToolTip(tip)
        self.title.setBuddy(control)
        control.setToolTip(tip)
        control.setAccessibleName(title)
        control.setAccessibleDescription(tip)
        if stacked:
            layout.addWidget(self.title)
            layout.addWidget(control)
        else:
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(8)
            row.addWidget(self.title, 1)
            row.addWidget(control)
            layout.addLayout(row)
        if extra is not None:
            extra.setToolTip(tip)
            layout.addWidget(extra)
        self.note = label(note, "muted", wrap=True)
        self.note.setVisible(bool(note))
        layout.addWidget(self.note)
        self.hint = label("", "error", wrap=True)
        self.hint.setAccessibleName(f"{title} problem")
        self.hint.hide()
        layout.addWidget(self.hint)

    def set_error(self, message: str | None) -> None:
        self.hint.setText(message or "")
        self.hint.setVisible(bool(message))

    @property
    def error(self) -> str:
        """The hint shown now, "" when the input is valid."""
        return "" if self.hint.isHidden() else self.hint.text()

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))


class GpuLayersControl(QWidget):
    """GPU layers as a choice: All, Off, or a number of layers. The value is LoadSettings.n_gpu_layers
    (-1 all, 0 off, n), with the spin box's interface (value, setValue, valueChanged, minimum,
    maximum), so it stands in for the bare spin box that offered only numbers."""

    valueChanged = Signal(int)  # noqa: N815 - the spin box's name, so either fits the same code
    ALL, OFF, SOME = -1, 0, 1
    CHOICES: Final = (("All layers", -1), ("Off (CPU only)", 0), ("Some layers\u2026", 1))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.choice = FieldCombo(min_chars=8, fit_items=True)
        for text, value in self.CHOICES:
            self.choice.addItem(text, value)
        self.choice.setAccessibleName("GPU layers")
        row.addWidget(self.choice, 1)
        self.count = int_spin(1, GPU_LAYERS_WIDGET_MAX, width=64)
        self.count.setGroupSeparatorShown(False)
        self.count.setAccessibleName("Layers on the GPU")
        self.count.setValue(32)
        row.addWidget(self.count)
        self._value = 0
        self._show(0)
        self.choice.currentIndexChanged.connect(self._chosen)
        self.count.valueChanged.connect(self._counted)

    def value(self) -> int:
        return self._value

    def setValue(self, value: int) -> None:
        """Show `value`; emits valueChanged when it differs, as a spin box does."""
        value = max(N_GPU_LAYERS.lo, min(int(value), GPU_LAYERS_WIDGET_MAX))
        self._show(value)
        self._set(value)

    def minimum(self) -> int:
        return N_GPU_LAYERS.lo

    def maximum(self) -> int:
        return GPU_LAYERS_WIDGET_MAX

    def text(self) -> str:
        """What it reads as: "All layers", "Off (CPU only)" or "12 layers"."""
        if self._value > 0:
            return f"{self._value} layers"
        return self.choice.currentText()

    def _show(self, value: int) -> None:
        index = 2 if value > 0 else (0 if value < 0 else 1)
        self.choice.blockSignals(True)
        self.choice.setCurrentIndex(index)
        self.choice.blockSignals(False)
        if value > 0:
            self.count.blockSignals(True)
            self.count.setValue(value)
            self.count.blockSignals(False)
        self.count.setVisible(value > 0)

    def _set(self, value: int) -> None:
        if value != self._value:
            self._value = value
            self.valueChanged.emit(value)

    @Slot(int)
    def _chosen(self, index: int) -> None:
        chosen = int(self.choice.itemData(index))
        value = self.count.value() if chosen == self.SOME else chosen
        self.count.setVisible(chosen == self.SOME)
        if chosen == self.SOME:
            self.count.setFocus()
        self._set(value)

    @Slot(int)
    def _counted(self, value: int) -> None:
        if self.choice.currentIndex() == 2:
            self._set(value)


def double_spin(lo: float, hi: float, step: float, decimals: int = 2) -> DoubleSpin:
    spin = DoubleSpin()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    spin.setDecimals(decimals)
    spin.setAlignment(Qt.AlignmentFlag.AlignRight)
    spin.setFixedWidth(76)
    spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return spin


def int_spin(lo: int, hi: int, step: int = 1, width: int = 96) -> Spin:
    spin = Spin()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    spin.setAlignment(Qt.AlignmentFlag.AlignRight)
    spin.setFixedWidth(width)
    spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    spin.setGroupSeparatorShown(True)
    return spin


def slider_for(spin: QDoubleSpinBox, lo: float, hi: float, name: str) -> Slider:
    """A slider over [lo, hi] (a useful part of the spin box's range) that follows the spin box and
    drives it; the spin box alone carries the value, so there is one source of truth."""
    step = spin.singleStep()
    slider = Slider(Qt.Orientation.Horizontal)
    slider.setRange(round(lo / step), round(hi / step))
    slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    slider.setAccessibleName(f"{name} slider")

    def from_spin(value: float) -> None:
        slider.blockSignals(True)
        slider.setValue(round(min(max(value, lo), hi) / step))
        slider.blockSignals(False)

    spin.valueChanged.connect(from_spin)
    slider.valueChanged.connect(lambda position: spin.setValue(position * step))
    return slider


def panel_stylesheet(c: Colors) -> str:
    """What the app stylesheet does not cover yet: section cards, their headers, sliders and check
    boxes. Scoped to the panel; it could move into theme.py as is."""
    return f"""
QWidget#SettingsPanel {{ background: {c.sidebar}; border-left: 1px solid {c.border}; }}
QWidget#SettingsPanel QPushButton {{ padding: 6px 10px; }}
QFrame#SettingsSection {{ background: {c.surface}; border: 1px solid {c.border}; border-radius: 10px; }}
QPushButton#SectionHeader {{
    background: transparent; border: none; border-radius: 10px; text-align: left;
    padding: 10px 14px; font-weight: 600; color: {c.text};
}}
QPushButton#SectionHeader:hover {{ color: {c.accent}; }}
QPushButton#SectionHeader:focus {{ color: {c.accent}; }}
QSpinBox:focus, QDoubleSpinBox:focus {{ border-color: {c.accent}; }}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{ width: 0px; border: none; }}
QComboBox {{ padding-right: 28px; }}
QComboBox::drop-down {{ border: none; width: 24px; }}
QComboBox::down-arrow {{ image: none; width: 0px; }}
QPushButton[kind="danger"]:disabled {{ color: {c.muted}; }}
QSpinBox:disabled, QDoubleSpinBox:disabled, QComboBox:disabled, QLineEdit:disabled {{
    color: {c.muted}; background: {c.surface_alt};
}}
QSlider {{ min-height: 18px; }}
QSlider::groove:horizontal {{ height: 4px; background: {c.border}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {c.accent}; border-radius: 2px; }}
QSlider::handle:horizontal {{
    background: {c.surface}; border: 2px solid {c.accent}; width: 10px; height: 10px;
    margin: -5px 0; border-radius: 7px;
}}
QSlider::handle:horizontal:focus {{ background: {c.accent}; }}
QCheckBox:disabled {{ color: {c.muted}; }}
"""
