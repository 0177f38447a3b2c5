"""The download queue's own errors, and how a failed write or a wrong checksum is told to the user.

Failures talking to the Hub are mapped in core/hub/errors.py, for downloads as for every Hub call.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Final

from desktop_app.core.errors import DiskFullError, HearthError, IntegrityError, StorageError
from desktop_app.core.units import human_size

__all__ = [
    "AlreadyDownloadedError",
    "DownloadBusyError",
    "DownloadExistsError",
    "DownloadInterruptedError",
    "UnknownDownloadError",
    "integrity_error",
    "storage_error",
]

_NO_SPACE: Final = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


class DownloadExistsError(HearthError):
    """The same file (repo, name, revision) is already in the queue."""

    title = "Already in the download queue"

    def __init__(self, message: str, *, download_id: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.download_id = download_id


class AlreadyDownloadedError(HearthError):
    """The destination already holds a file of the published size."""

    title = "Already downloaded"
    exit_code = 0

    def __init__(self, message: str, *, path: Path, size: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.size = size


class DownloadInterruptedError(HearthError):
    """run() stopped early: paused, cancelled, or the worker is shutting down."""

    title = "Download stopped"
    exit_code = 130

    def __init__(self, message: str, *, reason: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class DownloadBusyError(StorageError):
    """Another process (the app, or `hearth pull`) is writing this download's partial file."""

    title = "Already downloading"


class UnknownDownloadError(HearthError):
    title = "No such download"
    exit_code = 2


def storage_error(exc: OSError, filename: str, path: Path | None, *, have: int | None = None) -> StorageError:
    if exc.errno in _NO_SPACE:
        saved = f" ({human_size(have)} saved so far)" if have else ""
        return DiskFullError(
            f"The disk filled up while downloading {filename}{saved}.",
            hint="Free some disk space and resume the download; the part already downloaded is kept.",
            details=repr(exc),
        )
    where = f" {path}" if path is not None else ""
    return StorageError(
        f"Hearth could not write{where or ' ' + filename}: {exc.strerror or exc}.",
        hint="Check that the models folder is writable.",
        details=repr(exc),
    )


def integrity_error(filename: str, why: str) -> IntegrityError:
    return IntegrityError(
        f"The downloaded file does not match the Hub's checksum: {filename} ({why}). It was deleted.",
        hint="Download it again; if this keeps happening, your connection or a proxy alters the data.",
    )
