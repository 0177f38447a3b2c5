"""The real window chatting with a remote provider: tests/openai_stub.py on 127.0.0.1, registered in the
providers file as `hearth remote add` does. The picker offers its models (fetched off the GUI thread),
the reply streams from the provider into the chat and is saved, the badges say where it runs, and
offline mode offers none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app.core import starter
from desktop_app.core.network import apply_offline
from desktop_app.core.providers import Provider, ProviderStore
from desktop_app.core.providers.catalog import list_models
from desktop_app.core.providers.records import LEAVES, RemoteModel
from desktop_app.ui.main_window import MainWindow
from tests.chat_window import items, load, open_window, send
from tests.fake_engine import ScriptedEngine
from tests.openai_stub import KEY, MODELS, TOKENS, StubServer

ALPHA = f"{MODELS[0]}  ·  on 127.0.0.1"  # how the picker lists the stub's first model


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    for name in ("HF_HUB_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with StubServer() as server:
        provider = Provider("gpu", server.url, api_key=KEY)
        assert list_models(provider) == MODELS  # `hearth remote add` checks the server, then stores it
        ProviderStore().add(provider)
        yield server
    apply_offline(False)


@pytest.fixture
def window(qtbot, monkeypatch: pytest.MonkeyPatch, stub: StubServer) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = open_window(qtbot, ScriptedEngine())
    yield win
    win.close()


def picker_texts(window: MainWindow) -> list[str]:
    picker = window.chat.header.picker
    return [picker.itemText(i) for i in range(picker.count())]


def choose(qtbot, window: MainWindow, text: str) -> None:
    """Pick `text` in the top bar as a user does (the list is fetched in the background)."""
    qtbot.waitUntil(lambda: text in picker_texts(window), timeout=30_000)
    picker = window.chat.header.picker
    index = picker_texts(window).index(text)
    picker.setCurrentIndex(index)
    picker.activated.emit(index)


def test_a_remote_model_answers_streams_is_saved_and_is_badged(
    qtbot, window: MainWindow, stub: StubServer
) -> None:
    chat = window.chat
    assert not chat.composer.input.isEnabled()  # no local model, no remote one chosen yet
    choose(qtbot, window, ALPHA)
    assert chat.remote == RemoteModel("gpu", "127.0.0.1", MODELS[0])
    assert chat.header.badge_texts() == ["runs on 127.0.0.1", LEAVES]
    assert chat.composer.input.isEnabled() and chat._blocked_reason() is None

    stub.behaviour.delay_s = 0.05  # streamed token by token: the live row grows while it streams
    reply = send(qtbot, window, "Hello there")
    assert reply.content == "".join(TOKENS) and reply.message.state == "complete"
    assert reply.message.model == f"{MODELS[0]} on gpu"
    sent = stub.requests[-1]
    assert sent["model"] == MODELS[0] and sent["messages"][-1] == {"role": "user", "content": "Hello there"}

    conversation = chat.conversation
    assert conversation is not None
    stored = window.conversations.get_conversation(conversation.id)
    assert stored.model_name == f"{MODELS[0]} on gpu"
    assert (stored.model_path, stored.model_id) == (None, None)
    assert stored.settings["remote"] == {"provider": "gpu", "url": stub.url, "model": MODELS[0]}
    saved = window.conversations.path(conversation.id)
    assert [(m.role, m.content, m.state) for m in saved] == [
        ("user", "Hello there", "complete"),
        ("assistant", "".join(TOKENS), "complete"),
    ]
    assert [m.content for m in items(window)] == ["Hello there", "".join(TOKENS)]


def test_offline_mode_offers_no_remote_model_and_drops_the_chosen_one(
    qtbot, window: MainWindow, stub: StubServer
) -> None:
    choose(qtbot, window, ALPHA)
    window.sidebar.offline.setChecked(True)
    assert not any("on 127.0.0.1" in text for text in picker_texts(window))
    assert window.chat.remote is None and window.chat.header.badge_texts() == []
    assert not window.chat.composer.input.isEnabled()  # nothing can answer: no local model either
    asked = len(stub.request_lines)
    window._refresh_model_picker()  # a library refresh while offline asks no provider
    qtbot.wait(200)
    assert len(stub.request_lines) == asked and not any("on 127.0.0.1" in t for t in picker_texts(window))

    window.sidebar.offline.setChecked(False)  # online again: fetched afresh
    qtbot.waitUntil(lambda: ALPHA in picker_texts(window), timeout=30_000)


def test_loading_a_local_model_ends_the_remote_choice(qtbot, window: MainWindow, tiny_gguf) -> None:
    choose(qtbot, window, ALPHA)
    load(qtbot, window, tiny_gguf())
    assert window.chat.remote is None
    assert LEAVES not in window.chat.header.badge_texts()
    reply = send(qtbot, window, "local please")
    assert reply.content == "You said: local please"  # the scripted local engine answered
    conversation = window.chat.conversation
    assert conversation is not None and "remote" not in conversation.settings
    assert conversation.model_path is not None and Path(conversation.model_path).is_file()


@pytest.mark.qt_log_ignore(r"^This plugin does not support ")  # the error dialog, offscreen
def test_a_provider_removed_after_it_was_chosen_is_refused_with_nothing_saved(
    qtbot, window: MainWindow
) -> None:
    choose(qtbot, window, ALPHA)
    ProviderStore().remove("gpu")
    seen: list[str] = []

    def read_the_dialog() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.extend([box.text(), box.informativeText()])
        box.reject()

    QTimer.singleShot(0, read_the_dialog)
    window.chat.composer.input.setPlainText("anyone there?")
    window.chat.composer._on_submit()
    assert seen and "no provider named 'gpu'" in seen[0] and "hearth remote add" in seen[1]
    assert not window.chat.generating and window.chat.conversation is None
    assert window.chat.composer.input.toPlainText() == "anyone there?"  # the text is kept to resend
    assert window.conversations.list_conversations() == []
