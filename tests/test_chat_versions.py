"""The version switcher ("< 2/3 >") under regenerated replies: it always names the version shown and
how many there are, whatever sequence of Regenerate, previous and next led there (issue #18, item 1)."""

from __future__ import annotations

import itertools

import pytest

from desktop_app.core import starter
from tests.chat_window import items, load, open_window, painted, send, wait_reply
from tests.fake_engine import ScriptedEngine


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(starter, "is_available", lambda: False)
    counter = itertools.count(1)
    win = open_window(qtbot, ScriptedEngine(lambda _m, _s: f"reply number {next(counter)}"))
    yield win
    win.close()


def _step(window, message_id: int, action: str) -> None:
    window.chat.view.action_triggered.emit(action, message_id)


def _shown(window) -> tuple[str, str]:
    """The last reply's text and the switcher it paints ("" when it paints none)."""
    last = items(window)[-1]
    return last.content, painted(window, last.id).get("position", "")


def test_regenerate_then_step_back_and_forth_always_shows_the_right_count(qtbot, window, tiny_gguf) -> None:
    load(qtbot, window, tiny_gguf())
    first = send(qtbot, window, "Hello")
    assert _shown(window) == ("reply number 1", "")  # one version: no switcher

    _step(window, first.id, "regenerate")
    second = wait_reply(qtbot, window)
    assert _shown(window) == ("reply number 2", "2/2")
    _step(window, second.id, "prev")
    assert _shown(window) == ("reply number 1", "1/2")  # the first version's row was cached as "1/1"
    _step(window, first.id, "next")
    assert _shown(window) == ("reply number 2", "2/2")

    _step(window, second.id, "regenerate")
    third = wait_reply(qtbot, window)
    assert _shown(window) == ("reply number 3", "3/3")
    _step(window, third.id, "prev")
    assert _shown(window) == ("reply number 2", "2/3")  # was "2/2": a layout cached before the third
    _step(window, second.id, "prev")
    assert _shown(window) == ("reply number 1", "1/3")
    _step(window, first.id, "prev")  # wraps around
    assert _shown(window) == ("reply number 3", "3/3")
    _step(window, third.id, "next")
    assert _shown(window) == ("reply number 1", "1/3")

    # the user's message above keeps no switcher, and the chat stays two rows long
    assert [i.role for i in items(window)] == ["user", "assistant"]
    assert "position" not in painted(window, items(window)[0].id)


def test_reopening_the_chat_shows_the_version_it_left_on(qtbot, window, tiny_gguf) -> None:
    load(qtbot, window, tiny_gguf())
    first = send(qtbot, window, "Hi")
    _step(window, first.id, "regenerate")
    second = wait_reply(qtbot, window)
    _step(window, second.id, "prev")
    conversation = window.chat.conversation
    assert conversation is not None
    window.new_chat()
    window.open_conversation(conversation.id)
    assert _shown(window) == ("reply number 1", "1/2")
