"""The server's gate, as plain ASGI middleware in front of every route.

In order: the Host header (DNS rebinding: 403), the Origin (CORS: only allowlisted origins, else 403 and
no CORS headers), the API key (401, compared in constant time), then the body size (413, counted while
reading, so a missing or lying Content-Length changes nothing). The app behind it only ever sees
requests that passed, with their body already read and bounded.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desktop_app.core.api_key import check_key
from desktop_app.core.server_config import MAX_BODY_BYTES, host_header_allowed, normalize_origin
from desktop_app.core.units import human_size
from desktop_app.server.openai_schema import error_body

log = logging.getLogger(__name__)

#: (method, path, HTTP status, why): told about every request the gate refuses.
RejectListener = Callable[[str, str, int, str], None]

#: a refused body is read and discarded up to this size so the client can read the 413 (see _drain)
DRAIN_MAX_BYTES = 64 * 1024 * 1024
#: ...as long as it keeps arriving: a pause this long ends the wait
DRAIN_IDLE_S = 1.0

_HEADER_LIST = re.compile(r"^[A-Za-z0-9\-_, ]{0,1000}$")


class SecurityPolicy:
    """The gate's settings. The GUI may change the key or the allowlist while the server runs; each
    is replaced whole (one attribute store), so a request sees either the old value or the new one."""

    def __init__(
        self,
        api_key: str,
        cors_origins: Iterable[str] = (),
        *,
        allow_remote: bool = False,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._key = check_key(api_key).encode("utf-8")
        self.cors_origins: frozenset[str] = frozenset(normalize_origin(o) for o in cors_origins)
        self.allow_remote = allow_remote
        self.max_body_bytes = max_body_bytes

    def set_api_key(self, key: str) -> None:
        self._key = check_key(key).encode("utf-8")

    def set_cors_origins(self, origins: Iterable[str]) -> None:
        self.cors_origins = frozenset(normalize_origin(o) for o in origins)

    def key_matches(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode("utf-8"), self._key)


class SecurityMiddleware:
    def __init__(
        self, app: ASGIApp, policy: SecurityPolicy, on_rejected: RejectListener | None = None
    ) -> None:
        self.app = app
        self.policy = policy
        self.on_rejected = on_rejected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        policy = self.policy
        headers = Headers(scope=scope)
        method: str = scope["method"]
        path: str = scope["path"]

        host = headers.get("host")
        if not host_header_allowed(host, allow_remote=policy.allow_remote):
            await self._refuse(
                send, (method, path), 403, "host_not_allowed",
                f"Host '{host or ''}' is not allowed. The server answers only requests addressed to "
                "localhost, 127.0.0.1 or [::1] (protection against DNS rebinding).",
            )  # fmt: skip
            return

        origin = headers.get("origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            if normalize_origin(origin) not in policy.cors_origins:
                await self._refuse(
                    send, (method, path), 403, "origin_not_allowed",
                    f"Requests from web pages at {origin} are not allowed. If you trust that site, add "
                    "it to the server's CORS allowlist (--cors-origin, or the Server page).",
                )  # fmt: skip
                return
            cors = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
            if method == "OPTIONS" and "access-control-request-method" in headers:
                await self._preflight(send, cors, headers.get("access-control-request-headers", ""))
                return

        if not policy.key_matches(headers.get("authorization")):
            await self._refuse(
                send, (method, path), 401, "invalid_api_key",
                "Missing or wrong API key. Send 'Authorization: Bearer KEY' with the key that "
                "`hearth serve` printed or the Server page shows.",
                extra=[*cors, (b"www-authenticate", b"Bearer")],
            )  # fmt: skip
            return

        limit = policy.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await self._refuse(send, (method, path), 400, "bad_content_length", "Invalid Content-Length.")
                return
            if int(declared) > limit:
                if int(declared) <= DRAIN_MAX_BYTES:
                    await _drain(receive, 0)
                await self._too_large(send, method, path, limit, cors)
                return
        if method in ("POST", "PUT", "PATCH") or declared or "transfer-encoding" in headers:
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > limit:
                    more = message.get("more_body", False)
                    del body[:]  # nothing of it is kept while the rest is discarded
                    if more:
                        await _drain(receive, limit)
                    await self._too_large(send, method, path, limit, cors)
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(bytes(body), receive)

        if cors:
            send = _with_headers(send, cors)
        await self.app(scope, receive, send)

    async def _preflight(self, send: Send, cors: list[tuple[bytes, bytes]], requested: str) -> None:
        allow_headers = (
            requested if _HEADER_LIST.match(requested) and requested else "authorization, content-type"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    *cors,
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers", allow_headers.encode("latin-1")),
                    (b"access-control-max-age", b"600"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _too_large(
        self, send: Send, method: str, path: str, limit: int, cors: list[tuple[bytes, bytes]]
    ) -> None:
        await self._refuse(
            send, (method, path), 413, "request_too_large",
            f"The request body is larger than the server's limit of {human_size(limit, binary=True)}.",
            extra=[*cors, (b"connection", b"close")],  # the rest of the body is never read
        )  # fmt: skip

    async def _refuse(
        self,
        send: Send,
        where: tuple[str, str],
        status: int,
        code: str,
        message: str,
        *,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        await send_json(send, status, error_body(status, message, code=code), extra)
        if self.on_rejected is not None:
            try:
                self.on_rejected(*where, status, code)
            except Exception:  # a listener must never break serving
                log.warning("reject listener failed", exc_info=True)


async def send_json(
    send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, received: int) -> None:
    """Read and discard the rest of a refused body, up to DRAIN_MAX_BYTES and while it keeps coming.

    A client such as OpenAI's (httpx) sends the whole body before it reads the answer. If we answered
    413 and closed with its bytes still unread, the kernel would reset the connection and the client
    would report a network error instead of the 413. Discarding costs no memory; the caps bound the
    time a client can hold the connection (the body stops arriving for DRAIN_IDLE_S, or passes the cap,
    and the answer is sent anyway).
    """
    while received <= DRAIN_MAX_BYTES:
        try:
            message = await asyncio.wait_for(receive(), DRAIN_IDLE_S)
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then the real `receive` (which reports the client's disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped
