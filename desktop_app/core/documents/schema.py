"""The documents index's own SQLite file (`documents.sqlite3`, beside the chats database but separate:
an index can be thrown away and rebuilt, chats cannot). WAL, a schema version in PRAGMA user_version.

A file added to two collections has a row (and chunks, and vectors) in each: collections are indexed
with their own embedding model and removed independently, and no chunk is shared between them.
"""

from __future__ import annotations

from desktop_app.core.db import Database

# Each entry upgrades the schema by one version. Never edit a released entry; append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: collections, the paths added to them (refresh walks these), files, chunks, FTS5, vectors.
    # chunks_fts is an external-content table over chunks.text (rowid = chunk id), kept by triggers;
    # deleting a file cascades to its chunks (and so the FTS rows) and their vectors.
    """
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        embedding_model TEXT,
        revision INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE roots (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (collection_id, path)
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
        error TEXT,
        kind TEXT,
        pages INTEGER,
        chunk_count INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT '',
        indexed_at REAL NOT NULL,
        UNIQUE (collection_id, path)
    );
    CREATE INDEX files_path ON files(path);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        page INTEGER,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX chunks_file ON chunks(file_id, id);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, content='chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TABLE vectors (
        chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (chunk_id, model)
    ) WITHOUT ROWID;
    CREATE INDEX vectors_model ON vectors(model, chunk_id);
    """,
    # 2: how many chunks hold each term, so a large index can leave out of a query the words that are
    # in most chunks (they add little to BM25 and cost a score per matching row)
    """
    CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class DocumentsDatabase(Database):
    """`core.db.Database` (a connection per thread, BEGIN IMMEDIATE transactions, typed errors,
    versioned migrations) over the documents index's own schema."""

    label = "documents index"
    newer_hint = "Update Hearth, or delete that file: Hearth rebuilds the index from your files."

    def _schema(self) -> tuple[tuple[str, ...], int]:
        return MIGRATIONS, SCHEMA_VERSION
