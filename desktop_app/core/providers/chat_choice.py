"""Which provider's model a stored chat ran on, so that a reopened chat offers it again.

A chat held with a remote model records, in its settings, `"remote": {"provider", "url", "model"}`
(never the key): `hearth chat --remote --save` and the chat page write it when the chat is created and
at each turn. Reading it back needs no network: the provider is looked up by name in the providers file,
so the offer is ready before the providers' model lists arrive. The record is text from the database
(an imported chat may hold anything): each field is checked before it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from desktop_app.core.errors import HearthError
from desktop_app.core.network import is_offline
from desktop_app.core.providers.records import NAME_RE, RemoteModel
from desktop_app.core.providers.store import ProviderStore

__all__ = ["MAX_MODEL_CHARS", "RecordedRemote", "recorded_remote", "remote_chat_model"]

MAX_MODEL_CHARS = 512  # as long as a model id the catalog accepts
MAX_URL_CHARS = 2048


@dataclass(frozen=True)
class RecordedRemote:
    """Where a chat ran: the provider's name and URL at the time, and the model's id."""

    provider: str
    url: str
    model: str

    @property
    def label(self) -> str:
        """The name the chat shows for it ("MODEL on PROVIDER"), as RemoteModel.label."""
        return f"{self.model} on {self.provider}"


def recorded_remote(settings: Mapping[str, object]) -> RecordedRemote | None:
    """The remote model a conversation's settings record, or None (a local chat, or a malformed record)."""
    record = settings.get("remote")
    if not isinstance(record, Mapping):
        return None
    provider, url, model = (record.get(key) for key in ("provider", "url", "model"))
    if not (isinstance(provider, str) and NAME_RE.fullmatch(provider)):
        return None
    if not (isinstance(model, str) and 0 < len(model) <= MAX_MODEL_CHARS and model.isprintable()):
        return None
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        url = ""
    return RecordedRemote(provider, url, model)


def remote_chat_model(
    settings: Mapping[str, object], store: ProviderStore | None = None, *, offline: bool | None = None
) -> tuple[str, RemoteModel | None] | None:
    """What a reopened chat offers for the remote model it ran on: its name ("MODEL on PROVIDER") and the
    RemoteModel to choose, or None in its place when it cannot be used now (offline mode, or the provider
    was removed). None for a chat that did not run on a remote model: the library is asked instead.

    The provider is the one of that name now (its URL may have changed since: a server that moved is
    still the user's provider); the picker's badge shows where it runs before anything is sent."""
    recorded = recorded_remote(settings)
    if recorded is None:
        return None
    if is_offline() if offline is None else offline:
        return (recorded.label, None)
    try:
        provider = (store or ProviderStore()).get(recorded.provider)
    except HearthError:  # removed, or the providers file is unreadable: nothing to offer
        return (recorded.label, None)
    return (recorded.label, RemoteModel(provider.name, provider.host, recorded.model))
