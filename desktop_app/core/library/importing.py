"""Copying a model file into the models folder: hashed as it is copied, renamed only when complete."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.errors import DiskFullError, StorageError

CHUNK = 4 * 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def copy_hashing(
    source: Path, target: Path, progress: Progress | None, cancel: threading.Event | None
) -> str:
    """Copy to a temporary name next to the target, hashing as we go; rename only when complete."""
    partial = target.with_name(target.name + ".importing")
    digest = hashlib.sha256()
    total = source.stat().st_size
    done = 0
    try:
        partial.unlink(missing_ok=True)  # a leftover, or a link planted there: never written through
        with source.open("rb") as src, partial.open("xb") as dst:
            while chunk := src.read(CHUNK):
                if cancel is not None and cancel.is_set():
                    raise StorageError("The import was cancelled.", hint="Import the file again when ready.")
                dst.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno == 28:
            raise DiskFullError(
                f"The disk filled up while importing {source.name}.", hint="Free some space and import again."
            ) from exc
        raise StorageError(
            f"{source.name} could not be copied: {exc.strerror or exc}.",
            hint="Check the folders' permissions.",
        ) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return digest.hexdigest()
