"""The chat settings drawer: system prompt, sampling, load settings and per-model presets.

The panel keeps the *last valid* value of every setting. A field the user is typing into may hold
something invalid for a moment (a seed of "12a", an unknown escape in a stop string): the panel then
shows a red hint under that field, keeps the previous value and emits nothing, so the chat never
receives settings the engine would reject. Spin boxes and sliders cannot go out of range, so hints
mostly concern the text fields and the one cross-field rule (a quantized KV cache needs flash attention).

Signals fire only for changes the user makes (typing, a preset, a reset, undo); `set_model` and
`set_system_prompt` are the chat's own changes and emit nothing. Load settings take effect only when
the model is loaded again, hence the "Reload" button, enabled only when they differ from what is loaded.

While a provider's model answers (`set_remote`), the load settings do not apply (its server loads it):
the Load section gives way to a note saying so, and the one sampling setting not sent says so too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPlainTextEdit, QScrollArea, QSpinBox, QVBoxLayout, QWidget

from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.limits import SEED_MAX, random_seed
from desktop_app.core.presets import PresetStore, model_defaults
from desktop_app.core.providers.records import RemoteModel
from desktop_app.ui.preset_bar import PresetBar
from desktop_app.ui.settings_fields import (
    QUANTIZED_KV,
    Field,
    Section,
    State,
    panel_stylesheet,
    parse_stop_strings,
)
from desktop_app.ui.settings_sections import LoadSection, RemoteSection, SamplingSection, add_field
from desktop_app.ui.theme import Colors, ThemedStyleSheet
from desktop_app.ui.widgets import SPACING, label


class SettingsPanel(ThemedStyleSheet, QWidget):
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
        self._loaded: LoadSettings | None = None
        self._sampling = SamplingSettings()
        self._load = LoadSettings()
        self._system_prompt = ""
        self._updating = False
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
        # Sideways only when a large text size makes a row wider than the drawer: scrolled, never cut.
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        content = QWidget()
        column = QVBoxLayout(content)
        # 10 at the sides: the preset buttons' row then fits the 292 px drawer of the minimum window
        # beside its scroll bar, with no sideways scrolling
        column.setContentsMargins(10, 0, 10, 16)
        column.setSpacing(SPACING)
        self.presets_section = self._build_presets()
        self.prompt_section = self._build_prompt()
        self.sampling_section = self._build_sampling()
        self.load_section = self._build_load()
        self.remote_section = RemoteSection(self.fields)  # instead of Load while a remote model answers
        self.remote: RemoteModel | None = None
        for section in (
            self.presets_section,
            self.prompt_section,
            self.sampling_section,
            self.load_section,
            self.remote_section,
        ):
            column.addWidget(section)
        column.addStretch(1)
        self.scroll_area.setWidget(content)
        outer.addWidget(self.scroll_area, 1)

        self._restyle()
        self._show_state((self._system_prompt, self._sampling, self._load))
        self.preset_bar.refresh()
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
        self._loaded = loaded
        self.preset_bar.set_model(model_key, metadata)
        with self._quiet():
            self.load_section.configure_context(self._trained, has_model=model_key is not None)
        state = (system_prompt, sampling or SamplingSettings(), loaded or model_defaults(metadata).load)
        self._system_prompt, self._sampling, self._load = state
        self._show_state(state)
        self.preset_bar.show_remembered()
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
        self.preset_bar.update_state()

    def set_sampling(self, sampling: SamplingSettings) -> None:
        """Show another conversation's sampling settings. Emits nothing."""
        self._sampling = sampling
        self._show_state((self._system_prompt, sampling, self._load))
        self.preset_bar.update_state()

    def show_stored(self, sampling: SamplingSettings, load: LoadSettings) -> None:
        """Show the model's settings as stored after another editor (My models → Settings…) saved
        them: the stored settings are the one source of truth, the drawer a view of them. Emits
        nothing; Reload is offered when the stored load settings differ from the loaded ones."""
        self._sampling, self._load = sampling, load
        self._show_state((self._system_prompt, sampling, load))
        self._update_reload_state()
        self.preset_bar.update_state()

    @property
    def model_key(self) -> str | None:
        return self._model_key

    @Slot(object)
    def set_remote(self, remote: object) -> None:
        """A provider's model answers the chat (a RemoteModel), or None: the local model does again.
        Its server decides how it is loaded, so the Load section (and its Reload) steps aside for a
        note that says where it runs. Emits nothing; the local model's load settings are kept."""
        self.remote = remote if isinstance(remote, RemoteModel) else None
        self.remote_section.show_remote(self.remote)
        self.load_section.setVisible(self.remote is None)

    # -- construction ----------------------------------------------------------------------------

    def _build_presets(self) -> Section:
        bar = PresetBar(self.presets, current=self._state, apply=self._apply, same=self._same)
        self.preset_bar = bar
        self.fields["preset"] = bar.field
        # the bar's widgets, under the names the drawer has always had
        self.preset_combo, self.notice, self.notice_text = bar.preset_combo, bar.notice, bar.notice_text
        self.save_button, self.save_as_button, self.delete_button = (
            bar.save_button, bar.save_as_button, bar.delete_button
        )  # fmt: skip
        self.save_as_row, self.name_edit = bar.save_as_row, bar.name_edit
        self.confirm_button, self.cancel_button = bar.confirm_button, bar.cancel_button
        self.reset_button, self.undo_button = bar.reset_button, bar.undo_button
        return bar

    def _build_prompt(self) -> Section:
        section = Section("System prompt")
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("You are a helpful assistant\u2026")
        self.prompt_edit.setFixedHeight(96)
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_edit.textChanged.connect(self._on_prompt_edited)
        field = add_field(self.fields, "system_prompt", "System prompt", self.prompt_edit, stacked=True)
        field.title.hide()  # the section header already says it
        section.body.addWidget(field)
        return section

    def _build_sampling(self) -> SamplingSection:
        section = SamplingSection(self.fields)
        self.spins, self.sliders = section.spins, section.sliders
        for name, spin in self.spins.items():
            spin.valueChanged.connect(lambda value, n=name: self._edit_sampling(n, round(value, 2)))
        self.top_k, self.repeat_last_n = section.top_k, section.repeat_last_n
        self.max_tokens = section.max_tokens
        for name in ("top_k", "repeat_last_n", "max_tokens"):
            whole: QSpinBox = getattr(section, name)
            whole.valueChanged.connect(lambda value, n=name: self._edit_sampling(n, value))
        self.fixed_seed, self.seed_edit = section.fixed_seed, section.seed_edit
        self.stop_edit = section.stop_edit
        self.fixed_seed.toggled.connect(self._on_fixed_seed)
        self.seed_edit.textEdited.connect(lambda _text: self._edit_seed())
        self.stop_edit.textChanged.connect(self._edit_stop)
        self.json_output = section.json_output
        self.json_output.toggled.connect(lambda on: self._edit_sampling("json_output", on))
        return section

    def _build_load(self) -> LoadSection:
        section = LoadSection(self.fields)
        self.load_note, self.reload_button = section.load_note, section.reload_button
        self.n_ctx, self.n_threads = section.n_ctx, section.n_threads
        self.n_gpu_layers, self.kv_type = section.n_gpu_layers, section.kv_type
        self.flash, self.mmap, self.mlock = section.flash, section.mmap, section.mlock
        for name in ("n_ctx", "n_threads", "n_gpu_layers"):
            count: QSpinBox = getattr(section, name)
            count.valueChanged.connect(lambda value, n=name: self._edit_load(n, value))
        self.kv_type.currentIndexChanged.connect(self._on_kv_type)
        self.flash.toggled.connect(self._on_flash)
        self.mmap.toggled.connect(lambda on: self._edit_load("use_mmap", on))
        self.mlock.toggled.connect(lambda on: self._edit_load("use_mlock", on))
        self.reload_button.clicked.connect(self._request_reload)
        return section

    # -- showing values --------------------------------------------------------------------------

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set widgets without their change signals counting as user edits."""
        before, self._updating = self._updating, True
        try:
            yield
        finally:
            self._updating = before

    def _show_state(self, state: State) -> None:
        """Put values in the widgets (not emitting) and clear the hints, since they are valid."""
        prompt, sampling, load = state
        with self._quiet():
            if self.prompt_edit.toPlainText() != prompt:
                self.prompt_edit.setPlainText(prompt)
            self.sampling_section.show_values(sampling)
            self.load_section.show_values(load, self._trained)
        for field in self.fields.values():
            if field is not self.fields["preset"]:
                field.set_error(None)
        self._update_flash_note()

    def _update_enabled(self) -> None:
        has_model = self._model_key is not None
        self.presets_section.body_widget.setEnabled(has_model)
        self.load_section.set_has_model(has_model)
        self._update_reload_state()
        self.preset_bar.update_state()

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
        self.preset_bar.update_state()

    @Slot(bool)
    def _on_fixed_seed(self, fixed: bool) -> None:
        if self._updating:
            return
        self.seed_edit.setEnabled(fixed)
        if fixed and not self.seed_edit.text().strip():
            self.seed_edit.setText(str(random_seed()))
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
        self.preset_bar.update_state()

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
        self.preset_bar.update_state()

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
            self.reload_button.setText("Load with these settings")
        else:
            self.reload_button.setText("Reload model to apply")
            self.reload_button.setEnabled(self._normalized(self._load) != self._normalized(self._loaded))
        self.reload_button.setAccessibleName(self.reload_button.text())

    @Slot()
    def _request_reload(self) -> None:
        if self._model_key is not None:
            self.reload_requested.emit(self._load)

    # -- what the preset bar reads and sets ------------------------------------------------------

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

    # -- look ------------------------------------------------------------------------------------

    def themed_stylesheet(self, c: Colors) -> str:
        return panel_stylesheet(c)
