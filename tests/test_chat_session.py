"""ChatSession against a real SQLite store, no model: the writer is fed TextDelta and GenerationStats
as the engine would feed them."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.chat_session import ChatSession, ChatTurn, NewConversation
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats, TextDelta
from desktop_app.core.generation import SamplingSettings, StopReason


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "hearth.db")


@pytest.fixture
def store(db: Database) -> ConversationStore:
    return ConversationStore(db)


@pytest.fixture
def session(store: ConversationStore) -> ChatSession:
    return ChatSession(store)


def stats(tokens: int = 3, stop_reason: StopReason = "eos") -> GenerationStats:
    return GenerationStats(
        prompt_tokens=10, cached_tokens=0, evaluated_tokens=10, completion_tokens=tokens, ttft_s=0.1,
        prefill_tps=100.0, generation_tps=30.0, stop_reason=stop_reason,
    )  # fmt: skip


def run(turn: ChatTurn, *parts: str, reasoning: str = "") -> None:
    """What the engine's runner does: feed every event, then the stats."""
    if reasoning:
        turn.writer.feed(TextDelta(reasoning, "reasoning"))
    for part in parts:
        turn.writer.feed(TextDelta(part))
    turn.writer.feed(stats(len(parts)))


def test_begin_creates_the_conversation_and_stores_the_prompt_before_generating(
    store: ConversationStore, session: ChatSession
) -> None:
    new = NewConversation(
        model_name="Tiny", model_path="/m/tiny.gguf", system_prompt="Be brief.", settings={"a": 1}
    )
    turn = session.begin(new, "Name a blue fruit", SamplingSettings(temperature=0.8), model="Tiny")
    conversation = store.get_conversation(turn.conversation.id)
    assert (conversation.title, conversation.model_name, conversation.model_path) == (
        "Name a blue fruit", "Tiny", "/m/tiny.gguf",
    )  # fmt: skip
    assert conversation.settings == {"a": 1} and turn.conversation == conversation
    assert turn.prompt is not None and store.get_message(turn.prompt.id).content == "Name a blue fruit"
    assert turn.reply.state == "streaming" and turn.reply.parent_id == turn.prompt.id
    assert turn.reply.model == "Tiny" and not turn.continue_last
    assert turn.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a blue fruit"},
    ]
    # the seed is picked here, used by the engine, and recorded with the reply
    assert turn.sampling.seed is not None and turn.sampling.temperature == 0.8
    assert store.get_message(turn.reply.id).sampling == turn.sampling.to_dict()

    run(turn, "A blue", "berry.", reasoning="blue things")
    reply = store.get_message(turn.reply.id)
    assert (reply.content, reply.reasoning, reply.state) == ("A blueberry.", "blue things", "complete")
    assert reply.stats and reply.stats["completion_tokens"] == 2

    # the next turn continues the same conversation; its history is read back from the store
    second = session.begin(conversation.id, "And a red one?", SamplingSettings(seed=5))
    assert second.conversation.id == conversation.id and second.sampling.seed == 5
    assert second.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a blue fruit"},
        {"role": "assistant", "content": "A blueberry."},  # the answer only, never the reasoning
        {"role": "user", "content": "And a red one?"},
    ]
    assert store.get_message(second.reply.id).sampling == SamplingSettings(seed=5).to_dict()


def test_the_history_comes_from_the_store(store: ConversationStore, session: ChatSession) -> None:
    """Empty replies are left out, a blank system prompt too, and a prompt changed in the store is
    what the next turn sends."""
    conversation = store.create_conversation(system_prompt="   ")
    first = session.begin(conversation.id, "Hello", SamplingSettings())
    first.writer.fail(RuntimeError("the model crashed"))  # failed before any text: an empty reply
    stopped = session.begin(conversation.id, "Hello again", SamplingSettings())
    stopped.writer.feed(stats(0, "cancelled"))  # stopped at once: empty too
    assert store.get_message(stopped.reply.id).state == "cancelled"
    partial = session.begin(conversation.id, "Once more", SamplingSettings())
    partial.writer.feed(TextDelta("Half an ans"))
    partial.writer.fail("out of memory")  # failed with text: the text is kept and sent

    store.update_conversation(conversation.id, system_prompt="Answer in French.")
    turn = session.begin(conversation.id, "Why?", SamplingSettings())
    assert turn.messages == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": "Hello again"},
        {"role": "user", "content": "Once more"},
        {"role": "assistant", "content": "Half an ans"},
        {"role": "user", "content": "Why?"},
    ]
    assert [m.state for m in store.path(conversation.id)][1::2] == [
        "failed",
        "cancelled",
        "failed",
        "streaming",
    ]


