"""`GET /v1/models`: the models a provider serves, which is also how adding one checks it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx2

from desktop_app.core.errors import HearthError
from desktop_app.core.providers.errors import ProviderProtocolError
from desktop_app.core.providers.records import Provider, RemoteModel
from desktop_app.core.providers.store import ProviderStore
from desktop_app.core.providers.transport import (
    error_for_status,
    error_for_transport,
    open_client,
    read_capped,
)

if TYPE_CHECKING:
    from desktop_app.core.providers.remote_chat import RemoteChat

__all__ = ["MAX_MODELS", "all_remote_models", "list_models", "remote_chat_for"]

MAX_BODY = 4 << 20
MAX_MODELS = 5000
MAX_ID_CHARS = 512
LIST_TIMEOUT_S = 30.0


def list_models(provider: Provider, *, timeout_s: float = LIST_TIMEOUT_S) -> list[str]:
    """The model ids, sorted, or a ProviderError whose message is one line."""
    where = provider.where
    with open_client(provider, read_timeout_s=timeout_s) as client:
        try:
            with client.stream("GET", f"{provider.api_base}/models") as response:
                if response.status_code != 200:
                    raise error_for_status(provider, response, "list models")
                body = read_capped(response, MAX_BODY)
        except httpx2.HTTPError as exc:
            raise error_for_transport(provider, exc) from exc
    not_openai = ProviderProtocolError(
        f"{where} did not answer GET /models as an OpenAI-compatible server does.",
        hint="Check the URL: it is the server's API base, usually ending in /v1.",
    )
    if body is None:
        raise ProviderProtocolError(f"{where} sent a model list larger than 4 MiB.", hint="Check the URL.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise not_openai from None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise not_openai
    ids: set[str] = set()
    for entry in entries[:MAX_MODELS]:
        model_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(model_id, str) and 0 < len(model_id) <= MAX_ID_CHARS and model_id.isprintable():
            ids.add(model_id)
    return sorted(ids)


def all_remote_models(store: ProviderStore | None = None) -> tuple[list[RemoteModel], list[str]]:
    """Every provider's models for the model picker, and one line per provider that failed (offline
    mode, unreachable, a refused key). Blocking network calls: run it off the GUI thread."""
    found: list[RemoteModel] = []
    problems: list[str] = []
    for provider in (store or ProviderStore()).providers():
        try:
            models = list_models(provider, timeout_s=10.0)
        except HearthError as exc:
            problems.append(str(exc))
            continue
        found.extend(RemoteModel(provider.name, provider.host, model) for model in models)
    return found, problems


def remote_chat_for(remote: RemoteModel, store: ProviderStore | None = None) -> RemoteChat:
    """The backend that streams `remote`'s replies (the provider read afresh: its key may have changed)."""
    from desktop_app.core.providers.remote_chat import RemoteChat

    return RemoteChat((store or ProviderStore()).get(remote.provider), remote.model)
