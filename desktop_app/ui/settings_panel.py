"""The chat settings drawer: system prompt, sampling, load settings and per-model presets.

The panel keeps the *last valid* value of every setting. A field the user is typing into may hold
something invalid for a moment (a seed of "12a", an unknown escape in a stop string): the panel then
shows a red hint under that field, keeps the previous value and emits nothing, so the chat never
receives settings the engine would reject. Spin boxes and sliders cannot go out of range, so hints
mostly concern the text fields and the one cross-field rule (a quantized KV cache needs flash attention).

Signals fire only for changes the user makes (typing, a preset, a reset, undo); `set_model` and
`set_system_prompt` are the chat's own changes and emit nothing. Load settings take effect only when
the model is loaded again, hence the "Reload" button, enabled only when they differ from what is loaded.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import HearthError, SettingsError
from desktop_app.core.generation import DEFAULT_CONTEXT, LoadSettings, SamplingSettings
from desktop_app.core.presets import Preset, PresetStore, check_name, model_defaults
from desktop_app.core.system import cpu_count
from desktop_app.ui.settings_fields import (
    FIELD_TITLES,
    KV_CHOICES,
    NO_PRESET,
    QUANTIZED_KV,
    SEED_MAX,
    TIPS,
    UNKNOWN_CONTEXT_MAX,
    Field,
    FieldCombo,
    NameEdit,
    Section,
    State,
    double_spin,
    format_stop_strings,
    int_spin,
    panel_stylesheet,
    parse_stop_strings,
    slider_for,
)
from desktop_app.ui.theme import Colors, current_colors
from desktop_app.ui.widgets import SPACING, button, label

# ----------------------------------------------------------------------------------------- panel


class SettingsPanel(QWidget):
    """The settings drawer. `presets` stores this panel's named presets per model."""

    sampling_changed = Signal(object)  # SamplingSettings, after each valid change by the user
    system_prompt_changed = Signal(str)  # on every edit by the user (debounce saving if needed)
    reload_requested = Signal(object)  # LoadSettings: load the model again with these

    def __init__(self, presets: PresetStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SettingsPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setMinimumWidth(280)
        self.presets = presets
        self._model_key: str | None = None
        self._trained = 0
        self._metadata: Mapping[str, object] | None = None
        self._loaded: LoadSettings | None = None
        self._sampling = SamplingSettings()
        self._load = LoadSettings()
        self._system_prompt = ""
        self._preset: Preset | None = None  # the selected preset, as stored
        self._selected: str | None = None  # the selected name (also when the preset is damaged)
        self._remembered: dict[str, str] = {}  # model key -> last selected preset name
        self._undo: Callable[[], None] | None = None
        self._updating = False
        self._colors: Colors | None = None
        self.fields: dict[str, Field] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        top = QHBoxLayout()
        top.setContentsMargins(16, 14, 16, 10)
        self.heading = label("Chat settings", "heading")
        top.addWidget(self.heading, 1)
        outer.addLayout(top)

        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(12, 0, 12, 16)
        column.setSpacing(SPACING)
        self.presets_section = self._build_presets()
        self.prompt_section = self._build_prompt()
        self.sampling_section = self._build_sampling()
        self.load_section = self._build_load()
        for section in (self.presets_section, self.prompt_section, self.sampling_section, self.load_section):
            column.addWidget(section)
        column.addStretch(1)
        self.scroll_area.setWidget(content)
        outer.addWidget(self.scroll_area, 1)

        self._apply_style()
        self._show_state((self._system_prompt, self._sampling, self._load))
        self._refresh_presets()
        self._update_enabled()

    # -- public API ------------------------------------------------------------------------------

    def set_model(
        self,
        model_key: str | None,
        *,
        trained_context: int = 0,
        loaded: LoadSettings | None = None,
        sampling: SamplingSettings | None = None,
        system_prompt: str = "",
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        """Show the settings of the model the chat uses. `model_key`: the library id (or the file
        path outside the library), None when no model is chosen. `loaded`: the settings the model
        is loaded with, None when it is not loaded (then the Reload button offers to load it).
        `metadata`: the GGUF metadata (ModelSummary.metadata), for the file's recommended sampling
        when resetting to the model's defaults. Emits nothing."""
        self._model_key = model_key
        self._trained = max(0, trained_context)
        self._metadata = metadata
        self._loaded = loaded
        self._undo = None
        self.notice.hide()
        self._cancel_save_as()
        self._configure_context()
        state = (system_prompt, sampling or SamplingSettings(), loaded or model_defaults(metadata).load)
        self._system_prompt, self._sampling, self._load = state
        self._show_state(state)
        self._refresh_presets(self._remembered.get(model_key) if model_key else None)
        self._update_enabled()

    def sampling(self) -> SamplingSettings:
        """The last valid sampling settings."""
        return self._sampling

    def system_prompt(self) -> str:
        return self._system_prompt

    def load_settings(self) -> LoadSettings:
        """The last valid load settings (n_ctx None means automatic)."""
        return self._load

    def set_system_prompt(self, text: str) -> None:
        """Show another conversation's system prompt. Emits nothing."""
        self._system_prompt = text
        with self._quiet():
            if self.prompt_edit.toPlainText() != text:
                self.prompt_edit.setPlainText(text)
        self._update_preset_state()

    def set_sampling(self, sampling: SamplingSettings) -> None:
        """Show another conversation's sampling settings. Emits nothing."""
        self._sampling = sampling
        self._show_state((self._system_prompt, sampling, self._load))
        self._update_preset_state()

    @property
    def model_key(self) -> str | None:
        return self._model_key

    # -- construction ----------------------------------------------------------------------------

    def _build_presets(self) -> Section:
        section = Section("Presets")
        self.preset_combo = FieldCombo()
        self.preset_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_chosen)
        field = self._field("preset", "Preset", self.preset_combo, stacked=True)
        field.title.hide()  # the section header already says it
        section.body.addWidget(field)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.save_button = button("Save", tooltip="Overwrite the selected preset with the current settings")
        self.save_button.clicked.connect(self._save)
        self.save_as_button = button("Save as\u2026", tooltip="Save the current settings as a new preset")
        self.save_as_button.clicked.connect(self._start_save_as)
        self.delete_button = button("Delete", "danger", tooltip="Delete the selected preset (you can undo)")
        self.delete_button.clicked.connect(self._delete)
        for widget in (self.save_button, self.save_as_button, self.delete_button):
            row.addWidget(widget, 1)
        section.body.addLayout(row)

        self.save_as_row = QWidget()
        save_as = QHBoxLayout(self.save_as_row)
        save_as.setContentsMargins(0, 0, 0, 0)
        save_as.setSpacing(6)
        self.name_edit = NameEdit()
        self.name_edit.setPlaceholderText("Preset name")
        self.name_edit.setAccessibleName("New preset name")
        self.name_edit.setMaxLength(80)
        self.name_edit.returnPressed.connect(self._confirm_save_as)
        self.name_edit.cancelled.connect(self._cancel_save_as)
        self.name_edit.textEdited.connect(lambda _text: self.fields["preset"].set_error(None))
        save_as.addWidget(self.name_edit, 1)
        self.confirm_button = button("Save", "primary", tooltip="Save the new preset (Enter)")
        self.confirm_button.setAccessibleName("Save new preset")
        self.confirm_button.clicked.connect(self._confirm_save_as)
        save_as.addWidget(self.confirm_button)
        self.cancel_button = button("Cancel", "ghost", tooltip="Do not save (Esc)")
        self.cancel_button.setAccessibleName("Cancel new preset")
        self.cancel_button.clicked.connect(self._cancel_save_as)
        save_as.addWidget(self.cancel_button)
        self.save_as_row.hide()
        section.body.addWidget(self.save_as_row)

        self.reset_button = button(
            "Reset to model defaults",
            "ghost",
            tooltip="Hearth's defaults for this model, with the sampling values recommended in the "
            "model file when it has them. You can undo.",
        )
        self.reset_button.clicked.connect(self._reset)
        section.body.addWidget(self.reset_button)

        self.notice = QWidget()
        notice = QHBoxLayout(self.notice)
        notice.setContentsMargins(0, 0, 0, 0)
        notice.setSpacing(6)
        self.notice_text = label("", "muted", wrap=True)
        notice.addWidget(self.notice_text, 1)
        self.undo_button = button("Undo", "ghost", tooltip="Undo the last preset action")
        self.undo_button.clicked.connect(self._run_undo)
        notice.addWidget(self.undo_button)
        self.notice.hide()
        section.body.addWidget(self.notice)
        return section

    def _build_prompt(self) -> Section:
        section = Section("System prompt")
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("You are a helpful assistant\u2026")
        self.prompt_edit.setFixedHeight(96)
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_edit.textChanged.connect(self._on_prompt_edited)
        field = self._field("system_prompt", "System prompt", self.prompt_edit, stacked=True)
        field.title.hide()  # the section header already says it
        section.body.addWidget(field)
        return section

    def _build_sampling(self) -> Section:
        section = Section("Sampling")
        sliders = (
            ("temperature", 0.0, 5.0, 0.05, 0.0, 2.0),
            ("top_p", 0.0, 1.0, 0.01, 0.0, 1.0),
            ("min_p", 0.0, 1.0, 0.01, 0.0, 0.5),
            ("repeat_penalty", 0.0, 5.0, 0.01, 1.0, 2.0),
        )
        self.spins: dict[str, QDoubleSpinBox] = {}
        self.sliders: dict[str, QSlider] = {}
        for name, lo, hi, step, slider_lo, slider_hi in sliders:
            title = FIELD_TITLES[name]
            spin = double_spin(lo, hi, step)
            slider = slider_for(spin, slider_lo, slider_hi, title)
            spin.valueChanged.connect(lambda value, n=name: self._edit_sampling(n, round(value, 2)))
            self.spins[name] = spin
            self.sliders[name] = slider
            section.body.addWidget(self._field(name, title, spin, extra=slider))
            if name == "top_p":  # top-k sits with its siblings
                self.top_k = int_spin(0, 1000, width=76)
                self.top_k.valueChanged.connect(lambda value: self._edit_sampling("top_k", value))
                section.body.addWidget(self._field("top_k", FIELD_TITLES["top_k"], self.top_k))
        self.repeat_last_n = int_spin(-1, 1 << 20, 16, width=76)
        self.repeat_last_n.valueChanged.connect(lambda value: self._edit_sampling("repeat_last_n", value))
        section.body.addWidget(
            self._field("repeat_last_n", FIELD_TITLES["repeat_last_n"], self.repeat_last_n)
        )
        self.max_tokens = int_spin(1, 1 << 21, 256)
        self.max_tokens.valueChanged.connect(lambda value: self._edit_sampling("max_tokens", value))
        section.body.addWidget(self._field("max_tokens", FIELD_TITLES["max_tokens"], self.max_tokens))

        seed_row = QWidget()
        seed_layout = QHBoxLayout(seed_row)
        seed_layout.setContentsMargins(0, 0, 0, 0)
        seed_layout.setSpacing(8)
        self.fixed_seed = QCheckBox("Fixed")
        self.fixed_seed.setAccessibleName("Fixed seed")
        self.fixed_seed.setToolTip(TIPS["seed"])
        self.fixed_seed.toggled.connect(self._on_fixed_seed)
        seed_layout.addWidget(self.fixed_seed)
        self.seed_edit = QLineEdit()
        self.seed_edit.setPlaceholderText("Random")
        self.seed_edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.seed_edit.setFixedWidth(112)
        self.seed_edit.textEdited.connect(lambda _text: self._edit_seed())
        seed_layout.addWidget(self.seed_edit)
        field = self._field("seed", "Seed", seed_row)
        self.seed_edit.setAccessibleName("Seed")
        self.seed_edit.setToolTip(TIPS["seed"])
        section.body.addWidget(field)

        self.stop_edit = QPlainTextEdit()
        self.stop_edit.setPlaceholderText("One per line, e.g. ###  or  \\nUser:")
        self.stop_edit.setFixedHeight(64)
        self.stop_edit.setTabChangesFocus(True)
        self.stop_edit.textChanged.connect(self._edit_stop)
        section.body.addWidget(self._field("stop", "Stop strings", self.stop_edit, stacked=True))
        return section

    def _build_load(self) -> Section:
        section = Section("Load")
        self.load_note = label("These apply when the model is loaded again.", "muted", wrap=True)
        section.body.addWidget(self.load_note)
        self.n_ctx = int_spin(256, DEFAULT_CONTEXT, 1024)
        self.n_ctx.valueChanged.connect(lambda value: self._edit_load("n_ctx", value))
        section.body.addWidget(self._field("n_ctx", "Context length", self.n_ctx))
        self.n_threads = int_spin(1, cpu_count(), width=76)
        self.n_threads.valueChanged.connect(lambda value: self._edit_load("n_threads", value))
        section.body.addWidget(
            self._field(
                "n_threads",
                "CPU threads",
                self.n_threads,
                note=f"This computer has {cpu_count()} logical CPUs.",
            )
        )
        self.n_gpu_layers = int_spin(-1, 999, width=76)
        self.n_gpu_layers.setSpecialValueText("All")
        self.n_gpu_layers.valueChanged.connect(lambda value: self._edit_load("n_gpu_layers", value))
        section.body.addWidget(self._field("n_gpu_layers", "GPU layers", self.n_gpu_layers))
        self.kv_type = FieldCombo()
        for key, text in KV_CHOICES:
            self.kv_type.addItem(text, key)
        self.kv_type.currentIndexChanged.connect(self._on_kv_type)
        section.body.addWidget(self._field("kv_cache_type", "KV cache", self.kv_type, stacked=True))
        self.flash = QCheckBox("Flash attention")
        self.flash.toggled.connect(self._on_flash)
        self.mmap = QCheckBox("Memory-map the file (mmap)")
        self.mmap.toggled.connect(lambda on: self._edit_load("use_mmap", on))
        self.mlock = QCheckBox("Keep in RAM (mlock)")
        self.mlock.toggled.connect(lambda on: self._edit_load("use_mlock", on))
        for name, box in (
            ("flash_attention", self.flash),
            ("use_mmap", self.mmap),
            ("use_mlock", self.mlock),
        ):
            field = self._field(name, box.text(), box, stacked=True)
            field.title.hide()  # the check box carries its own text
            section.body.addWidget(field)
        self.reload_button = button("Reload model to apply", "primary")
        self.reload_button.setToolTip("Load the model again with these settings")
        self.reload_button.clicked.connect(self._request_reload)
        section.body.addWidget(self.reload_button)
        return section

    def _field(self, name: str, title: str, control: QWidget, **kwargs: Any) -> Field:
        field = Field(title, control, TIPS[name], **kwargs)
        self.fields[name] = field
        return field

    # -- showing values --------------------------------------------------------------------------

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set widgets without their change signals counting as user edits."""
        before, self._updating = self._updating, True
        try:
            yield
        finally:
            self._updating = before

    def _configure_context(self) -> None:
        maximum = self._trained if self._trained >= 64 else UNKNOWN_CONTEXT_MAX
        with self._quiet():
            self.n_ctx.setRange(64, maximum)
            self.n_ctx.setSingleStep(256 if maximum <= 8192 else 1024)
        note = (
            f"Trained on up to {self._trained:,} tokens."
            if self._trained >= 64
            else "The model file does not say how long a context it was trained on."
        )
        self.fields["n_ctx"].set_note(note if self._model_key else "")

    def _show_state(self, state: State) -> None:
        """Put values in the widgets (not emitting) and clear the hints, since they are valid."""
        prompt, sampling, load = state
        with self._quiet():
            if self.prompt_edit.toPlainText() != prompt:
                self.prompt_edit.setPlainText(prompt)
            for name, spin in self.spins.items():
                spin.setValue(float(getattr(sampling, name)))
            self.top_k.setMaximum(max(1000, sampling.top_k))
            self.top_k.setValue(sampling.top_k)
            self.repeat_last_n.setValue(sampling.repeat_last_n)
            self.max_tokens.setValue(sampling.max_tokens)
            self.fixed_seed.setChecked(sampling.seed is not None)
            self.seed_edit.setEnabled(sampling.seed is not None)
            self.seed_edit.setText("" if sampling.seed is None else str(sampling.seed))
            try:
                shown = parse_stop_strings(self.stop_edit.toPlainText())
            except SettingsError:
                shown = None
            if shown != sampling.stop:  # keep the user's spelling when it means the same
                self.stop_edit.setPlainText(format_stop_strings(sampling.stop))
            context = load.context_for(self._trained)
            if context > self.n_ctx.maximum():  # saved elsewhere with a longer context: show it as is
                self.n_ctx.setMaximum(context)
            self.n_ctx.setValue(context)
            self.n_threads.setMaximum(max(cpu_count(), load.n_threads))
            self.n_threads.setValue(load.n_threads)
            self.n_gpu_layers.setValue(load.n_gpu_layers)
            self.kv_type.setCurrentIndex(max(0, self.kv_type.findData(load.kv_cache_type)))
            self.flash.setChecked(load.flash_attention)
            self.mmap.setChecked(load.use_mmap)
            self.mlock.setChecked(load.use_mlock)
        for field in self.fields.values():
            if field is not self.fields["preset"]:
                field.set_error(None)
        self._update_flash_note()

    def _update_enabled(self) -> None:
        has_model = self._model_key is not None
        self.presets_section.body_widget.setEnabled(has_model)
        for widget in (self.n_ctx, self.n_threads, self.n_gpu_layers, self.kv_type, self.flash):
            widget.setEnabled(has_model)
        self.mmap.setEnabled(has_model)
        self.mlock.setEnabled(has_model)
        self.load_note.setText(
            "These apply when the model is loaded again."
            if has_model
            else "Choose a model to change how it loads and to use presets."
        )
        self._update_reload_state()
        self._update_preset_state()

    # -- sampling and prompt edits ---------------------------------------------------------------

    def _edit_sampling(self, name: str, value: object) -> None:
        if self._updating:
            return
        field = self.fields[name]
        try:
            changes: dict[str, Any] = {name: value}
            candidate = replace(self._sampling, **changes)
        except SettingsError as exc:
            field.set_error(exc.message)
            return
        field.set_error(None)
        self._commit_sampling(candidate)

    def _commit_sampling(self, sampling: SamplingSettings) -> None:
        if sampling != self._sampling:
            self._sampling = sampling
            self.sampling_changed.emit(sampling)
        self._update_preset_state()

    @Slot(bool)
    def _on_fixed_seed(self, fixed: bool) -> None:
        if self._updating:
            return
        self.seed_edit.setEnabled(fixed)
        if fixed and not self.seed_edit.text().strip():
            self.seed_edit.setText(str(random.randrange(SEED_MAX + 1)))
        if fixed:
            self.seed_edit.setFocus()
        self._edit_seed()

    def _edit_seed(self) -> None:
        if self._updating:
            return
        if not self.fixed_seed.isChecked():
            self._edit_sampling("seed", None)
            return
        text = self.seed_edit.text().strip().replace(",", "").replace("_", "")
        if not text.isdigit() or int(text) > SEED_MAX:
            self.fields["seed"].set_error(f"The seed must be a whole number from 0 to {SEED_MAX:,}.")
            return
        self._edit_sampling("seed", int(text))

    @Slot()
    def _edit_stop(self) -> None:
        if self._updating:
            return
        try:
            stops = parse_stop_strings(self.stop_edit.toPlainText())
        except SettingsError as exc:
            self.fields["stop"].set_error(f"{exc.message} {exc.hint}".strip())
            return
        self._edit_sampling("stop", stops)

    @Slot()
    def _on_prompt_edited(self) -> None:
        if self._updating:
            return
        text = self.prompt_edit.toPlainText()
        if text != self._system_prompt:
            self._system_prompt = text
            self.system_prompt_changed.emit(text)
        self._update_preset_state()

    # -- load edits ------------------------------------------------------------------------------

    def _edit_load(self, name: str, value: object) -> None:
        if self._updating:
            return
        field = self.fields[name]
        try:
            changes: dict[str, Any] = {name: value}
            candidate = replace(self._load, **changes)
        except SettingsError as exc:
            field.set_error(exc.message)
            return
        field.set_error(None)
        self._load = candidate
        self._update_reload_state()
        self._update_preset_state()

    @Slot(int)
    def _on_kv_type(self, index: int) -> None:
        if self._updating:
            return
        kv_type = str(self.kv_type.itemData(index))
        if kv_type in QUANTIZED_KV and not self.flash.isChecked():
            with self._quiet():
                self.flash.setChecked(True)  # llama.cpp refuses a quantized V cache without it
            self._edit_load("flash_attention", True)
            self.fields["flash_attention"].set_error(None)
        if kv_type not in QUANTIZED_KV:
            self.fields["flash_attention"].set_error(None)
        self._edit_load("kv_cache_type", kv_type)
        self._update_flash_note()

    @Slot(bool)
    def _on_flash(self, on: bool) -> None:
        if self._updating:
            return
        if not on and self._load.kv_cache_type in QUANTIZED_KV:
            with self._quiet():  # a check box holds no half-typed input: show the value kept
                self.flash.setChecked(True)
            self.fields["flash_attention"].set_error(
                f"A {self._load.kv_cache_type} KV cache needs flash attention. To turn it off, "
                "pick f16 as the KV cache type first."
            )
            return
        self._edit_load("flash_attention", on)
        self._update_flash_note()

    def _update_flash_note(self) -> None:
        needed = self._load.kv_cache_type in QUANTIZED_KV and self._load.flash_attention
        self.fields["flash_attention"].set_note(
            f"On because the {self._load.kv_cache_type} KV cache needs it." if needed else ""
        )

    def _normalized(self, load: LoadSettings) -> LoadSettings:
        """Compare load settings by what llama.cpp gets: "automatic" context resolved."""
        return replace(load, n_ctx=load.context_for(self._trained))

    def _update_reload_state(self) -> None:
        if self._model_key is None:
            self.reload_button.setEnabled(False)
            self.reload_button.setText("Reload model to apply")
            return
        if self._loaded is None:
            self.reload_button.setEnabled(True)
            self.reload_button.setText("Load model with these settings")
        else:
            self.reload_button.setText("Reload model to apply")
            self.reload_button.setEnabled(self._normalized(self._load) != self._normalized(self._loaded))
        self.reload_button.setAccessibleName(self.reload_button.text())

    @Slot()
    def _request_reload(self) -> None:
        if self._model_key is not None:
            self.reload_requested.emit(self._load)

    # -- presets ---------------------------------------------------------------------------------

    def _state(self) -> State:
        return (self._system_prompt, self._sampling, self._load)

    def _same(self, a: State, b: State) -> bool:
        return a[0] == b[0] and a[1] == b[1] and self._normalized(a[2]) == self._normalized(b[2])

    def _apply(self, state: State) -> None:
        """Make `state` current as if the user had set every field, emitting what changed."""
        prompt, sampling, load = state
        self._show_state(state)
        self._load = load
        if prompt != self._system_prompt:
            self._system_prompt = prompt
            self.system_prompt_changed.emit(prompt)
        self._commit_sampling(sampling)
        self._update_reload_state()

    def _refresh_presets(self, select: str | None = None) -> None:
        """Fill the combo with this model's presets and select `select` (without applying it)."""
        names: list[str] = []
        preset_field = self.fields["preset"]
        preset_field.set_error(None)
        if self._model_key is not None:
            try:
                names = self.presets.names(self._model_key)
            except HearthError as exc:
                preset_field.set_error(f"{exc.message} {exc.hint}".strip())
        chosen = next((n for n in names if select is not None and n.casefold() == select.casefold()), None)
        with self._quiet():
            self.preset_combo.clear()
            self.preset_combo.addItem(NO_PRESET, None)
            for name in names:
                self.preset_combo.addItem(name, name)
            self.preset_combo.setCurrentIndex(names.index(chosen) + 1 if chosen else 0)
        self._selected = chosen
        self._preset = None
        if chosen is not None and self._model_key is not None:
            try:
                self._preset = self.presets.get(self._model_key, chosen)
            except HearthError as exc:
                preset_field.set_error(f"{exc.message} {exc.hint}".strip())
        self._remember()
        self._update_preset_state()

    def _remember(self) -> None:
        if self._model_key is None:
            return
        if self._selected is None:
            self._remembered.pop(self._model_key, None)
        else:
            self._remembered[self._model_key] = self._selected

    def _update_preset_state(self) -> None:
        has_model = self._model_key is not None
        selected = has_model and self._selected is not None
        dirty = self._preset is not None and not self._same(
            self._state(), (self._preset.system_prompt, self._preset.sampling, self._preset.load)
        )
        damaged = selected and self._preset is None
        self.save_button.setEnabled(bool(selected and (dirty or damaged)))
        self.delete_button.setEnabled(bool(selected))
        self.save_as_button.setEnabled(has_model)
        self.reset_button.setEnabled(has_model)
        preset_field = self.fields["preset"]
        if self._preset is not None:
            preset_field.set_note("Changed since it was loaded; Save keeps the changes." if dirty else "")
        else:
            preset_field.set_note("")

    @Slot(int)
    def _on_preset_chosen(self, index: int) -> None:
        if self._updating or self._model_key is None:
            return
        name = self.preset_combo.itemData(index)
        previous = self._selected
        preset_field = self.fields["preset"]
        preset_field.set_error(None)
        self._selected = name if isinstance(name, str) else None
        self._preset = None
        self._remember()
        if self._selected is None:
            self._update_preset_state()
            return
        try:
            preset = self.presets.get(self._model_key, self._selected)
        except HearthError as exc:
            preset_field.set_error(f"{exc.message} {exc.hint}".strip())
            self._update_preset_state()
            return
        before = self._state()
        self._preset = preset
        self._apply((preset.system_prompt, preset.sampling, preset.load))
        if not self._same(before, self._state()):
            self._offer_undo(f"Applied \u201c{preset.name}\u201d.", lambda: self._restore(before, previous))
        self._update_preset_state()

    @Slot()
    def _save(self) -> None:
        if self._model_key is None or self._selected is None:
            return
        self._store(self._selected, overwrite=True)

    def _store(self, name: str, *, overwrite: bool) -> bool:
        assert self._model_key is not None
        prompt, sampling, load = self._state()
        try:
            preset = self.presets.save(
                self._model_key, name, system_prompt=prompt, sampling=sampling, load=load, overwrite=overwrite
            )
        except HearthError as exc:
            self.fields["preset"].set_error(f"{exc.message} {exc.hint}".strip())
            return False
        self._refresh_presets(preset.name)
        self._show_notice(f"Saved \u201c{preset.name}\u201d.")
        return True

    @Slot()
    def _start_save_as(self) -> None:
        self.save_as_row.show()
        self.name_edit.setText("")
        self.name_edit.setFocus()
        self.fields["preset"].set_error(None)

    @Slot()
    def _cancel_save_as(self) -> None:
        self.save_as_row.hide()
        self.name_edit.clear()
        if self.fields["preset"].hint.isVisible():
            self.fields["preset"].set_error(None)

    @Slot()
    def _confirm_save_as(self) -> None:
        if self._model_key is None:
            return
        try:
            name = check_name(self.name_edit.text())
            if self.presets.exists(self._model_key, name):
                self.fields["preset"].set_error(
                    f"A preset named \u201c{name}\u201d already exists. Pick another name, or select "
                    "it and press Save to replace it."
                )
                return
        except HearthError as exc:
            self.fields["preset"].set_error(f"{exc.message} {exc.hint}".strip())
            return
        if self._store(name, overwrite=False):
            self.save_as_row.hide()
            self.name_edit.clear()

    @Slot()
    def _delete(self) -> None:
        if self._model_key is None or self._selected is None:
            return
        key, name, kept = self._model_key, self._selected, self._preset
        try:
            self.presets.delete(key, name)
        except HearthError as exc:
            self.fields["preset"].set_error(f"{exc.message} {exc.hint}".strip())
            return
        self._refresh_presets(None)
        if kept is None:  # a damaged preset: nothing worth restoring
            self._show_notice(f"Deleted \u201c{name}\u201d.")
            return

        def undo() -> None:
            self.presets.save(
                key,
                kept.name,
                system_prompt=kept.system_prompt,
                sampling=kept.sampling,
                load=kept.load,
                overwrite=True,
            )
            if self._model_key == key:
                self._refresh_presets(kept.name)

        self._offer_undo(f"Deleted \u201c{name}\u201d.", undo)

    @Slot()
    def _reset(self) -> None:
        if self._model_key is None:
            return
        before, selected = self._state(), self._selected
        defaults = model_defaults(self._metadata)
        self._refresh_presets(None)
        self._apply((defaults.system_prompt, defaults.sampling, defaults.load))
        self._update_preset_state()
        source = (
            " with the file's recommended " + ", ".join(FIELD_TITLES[n].lower() for n in defaults.recommended)
            if defaults.recommended
            else ""
        )
        self._offer_undo(f"Reset to the model's defaults{source}.", lambda: self._restore(before, selected))

    def _restore(self, state: State, selected: str | None) -> None:
        self._refresh_presets(selected)
        self._apply(state)
        self._update_preset_state()

    def _show_notice(self, text: str) -> None:
        self._undo = None
        self.notice_text.setText(text)
        self.undo_button.hide()
        self.notice.show()

    def _offer_undo(self, text: str, action: Callable[[], None]) -> None:
        self._show_notice(text)
        self._undo = action
        self.undo_button.show()

    @Slot()
    def _run_undo(self) -> None:
        action, self._undo = self._undo, None
        self.notice.hide()
        if action is None:
            return
        try:
            action()
        except HearthError as exc:
            self.fields["preset"].set_error(f"{exc.message} {exc.hint}".strip())

    # -- look ------------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_style()  # the app switched theme (apply_theme sets a new palette)

    def _apply_style(self) -> None:
        colors = current_colors()
        if colors != self._colors:
            self._colors = colors
            self.setStyleSheet(panel_stylesheet(colors))
