"""A reply's document sources (issue #15) in chat export and import, on real SQLite files: the JSON
keeps them whole and brings them back, Markdown names each [n]'s file and page, a hostile file's
sources are refused with a message naming the field (storing nothing), and a file from before sources
still imports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.chat_transfer import MARKDOWN_SOURCES, MAX_SOURCES, MAX_SOURCES_TOTAL
from desktop_app.core.conversations import ChatFileError, ConversationStore, parse_chat_json, read_chat_file
from desktop_app.core.db import Database
from desktop_app.core.documents.passages import Passage
from tests.test_chats_cli import open_store
from tests.test_cli_engine import hearth

REPORT = "/home/ana/docs/Annual report.pdf"
NOTES = "/home/ana/docs/notes.txt"


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(Database(tmp_path / "hearth.db"))


def cited_chat(store: ConversationStore) -> tuple[int, int]:
    """A chat whose reply was shown three sources and cites [2] and [1]; returns (chat, reply) ids."""
    conversation = store.create_conversation(model_name="Gemma 3 270m")
    store.add_message(conversation.id, "user", "How did sales go?")
    reply = store.add_message(
        conversation.id, "assistant", "Up 4% [2], led by Europe [1].", model="Gemma 3 270m"
    )
    store.save_sources(
        reply.id,
        [
            Passage(REPORT, 3, "Sales in Europe rose.", 0.9, 10, 31, 7),
            Passage(REPORT, 12, "Total sales: +4%.", 0.7, 0, 17, 8),
            Passage(NOTES, None, "Ask about Q3 — «draft».", 0.1, 5, 28, 9),
        ],
    )
    store.add_message(conversation.id, "user", "Thanks")
    return conversation.id, reply.id


def reply_sources(store: ConversationStore, conversation_id: int) -> list[Passage]:
    """The sources of the chat's one reply that has any."""
    found = store.sources_of(conversation_id)
    assert len(found) == 1, found
    return next(iter(found.values()))


def exported(store: ConversationStore, conversation_id: int) -> dict[str, Any]:
    data = json.loads(store.export_text(conversation_id, "json"))
    assert isinstance(data, dict)
    return data


def test_json_export_carries_each_source_and_import_restores_it(store: ConversationStore) -> None:
    conversation_id, reply_id = cited_chat(store)
    data = exported(store, conversation_id)
    user, reply, thanks = data["messages"]
    assert "sources" not in user and "sources" not in thanks
    assert reply["sources"] == [
        {"n": 1, "file": REPORT, "page": 3, "text": "Sales in Europe rose.", "score": 0.9, "start": 10,
         "end": 31, "cited": True},
        {"n": 2, "file": REPORT, "page": 12, "text": "Total sales: +4%.", "score": 0.7, "start": 0, "end": 17,
         "cited": True},
        {"n": 3, "file": NOTES, "page": None, "text": "Ask about Q3 — «draft».", "score": 0.1, "start": 5,
         "end": 28, "cited": False},
    ]  # fmt: skip

    copy_id = store.import_json(parse_chat_json(store.export_text(conversation_id, "json"), "chat.json"))
    restored = reply_sources(store, copy_id)
    original = store.sources(reply_id)
    # everything but the chunk id, which is a place in this machine's index, not in the file
    assert restored == [Passage(p.file, p.page, p.text, p.score, p.start, p.end, 0) for p in original]
    copy_reply = store.path(copy_id)[1]
    assert store.sources(copy_reply.id) == restored
    again = exported(store, copy_id)
    assert again["messages"] == data["messages"]  # a second round trip changes nothing


def test_export_keeps_the_sources_of_the_branch_shown(store: ConversationStore) -> None:
    conversation_id, reply_id = cited_chat(store)
    other = store.add_message(conversation_id, "assistant", "No sources here.", sibling_of=reply_id)
    data = exported(store, conversation_id)
    assert [m["content"] for m in data["messages"]] == ["How did sales go?", "No sources here."]
    assert all("sources" not in m for m in data["messages"])
    store.select_branch(reply_id)
    assert len(exported(store, conversation_id)["messages"][1]["sources"]) == 3
    assert store.sources(other.id) == []


