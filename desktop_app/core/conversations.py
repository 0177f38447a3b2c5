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

The store is this module; its parts live beside it: the records and row mapping in conversation_records,
the tree queries in message_tree, the streaming writer in reply_writer, search in conversation_search.
A whole chat turn (history, seed, reply) is chat_session's.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from desktop_app.core import chat_transfer, conversation_search, message_tree
from desktop_app.core.chat_transfer import (
    ChatFileError,
    ExportFormat,
    iso_time,
    parse_chat_json,
    read_chat_file,
    write_export,
)
from desktop_app.core.continued_reply import ContinuedReplyWriter
from desktop_app.core.conversation_records import (
    DEFAULT_TITLE,
    ROLES,
    STATES,
    TITLE_LENGTH,
    Conversation,
    ConversationSummary,
    Message,
    MessageState,
    Role,
    SearchHit,
    UnknownConversationError,
    UnknownMessageError,
    conversation_from,
    dump,
    dump_optional,
    lastrowid,
    load_json,
    message_from,
    require_conversation,
    require_message,
    title_from,
    unknown_conversation,
    unknown_message,
)
from desktop_app.core.conversation_search import MAX_QUERY_CHARS, MAX_QUERY_WORDS, SEARCH_LIMIT, plain_terms
from desktop_app.core.db import Database
from desktop_app.core.documents.passages import Passage
from desktop_app.core.engine import GenerationStats
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.reply_writer import FLUSH_INTERVAL_S, ReplyWriter, save_reply, with_fixed_seed

