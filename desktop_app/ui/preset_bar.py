"""The settings drawer's preset bar: pick, save, save as, delete a model's named presets, reset to the
model's defaults, and undo the last of these.

It is its own widget because it is its own concern: it talks to the PresetStore and keeps which preset
is selected per model, while the drawer (settings_panel.py) owns the values. The bar reads and sets
those values only through the three callables it is given, so it never touches the drawer's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QWidget

from desktop_app.core.errors import HearthError
from desktop_app.core.presets import Preset, PresetStore, check_name, model_defaults
from desktop_app.ui.settings_fields import (
    FIELD_TITLES,
    NO_PRESET,
    TIPS,
    Field,
    FieldCombo,
    NameEdit,
    Section,
    State,
)
from desktop_app.ui.widgets import button, label


class PresetBar(Section):
    """The "Presets" section. `current` reads the drawer's values, `apply` makes a state current as
    if the user had set every field (emitting what changed), and `same` compares two states the way
    llama.cpp would see them."""

    def __init__(
        self,
        store: PresetStore,
        *,
        current: Callable[[], State],
        apply: Callable[[State], None],
        same: Callable[[State, State], bool],
    ) -> None:
        super().__init__("Presets")
        self.store = store
        self._current = current
        self._apply = apply
        self._same = same
        self._model_key: str | None = None
        self._metadata: Mapping[str, object] | None = None
        self._preset: Preset | None = None  # the selected preset, as stored
        self._selected: str | None = None  # the selected name (also when the preset is damaged)
        self._remembered: dict[str, str] = {}  # model key -> last selected preset name
        self._undo: Callable[[], None] | None = None
        self._updating = False
        self._build()

    def _build(self) -> None:
        self.preset_combo = FieldCombo()
        self.preset_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_chosen)
        self.field = Field("Preset", self.preset_combo, TIPS["preset"], stacked=True)
        self.field.title.hide()  # the section header already says it
        self.body.addWidget(self.field)

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
        self.body.addLayout(row)

        self.save_as_row = QWidget()
        save_as = QHBoxLayout(self.save_as_row)
        save_as.setContentsMargins(0, 0, 0, 0)
        save_as.setSpacing(6)
        self.name_edit = NameEdit()
        self.name_edit.setPlaceholderText("Preset name")
        self.name_edit.setAccessibleName("New preset name")
        self.name_edit.setMaxLength(80)
        self.name_edit.returnPressed.connect(self._confirm_save_as)
        self.name_edit.cancelled.connect(self.cancel_save_as)
        self.name_edit.textEdited.connect(lambda _text: self.field.set_error(None))
        save_as.addWidget(self.name_edit, 1)
        self.confirm_button = button("Save", "primary", tooltip="Save the new preset (Enter)")
        self.confirm_button.setAccessibleName("Save new preset")
        self.confirm_button.clicked.connect(self._confirm_save_as)
        save_as.addWidget(self.confirm_button)
        self.cancel_button = button("Cancel", "ghost", tooltip="Do not save (Esc)")
        self.cancel_button.setAccessibleName("Cancel new preset")
        self.cancel_button.clicked.connect(self.cancel_save_as)
        save_as.addWidget(self.cancel_button)
        self.save_as_row.hide()
        self.body.addWidget(self.save_as_row)

        self.reset_button = button(
            "Reset to model defaults",
            "ghost",
            tooltip="Hearth's defaults for this model, with the sampling values recommended in the "
            "model file when it has them. You can undo.",
        )
        self.reset_button.clicked.connect(self._reset)
        self.body.addWidget(self.reset_button)

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
        self.body.addWidget(self.notice)

    # -- what the drawer calls -------------------------------------------------------------------

    def set_model(self, model_key: str | None, metadata: Mapping[str, object] | None) -> None:
        """Another model: forget the pending undo and the half-typed name. Call `show_remembered`
        once the drawer shows the model's values."""
        self._model_key = model_key
        self._metadata = metadata
        self._undo = None
        self.notice.hide()
        self.cancel_save_as()

    def show_remembered(self) -> None:
        """Select (without applying) the preset last selected for this model, if any."""
        key = self._model_key
        self.refresh(self._remembered.get(key) if key else None)

    def refresh(self, select: str | None = None) -> None:
        """Fill the combo with this model's presets and select `select` (without applying it)."""
        names: list[str] = []
        self.field.set_error(None)
        if self._model_key is not None:
            try:
                names = self.store.names(self._model_key)
            except HearthError as exc:
                self._show_error(exc)
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
                self._preset = self.store.get(self._model_key, chosen)
            except HearthError as exc:
                self._show_error(exc)
        self._remember()
        self.update_state()

    def update_state(self) -> None:
        """Enable the buttons that apply, and say when the values differ from the selected preset."""
        has_model = self._model_key is not None
        selected = has_model and self._selected is not None
        dirty = self._preset is not None and not self._same(
            self._current(), (self._preset.system_prompt, self._preset.sampling, self._preset.load)
        )
        damaged = selected and self._preset is None
        self.save_button.setEnabled(bool(selected and (dirty or damaged)))
        self.delete_button.setEnabled(bool(selected))
        self.save_as_button.setEnabled(has_model)
        self.reset_button.setEnabled(has_model)
        if self._preset is not None:
            self.field.set_note("Changed since it was loaded; Save keeps the changes." if dirty else "")
        else:
            self.field.set_note("")

    @Slot()
    def cancel_save_as(self) -> None:
        self.save_as_row.hide()
        self.name_edit.clear()
        if self.field.hint.isVisible():
            self.field.set_error(None)

    # -- internals -------------------------------------------------------------------------------

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Fill the combo without its change signal counting as the user's choice."""
        before, self._updating = self._updating, True
        try:
            yield
        finally:
            self._updating = before

    def _show_error(self, exc: HearthError) -> None:
        self.field.set_error(f"{exc.message} {exc.hint}".strip())

    def _remember(self) -> None:
        if self._model_key is None:
            return
        if self._selected is None:
            self._remembered.pop(self._model_key, None)
        else:
            self._remembered[self._model_key] = self._selected

    @Slot(int)
    def _on_preset_chosen(self, index: int) -> None:
        if self._updating or self._model_key is None:
            return
        name = self.preset_combo.itemData(index)
        previous = self._selected
        self.field.set_error(None)
        self._selected = name if isinstance(name, str) else None
        self._preset = None
        self._remember()
        if self._selected is None:
            self.update_state()
            return
        try:
            preset = self.store.get(self._model_key, self._selected)
        except HearthError as exc:
            self._show_error(exc)
            self.update_state()
            return
        before = self._current()
        self._preset = preset
        self._apply((preset.system_prompt, preset.sampling, preset.load))
        if not self._same(before, self._current()):
            self._offer_undo(f"Applied \u201c{preset.name}\u201d.", lambda: self._restore(before, previous))
        self.update_state()

    @Slot()
    def _save(self) -> None:
        if self._model_key is None or self._selected is None:
            return
        self._store(self._selected, overwrite=True)

    def _store(self, name: str, *, overwrite: bool) -> bool:
        assert self._model_key is not None
        prompt, sampling, load = self._current()
        try:
            preset = self.store.save(
                self._model_key, name, system_prompt=prompt, sampling=sampling, load=load, overwrite=overwrite
            )
        except HearthError as exc:
            self._show_error(exc)
            return False
        self.refresh(preset.name)
        self._show_notice(f"Saved \u201c{preset.name}\u201d.")
        return True

    @Slot()
    def _start_save_as(self) -> None:
        self.save_as_row.show()
        self.name_edit.setText("")
        self.name_edit.setFocus()
        self.field.set_error(None)

    @Slot()
    def _confirm_save_as(self) -> None:
        if self._model_key is None:
            return
        try:
            name = check_name(self.name_edit.text())
            if self.store.exists(self._model_key, name):
                self.field.set_error(
                    f"A preset named \u201c{name}\u201d already exists. Pick another name, or select "
                    "it and press Save to replace it."
                )
                return
        except HearthError as exc:
            self._show_error(exc)
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
            self.store.delete(key, name)
        except HearthError as exc:
            self._show_error(exc)
            return
        self.refresh(None)
        if kept is None:  # a damaged preset: nothing worth restoring
            self._show_notice(f"Deleted \u201c{name}\u201d.")
            return

        def undo() -> None:
            self.store.save(
                key,
                kept.name,
                system_prompt=kept.system_prompt,
                sampling=kept.sampling,
                load=kept.load,
                overwrite=True,
            )
            if self._model_key == key:
                self.refresh(kept.name)

        self._offer_undo(f"Deleted \u201c{name}\u201d.", undo)

    @Slot()
    def _reset(self) -> None:
        if self._model_key is None:
            return
        before, selected = self._current(), self._selected
        defaults = model_defaults(self._metadata)
        self.refresh(None)
        self._apply((defaults.system_prompt, defaults.sampling, defaults.load))
        self.update_state()
        source = (
            " with the file's recommended " + ", ".join(FIELD_TITLES[n].lower() for n in defaults.recommended)
            if defaults.recommended
            else ""
        )
        self._offer_undo(f"Reset to the model's defaults{source}.", lambda: self._restore(before, selected))

    def _restore(self, state: State, selected: str | None) -> None:
        self.refresh(selected)
        self._apply(state)
        self.update_state()

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
            self._show_error(exc)
