"""AppServices: one place opens the data; the window is built from it, with an injectable engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.paths import app_paths
from desktop_app.core.services import AppServices
from desktop_app.core.settings import AppSettings, load_settings
from tests.fake_engine import ScriptedEngine


def test_open_makes_the_folders_and_the_stores_over_one_database() -> None:
    services = AppServices.open()
    try:
        assert services.paths.models.is_dir()
        assert services.library.db is services.db
        assert services.conversations.db is services.db
        conversation = services.conversations.create_conversation(title="hello")
        assert [c.id for c in services.conversations.list_conversations()] == [conversation.id]
    finally:
        services.close()


def test_downloads_are_made_on_first_use_and_stopped_on_close() -> None:
    before = set(threading.enumerate())
    services = AppServices.open()
    assert "downloads" not in services.__dict__  # nothing imported or built for a command that needs none
    manager = services.downloads
    assert services.downloads is manager
    manager.start()
    assert set(threading.enumerate()) - before  # the worker thread runs
    services.close()
    services.close()  # idempotent: the window and aboutToQuit may both close


def test_settings_are_read_once_and_saved_through_the_services() -> None:
    services = AppServices.open()
    services.save_settings(AppSettings(offline=True, font_size=12.0))
    assert services.settings.offline
    assert load_settings(services.paths)[0] == AppSettings(offline=True, font_size=12.0)
    services.write_token("hf_abc")
    assert services.read_token() == "hf_abc"
    services.close()


def test_the_window_chats_through_an_injected_engine(
    qtbot, tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real window, stores and inference thread, with an engine the test scripts: the reply is known,
    streamed, stored and shown without llama.cpp generating anything."""
    monkeypatch.setattr(starter, "is_available", lambda: False)
    engine = ScriptedEngine(delay_s=0.01)
    window = build_window(app_paths(), engine=engine)
    qtbot.addWidget(window)
    try:
        assert window.inference.worker.engine is engine
        window.load_model(tiny_gguf(name="Scripted"))
        qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=30_000)
        window.chat.send("hello there")
        qtbot.waitUntil(lambda: not window.chat.generating, timeout=30_000)
        assert engine.requests[-1][-1] == {"role": "user", "content": "hello there"}
        conversation = window.chat.conversation
        assert conversation is not None
        stored = window.conversations.path(conversation.id)
        assert [(m.role, m.content, m.state) for m in stored] == [
            ("user", "hello there", "complete"),
            ("assistant", "You said: hello there", "complete"),
        ]
    finally:
        window.close()
