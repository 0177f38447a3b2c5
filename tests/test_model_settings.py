"""A library model's stored settings, read and written through ModelSettings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.library import LibraryModel
from desktop_app.core.model_settings import ModelSettings, stored_with, stored_with_changes
from desktop_app.ui.model_settings_dialog import ModelSettingsDialog

FULL = {
    "load": LoadSettings(n_ctx=2048, n_gpu_layers=-1, flash_attention=True, kv_cache_type="q8_0").to_dict(),
    "sampling": SamplingSettings(temperature=0.2, seed=7, stop=("###", "\nUser:")).to_dict(),
    "template_override": "chatml",
}


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"load": {"n_ctx": 2048}},  # a partial section: the rest are the defaults
        {"load": {}, "sampling": None, "template_override": None},
        {"sampling": {"stop": ["###"], "max_tokens": 64}, "template_override": "{{ messages }}"},
        FULL,
        {**FULL, "documents": {"chunk": 512}, "pinned": True},  # keys of a newer Hearth
        {"template_override": 5},  # not text: no override, and kept as it was
    ],
)
def test_stored_settings_round_trip_exactly(stored: dict[str, Any]) -> None:
    settings = ModelSettings.from_stored(stored)
    assert settings.to_stored() == stored
    assert ModelSettings.from_stored(settings.to_stored()) == settings


def test_stored_settings_are_typed() -> None:
    settings = ModelSettings.from_stored(FULL)
    assert settings.load == LoadSettings(
        n_ctx=2048, n_gpu_layers=-1, flash_attention=True, kv_cache_type="q8_0"
    )
    assert settings.sampling == SamplingSettings(temperature=0.2, seed=7, stop=("###", "\nUser:"))
    assert settings.template_override == "chatml"
    assert ModelSettings.from_stored({}) == ModelSettings()
    assert ModelSettings.from_stored({"load": {"n_ctx": 2048}}).load == LoadSettings(n_ctx=2048)
    assert ModelSettings.from_stored({"template_override": 5}).template_override is None


def test_a_change_is_written_in_full_and_the_rest_as_it_was() -> None:
    stored = {"load": {"n_ctx": 2048}, "future": [1, 2]}
    settings = ModelSettings.from_stored(stored)
    sampling = SamplingSettings(temperature=0.1, stop=("END",))
    changed = replace(settings, sampling=sampling, template_override="gemma").to_stored()
    assert changed == {
        "load": {"n_ctx": 2048},
        "future": [1, 2],
        "sampling": sampling.to_dict(),
        "template_override": "gemma",
    }
    assert stored == {"load": {"n_ctx": 2048}, "future": [1, 2]}  # the input is not touched
    load = replace(settings.load, n_gpu_layers=10)
    assert replace(settings, load=load).to_stored()["load"] == load.to_dict()
    assert replace(settings, template_override=None).to_stored() == stored  # unchanged
    assert ModelSettings(sampling=sampling).to_stored() == {"sampling": sampling.to_dict()}


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"load": {"n_ctx": "x"}}, "'n_ctx' must be a whole number from 64 to 2097152, not 'x'."),
        ({"load": {"n_ctx": 2048, "turbo": True}}, "Unknown setting(s): turbo."),
        ({"load": {"kv_cache_type": "q2"}}, "KV cache type 'q2' is not one of f32, f16, q4_0, q8_0."),
        ({"sampling": {"temperature": 9}}, "'temperature' must be a number from 0.0 to 5.0, not 9."),
        ({"sampling": {"stop": [""]}}, "Stop strings must be non-empty text."),
        (
            {"sampling": {"seed": 2**32}},
            "'seed' must be a whole number from 0 to 4294967295, not 4294967296.",
        ),
        ({"sampling": [1]}, "Invalid settings: 'sampling' must be an object, not list."),
        ({"load": "big"}, "Invalid settings: 'load' must be an object, not str."),
    ],
)
def test_malformed_stored_settings_are_refused_with_the_settings_message(
    stored: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        ModelSettings.from_stored(stored)
    assert refused.value.message == message
    section = next(iter(stored))
    if isinstance(stored[section], dict):  # the same message the settings classes give on their own
        kind = LoadSettings if section == "load" else SamplingSettings
        with pytest.raises(SettingsError) as direct:
            kind.from_dict(dict(stored[section]))
        assert direct.value.message == message


def test_stored_settings_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(SettingsError, match="expected an object, not list"):
        ModelSettings.from_stored([])


def test_one_section_can_be_saved_while_another_is_damaged() -> None:
    damaged = {"load": {"n_ctx": "x"}, "future": 1}
    sampling = SamplingSettings(max_tokens=6)
    saved = stored_with(damaged, sampling=sampling)
    assert saved == {"load": {"n_ctx": "x"}, "future": 1, "sampling": sampling.to_dict()}
    mended = stored_with(saved, load=LoadSettings(n_ctx=2048))
    assert ModelSettings.from_stored(mended).load == LoadSettings(n_ctx=2048)
    assert damaged == {"load": {"n_ctx": "x"}, "future": 1}


# ----------------------------------------------------------------------------------- the dialog


def _model(settings: dict[str, Any]) -> LibraryModel:
    return LibraryModel(
        id="m", display_name="M", path=Path("m.gguf"), parts=1, is_link=False, size_bytes=0, sha256=None,
        summary={"context_length": 8192}, added_at=0.0, last_used_at=None, settings=settings,
    )  # fmt: skip


def test_the_dialog_shows_the_stored_settings_and_saves_only_what_changed(qtbot: Any) -> None:
    stored = {**FULL, "documents": {"chunk": 512}}
    dialog = ModelSettingsDialog(_model(stored))
    qtbot.addWidget(dialog)
    assert dialog.n_ctx.value() == 2048 and dialog.gpu_layers.value() == -1
    assert dialog.gpu_layers.text() == "All layers"
    assert dialog.kv_type.currentData() == "q8_0"
    assert dialog.temperature.value() == pytest.approx(0.2)
    assert dialog.template.currentData() == "chatml" and not dialog.error.isVisibleTo(dialog)
    assert dialog.result_settings() == stored  # nothing changed: written back exactly as it was
    dialog.temperature.setValue(0.9)
    dialog.gpu_layers.setValue(0)
    chosen = dialog.chosen_settings()
    # the changed fields, and nothing else: the seed, the stop strings, flash attention stay
    assert chosen.sampling == SamplingSettings(temperature=0.9, seed=7, stop=("###", "\nUser:"))
    assert chosen.load == LoadSettings(n_ctx=2048, n_gpu_layers=0, flash_attention=True, kv_cache_type="q8_0")
    assert chosen.template_override == "chatml"
    assert dialog.result_settings()["documents"] == {"chunk": 512}


def test_the_dialog_saves_onto_the_settings_as_stored_when_it_saves(qtbot: Any) -> None:
    """The drawer changed the sampling while the dialog was open: only the dialog's change is written."""
    dialog = ModelSettingsDialog(_model(FULL))
    qtbot.addWidget(dialog)
    dialog.n_ctx.setValue(4096)
    meanwhile = stored_with(FULL, sampling=SamplingSettings(temperature=1.3, stop=("END",)))
    saved = ModelSettings.from_stored(dialog.result_settings(meanwhile))
    assert saved.sampling == SamplingSettings(temperature=1.3, stop=("END",))
    assert saved.load.n_ctx == 4096 and saved.load.flash_attention