def test_markdown_names_the_file_and_page_of_each_source(store: ConversationStore) -> None:
    conversation_id, _ = cited_chat(store)
    text = store.export_text(conversation_id, "md")
    assert text == store.export_markdown(conversation_id)
    reply_part = text.split("## Assistant", 1)[1].split("## User", 1)[0]
    assert reply_part.strip().splitlines() == [
        "Up 4% [2], led by Europe [1].",
        "",
        "**Sources**",
        "",
        "- [1] Annual report.pdf, p. 3",
        "- [2] Annual report.pdf, p. 12",
        "- [3] notes.txt",
    ]
    assert "Sales in Europe rose." not in text  # the passages themselves are the JSON's


def test_markdown_lists_only_the_cited_sources_of_a_long_list(store: ConversationStore) -> None:
    conversation = store.create_conversation()
    store.add_message(conversation.id, "user", "Summarise the book")
    reply = store.add_message(conversation.id, "assistant", "It ends well [40]; see also [2, 3].")
    pages = [Passage("C:\\Books\\novel.pdf", n, f"page {n}", 0.0) for n in range(1, 51)]
    store.save_sources(reply.id, pages)
    text = store.export_markdown(conversation.id)
    assert len(pages) > MARKDOWN_SOURCES
    assert "- [2] novel.pdf, p. 2\n- [3] novel.pdf, p. 3\n- [40] novel.pdf, p. 40\n" in text
    assert "- [1] " not in text
    assert "47 more shown to the model but not cited; the JSON export has them all" in text


def test_sources_survive_the_command_line_export_and_import(hearth_home: Path, tmp_path: Path) -> None:
    store = open_store()
    conversation_id, _ = cited_chat(store)
    target = tmp_path / "sales.json"
    result = hearth(["chats", "export", str(conversation_id), "--format", "json", "-o", target], hearth_home)
    assert result.returncode == 0, result.stderr
    assert read_chat_file(target) == store.export_json(conversation_id)
    result = hearth(["chats", "import", target], hearth_home)
    assert result.returncode == 0, result.stderr
    newest = max(summary.id for summary in store.list_conversations())
    assert newest != conversation_id
    assert [p.file for p in reply_sources(store, newest)] == [REPORT, REPORT, NOTES]


def crafted(sources: object, *, copies: int = 1) -> dict[str, Any]:
    """A chat file whose reply (or `copies` replies) carries `sources` as given."""
    messages: list[dict[str, Any]] = []
    for _ in range(copies):
        messages += [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A [1]", "sources": sources},
        ]
    return {"title": "Crafted", "messages": messages}


GOOD = {"n": 1, "file": REPORT, "page": 3, "text": "t", "score": 0.5, "start": 0, "end": 1, "cited": True}


