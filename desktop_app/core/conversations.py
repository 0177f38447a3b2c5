"""The conversation store: chats and their messages in the app's SQLite database, never lost.

Messages form a tree. Each message points at its parent; an edited prompt or a regenerated reply is a
*sibling* of the message it replaces, so no text is ever overwritten and the GUI can step through the
alternatives ("< 1/2 >"). A conversation remembers its current leaf: the path from the root to that leaf
is what the user sees and what the model is sent.

Crash safety: every write is its own short transaction in WAL mode. The user's message is committed
before generation starts, and a reply is written by a `ReplyWriter` while it streams (at most about once
a second), so a `kill -9` loses at most a second of the reply and never corrupts the file. A reply whose
process died stays in state "streaming" on disk; `recover_interrupted()` (the GUI calls it at start-up)
marks such rows "interrupted".

IDs are SQLite integers (AUTOINCREMENT: never reused, even after a delete).
"""

from __future__ import annotations

import json
import logging
import random
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, cast

from desktop_app.core import chat_transfer
from desktop_app.core.chat_transfer import (
    ChatFileError,
    ExportFormat,
    iso_time,
    parse_chat_json,
    read_chat_file,
    write_export,
)
from desktop_app.core.db import Database, _storage_error
from desktop_app.core.engine import GenerationStats, TextDelta
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import SamplingSettings

__all__ = [  # with the chat-file names that moved to chat_transfer, so existing imports keep working
    "DEFAULT_TITLE",
    "FLUSH_INTERVAL_S",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_WORDS",
    "ROLES",
    "SEARCH_LIMIT",
    "STATES",
    "TITLE_LENGTH",
    "ChatFileError",
    "Conversation",
    "ConversationStore",
    "ConversationSummary",
    "ExportFormat",
    "Message",
    "MessageState",
    "ReplyWriter",
    "Role",
    "SearchHit",
    "UnknownConversationError",
    "UnknownMessageError",
    "iso_time",
    "parse_chat_json",
    "plain_terms",
    "read_chat_file",
    "title_from",
    "with_fixed_seed",
    "write_export",
]

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
MessageState = Literal["complete", "streaming", "cancelled", "failed", "interrupted"]
ROLES: Final[tuple[str, ...]] = ("system", "user", "assistant")
STATES: Final[tuple[str, ...]] = ("complete", "streaming", "cancelled", "failed", "interrupted")

DEFAULT_TITLE: Final = "New chat"
TITLE_LENGTH: Final = 60
FLUSH_INTERVAL_S: Final = 1.0  # a kill -9 loses at most this much of a streaming reply
SEARCH_LIMIT: Final = 50


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "model": self.model_name,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "message_count": self.message_count,
        }


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    snippet: str  # the matched terms are wrapped in the markers given to search()
    role: Role


def with_fixed_seed(sampling: SamplingSettings) -> SamplingSettings:
    """Pick the random seed here, not in the engine, so the message records the seed really used.
    Pass the result to the engine and to `start_reply`."""
    if sampling.seed is not None:
        return sampling
    return replace(sampling, seed=random.randrange(2**32))


