"""Folders and files only this user may read: chats, settings, logs and secrets.

Other accounts on a shared computer (and any program they run) must not read a user's chats or keys,
whatever the umask says. On POSIX the folders are 0700 and every file of ours in them 0600; a secret is
written to a fresh 0600 file and renamed over the old one, so no reader ever sees a half-written key or a
moment where the key sits in a file with looser permissions. On Windows the per-user profile folders
already carry a private ACL, and chmod can only toggle read-only, so the mode changes are skipped there.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

POSIX = os.name == "posix"
DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(folder: Path) -> Path:
    """Create `folder` (and missing parents) and make `folder` itself 0700, also if it already existed
    with looser permissions (a version before this one created them with the umask's 0755)."""
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if POSIX:
        mode = folder.stat().st_mode & 0o777
        if mode != DIR_MODE and folder.stat().st_uid == os.getuid():
            os.chmod(folder, DIR_MODE)
    return folder


def restrict_file(file: Path) -> None:
    """Make an existing file of ours 0600 (no-op when it is missing or not ours)."""
    if not POSIX:
        return
    with contextlib.suppress(OSError):
        info = file.stat()
        if info.st_mode & 0o777 != FILE_MODE and info.st_uid == os.getuid():
            os.chmod(file, FILE_MODE)


def create_private_file(file: Path) -> None:
    """Create `file` empty with mode 0600 unless it exists, so a program that opens it next (SQLite)
    never creates it with the umask's mode; an existing file is tightened instead."""
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        restrict_file(file)
        return
    os.close(fd)


def write_private_text(file: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Atomically replace `file` with `text`, 0600 from the first byte.

    The temporary file is created with O_EXCL in the same folder (a rename across folders is not
    atomic), its mode is set by the open itself and again with fchmod (the umask can only remove bits,
    never add them, but a racing chmod by a second process cannot widen a file it did not create), and
    it is fsynced before the rename so a crash leaves the old secret or the new one, never an empty file.
    """
    ensure_private_dir(file.parent)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            if POSIX:
                os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
