"""The records of the conversation store: conversations, messages and hits as frozen values, the
typed errors, and how they are read from and written to SQLite rows (JSON columns included).

Kept apart from the store so the message tree, the reply writer and search can share them without
importing each other.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from desktop_app.core.chat_transfer import iso_time
from desktop_app.core.engine import GenerationStats
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import SamplingSettings

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
MessageState = Literal["complete", "streaming", "cancelled", "failed", "interrupted"]
ROLES: Final[tuple[str, ...]] = ("system", "user", "assistant")
STATES: Final[tuple[str, ...]] = ("complete", "streaming", "cancelled", "failed", "interrupted")

DEFAULT_TITLE: Final = "New chat"
TITLE_LENGTH: Final = 60

NO_CONVERSATION_HINT: Final = "It may have been deleted; the list of conversations shows the ones you have."
NO_MESSAGE_HINT: Final = "It may have been deleted; reload the chat."


class UnknownConversationError(HearthError):
    title = "No such conversation"
    exit_code = 2


class UnknownMessageError(HearthError):
    title = "No such message"
    exit_code = 2


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str  # "" until the first user message names it; use display_title to show it
    model_id: str | None  # library id, when the model is in the library
    model_path: str | None
    model_name: str | None
    system_prompt: str
    settings: dict[str, Any]
    current_leaf_id: int | None
    created_at: float
    updated_at: float  # last activity: a message added or a reply finished
    pinned_at: float | None = None  # pinned chats are listed first; None: not pinned

    @property
    def display_title(self) -> str:
        return self.title or DEFAULT_TITLE


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    reasoning: str
    state: MessageState
    created_at: float
    updated_at: float
    model: str | None = None
    sampling: dict[str, Any] | None = None  # SamplingSettings.to_dict(), with the seed actually used
    stats: dict[str, Any] | None = None  # GenerationStats.to_dict()
    error: str | None = None


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    model_name: str | None
    created_at: float
    updated_at: float
    message_count: int
    pinned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "model": self.model_name,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "message_count": self.message_count,
            "pinned": self.pinned,
        }


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    snippet: str  # the matched terms are wrapped in the markers given to search()
    role: Role


def title_from(text: str) -> str:
    """A conversation title from its first prompt: the first line, cut at a word near 60 chars."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line)
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:") + "…"


def unknown_conversation(conversation_id: int) -> UnknownConversationError:
    return UnknownConversationError(f"There is no conversation {conversation_id}.", hint=NO_CONVERSATION_HINT)


def unknown_message(message_id: int) -> UnknownMessageError:
    return UnknownMessageError(f"There is no message {message_id}.", hint=NO_MESSAGE_HINT)


def require_conversation(conn: sqlite3.Connection, conversation_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    if row is None:
        raise unknown_conversation(conversation_id)
    return row


def require_message(conn: sqlite3.Connection, message_id: int, conversation_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise unknown_message(message_id)
    if row["conversation_id"] != conversation_id:
        raise ValueError(f"message {message_id} is not in conversation {conversation_id}")
    return row


def lastrowid(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def dump_optional(value: SamplingSettings | GenerationStats | Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, SamplingSettings | GenerationStats):
        return dump(value.to_dict())
    return dump(dict(value))


def load_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("unreadable JSON in the database: %.80r", text)
        return None
    return value if isinstance(value, dict) else None


def conversation_from(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        model_id=row["model_id"],
        model_path=row["model_path"],
        model_name=row["model_name"],
        system_prompt=row["system_prompt"],
        settings=load_json(row["settings"]) or {},
        current_leaf_id=row["current_leaf_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        pinned_at=row["pinned_at"] if "pinned_at" in row.keys() else None,  # noqa: SIM118 - a Row's `in` looks at values
    )


def message_from(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        parent_id=row["parent_id"],
        role=cast(Role, row["role"]),
        content=row["content"],
        reasoning=row["reasoning"],
        state=cast(MessageState, row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        model=row["model"],
        sampling=load_json(row["sampling"]),
        stats=load_json(row["stats"]),
        error=row["error"],
    )