def title_from(text: str) -> str:
    """A conversation title from its first prompt: the first line, cut at a word near 60 chars."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"\s+", " ", line)
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut.rstrip(" ,.;:") + "…"


class ConversationStore:
    """All conversation reads and writes. Safe from any thread (Database gives each its own
    connection); each public write is one transaction."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    # -- conversations -----------------------------------------------------------------------------

    def create_conversation(
        self,
        title: str = "",
        *,
        model_name: str | None = None,
        model_path: str | None = None,
        model_id: str | None = None,
        system_prompt: str = "",
        settings: Mapping[str, Any] | None = None,
    ) -> Conversation:
        now = self._clock()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, model_id, model_path, model_name, system_prompt, "
                "settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (title.strip(), model_id, model_path, model_name, system_prompt,
                 _dump(dict(settings or {})), now, now),
            )  # fmt: skip
            conversation_id = _lastrowid(cursor)
        return self.get_conversation(conversation_id)

    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self.db.read("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise UnknownConversationError(
                f"There is no conversation {conversation_id}.",
                hint="See `hearth chats list` for the conversations you have.",
            )
        return _conversation(row)

    def update_conversation(
        self,
        conversation_id: int,
        *,
        title: str | None = None,
        system_prompt: str | None = None,
        settings: Mapping[str, Any] | None = None,
        model_name: str | None = None,
        model_path: str | None = None,
        model_id: str | None = None,
    ) -> Conversation:
        """Change the given fields; the others (and updated_at, the last activity) stay."""
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title.strip()
        if system_prompt is not None:
            changes["system_prompt"] = system_prompt
        if settings is not None:
            changes["settings"] = _dump(dict(settings))
        if model_name is not None:
            changes["model_name"] = model_name
        if model_path is not None:
            changes["model_path"] = model_path
        if model_id is not None:
            changes["model_id"] = model_id
        with self.db.transaction() as conn:
            self._require_conversation(conn, conversation_id)
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                conn.execute(
                    f"UPDATE conversations SET {assignments} WHERE id = ?",
                    (*changes.values(), conversation_id),
                )
        return self.get_conversation(conversation_id)

    def rename(self, conversation_id: int, title: str) -> Conversation:
        return self.update_conversation(conversation_id, title=title)

    def delete_conversation(self, conversation_id: int) -> None:
        with self.db.transaction() as conn:
            self._require_conversation(conn, conversation_id)
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))  # messages cascade

    def list_conversations(self) -> list[ConversationSummary]:
        """Most recently active first, with message counts (every branch counted)."""
        rows = self.db.read(
            "SELECT c.id, c.title, c.model_name, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count "
            "FROM conversations c ORDER BY c.updated_at DESC, c.id DESC"
        ).fetchall()
        return [
            ConversationSummary(
                id=row["id"],
                title=row["title"] or DEFAULT_TITLE,
                model_name=row["model_name"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                message_count=row["message_count"],
            )
            for row in rows
        ]

    # -- messages ----------------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        parent_id: int | None = None,
        *,
        sibling_of: int | None = None,
        reasoning: str = "",
        state: MessageState = "complete",
        model: str | None = None,
        sampling: SamplingSettings | Mapping[str, Any] | None = None,
        stats: GenerationStats | Mapping[str, Any] | None = None,
        error: str | None = None,
        created_at: float | None = None,
    ) -> Message:
        """Append a message and make it the current leaf; committed when this returns.

        The parent is `parent_id`, or the current leaf when None. `sibling_of=X` puts the message next
        to X instead (same parent, a root when X is one): that is an edit, or a regenerated reply.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        if parent_id is not None and sibling_of is not None:
            raise ValueError("give parent_id or sibling_of, not both")
        now = self._clock()
        with self.db.transaction() as conn:
            conversation = self._require_conversation(conn, conversation_id)
            if sibling_of is not None:
                parent = self._require_message(conn, sibling_of, conversation_id)["parent_id"]
            elif parent_id is not None:
                parent = self._require_message(conn, parent_id, conversation_id)["id"]
            else:
                parent = self._current_leaf(conn, conversation)
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, state, model, "
                "sampling, stats, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent, role, content, reasoning, state, model, _dump_optional(sampling),
                 _dump_optional(stats), error, created_at if created_at is not None else now, now),
            )  # fmt: skip
            message_id = _lastrowid(cursor)
            title = conversation["title"]
            if not title and role == "user" and content.strip():
                title = title_from(content)
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ?, updated_at = ?, title = ? WHERE id = ?",
                (message_id, now, title, conversation_id),
            )
        return self.get_message(message_id)

    def get_message(self, message_id: int) -> Message:
        row = self.db.read("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise UnknownMessageError(
                f"There is no message {message_id}.", hint="It may have been deleted; reload the chat."
            )
        return _message(row)

    def path(self, conversation_id: int, leaf_id: int | None = None) -> list[Message]:
        """The messages from the root to `leaf_id` (default: the current leaf): one branch, in order."""
        conn = self.db.connection()
        if leaf_id is None:
            conversation = self._require_conversation(conn, conversation_id)
            leaf_id = self._current_leaf(conn, conversation)
            if leaf_id is None:
                return []
        else:
            self._require_message(conn, leaf_id, conversation_id)
        rows = self.db.read(
            "WITH RECURSIVE up(id, depth) AS ("
            " SELECT ?, 0"
            " UNION ALL SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
            " WHERE m.parent_id IS NOT NULL"
            ") SELECT m.* FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth DESC",
            (leaf_id,),
        ).fetchall()
        return [_message(row) for row in rows]

    def children(self, message_id: int) -> list[Message]:
        rows = self.db.read(
            "SELECT * FROM messages WHERE parent_id = ? ORDER BY id", (message_id,)
        ).fetchall()
        return [_message(row) for row in rows]

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives at this point of the tree (the message itself included), oldest first."""
        message = self.get_message(message_id)
        if message.parent_id is None:
            rows = self.db.read(
                "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS NULL ORDER BY id",
                (message.conversation_id,),
            ).fetchall()
        else:
            rows = self.db.read(
                "SELECT * FROM messages WHERE parent_id = ? ORDER BY id", (message.parent_id,)
            ).fetchall()
        return [_message(row) for row in rows]

    def sibling_positions(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """For every message of the conversation: (its 1-based place among its siblings, how many
        there are), in one query, so the GUI can draw "< 2/3 >" on a long chat without a query per row."""
        rows = self.db.read(
            "SELECT id, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id) AS position, "
            "COUNT(*) OVER (PARTITION BY parent_id) AS count FROM messages WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchall()
        return {row["id"]: (row["position"], row["count"]) for row in rows}

    def select_branch(self, message_id: int) -> list[Message]:
        """Show the branch through `message_id`: its deepest descendant (always following the newest
        child) becomes the current leaf. Returns the new path."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise UnknownMessageError(
                    f"There is no message {message_id}.", hint="It may have been deleted; reload the chat."
                )
            conversation_id = int(row["conversation_id"])
            leaf = _deepest(conn, message_id)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, conversation_id))
        return self.path(conversation_id, leaf)

    def delete_message(self, message_id: int) -> int:
        """Delete a message and everything below it. If the current leaf was among them, the newest
        remaining sibling's branch is shown, or else the parent. Returns how many messages went."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT m.conversation_id, m.parent_id, c.current_leaf_id FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                raise UnknownMessageError(
                    f"There is no message {message_id}.", hint="It may have been deleted; reload the chat."
                )
            conversation_id, parent_id, leaf = (
                row["conversation_id"],
                row["parent_id"],
                row["current_leaf_id"],
            )
            subtree = (  # SELECT id FROM sub: the message and all below it
                "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL "
                "SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id) SELECT id FROM sub"
            )
            leaf_inside = (
                leaf is not None
                and conn.execute(f"SELECT 1 FROM ({subtree}) WHERE id = ?", (message_id, leaf)).fetchone()
            )
            # a statement that starts with DELETE (not WITH), so that rowcount is set
            deleted = conn.execute(f"DELETE FROM messages WHERE id IN ({subtree})", (message_id,)).rowcount
            if leaf_inside or leaf is None:
                if parent_id is None:
                    sibling = conn.execute(
                        "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL "
                        "ORDER BY id DESC LIMIT 1",
                        (conversation_id,),
                    ).fetchone()
                else:
                    sibling = conn.execute(
                        "SELECT id FROM messages WHERE parent_id = ? ORDER BY id DESC LIMIT 1", (parent_id,)
                    ).fetchone()
                new_leaf = _deepest(conn, sibling["id"]) if sibling is not None else parent_id
                conn.execute(
                    "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (new_leaf, conversation_id)
                )
        return int(deleted)

    # -- streaming replies -------------------------------------------------------------------------

    def start_reply(
        self,
        conversation_id: int,
        parent_id: int | None = None,
        *,
        sibling_of: int | None = None,
        model: str | None = None,
        sampling: SamplingSettings | Mapping[str, Any] | None = None,
        interval_s: float = FLUSH_INTERVAL_S,
    ) -> ReplyWriter:
        """Create the assistant message (state "streaming", empty) and return the writer that fills
        it. Commit the user's message first (add_message) so it survives whatever happens next."""
        message = self.add_message(
            conversation_id, "assistant", "", parent_id, sibling_of=sibling_of, state="streaming",
            model=model, sampling=sampling,
        )  # fmt: skip
        return ReplyWriter(self, message, interval_s=interval_s)

    def continue_reply(self, message_id: int, *, interval_s: float = FLUSH_INTERVAL_S) -> ReplyWriter:
        """Append to an existing assistant message ("continue"): its text so far is kept."""
        message = self.get_message(message_id)
        if message.role != "assistant":
            raise ValueError("only an assistant message can be continued")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE messages SET state = 'streaming', error = NULL, updated_at = ? WHERE id = ?",
                (self._clock(), message_id),
            )
        return ReplyWriter(self, replace(message, state="streaming", error=None), interval_s=interval_s)

    def recover_interrupted(self, stale_after_s: float = 120.0) -> int:
        """Mark replies left "streaming" by a process that died (no write for `stale_after_s`) as
        "interrupted". A live writer sets "streaming" again on its next save, so a wrong guess heals."""
        with self.db.transaction() as conn:
            count = conn.execute(
                "UPDATE messages SET state = 'interrupted' WHERE state = 'streaming' AND updated_at <= ?",
                (self._clock() - stale_after_s,),
            ).rowcount
        return int(count)

    def _save_reply(
        self,
        message_id: int,
        content: str,
        reasoning: str,
        *,
        state: MessageState = "streaming",
        stats: Mapping[str, Any] | None = None,
        error: str | None = None,
        final: bool = False,
    ) -> None:
        now = self._clock()
        with self.db.transaction() as conn:
            if final:
                conn.execute(
                    "UPDATE messages SET content = ?, reasoning = ?, state = ?, stats = ?, error = ?, "
                    "updated_at = ? WHERE id = ?",
                    (content, reasoning, state, _dump_optional(stats), error, now, message_id),
                )
                conn.execute(
                    "UPDATE conversations SET updated_at = ? "
                    "WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                    (now, message_id),
                )
            else:
                conn.execute(
                    "UPDATE messages SET content = ?, reasoning = ?, state = 'streaming', updated_at = ? "
                    "WHERE id = ?",
                    (content, reasoning, now, message_id),
                )

    # -- search ------------------------------------------------------------------------------------

    def search(
        self, query: str, limit: int = SEARCH_LIMIT, *, marks: tuple[str, str] = ("[", "]")
    ) -> list[SearchHit]:
        """Messages whose text matches every word of `query`, best first, across every conversation
        and branch (pass a hit's message id to select_branch to show it). The query is plain words
        (a trailing * on a word matches its prefixes): whatever is typed (quotes, NEAR(, a:b, control
        characters) is never read as FTS5 syntax, so a search cannot fail on its input."""
        terms = plain_terms(query)
        if not terms:
            return []
        cursor = self.db.read(
            "SELECT m.id, m.conversation_id, m.role, c.title, "
            "snippet(messages_fts, 0, ?, ?, '…', 16) AS snippet "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN conversations c ON c.id = m.conversation_id "
            "WHERE messages_fts MATCH ? ORDER BY rank, m.id DESC LIMIT ?",
            (*marks, terms, limit),
        )
        try:
            rows = cursor.fetchall()
        except sqlite3.DatabaseError as exc:  # a damaged index shows up while stepping
            raise _storage_error(self.db.path, exc) from exc
        return [
            SearchHit(
                conversation_id=row["conversation_id"],
                message_id=row["id"],
                title=row["title"] or DEFAULT_TITLE,
                snippet=row["snippet"],
                role=row["role"],
            )
            for row in rows
        ]

    # -- export and import (the file format is chat_transfer's; the database is ours) -------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The shown branch as chat_transfer.export_json describes (what import_json reads)."""
        return chat_transfer.export_json(self.get_conversation(conversation_id), self.path(conversation_id))

    def export_text(self, conversation_id: int, fmt: ExportFormat) -> str:
        """The file's text for `fmt`: Markdown, or the JSON of export_json (what import reads)."""
        conversation = self.get_conversation(conversation_id)
        return chat_transfer.export_text(conversation, self.path(conversation_id), fmt)

    def export_markdown(self, conversation_id: int) -> str:
        """A readable document of the shown branch: the reasoning in a collapsed <details> block."""
        conversation = self.get_conversation(conversation_id)
        return chat_transfer.export_markdown(conversation, self.path(conversation_id))

    def import_json(self, data: object) -> int:
        """Store a conversation in the shape export_json writes (other tools' extra keys are ignored);
        returns the new id. Every field is checked first (chat_transfer.check_chat): a bad one raises
        ChatFileError naming it, and nothing is stored (one transaction)."""
        chat = chat_transfer.check_chat(data)
        now = self._clock()
        model_name = next((m.model for m in reversed(chat.messages) if m.model), None)
        first_at = min((m.created_at for m in chat.messages if m.created_at is not None), default=now)
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, model_name, system_prompt, settings, created_at, "
                "updated_at) VALUES (?, ?, ?, '{}', ?, ?)",
                (chat.title, model_name, chat.system_prompt, first_at, now),
            )
            conversation_id = _lastrowid(cursor)
            parent: int | None = None
            for item in chat.messages:
                created = item.created_at if item.created_at is not None else now
                cursor = conn.execute(
                    "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, state, "
                    "model, sampling, stats, error, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, parent, item.role, item.content, item.reasoning, item.state,
                     item.model, _dump_optional(item.sampling), _dump_optional(item.stats), item.error,
                     created, created),
                )  # fmt: skip
                parent = _lastrowid(cursor)
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (parent, conversation_id)
            )
        return conversation_id

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _require_conversation(conn: sqlite3.Connection, conversation_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise UnknownConversationError(
                f"There is no conversation {conversation_id}.",
                hint="See `hearth chats list` for the conversations you have.",
            )
        return row

    @staticmethod
    def _require_message(conn: sqlite3.Connection, message_id: int, conversation_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise UnknownMessageError(
                f"There is no message {message_id}.", hint="It may have been deleted; reload the chat."
            )
        if row["conversation_id"] != conversation_id:
            raise ValueError(f"message {message_id} is not in conversation {conversation_id}")
        return row

    @staticmethod
    def _current_leaf(conn: sqlite3.Connection, conversation: sqlite3.Row) -> int | None:
        leaf: int | None = conversation["current_leaf_id"]
        if leaf is not None:
            return leaf
        root = conn.execute(  # never set, or lost: show the newest root's newest branch
            "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (conversation["id"],),
        ).fetchone()
        return None if root is None else _deepest(conn, root["id"])


class ReplyWriter:
    """Saves one assistant reply while it streams: at most once per `interval_s` (each save its own
    short transaction), and once more at the end. Feed it every engine event; use it as a context
    manager so an exception still leaves the reply saved (state "failed", or "cancelled" on Ctrl+C)."""

    def __init__(
        self,
        store: ConversationStore,
        message: Message,
        *,
        interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.message_id = message.id
        self.conversation_id = message.conversation_id
        self.interval_s = interval_s
        self._clock = clock
        self._answer: list[str] = [message.content] if message.content else []
        self._reasoning: list[str] = [message.reasoning] if message.reasoning else []
        self._dirty = False
        self._last_save = clock()
        self._done = False
        self.saves = 0  # how many times the growing reply was written (tests, logs)

    @property
    def content(self) -> str:
        return "".join(self._answer)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def finished(self) -> bool:
        return self._done

    def feed(self, event: TextDelta | GenerationStats) -> None:
        """Take an engine event: text is appended (and saved when a second has passed); the final
        GenerationStats finishes the message."""
        if isinstance(event, TextDelta):
            self.append(event.text, event.kind)
        else:
            self.finish(event)

    def append(self, text: str, kind: Literal["answer", "reasoning"] = "answer") -> None:
        if self._done:
            raise RuntimeError("this reply is already finished")
        if not text:
            return
        (self._reasoning if kind == "reasoning" else self._answer).append(text)
        self._dirty = True
        if self._clock() - self._last_save >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Write what has streamed so far, if anything changed since the last write."""
        if not self._dirty or self._done:
            return
        self.store._save_reply(self.message_id, self.content, self.reasoning)
        self._dirty = False
        self._last_save = self._clock()
        self.saves += 1

    def finish(
        self, stats: GenerationStats | Mapping[str, Any] | None = None, *, state: MessageState | None = None
    ) -> Message:
        """Final text and stats. The state is "cancelled" when the stats say so, else "complete"."""
        data = stats.to_dict() if isinstance(stats, GenerationStats) else (dict(stats) if stats else None)
        if state is None:
            state = "cancelled" if data and data.get("stop_reason") == "cancelled" else "complete"
        return self._final(state, data, None)

    def fail(self, error: BaseException | str) -> Message:
        """Keep what was generated, marked "failed" with the reason."""
        reason = error.message if isinstance(error, HearthError) else str(error) or type(error).__name__
        return self._final("failed", None, reason)

    def cancel(self) -> Message:
        return self._final("cancelled", None, None)

    def _final(self, state: MessageState, stats: dict[str, Any] | None, error: str | None) -> Message:
        if not self._done:
            self.store._save_reply(
                self.message_id, self.content, self.reasoning, state=state, stats=stats, error=error,
                final=True,
            )  # fmt: skip
            self._done = True
        return self.store.get_message(self.message_id)

    def __enter__(self) -> ReplyWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self._done:
            return
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.cancel()
        else:
            try:
                self.fail(exc)
            except HearthError:  # the disk may be why we are failing; keep the original error
                log.warning("could not save the failed reply %d", self.message_id, exc_info=True)


def _deepest(conn: sqlite3.Connection, message_id: int) -> int:
    leaf = message_id
    while True:
        child = conn.execute(
            "SELECT id FROM messages WHERE parent_id = ? ORDER BY id DESC LIMIT 1", (leaf,)
        ).fetchone()
        if child is None:
            return leaf
        leaf = int(child["id"])


# Control characters (NUL ends FTS5's query string early) and lone surrogates (SQLite cannot encode them)
_UNSEARCHABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_QUERY_CHARS: Final = 1000
MAX_QUERY_WORDS: Final = 32


def plain_terms(query: str) -> str:
    """The FTS5 query for plain words: each word an FTS5 string ("" escapes a quote), ANDed, so no
    input is ever FTS5 syntax; a trailing * that follows a letter or digit keeps a prefix search. "" when
    nothing searchable is left. Bounded (MAX_QUERY_CHARS, MAX_QUERY_WORDS) so a pasted page stays cheap."""
    terms: list[str] = []
    for word in _UNSEARCHABLE.sub(" ", query[:MAX_QUERY_CHARS]).split()[:MAX_QUERY_WORDS]:
        stem = word.rstrip("*")
        prefix = stem != word and any(ch.isalnum() for ch in stem)
        terms.append('"' + (stem if prefix else word).replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms)


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _dump_optional(value: SamplingSettings | GenerationStats | Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, SamplingSettings | GenerationStats):
        return _dump(value.to_dict())
    return _dump(dict(value))


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("unreadable JSON in the database: %.80r", text)
        return None
    return value if isinstance(value, dict) else None


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        model_id=row["model_id"],
        model_path=row["model_path"],
        model_name=row["model_name"],
        system_prompt=row["system_prompt"],
        settings=_load(row["settings"]) or {},
        current_leaf_id=row["current_leaf_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message(row: sqlite3.Row) -> Message:
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
        sampling=_load(row["sampling"]),
        stats=_load(row["stats"]),
        error=row["error"],
    )
