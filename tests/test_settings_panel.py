"""The chat settings panel on real widgets with a real preset database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QWidget,
)

from desktop_app.core.db import Database
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.gguf_info import inspect_gguf
from desktop_app.core.presets import PresetStore
from desktop_app.ui.settings_fields import format_stop_strings, panel_stylesheet, parse_stop_strings
from desktop_app.ui.settings_panel import SettingsPanel
from desktop_app.ui.theme import DARK, LIGHT

TRAINED = 32768
LOADED = LoadSettings(n_ctx=None, n_threads=1, n_threads_batch=1)  # 4096 tokens, "automatic"


@pytest.fixture
def store(tmp_path: Path) -> PresetStore:
    return PresetStore(Database(tmp_path / "presets.db"))


@pytest.fixture
def panel(qtbot: Any, store: PresetStore) -> Iterator[SettingsPanel]:
    # Hosted in a plain window without a layout, as the chat page's drawer will host it: a top-level
    # window whose layout sets a minimum size makes the offscreen platform warn ("propagateSizeHints").
    host = QWidget()
    host.resize(320, 900)
    widget = SettingsPanel(store, host)
    widget.setGeometry(0, 0, 320, 900)
    widget.set_model(
        "gemma",
        trained_context=TRAINED,
        loaded=LOADED,
        sampling=SamplingSettings(),
        system_prompt="Be brief.",
    )
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    yield widget  # (and keeps `host` alive)


class Recorder:
    """Collects what the panel emits (all on the GUI thread)."""

    def __init__(self, panel: SettingsPanel) -> None:
        self.sampling: list[SamplingSettings] = []
        self.prompts: list[str] = []
        self.reloads: list[LoadSettings] = []
        panel.sampling_changed.connect(self.sampling.append)
        panel.system_prompt_changed.connect(self.prompts.append)
        panel.reload_requested.connect(self.reloads.append)

    def last(self) -> SamplingSettings:
        return self.sampling[-1]


def click(qtbot: Any, widget: QPushButton) -> None:
    assert widget.isEnabled() and widget.isVisible(), widget.text()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


# ------------------------------------------------------------------------------------------ sampling


def test_user_changes_emit_valid_sampling_and_programmatic_ones_do_not(
    panel: SettingsPanel, qtbot: Any
) -> None:
    got = Recorder(panel)
    panel.set_model(
        "gemma", trained_context=TRAINED, loaded=LOADED, sampling=SamplingSettings(temperature=0.3)
    )
    panel.set_system_prompt("From another conversation")
    assert got.sampling == [] and got.prompts == []
    assert panel.spins["temperature"].value() == pytest.approx(0.3)
    assert panel.system_prompt() == "From another conversation"

    panel.spins["temperature"].setValue(0.85)
    assert got.last() == SamplingSettings(temperature=0.85)
    panel.sliders["top_p"].setValue(80)  # the slider drives the value box
    assert panel.spins["top_p"].value() == pytest.approx(0.8)
    assert got.last().top_p == pytest.approx(0.8)
    panel.top_k.setValue(12)
    panel.max_tokens.setValue(256)
    panel.repeat_last_n.setValue(128)
    panel.spins["repeat_penalty"].setValue(1.2)
    assert panel.sliders["repeat_penalty"].value() == 120  # and follows it
    panel.stop_edit.setPlainText("###\n\\nUser:")
    expected = SamplingSettings(
        temperature=0.85, top_p=0.8, top_k=12, max_tokens=256, repeat_last_n=128, repeat_penalty=1.2,
        stop=("###", "\nUser:"),
    )  # fmt: skip
    assert got.last() == expected == panel.sampling()
    assert len(got.sampling) == 7

    panel.prompt_edit.clear()
    qtbot.keyClicks(panel.prompt_edit, "Hi")
    assert got.prompts == ["", "H", "Hi"]
    assert panel.system_prompt() == "Hi"


def test_a_fixed_seed_round_trips_and_a_malformed_one_shows_a_hint_without_emitting(
    panel: SettingsPanel, qtbot: Any
) -> None:
    got = Recorder(panel)
    panel.fixed_seed.setChecked(True)  # picks a random seed to start from, so it is valid at once
    assert panel.seed_edit.isEnabled()
    first = got.last().seed
    assert first is not None and str(first) == panel.seed_edit.text()

    panel.seed_edit.clear()
    qtbot.keyClicks(panel.seed_edit, "42")
    assert got.last().seed == 42
    emitted = len(got.sampling)

    qtbot.keyClicks(panel.seed_edit, "x")  # "42x"
    hint = panel.fields["seed"].hint
    assert hint.isVisible() and "whole number" in hint.text()
    assert len(got.sampling) == emitted  # nothing emitted
    assert panel.sampling().seed == 42  # the last valid value is kept
    panel.seed_edit.clear()
    qtbot.keyClicks(panel.seed_edit, "99999999999")  # valid up to 9 digits, then over 2**32 - 1
    assert hint.isVisible() and got.last().seed == 999_999_999 == panel.sampling().seed
    emitted = len(got.sampling)
    qtbot.keyClick(panel.seed_edit, Qt.Key.Key_Backspace)  # 9,999,999,999 is still too big
    assert len(got.sampling) == emitted

    panel.seed_edit.clear()
    qtbot.keyClicks(panel.seed_edit, "7")
    assert panel.fields["seed"].error == ""
    assert got.last().seed == 7

    panel.fixed_seed.setChecked(False)
    assert got.last().seed is None and not panel.seed_edit.isEnabled()


def test_a_malformed_stop_string_shows_a_hint_and_keeps_the_last_valid_list(panel: SettingsPanel) -> None:
    got = Recorder(panel)
    panel.stop_edit.setPlainText("###")
    assert got.last().stop == ("###",)
    panel.stop_edit.setPlainText("###\nEnd\\q")
    hint = panel.fields["stop"].hint
    assert hint.isVisible() and "\\q" in hint.text()
    assert len(got.sampling) == 1 and panel.sampling().stop == ("###",)
    panel.stop_edit.setPlainText("###\nEnd\\\\q")
    assert not hint.isVisible()
    assert got.last() == SamplingSettings(stop=("###", "End\\q"))


def test_stop_strings_parse_and_format_symmetrically() -> None:
    stops = ("###", "\nUser:", "a\tb", "back\\slash", " lead")
    text = format_stop_strings(stops)
    assert "\n" not in text.replace("\n", "", len(stops) - 1)  # one line per stop string
    assert parse_stop_strings(text) == stops
    assert parse_stop_strings("\n\nA\nA\n") == ("A",)  # blank lines skipped, duplicates dropped
    with pytest.raises(Exception, match="lone"):
        parse_stop_strings("trailing\\")
    with pytest.raises(Exception, match="At most 16"):
        parse_stop_strings("\n".join(str(i) for i in range(17)))


# ------------------------------------------------------------------------------------------- loading


def test_reload_button_is_enabled_only_when_a_load_setting_differs(panel: SettingsPanel, qtbot: Any) -> None:
    got = Recorder(panel)
    reload = panel.reload_button
    assert panel.n_ctx.value() == 4096  # "automatic" shown as the context it resolves to
    assert panel.n_ctx.maximum() == TRAINED  # bounded by the trained context
    assert not reload.isEnabled()

    panel.n_ctx.setValue(8192)
    assert reload.isEnabled()
    panel.n_ctx.setValue(4096)  # the same context as the automatic one: nothing to reload
    assert not reload.isEnabled()

    panel.mlock.setChecked(True)
    assert reload.isEnabled()
    panel.mlock.setChecked(False)
    assert not reload.isEnabled()

    panel.n_gpu_layers.setValue(-1)
    assert panel.n_gpu_layers.text() == "All layers"
    click(qtbot, reload)
    assert got.reloads == [panel.load_settings()]
    assert got.reloads[0].n_gpu_layers == -1 and got.reloads[0].n_ctx == 4096
    assert got.sampling == []  # load changes are not sampling changes

    panel.set_model("gemma", trained_context=TRAINED, loaded=got.reloads[0], sampling=SamplingSettings())
    assert not reload.isEnabled()  # reloaded: nothing differs any more
    panel.set_model("gemma", trained_context=TRAINED, loaded=None, sampling=SamplingSettings())
    assert reload.isEnabled() and reload.text() == "Load with these settings"
    panel.set_model(None, sampling=SamplingSettings())
    assert not reload.isEnabled() and not panel.n_ctx.isEnabled()
    assert not panel.presets_section.body_widget.isEnabled()
    panel.spins["temperature"].setValue(1.1)  # sampling still works without a model
    assert got.last().temperature == pytest.approx(1.1)


def test_a_quantized_kv_cache_turns_flash_attention_on_and_keeps_it_on(panel: SettingsPanel) -> None:
    assert not panel.flash.isChecked()
    panel.kv_type.setCurrentIndex(panel.kv_type.findData("q8_0"))
    assert panel.flash.isChecked()
    assert panel.load_settings().kv_cache_type == "q8_0" and panel.load_settings().flash_attention
    assert panel.reload_button.isEnabled()

    panel.flash.setChecked(False)  # llama.cpp would refuse to load: say so, keep the valid value
    hint = panel.fields["flash_attention"].hint
    assert hint.isVisible() and "needs flash attention" in hint.text()
    assert panel.load_settings().flash_attention is True and panel.flash.isChecked()

    panel.kv_type.setCurrentIndex(panel.kv_type.findData("f16"))
    panel.flash.setChecked(False)
    assert not hint.isVisible() and panel.load_settings().flash_attention is False


# ------------------------------------------------------------------------------------------- presets


def test_save_as_save_load_and_delete_presets_through_the_widget(
    panel: SettingsPanel, store: PresetStore, qtbot: Any
) -> None:
    got = Recorder(panel)
    panel.spins["temperature"].setValue(0.2)
    panel.n_ctx.setValue(8192)
    click(qtbot, panel.save_as_button)
    assert panel.save_as_row.isVisible()
    qtbot.keyClicks(panel.name_edit, "Precise")
    qtbot.keyClick(panel.name_edit, Qt.Key.Key_Return)
    assert not panel.save_as_row.isVisible()
    assert store.names("gemma") == ["Precise"]
    saved = store.get("gemma", "Precise")
    assert (saved.system_prompt, saved.sampling.temperature, saved.load.n_ctx) == ("Be brief.", 0.2, 8192)
    assert panel.preset_combo.currentText() == "Precise"
    assert not panel.save_button.isEnabled()  # nothing changed since it was saved

    click(qtbot, panel.save_as_button)  # the same name again is refused inline
    qtbot.keyClicks(panel.name_edit, "precise")
    click(qtbot, panel.confirm_button)
    hint = panel.fields["preset"].hint
    assert hint.isVisible() and "already exists" in hint.text()
    assert store.names("gemma") == ["Precise"]
    qtbot.keyClick(panel.name_edit, Qt.Key.Key_Escape)
    assert not panel.save_as_row.isVisible() and not hint.isVisible()

    panel.spins["temperature"].setValue(0.4)  # edit, then overwrite with Save
    assert panel.save_button.isEnabled() and panel.fields["preset"].note.isVisible()
    click(qtbot, panel.save_button)
    assert store.get("gemma", "Precise").sampling.temperature == 0.4
    assert not panel.save_button.isEnabled()

    store.save(
        "gemma", "Creative", system_prompt="Be playful.", sampling=SamplingSettings(temperature=1.4, seed=3),
        load=LoadSettings(n_ctx=2048, n_threads=1, n_threads_batch=1),
    )  # fmt: skip
    panel.set_model("gemma", trained_context=TRAINED, loaded=LOADED, sampling=panel.sampling(),
                    system_prompt=panel.system_prompt())  # fmt: skip
    assert [panel.preset_combo.itemText(i) for i in range(panel.preset_combo.count())] == [
        "No preset", "Creative", "Precise"
    ]  # fmt: skip
    assert panel.preset_combo.currentText() == "Precise"  # remembered for this model
    got.sampling.clear()
    got.prompts.clear()

    panel.preset_combo.setCurrentIndex(panel.preset_combo.findText("Creative"))  # choosing applies it
    assert got.sampling == [SamplingSettings(temperature=1.4, seed=3)]
    assert got.prompts == ["Be playful."]
    assert panel.prompt_edit.toPlainText() == "Be playful."
    assert panel.spins["temperature"].value() == pytest.approx(1.4)
    assert panel.seed_edit.text() == "3" and panel.fixed_seed.isChecked()
    assert panel.n_ctx.value() == 2048 and panel.reload_button.isEnabled()
    assert panel.notice.isVisible() and panel.undo_button.isVisible()

    click(qtbot, panel.delete_button)
    assert store.names("gemma") == ["Precise"]
    assert panel.preset_combo.currentText() == "No preset"
    assert not panel.delete_button.isEnabled()
    click(qtbot, panel.undo_button)  # undo the delete: the preset is back, selected
    assert store.names("gemma") == ["Creative", "Precise"]
    assert store.get("gemma", "Creative").sampling == SamplingSettings(temperature=1.4, seed=3)
    assert panel.preset_combo.currentText() == "Creative"


def test_reset_to_model_defaults_uses_the_files_recommendations_and_can_be_undone(
    panel: SettingsPanel, qtbot: Any, tiny_gguf: Callable[..., Path]
) -> None:
    metadata = inspect_gguf(tiny_gguf(extra_kv={"general.sampling.temp": 1.0, "general.sampling.top_k": 64}))
    custom = SamplingSettings(temperature=0.1, top_k=5, stop=("END",))
    panel.set_model("tiny", trained_context=256, loaded=LoadSettings(n_ctx=128, n_threads=1), sampling=custom,
                    system_prompt="Custom prompt", metadata=metadata.metadata)  # fmt: skip
    assert panel.n_ctx.maximum() == 256 and panel.n_ctx.value() == 128
    got = Recorder(panel)

    click(qtbot, panel.reset_button)
    assert got.sampling == [SamplingSettings(temperature=1.0, top_k=64)]
    assert got.prompts == [""]
    assert panel.load_settings().n_ctx is None and panel.n_ctx.value() == 256  # automatic: min(256, 4096)
    assert panel.stop_edit.toPlainText() == ""
    assert "recommended temperature, top-k" in panel.notice_text.text()
    assert panel.reload_button.isEnabled()

    click(qtbot, panel.undo_button)
    assert got.last() == custom == panel.sampling()
    assert got.prompts[-1] == "Custom prompt"
    assert panel.n_ctx.value() == 128 and not panel.reload_button.isEnabled()
    assert not panel.notice.isVisible()


def test_a_damaged_preset_shows_its_error_keeps_the_values_and_can_be_deleted(
    panel: SettingsPanel, store: PresetStore, qtbot: Any
) -> None:
    store.save("gemma", "Broken", system_prompt="x", sampling=SamplingSettings(), load=LoadSettings())
    with store.db.transaction() as conn:
        conn.execute("UPDATE presets SET sampling = '{oops' WHERE name = 'Broken'")
    mine = SamplingSettings(temperature=0.5)
    panel.set_model("gemma", trained_context=TRAINED, loaded=LOADED, sampling=mine, system_prompt="Mine")
    got = Recorder(panel)
    panel.preset_combo.setCurrentIndex(panel.preset_combo.findText("Broken"))
    hint = panel.fields["preset"].hint
    assert hint.isVisible() and "damaged" in hint.text() and "Delete the preset" in hint.text()
    assert got.sampling == [] and got.prompts == []
    assert panel.sampling().temperature == 0.5 and panel.system_prompt() == "Mine"
    click(qtbot, panel.delete_button)
    assert store.names("gemma") == []
    assert not panel.undo_button.isVisible()  # nothing readable to bring back


# ---------------------------------------------------------------------------------------- the widget


def test_every_control_has_an_accessible_name_and_inputs_explain_themselves(panel: SettingsPanel) -> None:
    kinds = (QAbstractSpinBox, QComboBox, QCheckBox, QLineEdit, QPlainTextEdit, QPushButton, QSlider)
    controls = [w for kind in kinds for w in panel.findChildren(kind)]
    controls = [w for w in controls if not isinstance(w.parent(), QAbstractSpinBox | QComboBox)]
    assert len(controls) > 25
    unnamed = [type(w).__name__ for w in controls if not w.accessibleName()]
    assert unnamed == []
    inputs = [w for w in controls if not isinstance(w, QPushButton) and w is not panel.name_edit]
    untipped = [w.accessibleName() for w in inputs if len(w.toolTip()) < 40]
    assert untipped == []


def test_the_wheel_scrolls_the_panel_rather_than_changing_an_unfocused_value(
    panel: SettingsPanel, qtbot: Any
) -> None:
    spin = panel.spins["temperature"]
    before = spin.value()

    def wheel(target: QWidget) -> None:
        event = QWheelEvent(
            QPointF(5, 5), QPointF(target.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, 120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(target, event)

    wheel(spin)
    assert spin.value() == before
    panel.window().activateWindow()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel(spin)
    assert spin.value() > before


def test_sections_collapse_and_the_stylesheet_follows_the_theme(panel: SettingsPanel) -> None:
    section = panel.sampling_section
    section.header.click()
    assert not section.body_widget.isVisible() and "collapsed" in section.header.accessibleName()
    section.header.click()
    assert section.body_widget.isVisible()
    assert DARK.sidebar in panel_stylesheet(DARK) and LIGHT.sidebar not in panel_stylesheet(DARK)


def test_threads_offer_automatic_and_a_fixed_count(panel: SettingsPanel) -> None:
    """0 in the spin box is "Automatic": the thread governor; a number fixes the count."""
    reload = panel.reload_button
    assert panel.n_threads.value() == 1 and not reload.isEnabled()  # LOADED fixes 1 thread
    panel.n_threads.setValue(0)
    assert panel.n_threads.text() == "Automatic"
    assert panel.load_settings().n_threads is None and panel.load_settings().automatic_threads
    assert reload.isEnabled()
    panel.n_threads.setValue(1)
    assert panel.load_settings().n_threads == 1 and not reload.isEnabled()
    panel.set_model("gemma", trained_context=TRAINED, loaded=LoadSettings(), sampling=SamplingSettings(),
                    system_prompt="")  # fmt: skip
    assert panel.n_threads.text() == "Automatic"
