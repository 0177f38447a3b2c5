"""The settings drawer's "Sampling" and "Load" sections: their widgets, and how a value is shown in them.

They hold no state and make no decisions: the drawer (settings_panel.py) connects their widgets to its
edit rules and keeps the last valid values. Each section registers its labelled fields in the `fields`
dict it is given, so the drawer can show a hint under any of them by name.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QSlider,
    QWidget,
)

from desktop_app.core import limits
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import DEFAULT_CONTEXT, LoadSettings, SamplingSettings
from desktop_app.core.providers.records import RemoteModel
from desktop_app.core.system import cpu_count, physical_cores
from desktop_app.ui.settings_fields import (
    FIELD_TITLES,
    KV_CHOICES,
    TIPS,
    Field,
    FieldCombo,
    GpuLayersControl,
    Section,
    double_spin,
    format_stop_strings,
    int_spin,
    parse_stop_strings,
    slider_for,
)
from desktop_app.ui.widgets import button, label

# name, (spin box range), step, (slider range: the useful part of the spin box's)
_SLIDERS: tuple[tuple[str, limits.FloatRange, float, float, float], ...] = (
    ("temperature", limits.TEMPERATURE, 0.05, 0.0, 2.0),
    ("top_p", limits.TOP_P, 0.01, 0.0, 1.0),
    ("min_p", limits.MIN_P, 0.01, 0.0, 0.5),
    ("repeat_penalty", limits.REPEAT_PENALTY, 0.01, 1.0, 2.0),
)


def add_field(fields: dict[str, Field], name: str, title: str, control: QWidget, **kwargs: Any) -> Field:
    """A Field with the setting's tooltip, registered under `name`."""
    field = Field(title, control, TIPS[name], **kwargs)
    fields[name] = field
    return field


AUTOMATIC_THREADS = "Automatic"  # the note under it says it is recommended: short enough for 14 pt text

JSON_OUTPUT_TIP = (
    "Every reply is one JSON object: llama.cpp's grammar sampler lets the model write nothing else. "
    "Ask for the fields you want in your message. A reply cut off by the token limit can be unfinished."
)


QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's QWIDGETSIZE_MAX (PySide6 does not export it)


def fit_to_text(spin: QAbstractSpinBox) -> None:
    """Size `spin` to its widest text at the current text size (int_spin fixes a width for numbers)."""
    spin.setMinimumWidth(0)
    spin.setMaximumWidth(QWIDGETSIZE_MAX)
    spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


def _cores_note() -> str:
    physical = physical_cores()
    logical = f"{cpu_count()} logical CPUs"
    cores = f"{physical} physical cores, {logical}" if physical else logical
    return (
        f"This computer has {cores}. Automatic (recommended) uses fewer while other programs keep the "
        "CPU busy."
    )


