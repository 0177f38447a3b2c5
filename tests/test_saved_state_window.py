"""The window saves each chat's KV state under that chat, and deleting the chat deletes it."""

from __future__ import annotations

import pytest

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.engine.state_cache import SUFFIX, Snapshot
from desktop_app.core.paths import app_paths
from tests.fake_engine import ScriptedEngine


def test_replies_save_state_for_their_chat_and_deleting_the_chat_deletes_it(
    qtbot, monkeypatch, tiny_gguf
) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    engine = ScriptedEngine(lambda _messages, _sampling: "a short reply")
    window = build_window(app_paths().ensure(), engine=engine)
    qtbot.addWidget(window)
    window.show()
    try:
        window.load_model(tiny_gguf())
        qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=30_000)
        window.chat.composer.input.setPlainText("hello")
        window.chat.composer._on_submit()
        qtbot.waitUntil(lambda: not window.chat.generating, timeout=30_000)
        conversation = window.chat.conversation
        assert conversation is not None
        assert engine.state_tags == [str(conversation.id)]

        cache = window.services.state_cache
        for tag in (str(conversation.id), "999999"):
            cache.remember(Snapshot("k" * 64, (1, 2, 3), bytearray(b"kv" * 64), tag))
        cache.flush()
        folder = window.paths.cache / "kv-state"
        assert len(list(folder.glob(f"*{SUFFIX}"))) == 2

        window.chat_list.delete_conversation(conversation.id)
        left = [p.name.split("-")[0] for p in folder.glob(f"*{SUFFIX}")]
        assert left == ["999999"]
    finally:
        window.close()


def test_states_of_chats_deleted_elsewhere_are_dropped_when_the_app_opens(tmp_path) -> None:
    from desktop_app.core.services import AppServices

    services = AppServices.open(app_paths().ensure())
    try:
        kept = services.conversations.create_conversation("kept")
        gone = services.conversations.create_conversation("gone")
        for conversation in (kept, gone):
            services.state_cache.remember(
                Snapshot("k" * 64, (1,), bytearray(b"x" * 10), str(conversation.id))
            )
        services.state_cache.flush()
        services.conversations.delete_conversation(gone.id)  # as `hearth chats rm` in another process
    finally:
        services.close()
    again = AppServices.open(app_paths().ensure())
    try:
        folder = again.paths.cache / "kv-state"
        again.state_cache  # noqa: B018 - opening it prunes
        assert [p.name.split("-")[0] for p in folder.glob(f"*{SUFFIX}")] == [str(kept.id)]
    finally:
        again.close()


@pytest.mark.parametrize("value", [-1, "2", True, 5000])
def test_a_malformed_disk_limit_falls_back_to_defaults(value: object) -> None:
    import json

    from desktop_app.core.settings import AppSettings, load_settings

    paths = app_paths().ensure()
    (paths.config / "settings.json").write_text(json.dumps({"saved_state_limit_gb": value}))
    settings, problem = load_settings(paths)
    assert settings == AppSettings() and problem is not None


def test_the_sidebar_shows_saved_state_and_clears_it(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    window = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(window)
    window.show()
    try:
        cache = window.services.state_cache
        cache.remember(Snapshot("k" * 64, (1, 2, 3), bytearray(b"kv" * 50_000), "7"))
        cache.flush()
        menu = window.saved_state_menu
        menu.refresh()
        assert menu.usage.text().startswith("Saved on disk: ") and " of 2" in menu.usage.text()
        assert menu.clear_action.isEnabled()
        menu.clear_action.trigger()
        assert cache.disk_usage() == 0 and not cache.has_memory()
        assert "Cleared saved chat state" in window.status_message.text()
        menu.refresh()
        assert not menu.clear_action.isEnabled()
    finally:
        window.close()
