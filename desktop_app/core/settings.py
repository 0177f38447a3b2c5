"""App-wide settings in config/settings.json. A malformed file never stops the app: defaults are
used, the broken file is kept as settings.json.bad, and the error is reported."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from desktop_app.core.errors import SettingsError
from desktop_app.core.paths import AppPaths
from desktop_app.core.private_files import write_private_text

FILE_NAME = "settings.json"
TOKEN_FILE = "hf_token"


@dataclass
class AppSettings:
    #: guarantees Hearth makes no network request at all (search and downloads are disabled)
    offline: bool = False
    font_size: float | None = None
    #: disk kept for saved chat state (instant reopen), in GB; 0 saves nothing to disk
    saved_state_limit_gb: float = 2.0
    #: load the library model used last when the window opens (the empty chat's check box)
    load_last_model: bool = False
    #: the starter model's note above the chat was closed for good
    starter_note_closed: bool = False


#: the yes/no settings
_FLAGS = ("offline", "load_last_model", "starter_note_closed")


def load_settings(paths: AppPaths) -> tuple[AppSettings, SettingsError | None]:
    """(settings, problem). On a malformed file: defaults, and the problem to show the user."""
    file = paths.config / FILE_NAME
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppSettings(), None
    except (OSError, ValueError) as exc:
        return AppSettings(), _quarantine(file, f"it is not valid JSON ({exc})")
    if not isinstance(raw, dict):
        return AppSettings(), _quarantine(file, "it does not hold a JSON object")
    known = {f.name: f for f in fields(AppSettings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            continue  # written by a newer version: ignore, keep going
        if key in _FLAGS and not isinstance(value, bool):
            return AppSettings(), _quarantine(file, f"'{key}' must be true or false, not {value!r}")
        if (
            key == "font_size"
            and value is not None
            and not (isinstance(value, int | float) and 6 <= value <= 40)
        ):
            return AppSettings(), _quarantine(file, f"'font_size' must be 6 to 40, not {value!r}")
        if key == "saved_state_limit_gb" and not (
            isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1024
        ):
            why = f"'saved_state_limit_gb' must be 0 to 1024, not {value!r}"
            return AppSettings(), _quarantine(file, why)
        values[key] = value
    return AppSettings(**values), None


def save_settings(paths: AppPaths, settings: AppSettings) -> None:
    write_private_text(paths.config / FILE_NAME, json.dumps(asdict(settings), indent=2))


def _quarantine(file: Path, why: str) -> SettingsError:
    bad = file.with_suffix(".json.bad")
    try:
        os.replace(file, bad)
    except OSError:
        bad = file
    return SettingsError(
        f"Hearth's settings file could not be read: {why}. Default settings are in use.",
        hint=f"The old file was kept as {bad.name}; fix it or delete it.",
    )


def read_token(paths: AppPaths) -> str | None:
    try:
        token = (paths.config / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def write_token(paths: AppPaths, token: str | None) -> None:
    """Store the Hugging Face token readable by this user only (0600 from the first byte, replaced
    atomically), or remove it."""
    file = paths.config / TOKEN_FILE
    if not token:
        file.unlink(missing_ok=True)
        return
    write_private_text(file, token.strip())