class SamplingSection(Section):
    def __init__(self, fields: dict[str, Field]) -> None:
        super().__init__("Sampling")
        self.spins: dict[str, QDoubleSpinBox] = {}
        self.sliders: dict[str, QSlider] = {}
        for name, bounds, step, slider_lo, slider_hi in _SLIDERS:
            title = FIELD_TITLES[name]
            spin = double_spin(bounds.lo, bounds.hi, step)
            slider = slider_for(spin, slider_lo, slider_hi, title)
            self.spins[name] = spin
            self.sliders[name] = slider
            self.body.addWidget(add_field(fields, name, title, spin, extra=slider))
            if name == "top_p":  # top-k sits with its siblings
                self.top_k = int_spin(limits.TOP_K.lo, limits.TOP_K_WIDGET_MAX, width=76)
                self.body.addWidget(add_field(fields, "top_k", FIELD_TITLES["top_k"], self.top_k))
        self.repeat_last_n = int_spin(limits.REPEAT_LAST_N.lo, limits.REPEAT_LAST_N.hi, 16, width=76)
        self.body.addWidget(
            add_field(fields, "repeat_last_n", FIELD_TITLES["repeat_last_n"], self.repeat_last_n)
        )
        self.max_tokens = int_spin(limits.MAX_TOKENS.lo, limits.MAX_TOKENS.hi, 256)
        self.body.addWidget(add_field(fields, "max_tokens", FIELD_TITLES["max_tokens"], self.max_tokens))

        seed_row = QWidget()
        seed_layout = QHBoxLayout(seed_row)
        seed_layout.setContentsMargins(0, 0, 0, 0)
        seed_layout.setSpacing(8)
        self.fixed_seed = QCheckBox("Fixed")
        self.fixed_seed.setAccessibleName("Fixed seed")
        self.fixed_seed.setToolTip(TIPS["seed"])
        seed_layout.addWidget(self.fixed_seed)
        self.seed_edit = QLineEdit()
        self.seed_edit.setPlaceholderText("Random")
        self.seed_edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.seed_edit.setFixedWidth(112)
        seed_layout.addWidget(self.seed_edit)
        field = add_field(fields, "seed", "Seed", seed_row)
        self.seed_edit.setAccessibleName("Seed")
        self.seed_edit.setToolTip(TIPS["seed"])
        self.body.addWidget(field)

        self.stop_edit = QPlainTextEdit()
        self.stop_edit.setPlaceholderText("One per line, e.g. ###  or  \\nUser:")
        self.stop_edit.setFixedHeight(64)
        self.stop_edit.setTabChangesFocus(True)
        self.body.addWidget(add_field(fields, "stop", "Stop strings", self.stop_edit, stacked=True))

        self.json_output = QCheckBox("JSON output")
        json_field = Field(self.json_output.text(), self.json_output, JSON_OUTPUT_TIP, stacked=True)
        json_field.title.hide()  # the check box carries its own text
        fields["json_output"] = json_field
        self.body.addWidget(json_field)

    def show_values(self, sampling: SamplingSettings) -> None:
        """Put `sampling` in the widgets. The caller silences their change signals."""
        for name, spin in self.spins.items():
            spin.setValue(float(getattr(sampling, name)))
        self.top_k.setMaximum(max(limits.TOP_K_WIDGET_MAX, sampling.top_k))
        self.top_k.setValue(sampling.top_k)
        self.repeat_last_n.setValue(sampling.repeat_last_n)
        self.max_tokens.setValue(sampling.max_tokens)
        self.json_output.setChecked(sampling.json_output)
        self.fixed_seed.setChecked(sampling.seed is not None)
        self.seed_edit.setEnabled(sampling.seed is not None)
        self.seed_edit.setText("" if sampling.seed is None else str(sampling.seed))
        try:
            shown = parse_stop_strings(self.stop_edit.toPlainText())
        except SettingsError:
            shown = None
        if shown != sampling.stop:  # keep the user's spelling when it means the same
            self.stop_edit.setPlainText(format_stop_strings(sampling.stop))


