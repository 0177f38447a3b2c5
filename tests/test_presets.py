"""Per-model presets on a real SQLite file, the schema migration that adds them, and model defaults."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop_app.core import db as db_module
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.gguf_info import inspect_gguf
from desktop_app.core.presets import (
    PresetExistsError,
    PresetStore,
    UnknownPresetError,
    check_name,
    model_defaults,
    recommended_sampling,
)

PRECISE = SamplingSettings(temperature=0.2, top_k=20, seed=7, stop=("###", "\nUser:"), max_tokens=300)
LONG = LoadSettings(n_ctx=8192, n_threads=1, n_gpu_layers=-1, flash_attention=True, kv_cache_type="q8_0")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hearth.db"


@pytest.fixture
def store(db_path: Path) -> PresetStore:
    return PresetStore(Database(db_path), clock=Clock())


def test_presets_round_trip_and_survive_reopening_the_database(db_path: Path, store: PresetStore) -> None:
    saved = store.save("gemma", "  Precise  ", system_prompt="Be brief.", sampling=PRECISE, load=LONG)
    assert (saved.name, saved.system_prompt, saved.sampling, saved.load) == (
        "Precise",
        "Be brief.",
        PRECISE,
        LONG,
    )
    store.save(
        "gemma", "creative", system_prompt="", sampling=SamplingSettings(temperature=1.3), load=LoadSettings()
    )
    store.save(
        "qwen", "Precise", system_prompt="Other model", sampling=SamplingSettings(), load=LoadSettings()
    )
    assert store.names("gemma") == ["creative", "Precise"]  # sorted ignoring case
    assert store.names("qwen") == ["Precise"]
    assert store.names("unknown") == []
    store.db.close()

    reopened = PresetStore(Database(db_path))
    preset = reopened.get("gemma", "precise")  # names match ignoring case
    assert preset.name == "Precise"
    assert preset.system_prompt == "Be brief."
    assert preset.sampling == PRECISE  # the tuple of stop strings, the seed and the floats come back equal
    assert preset.load == LONG
    assert preset.created_at == preset.updated_at == saved.created_at
    assert reopened.get("qwen", "Precise").system_prompt == "Other model"


def test_save_refuses_a_duplicate_unless_overwriting(store: PresetStore) -> None:
    first = store.save("gemma", "Precise", system_prompt="v1", sampling=PRECISE, load=LONG)
    with pytest.raises(PresetExistsError) as info:
        store.save("gemma", "PRECISE", system_prompt="v2", sampling=SamplingSettings(), load=LoadSettings())
    assert "already exists" in info.value.message and info.value.hint
    assert isinstance(info.value, SettingsError)
    assert store.get("gemma", "Precise").system_prompt == "v1"

    second = store.save(
        "gemma",
        "PRECISE",
        system_prompt="v2",
        sampling=SamplingSettings(),
        load=LoadSettings(),
        overwrite=True,
    )
    assert store.names("gemma") == ["PRECISE"]  # replaced, with the new spelling, not added
    assert second.system_prompt == "v2" and second.sampling == SamplingSettings()
    assert second.created_at == first.created_at < second.updated_at


def test_delete_and_forget_model(store: PresetStore) -> None:
    for name in ("A", "B"):
        store.save("gemma", name, system_prompt="", sampling=PRECISE, load=LONG)
    store.save("qwen", "A", system_prompt="", sampling=PRECISE, load=LONG)
    assert store.delete("gemma", "a") is True
    assert store.delete("gemma", "a") is False
    assert store.names("gemma") == ["B"]
    with pytest.raises(UnknownPresetError):
        store.get("gemma", "A")
    assert store.forget_model("gemma") == 1
    assert store.names("gemma") == []
    assert store.names("qwen") == ["A"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_bad_names_are_refused_with_a_settings_error(store: PresetStore, name: str) -> None:
    with pytest.raises(SettingsError) as info:
        store.save("gemma", name, system_prompt="", sampling=PRECISE, load=LONG)
    assert info.value.hint
    assert store.names("gemma") == []


def test_check_name_collapses_whitespace() -> None:
    assert check_name("  My \n  preset\t") == "My preset"
    assert check_name("x" * 60) == "x" * 60


@pytest.mark.parametrize(
    ("column", "stored", "expected"),
    [
        ("sampling", "{not json", "not valid JSON"),
        ("sampling", "[1, 2]", "not a JSON object"),
        ("sampling", '{"temperature": 9.5}', "'temperature' must be a number from 0.0 to 5.0"),
        ("load", '{"kv_cache_type": "q2_k"}', "KV cache type 'q2_k'"),
        ("load", '{"n_ctx": "big"}', "'n_ctx' must be a whole number"),
    ],
)
def test_damaged_stored_settings_raise_a_clear_settings_error(
    store: PresetStore, column: str, stored: str, expected: str
) -> None:
    store.save("gemma", "Broken", system_prompt="", sampling=PRECISE, load=LONG)
    store.save("gemma", "Fine", system_prompt="", sampling=PRECISE, load=LONG)
    with store.db.transaction() as conn:
        conn.execute(f"UPDATE presets SET {column} = ? WHERE name = 'Broken'", (stored,))

    with pytest.raises(SettingsError) as info:
        store.get("gemma", "Broken")
    assert info.value.message.startswith(f"The preset 'Broken' is damaged: its {column} settings")
    assert expected in info.value.message
    assert info.value.hint == "Delete the preset and save it again."
    # one damaged preset hides nothing else, and it can still be deleted or overwritten
    assert store.names("gemma") == ["Broken", "Fine"]
    assert store.get("gemma", "Fine").sampling == PRECISE
    store.save("gemma", "Broken", system_prompt="", sampling=PRECISE, load=LONG, overwrite=True)
    assert store.get("gemma", "Broken").load == LONG
    assert store.delete("gemma", "Broken")


def test_settings_keys_from_a_newer_version_are_ignored(
    store: PresetStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.save("gemma", "Future", system_prompt="", sampling=PRECISE, load=LONG)
    with store.db.transaction() as conn:
        conn.execute(
            "UPDATE presets SET sampling = json_set(sampling, '$.dry_multiplier', 0.8) WHERE name = 'Future'"
        )
    with caplog.at_level(logging.WARNING, logger="desktop_app.core.presets"):
        assert store.get("gemma", "Future").sampling == PRECISE
    assert "dry_multiplier" in caplog.text


def test_a_version_2_database_gains_the_presets_table_and_keeps_its_data(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(db_module, "MIGRATIONS", db_module.MIGRATIONS[:2])
        patch.setattr(db_module, "SCHEMA_VERSION", 2)
        v2 = Database(db_path)
        with v2.transaction() as conn:
            conn.execute(
                "INSERT INTO models (id, display_name, path, size_bytes, summary, added_at) "
                "VALUES ('gemma', 'Gemma 3', '/models/gemma.gguf', 253113024, '{}', 1.5)"
            )
        conversation = ConversationStore(v2).create_conversation("Kept", system_prompt="Be kind.")
        tables = {row[0] for row in v2.connection().execute("SELECT name FROM sqlite_master")}
        assert "presets" not in tables
        assert v2.connection().execute("PRAGMA user_version").fetchone()[0] == 2
        v2.close()

    upgraded = Database(db_path)
    conn = upgraded.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db_module.SCHEMA_VERSION >= 3
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [tuple(r) for r in conn.execute("SELECT id, display_name FROM models")] == [("gemma", "Gemma 3")]
    kept = ConversationStore(upgraded).get_conversation(conversation.id)
    assert (kept.title, kept.system_prompt) == ("Kept", "Be kind.")
    store = PresetStore(upgraded)
    store.save("gemma", "After upgrade", system_prompt="", sampling=PRECISE, load=LONG)
    assert store.get("gemma", "After upgrade").sampling == PRECISE


def test_recommended_sampling_comes_from_the_gguf_metadata(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf(
        extra_kv={
            "general.sampling.temp": 1.0,
            "general.sampling.top_k": 64,
            "general.sampling.top_p": 0.95,  # float32 in the file: 0.949999988…
            "general.sampling.min_p": 7.5,  # out of range: skipped, the others still apply
            "general.sampling.penalty_repeat": "high",  # not a number: skipped
        }
    )
    metadata = inspect_gguf(path).metadata
    assert recommended_sampling(metadata) == {"temperature": 1.0, "top_k": 64, "top_p": 0.95}
    defaults = model_defaults(metadata)
    assert defaults.sampling == SamplingSettings(temperature=1.0, top_k=64, top_p=0.95)
    assert defaults.recommended == ("temperature", "top_k", "top_p")
    assert defaults.load == LoadSettings()  # n_ctx None: resolved against the trained context at load
    assert defaults.system_prompt == ""


def test_model_defaults_without_recommendations_are_hearths_defaults(tiny_gguf: Callable[..., Path]) -> None:
    defaults = model_defaults(inspect_gguf(tiny_gguf()).metadata)
    assert defaults.sampling == SamplingSettings()
    assert defaults.recommended == ()
    assert model_defaults(None) == defaults
