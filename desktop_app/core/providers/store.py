"""The providers file, config/providers.json: 0600, replaced atomically (core/private_files.py).

Why a 0600 file rather than the OS keychain (`keyring`): Hearth already keeps its other secrets (the
Hugging Face token, the API server's key) this way, in a 0700 folder only this user can read; keyring
is not a dependency, and on the Linux machines Hearth targets first (headless boxes, minimal desktops)
there is often no Secret Service, where keyring falls back to a plaintext file or fails. A user who
wants no key on disk at all gives `--api-key-env VAR`: then only the variable's name is stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from desktop_app.core.errors import SettingsError, StorageError
from desktop_app.core.paths import AppPaths, app_paths
from desktop_app.core.private_files import restrict_file, write_private_text
from desktop_app.core.providers.records import Provider

__all__ = ["FILE_NAME", "MAX_PROVIDERS", "ProviderStore", "UnknownProviderError"]

FILE_NAME = "providers.json"
MAX_FILE_BYTES = 1 << 20
MAX_PROVIDERS = 100


class UnknownProviderError(SettingsError):
    title = "No such provider"


class ProviderStore:
    """Reads and writes the providers file; every call reads it afresh (the app and the CLI share it)."""

    def __init__(self, paths: AppPaths | None = None) -> None:
        self.paths = paths or app_paths()
        self._lock = threading.Lock()

    @property
    def file(self) -> Path:
        return self.paths.config / FILE_NAME

    def providers(self) -> list[Provider]:
        file = self.file
        try:
            with file.open("rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(f"Hearth cannot read {file}: {exc.strerror or exc}.") from exc
        restrict_file(file)  # it holds keys: tighten one a user (or a copy) left readable
        hint = f"Fix {file} or remove it (then add the providers again with `hearth remote add`)."
        if len(raw) > MAX_FILE_BYTES:
            raise SettingsError(f"{file} is larger than 1 MiB.", hint=hint)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SettingsError(f"{file} is not valid JSON ({exc}).", hint=hint) from exc
        entries = data.get("providers") if isinstance(data, dict) else None
        if not isinstance(entries, list) or len(entries) > MAX_PROVIDERS:
            raise SettingsError(f"{file} does not hold a list of providers.", hint=hint)
        try:
            return [Provider.from_dict(entry) for entry in entries]
        except SettingsError as exc:
            raise SettingsError(f"{file}: {exc.message}", hint=hint) from exc

    def get(self, name: str) -> Provider:
        for provider in self.providers():
            if provider.name == name:
                return provider
        raise UnknownProviderError(
            f"There is no provider named {name!r}.",
            hint="`hearth remote list` shows your providers; `hearth remote add NAME --url URL` adds one.",
        )

    def ensure_new(self, name: str, providers: Sequence[Provider] | None = None) -> None:
        """Raise when `name` is taken (before `hearth remote add` checks the server)."""
        if any(p.name == name for p in (self.providers() if providers is None else providers)):
            raise SettingsError(
                f"There is already a provider named {name!r}.",
                hint=f"Remove it first (`hearth remote rm {name}`), or pick another name.",
            )

    def add(self, provider: Provider) -> None:
        with self._lock:
            providers = self.providers()
            self.ensure_new(provider.name, providers)
            if len(providers) >= MAX_PROVIDERS:
                raise SettingsError(f"Hearth keeps at most {MAX_PROVIDERS} providers.", hint="Remove one.")
            self._write([*providers, provider])

    def remove(self, name: str) -> Provider:
        with self._lock:
            providers = self.providers()
            gone = self.get(name)
            self._write([p for p in providers if p.name != name])
            return gone

    def _write(self, providers: Sequence[Provider]) -> None:
        text = json.dumps({"version": 1, "providers": [p.to_dict() for p in providers]}, indent=2)
        try:
            write_private_text(self.file, text + "\n")
        except OSError as exc:
            raise StorageError(f"Hearth cannot write {self.file}: {exc.strerror or exc}.") from exc
