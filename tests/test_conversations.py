"""The conversation store on real SQLite files: branches, search, export/import, migrations, and a
`hearth chat --save` killed with SIGKILL mid-reply."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core import db as db_module
from desktop_app.core.conversations import (
    ChatFileError,
    ConversationStore,
    Message,
    ReplyWriter,
    UnknownConversationError,
    parse_chat_json,
    read_chat_file,
    title_from,
    with_fixed_seed,
)
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats, TextDelta
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "hearth.db")


@pytest.fixture
def store(db: Database) -> ConversationStore:
    return ConversationStore(db)


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


def stats(reason: str = "eos", completion: int = 3) -> GenerationStats:
    return GenerationStats(
        prompt_tokens=10, cached_tokens=0, evaluated_tokens=10, completion_tokens=completion, ttft_s=0.1,
        prefill_tps=100.0, generation_tps=30.0, stop_reason=reason,  # type: ignore[arg-type]
    )  # fmt: skip


def chat(store: ConversationStore, *turns: str, **kwargs: Any) -> tuple[int, list[Message]]:
    """A conversation whose messages alternate user/assistant with the given texts."""
    conversation = store.create_conversation(**kwargs)
    messages = [
        store.add_message(conversation.id, "user" if i % 2 == 0 else "assistant", text)
        for i, text in enumerate(turns)
    ]
    return conversation.id, messages


# -------------------------------------------------------------------------------------- schema


def test_this_sqlite_has_fts5() -> None:
    """Search relies on FTS5; CPython's bundled SQLite has it on Linux, macOS and Windows."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    conn.close()


def test_migration_creates_the_schema_in_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    database = Database(path)
    conn = database.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db_module.SCHEMA_VERSION >= 2
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"models", "downloads", "conversations", "messages", "messages_fts"} <= names
    assert {"messages_fts_insert", "messages_fts_delete", "messages_fts_update"} <= names
    assert {"messages_conversation", "messages_parent", "conversations_updated"} <= names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    database.close()
    again = Database(path)  # reopening is a no-op
    assert again.connection().execute("PRAGMA user_version").fetchone()[0] == db_module.SCHEMA_VERSION


def test_migration_upgrades_a_v1_database_and_keeps_its_models_and_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v1.db"
    with monkeypatch.context() as patch:
        patch.setattr(db_module, "MIGRATIONS", db_module.MIGRATIONS[:1])
        patch.setattr(db_module, "SCHEMA_VERSION", 1)
        v1 = Database(path)
        with v1.transaction() as conn:
            conn.execute(
                "INSERT INTO models (id, display_name, path, size_bytes, summary, added_at) "
                "VALUES ('gemma', 'Gemma 3', '/models/gemma.gguf', 253113024, '{}', 1.5)"
            )
            conn.execute(
                "INSERT INTO downloads (repo, filename, dest_path, partial_path, state, created_at, "
                "updated_at) VALUES ('org/repo', 'm.gguf', '/d/m.gguf', '/d/m.part', 'paused', 1.0, 2.0)"
            )
        assert v1.connection().execute("PRAGMA user_version").fetchone()[0] == 1
        v1.close()

    upgraded = Database(path)
    conn = upgraded.connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db_module.SCHEMA_VERSION
    assert [tuple(r) for r in conn.execute("SELECT id, display_name, size_bytes FROM models")] == [
        ("gemma", "Gemma 3", 253113024)
    ]
    assert [tuple(r) for r in conn.execute("SELECT repo, state, updated_at FROM downloads")] == [
        ("org/repo", "paused", 2.0)
    ]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = ConversationStore(upgraded)
    conversation_id, _ = chat(store, "Does the upgraded database work?", "Yes.")
    assert store.search("upgraded")[0].conversation_id == conversation_id


# ------------------------------------------------------------------------------------- branches


def test_messages_form_a_path_and_the_first_prompt_names_the_chat(store: ConversationStore) -> None:
    conversation_id, messages = chat(store, "Hello!\nSecond line", "Hi.", "How are you?", "Fine.")
    assert contents(store.path(conversation_id)) == ["Hello!\nSecond line", "Hi.", "How are you?", "Fine."]
    assert [m.parent_id for m in messages] == [None, messages[0].id, messages[1].id, messages[2].id]
    conversation = store.get_conversation(conversation_id)
    assert conversation.title == "Hello!"
    assert conversation.current_leaf_id == messages[-1].id
    assert contents(store.path(conversation_id, messages[1].id)) == ["Hello!\nSecond line", "Hi."]
    assert title_from("  " + "word " * 40) == ("word " * 12).strip() + "…"


