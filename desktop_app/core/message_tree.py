"""The message tree of one conversation: branches, alternatives and deleting a subtree.

Each message points at its parent; alternatives (an edited prompt, a regenerated reply) share a parent.
A conversation's current leaf names the branch on screen. These are the tree's queries, kept apart from
the store's conversation and message writes; ConversationStore exposes them as its own methods.
"""

from __future__ import annotations

import sqlite3

from desktop_app.core.conversation_records import (
    Message,
    message_from,
    require_conversation,
    require_message,
    unknown_message,
)
from desktop_app.core.db import Database


def path(db: Database, conversation_id: int, leaf_id: int | None = None) -> list[Message]:
    """The messages from the root to `leaf_id` (default: the current leaf): one branch, in order."""
    conn = db.connection()
    if leaf_id is None:
        conversation = require_conversation(conn, conversation_id)
        leaf_id = current_leaf(conn, conversation)
        if leaf_id is None:
            return []
    else:
        require_message(conn, leaf_id, conversation_id)
    rows = db.read(
        "WITH RECURSIVE up(id, depth) AS ("
        " SELECT ?, 0"
        " UNION ALL SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id"
        " WHERE m.parent_id IS NOT NULL"
        ") SELECT m.* FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth DESC",
        (leaf_id,),
    ).fetchall()
    return [message_from(row) for row in rows]


def children(db: Database, message_id: int) -> list[Message]:
    rows = db.read("SELECT * FROM messages WHERE parent_id = ? ORDER BY id", (message_id,)).fetchall()
    return [message_from(row) for row in rows]


def siblings(db: Database, message: Message) -> list[Message]:
    """The alternatives at this point of the tree (the message itself included), oldest first."""
    if message.parent_id is None:
        rows = db.read(
            "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS NULL ORDER BY id",
            (message.conversation_id,),
        ).fetchall()
    else:
        rows = db.read(
            "SELECT * FROM messages WHERE parent_id = ? ORDER BY id", (message.parent_id,)
        ).fetchall()
    return [message_from(row) for row in rows]


def sibling_positions(db: Database, conversation_id: int) -> dict[int, tuple[int, int]]:
    """For every message of the conversation: (its 1-based place among its siblings, how many there
    are), in one query, so the GUI can draw "< 2/3 >" on a long chat without a query per row."""
    rows = db.read(
        "SELECT id, ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY id) AS position, "
        "COUNT(*) OVER (PARTITION BY parent_id) AS count FROM messages WHERE conversation_id = ?",
        (conversation_id,),
    ).fetchall()
    return {row["id"]: (row["position"], row["count"]) for row in rows}


def select_branch(db: Database, message_id: int) -> tuple[int, int]:
    """Make the deepest descendant of `message_id` (always following the newest child) the current
    leaf. Returns (conversation id, new leaf)."""
    with db.transaction() as conn:
        row = conn.execute("SELECT conversation_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise unknown_message(message_id)
        conversation_id = int(row["conversation_id"])
        leaf = deepest(conn, message_id)
        conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, conversation_id))
    return conversation_id, leaf


def delete_subtree(db: Database, message_id: int) -> int:
    """Delete a message and everything below it. If the current leaf was among them, the newest
    remaining sibling's branch is shown, or else the parent. Returns how many messages went."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT m.conversation_id, m.parent_id, c.current_leaf_id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?",
            (message_id,),
        ).fetchone()
        if row is None:
            raise unknown_message(message_id)
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
            new_leaf = deepest(conn, sibling["id"]) if sibling is not None else parent_id
            conn.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (new_leaf, conversation_id)
            )
    return int(deleted)


def current_leaf(conn: sqlite3.Connection, conversation: sqlite3.Row) -> int | None:
    leaf: int | None = conversation["current_leaf_id"]
    if leaf is not None:
        return leaf
    root = conn.execute(  # never set, or lost: show the newest root's newest branch
        "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL ORDER BY id DESC LIMIT 1",
        (conversation["id"],),
    ).fetchone()
    return None if root is None else deepest(conn, root["id"])


def deepest(conn: sqlite3.Connection, message_id: int) -> int:
    leaf = message_id
    while True:
        child = conn.execute(
            "SELECT id FROM messages WHERE parent_id = ? ORDER BY id DESC LIMIT 1", (leaf,)
        ).fetchone()
        if child is None:
            return leaf
        leaf = int(child["id"])
