"""What the library lists: a model's entry (registered, or an unusable file), read from its row."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop_app.core import starter
from desktop_app.core.errors import HearthError
from desktop_app.core.model_files import ModelFile


class UnknownModelError(HearthError):
    title = "No such model"
    exit_code = 2


class FileNameTakenError(HearthError):
    """Importing a file whose name a different model in the models folder already has."""

    title = "A model with this file name is already in your library"
    exit_code = 2


def shown_name(path: Path, name: str) -> str:
    """The one name a model goes by everywhere: the starter model's is fixed (its file says
    "Gemma 3 270m", the app called it "Gemma 3 270M (starter)": one model, two names)."""
    return starter.DISPLAY_NAME if starter.is_starter(path) else name


class CompletedDownloadLike(Protocol):
    """What the library needs of a finished download (downloads.CompletedDownload)."""

    @property
    def repo(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def sha256(self) -> str | None: ...


@dataclass(frozen=True)
class LibraryModel:
    id: str
    display_name: str
    path: Path
    parts: int
    is_link: bool
    size_bytes: int
    sha256: str | None
    summary: dict[str, Any]
    added_at: float
    last_used_at: float | None
    origin_repo: str | None = None
    origin_file: str | None = None
    imported_from: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: why the file cannot be used (a file in the models folder that failed validation); None when usable
    error: str | None = None

    @property
    def architecture(self) -> str:
        return str(self.summary.get("architecture", "?"))

    @property
    def quant(self) -> str:
        return str(self.summary.get("file_type", "?"))

    @property
    def context_length(self) -> int | None:
        value = self.summary.get("context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def missing(self) -> bool:
        return not os.path.exists(self.path)  # False for a dangling link, and never raises

    @property
    def usable(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.display_name,
            "path": printable(str(self.path)),
            "parts": self.parts,
            "linked": self.is_link,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "architecture": self.architecture,
            "quant": self.quant,
            "context_length": self.context_length,
            "origin": f"{self.origin_repo}/{self.origin_file}" if self.origin_repo else self.imported_from,
            "added_at": self.added_at,
            "last_used_at": self.last_used_at,
            "missing": self.missing,
            "error": self.error,
        }


@dataclass(frozen=True)
class ScanResult:
    added: list[LibraryModel]
    problems: list[tuple[Path, HearthError]]
    removed: list[str]


def printable(text: str) -> str:
    """`text` with undecodable bytes of a file name (lone surrogates) shown as escapes, so it can be
    printed, stored in SQLite and dumped as JSON."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def unusable_entry(model_file: ModelFile, exc: HearthError, model_id: str) -> LibraryModel:
    try:
        added = os.lstat(model_file.path).st_mtime
    except OSError:
        added = 0.0
    return LibraryModel(
        id=model_id,
        display_name=printable(model_file.display_name),
        path=model_file.path,
        parts=len(model_file.parts),
        is_link=model_file.linked,
        size_bytes=model_file.size_bytes,
        sha256=None,
        summary={},
        added_at=added,
        last_used_at=None,
        error=exc.message,
    )


def from_row(row: Any) -> LibraryModel:
    return LibraryModel(
        id=row["id"],
        display_name=shown_name(Path(row["path"]), row["display_name"]),
        path=Path(row["path"]),
        parts=row["parts"],
        is_link=bool(row["is_link"]),
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        summary=json.loads(row["summary"]),
        added_at=row["added_at"],
        last_used_at=row["last_used_at"],
        origin_repo=row["origin_repo"],
        origin_file=row["origin_file"],
        imported_from=row["imported_from"],
        settings=json.loads(row["settings"] or "{}"),
    )
