"""What can go wrong talking to a remote provider, each with a line the user can act on.

All are NetworkErrors (the CLI's exit code 8); the message names the provider, never its key.
"""

from __future__ import annotations

from desktop_app.core.errors import NetworkError


class ProviderError(NetworkError):
    """The provider answered with an error, or not as an OpenAI-compatible server would."""

    title = "The remote server failed"


class ProviderAuthError(ProviderError):
    """401/403: no key, or a key the server refuses."""

    title = "The remote server refused the key"


class ProviderUnreachableError(ProviderError):
    """No connection: refused, name not resolved, no route, a proxy that refused."""

    title = "The remote server cannot be reached"


class ProviderTLSError(ProviderError):
    """The TLS handshake failed: an unverifiable certificate, or https spoken to an http port."""

    title = "The remote server's certificate was not accepted"


class ProviderTimeoutError(ProviderError):
    """The server did not answer, or stopped sending, within the time allowed."""

    title = "The remote server timed out"


class ProviderRateLimitError(ProviderError):
    """429: the server asks us to slow down."""

    title = "The remote server is busy"


class ProviderModelError(ProviderError):
    """The server does not have the model asked for."""

    title = "The remote server has no such model"


class ProviderProtocolError(ProviderError):
    """The answer is not what an OpenAI-compatible server sends (not JSON, malformed SSE, oversized)."""

    title = "The remote server's answer was not understood"


class ProviderDroppedError(ProviderError):
    """The connection broke in the middle of a reply."""

    title = "The connection to the remote server dropped"
