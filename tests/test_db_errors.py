"""SQLite failures reach the user as typed errors chosen by SQLite's result code, with nothing half-saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.db import Database
from desktop_app.core.errors import DiskFullError, StorageError


def test_a_full_database_is_a_disk_full_error_and_the_transaction_is_rolled_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "full.db")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.execute("INSERT INTO t VALUES ('kept')")
    pages = db.read("PRAGMA page_count").fetchone()[0]
    db.read(f"PRAGMA max_page_count = {pages + 1}")  # SQLite's own SQLITE_FULL, as on a full disk
    with pytest.raises(DiskFullError) as caught, db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES ('a')")
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 200_000,))
    assert "Free some disk space" in caught.value.hint
    assert [row[0] for row in db.read("SELECT x FROM t")] == ["kept"]
    db.close()


def test_a_file_that_is_not_a_database_is_reported_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "hearth.db"
    path.write_bytes(b"this is not SQLite" * 500)
    with pytest.raises(StorageError) as caught:
        Database(path)
    assert not isinstance(caught.value, DiskFullError)
    assert "is damaged" in caught.value.message
    assert "move the file aside" in caught.value.hint
