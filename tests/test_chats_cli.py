"""`hearth chats list|export|import` and `hearth chat --save`, run as separate processes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from desktop_app.core.conversations import ConversationStore, with_fixed_seed
from desktop_app.core.db import Database
from desktop_app.core.engine import TextDelta
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from tests.test_cli_engine import assert_one_line_error, hearth


def open_store() -> ConversationStore:
    """The same database the subprocesses use (HEARTH_HOME is the test's own folder)."""
    return ConversationStore(Database(app_paths().ensure().database))


def saved_id(stderr: str) -> int:
    match = re.search(r"Saved as conversation (\d+)", stderr)
    assert match, stderr
    return int(match.group(1))


def test_list_export_and_import_on_the_command_line(hearth_home: Path, tmp_path: Path) -> None:
    store = open_store()
    first = store.create_conversation(model_name="Gemma 3 270m", system_prompt="Be brief.")
    store.add_message(first.id, "user", "Name a blue fruit")
    reply = store.add_message(first.id, "assistant", "A blueberry.", model="Gemma 3 270m")
    with store.start_reply(
        first.id, sibling_of=reply.id, sampling=with_fixed_seed(SamplingSettings()), model="Gemma 3 270m"
    ) as writer:
        writer.feed(TextDelta("blue things", "reasoning"))
        writer.feed(TextDelta("Blueberries, ünïcode ✓."))
    second = store.create_conversation("Empty one")

    listed = hearth(["chats", "list", "--json"], hearth_home)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["title"], r["message_count"], r["model"]) for r in rows] == [
        (second.id, "Empty one", 0, None),  # the most recently active first
        (first.id, "Name a blue fruit", 3, "Gemma 3 270m"),
    ]
    assert all(r["updated_at"].endswith("+00:00") for r in rows)

    table = hearth(["chats", "list"], hearth_home)
    assert table.returncode == 0, table.stderr
    assert re.search(rf"^{first.id}\s+\S+ \S+\s+3\s+Gemma 3 270m\s+Name a blue fruit$", table.stdout, re.M)

    exported = hearth(["chats", "export", str(first.id), "--format", "json"], hearth_home)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data == store.export_json(first.id)
    assert list(data) == ["id", "title", "messages"]
    assert [(m["role"], m["content"]) for m in data["messages"]] == [
        ("system", "Be brief."),
        ("user", "Name a blue fruit"),
        ("assistant", "Blueberries, ünïcode ✓."),
    ]
    assert data["messages"][2]["reasoning"] == "blue things"

    markdown = hearth(["chats", "export", str(first.id), "--format", "md"], hearth_home)
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout == store.export_markdown(first.id)
    assert "## Assistant\n\n<details>" in markdown.stdout and "Blueberries, ünïcode ✓." in markdown.stdout

    target = tmp_path / "out" / "chat.json"
    target.parent.mkdir()
    written = hearth(["chats", "export", str(first.id), "--format", "json", "-o", target], hearth_home)
    assert written.returncode == 0, written.stderr
    assert written.stdout == ""
    assert json.loads(target.read_text(encoding="utf-8")) == data
    assert [p.name for p in target.parent.iterdir()] == ["chat.json"]  # no partial file left behind

    imported = hearth(["chats", "import", target], hearth_home)
    assert imported.returncode == 0, imported.stderr
    new_id = int(imported.stdout.strip())
    assert new_id not in (first.id, second.id)
    again = json.loads(hearth(["chats", "export", str(new_id), "--format", "json"], hearth_home).stdout)
    assert {**again, "id": None} == {**data, "id": None}


def test_bad_imports_and_unknown_ids_are_one_clear_line(hearth_home: Path, tmp_path: Path) -> None:
    not_json = tmp_path / "not.json"
    not_json.write_text("{ nope", encoding="utf-8")
    result = hearth(["chats", "import", not_json], hearth_home)
    assert_one_line_error(result, 2)
    assert "not valid JSON" in result.stderr and "line 1" in result.stderr

    wrong_shape = tmp_path / "wrong.json"
    wrong_shape.write_text(json.dumps({"title": "x", "messages": [{"role": "robot", "content": "hi"}]}))
    result = hearth(["chats", "import", wrong_shape], hearth_home)
    assert_one_line_error(result, 2)
    assert "messages[0].role is 'robot'" in result.stderr

    result = hearth(["chats", "import", tmp_path / "missing.json"], hearth_home)
    assert_one_line_error(result, 7)

    result = hearth(["chats", "export", "42"], hearth_home)
    assert_one_line_error(result, 2)
    assert "no conversation 42" in result.stderr
    assert open_store().list_conversations() == []

    empty = hearth(["chats", "list"], hearth_home)
    assert empty.returncode == 0 and "No saved conversations yet" in empty.stdout


