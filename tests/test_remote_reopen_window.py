"""The real window after a restart: a chat held with a provider's model offers that model again, and
while a remote model answers, the status bar says where it runs and the settings drawer offers no local
load settings. The provider is tests/openai_stub.py on 127.0.0.1, registered as `hearth remote add` does.

`hook_up` wires the window as the hookups asked of main_window.py and chat_page.py do (reported with
desktop_app/core/providers/chat_choice.py); it stays correct once they are in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core import starter
from desktop_app.core.network import apply_offline
from desktop_app.core.providers import Provider, ProviderStore
from desktop_app.core.providers.chat_choice import remote_chat_model
from desktop_app.core.providers.records import LEAVES, RemoteModel
from desktop_app.ui.main_window import MainWindow
from tests.chat_window import items, open_window, send
from tests.fake_engine import ScriptedEngine
from tests.openai_stub import KEY, MODELS, TOKENS, StubServer
from tests.test_remote_chat_window import ALPHA, choose, picker_texts

ALPHA_MODEL = RemoteModel("gpu", "127.0.0.1", MODELS[0])


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    for name in ("HF_HUB_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(starter, "is_available", lambda: False)
    with StubServer() as server:
        ProviderStore().add(Provider("gpu", server.url, api_key=KEY))
        yield server
    apply_offline(False)


def hook_up(window: MainWindow) -> None:
    """What main_window.py / chat_page.py are asked to do: a reopened chat's remote model is found (before
    the library is asked) and choosing it answers through the provider; a remote choice reaches the
    status bar and the drawer."""
    chat, local = window.chat, window._find_chat_model
    chat.find_chat_model = lambda c: (
        remote_chat_model(c.settings, window.providers, offline=window.settings.offline) or local(c)
    )
    chat.load_requested.disconnect(window.load_model)

    def load_or_choose(target: object) -> None:
        if isinstance(target, RemoteModel):
            chat.choose_remote(target)
            show_remote(window)
        else:
            window.load_model(target)  # type: ignore[arg-type]

    chat.load_requested.connect(load_or_choose)


def show_remote(window: MainWindow) -> None:
    """ChatPage.remote_changed's two receivers (the hookup): the status bar and the drawer."""
    window.status.show_remote(window.chat.remote)
    window.chat.settings_panel.set_remote(window.chat.remote)


def remote_chat(qtbot, stub: StubServer) -> int:
    """A chat held with the stub's first model, in a window that is then closed (Hearth quits)."""
    window = open_window(qtbot, ScriptedEngine())
    try:
        choose(qtbot, window, ALPHA)
        reply = send(qtbot, window, "Hello there")
        assert reply.content == "".join(TOKENS)
        assert window.chat.conversation is not None
        return window.chat.conversation.id
    finally:
        window.close()


def test_a_remote_chat_reopened_after_a_restart_offers_its_model_and_goes_on_with_it(
    qtbot, stub: StubServer
) -> None:
    conversation_id = remote_chat(qtbot, stub)
    window = open_window(qtbot, ScriptedEngine())  # Hearth started again: no model chosen
    try:
        hook_up(window)
        chat = window.chat
        assert chat.open_conversation(conversation_id)
        offer = chat.model_offer
        assert offer.isVisible() and offer.button.isVisible()
        assert offer.text.text() == f"This chat was with {MODELS[0]} on gpu, which is not loaded."
        assert offer.button.text() == f"Load {MODELS[0]} on gpu to continue"
        assert not chat.composer.input.isEnabled()

        offer.button.click()
        assert chat.remote == ALPHA_MODEL and not offer.isVisible()
        assert chat.header.badge_texts() == ["runs on 127.0.0.1", LEAVES]
        assert chat.composer.input.isEnabled()
        qtbot.waitUntil(lambda: ALPHA in picker_texts(window), timeout=30_000)
        assert chat.remote == ALPHA_MODEL  # the providers' list arrived and still holds it

        reply = send(qtbot, window, "And again")
        assert reply.content == "".join(TOKENS) and reply.message.model == f"{MODELS[0]} on gpu"
        assert stub.requests[-1]["messages"][-3:] == [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "".join(TOKENS)},
            {"role": "user", "content": "And again"},
        ]
        stored = window.conversations.get_conversation(conversation_id)
        assert stored.settings["remote"] == {"provider": "gpu", "url": stub.url, "model": MODELS[0]}
        assert [m.content for m in items(window)] == [
            "Hello there",
            "".join(TOKENS),
            "And again",
            "".join(TOKENS),
        ]
    finally:
        window.close()