def test_an_automatic_context_stays_automatic_unless_changed(qtbot: Any) -> None:
    dialog = ModelSettingsDialog(_model({"sampling": {"max_tokens": 64}}))
    qtbot.addWidget(dialog)
    assert dialog.n_ctx.value() == 4096  # what automatic means for an 8k model
    dialog.max_tokens.setValue(128)
    saved = dialog.result_settings()
    assert "load" not in saved and saved["sampling"] == SamplingSettings(max_tokens=128).to_dict()
    assert ModelSettings.from_stored(saved).load.n_ctx is None


def test_a_quantized_kv_cache_turns_flash_attention_on(qtbot: Any) -> None:
    dialog = ModelSettingsDialog(_model({}))
    qtbot.addWidget(dialog)
    dialog.kv_type.setCurrentIndex(dialog.kv_type.findData("q4_0"))
    load = dialog.chosen_settings().load
    assert (load.kv_cache_type, load.flash_attention) == ("q4_0", True)


def test_the_dialog_shows_defaults_and_the_reason_when_the_settings_are_damaged(qtbot: Any) -> None:
    dialog = ModelSettingsDialog(_model({"load": {"n_ctx": "x"}, "template_override": "chatml"}))
    qtbot.addWidget(dialog)
    assert "'n_ctx' must be a whole number" in dialog.error.text()
    assert dialog.n_ctx.value() == 4096  # the automatic context for an 8k model
    assert dialog.template.currentData() == "chatml"
    saved = dialog.result_settings()  # the damaged section is mended with what is shown
    assert ModelSettings.from_stored(saved).load.n_ctx == 4096
    assert saved["template_override"] == "chatml"


def test_gpu_layers_offer_all_off_and_a_number(qtbot: Any) -> None:
    dialog = ModelSettingsDialog(_model({}))
    qtbot.addWidget(dialog)
    control = dialog.gpu_layers
    assert (
        control.value() == 0 and control.text() == "Off (CPU only)" and not control.count.isVisibleTo(dialog)
    )
    with qtbot.waitSignal(control.valueChanged) as changed:
        control.choice.setCurrentIndex(0)
    assert changed.args == [-1] and control.text() == "All layers"
    control.choice.setCurrentIndex(2)  # "Some layers…": the number appears
    assert control.count.isVisibleTo(dialog) and control.value() == control.count.value() > 0
    control.count.setValue(12)
    assert control.value() == 12 and control.text() == "12 layers"
    assert dialog.chosen_settings().load.n_gpu_layers == 12
    control.setValue(-1)
    assert control.choice.currentIndex() == 0 and not control.count.isVisibleTo(dialog)


def test_changes_are_written_field_by_field_and_damage_is_mended() -> None:
    stored = {"load": {"n_ctx": 2048, "flash_attention": True}, "future": {"x": 1}}
    changed = stored_with_changes(stored, sampling={"temperature": 0.3})
    assert changed["load"] == stored["load"] and changed["future"] == {"x": 1}  # untouched, as they were
    assert ModelSettings.from_stored(changed).sampling == SamplingSettings(temperature=0.3)
    mended = stored_with_changes({"load": {"n_ctx": "x"}}, load={"n_gpu_layers": -1})
    assert ModelSettings.from_stored(mended).load == LoadSettings(n_gpu_layers=-1)
    assert stored_with_changes(stored, template_override=None)["template_override"] is None
    assert "template_override" not in stored_with_changes(stored)  # KEEP: left as it was
    with pytest.raises(SettingsError):
        stored_with_changes(stored, sampling={"temperature": 99.0})
