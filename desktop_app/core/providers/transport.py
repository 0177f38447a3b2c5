"""The HTTP side of a provider: one httpx2 client per call, and every failure as one clear line.

- Offline mode is checked before the client exists, so no socket is opened (not even a DNS lookup).
- TLS is always verified: the system's store, or the provider's CA bundle; never switched off.
- Proxies and SSL_CERT_FILE come from the environment (httpx2's trust_env), as for other tools.
- No redirects are followed: a redirect could carry the key to another host.
- Bodies are read with caps; text from the server (an error message) is cut to one short line.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx2

from desktop_app import __version__
from desktop_app.core.errors import OfflineError, SettingsError
from desktop_app.core.network import is_offline
from desktop_app.core.providers.errors import (
    ProviderAuthError,
    ProviderDroppedError,
    ProviderError,
    ProviderModelError,
    ProviderProtocolError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderTLSError,
    ProviderUnreachableError,
)
from desktop_app.core.providers.records import Provider

__all__ = [
    "CONNECT_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "ensure_allowed",
    "error_for_status",
    "error_for_transport",
    "open_client",
    "read_capped",
    "server_message",
]

CONNECT_TIMEOUT_S = 10.0
#: the longest silence allowed: a big model on a busy server can take minutes to prefill a long prompt
READ_TIMEOUT_S = 300.0
MAX_ERROR_BODY = 64 * 1024
MAX_MESSAGE_CHARS = 300

Action = Literal["list models", "chat"]


def ensure_allowed(provider: Provider) -> None:
    """Refuse before any socket when offline mode is on (the app's switch, or HF_HUB_OFFLINE)."""
    if is_offline():
        raise OfflineError(
            f"Offline mode is on, so Hearth will not contact the provider '{provider.name}'.",
            hint="Turn off offline mode (the switch in Hearth's sidebar) to use remote models.",
        )


@contextmanager
def open_client(
    provider: Provider,
    *,
    read_timeout_s: float = READ_TIMEOUT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> Iterator[httpx2.Client]:
    ensure_allowed(provider)
    key = provider.key()  # an unset --api-key-env variable fails here, before the network
    headers = {"User-Agent": f"Hearth/{__version__}", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    timeout = httpx2.Timeout(read_timeout_s, connect=connect_timeout_s, write=30.0, pool=connect_timeout_s)
    with httpx2.Client(
        headers=headers,
        verify=_tls_context(provider),
        trust_env=True,
        follow_redirects=False,
        timeout=timeout,
    ) as client:
        yield client


#: built TLS contexts, by (CA bundle and its mtime, SSL_CERT_FILE, SSL_CERT_DIR): building one loads the
#: trust store (about 50 ms of CPU), which would otherwise be paid again by every reply
_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _tls_context(provider: Provider) -> ssl.SSLContext:
    bundle = provider.ca_bundle
    try:
        mtime = os.stat(bundle).st_mtime_ns if bundle is not None else None
    except OSError:
        mtime = None
    key = (bundle, mtime, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _contexts_lock:
        context = _contexts.get(key)
    if context is not None:
        return context
    if bundle is None:
        context = httpx2.create_ssl_context(trust_env=True)  # the system's store, or SSL_CERT_FILE
    else:
        try:
            context = ssl.create_default_context(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                f"The CA bundle {bundle} of provider '{provider.name}' cannot be used: {exc}.",
                hint="Give a PEM file of certificates with --ca-bundle when you add the provider.",
            ) from exc
    with _contexts_lock:
        return _contexts.setdefault(key, context)


def read_capped(response: httpx2.Response, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` bytes (reading stops there)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Server text made safe for one terminal line: printable characters only, cut to `limit`."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def server_message(body: bytes | None) -> str:
    """The message in an error body: OpenAI's {"error": {"message"}}, {"error": "..."}, FastAPI's
    {"detail"}, or {"message"}; else the start of the text. One line, at most 300 characters."""
    if not body:
        return ""
    try:
        data: Any = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return one_line(body[:2000].decode("utf-8", errors="replace"))
    for candidate in (
        data.get("error") if isinstance(data, dict) else None,
        data.get("detail") if isinstance(data, dict) else None,
        data.get("message") if isinstance(data, dict) else None,
    ):
        text = candidate.get("message") if isinstance(candidate, dict) else candidate
        if isinstance(text, str) and text.strip():
            return one_line(text)
    return ""


def error_for_status(
    provider: Provider, response: httpx2.Response, action: Action, model: str | None = None
) -> ProviderError:
    """The error for a non-2xx answer (the body is read here, capped)."""
    status = response.status_code
    message = server_message(read_capped(response, MAX_ERROR_BODY))
    said = f": {message.rstrip('.')}" if message else ""
    where = provider.where
    if 300 <= status < 400:
        target = one_line(response.headers.get("location", ""), 200)
        return ProviderProtocolError(
            f"{where} answered with a redirect (HTTP {status}){f' to {target}' if target else ''}.",
            hint="Hearth does not follow redirects (they could carry the key elsewhere): add the provider "
            "again with the address it redirects to.",
        )
    if status in (401, 403):
        has_key = provider.api_key is not None or provider.api_key_env is not None
        return ProviderAuthError(
            f"{where} refused "
            + ("the API key" if has_key else "the request: it needs an API key")
            + f" (HTTP {status}){said}.",
            hint=f"Add it again with the right key: `hearth remote rm {provider.name}`, then "
            f"`hearth remote add {provider.name} --url {provider.url} --api-key-env VAR` (or --api-key KEY).",
        )
    if status == 429:
        retry = one_line(response.headers.get("retry-after", ""), 40)
        return ProviderRateLimitError(
            f"{where} is rate-limiting requests (HTTP 429){said}.",
            hint=f"Wait {retry} s and try again." if retry.isdigit() else "Wait a little and try again.",
        )
    if action == "list models" and status in (404, 405):
        return ProviderProtocolError(
            f"{where} has no OpenAI-compatible API at {provider.api_base} "
            f"(GET /models answered HTTP {status}).",
            hint="Check the URL: it is the server's base address, usually ending in /v1 "
            "(Ollama: http://HOST:11434/v1, vLLM: http://HOST:8000/v1).",
        )
    if action == "chat" and model is not None and _about_model(status, message):
        return ProviderModelError(
            f"{where} has no model '{model}'{said}.",
            hint=f"`hearth remote list` shows the models of '{provider.name}'.",
        )
    if status >= 500:
        return ProviderError(
            f"{where} failed (HTTP {status}){said}.",
            hint="Try again; if it keeps failing, the server's own log says why.",
        )
    return ProviderError(
        f"{where} refused the request (HTTP {status}){said}.",
        hint="The server may not support one of the settings sent; its log says which.",
    )


def _about_model(status: int, message: str) -> bool:
    text = message.lower()
    return status == 404 or (
        "model" in text
        and any(w in text for w in ("not found", "does not exist", "unknown", "no such", "not exist"))
    )


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def error_for_transport(
    provider: Provider, exc: httpx2.HTTPError, *, streaming: bool = False
) -> ProviderError:
    """The error for a failure below HTTP: no connection, TLS, a timeout, a broken stream."""
    where = provider.where
    tls = _tls_cause(exc)
    text = str(exc)
    if tls is not None or "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or one_line(text, 120)
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text.lower():
            return ProviderTLSError(
                f"The TLS handshake with {where} failed: the server does not speak https on that port.",
                hint="If it serves plain http, use an http:// URL (only on a network you trust).",
            )
        return ProviderTLSError(
            f"The TLS certificate of {where} was not accepted ({reason}).",
            hint="If the server uses a certificate from your own CA, add the provider with "
            "--ca-bundle FILE (a PEM file of that CA); check that the URL's host name matches the "
            "certificate.",
        )
    if isinstance(exc, httpx2.ProxyError):
        return ProviderUnreachableError(
            f"The proxy refused to connect to {where} ({one_line(text, 160)}).",
            hint="Check HTTPS_PROXY/HTTP_PROXY, or add the host to NO_PROXY.",
        )
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return ProviderTimeoutError(
            f"{where} did not accept a connection within {CONNECT_TIMEOUT_S:.0f} s.",
            hint="Check the host and port, and that a firewall lets this computer reach it.",
        )
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderTimeoutError(
            f"{where} stopped answering" + (" in the middle of the reply." if streaming else "."),
            hint="The server may be overloaded; try again, or with a shorter prompt.",
        )
    if isinstance(exc, httpx2.ConnectError):
        return ProviderUnreachableError(
            f"Cannot reach {where}: {_connect_reason(text)}.",
            hint="Check the URL, that the server is running, and that it listens on an address this "
            "computer can reach (not only 127.0.0.1 on its own machine).",
        )
    if streaming or isinstance(exc, httpx2.ReadError | httpx2.RemoteProtocolError):
        return ProviderDroppedError(
            f"The connection to {where} dropped" + (" in the middle of the reply." if streaming else "."),
            hint="What arrived is kept; try again (regenerate, or send the message again).",
        )
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return ProviderError(
            f"The URL of {where} cannot be used: {one_line(text, 160)}.", hint="Add it again."
        )
    return ProviderError(f"Talking to {where} failed: {one_line(text, 160)}.", hint="Try again.")


def _connect_reason(text: str) -> str:
    lowered = text.lower()
    if "refused" in lowered:
        return "the connection was refused (nothing listens on that port)"
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "resolution" in lowered
    ):
        return "the host name could not be resolved"
    if "unreachable" in lowered or "no route" in lowered:
        return "the network is unreachable from here"
    return one_line(text, 160) or "the connection failed"
