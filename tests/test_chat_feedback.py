"""What the chat says while and after it works (issue #18): live tok/s while a reply streams, a
warning before the context is full, "Restored … tokens" from saved state, the starter model's
progress on the first run, and a starter note that can be closed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core import starter
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from desktop_app.ui.chat_delegate import footer_text
from desktop_app.ui.chat_model import ChatItem
from desktop_app.ui.chat_notices import context_warning
from desktop_app.ui.chat_page import STARTER_NOTE_KEY
from desktop_app.ui.starter_watch import StarterWatch
from tests.chat_window import items, load, open_window, send


@pytest.fixture
def no_starter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: False)


def test_a_streaming_reply_shows_its_speed(qtbot, no_starter, tiny_gguf) -> None:
    from tests.fake_engine import ScriptedEngine

    words = " ".join(f"w{n}" for n in range(60))
    window = open_window(qtbot, ScriptedEngine(lambda _m, _s: words, delay_s=0.01))
    try:
        load(qtbot, window, tiny_gguf())
        window.chat.composer.input.setPlainText("Go")
        window.chat.composer._on_submit()
        qtbot.waitUntil(lambda: items(window)[-1].live_tps > 0, timeout=20_000)
        live = items(window)[-1]
        assert live.live and footer_text(live).startswith("Generating… ")
        assert footer_text(live).endswith(" tok/s")
        qtbot.waitUntil(lambda: not window.chat.generating, timeout=20_000)
        done = items(window)[-1]
        assert done.live_tps == 0 and footer_text(done).startswith("60 tokens")
    finally:
        window.close()


def test_the_chat_warns_before_the_context_is_full(qtbot, no_starter, tiny_gguf) -> None:
    from tests.fake_engine import ScriptedEngine

    window = open_window(qtbot, ScriptedEngine(lambda _m, _s: "ok " * 20, n_ctx=64))
    try:
        load(qtbot, window, tiny_gguf())
        window.chat.sampling = SamplingSettings(max_tokens=30)
        notice = window.chat.context_notice
        send(qtbot, window, "short")
        assert not notice.isVisibleTo(window.chat)  # 21 of 64 tokens
        send(qtbot, window, "a much longer message " * 3)
        assert notice.isVisibleTo(window.chat)
        assert "of the model's context" in notice.text.text() and "of 64 tokens" in notice.text.text()
        conversation = window.chat.conversation
        assert conversation is not None
        window.new_chat()
        assert not notice.isVisibleTo(window.chat)
        window.open_conversation(conversation.id)  # read back from the last reply's stored stats
        assert notice.isVisibleTo(window.chat)
    finally:
        window.close()


def test_context_warnings_say_what_happened() -> None:
    assert context_warning({"context_used": 100, "n_ctx": 4096}) is None
    assert context_warning(None) is None
    nearly = context_warning({"context_used": 3600, "n_ctx": 4096})
    assert nearly is not None and "88%" in nearly and "3,600 of 4,096" in nearly
    dropped = context_warning({"context_used": 4000, "n_ctx": 4096, "dropped_messages": 3})
    assert dropped is not None and "oldest 3 messages were left out" in dropped
    one = context_warning({"dropped_messages": 1})
    assert one is not None and "oldest message was left out" in one


def test_the_stats_line_says_what_saved_state_restored() -> None:
    from desktop_app.core.conversations import Message

    stats = {"completion_tokens": 12, "generation_tps": 30.0, "ttft_s": 0.1, "stop_reason": "eos",
             "restored_tokens": 7812, "restore_s": 0.31}  # fmt: skip
    message = Message(
        id=1, conversation_id=1, parent_id=None, role="assistant", content="Hi", reasoning="",
        state="complete", created_at=0.0, updated_at=0.0, stats=stats,
    )  # fmt: skip
    assert "Restored 7,812 tokens in 0.3 s" in footer_text(ChatItem(message))
    without = {**stats, "restored_tokens": 0}
    assert "Restored" not in footer_text(ChatItem(Message(**{**message.__dict__, "stats": without})))


def test_the_starter_note_can_be_closed_and_stays_closed(qtbot, no_starter, tmp_path: Path) -> None:
    from tests.fake_engine import ScriptedEngine
    from tests.tiny_gguf import write_tiny_model

    fake_starter = write_tiny_model(tmp_path / starter.FILE_NAME)  # the starter is known by its name
    window = open_window(qtbot, ScriptedEngine())
    try:
        banner = window.chat.banner
        load(qtbot, window, fake_starter)
        assert banner.isVisibleTo(window.chat) and starter.NOTE in banner.text.text()
        assert banner.close_button.isVisibleTo(banner)
        banner.close_button.click()
        assert not banner.isVisibleTo(window.chat)
        assert STARTER_NOTE_KEY in window.chat.closed_notes
        load(qtbot, window, fake_starter)  # loading it again does not bring the note back
        assert not banner.isVisibleTo(window.chat)
    finally:
        window.close()


def test_the_starter_watch_follows_the_partial_file(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: True)
    paths = app_paths().ensure()
    watch = StarterWatch(paths)
    seen: list[object] = []
    watch.progress.connect(seen.append)
    assert watch.start() and watch.active
    assert seen[-1] is None  # nothing written yet
    partial = starter.installed_path(paths).with_name(starter.FILE_NAME + ".part")
    with partial.open("wb") as file:
        file.truncate(starter.SIZE_BYTES // 4)  # sparse: a quarter of the size, no disk used
    watch.poll()
    assert seen[-1] == pytest.approx(0.25, abs=0.01)
    with qtbot.waitSignal(watch.finished, timeout=5_000) as done:
        os.replace(partial, starter.installed_path(paths))
        (paths.data / ".starter-installed").write_text("x", encoding="utf-8")
    assert done.args == [True] and not watch.active


def test_the_starter_watch_reports_a_failed_preparation(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: True)
    paths = app_paths().ensure()
    watch = StarterWatch(paths)
    partial = starter.installed_path(paths).with_name(starter.FILE_NAME + ".part")
    partial.write_bytes(b"x" * 1024)
    assert watch.start()
    with qtbot.waitSignal(watch.finished, timeout=5_000) as done:
        partial.unlink()  # starter.install cleans up its partial file when it fails
    assert done.args == [False]


def test_the_empty_chat_says_the_starter_model_is_on_its_way(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(starter, "is_available", lambda: True)
    monkeypatch.setattr("desktop_app.app.install_starter_if_needed", lambda _window: None)
    window = open_window(qtbot)
    try:
        empty = window.chat.empty
        qtbot.waitUntil(lambda: empty.progress.isVisibleTo(empty), timeout=10_000)
        assert "Getting Hearth ready" in empty.title.text()
        assert "starter" in empty.text.text() and "Discover" in empty.text.text()
        assert empty.choose_button.isVisibleTo(empty)
        partial = starter.installed_path(window.paths).with_name(starter.FILE_NAME + ".part")
        with partial.open("wb") as file:
            file.truncate(starter.SIZE_BYTES // 2)
        qtbot.waitUntil(lambda: empty.progress_text.text() == "50%", timeout=5_000)
        partial.unlink()  # failed: the chat stops saying it is coming
        qtbot.waitUntil(lambda: not empty.progress.isVisibleTo(empty), timeout=5_000)
        assert "could not be prepared" in window.status_message.text()
    finally:
        window.close()
