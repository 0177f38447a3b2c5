"""A remote chat reopened later (after a restart) offers its remote model again: what a conversation
records of the provider (as the chat page and `hearth chat --remote --save` write it) is read back from
the real SQLite store and looked up in the real providers file, with no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.chat_session import NewConversation
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.network import apply_offline
from desktop_app.core.providers import Provider, ProviderStore
from desktop_app.core.providers.chat_choice import RecordedRemote, recorded_remote, remote_chat_model
from desktop_app.core.providers.records import RemoteModel
from desktop_app.core.services import AppServices

RECORD = {"provider": "box", "url": "http://gpu-box:8000/v1", "model": "llama-3.1-70b"}


def saved_remote_chat(settings: dict[str, object]) -> int:
    """A conversation created as the chat page creates a remote one, in the real store; closed after."""
    services = AppServices.open()
    try:
        turn = services.chat_session.begin(
            NewConversation(model_name="llama-3.1-70b on box", settings=settings),
            "hello",
            SamplingSettings(),
            model="x",
        )
        return turn.conversation.id
    finally:
        services.close()


def reopened_settings(conversation_id: int) -> dict[str, object]:
    services = AppServices.open()  # a fresh open, as after a restart
    try:
        return dict(services.conversations.get_conversation(conversation_id).settings)
    finally:
        services.close()


def test_a_reopened_remote_chat_offers_its_provider_model(hearth_home: Path) -> None:
    ProviderStore().add(Provider("box", "http://gpu-box:8000/v1", api_key="secret-key-123"))
    settings = reopened_settings(saved_remote_chat({"remote": RECORD}))
    assert recorded_remote(settings) == RecordedRemote("box", "http://gpu-box:8000/v1", "llama-3.1-70b")
    offer = remote_chat_model(settings, offline=False)
    assert offer == ("llama-3.1-70b on box", RemoteModel("box", "gpu-box", "llama-3.1-70b"))
    assert offer[1] is not None and offer[0] == offer[1].label  # the page knows it answers by this name


def test_a_provider_that_moved_is_still_offered_with_its_new_host(hearth_home: Path) -> None:
    ProviderStore().add(Provider("box", "https://new-box.example.org/v1"))
    offer = remote_chat_model({"remote": RECORD}, offline=False)
    assert offer == ("llama-3.1-70b on box", RemoteModel("box", "new-box.example.org", "llama-3.1-70b"))


def test_nothing_to_choose_when_the_provider_is_gone_or_offline(hearth_home: Path) -> None:
    assert remote_chat_model({"remote": RECORD}, offline=False) == ("llama-3.1-70b on box", None)
    ProviderStore().add(Provider("box", "http://gpu-box:8000/v1"))
    assert remote_chat_model({"remote": RECORD}, offline=True) == ("llama-3.1-70b on box", None)
    apply_offline(True)  # the app's switch, when the caller does not say
    try:
        assert remote_chat_model({"remote": RECORD}) == ("llama-3.1-70b on box", None)
    finally:
        apply_offline(False)
    (hearth_home / "config" / "providers.json").write_text("{ not json")
    assert remote_chat_model({"remote": RECORD}, offline=False) == ("llama-3.1-70b on box", None)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"sampling": {"temperature": 0.2}},
        {"remote": None},
        {"remote": "box"},
        {"remote": {"provider": "box"}},
        {"remote": {**RECORD, "provider": "../etc"}},
        {"remote": {**RECORD, "provider": 7}},
        {"remote": {**RECORD, "model": ""}},
        {"remote": {**RECORD, "model": "x" * 513}},
        {"remote": {**RECORD, "model": "evil\n<b>model</b>\x1b[31m"}},
    ],
)
def test_a_local_chat_or_a_malformed_record_offers_no_remote_model(
    hearth_home: Path, settings: dict[str, object]
) -> None:
    ProviderStore().add(Provider("box", "http://gpu-box:8000/v1"))
    assert recorded_remote(settings) is None
    assert remote_chat_model(settings, offline=False) is None  # the library is asked instead


def test_a_missing_or_odd_url_does_not_hide_the_model(hearth_home: Path) -> None:
    ProviderStore().add(Provider("box", "http://gpu-box:8000/v1"))
    for url in (None, 12, "u" * 3000):
        settings: dict[str, object] = {"remote": {**RECORD, "url": url}}
        assert recorded_remote(settings) == RecordedRemote("box", "", "llama-3.1-70b")
        offer = remote_chat_model(settings, offline=False)
        assert offer is not None and offer[1] == RemoteModel("box", "gpu-box", "llama-3.1-70b")
