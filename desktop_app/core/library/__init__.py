"""The local model library: the GGUF models Hearth can load, registered in SQLite."""

from desktop_app.core.library.registry import (
    CompletedDownloadLike,
    Library,
    LibraryModel,
    ScanResult,
    UnknownModelError,
)

__all__ = ["CompletedDownloadLike", "Library", "LibraryModel", "ScanResult", "UnknownModelError"]
