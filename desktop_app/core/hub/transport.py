"""The one wrapper Hearth puts on huggingface_hub's shared session (`use_fail_fast_client`): a Hub that
cannot be reached is said at once instead of after 23 s of retries, a connect has a timeout even where
the library gives none, and an /api/ answer has a size limit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Final

import httpx2
from huggingface_hub import set_client_factory
from huggingface_hub.utils._http import default_client_factory

from desktop_app.core.hub.errors import HubUnreachableError, ResponseTooLargeError
from desktop_app.core.units import human_size

__all__ = ["CONNECT_TIMEOUT", "MAX_API_RESPONSE", "use_fail_fast_client"]

log = logging.getLogger(__name__)

#: seconds to wait for a connection when the call itself gives no timeout (the library's list calls)
CONNECT_TIMEOUT: Final = 10.0
#: the most bytes of one /api/ answer (search page, file-list page, model info) Hearth accepts;
#: the real Hub's are well under 1 MiB, and the library holds the whole body in memory to parse it
MAX_API_RESPONSE: Final = 32 << 20


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, request: httpx2.Request) -> None:
        self.inner = inner
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self.inner:
            seen += len(chunk)
            if seen > MAX_API_RESPONSE:
                raise ResponseTooLargeError(
                    f"{self.request.url.path} sent more than {human_size(MAX_API_RESPONSE, binary=True)}",
                    request=self.request,
                )
            yield chunk

    def close(self) -> None:
        self.inner.close()


#: how a connection dies before the server answered (while the body streams, these are retried)
_DROPPED: Final = (httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError)


class _FailFastTransport(httpx2.BaseTransport):
    """Wraps one of the library client's transports: a failed connect, or a connection dropped twice
    before any answer, becomes HubUnreachableError; an /api/ answer is cut off at `MAX_API_RESPONSE`
    bytes. Errors while a body streams come from the response, not from here, and are unchanged."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        # The library's list calls pass no timeout at all: a Hub whose packets are dropped held a
        # search for the OS's connect timeout (about 2 min on Linux), six times over.
        timeout = dict(request.extensions.get("timeout") or {})
        if timeout.get("connect") is None:
            request.extensions["timeout"] = timeout | {"connect": CONNECT_TIMEOUT}
        try:
            response = self.inner.handle_request(request)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise HubUnreachableError(str(exc) or repr(exc), request=request) from exc
        except _DROPPED as exc:
            if request.method not in ("GET", "HEAD"):
                raise
            # Dropped before any answer: a keep-alive connection the server had just closed gets one
            # more try, on a new connection; a Hub (or firewall) that drops every one is unreachable.
            log.info("%s %s: %r; trying once more", request.method, request.url, exc)
            try:
                response = self.inner.handle_request(request)
            except (httpx2.ConnectError, *_DROPPED) as again:
                raise HubUnreachableError(
                    f"the connection was closed before any answer ({again!r})", request=request
                ) from again
        if request.url.path.startswith("/api/") and isinstance(response.stream, httpx2.SyncByteStream):
            response.stream = _CappedStream(response.stream, request)
        return response

    def __enter__(self) -> _FailFastTransport:
        self.inner.__enter__()
        return self

    def close(self) -> None:
        self.inner.close()


def _fail_fast_client() -> httpx2.Client:
    """The library's own client (event hooks, redirects, proxies from the environment), every
    transport wrapped. httpx2 has no public way to wrap a built client's transports."""
    client = default_client_factory()
    if not isinstance(client._transport, _FailFastTransport):
        client._transport = _FailFastTransport(client._transport)
    client._mounts = {
        pattern: None if t is None or isinstance(t, _FailFastTransport) else _FailFastTransport(t)
        for pattern, t in client._mounts.items()
    }
    return client


_client_lock = threading.Lock()
_client_installed = False


def use_fail_fast_client() -> None:
    """Make huggingface_hub's shared session fail at once when the Hub cannot be reached. Idempotent."""
    global _client_installed  # noqa: PLW0603 - one process-wide session, guarded by the lock
    with _client_lock:
        if not _client_installed:
            set_client_factory(_fail_fast_client)  # closes the old session; the next call builds ours
            _client_installed = True