def test_edit_and_resend_makes_a_sibling_branch(store: ConversationStore) -> None:
    conversation_id, (u1, a1, u2, a2) = chat(store, "Q1", "A1", "Q2", "A2")
    edited = store.add_message(conversation_id, "user", "Q2 edited", sibling_of=u2.id)
    reply = store.add_message(conversation_id, "assistant", "A2 for the edit")
    assert edited.parent_id == a1.id
    assert contents(store.path(conversation_id)) == ["Q1", "A1", "Q2 edited", "A2 for the edit"]
    assert [m.id for m in store.siblings(u2.id)] == [u2.id, edited.id]
    assert [m.id for m in store.siblings(edited.id)] == [u2.id, edited.id]
    positions = store.sibling_positions(conversation_id)
    assert positions[u2.id] == (1, 2) and positions[edited.id] == (2, 2)
    assert positions[u1.id] == (1, 1) and positions[reply.id] == (1, 1)
    # step back to alternative 1/2: its whole branch comes back
    assert contents(store.select_branch(u2.id)) == ["Q1", "A1", "Q2", "A2"]
    assert store.get_conversation(conversation_id).current_leaf_id == a2.id
    assert store.list_conversations()[0].message_count == 6


def test_regenerate_makes_alternatives_and_select_branch_follows_the_newest_child(
    store: ConversationStore,
) -> None:
    conversation_id, (u1, a1) = chat(store, "Tell me a joke", "Joke one")
    with store.start_reply(conversation_id, sibling_of=a1.id) as writer:
        writer.append("Joke two")
    a1b = store.get_message(writer.message_id)
    assert a1b.parent_id == u1.id
    assert contents(store.path(conversation_id)) == ["Tell me a joke", "Joke two"]
    assert contents(store.siblings(a1.id)) == ["Joke one", "Joke two"]
    # continue the first alternative, twice over (two children of a1): select_branch takes the newest
    store.select_branch(a1.id)
    store.add_message(conversation_id, "user", "Another?")
    store.add_message(conversation_id, "user", "One more?", sibling_of=store.path(conversation_id)[-1].id)
    store.select_branch(a1b.id)
    assert contents(store.select_branch(u1.id)) == ["Tell me a joke", "Joke two"]
    assert contents(store.select_branch(a1.id)) == ["Tell me a joke", "Joke one", "One more?"]


def test_editing_the_first_prompt_makes_a_second_root(store: ConversationStore) -> None:
    conversation_id, (u1, _) = chat(store, "First try", "Reply")
    edited = store.add_message(conversation_id, "user", "Second try", sibling_of=u1.id)
    assert edited.parent_id is None
    assert contents(store.path(conversation_id)) == ["Second try"]
    assert contents(store.siblings(u1.id)) == ["First try", "Second try"]
    assert contents(store.select_branch(u1.id)) == ["First try", "Reply"]


def test_delete_message_removes_its_subtree_and_shows_a_remaining_branch(store: ConversationStore) -> None:
    conversation_id, (_, a1, u2, _) = chat(store, "Q1", "A1", "Q2", "A2")
    alternative = store.add_message(conversation_id, "assistant", "A1 again", sibling_of=a1.id)
    store.select_branch(a1.id)
    assert store.delete_message(a1.id) == 3  # A1, Q2, A2
    assert contents(store.path(conversation_id)) == ["Q1", "A1 again"]
    assert store.search("Q2") == []
    assert store.delete_message(alternative.id) == 1
    assert contents(store.path(conversation_id)) == ["Q1"]  # no sibling left: the parent is the leaf
    with pytest.raises(Exception, match="no message"):
        store.get_message(u2.id)