class LoadSection(Section):
    def __init__(self, fields: dict[str, Field]) -> None:
        super().__init__("Load")
        self._fields = fields
        self.load_note = label("These apply when the model is loaded again.", "muted", wrap=True)
        self.body.addWidget(self.load_note)
        self.n_ctx = int_spin(256, DEFAULT_CONTEXT, 1024)
        self.body.addWidget(add_field(fields, "n_ctx", "Context length", self.n_ctx))
        # 0 is "Automatic": LoadSettings reads it as None, so the drawer's edit rules need no special case.
        self.n_threads = int_spin(limits.THREADS_AUTOMATIC, cpu_count(), width=76)
        self.n_threads.setSpecialValueText(AUTOMATIC_THREADS)
        fit_to_text(self.n_threads)
        self.body.addWidget(
            add_field(fields, "n_threads", "CPU threads", self.n_threads, note=_cores_note(), stacked=True)
        )
        self.n_gpu_layers = GpuLayersControl()  # All, Off or a number, as My models → Settings… offers
        for part in (self.n_gpu_layers.choice, self.n_gpu_layers.count):
            part.setToolTip(TIPS["n_gpu_layers"])  # the field tips the whole control; its parts say it too
        self.body.addWidget(add_field(fields, "n_gpu_layers", "GPU layers", self.n_gpu_layers, stacked=True))
        self.kv_type = FieldCombo()
        for key, text in KV_CHOICES:
            self.kv_type.addItem(text, key)
        self.body.addWidget(add_field(fields, "kv_cache_type", "KV cache", self.kv_type, stacked=True))
        self.flash = QCheckBox("Flash attention")
        self.mmap = QCheckBox("Memory-map (mmap)")
        self.mlock = QCheckBox("Keep in RAM (mlock)")
        for name, box in (
            ("flash_attention", self.flash),
            ("use_mmap", self.mmap),
            ("use_mlock", self.mlock),
        ):
            field = add_field(fields, name, box.text(), box, stacked=True)
            field.title.hide()  # the check box carries its own text
            self.body.addWidget(field)
        self.reload_button = button("Reload model to apply", "primary")
        self.reload_button.setToolTip("Load the model again with these settings")
        self.body.addWidget(self.reload_button)

    def configure_context(self, trained: int, *, has_model: bool) -> None:
        """Bound the context to what the model was trained on. The caller silences the signals."""
        maximum = trained if trained >= limits.N_CTX.lo else limits.UNKNOWN_CONTEXT_MAX
        self.n_ctx.setRange(limits.N_CTX.lo, maximum)
        self.n_ctx.setSingleStep(256 if maximum <= 8192 else 1024)
        note = (
            f"Trained on up to {trained:,} tokens."
            if trained >= limits.N_CTX.lo
            else "The model file does not say how long a context it was trained on."
        )
        self._fields["n_ctx"].set_note(note if has_model else "")

    def show_values(self, load: LoadSettings, trained: int) -> None:
        """Put `load` in the widgets. The caller silences their change signals."""
        context = load.context_for(trained)
        if context > self.n_ctx.maximum():  # saved elsewhere with a longer context: show it as is
            self.n_ctx.setMaximum(context)
        self.n_ctx.setValue(context)
        fixed = load.n_threads
        self.n_threads.setMaximum(max(cpu_count(), fixed or 0))
        self.n_threads.setValue(limits.THREADS_AUTOMATIC if fixed is None else fixed)
        self.n_gpu_layers.setValue(load.n_gpu_layers)
        self.kv_type.setCurrentIndex(max(0, self.kv_type.findData(load.kv_cache_type)))
        self.flash.setChecked(load.flash_attention)
        self.mmap.setChecked(load.use_mmap)
        self.mlock.setChecked(load.use_mlock)

    def set_has_model(self, has_model: bool) -> None:
        for widget in (self.n_ctx, self.n_threads, self.n_gpu_layers, self.kv_type, self.flash):
            widget.setEnabled(has_model)
        self.mmap.setEnabled(has_model)
        self.mlock.setEnabled(has_model)
        self.load_note.setText(
            "These apply when the model is loaded again."
            if has_model
            else "Choose a model to change how it loads and to use presets."
        )


class RemoteSection(Section):
    """In place of the Load section while a provider's model answers: where it runs, and that its
    server, not this drawer, sets how it is loaded. Sampling settings are sent with each message,
    except repeat_last_n, which OpenAI's API has no field for (its field says so meanwhile)."""

    def __init__(self, fields: dict[str, Field]) -> None:
        super().__init__("Where it runs")
        self._fields = fields
        self.note = label("", "muted", wrap=True)  # names the server's model and the user's host: plain
        self.note.setAccessibleName("Where the model runs")
        self.body.addWidget(self.note)
        self.hide()

    def show_remote(self, remote: RemoteModel | None) -> None:
        if remote is None:
            self._fields["repeat_last_n"].set_note("")
            self.hide()
            return
        self.note.setText(
            f"{remote.model} runs on {remote.host} (provider {remote.provider}). Its server sets the "
            "context length, threads and GPU use; the settings above are sent with each message."
        )
        self._fields["repeat_last_n"].set_note("Not sent: the remote server uses its own.")
        self.show()