def test_edit_branches_and_sends_only_the_new_branch(store: ConversationStore, session: ChatSession) -> None:
    first = session.begin(NewConversation(), "The capital of France is", SamplingSettings())
    run(first, "Paris.")
    second = session.begin(first.conversation.id, "And of Spain?", SamplingSettings())
    run(second, "Madrid.")
    assert second.prompt is not None

    edited = session.edit(second.prompt.id, "And of Italy?", SamplingSettings(), model="Tiny")
    assert edited.prompt is not None and edited.prompt.parent_id == second.prompt.parent_id
    assert [m.id for m in store.siblings(second.prompt.id)] == [second.prompt.id, edited.prompt.id]
    assert edited.messages == [
        {"role": "user", "content": "The capital of France is"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]
    run(edited, "Rome.")
    assert [m.content for m in store.path(first.conversation.id)] == [
        "The capital of France is", "Paris.", "And of Italy?", "Rome.",
    ]  # fmt: skip
    assert store.children(second.prompt.id)[0].content == "Madrid."  # the old branch is kept
    assert first.reply.id != edited.reply.id
    with pytest.raises(ValueError, match="user message"):
        session.edit(edited.reply.id, "no", SamplingSettings())

    # the first prompt (a root) can be edited too: a new root, and a history of that prompt alone
    assert first.prompt is not None
    root = session.edit(first.prompt.id, "The capital of Peru is", SamplingSettings())
    assert root.prompt is not None and root.prompt.parent_id is None
    assert root.messages == [{"role": "user", "content": "The capital of Peru is"}]


def test_regenerate_adds_a_sibling_reply_with_its_own_seed(
    store: ConversationStore, session: ChatSession
) -> None:
    first = session.begin(NewConversation(system_prompt="Be brief."), "Hi", SamplingSettings(seed=1))
    run(first, "Hello!")
    again = session.regenerate(first.reply.id, SamplingSettings(temperature=1.0), model="Other")
    assert again.prompt is None and not again.continue_last
    assert again.reply.parent_id == first.reply.parent_id and again.reply.model == "Other"
    assert again.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]  # the old reply is not part of the history
    assert again.sampling.seed is not None
    assert store.get_message(again.reply.id).sampling == again.sampling.to_dict()
    assert store.get_message(first.reply.id).sampling == SamplingSettings(seed=1).to_dict()
    run(again, "Hey.")
    assert store.sibling_positions(first.conversation.id)[again.reply.id] == (2, 2)
    assert [m.content for m in store.path(first.conversation.id)] == ["Hi", "Hey."]
    with pytest.raises(ValueError, match="assistant message"):
        session.regenerate(first.reply.parent_id or 0, SamplingSettings())


def test_continue_extends_the_last_reply(store: ConversationStore, session: ChatSession) -> None:
    first = session.begin(NewConversation(), "Count to five", SamplingSettings(seed=3))
    run(first, "One, two,")
    more = session.continue_reply(first.reply.id, SamplingSettings(seed=4))
    assert more.continue_last and more.prompt is None and more.reply.id == first.reply.id
    assert more.reply.state == "streaming" and more.sampling.seed == 4
    assert more.messages == [
        {"role": "user", "content": "Count to five"},
        {"role": "assistant", "content": "One, two,"},
    ]
    run(more, " three.")
    reply = store.get_message(first.reply.id)
    assert (reply.content, reply.state) == ("One, two, three.", "complete")
    assert reply.sampling == SamplingSettings(seed=3).to_dict()  # the reply keeps the seed it began with

    # an empty reply being continued is sent (it is the one the engine extends)
    empty = session.begin(first.conversation.id, "Go on", SamplingSettings())
    empty.writer.feed(stats(0, "cancelled"))
    resumed = session.continue_reply(empty.reply.id, SamplingSettings())
    assert resumed.messages[-1] == {"role": "assistant", "content": ""}
    run(resumed, "Six.")
    with pytest.raises(ValueError, match="last reply"):
        session.continue_reply(first.reply.id, SamplingSettings())  # not the end of the branch


def test_reply_answers_a_user_message_that_ends_the_branch(
    store: ConversationStore, session: ChatSession
) -> None:
    conversation = store.create_conversation("Imported")
    question = store.add_message(conversation.id, "user", "What is a hearth?")
    turn = session.reply(question.id, SamplingSettings(seed=5), model="tiny")
    assert turn.prompt is None and turn.reply.parent_id == question.id and not turn.continue_last
    assert turn.messages == [{"role": "user", "content": "What is a hearth?"}]
    assert turn.sampling.seed == 5
    run(turn, "A fireplace floor.")
    assert [m.content for m in store.path(conversation.id)] == ["What is a hearth?", "A fireplace floor."]
    with pytest.raises(ValueError, match="user"):
        session.reply(turn.reply.id, SamplingSettings())  # a reply is not a user message
    with pytest.raises(ValueError, match="last message"):
        session.reply(question.id, SamplingSettings())  # it has an answer now


def test_a_crash_keeps_what_was_saved_of_the_reply(db: Database, tmp_path: Path) -> None:
    """The writer saves as the reply grows: a process that dies mid-reply leaves the text saved so
    far; the next start marks it interrupted, and it is part of the next turn's history."""
    now = [0.0]
    store = ConversationStore(db, clock=lambda: 1000.0 + now[0])
    session = ChatSession(store, interval_s=0.0)  # save on every piece of text
    turn = session.begin(NewConversation(), "Tell me a story", SamplingSettings())
    assert turn.writer.interval_s == 0.0
    turn.writer.feed(TextDelta("Once upon"))
    turn.writer.feed(TextDelta(" a time"))
    assert turn.writer.saves == 2
    del turn  # the process dies here: no final save

    reopened = ConversationStore(Database(tmp_path / "hearth.db"), clock=lambda: 1000.0 + now[0])
    (conversation,) = reopened.list_conversations()
    saved = reopened.path(conversation.id)[-1]
    assert (saved.content, saved.state) == ("Once upon a time", "streaming")
    now[0] = 600.0
    assert reopened.recover_interrupted() == 1
    assert reopened.get_message(saved.id).state == "interrupted"
    later = ChatSession(reopened).begin(conversation.id, "Go on", SamplingSettings())
    assert later.messages[-2:] == [
        {"role": "assistant", "content": "Once upon a time"},
        {"role": "user", "content": "Go on"},
    ]


def test_a_writer_saves_at_most_once_per_interval(store: ConversationStore) -> None:
    turn = ChatSession(store).begin(NewConversation(), "Hi", SamplingSettings())
    for _ in range(50):
        turn.writer.feed(TextDelta("x"))
    assert turn.writer.saves <= 1  # the default interval is a second: no save per token
    turn.writer.feed(stats(50))
    assert store.get_message(turn.reply.id).content == "x" * 50