def test_deleting_a_chat_longer_than_sqlites_trigger_depth(store: ConversationStore) -> None:
    """A cascade down parent links would fail past 1000 levels; subtrees are deleted in one query."""
    data = {"title": "long", "messages": [{"role": ("user", "assistant")[i % 2], "content": f"m{i}"}
                                          for i in range(1500)]}  # fmt: skip
    conversation_id = store.import_json(data)
    path = store.path(conversation_id)
    assert len(path) == 1500
    assert store.delete_message(path[700].id) == 800
    assert len(store.path(conversation_id)) == 700
    store.delete_conversation(conversation_id)
    assert store.db.connection().execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_delete_and_rename_conversations(store: ConversationStore) -> None:
    first, _ = chat(store, "Alpha question", "Alpha answer")
    second, _ = chat(store, "Beta question", "Beta answer")
    store.rename(first, "  Renamed  ")
    assert [(c.id, c.title, c.message_count) for c in store.list_conversations()] == [
        (second, "Beta question", 2),
        (first, "Renamed", 2),
    ]
    store.delete_conversation(second)
    assert [c.id for c in store.list_conversations()] == [first]
    assert store.search("Beta") == []
    with pytest.raises(UnknownConversationError) as gone:
        store.path(second)
    assert gone.value.hint and "hearth" not in gone.value.hint  # the GUI shows it too: no CLI command
    assert store.db.connection().execute("PRAGMA foreign_key_check").fetchall() == []


def test_list_is_sorted_by_last_activity(db: Database) -> None:
    now = [1000.0]
    store = ConversationStore(db, clock=lambda: now[0])
    old, _ = chat(store, "old chat")
    now[0] = 2000.0
    new, _ = chat(store, "new chat")
    assert [c.id for c in store.list_conversations()] == [new, old]
    now[0] = 3000.0
    store.add_message(old, "assistant", "a late reply")
    summaries = store.list_conversations()
    assert [c.id for c in summaries] == [old, new]
    assert summaries[0].updated_at == 3000.0 and summaries[0].created_at == 1000.0


# --------------------------------------------------------------------------------------- search


def test_search_finds_a_message_across_chats(store: ConversationStore) -> None:
    lighthouses, _ = chat(store, "Tell me about lighthouses", "They guide ships at night.")
    target, (_, answer) = chat(store, "And volcanoes?", "Magma rises through the crust, then erupts.")
    chat(store, "Something else", "Nothing to see.")
    hits = store.search("magma")
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.conversation_id, hit.message_id, hit.title, hit.role) == (
        target,
        answer.id,
        "And volcanoes?",
        "assistant",
    )
    assert "[Magma]" in hit.snippet
    assert [h.message_id for h in store.search("erupt*")] == [answer.id]  # a prefix
    assert store.search("MAGMA crust")[0].message_id == answer.id  # every word, any case
    assert store.search("ships magma") == []
    assert store.search("ships") and store.search("ships")[0].conversation_id == lighthouses
    assert store.search("   ") == []


@pytest.mark.parametrize(
    "query",
    ["c++", '"unbalanced', "AND", "a:b", "(", "*", "NEAR(", "-x", "'", "content:", "content:quotes",
     "NEAR(quotes fine, 2)", "quotes OR", "fine NOT", '"', "^quotes", "quotes*fine", "{content}: x", "**"],
)  # fmt: skip
def test_search_never_raises_on_fts_syntax(store: ConversationStore, query: str) -> None:
    chat(store, "I write c++ and a:b notation", "Unbalanced quotes are fine.")
    hits = store.search(query)
    assert isinstance(hits, list)
    if query in ("c++", "a:b", '"unbalanced', "^quotes"):
        assert hits, query  # searched as plain words
    if query in ("NEAR(quotes fine, 2)", "quotes OR", "fine NOT"):
        assert hits == [], query  # NEAR, OR and NOT are words, and no message has them


@pytest.mark.parametrize(
    "query",
    ["\x00", "quotes\x00", "quo\x00tes", "\x00\"quotes", "quotes\x01\x02\x1b", "\x7f\x85quotes",
     "\ud800quotes", "quotes \udfff", "quotes\tfine\r\n"],
)  # fmt: skip
def test_search_treats_control_characters_as_spaces(store: ConversationStore, query: str) -> None:
    chat(store, "Unbalanced quotes are fine.")
    hits = store.search(query)
    assert isinstance(hits, list)
    if "quotes" in query:
        assert [h.snippet.startswith("Unbalanced [quotes] are") for h in hits] == [True], query


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("quotes " + "x" * 200_000, False),  # cut at 1000 characters: "quotes" and a long word
        ("x" * 200_000 + " quotes", False),
        (" ".join(["quotes"] * 40 + ["absent"]), True),  # only the first 32 words count
        ("(" * 50_000 + "quotes", False),
        ('"' * 10_001, False),
        ("quotes " + " OR ".join(["fine"] * 5_000), False),
        ("*" * 100_000, False),
    ],
)
def test_search_bounds_very_long_queries(store: ConversationStore, query: str, found: bool) -> None:
    chat(store, "Unbalanced quotes are fine.")
    hits = store.search(query)
    assert [h.snippet for h in hits] == (["Unbalanced [quotes] are fine."] if found else [])


