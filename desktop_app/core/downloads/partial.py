"""Partial files on disk: where a download's bytes wait until they are verified, and how they get there.

A partial file survives restarts (and SIGKILL), so a resume continues from its size. It is locked while
written, so two processes (the app and `hearth pull`) never append to the same one, and synced every
few seconds, so a power cut loses little. A verified file moves into the models folder atomically.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from desktop_app.core.downloads.errors import DownloadBusyError, storage_error
from desktop_app.core.errors import DiskFullError
from desktop_app.core.hub.names import check_local_name
from desktop_app.core.units import human_size

__all__ = [
    "check_space",
    "file_size",
    "fsync_dir",
    "move_into_place",
    "open_partial",
    "partial_name",
    "safe_repo_dir",
    "size_of",
    "sync",
    "truncate",
    "unlink",
]

_FREE_SPACE_MARGIN: Final = 64 * 1024 * 1024  # keep the disk from filling to the last byte
_UNSAFE_CHARS: Final = re.compile(r"[^A-Za-z0-9._-]+")
_CANNOT_SYNC: Final = frozenset({errno.EINVAL, getattr(errno, "ENOTSUP", errno.EINVAL)})


def safe_repo_dir(repo: str) -> str:
    """`owner/name` -> `owner--name`: one folder per repo; the Hub forbids "--" in names, so no clashes.

    Raises UnsafeNameError for a folder no OS should get (a bare "nul" or ".." as the repo id).
    """
    folder = "--".join(_UNSAFE_CHARS.sub("_", part) or "_" for part in repo.split("/"))
    check_local_name(folder, what="repository folder")
    return folder


def partial_name(download_id: int, filename: str) -> str:
    """The partial file's name: unique per row, and safe on every OS whatever the Hub name is."""
    safe = _UNSAFE_CHARS.sub("_", filename.replace("/", "__"))[-150:]
    return f"{download_id}-{safe}.part"


@contextlib.contextmanager
def open_partial(path: Path) -> Iterator[IO[bytes]]:
    """Open (or create) the partial file, locked so a second process cannot append to it too."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise storage_error(exc, path.name, path) from exc
    try:
        _lock(handle, path)
        yield handle
    finally:
        handle.close()


def _lock(handle: IO[bytes], path: Path) -> None:
    """POSIX: two processes (the app and `hearth pull`) must never append to one partial file."""
    if sys.platform == "win32":  # no advisory locks there; the in-process check still applies
        return
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise DownloadBusyError(
            f"{path.name} is being downloaded by another Hearth process.",
            hint="Wait for that download to finish, or stop it first.",
        ) from exc
    except OSError:
        pass  # a filesystem without locks: carry on unprotected


def size_of(part: IO[bytes]) -> int:
    return part.seek(0, os.SEEK_END)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def truncate(part: IO[bytes], path: Path) -> None:
    try:
        part.seek(0)
        part.truncate(0)
    except OSError as exc:
        raise storage_error(exc, path.name, path) from exc


def sync(part: IO[bytes], path: Path, filename: str) -> None:
    try:
        part.flush()
        os.fsync(part.fileno())
    except OSError as exc:
        if exc.errno in _CANNOT_SYNC:
            return  # not a regular file (or a filesystem that cannot sync): nothing to do
        raise storage_error(exc, filename, path) from exc


def fsync_dir(folder: Path) -> None:
    """Make the rename durable; best effort (Windows cannot open folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def check_space(folder: Path, needed: int, filename: str) -> None:
    """Raise DiskFullError when `needed` bytes (plus a margin) do not fit on `folder`'s disk."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell: the write itself will say ENOSPC
    if needed + _FREE_SPACE_MARGIN > free:
        raise DiskFullError(
            f"Not enough disk space for {filename}: it needs {human_size(needed + _FREE_SPACE_MARGIN)} "
            f"and only {human_size(free)} is free on {folder}.",
            hint="Free some disk space, or choose a smaller quantization.",
        )


def move_into_place(partial: Path, dest: Path, filename: str) -> None:
    """Atomically move a verified partial file (its handle closed) to its place in the models folder."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        raise storage_error(exc, filename, dest) from exc