@pytest.mark.parametrize("why", ["removed", "offline"])
def test_a_reopened_remote_chat_whose_provider_cannot_be_used_offers_nothing_to_load(
    qtbot, stub: StubServer, why: str
) -> None:
    conversation_id = remote_chat(qtbot, stub)
    if why == "removed":
        ProviderStore().remove("gpu")
    window = open_window(qtbot, ScriptedEngine())
    try:
        hook_up(window)
        if why == "offline":
            window.sidebar.offline.setChecked(True)
        assert window.chat.open_conversation(conversation_id)
        offer = window.chat.model_offer
        assert offer.isVisible() and not offer.button.isVisible()
        assert offer.text.text().startswith(f"This chat was with {MODELS[0]} on gpu,")
        assert window.chat.remote is None and not window.chat.composer.input.isEnabled()
        assert len(stub.requests) == 1  # only the first window's reply: nothing was sent since
    finally:
        window.close()


def test_status_bar_and_drawer_while_a_remote_model_answers(qtbot, stub: StubServer, tmp_path: Path) -> None:
    window = open_window(qtbot, ScriptedEngine())
    try:
        window.resize(1180, 760)
        chat, status, panel = window.chat, window.status, window.chat.settings_panel
        assert status.context.text() == "No model"
        choose(qtbot, window, ALPHA)
        show_remote(window)
        assert status.context.text() == f"Remote: {MODELS[0]} on 127.0.0.1" and status.context.isVisible()
        assert LEAVES in status.context.toolTip() and status.gpu.text() == ""

        chat.toggle_settings()
        assert panel.load_section.isHidden() and panel.remote_section.isVisible()
        note = panel.remote_section.note.text()
        assert note.startswith(f"{MODELS[0]} runs on 127.0.0.1 (provider gpu).") and "context length" in note
        assert panel.fields["repeat_last_n"].note.text() == "Not sent: the remote server uses its own."
        assert panel.sampling_section.isVisible() and panel.prompt_section.isVisible()

        send(qtbot, window, "Hello there")  # a remote reply's stats: no context size, speed measured here
        assert status.context.text() == f"Remote: {MODELS[0]} on 127.0.0.1"
        assert status.speed.text().endswith("tok/s") and status.ttft.text().startswith("TTFT ")
        qtbot.wait(50)  # the status bar lays its fields out again
        window.grab().save(str(tmp_path / "remote-status.png"))
        for field in (status.speed, status.ttft, status.context):  # each shown whole, or not at all
            assert field.isHidden() or field.width() >= field.sizeHint().width(), field.text()

        chat.set_remote_models([])  # the provider went away: nothing answers now
        show_remote(window)
        assert status.context.text() == "No model"
        assert not panel.load_section.isHidden() and panel.remote_section.isHidden()
        assert panel.fields["repeat_last_n"].note.isHidden()
    finally:
        window.close()


def test_long_names_are_cut_in_the_status_bar_and_shown_whole_in_its_tooltip(qtbot, stub: StubServer) -> None:
    window = open_window(qtbot, ScriptedEngine())
    try:
        long_model = "org/" + "x" * 200 + "<b>bold</b>"
        window.status.show_remote(RemoteModel("gpu", "h" * 100 + ".example.org", long_model))
        text = window.status.context.text()
        assert text.startswith("Remote: org/xxx") and len(text) < 100 and "…" in text
        assert "&lt;b&gt;bold&lt;/b&gt;" in window.status.context.toolTip()  # literal, never markup
    finally:
        window.close()