def chat_text(**fields: object) -> str:
    """A one-message chat file with `fields` set on the message."""
    return json.dumps({"messages": [{"role": "assistant", "content": "hi", **fields}]})


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (chat_text(created_at=1e300), "messages[0].created_at is out of range (1e+300"),
        (chat_text(created_at="0001-01-01T00:00:00+14:00"), "messages[0].created_at is out of range"),
        (chat_text(stats={"generation_tps": "fast"}), "stats.generation_tps is text, not a number"),
        (chat_text(content="\ud800"), "messages[0].content holds an unpaired"),
        ('{"messages": [{"role": "user", "content": "hi", "created_at": ' + "9" * 5000 + "}]}",
         "a number too large to read"),
        ("[" * 100_000, "nested too deeply"),
    ],
)  # fmt: skip
def test_import_refuses_values_that_would_break_listing_in_one_line(
    hearth_home: Path, tmp_path: Path, text: str, complaint: str
) -> None:
    chat_file = tmp_path / "chat.json"
    chat_file.write_text(text, encoding="utf-8")
    for result in (
        hearth(["chats", "import", chat_file], hearth_home),
        hearth(["chats", "import", "-"], hearth_home, stdin=text),
    ):
        assert_one_line_error(result, 2)
        assert complaint in result.stderr, result.stderr
    listed = hearth(["chats", "list", "--json"], hearth_home)
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr


def test_import_from_standard_input_stops_at_the_size_cap(hearth_home: Path) -> None:
    from desktop_app.core.chat_transfer import MAX_FILE_BYTES

    text = json.dumps({"messages": [{"role": "user", "content": "x" * MAX_FILE_BYTES}]})
    result = hearth(["chats", "import", "-"], hearth_home, stdin=text)
    assert_one_line_error(result, 2)
    assert "standard input is larger than 32 MiB" in result.stderr
    assert open_store().list_conversations() == []


@pytest.mark.gemma
@pytest.mark.slow
def test_chat_save_stores_the_exchange_with_the_seed_it_used(gemma_path: Path, hearth_home: Path) -> None:
    common: list[str | Path] = [
        "chat", "--model", gemma_path, "--prompt", "Write one sentence about the sea.",
        "--max-tokens", "12", "--temperature", "0.8", "--threads", "1", "--json",
    ]  # fmt: skip
    result = hearth([*common, "--save"], hearth_home)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    conversation_id = saved_id(result.stderr)

    store = open_store()
    conversation = store.get_conversation(conversation_id)
    assert conversation.title == "Write one sentence about the sea."
    assert conversation.model_name == "Gemma 3 270m"
    assert conversation.model_path == str(gemma_path.resolve())
    user, reply = store.path(conversation_id)
    assert (user.role, user.content) == ("user", "Write one sentence about the sea.")
    assert (reply.role, reply.content, reply.state) == ("assistant", answer["text"], "complete")
    assert reply.stats is not None and reply.stats["completion_tokens"] == answer["completion_tokens"]
    assert reply.sampling is not None and reply.sampling["temperature"] == 0.8
    seed = reply.sampling["seed"]
    assert isinstance(seed, int)  # no --seed given: the random seed was picked, used and recorded

    replay = hearth([*common, "--seed", str(seed)], hearth_home)  # the recorded seed reproduces the reply
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout.splitlines()[-1])["text"] == answer["text"]
    assert "Saved as" not in replay.stderr
    assert len(store.list_conversations()) == 1


@pytest.mark.gemma
@pytest.mark.slow
def test_chat_save_interactive_keeps_one_conversation_and_branches_past_a_failed_turn(
    gemma_path: Path, hearth_home: Path
) -> None:
    too_long = "word " * 400  # more than the 256-token context: that turn fails
    args: list[str | Path] = [
        "chat", "--model", gemma_path, "--max-tokens", "6", "--temperature", "0", "--threads", "1",
        "--ctx", "256", "--system", "Be brief.", "--save",
    ]  # fmt: skip
    result = hearth(args, hearth_home, stdin=f"Tell me about the sea.\n{too_long}\nAnd the sky?\n")
    assert result.returncode == 0, result.stderr
    assert "too long" in result.stderr
    store = open_store()
    (summary,) = store.list_conversations()
    assert summary.id == saved_id(result.stderr)
    assert store.get_conversation(summary.id).system_prompt == "Be brief."
    path = store.path(summary.id)
    assert [(m.role, m.state) for m in path] == [
        ("user", "complete"), ("assistant", "complete"), ("user", "complete"), ("assistant", "complete"),
    ]  # fmt: skip
    assert [m.content for m in path[::2]] == ["Tell me about the sea.", "And the sky?"]
    assert all(m.content for m in path[1::2])
    # the failed prompt is kept as the other alternative of the last prompt, its reply marked failed
    failed_prompt, last_prompt = store.siblings(path[2].id)
    assert failed_prompt.content == too_long and last_prompt.id == path[2].id
    (failed_reply,) = store.children(failed_prompt.id)
    assert failed_reply.state == "failed" and failed_reply.error and "too long" in failed_reply.error