def test_search_follows_a_streaming_reply_as_it_is_rewritten(store: ConversationStore) -> None:
    conversation_id, _ = chat(store, "Go")
    clock = [0.0]
    writer = ReplyWriter(store, store.add_message(conversation_id, "assistant", "", state="streaming"),
                         clock=lambda: clock[0])  # fmt: skip
    writer.append("first draft ")
    clock[0] = 1.0
    writer.append("platypus")
    assert [h.message_id for h in store.search("platypus")] == [writer.message_id]
    writer.finish(stats())
    store.db.connection().execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


# ----------------------------------------------------------------------------- streaming replies


def test_reply_writer_saves_at_most_once_a_second_and_at_the_end(store: ConversationStore) -> None:
    conversation_id, (prompt,) = chat(store, "Count")
    clock = [100.0]
    sampling = with_fixed_seed(SamplingSettings(temperature=0.8))
    assert sampling.seed is not None
    writer = store.start_reply(conversation_id, model="tiny", sampling=sampling)
    writer._clock = lambda: clock[0]
    writer._last_save = clock[0]
    row = store.get_message(writer.message_id)
    assert (row.state, row.content, row.parent_id) == ("streaming", "", prompt.id)

    def saved() -> str:
        return store.get_message(writer.message_id).content

    for i in range(30):  # 30 tokens over 1.5 s: one save, after the first second
        clock[0] = 100.0 + i * 0.05
        writer.feed(TextDelta(f"{i} "))
    assert writer.saves == 1
    assert saved() == "".join(f"{i} " for i in range(21))
    writer.feed(TextDelta("thinking…", "reasoning"))
    final = writer.finish(stats(completion=30))
    assert final.content == writer.content == "".join(f"{i} " for i in range(30))
    assert final.reasoning == "thinking…"
    assert final.state == "complete"
    assert final.stats is not None and final.stats["completion_tokens"] == 30
    assert final.sampling == sampling.to_dict() and final.sampling["seed"] == sampling.seed
    assert final.model == "tiny"
    with pytest.raises(RuntimeError):
        writer.append("late")


def test_reply_writer_states_for_cancel_and_failure(store: ConversationStore) -> None:
    conversation_id, _ = chat(store, "Go")
    writer = store.start_reply(conversation_id)
    writer.feed(TextDelta("partial"))
    writer.feed(stats("cancelled"))
    assert store.get_message(writer.message_id).state == "cancelled"

    failing = store.start_reply(conversation_id, sibling_of=writer.message_id)
    with pytest.raises(ValueError), failing:
        failing.append("half a")
        raise ValueError("llama.cpp exploded")
    failed = store.get_message(failing.message_id)
    assert (failed.state, failed.content, failed.error) == ("failed", "half a", "llama.cpp exploded")

    interrupted = store.start_reply(conversation_id, sibling_of=writer.message_id)
    with pytest.raises(KeyboardInterrupt), interrupted:
        raise KeyboardInterrupt
    assert store.get_message(interrupted.message_id).state == "cancelled"


def test_continue_reply_appends_to_the_saved_text(store: ConversationStore) -> None:
    conversation_id, _ = chat(store, "Go")
    with store.start_reply(conversation_id) as writer:
        writer.append("Once upon")
    with store.continue_reply(writer.message_id) as more:
        assert store.get_message(writer.message_id).state == "streaming"
        more.append(" a time")
    assert store.get_message(writer.message_id).content == "Once upon a time"
    assert len(store.path(conversation_id)) == 2


def test_a_reader_sees_the_growing_reply_from_another_connection(store: ConversationStore) -> None:
    """What the kill test relies on: each save is committed on its own, visible to other readers."""
    conversation_id, _ = chat(store, "Go")
    seen: list[str] = []

    def write() -> None:
        writer = store.start_reply(conversation_id, interval_s=0.0)
        for word in ("one ", "two ", "three"):
            writer.append(word)
            seen.append(reader.execute("SELECT content FROM messages WHERE role='assistant'").fetchone()[0])
        writer.finish()
        store.db.close()

    reader = sqlite3.connect(f"file:{store.db.path}?mode=ro", uri=True, check_same_thread=False)
    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    reader.close()
    assert seen == ["one ", "one two ", "one two three"]


