"""Full-text search over every message: plain words in, ranked hits with highlighted snippets out.

The messages_fts index is SQLite FTS5; whatever is typed is turned into quoted terms first, so no input
is ever read as FTS5 syntax and a search cannot fail on what the user typed.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Final

from desktop_app.core.conversation_records import DEFAULT_TITLE, SearchHit
from desktop_app.core.db import Database, _storage_error

SEARCH_LIMIT: Final = 50
MAX_QUERY_CHARS: Final = 1000
MAX_QUERY_WORDS: Final = 32
# Control characters (NUL ends FTS5's query string early) and lone surrogates (SQLite cannot encode them)
_UNSEARCHABLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


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


def search(
    db: Database, query: str, limit: int = SEARCH_LIMIT, *, marks: tuple[str, str] = ("[", "]")
) -> list[SearchHit]:
    """Messages whose text matches every word of `query`, best first, across every conversation
    and branch (pass a hit's message id to select_branch to show it). The query is plain words
    (a trailing * on a word matches its prefixes): whatever is typed (quotes, NEAR(, a:b, control
    characters) is never read as FTS5 syntax, so a search cannot fail on its input."""
    terms = plain_terms(query)
    if not terms:
        return []
    cursor = db.read(
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
        raise _storage_error(db.path, exc) from exc
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
