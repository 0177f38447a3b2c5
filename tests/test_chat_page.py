"""The chat on the real window: send, stream, stop, regenerate, edit, continue, delete, search, export,
and a restart that finds the history intact.

The end-to-end tests use the real Gemma model. Tests of what the page does with a reply (the settings
drawer, search and export) inject a scripted engine through AppServices instead: the window, the
stores and the inference thread are the real ones, and the reply is known in advance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication

from desktop_app.app import build_window
from desktop_app.core import starter
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from desktop_app.ui.chat_model import ChatItem
from desktop_app.ui.main_window import MainWindow
from tests.fake_engine import ScriptedEngine

SHORT = SamplingSettings(temperature=0.0, max_tokens=10, seed=7)


def _open_window(qtbot, engine: ScriptedEngine | None = None) -> MainWindow:
    win = build_window(app_paths().ensure(), engine=engine)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = _open_window(qtbot)
    yield win
    win.close()


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(lambda _messages, _sampling: " ".join(f"word{n}" for n in range(40)))


@pytest.fixture
def scripted(qtbot, monkeypatch, engine: ScriptedEngine):
    """The real window with the scripted engine on its inference thread."""
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = _open_window(qtbot, engine)
    yield win
    win.close()


def _load(qtbot, window: MainWindow, gemma_path: Path) -> None:
    window.load_model(gemma_path)
    qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=60_000)


def _send(qtbot, window: MainWindow, text: str) -> None:
    chat = window.chat
    chat.composer.input.setPlainText(text)
    chat.composer._on_submit()
    assert chat.generating and chat.composer.action.text() == "Stop"
    _wait_reply(qtbot, window)


def _wait_reply(qtbot, window: MainWindow) -> None:
    """Until the reply ends, whichever way (finished or failed); a failure fails the test at once."""
    qtbot.waitUntil(lambda: not window.chat.generating, timeout=180_000)
    last = _items(window)[-1]
    assert last.message.state != "failed", last.message.error


def _items(window: MainWindow) -> list[ChatItem]:
    return window.chat.view.chat_model.items()


@pytest.mark.gemma
@pytest.mark.slow
def test_send_stream_stop_regenerate_edit_and_restart(qtbot, window, gemma_path: Path, monkeypatch) -> None:
    chat = window.chat
    assert not chat.composer.input.isEnabled()  # nothing loaded yet
    assert chat.stack.currentWidget() is chat.empty
    percents: list[int] = []
    window.inference.load_progress.connect(percents.append)
    _load(qtbot, window, gemma_path)
    assert "gemma3" in chat.header.badge_texts()
    assert percents and percents[-1] == 100 and percents == sorted(set(percents))  # llama.cpp's own
    assert not chat.header.progress.isVisibleTo(chat)

    # send: the user's message is stored before the reply starts, the reply streams into a live row
    chat.sampling = SHORT
    streamed: list[str] = []
    window.inference.text.connect(lambda _rid, _kind, text: streamed.append(text))
    _send(qtbot, window, "The capital of France is")
    user, reply = _items(window)
    assert user.role == "user" and user.content == "The capital of France is"
    assert reply.role == "assistant" and not reply.live and reply.content.strip()
    assert "".join(streamed) == reply.content  # what streamed is what is shown
    assert reply.message.stats and reply.message.stats["completion_tokens"] == 10
    assert chat.composer.action.text() == "Send"
    assert window.status.speed.text().endswith("tok/s") and window.status.speed.text() != "— tok/s"
    conversation_id = chat.conversation.id if chat.conversation else -1
    store = ConversationStore(Database(app_paths().database))
    qtbot.waitUntil(lambda: store.get_message(reply.id).state == "complete", timeout=10_000)
    stored = store.path(conversation_id)
    assert [m.content for m in stored] == ["The capital of France is", reply.content]
    assert stored[1].sampling and stored[1].sampling["seed"] == 7
    assert window.chat_list.selected_id() == conversation_id  # the sidebar shows the new chat

    # regenerate: an alternative next to the first reply, with < 2/2 >
    chat.sampling = SamplingSettings(temperature=1.0, max_tokens=10, seed=99)
    chat.view.action_triggered.emit("regenerate", reply.id)
    _wait_reply(qtbot, window)
    regenerated = _items(window)[-1]
    assert regenerated.id != reply.id and regenerated.position == (2, 2)
    assert len(_items(window)) == 2
    chat.step_alternative(regenerated.id, -1)  # back to the first version
    assert _items(window)[-1].id == reply.id and _items(window)[-1].position == (1, 2)
    chat.step_alternative(reply.id, +1)
    assert _items(window)[-1].id == regenerated.id
    chat.step_alternative(regenerated.id, +1)  # wraps around to the first (greedy, never empty)
    assert _items(window)[-1].id == reply.id

    # continue: the last reply grows in place
    chat.sampling = SHORT
    before = _items(window)[-1].content
    chat.view.action_triggered.emit("continue", reply.id)
    _wait_reply(qtbot, window)
    continued = _items(window)[-1]
    assert continued.id == reply.id and continued.content.startswith(before)
    assert len(continued.content) > len(before)

    # edit: the edited question becomes a sibling of the original (a branch), with its own reply
    chat.view.action_triggered.emit("edit", user.id)
    assert chat.composer.editing and chat.composer.input.toPlainText() == "The capital of France is"
    _send(qtbot, window, "The capital of Italy is")
    edited_user, edited_reply = _items(window)
    assert edited_user.content == "The capital of Italy is" and edited_user.position == (2, 2)
    assert edited_reply.content.strip() and not chat.composer.editing
    assert len(store.siblings(user.id)) == 2
    assert [m.content for m in store.path(conversation_id)][-2] == "The capital of Italy is"

    # stop: a long reply cancelled mid-stream keeps what was written, marked stopped
    chat.sampling = SamplingSettings(temperature=0.8, max_tokens=2000, seed=1)
    chat.composer.input.setPlainText("Tell me a very long story about the sea.")
    chat.composer._on_submit()
    qtbot.waitUntil(lambda: len(_items(window)[-1].content) > 20, timeout=180_000)
    live_id = _items(window)[-1].id
    # saved while it grows (at least once a second), from the inference thread: a crash keeps it
    qtbot.waitUntil(lambda: len(store.get_message(live_id).content) > 0, timeout=30_000)
    assert store.get_message(live_id).state == "streaming" and chat.generating
    with qtbot.waitSignal(window.inference.finished, timeout=60_000):
        chat.composer.stop_requested.emit()  # what Esc and the Stop button do
    stopped = _items(window)[-1]
    assert stopped.message.state == "cancelled" and stopped.content
    assert chat.composer.input.isEnabled() and not chat.generating

    # copy puts the message on the clipboard
    chat.view.activate("action", "copy", len(_items(window)) - 1, stopped)
    assert QGuiApplication.clipboard().text() == stopped.content

    # restart: a new window on the same data shows the same conversation and branch
    shown = [(i.role, i.content) for i in _items(window)]
    window.close()
    qtbot.waitUntil(lambda: store.get_message(stopped.id).state == "cancelled", timeout=10_000)
    again = _open_window(qtbot)
    try:
        titles = [s.title for s in store.list_conversations()]
        assert titles == ["The capital of France is"]
        again.open_conversation(conversation_id)
        assert [(i.role, i.content) for i in _items(again)] == shown
        assert _items(again)[-1].message.state == "cancelled"
        assert again.chat.stack.currentWidget() is again.chat.view
    finally:
        again.close()


def test_search_jumps_to_the_hit_and_export_writes_the_chat(
    qtbot, scripted, tiny_gguf, tmp_path: Path
) -> None:
    window = scripted
    store = window.conversations
    first = store.create_conversation("Sailing")
    store.add_message(first.id, "user", "How do I tie a bowline knot?")
    store.add_message(first.id, "assistant", "Make a small loop, then pass the end up through it.")
    second = store.create_conversation("Cooking")
    for n in range(40):
        store.add_message(second.id, "user", f"Question {n} about soup")
        store.add_message(second.id, "assistant", f"Answer {n}: simmer the onions slowly.")
    target = store.add_message(second.id, "user", "What about a saffron risotto?")
    store.add_message(second.id, "assistant", "Toast the rice first.")
    window.chat_list.refresh()

    with qtbot.waitSignal(window.chat_list.hit_selected, timeout=5_000) as hit:
        panel = window.chat_list
        panel.search_field.setText("saffron")
        qtbot.waitUntil(lambda: panel.hits_model.rowCount() == 1, timeout=5_000)
        panel.hits_view.open_requested.emit(panel.hits_model.index(0, 0))  # a click on the hit
    assert hit.args == [second.id, target.id]
    chat = window.chat
    assert chat.conversation is not None and chat.conversation.id == second.id
    assert chat.view.delegate.highlight_id == target.id
    row = chat.view.chat_model.row_of(target.id)
    assert row is not None
    rect = chat.view.visualRect(chat.view.chat_model.index(row, 0))
    assert chat.view.viewport().rect().intersects(rect)  # scrolled into view

    # export from the sidebar writes the same chat as Markdown and JSON
    md = window.chat_list.export_conversation(first.id, tmp_path / "sailing.md", "md")
    text = md.read_text(encoding="utf-8")
    assert "# Sailing" in text and "bowline knot" in text and "pass the end up through it" in text
    js = window.chat_list.export_conversation(first.id, tmp_path / "sailing.json", "json")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["id"] == first.id and data["title"] == "Sailing"
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]

    # a chat with a loaded model continues where the search landed
    _load(qtbot, window, tiny_gguf())
    chat.sampling = SHORT
    _send(qtbot, window, "And a good wine with it?")
    assert _items(window)[-2].content == "And a good wine with it?"
    assert store.path(second.id)[-2].content == "And a good wine with it?"


def test_empty_state_new_chat_and_shortcuts(qtbot, window) -> None:
    chat = window.chat
    assert chat.stack.currentWidget() is chat.empty
    assert "recommended for this computer" in chat.empty.text.text()  # no model yet: Discover's list
    assert chat.empty.choose_button.isVisibleTo(chat.empty)
    store = window.conversations
    conversation = store.create_conversation("Old chat")
    store.add_message(conversation.id, "user", "hello there")
    store.add_message(conversation.id, "assistant", "**Hi!** Here is `code`:\n\n```python\nprint('hi')\n```")
    window.chat_list.refresh()
    window.open_conversation(conversation.id)
    assert chat.stack.currentWidget() is chat.view
    items = _items(window)
    assert items[0].content == "hello there"
    # the code block's copy button copies exactly the code
    window.chat.view.doItemsLayout()
    assert chat.view.delegate.code_block(items[1], 0) == "print('hi')"
    chat.view.activate("copy-code", 0, 1, items[1])
    assert QGuiApplication.clipboard().text() == "print('hi')"
    # sending needs a model: nothing is stored without one
    chat.send("no model loaded")
    assert len(store.path(conversation.id)) == 2
    window.new_chat()
    assert chat.conversation is None and chat.stack.currentWidget() is chat.empty
    assert chat.view.chat_model.rowCount() == 0
    # deleting the open chat from the sidebar returns to a new chat
    window.open_conversation(conversation.id)
    window.chat_list.delete_conversation(conversation.id)
    assert chat.conversation is None


def test_deleting_a_message_removes_it_and_what_follows(qtbot, window) -> None:
    store = window.conversations
    conversation = store.create_conversation("Trim me")
    roles = ("user", "assistant")
    ids = [store.add_message(conversation.id, r, f"{r} {n}").id for n in range(3) for r in roles]
    window.open_conversation(conversation.id)
    window.chat.delete_message(ids[2])
    assert [i.content for i in _items(window)] == ["user 0", "assistant 0"]
    assert [m.content for m in store.path(conversation.id)] == ["user 0", "assistant 0"]


def test_the_chat_model_passes_qtmodeltester(qtmodeltester, window) -> None:
    store = window.conversations
    conversation = store.create_conversation("Model test")
    for n in range(5):
        store.add_message(conversation.id, "user", f"question {n}")
        store.add_message(conversation.id, "assistant", f"answer {n}")
    window.open_conversation(conversation.id)
    model = window.chat.view.chat_model
    qtmodeltester.check(model)
    reply = store.start_reply(conversation.id)
    model.append(store.get_message(reply.message_id), live=True)
    model.append_text(reply.message_id, "answer", "streaming")
    model.truncate(4)
    qtmodeltester.check(model)


def test_a_bad_model_file_is_explained_inline(qtbot, window, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 32)
    window.load_model(bad)
    qtbot.waitUntil(lambda: window.chat.banner.isVisibleTo(window.chat), timeout=30_000)
    text = window.chat.banner_text.text()
    assert "cannot be used" in text or "not" in text
    assert "Traceback" not in text
    assert not window.chat.composer.input.isEnabled()
    assert not window.chat.header.unload_button.isVisibleTo(window.chat)


def test_settings_drawer_drives_the_chat_and_is_remembered(
    qtbot, scripted, engine: ScriptedEngine, tiny_gguf
) -> None:
    window = scripted
    model = window.library_store.import_file(tiny_gguf(context_length=4096), link=True)
    window._refresh_model_picker()
    window.load_model(model)
    qtbot.waitUntil(window.chat.composer.input.isEnabled, timeout=60_000)
    chat, panel = window.chat, window.chat.settings_panel
    assert panel.isHidden()
    chat.toggle_settings()  # Ctrl+, and the top bar's Settings button
    assert panel.isVisible() and chat.header.settings_button.isChecked()
    assert panel.model_key == model.id

    # sampling set in the drawer is what the next reply uses, and is kept for this model
    panel.max_tokens.setValue(6)
    panel.spins["temperature"].setValue(0.0)
    assert chat.sampling.max_tokens == 6 and chat.sampling.temperature == 0.0
    saved = window.library_store.get(model.id).settings["sampling"]
    assert saved["max_tokens"] == 6
    qtbot.keyClicks(panel.prompt_edit, "Answer in French.")
    _send(qtbot, window, "Hello")
    conversation = chat.conversation
    assert conversation is not None
    assert window.conversations.get_conversation(conversation.id).system_prompt == "Answer in French."
    reply = _items(window)[-1]
    assert reply.message.stats and reply.message.stats["completion_tokens"] <= 6
    assert reply.message.stats["completion_tokens"] == 6  # the script had 40 words to give
    assert engine.requests[-1][0] == {"role": "system", "content": "Answer in French."}

    # a load setting changed in the drawer reloads the model with it, and is kept too
    panel.n_ctx.setValue(2048)
    assert panel.reload_button.isEnabled()
    with qtbot.waitSignal(window.inference.loaded, timeout=60_000) as loaded:
        panel.reload_button.click()
    assert loaded.args[0].n_ctx == 2048
    assert window.library_store.get(model.id).settings["load"]["n_ctx"] == 2048
    assert "2,048 ctx" in chat.header.badge_texts()
    assert not panel.reload_button.isEnabled()

    # the picker lists the library model and shows it as the one loaded
    assert chat.header.picker.currentData() == model.id


def _row_origin(window: MainWindow, message_id: int):
    view = window.chat.view
    row = view.chat_model.row_of(message_id)
    assert row is not None
    view.scrollTo(view.chat_model.index(row, 0))
    return view.visualRect(view.chat_model.index(row, 0)).topLeft()


def test_mouse_clicks_on_painted_controls(qtbot, window) -> None:
    """The controls are painted, not widgets: clicks are hit-tested against the cached layout."""
    from PySide6.QtCore import QPointF, Qt

    store = window.conversations
    conversation = store.create_conversation("Clicks")
    user = store.add_message(conversation.id, "user", "Show me code")
    reply = store.add_message(
        conversation.id, "assistant", "Sure:\n\n```sh\necho hello\n```\n\nDone.", reasoning="Keep it short."
    )
    window.open_conversation(conversation.id)
    view = window.chat.view
    qtbot.waitUntil(lambda: view.delegate.hinted.get(reply.id) is not None, timeout=5_000)
    view.viewport().repaint()

    # the code block's Copy anchor, found in the rendered document, then clicked where it is drawn
    item = view.chat_model.item_by_id(reply.id)
    assert item is not None
    layout = view.delegate.layout_for(item, view.viewport().width())
    size = layout.body.size()
    spot = next(
        (x, y)
        for y in range(0, int(size.height()), 3)
        for x in range(0, int(size.width()), 4)
        if layout.body.documentLayout().anchorAt(QPointF(x, y)) == "hearth-copy:0"
    )
    origin = _row_origin(window, reply.id) + layout.body_pos
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=origin + QPointF(*spot).toPoint())
    assert QGuiApplication.clipboard().text() == "echo hello"

    # the Thought toggle opens the reasoning
    assert not item.thinking_open and layout.thinking_toggle is not None
    toggle = _row_origin(window, reply.id) + layout.thinking_toggle.center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=toggle)
    opened = view.chat_model.item_by_id(reply.id)
    assert opened is not None and opened.thinking_open

    # Edit under the user's message puts it in the composer, in edit mode; Cancel leaves edit mode
    user_item = view.chat_model.item_by_id(user.id)
    assert user_item is not None
    user_layout = view.delegate.layout_for(user_item, view.viewport().width())
    edit = next(rect for key, _, rect in user_layout.actions if key == "edit")
    edit_at = _row_origin(window, user.id) + edit.center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=edit_at)
    composer = window.chat.composer
    assert composer.editing and composer.input.toPlainText() == "Show me code"
    composer.cancel_edit.click()  # (Esc does the same once a model is loaded and the box is enabled)
    assert not composer.editing and composer.input.toPlainText() == ""


def test_import_a_chat_from_the_sidebar_and_by_dropping_it(qtbot, window, tmp_path: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from desktop_app.core.conversations import ChatFileError

    good = Path(__file__).resolve().parent.parent / "docs" / "example-chat.json"
    conversation_id = window.chat_list.import_chat(good)
    assert window.chat.conversation is not None and window.chat.conversation.id == conversation_id
    assert _items(window)[0].content.startswith("How do I read a file")
    assert window.chat_list.selected_id() == conversation_id

    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "x", "messages": [', encoding="utf-8")
    with pytest.raises(ChatFileError, match="not valid JSON"):
        window.chat_list.import_chat(broken)

    copy = tmp_path / "dropped.json"
    copy.write_text(good.read_text(encoding="utf-8"), encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(copy))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    assert len(window.conversations.list_conversations()) == 2
    assert window.chat.conversation is not None and window.chat.conversation.id != conversation_id


def test_a_streaming_row_shows_exactly_the_text_so_far(window) -> None:
    """The live row starts as a "…" placeholder, then grows by appending: never both."""
    store = window.conversations
    conversation = store.create_conversation("Live")
    user = store.add_message(conversation.id, "user", "Go on")
    window.open_conversation(conversation.id)
    writer = store.start_reply(conversation.id)
    model, view = window.chat.view.chat_model, window.chat.view
    model.append(store.get_message(writer.message_id), live=True)
    item = model.item_by_id(writer.message_id)
    assert item is not None and user.id != item.id
    width = view.viewport().width()
    assert view.delegate.layout_for(item, width).body.toPlainText() == "…"
    model.append_text(item.id, "answer", "Section 2 covers")
    model.append_text(item.id, "answer", " payment.")
    assert view.delegate.layout_for(item, width).body.toPlainText() == "Section 2 covers payment."


@pytest.mark.gemma
def test_a_load_can_be_cancelled_and_the_next_one_works(qtbot, window, gemma_path: Path) -> None:
    chat = window.chat
    with qtbot.waitSignal(window.inference.load_failed, timeout=60_000) as failed:
        window.load_model(gemma_path)
        assert chat.header.cancel_button.isVisibleTo(chat.header)
        chat.header.cancel_button.click()  # before llama.cpp's first progress report, or during
    from desktop_app.core.errors import LoadCancelledError

    assert isinstance(failed.args[0], LoadCancelledError)
    assert window.inference.loaded_model is None
    assert not chat.banner.isVisibleTo(chat)  # a choice, not an error
    assert not chat.header.cancel_button.isVisibleTo(chat.header)
    assert "cancelled" in window.status_message.text()
    assert not chat.composer.input.isEnabled()
    _load(qtbot, window, gemma_path)
    assert window.inference.loaded_model is not None


def test_a_streamed_batch_lays_out_only_when_the_live_row_grows_a_step(qtbot, window) -> None:
    """QListView lays out every row for any dataChanged; the chat view does so only when the live row's
    height crosses a LIVE_STEP, so a batch costs a repaint of that row, not 500 sizeHint calls."""
    store = window.conversations
    conversation = store.create_conversation("Long chat")
    for n in range(30):
        store.add_message(conversation.id, "user" if n % 2 == 0 else "assistant", f"message {n}")
    window.open_conversation(conversation.id)
    writer = store.start_reply(conversation.id)
    view = window.chat.view
    view.chat_model.append(store.get_message(writer.message_id), live=True)
    view.chat_model.append_text(writer.message_id, "answer", "First words")
    qtbot.wait(20)
    old = view.chat_model.items()[0].id
    view.delegate.hinted.pop(old)  # sizeHint puts it back: a relayout of every row
    for _ in range(5):
        view.chat_model.append_text(writer.message_id, "answer", " more")
        qtbot.wait(5)
    assert old not in view.delegate.hinted  # repainted, not laid out
    view.chat_model.append_text(writer.message_id, "answer", "\n\nA new paragraph." * 20)
    qtbot.waitUntil(lambda: old in view.delegate.hinted, timeout=2_000)  # grew a step: laid out