def test_recover_interrupted_marks_only_stale_streaming_replies(db: Database) -> None:
    now = [1000.0]
    store = ConversationStore(db, clock=lambda: now[0])
    conversation_id, _ = chat(store, "Go")
    stale = store.start_reply(conversation_id)
    stale.append("cut off")
    stale.flush()
    now[0] = 1200.0
    live = store.start_reply(conversation_id, sibling_of=stale.message_id)
    assert store.recover_interrupted(stale_after_s=120) == 1
    assert store.get_message(stale.message_id).state == "interrupted"
    assert store.get_message(live.message_id).state == "streaming"


# ------------------------------------------------------------------------------- export, import


def branched_chat(store: ConversationStore) -> int:
    conversation_id, (_, a1) = chat(
        store, "What is 2+2?", "Five.", system_prompt="Be brief.", model_name="Gemma 3 270m"
    )
    sampling = with_fixed_seed(SamplingSettings(temperature=0.8, max_tokens=64))
    with store.start_reply(conversation_id, sibling_of=a1.id, model="Gemma 3 270m", sampling=sampling) as w:
        w.feed(TextDelta("2 plus 2", "reasoning"))
        w.feed(TextDelta("**Four.**"))
        w.feed(stats())
    store.add_message(conversation_id, "user", "Thanks")
    return conversation_id


def test_export_markdown_shows_the_active_branch(store: ConversationStore) -> None:
    conversation_id = branched_chat(store)
    text = store.export_markdown(conversation_id)
    assert text.startswith("# What is 2+2?\n\n*Model: Gemma 3 270m · Created ")
    assert "## System\n\nBe brief.\n" in text
    assert "## User\n\nWhat is 2+2?\n\n## Assistant\n\n" in text
    assert "<details>\n<summary>Thinking</summary>\n\n2 plus 2\n\n</details>\n\n**Four.**\n" in text
    assert "Five." not in text  # the other alternative is not on the shown branch
    assert text.endswith("## User\n\nThanks\n")


def test_export_json_has_the_documented_shape(store: ConversationStore) -> None:
    conversation_id = branched_chat(store)
    data = store.export_json(conversation_id)
    assert list(data) == ["id", "title", "messages"]
    assert data["id"] == conversation_id and data["title"] == "What is 2+2?"
    messages = data["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "Be brief."),
        ("user", "What is 2+2?"),
        ("assistant", "**Four.**"),
        ("user", "Thanks"),
    ]
    reply = messages[2]
    assert reply["reasoning"] == "2 plus 2"
    assert reply["model"] == "Gemma 3 270m"
    assert reply["sampling"]["temperature"] == 0.8 and isinstance(reply["sampling"]["seed"], int)
    assert reply["stats"]["stop_reason"] == "eos"
    assert reply["created_at"].endswith("+00:00")
    assert "state" not in reply and "reasoning" not in messages[1]
    json.dumps(data)  # plain JSON all the way down


def test_import_round_trips_with_export(store: ConversationStore) -> None:
    original = store.export_json(branched_chat(store))
    new_id = store.import_json(json.loads(json.dumps(original)))
    copy = store.export_json(new_id)
    assert copy["id"] == new_id != original["id"]
    assert {**copy, "id": None} == {**original, "id": None}
    imported = store.get_conversation(new_id)
    assert imported.system_prompt == "Be brief." and imported.model_name == "Gemma 3 270m"
    assert {h.conversation_id for h in store.search("Thanks")} == {new_id, original["id"]}
    # a minimal file from another tool: no dates, no title, extra keys
    minimal = store.import_json({"messages": [{"role": "user", "content": "hi", "id": "x"}], "v": 2})
    assert store.get_conversation(minimal).display_title == "New chat"
    assert contents(store.path(minimal)) == ["hi"]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ([], "the top level is a list"),
        ({"title": "x"}, "messages is missing"),
        ({"title": 3, "messages": []}, "title is a number, not text"),
        ({"messages": {"role": "user"}}, "messages is an object"),
        ({"messages": ["hi"]}, "messages[0] is text"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, "messages[0].role is 'bot'"),
        ({"messages": [{"role": "user"}]}, "messages[0].content is missing"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": 1}]},
         "messages[1].content is a number"),
        ({"messages": [{"role": "user", "content": "a", "created_at": "yesterday"}]},
         "messages[0].created_at is 'yesterday'"),
        ({"messages": [{"role": "user", "content": "a", "sampling": [1]}]}, "messages[0].sampling is a list"),
        ({"messages": [{"role": "user", "content": "a", "state": "done"}]}, "messages[0].state is 'done'"),
    ],
)  # fmt: skip
def test_malformed_import_is_rejected_and_stores_nothing(
    store: ConversationStore, data: object, complaint: str
) -> None:
    refused(store, data, complaint)


