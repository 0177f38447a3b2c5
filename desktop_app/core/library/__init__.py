"""The local model library: the GGUF models Hearth can load, registered in SQLite.

registry.py holds the Library (scan, import, delete); entries.py what it lists; importing.py copies a
file in; locations.py and removal.py keep every path question and every unlink link-safe.
"""

from desktop_app.core.library.entries import (
    CompletedDownloadLike,
    FileNameTakenError,
    LibraryModel,
    ScanResult,
    UnknownModelError,
    shown_name,
)
from desktop_app.core.library.registry import Library

__all__ = [
    "CompletedDownloadLike",
    "FileNameTakenError",
    "Library",
    "LibraryModel",
    "ScanResult",
    "UnknownModelError",
    "shown_name",
]
