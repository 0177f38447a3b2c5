"""A provider record: a name, a base URL, and where its key comes from (stored, or an environment
variable read at use). Validated when made, so the HTTP side can trust it. The key never appears in
`repr` (so not in a log line or a traceback's locals either)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from desktop_app.core.errors import SettingsError

__all__ = ["LEAVES", "Provider", "RemoteModel", "is_loopback_host", "plain_http_warning"]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_URL = 2048
MAX_KEY = 4096


@dataclass(frozen=True)
class Provider:
    name: str
    url: str  # as the user gave it, without a trailing slash
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None  # the key is read from this variable each time it is needed
    ca_bundle: str | None = None  # a PEM file of CAs to trust instead of the system's

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_RE.fullmatch(self.name):
            raise SettingsError(
                f"{self.name!r} cannot name a provider.",
                hint="Use up to 40 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            )
        object.__setattr__(self, "url", _checked_url(self.url))
        if self.api_key is not None and self.api_key_env is not None:
            raise SettingsError(
                "Give the key or the variable that holds it, not both.",
                hint="Use --api-key KEY or --api-key-env VAR.",
            )
        if self.api_key is not None:
            _check_key(self.api_key, "The API key")
        if self.api_key_env is not None and not ENV_RE.fullmatch(self.api_key_env):
            raise SettingsError(
                f"{self.api_key_env!r} is not an environment variable name.",
                hint="Give the variable's name, such as VLLM_API_KEY (not its value).",
            )
        if self.ca_bundle is not None:
            path = Path(self.ca_bundle).expanduser()
            object.__setattr__(self, "ca_bundle", str(path.absolute()))

    @property
    def api_base(self) -> str:
        """Where /models and /chat/completions live: the URL itself when it has a path (".../v1",
        Ollama's "/v1", a gateway's "/openai/v1"), else the URL plus "/v1"."""
        path = urlsplit(self.url).path
        return self.url if path not in ("", "/") else f"{self.url}/v1"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def netloc(self) -> str:
        """host:port as a user would recognise it (no credentials: records refuse them)."""
        return urlsplit(self.url).netloc

    @property
    def where(self) -> str:
        """How an error names it: "'NAME' (host:port)", never the key."""
        return f"'{self.name}' ({self.netloc})"

    def key(self) -> str | None:
        """The key to send, or None. An --api-key-env variable that is unset is an error that says so."""
        if self.api_key_env is None:
            return self.api_key
        value = os.environ.get(self.api_key_env, "")
        if not value:
            raise SettingsError(
                f"Provider '{self.name}' takes its API key from ${self.api_key_env}, which is not set.",
                hint=f"Set {self.api_key_env} in this shell, or add the provider again with --api-key.",
            )
        _check_key(value, f"${self.api_key_env}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """The stored form (the key included: only the 0600 providers file holds it)."""
        data: dict[str, Any] = {"name": self.name, "url": self.url}
        for name in ("api_key", "api_key_env", "ca_bundle"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    def public_dict(self) -> dict[str, Any]:
        """What may be shown: never the key, only whether there is one and where it comes from."""
        key_source = "env" if self.api_key_env else ("stored" if self.api_key else None)
        data: dict[str, Any] = {"name": self.name, "url": self.url, "key": key_source}
        if self.api_key_env:
            data["api_key_env"] = self.api_key_env
        if self.ca_bundle:
            data["ca_bundle"] = self.ca_bundle
        return data

    @classmethod
    def from_dict(cls, data: object) -> Provider:
        if not isinstance(data, dict):
            raise SettingsError("A provider entry is not an object.", hint="Fix or remove it.")
        unknown = sorted(set(data) - {"name", "url", "api_key", "api_key_env", "ca_bundle"})
        if unknown:
            raise SettingsError(f"Unknown provider field(s): {', '.join(unknown)}.", hint="Remove them.")
        values = {k: data.get(k) for k in ("name", "url", "api_key", "api_key_env", "ca_bundle")}
        for name, value in values.items():
            if value is not None and not isinstance(value, str):
                raise SettingsError(f"The provider field '{name}' must be text.", hint="Fix or remove it.")
        return cls(**values)  # type: ignore[arg-type]


def _checked_url(url: object) -> str:
    hint = "Give the server's base address, such as http://gpu-box:8000/v1 or https://llm.example.org/v1."
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL:
        raise SettingsError("The provider URL is missing or too long.", hint=hint)
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise SettingsError(f"{url!r} is not a valid URL ({exc}).", hint=hint) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{url!r} is not an http:// or https:// URL.", hint=hint)
    if parts.username is not None or parts.password is not None:
        raise SettingsError(
            "The URL holds a user name or password; Hearth would store and show it with the URL.",
            hint="Leave credentials out of the URL and give the key with --api-key or --api-key-env.",
        )
    if parts.query or parts.fragment:
        raise SettingsError(f"{url!r} has a query or fragment; a base URL has neither.", hint=hint)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise SettingsError("The URL contains spaces or control characters.", hint=hint)
    del port
    return url


def _check_key(key: str, what: str) -> None:
    # A header value: printable ASCII without spaces, so no header can be injected through it.
    if not key or len(key) > MAX_KEY or not all(33 <= ord(ch) < 127 for ch in key):
        raise SettingsError(
            f"{what} must be 1 to {MAX_KEY} printable characters without spaces.",
            hint="Copy the key again, without quotes or line breaks.",
        )


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: traffic that never leaves this computer."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(provider: Provider) -> str | None:
    """A warning when messages (and the key) would cross a network unencrypted, else None."""
    if urlsplit(provider.url).scheme != "http" or is_loopback_host(provider.host):
        return None
    return (
        f"{provider.url} is plain http to another computer: your messages"
        + (" and the API key" if provider.api_key or provider.api_key_env else "")
        + " cross the network unencrypted. Use https:// (or an SSH tunnel to 127.0.0.1) where you can."
    )


@dataclass(frozen=True)
class RemoteModel:
    """One model a provider serves, as the model picker lists it."""

    provider: str
    host: str  # where it runs, as the badge names it
    model: str

    @property
    def label(self) -> str:
        """How a conversation and its replies name it (as `hearth chat --remote` does)."""
        return f"{self.model} on {self.provider}"

    @property
    def badge(self) -> str:
        return f"runs on {self.host} — {LEAVES}"


#: what a remote model means for privacy, in the words of its badge
LEAVES = "your messages leave this computer"