def refused(store: ConversationStore, data: object, complaint: str) -> ChatFileError:
    """Import `data`: it must be refused with one line naming `complaint`, a hint, and nothing stored."""
    before = store.db.read("SELECT COUNT(*) FROM messages").fetchone()[0]
    with pytest.raises(ChatFileError) as caught:
        store.import_json(data)
    error = caught.value
    assert complaint in error.message, error.message
    assert error.message.startswith("Cannot import this chat: ")
    assert "\n" not in str(error) and len(error.message) < 300, error.message
    assert error.hint
    assert store.list_conversations() == []
    assert store.db.read("SELECT COUNT(*) FROM messages").fetchone()[0] == before
    return error


def one_reply(**fields: object) -> dict[str, Any]:
    """A chat file whose second message (messages[1]) is an assistant reply with `fields` set."""
    reply: dict[str, Any] = {"role": "assistant", "content": "Four.", "created_at": "2024-05-01T10:00:00Z"}
    reply.update(fields)
    return {"title": "t", "messages": [{"role": "user", "content": "2+2?"}, reply]}


@pytest.mark.parametrize(
    ("created_at", "complaint"),
    [
        (1e300, "is out of range (1e+300"),
        (-1e20, "is out of range (-1e+20"),
        (float("nan"), "is out of range (nan"),
        (float("inf"), "is out of range (inf"),
        (10**400, "is out of range (a number of more than 40 digits"),
        (-1, "is out of range (-1"),
        (32503680000, "is out of range"),  # the year 3000
        ("0001-01-01T00:00:00+14:00", "is out of range ('0001-01-01"),
        ("9999-12-31T23:59:59-14:00", "is out of range ('9999-12-31"),
        ("1969-12-31T23:59:59Z", "is out of range"),
        ("2024-05-01" + "0" * 100, "is too long to be a date"),
        (True, "is true/false, not a date"),
        ([2024, 5, 1], "is a list, not a date"),
        ({"t": 1}, "is an object, not a date"),
    ],
)
def test_import_refuses_dates_that_listing_or_export_cannot_show(
    store: ConversationStore, created_at: object, complaint: str
) -> None:
    refused(store, one_reply(created_at=created_at), f"messages[1].created_at {complaint}")


@pytest.mark.parametrize(
    ("stats", "complaint"),
    [
        ({"generation_tps": "fast"}, "stats.generation_tps is text, not a number"),
        ({"ttft_s": [0.1]}, "stats.ttft_s is a list, not a number"),
        ({"ttft_s": float("nan")}, "stats.ttft_s is out of range (nan"),
        ({"prefill_tps": float("inf")}, "stats.prefill_tps is out of range (inf"),
        ({"generation_tps": 1e300}, "stats.generation_tps is out of range"),
        ({"total_s": -2.0}, "stats.total_s is out of range"),
        ({"completion_tokens": "12"}, "stats.completion_tokens is text, not a whole number"),
        ({"completion_tokens": 10**30}, "stats.completion_tokens is out of range"),
        ({"completion_tokens": 2.5}, "stats.completion_tokens is a number, not a whole number"),
        ({"completion_tokens": True}, "stats.completion_tokens is true/false"),
        ({"prompt_tokens": -5}, "stats.prompt_tokens is out of range (-5"),
        ({"stop_reason": 3}, "stats.stop_reason is a number, not text"),
        ({"extra": {"nested": 1}}, "stats.extra is an object"),
        ({"extra": float("nan")}, "stats.extra is out of range"),
        ({f"k{i}": 1 for i in range(100)}, "stats has 100 keys"),
        ("fast", "stats is text, not an object"),
    ],
)
def test_import_refuses_stats_the_reply_footer_cannot_show(
    store: ConversationStore, stats: object, complaint: str
) -> None:
    refused(store, one_reply(stats=stats), f"messages[1].{complaint}")


