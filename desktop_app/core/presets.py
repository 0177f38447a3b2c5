"""Named settings presets per model, and what "the model's defaults" are.

A preset is a system prompt plus sampling and load settings under a name the user picked ("Precise",
"Creative"…), stored per model in the app's SQLite database (table `presets`, migration 3). Presets
are keyed by a *model key*: the library id when the model is in the library, otherwise the resolved
file path. There is no foreign key to `models`, so deleting a model and importing it again keeps its
presets; `forget_model()` removes them when that is what the user wants.

"Reset to model defaults" means Hearth's defaults (`SamplingSettings()`, `LoadSettings()` with the
context picked from the model's trained length) overlaid with the sampling values the model's authors
recommend in the GGUF metadata (`general.sampling.*`, written by newer llama.cpp converters), when the
file has them.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final, TypeVar

from desktop_app.core.db import Database
from desktop_app.core.errors import HearthError, SettingsError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.model_settings import parse_section

log = logging.getLogger(__name__)

S = TypeVar("S", SamplingSettings, LoadSettings)

NAME_LENGTH: Final = 60

# GGUF key (llama.cpp gguf-py Keys.General.SAMPLING_*) -> SamplingSettings field
GGUF_SAMPLING_KEYS: Final[dict[str, str]] = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_k": "top_k",
    "general.sampling.top_p": "top_p",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
    "general.sampling.penalty_last_n": "repeat_last_n",
}


class UnknownPresetError(HearthError):
    title = "No such preset"
    exit_code = 2


class PresetExistsError(SettingsError):
    title = "A preset with this name exists"


@dataclass(frozen=True)
class Preset:
    model_key: str
    name: str
    system_prompt: str
    sampling: SamplingSettings
    load: LoadSettings
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ModelDefaults:
    """What "Reset to model defaults" restores. `recommended` names the sampling fields that came
    from the model file, so the UI can say where the values come from."""

    sampling: SamplingSettings
    load: LoadSettings
    system_prompt: str = ""
    recommended: tuple[str, ...] = ()


def recommended_sampling(metadata: Mapping[str, object] | None) -> dict[str, float | int]:
    """The sampling values a GGUF recommends (`general.sampling.*`), each checked on its own: a bad
    value is skipped (and logged) instead of spoiling the others. Floats are rounded to 4 decimals
    because the file stores float32 (0.95 reads back as 0.949999988)."""
    out: dict[str, float | int] = {}
    if not metadata:
        return out
    base = SamplingSettings()
    for key, name in GGUF_SAMPLING_KEYS.items():
        raw = metadata.get(key)
        if raw is None:
            continue
        value: float | int
        if isinstance(getattr(base, name), float):
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                log.warning("ignoring %s = %r in the model file: not a number", key, raw)
                continue
            value = round(float(raw), 4)
        else:
            if isinstance(raw, bool) or not isinstance(raw, int):
                log.warning("ignoring %s = %r in the model file: not a whole number", key, raw)
                continue
            value = raw
        try:
            replace(base, **dict[str, Any]({name: value}))
        except SettingsError:
            log.warning("ignoring %s = %r in the model file: out of range", key, raw)
            continue
        out[name] = value
    return out


def model_defaults(metadata: Mapping[str, object] | None = None) -> ModelDefaults:
    """Hearth's defaults for this model, with the file's recommended sampling on top.

    `n_ctx` stays None, meaning "automatic": `LoadSettings.context_for(trained)` resolves it to
    min(trained context, 4096) at load time, so the default follows the model's trained length."""
    recommended = recommended_sampling(metadata)
    return ModelDefaults(
        sampling=replace(SamplingSettings(), **dict[str, Any](recommended)),
        load=LoadSettings(),
        recommended=tuple(recommended),
    )


