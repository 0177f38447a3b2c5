"""Remote OpenAI-compatible providers (vLLM, llama-server, Ollama, LM Studio, another Hearth).

The chat stays on this computer: the conversation store and settings are local; only the
messages of a turn go to the provider. `records` and `store` are cheap to import (no HTTP client); the
HTTP side (`catalog`, `remote_chat`, `transport`) loads httpx2 when used.
"""

from __future__ import annotations

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
from desktop_app.core.providers.records import Provider, plain_http_warning
from desktop_app.core.providers.store import ProviderStore

__all__ = [
    "Provider",
    "ProviderAuthError",
    "ProviderDroppedError",
    "ProviderError",
    "ProviderModelError",
    "ProviderProtocolError",
    "ProviderRateLimitError",
    "ProviderStore",
    "ProviderTLSError",
    "ProviderTimeoutError",
    "ProviderUnreachableError",
    "plain_http_warning",
]