@pytest.mark.parametrize(
    ("sampling", "complaint"),
    [
        ({"temperature": "hot"}, "temperature is 'hot'; 'temperature' must be a number from 0.0 to 5.0"),
        ({"top_k": "x" * 5000}, "top_k is '" + "x" * 37 + "…'; 'top_k' must"),
        ({"temperature": 10**400}, "temperature is out of range"),
        ({"seed": -1}, "seed is -1; 'seed' must be a whole number from 0 to 4294967295"),
        ({"seed": 2**64}, "seed is 18446744073709551616; 'seed' must be a whole number"),
        ({"top_k": 1.5}, "top_k is 1.5; 'top_k' must be a whole number from 0 to 1000000"),
        ({"stop": "###"}, "stop is text, not a list of text"),
        ({"stop": [1]}, "stop[0] is a number, not text"),
        ({"stop": [""]}, "stop[0] is empty"),
        ({"mirostat": [1, 2]}, "mirostat is a list"),
    ],
)
def test_import_refuses_sampling_settings_the_engine_would_refuse(
    store: ConversationStore, sampling: object, complaint: str
) -> None:
    refused(store, one_reply(sampling=sampling), f"messages[1].sampling.{complaint}")


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"title": ["x"], "messages": []}, "title is a list, not text"),
        ({"title": "x" * 10_001, "messages": []}, "title is too long (10,001 characters; at most 10,000)"),
        ({"title": "\ud800", "messages": []}, "title holds an unpaired surrogate (\\ud800)"),
        (one_reply(role=7), "messages[1].role is 7"),
        (one_reply(role="tool"), "messages[1].role is 'tool'"),
        (one_reply(role=None), "messages[1].role is None"),
        (one_reply(content=None), "messages[1].content is missing"),
        (one_reply(content=["a"]), "messages[1].content is a list, not text"),
        (one_reply(content="x" * 4_000_001), "messages[1].content is too long (4,000,001 characters"),
        (one_reply(content="ok \udfff"), "messages[1].content holds an unpaired surrogate"),
        (one_reply(reasoning=1), "messages[1].reasoning is a number, not text"),
        (one_reply(model=["m"]), "messages[1].model is a list, not text"),
        (one_reply(model="m" * 10_001), "messages[1].model is too long"),
        (one_reply(error={"e": 1}), "messages[1].error is an object, not text"),
        (one_reply(state=1), "messages[1].state is 1"),
        (one_reply(state=["complete"]), "messages[1].state is a list"),
        ({"messages": [[{"role": "user", "content": "hi"}]]}, "messages[0] is a list, not an object"),
        ({"messages": [{"role": "user", "content": "x"}] * 10_001}, "messages has 10,001 entries"),
    ],
)
def test_import_refuses_wrong_types_and_sizes(store: ConversationStore, data: object, complaint: str) -> None:
    refused(store, data, complaint)


def test_a_refused_message_late_in_a_file_stores_none_of_the_earlier_ones(store: ConversationStore) -> None:
    good = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(500)]
    bad = {"role": "assistant", "content": "x", "stats": {"generation_tps": "fast"}}
    refused(store, {"title": "long", "messages": [*good, bad]}, "messages[500].stats.generation_tps")
    assert store.search("turn") == []


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"messages": ' + "[" * 50_000, "nested too deeply"),
        ('{"messages": [{"role": "user", "content": "a", "created_at": ' + "9" * 5000 + "}]}",
         "a number too large to read"),
        ('{"messages": [', "not valid JSON"),
    ],
)  # fmt: skip
def test_parsing_a_chat_file_refuses_deep_nesting_and_huge_numbers(text: str, complaint: str) -> None:
    with pytest.raises(ChatFileError, match=re.escape(complaint)) as caught:
        parse_chat_json(text, "chat.json")
    assert caught.value.hint


def test_reading_a_chat_file_stops_at_the_size_cap(store: ConversationStore, tmp_path: Path) -> None:
    from desktop_app.core.chat_transfer import MAX_FILE_BYTES

    big = tmp_path / "big.json"
    body = json.dumps({"title": "big", "messages": [{"role": "user", "content": ""}]})
    big.write_text(body.replace('""', '"' + "x" * MAX_FILE_BYTES + '"'), encoding="utf-8")
    with pytest.raises(ChatFileError, match="larger than 32 MiB"):
        read_chat_file(big)
    assert store.list_conversations() == []


