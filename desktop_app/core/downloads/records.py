"""What the download queue holds and reports: row states, a row (`DownloadInfo`), live `Progress`,
and the `CompletedDownload` handed to the library.

The database row is bookkeeping; the truth about progress is the partial file's size on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["CompletedDownload", "DownloadInfo", "Progress"]

# Row states. "downloading" rows left behind by a crash are runnable: the partial file is the truth.
QUEUED: Final = "queued"
DOWNLOADING: Final = "downloading"
PAUSED: Final = "paused"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
UNFINISHED: Final = (QUEUED, DOWNLOADING, PAUSED, FAILED)
#: extra Progress states while a download is running
RESUMING: Final = "resuming"  # re-hashing the bytes already on disk
VERIFYING: Final = "verifying"


@dataclass(frozen=True)
class Progress:
    """`state`: "resuming" (re-hashing bytes already on disk), "downloading", "verifying", "done"."""

    downloaded: int
    total: int
    speed_bps: float
    eta_s: float | None
    state: str

    @property
    def fraction(self) -> float:
        return self.downloaded / self.total if self.total else 0.0


@dataclass(frozen=True)
class CompletedDownload:
    """Handed to `on_complete` so the library can register the model."""

    download_id: int
    repo: str
    filename: str
    revision: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class DownloadInfo:
    """One row of the queue, with live speed for the download that is running."""

    id: int
    repo: str
    filename: str
    revision: str
    state: str
    downloaded_bytes: int
    size_bytes: int | None
    sha256: str | None
    etag: str | None
    dest_path: Path
    partial_path: Path
    error: str | None
    created_at: float
    updated_at: float
    speed_bps: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return self.downloaded_bytes / self.size_bytes if self.size_bytes else 0.0