class PresetStore:
    """Reads and writes presets. Safe from any thread (Database gives each its own connection); each
    public write is one transaction."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    def names(self, model_key: str) -> list[str]:
        """This model's preset names, sorted ignoring case. Never parses the settings, so one
        damaged preset does not hide the others."""
        rows = self.db.read(
            "SELECT name FROM presets WHERE model_key = ? ORDER BY name COLLATE NOCASE, id", (model_key,)
        ).fetchall()
        return [str(row["name"]) for row in rows]

    def exists(self, model_key: str, name: str) -> bool:
        row = self.db.read(
            "SELECT 1 FROM presets WHERE model_key = ? AND name = ?", (model_key, name.strip())
        ).fetchone()
        return row is not None

    def get(self, model_key: str, name: str) -> Preset:
        """Raises UnknownPresetError, or SettingsError when the stored settings are damaged."""
        row = self.db.read(
            "SELECT * FROM presets WHERE model_key = ? AND name = ?", (model_key, name.strip())
        ).fetchone()
        if row is None:
            raise UnknownPresetError(
                f"There is no preset named '{name}' for this model.", hint="It may have been deleted."
            )
        return _preset(row)

    def save(
        self,
        model_key: str,
        name: str,
        *,
        system_prompt: str,
        sampling: SamplingSettings,
        load: LoadSettings,
        overwrite: bool = False,
    ) -> Preset:
        """Create a preset, or replace the one with this name when `overwrite` (else
        PresetExistsError). Replacing keeps its creation time and takes the new spelling of the name."""
        clean = check_name(name)
        if not model_key:
            raise ValueError("model_key must not be empty")
        now = self._clock()
        values = (system_prompt, _dump(sampling.to_dict()), _dump(load.to_dict()))
        with self.db.transaction() as conn:
            existing = conn.execute(
                "SELECT id FROM presets WHERE model_key = ? AND name = ?", (model_key, clean)
            ).fetchone()
            if existing is None:
                conn.execute(
                    "INSERT INTO presets (model_key, name, system_prompt, sampling, load, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (model_key, clean, *values, now, now),
                )
            elif overwrite:
                conn.execute(
                    "UPDATE presets SET name = ?, system_prompt = ?, sampling = ?, load = ?, updated_at = ? "
                    "WHERE id = ?",
                    (clean, *values, now, existing["id"]),
                )
            else:
                raise PresetExistsError(
                    f"A preset named '{clean}' already exists for this model.",
                    hint="Pick another name, or select that preset and press Save to replace it.",
                )
        return self.get(model_key, clean)

    def delete(self, model_key: str, name: str) -> bool:
        """Remove one preset; False when there was none. Works on a damaged preset too."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM presets WHERE model_key = ? AND name = ?", (model_key, name.strip())
            )
        return cursor.rowcount > 0

    def forget_model(self, model_key: str) -> int:
        """Remove all of a model's presets (when the user deletes the model for good)."""
        with self.db.transaction() as conn:
            cursor = conn.execute("DELETE FROM presets WHERE model_key = ?", (model_key,))
        return cursor.rowcount

    # -- internals -------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """The name as stored (trimmed, one line); SettingsError when it cannot be a preset name."""
    clean = " ".join(name.split())
    if not clean:
        raise SettingsError("A preset needs a name.", hint="Type a name such as 'Precise' or 'Creative'.")
    if len(clean) > NAME_LENGTH:
        raise SettingsError(
            f"A preset name can be at most {NAME_LENGTH} characters long.", hint="Pick a shorter name."
        )
    return clean


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _preset(row: sqlite3.Row) -> Preset:
    name = str(row["name"])
    return Preset(
        model_key=row["model_key"],
        name=name,
        system_prompt=row["system_prompt"],
        sampling=_parse(name, "sampling", row["sampling"], SamplingSettings),
        load=_parse(name, "load", row["load"], LoadSettings),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _parse(name: str, column: str, text: str, settings_type: type[S]) -> S:
    """Stored JSON back into settings, read as a library model's settings section is (ModelSettings)
    except that keys this version does not know (written by a newer Hearth) are dropped with a
    warning: a preset is a snapshot, not a place to keep them. Anything else wrong is a SettingsError
    that names the preset."""
    damaged = f"The preset '{name}' is damaged: its {column} settings cannot be read"
    hint = "Delete the preset and save it again."
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{damaged} (not valid JSON).", hint=hint, details=repr(text[:200])) from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{damaged} (not a JSON object).", hint=hint, details=repr(text[:200]))
    known = {f.name for f in fields(settings_type)}
    unknown = sorted(set(data) - known)
    if unknown:
        log.warning("preset %r: ignoring unknown %s settings %s", name, column, unknown)
        data = {k: v for k, v in data.items() if k in known}
    try:
        return parse_section(settings_type, data, section=column)
    except SettingsError as exc:
        raise SettingsError(f"{damaged}: {exc.message}", hint=hint, details=text[:200]) from exc
