"""The local model library: a registry in SQLite of the GGUF models Hearth can load.

Files live in the models folder (copied in, downloaded, or dropped there by hand) or are referenced
in place ("linked"). Every file is validated with our GGUF parser before it is registered, so the
library never offers a model llama.cpp would choke on. Split models count as one entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop_app.core.db import Database
from desktop_app.core.errors import DiskFullError, HearthError, ModelFileError, StorageError
from desktop_app.core.gguf_info import ModelSummary, inspect_gguf
from desktop_app.core.model_files import ModelFile, find_model_files
from desktop_app.core.paths import AppPaths

CHUNK = 4 * 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class UnknownModelError(HearthError):
    title = "No such model"
    exit_code = 2


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
        return not self.path.exists()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.display_name,
            "path": str(self.path),
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
        }


@dataclass(frozen=True)
class ScanResult:
    added: list[LibraryModel]
    problems: list[tuple[Path, HearthError]]
    removed: list[str]


class Library:
    def __init__(self, db: Database, paths: AppPaths) -> None:
        self.db = db
        self.paths = paths
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------

    def list(self) -> list[LibraryModel]:
        rows = self.db.connection().execute("SELECT * FROM models ORDER BY lower(display_name)").fetchall()
        return [_from_row(row) for row in rows]

    def get(self, model_id: str) -> LibraryModel:
        row = self.db.connection().execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            raise UnknownModelError(
                f"There is no model with the id '{model_id}' in the library.",
                hint="Run `hearth models list` to see the ids.",
            )
        return _from_row(row)

    def find_by_path(self, path: Path) -> LibraryModel | None:
        row = (
            self.db.connection()
            .execute("SELECT * FROM models WHERE path = ?", (str(path.resolve()),))
            .fetchone()
        )
        return _from_row(row) if row else None

    def disk_usage(self) -> tuple[int, int]:
        """(bytes used by models stored in the models folder, bytes free on that disk)."""
        used = sum(m.size_bytes for m in self.list() if not m.is_link)
        self.paths.models.mkdir(parents=True, exist_ok=True)
        return used, shutil.disk_usage(self.paths.models).free

    # -- adding ----------------------------------------------------------------------------------

    def import_file(
        self,
        source: Path,
        *,
        link: bool = False,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> LibraryModel:
        """Validate, then copy into the models folder (hashing as it copies) or reference in place."""
        source = source.expanduser().resolve()
        model_file = _model_file_for(source)
        summary = inspect_gguf(model_file.path)
        if not model_file.complete:
            raise ModelFileError(
                f"{model_file.path.name} is part of a split model, and some parts are missing.",
                hint=f"Put all {summary.split_count} parts in the same folder, then import the first one.",
            )
        existing = self.find_by_path(model_file.path)
        if existing is not None:
            return existing
        if link:
            return self._register(model_file, summary, sha256=None, is_link=True, imported_from=str(source))
        target_dir = self.paths.models
        targets = [target_dir / part.name for part in model_file.parts]
        if any(t.exists() for t in targets):
            raise StorageError(
                f"A file named {targets[0].name} is already in the models folder.",
                hint="Rename the file you are importing, or delete the model that is there.",
            )
        self._check_space(model_file.size_bytes)
        digests = [
            _copy_hashing(part, target, progress, cancel)
            for part, target in zip(model_file.parts, targets, strict=True)
        ]
        copied = ModelFile(path=targets[0], parts=tuple(targets))
        sha = digests[0] if len(digests) == 1 else None
        return self._register(copied, summary, sha256=sha, is_link=False, imported_from=str(source))

    def register_download(self, completed: CompletedDownloadLike) -> LibraryModel:
        model_file = _model_file_for(completed.path)
        existing = self.find_by_path(model_file.path)
        if existing is not None:
            return existing
        summary = inspect_gguf(model_file.path)
        if not model_file.complete:
            raise ModelFileError(
                f"{model_file.path.name} is part of a split model whose other parts are not downloaded yet.",
                hint="Download every part; the model appears in your library when all are there.",
            )
        return self._register(
            model_file,
            summary,
            sha256=completed.sha256 if len(model_file.parts) == 1 else None,
            is_link=False,
            origin=(completed.repo, completed.filename, completed.revision),
        )

    def scan(self) -> ScanResult:
        """Pick up .gguf files dropped into the models folder by hand; forget entries whose files are
        gone from it. Invalid files are reported, not registered."""
        added: list[LibraryModel] = []
        problems: list[tuple[Path, HearthError]] = []
        known = {m.path for m in self.list()}
        for model_file in find_model_files(self.paths.models):
            if model_file.path.resolve() in known or model_file.path.parent.name == ".partial":
                continue
            try:
                summary = inspect_gguf(model_file.path)
                if not model_file.complete:
                    continue  # a split model still downloading or being copied
                added.append(self._register(model_file, summary, sha256=None, is_link=False))
            except HearthError as exc:
                problems.append((model_file.path, exc))
        removed = [m.id for m in self.list() if not m.is_link and m.missing]
        if removed:
            with self.db.transaction() as conn:
                conn.executemany("DELETE FROM models WHERE id = ?", [(i,) for i in removed])
        return ScanResult(added, problems, removed)

    # -- changing --------------------------------------------------------------------------------

    def delete(self, model_id: str) -> LibraryModel:
        """Remove the entry and, unless the model is linked, its file(s)."""
        model = self.get(model_id)
        if not model.is_link:
            for part in _model_file_for(model.path).parts if model.path.exists() else ():
                try:
                    part.unlink()
                except OSError as exc:
                    raise StorageError(
                        f"{part.name} could not be deleted: {exc.strerror or exc}.",
                        hint="Check the file's permissions, or delete it by hand.",
                    ) from exc
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM models WHERE id = ?", (model_id,))
        return model

    def touch(self, model_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE models SET last_used_at = ? WHERE id = ?", (time.time(), model_id))

    def update_settings(self, model_id: str, settings: dict[str, Any]) -> None:
        self.get(model_id)
        with self.db.transaction() as conn:
            conn.execute("UPDATE models SET settings = ? WHERE id = ?", (json.dumps(settings), model_id))

    # -- internals -------------------------------------------------------------------------------

    def _check_space(self, needed: int) -> None:
        self.paths.models.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.paths.models).free
        if needed * 1.02 + 64 * 1024 * 1024 > free:
            raise DiskFullError(
                f"Importing needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB is free "
                f"in {self.paths.models}.",
                hint="Free some space, or import with 'link' to use the file where it is.",
            )

    def _register(
        self,
        model_file: ModelFile,
        summary: ModelSummary,
        *,
        sha256: str | None,
        is_link: bool,
        imported_from: str | None = None,
        origin: tuple[str, str, str] | None = None,
    ) -> LibraryModel:
        with self._lock, self.db.transaction() as conn:
            model_id = _unique_id(conn, model_file.display_name)
            conn.execute(
                """INSERT INTO models (id, display_name, path, parts, is_link, origin_repo, origin_file,
                   origin_revision, imported_from, size_bytes, sha256, summary, added_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    model_id,
                    summary.name or model_file.display_name,
                    str(model_file.path.resolve()),
                    len(model_file.parts),
                    int(is_link),
                    origin[0] if origin else None,
                    origin[1] if origin else None,
                    origin[2] if origin else None,
                    imported_from,
                    model_file.size_bytes,
                    sha256,
                    json.dumps(summary.to_dict()),
                    time.time(),
                ),
            )
        return self.get(model_id)


def _unique_id(conn: Any, name: str) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"
    candidate, n = base, 2
    while conn.execute("SELECT 1 FROM models WHERE id = ?", (candidate,)).fetchone():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _model_file_for(path: Path) -> ModelFile:
    """The ModelFile (all parts) that `path` belongs to."""
    if not path.exists():
        raise ModelFileError(f"There is no file at {path}.", hint="Check the path and try again.")
    for model_file in find_model_files(path.parent):
        if path.resolve() in {p.resolve() for p in model_file.parts}:
            return ModelFile(
                path=model_file.path.resolve(), parts=tuple(p.resolve() for p in model_file.parts)
            )
    return ModelFile(path=path, parts=(path,))


def _copy_hashing(
    source: Path, target: Path, progress: Progress | None, cancel: threading.Event | None
) -> str:
    """Copy to a temporary name next to the target, hashing as we go; rename only when complete."""
    partial = target.with_name(target.name + ".importing")
    digest = hashlib.sha256()
    total = source.stat().st_size
    done = 0
    try:
        with source.open("rb") as src, partial.open("wb") as dst:
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


def _from_row(row: Any) -> LibraryModel:
    return LibraryModel(
        id=row["id"],
        display_name=row["display_name"],
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
