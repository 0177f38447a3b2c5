"""One chat turn, the same for every front end: the GUI's chat page, `hearth chat --save`, and what comes
next (documents, remote providers, batch jobs).

A turn stores before it generates. `begin` commits the user's message (creating the conversation on the
first turn), `edit` commits a new user message next to the edited one (a branch), `regenerate` adds a
reply next to the old one, and `continue_reply` reopens the last reply. Each then creates or reopens the
assistant message in state "streaming" and returns a `ChatTurn`: what to send the engine, read back from
the store (the system prompt and the branch that leads to the reply), the sampling with the seed fixed
and recorded on the reply, and the `ReplyWriter` to feed with the engine's events. Whoever runs the
engine feeds the writer on its own thread; it saves at most once a second, so a crash loses at most
about a second of the reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from desktop_app.core.conversation_records import Conversation, Message
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.documents.context import (
    Attachment,
    DocumentContext,
    DocumentSource,
    TokenCounter,
    build_context,
    context_budget,
    estimate_tokens,
    message_with,
)
from desktop_app.core.engine import Message as EngineMessage
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.reply_writer import FLUSH_INTERVAL_S, ReplyWriter, with_fixed_seed

__all__ = [
    "ChatSession",
    "ChatTurn",
    "NewConversation",
    "document_messages",
    "engine_messages",
    "with_documents",
]


@dataclass(frozen=True)
class NewConversation:
    """What a conversation created by its first turn records (`begin` with no conversation yet)."""

    model_name: str | None = None
    model_path: str | None = None
    model_id: str | None = None
    system_prompt: str = ""
    settings: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ChatTurn:
    """A turn ready to generate. Hand `writer` to whoever runs the engine and touch it no more: it is
    fed, and finished, on that thread."""

    conversation: Conversation
    prompt: Message | None  # the user's message this turn added (begin, edit); None otherwise
    reply: Message  # the assistant message being written, state "streaming"
    messages: list[EngineMessage]  # system prompt + the branch before the reply (and the reply, continuing)
    sampling: SamplingSettings  # seed fixed; a new reply records it (a continued one keeps its own)
    continue_last: bool  # the engine extends the last message instead of starting a new one
    writer: ReplyWriter


def engine_messages(
    conversation: Conversation, branch: Sequence[Message], *, continuing: int | None = None
) -> list[EngineMessage]:
    """The engine's view of a branch: the system prompt when it has text, then every message, except
    empty replies (failed, or stopped at once) unless it is the one being continued."""
    messages: list[EngineMessage] = [
        {"role": m.role, "content": m.content}
        for m in branch
        if m.content or m.role == "user" or m.id == continuing
    ]
    if conversation.system_prompt.strip():
        messages.insert(0, {"role": "system", "content": conversation.system_prompt})
    return messages


class ChatSession:
    """Starts chat turns on a ConversationStore. Holds no conversation of its own: every call names
    the conversation or message it acts on, so one session serves any number of chats and threads."""

    def __init__(self, store: ConversationStore, *, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s  # how often a streaming reply is saved

    def begin(
        self,
        conversation: int | NewConversation,
        text: str,
        sampling: SamplingSettings,
        *,
        model: str | None = None,
    ) -> ChatTurn:
        """A new user message at the end of the conversation's current branch, and its reply.
        `NewConversation` creates the conversation first (its title comes from `text`)."""
        if isinstance(conversation, NewConversation):
            conversation_id = self.store.create_conversation(
                model_name=conversation.model_name,
                model_path=conversation.model_path,
                model_id=conversation.model_id,
                system_prompt=conversation.system_prompt,
                settings=conversation.settings,
            ).id
        else:
            conversation_id = conversation
        prompt = self.store.add_message(conversation_id, "user", text)
        return self._reply(conversation_id, prompt, sampling, model=model, parent_id=prompt.id)

    def edit(
        self, message_id: int, text: str, sampling: SamplingSettings, *, model: str | None = None
    ) -> ChatTurn:
        """A new version of the user message `message_id`, as its sibling (the old one and its replies
        stay, one "< 1/2 >" step away), and a reply to it."""
        edited = self.store.get_message(message_id)
        if edited.role != "user":
            raise ValueError("only a user message can be edited")
        prompt = self.store.add_message(edited.conversation_id, "user", text, sibling_of=message_id)
        return self._reply(edited.conversation_id, prompt, sampling, model=model, parent_id=prompt.id)

    def regenerate(
        self, message_id: int, sampling: SamplingSettings, *, model: str | None = None
    ) -> ChatTurn:
        """Another reply next to the reply `message_id`, to the same history."""
        old = self.store.get_message(message_id)
        if old.role != "assistant":
            raise ValueError("only an assistant message can be regenerated")
        return self._reply(old.conversation_id, None, sampling, model=model, sibling_of=message_id)

    def reply(self, message_id: int, sampling: SamplingSettings, *, model: str | None = None) -> ChatTurn:
        """A reply to the user message `message_id` that has none yet (an imported chat, a deleted
        reply): the chat's "Reply" button. `begin` would add a second user message and `regenerate`
        needs a reply to sit beside. The message must end the branch on screen (ValueError otherwise:
        the chat moved on meanwhile)."""
        prompt = self.store.get_message(message_id)
        if prompt.role != "user":
            raise ValueError("only a user's message can be replied to")
        branch = self.store.path(prompt.conversation_id)
        if not branch or branch[-1].id != message_id:
            raise ValueError("only the last message of the branch shown can be replied to")
        return self._reply(prompt.conversation_id, None, sampling, model=model, parent_id=message_id)

    def continue_reply(self, message_id: int, sampling: SamplingSettings) -> ChatTurn:
        """Extend the reply `message_id`, the last message of the branch on screen; its text is kept."""
        reply = self.store.get_message(message_id)
        branch = self.store.path(reply.conversation_id)
        if not branch or branch[-1].id != message_id:
            raise ValueError("only the last reply of the branch shown can be continued")
        writer = self.store.continue_reply(message_id, interval_s=self.interval_s)
        return self._turn(
            None, self.store.get_message(message_id), with_fixed_seed(sampling), writer, continuing=True
        )

    # -- helpers -----------------------------------------------------------------------------------

    def _reply(
        self,
        conversation_id: int,
        prompt: Message | None,
        sampling: SamplingSettings,
        *,
        model: str | None,
        parent_id: int | None = None,
        sibling_of: int | None = None,
    ) -> ChatTurn:
        fixed = with_fixed_seed(sampling)  # recorded with the reply, so it can be reproduced
        writer = self.store.start_reply(
            conversation_id,
            parent_id,
            sibling_of=sibling_of,
            model=model,
            sampling=fixed,
            interval_s=self.interval_s,
        )
        return self._turn(prompt, self.store.get_message(writer.message_id), fixed, writer, continuing=False)

    def _turn(
        self,
        prompt: Message | None,
        reply: Message,
        sampling: SamplingSettings,
        writer: ReplyWriter,
        *,
        continuing: bool,
    ) -> ChatTurn:
        conversation = self.store.get_conversation(reply.conversation_id)
        branch = self.store.path(reply.conversation_id, reply.id)
        if not continuing:
            branch = branch[:-1]  # the new, empty reply is what the engine writes, not what it reads
        return ChatTurn(
            conversation=conversation,
            prompt=prompt,
            reply=reply,
            messages=engine_messages(conversation, branch, continuing=reply.id if continuing else None),
            sampling=sampling,
            continue_last=continuing,
            writer=writer,
        )


def with_documents(
    store: ConversationStore,
    turn: ChatTurn,
    source: DocumentSource,
    *,
    n_ctx: int,
    count_tokens: TokenCounter | None = None,
) -> tuple[list[EngineMessage], DocumentContext]:
    """A turn of a chat with documents attached (its settings say which): retrieve for the turn's
    question, store what was retrieved with the reply, and return the messages to send. Run it off
    the GUI thread (it reads the index). A continued reply is sent the sources it was first shown."""
    attachment = Attachment.from_settings(turn.conversation.settings)
    if turn.continue_last:
        messages = list(turn.messages)
        at = _last_user(messages)
        sources = store.sources(turn.reply.id)
        if at is None or not sources:
            return messages, DocumentContext("", (), "none", "")
        question = str(messages[at]["content"])
        context = DocumentContext(question, tuple(sources), "passages", message_with(question, sources))
        messages[at] = {**messages[at], "content": context.message}
        return messages, context
    messages, context = document_messages(
        turn.messages, attachment, source, n_ctx=n_ctx, reply_tokens=turn.sampling.max_tokens,
        count_tokens=count_tokens,
    )  # fmt: skip
    store.save_sources(turn.reply.id, context.sources)
    return messages, context


def document_messages(
    messages: Sequence[EngineMessage],
    attachment: Attachment,
    source: DocumentSource,
    *,
    n_ctx: int,
    reply_tokens: int,
    count_tokens: TokenCounter | None = None,
) -> tuple[list[EngineMessage], DocumentContext]:
    """`messages` with the last user message carrying the sources for its question (the GUI's turns
    and `hearth chat --docs` alike). Earlier turns are sent as the user wrote them: each turn brings
    its own sources, so the context holds one turn's documents at a time."""
    out = list(messages)
    at = _last_user(out)
    if at is None or not attachment:
        return out, DocumentContext("", (), "none", "")
    question = str(out[at]["content"])
    count = count_tokens or estimate_tokens
    used = sum(count(str(m["content"])) for i, m in enumerate(out) if i != at) + count(question)
    budget = context_budget(n_ctx, used, reply_tokens)
    context = build_context(question, attachment, source, budget, count_tokens=count_tokens)
    out[at] = {**out[at], "content": context.message}
    return out, context


def _last_user(messages: Sequence[EngineMessage]) -> int | None:
    return next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), None)