__all__ = [  # with the names that moved to its parts, so existing imports keep working
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
                 dump(dict(settings or {})), now, now),
            )  # fmt: skip
            conversation_id = lastrowid(cursor)
        return self.get_conversation(conversation_id)

    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self.db.read("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise unknown_conversation(conversation_id)
        return conversation_from(row)

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
            changes["settings"] = dump(dict(settings))
        if model_name is not None:
            changes["model_name"] = model_name
        if model_path is not None:
            changes["model_path"] = model_path
        if model_id is not None:
            changes["model_id"] = model_id
        with self.db.transaction() as conn:
            require_conversation(conn, conversation_id)
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
            require_conversation(conn, conversation_id)
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))  # messages cascade

    def record_model(
        self, conversation_id: int, *, model_name: str | None, model_path: str | None, model_id: str | None
    ) -> Conversation:
        """The model this chat's latest reply came from (all three fields, None clears one): a
        reopened chat offers to load it again."""
        with self.db.transaction() as conn:
            require_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET model_name = ?, model_path = ?, model_id = ? WHERE id = ?",
                (model_name, model_path, model_id, conversation_id),
            )
        return self.get_conversation(conversation_id)

    def set_pinned(self, conversation_id: int, pinned: bool) -> Conversation:
        """Pin a chat to the top of the list, or unpin it; its last activity is unchanged."""
        with self.db.transaction() as conn:
            row = require_conversation(conn, conversation_id)
            if pinned != (row["pinned_at"] is not None):
                conn.execute(
                    "UPDATE conversations SET pinned_at = ? WHERE id = ?",
                    (self._clock() if pinned else None, conversation_id),
                )
        return self.get_conversation(conversation_id)

    def list_conversations(self) -> list[ConversationSummary]:
        """Pinned chats first (the most recently pinned on top), then the rest by last activity,
        with message counts (every branch counted)."""
        rows = self.db.read(
            "SELECT c.id, c.title, c.model_name, c.created_at, c.updated_at, c.pinned_at, "
            "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count "
            "FROM conversations c "
            "ORDER BY c.pinned_at IS NULL, c.pinned_at DESC, c.updated_at DESC, c.id DESC"
        ).fetchall()
        return [
            ConversationSummary(
                id=row["id"],
                title=row["title"] or DEFAULT_TITLE,
                model_name=row["model_name"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                message_count=row["message_count"],
                pinned=row["pinned_at"] is not None,
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
            conversation = require_conversation(conn, conversation_id)
            if sibling_of is not None:
                parent = require_message(conn, sibling_of, conversation_id)["parent_id"]
            elif parent_id is not None:
                parent = require_message(conn, parent_id, conversation_id)["id"]
            else:
                parent = message_tree.current_leaf(conn, conversation)
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, state, model, "
                "sampling, stats, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent, role, content, reasoning, state, model, dump_optional(sampling),
                 dump_optional(stats), error, created_at if created_at is not None else now, now),
            )  # fmt: skip
            message_id = lastrowid(cursor)
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
            raise unknown_message(message_id)
        return message_from(row)

    # -- the message tree (message_tree holds the queries) -----------------------------------------

    def path(self, conversation_id: int, leaf_id: int | None = None) -> list[Message]:
        """The messages from the root to `leaf_id` (default: the current leaf): one branch, in order."""
        return message_tree.path(self.db, conversation_id, leaf_id)

    def children(self, message_id: int) -> list[Message]:
        return message_tree.children(self.db, message_id)

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives at this point of the tree (the message itself included), oldest first."""
        return message_tree.siblings(self.db, self.get_message(message_id))

    def sibling_positions(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """For every message: (its 1-based place among its siblings, how many there are)."""
        return message_tree.sibling_positions(self.db, conversation_id)

    def select_branch(self, message_id: int) -> list[Message]:
        """Show the branch through `message_id`: its deepest descendant (always following the newest
        child) becomes the current leaf. Returns the new path."""
        conversation_id, leaf = message_tree.select_branch(self.db, message_id)
        return self.path(conversation_id, leaf)

    def delete_message(self, message_id: int) -> int:
        """Delete a message and everything below it. If the current leaf was among them, the newest
        remaining sibling's branch is shown, or else the parent. Returns how many messages went."""
        return message_tree.delete_subtree(self.db, message_id)

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
        # its final stats count the whole reply, not only the continued part (continued_reply)
        continued = replace(message, state="streaming", error=None)
        return ContinuedReplyWriter(self, continued, interval_s=interval_s)

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
        """The ReplyWriter's one write (reply_writer.save_reply), at this store's clock."""
        save_reply(
            self.db, self._clock(), message_id, content, reasoning, state=state, stats=stats, error=error,
            final=final,
        )  # fmt: skip

    # -- documents (issue #15): what a chat has attached, and what each reply was shown -------------

    def set_documents(self, conversation_id: int, documents: Mapping[str, Any] | None) -> Conversation:
        """Attach documents to the chat (`{"collections": [...], "files": [...]}`, kept in its settings
        under "documents"); None or an empty mapping detaches them. Other settings stay as they are."""
        with self.db.transaction() as conn:
            row = require_conversation(conn, conversation_id)
            settings = load_json(row["settings"]) or {}
            if documents and any(documents.values()):
                settings["documents"] = dict(documents)
            else:
                settings.pop("documents", None)
            conn.execute(
                "UPDATE conversations SET settings = ? WHERE id = ?", (dump(settings), conversation_id)
            )
        return self.get_conversation(conversation_id)

    def save_sources(self, message_id: int, passages: Sequence[Passage]) -> None:
        """Store the sources a reply was shown, numbered from 1 as the model saw them (replacing any)."""
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone() is None:
                raise unknown_message(message_id)
            conn.execute("DELETE FROM message_sources WHERE message_id = ?", (message_id,))
            _insert_sources(conn, message_id, passages)

    def sources(self, message_id: int) -> list[Passage]:
        """The sources reply `message_id` was shown, source 1 first; [] when it had none."""
        rows = self.db.read(
            "SELECT * FROM message_sources WHERE message_id = ? ORDER BY n", (message_id,)
        ).fetchall()
        return [_passage(row) for row in rows]

    def sources_of(self, conversation_id: int) -> dict[int, list[Passage]]:
        """Every reply of the conversation that had sources: message id -> its sources, in order."""
        rows = self.db.read(
            "SELECT s.* FROM message_sources s JOIN messages m ON m.id = s.message_id "
            "WHERE m.conversation_id = ? ORDER BY s.message_id, s.n",
            (conversation_id,),
        ).fetchall()
        found: dict[int, list[Passage]] = {}
        for row in rows:
            found.setdefault(int(row["message_id"]), []).append(_passage(row))
        return found

    # -- search ------------------------------------------------------------------------------------

    def search(
        self, query: str, limit: int = SEARCH_LIMIT, *, marks: tuple[str, str] = ("[", "]")
    ) -> list[SearchHit]:
        """Messages whose text matches every word of `query`, best first, across every conversation
        and branch (pass a hit's message id to select_branch to show it). The query is plain words
        (a trailing * on a word matches its prefixes), never FTS5 syntax: see conversation_search."""
        return conversation_search.search(self.db, query, limit, marks=marks)

    # -- export and import (the file format is chat_transfer's; the database is ours) -------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The shown branch as chat_transfer.export_json describes (what import_json reads)."""
        conversation = self.get_conversation(conversation_id)
        return chat_transfer.export_json(
            conversation, self.path(conversation_id), self.sources_of(conversation_id)
        )

    def export_text(self, conversation_id: int, fmt: ExportFormat) -> str:
        """The file's text for `fmt`: Markdown, or the JSON of export_json (what import reads)."""
        conversation = self.get_conversation(conversation_id)
        return chat_transfer.export_text(
            conversation, self.path(conversation_id), fmt, self.sources_of(conversation_id)
        )

    def export_markdown(self, conversation_id: int) -> str:
        """A readable document of the shown branch: the reasoning in a collapsed <details> block."""
        conversation = self.get_conversation(conversation_id)
        return chat_transfer.export_markdown(
            conversation, self.path(conversation_id), self.sources_of(conversation_id)
        )

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
            conversation_id = lastrowid(cursor)
            parent: int | None = None
            for item in chat.messages:
                created = item.created_at if item.created_at is not None else now
                cursor = conn.execute(
                    "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning, state, "
                    "model, sampling, stats, error, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, parent, item.role, item.content, item.reasoning, item.state,
                     item.model, dump_optional(item.sampling), dump_optional(item.stats), item.error,
                     created, created),
                )  # fmt: skip
                parent = lastrowid(cursor)
                _insert_sources(conn, parent, item.sources)
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (parent, conversation_id)
            )
        return conversation_id


def _insert_sources(conn: sqlite3.Connection, message_id: int, passages: Sequence[Passage]) -> None:
    """Add a message's sources, numbered from 1 in order (in the caller's transaction)."""
    conn.executemany(
        "INSERT INTO message_sources (message_id, n, file, page, text, score, char_start, char_end, "
        "chunk_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(message_id, n, p.file, p.page, p.text, float(p.score), p.start, p.end, p.chunk_id)
         for n, p in enumerate(passages, 1)],
    )  # fmt: skip


def _passage(row: Any) -> Passage:
    return Passage(
        file=row["file"], page=row["page"], text=row["text"], score=row["score"],
        start=row["char_start"], end=row["char_end"], chunk_id=row["chunk_id"],
    )  # fmt: skip