def test_an_imported_chat_stores_values_in_the_types_the_ui_expects(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Painting reads these back; what passed the checks must come out as numbers and text in range.
    The file starts with a byte order mark, as Windows Notepad saves UTF-8."""
    data = one_reply(
        created_at=1714557600,
        stats={"completion_tokens": 3, "generation_tps": 30, "ttft_s": 0.25, "stop_reason": "eos",
               "future_field": "kept"},
        sampling={"temperature": 0.8, "seed": 7, "stop": ["###"]},
        model="Gemma", state="streaming",
    )  # fmt: skip
    data["messages"][0]["created_at"] = "2024-05-01T12:00:00"  # no zone: UTC
    chat_file = tmp_path / "chat.json"
    chat_file.write_text(json.dumps(data), encoding="utf-8-sig")
    conversation_id = store.import_json(read_chat_file(chat_file))
    user, reply = store.path(conversation_id)
    assert user.created_at == 1714564800.0 and isinstance(user.created_at, float)
    assert reply.created_at == 1714557600.0 and isinstance(reply.created_at, float)
    assert reply.state == "interrupted"  # nothing is streaming it any more
    assert reply.stats == data["messages"][1]["stats"]
    assert reply.sampling == {"temperature": 0.8, "seed": 7, "stop": ["###"]}
    (summary,) = store.list_conversations()
    assert summary.created_at == 1714557600.0 and summary.model_name == "Gemma"
    assert summary.to_dict()["created_at"] == "2024-05-01T10:00:00+00:00"


# ------------------------------------------------------------------------------------- kill -9

LONG_PROMPT = "Write a very long story about a lighthouse keeper and the sea, with many chapters."


@pytest.mark.gemma
@pytest.mark.slow
def test_kill_9_mid_reply_keeps_the_prompt_and_the_partial_reply(gemma_path: Path, hearth_home: Path) -> None:
    env = {**os.environ, "HEARTH_HOME": str(hearth_home), "PYTHONUNBUFFERED": "1"}
    args = ["chat", "--model", str(gemma_path), "--prompt", LONG_PROMPT, "--max-tokens", "2000",
            "--seed", "1", "--temperature", "0.8", "--threads", "1", "--save"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    database = app_paths().database
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        reader: sqlite3.Connection | None = None
        while len(seen) < 2:  # two different non-empty saves: the reply is growing
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the reply never started growing in the database"
            time.sleep(0.1)
            try:
                if reader is None:
                    if not database.exists():
                        continue
                    reader = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
                row = reader.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchone()
            except sqlite3.OperationalError:  # the schema is not there yet
                continue
            if row and row[0] and (not seen or row[0] != seen[-1]):
                seen.append(row[0])
        if reader is not None:
            reader.close()
        time.sleep(0.5)  # land somewhere inside a save interval
        killed_at = time.time()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    streamed = process.stdout.read().decode("utf-8", errors="replace") if process.stdout else ""
    assert process.returncode == -signal.SIGKILL

    raw = sqlite3.connect(database)  # plain SQLite first: recovers the WAL, checks every page
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    raw.close()

    store = ConversationStore(Database(database))
    (summary,) = store.list_conversations()
    user, reply = store.path(summary.id)
    assert (user.role, user.content, user.state) == ("user", LONG_PROMPT, "complete")
    assert reply.role == "assistant" and reply.parent_id == user.id
    assert reply.state == "streaming"  # on disk; the app marks it "interrupted" when it next starts
    assert len(reply.content) >= len(seen[-1]) > len(seen[0]) > 0
    assert streamed.startswith(reply.content) or reply.content.startswith(streamed)
    assert reply.sampling is not None and reply.sampling["seed"] == 1
    lost_chars = len(streamed) - len(reply.content)
    since_save = killed_at - reply.updated_at
    print(
        f"\nkill -9: saved {len(reply.content)} chars ({len(reply.content.encode())} bytes) of "
        f"{len(streamed)} streamed; lost {lost_chars} chars; last save {since_save:.2f} s before the kill"
    )
    assert since_save < 2.5, since_save  # saves come about once a second
    assert store.recover_interrupted(stale_after_s=0) == 1
    assert store.get_message(reply.id).state == "interrupted"
