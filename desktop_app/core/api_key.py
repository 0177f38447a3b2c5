"""The server's API key: random at first start, stored in the config folder readable by the user only.

A key on the command line (`--api-key`) is used as given and never written to disk.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from desktop_app.core.errors import SettingsError, StorageError
from desktop_app.core.paths import AppPaths
from desktop_app.core.private_files import write_private_text

KEY_FILE = "server-api-key"
KEY_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
MIN_KEY_LENGTH = 8


def key_file(paths: AppPaths) -> Path:
    return paths.config / KEY_FILE


def check_key(key: str) -> str:
    """A key must be printable ASCII without spaces (it travels in an HTTP header)."""
    key = key.strip()
    if len(key) < MIN_KEY_LENGTH or not all(33 <= ord(c) < 127 for c in key):
        raise SettingsError(
            f"The API key must be at least {MIN_KEY_LENGTH} printable ASCII characters without spaces.",
            hint="Leave out --api-key to use the key Hearth generated for you.",
        )
    return key


def load_or_create_key(paths: AppPaths) -> str:
    """The stored key; the first call creates it (mode 0600, atomically, so two starts agree)."""
    file = key_file(paths)
    try:
        existing = file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise _storage_error(file, exc) from exc
    if existing:
        try:
            return check_key(existing)
        except SettingsError:
            pass  # a damaged file: replace it with a fresh key
    return regenerate_key(paths)


def regenerate_key(paths: AppPaths) -> str:
    """Write a new random key (old clients stop working) and return it."""
    file = key_file(paths)
    key = secrets.token_urlsafe(KEY_BYTES)
    try:
        write_private_text(file, key + "\n", encoding="ascii")
    except OSError as exc:
        raise _storage_error(file, exc) from exc
    return key


def _storage_error(file: Path, exc: BaseException) -> StorageError:
    return StorageError(
        f"Hearth cannot read or write the server's API key file {file}: {exc}.",
        hint="Check that the settings folder is yours and writable (its path is in the message).",
        details=repr(exc),
    )
