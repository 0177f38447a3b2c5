"""The app's one SQLite database: WAL mode, a schema version in PRAGMA user_version, migrations.

Each thread gets its own connection (SQLite connections must not cross threads); WAL lets the GUI
read while a worker writes. Writes go through `transaction()`, which takes the write lock up front
(BEGIN IMMEDIATE) so two writers never deadlock half-way through.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop_app.core.errors import DiskFullError, StorageError
from desktop_app.core.private_files import create_private_file, ensure_private_dir, restrict_file

# Each entry upgrades the schema by one version. Never edit a released entry; append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the model registry and the download queue
    """
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        parts INTEGER NOT NULL DEFAULT 1,
        is_link INTEGER NOT NULL DEFAULT 0,
        origin_repo TEXT,
        origin_file TEXT,
        origin_revision TEXT,
        imported_from TEXT,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT,
        summary TEXT NOT NULL,
        added_at REAL NOT NULL,
        last_used_at REAL,
        settings TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE downloads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        repo TEXT NOT NULL,
        filename TEXT NOT NULL,
        revision TEXT NOT NULL DEFAULT 'main',
        size_bytes INTEGER,
        sha256 TEXT,
        etag TEXT,
        dest_path TEXT NOT NULL,
        partial_path TEXT NOT NULL,
        state TEXT NOT NULL,
        downloaded_bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        model_id TEXT
    );
    CREATE INDEX downloads_state ON downloads(state);
    """,
    # 2: conversations, messages as a tree (edits and regenerations are siblings), full-text search.
    # parent_id has no ON DELETE CASCADE on purpose: a cascade down a 1000-message chain exceeds
    # SQLite's trigger depth, so conversations.py deletes subtrees with one recursive query instead.
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL DEFAULT '',
        model_id TEXT,
        model_path TEXT,
        model_name TEXT,
        system_prompt TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}',
        current_leaf_id INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX conversations_updated ON conversations(updated_at DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id),
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL DEFAULT '',
        reasoning TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'complete'
            CHECK (state IN ('complete', 'streaming', 'cancelled', 'failed', 'interrupted')),
        model TEXT,
        sampling TEXT,
        stats TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX messages_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_parent ON messages(parent_id, id);
    CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming';
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    """,
    # 3: named settings presets per model (system prompt + sampling + load settings, as JSON).
    # model_key is the library id, or the file path for a model outside the library; no foreign key,
    # so presets outlive a model that is deleted and imported again. Names are unique per model,
    # ignoring case, so "Creative" and "creative" cannot both exist.
    """
    CREATE TABLE presets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model_key TEXT NOT NULL,
        name TEXT NOT NULL COLLATE NOCASE,
        system_prompt TEXT NOT NULL DEFAULT '',
        sampling TEXT NOT NULL DEFAULT '{}',
        load TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (model_key, name)
    );
    """,
    # 4: pinned chats stay at the top of the list (NULL: not pinned; else when it was pinned)
    """
    ALTER TABLE conversations ADD COLUMN pinned_at REAL;
    """,
    # 5: what a reply was shown from the chat's documents (issue #15): source n of the reply, as the
    # model saw it, so its [n] citations and the Sources panel still work when the files change or go.
    # Deleting a reply (or its conversation) deletes its sources.
    """
    CREATE TABLE message_sources (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        file TEXT NOT NULL,
        page INTEGER,
        text TEXT NOT NULL,
        score REAL NOT NULL DEFAULT 0,
        char_start INTEGER NOT NULL DEFAULT 0,
        char_end INTEGER NOT NULL DEFAULT 0,
        chunk_id INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (message_id, n)
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class Database:
    label = "database"  # what the file is called in the "newer version" error
    newer_hint = "Update Hearth, or move the database aside to start fresh."

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._migrate_lock = threading.Lock()
        with self._migrate_lock:
            self._migrate(self.connection())

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            # Chats are private: the file exists 0600 before SQLite opens it, and SQLite gives its
            # -wal and -shm files the database file's mode (older ones are tightened here).
            ensure_private_dir(self.path.parent)
            create_private_file(self.path)
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            for suffix in ("-wal", "-shm"):
                restrict_file(self.path.with_name(self.path.name + suffix))
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL never corrupts
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        except sqlite3.DatabaseError as exc:
            raise _storage_error(self.path, exc) from exc
        except OSError as exc:
            raise StorageError(
                f"Hearth cannot open its database {self.path}: {exc.strerror or exc}.",
                hint="Check that the data folder is writable.",
                details=repr(exc),
            ) from exc

    def _schema(self) -> tuple[tuple[str, ...], int]:
        """(migrations, the latest version): a subclass over another file returns its own."""
        return MIGRATIONS, SCHEMA_VERSION

    def _migrate(self, conn: sqlite3.Connection) -> None:
        migrations, latest = self._schema()
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > latest:
                raise StorageError(
                    f"The {self.label} {self.path} was written by a newer version of Hearth "
                    f"(schema {version}, this version knows {latest}).",
                    hint=self.newer_hint,
                )
            for target in range(version + 1, latest + 1):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(migrations[target - 1]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
        except sqlite3.DatabaseError as exc:
            raise _storage_error(self.path, exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any SQLite error in it (a full disk, a damaged file) is rolled back
        and raised as a StorageError that says what to do."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _storage_error(self.path, exc) from exc
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            raise _storage_error(self.path, exc) from exc
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            raise _storage_error(self.path, exc) from exc

    def read(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """A query on this thread's connection, with SQLite errors raised as a StorageError."""
        try:
            return self.connection().execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise _storage_error(self.path, exc) from exc

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left: on some errors (a full disk among them) SQLite has already rolled the
    transaction back itself, and a second ROLLBACK would raise and hide the real error."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _statements(script: str) -> list[str]:
    """Split a migration into statements; a trigger's BEGIN … END body keeps its inner semicolons."""
    statements: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            statement = current.strip().removesuffix(";").strip()
            if statement:
                statements.append(statement)
            current = ""
    if current.strip(" \n\t;"):
        statements.append(current.strip().removesuffix(";").strip())
    return statements


#: SQLite's primary result codes we explain (the low byte of an extended code; sqlite3.h)
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_NOTADB = 26


def _storage_error(path: Path, exc: sqlite3.DatabaseError) -> StorageError:
    """Sort by SQLite's result code, not its message text (which changes between SQLite versions)."""
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _SQLITE_FULL:
        return DiskFullError(
            f"The disk holding {path.parent} is full, so Hearth cannot save.",
            hint="Free some disk space; nothing already saved was lost.",
            details=text,
        )
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StorageError(
            f"Hearth's database {path} is damaged.",
            hint="Quit Hearth and move the file aside; Hearth starts a fresh one (your models stay).",
            details=text,
        )
    return StorageError(f"Database error: {text}.", hint="Try again; see the log for details.", details=text)
