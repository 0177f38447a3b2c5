"""The API server's options, and the checks that keep them safe: loopback unless asked, exact CORS origins.

Plain settings with no server machinery, so they live in core: the Server page edits them without
importing the server, and `hearth serve` validates its flags with the same rules. `ServerPrefs` (port,
CORS allowlist) is what the GUI remembers between runs, in `server.json` in the config folder. The key
lives apart (api_key.py), readable by the user only.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from desktop_app.core.errors import HearthError, SettingsError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import AppPaths
from desktop_app.core.private_files import write_private_text

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: requests the server decodes together (continuous batching); lowered when memory is short
DEFAULT_PARALLEL = 4
MAX_PARALLEL = 16
MAX_BODY_BYTES = 1 << 20  # 1 MiB: a long conversation is a few hundred KB
MAX_PENDING = 16  # queued plus running generations; more get 429
PREFS_FILE = "server.json"
LOCAL_HOST_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


class ServerStartError(HearthError):
    """The server could not start (port in use, address not available)."""

    title = "The server could not start"
    exit_code = 10


@dataclass(frozen=True)
class ServerOptions:
    api_key: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    cors_origins: tuple[str, ...] = ()
    allow_remote: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    max_pending: int = MAX_PENDING
    default_sampling: SamplingSettings = field(default_factory=SamplingSettings)
    parallel: int = DEFAULT_PARALLEL  # requests decoded together (1: one at a time)

    def __post_init__(self) -> None:
        check_port(self.port)
        check_parallel(self.parallel)
        check_bind_host(self.host, allow_remote=self.allow_remote)
        for origin in self.cors_origins:
            check_origin(origin)


def check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SettingsError(f"The port must be a number from 1 to 65535, not {port!r}.", hint="Try 8765.")
    return port


def check_parallel(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL:
        raise SettingsError(
            f"Parallel requests must be a number from 1 to {MAX_PARALLEL}, not {value!r}.",
            hint=f"Use {DEFAULT_PARALLEL} for a few clients at once, 1 to answer one request at a time.",
        )
    return value


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_address(host: str) -> str:
    """What to bind: `localhost` means 127.0.0.1 (never a resolver's surprise)."""
    host = host.strip().strip("[]")
    return "127.0.0.1" if host.lower() == "localhost" else host


def check_bind_host(host: str, *, allow_remote: bool) -> str:
    """Loopback is always fine; anything else needs `allow_remote` (the caller prints a warning)."""
    if is_loopback(host):
        return host
    try:
        ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError as exc:
        raise SettingsError(
            f"'{host}' is not an IP address to listen on.",
            hint="Use 127.0.0.1 (this computer only), or an address of this computer with --allow-remote.",
        ) from exc
    if not allow_remote:
        raise SettingsError(
            f"Listening on {host} would let other computers reach the server.",
            hint="Add --allow-remote if that is what you want (anyone with the key can then use your "
            "model), or leave out --host to stay on 127.0.0.1.",
        )
    return host


def check_origin(origin: str) -> str:
    """An exact web origin (`scheme://host[:port]`): no wildcard, no path, no 'null'."""
    text = origin.strip()
    parts = urlsplit(text)
    ok = (
        re.fullmatch(r"[a-z][a-z0-9+.-]*", parts.scheme) is not None  # https, but also app schemes
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
        and "*" not in text
    )
    try:
        _ = parts.port
    except ValueError:
        ok = False
    if not ok:
        raise SettingsError(
            f"'{origin}' is not a web origin.",
            hint="Give the exact origin of the web page, such as https://app.example.com or "
            "http://localhost:3000 (no wildcard, no path).",
        )
    return normalize_origin(text)


def normalize_origin(origin: str) -> str:
    """Browsers send `scheme://host[:port]` in lower case, without a trailing slash."""
    return origin.strip().rstrip("/").lower()


def host_header_allowed(value: str | None, *, allow_remote: bool = False) -> bool:
    """DNS-rebinding guard: only localhost names (any port); with `allow_remote` also IP literals,
    since a rebinding attack needs a domain name the attacker controls."""
    if not value:
        return False
    host = _host_part(value.strip().lower())
    if host is None:
        return False
    if host in LOCAL_HOST_NAMES:
        return True
    if allow_remote:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return True
    return False


def _host_part(value: str) -> str | None:
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
    else:
        host, sep, port = value.partition(":")
        rest = sep + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return host


def url_for(host: str, port: int) -> str:
    host = bind_address(host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


# -- what the GUI remembers --------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerPrefs:
    port: int = DEFAULT_PORT
    cors_origins: tuple[str, ...] = ()
    parallel: int = DEFAULT_PARALLEL


def load_prefs(paths: AppPaths) -> ServerPrefs:
    """The saved prefs, or defaults when the file is missing or damaged (logged, never fatal)."""
    file = paths.config / PREFS_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        port = check_port(data.get("port", DEFAULT_PORT))
        origins = tuple(check_origin(str(o)) for o in data.get("cors_origins", []))
        parallel = check_parallel(data.get("parallel", DEFAULT_PARALLEL))
        return ServerPrefs(port=port or DEFAULT_PORT, cors_origins=origins, parallel=parallel)
    except FileNotFoundError:
        return ServerPrefs()
    except (OSError, ValueError, AttributeError, TypeError, HearthError) as exc:
        log.warning("ignoring damaged %s: %s", file, exc)
        return ServerPrefs()


def save_prefs(paths: AppPaths, prefs: ServerPrefs) -> None:
    file = paths.config / PREFS_FILE
    try:
        write_private_text(
            file,
            json.dumps(
                {"port": prefs.port, "cors_origins": list(prefs.cors_origins), "parallel": prefs.parallel},
                indent=2,
            ),
        )
    except OSError:
        log.warning("could not save %s", file, exc_info=True)