@pytest.mark.parametrize(
    ("sources", "complaint"),
    [
        ("all of them", "messages[1].sources is text, not a list"),
        ({"n": 1}, "messages[1].sources is an object, not a list"),
        ([GOOD] * (MAX_SOURCES + 1), f"messages[1].sources has {MAX_SOURCES + 1:,} entries; at most"),
        ([GOOD, "x"], "messages[1].sources[1] is text, not an object"),
        ([{**GOOD, "n": 2}], "messages[1].sources[0].n is 2; sources are numbered 1, 2, … in order"),
        ([{**GOOD, "n": "1"}], "messages[1].sources[0].n is '1'"),
        ([{**GOOD, "n": True}], "messages[1].sources[0].n is True"),
        (
            [GOOD, GOOD],
            "messages[1].sources[1].n is 1; sources are numbered 1, 2, … in order, so it must be 2",
        ),
        ([{k: v for k, v in GOOD.items() if k != "file"}], "messages[1].sources[0].file is missing"),
        ([{**GOOD, "file": "  "}], "messages[1].sources[0].file is empty"),
        ([{**GOOD, "file": ["a"]}], "messages[1].sources[0].file is a list, not text"),
        ([{**GOOD, "file": "x" * 10_001}], "messages[1].sources[0].file is too long"),
        ([{**GOOD, "page": 0}], "messages[1].sources[0].page is out of range (0; it must be from 1"),
        ([{**GOOD, "page": 2**63}], "messages[1].sources[0].page is out of range"),
        ([{**GOOD, "page": 3.5}], "messages[1].sources[0].page is a number, not a whole number"),
        ([{**GOOD, "text": {"a": 1}}], "messages[1].sources[0].text is an object, not text"),
        ([{**GOOD, "text": "y" * 4_000_001}], "messages[1].sources[0].text is too long"),
        ([{**GOOD, "text": "bad \ud800"}], "messages[1].sources[0].text holds an unpaired surrogate"),
        ([{**GOOD, "score": "high"}], "messages[1].sources[0].score is text, not a number"),
        ([{**GOOD, "score": float("nan")}], "messages[1].sources[0].score is out of range (nan)"),
        ([{**GOOD, "score": 10**400}], "messages[1].sources[0].score is out of range"),
        ([{**GOOD, "start": -1}], "messages[1].sources[0].start is out of range"),
        ([{**GOOD, "end": None}], "messages[1].sources[0].end is null, not a whole number"),
        ([{**GOOD, "cited": "yes"}], "messages[1].sources[0].cited is text, not true/false"),
    ],
)
def test_a_bad_sources_list_refuses_the_file_and_stores_nothing(
    store: ConversationStore, sources: object, complaint: str
) -> None:
    with pytest.raises(ChatFileError) as refused:
        store.import_json(copy.deepcopy(crafted(sources)))
    assert complaint in refused.value.message, refused.value.message
    assert "\n" not in refused.value.message
    assert store.list_conversations() == []
    assert store.db.read("SELECT COUNT(*) FROM message_sources").fetchone()[0] == 0


def test_the_sources_of_a_whole_chat_are_bounded(store: ConversationStore) -> None:
    many = [{**GOOD, "n": n} for n in range(1, MAX_SOURCES + 1)]
    copies = MAX_SOURCES_TOTAL // MAX_SOURCES + 1
    with pytest.raises(ChatFileError) as refused:
        store.import_json(crafted(many, copies=copies))
    assert f"at most {MAX_SOURCES_TOTAL:,} can be imported" in refused.value.message
    assert store.list_conversations() == []


def test_a_full_but_allowed_sources_list_imports(store: ConversationStore) -> None:
    many = [{"file": f"/d/{n}.txt", "text": str(n)} for n in range(1, MAX_SOURCES + 1)]  # "n" may be left out
    conversation_id = store.import_json(crafted(many))
    sources = reply_sources(store, conversation_id)
    assert len(sources) == MAX_SOURCES
    assert sources[-1] == Passage(f"/d/{MAX_SOURCES}.txt", None, str(MAX_SOURCES), 0.0)


def test_unknown_keys_in_a_source_are_ignored_and_cited_is_read_from_the_text(
    store: ConversationStore,
) -> None:
    source = {**GOOD, "cited": False, "collection": "work", "chunk_id": 99, "extra": {"deep": [1]}}
    conversation_id = store.import_json(crafted([source]))
    assert reply_sources(store, conversation_id) == [Passage(REPORT, 3, "t", 0.5, 0, 1, 0)]
    # the reply's text says [1]: the export says so, whatever the file claimed
    assert exported(store, conversation_id)["messages"][1]["sources"][0]["cited"] is True


def test_an_export_from_before_sources_still_imports(store: ConversationStore, tmp_path: Path) -> None:
    old = {
        "id": 7,
        "title": "Older export",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi", "created_at": "2026-05-01T10:00:00+00:00"},
            {"role": "assistant", "content": "Hello [1].", "model": "Gemma 3 270m"},
        ],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    conversation_id = store.import_json(read_chat_file(path))
    assert store.sources_of(conversation_id) == {}
    data = exported(store, conversation_id)
    assert [m["content"] for m in data["messages"]] == ["Be brief.", "Hi", "Hello [1]."]
    assert all("sources" not in m for m in data["messages"])
    assert "**Sources**" not in store.export_markdown(conversation_id)
    # "sources": null and an empty list are the same as none
    empty: list[Any] | None
    for empty in (None, []):
        again = store.import_json(crafted(empty))
        assert store.sources_of(again) == {}
