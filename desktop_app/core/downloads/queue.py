"""The download queue as rows in SQLite: one row per file, with its state, what the Hub published
for it, and where its bytes go. Only the manager writes here; the GUI reads through the manager.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from desktop_app.core.db import Database
from desktop_app.core.downloads.errors import DownloadExistsError, UnknownDownloadError
from desktop_app.core.downloads.partial import partial_name
from desktop_app.core.downloads.records import (
    DONE,
    DOWNLOADING,
    FAILED,
    QUEUED,
    UNFINISHED,
    DownloadInfo,
    Progress,
)
from desktop_app.core.downloads.remote import Remote

__all__ = ["DownloadQueue"]


class DownloadQueue:
    """Rows of the `downloads` table; `live` gives the progress of a running download, which is
    fresher than its row (the row is written twice a second)."""

    def __init__(self, db: Database, live: Callable[[int], Progress | None]) -> None:
        self._db = db
        self._live = live

    def find(self, repo: str, filename: str, revision: str) -> DownloadInfo | None:
        """The unfinished row for this file, if any."""
        row = (
            self._db.connection()
            .execute(
                f"SELECT * FROM downloads WHERE repo=? AND filename=? AND revision=? "
                f"AND state IN ({','.join('?' * len(UNFINISHED))}) ORDER BY id DESC LIMIT 1",
                (repo, filename, revision, *UNFINISHED),
            )
            .fetchone()
        )
        return self._info(row) if row is not None else None

    def get(self, download_id: int) -> DownloadInfo:
        row = self._db.connection().execute("SELECT * FROM downloads WHERE id=?", (download_id,)).fetchone()
        if row is None:
            raise UnknownDownloadError(f"There is no download number {download_id}.")
        return self._info(row)

    def list(self) -> list[DownloadInfo]:
        rows = self._db.connection().execute("SELECT * FROM downloads ORDER BY id").fetchall()
        return [self._info(row) for row in rows]

    def add(
        self,
        repo: str,
        filename: str,
        revision: str,
        remote: Remote,
        *,
        dest: Path,
        partial_dir: Path,
        failed: DownloadInfo | None,
        have: int,
    ) -> int:
        """Queue the file: a new row, or `failed` (the row found before the HEAD) queued again with
        `have` bytes kept. Raises DownloadExistsError when another thread queued it meanwhile."""
        now = time.time()
        with self._db.transaction() as conn:
            again = self.find(repo, filename, revision)
            if again is not None and (failed is None or again.id != failed.id or again.state != FAILED):
                raise DownloadExistsError(
                    f"{filename} from {repo} is already in the download queue ({again.state}).",
                    download_id=again.id,
                )
            if failed is not None:
                conn.execute(
                    "UPDATE downloads SET state=?, size_bytes=?, sha256=?, etag=?, error=NULL, "
                    "downloaded_bytes=?, updated_at=? WHERE id=?",
                    (QUEUED, remote.size, remote.sha256, remote.etag, have, now, failed.id),
                )
                return failed.id
            cur = conn.execute(
                "INSERT INTO downloads (repo, filename, revision, size_bytes, sha256, etag, dest_path, "
                "partial_path, state, downloaded_bytes, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, 0, ?, ?)",
                (
                    repo,
                    filename,
                    revision,
                    remote.size,
                    remote.sha256,
                    remote.etag,
                    str(dest),
                    QUEUED,
                    now,
                    now,
                ),
            )
            assert cur.lastrowid is not None
            download_id = cur.lastrowid
            partial = partial_dir / partial_name(download_id, filename)
            conn.execute("UPDATE downloads SET partial_path=? WHERE id=?", (str(partial), download_id))
        return download_id

    def requeue_interrupted(self, busy: Collection[int]) -> None:
        """Rows a crash left "downloading" are queued again, except those running in this process."""
        with self._db.transaction() as conn:
            conn.execute(
                f"UPDATE downloads SET state=?, updated_at=? WHERE state=? AND id NOT IN ({_ids(busy)})",
                (QUEUED, time.time(), DOWNLOADING),
            )

    def next_queued(self, busy: Collection[int]) -> int | None:
        """The oldest queued row not running already."""
        row = (
            self._db.connection()
            .execute(
                f"SELECT id FROM downloads WHERE state=? AND id NOT IN ({_ids(busy)}) ORDER BY id LIMIT 1",
                (QUEUED,),
            )
            .fetchone()
        )
        return int(row["id"]) if row is not None else None

    def set_state(
        self, download_id: int, state: str, *, downloaded: int | None = None, error: str | None = None
    ) -> None:
        fields: dict[str, Any] = {"state": state, "error": error}
        if downloaded is not None:
            fields["downloaded_bytes"] = downloaded
        self.update(download_id, **fields)

    def update(self, download_id: int, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        columns = ", ".join(f"{name}=?" for name in fields)
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE downloads SET {columns} WHERE id=?", (*fields.values(), download_id))

    def mark_done(self, download_id: int, size: int, sha256: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE downloads SET state=?, downloaded_bytes=?, sha256=?, error=NULL, updated_at=? "
                "WHERE id=?",
                (DONE, size, sha256, time.time(), download_id),
            )

    def _info(self, row: Any) -> DownloadInfo:
        live = self._live(int(row["id"]))
        return DownloadInfo(
            id=int(row["id"]),
            repo=row["repo"],
            filename=row["filename"],
            revision=row["revision"],
            state=row["state"],
            downloaded_bytes=live.downloaded if live is not None else int(row["downloaded_bytes"]),
            size_bytes=row["size_bytes"],
            sha256=row["sha256"],
            etag=row["etag"],
            dest_path=Path(row["dest_path"]),
            partial_path=Path(row["partial_path"]),
            error=row["error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            speed_bps=live.speed_bps if live is not None else 0.0,
            eta_s=live.eta_s if live is not None else None,
        )


def _ids(ids: Collection[int]) -> str:
    """An SQL list of ids (ints only, so safe to inline)."""
    return ",".join(str(int(i)) for i in ids)
