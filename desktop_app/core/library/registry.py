"""The local model library: a registry in SQLite of the GGUF models Hearth can load.

Files live in the models folder (copied in, downloaded, or dropped there by hand) or are referenced
in place ("linked"). Every file is validated with our GGUF parser before it is registered, so the
library never offers a model llama.cpp would choke on. Split models count as one entry.

A symbolic link found in the models folder (to a file, or to a folder of files) makes a *linked*
model, like `hearth models import --link`: its data lives elsewhere. Deleting a model never follows a
link and never removes anything outside the models folder; at most the link itself goes.

A file in the models folder that fails validation is not registered but is listed as *unusable*, with
the reason (`list(include_unusable=True)`, `LibraryModel.error`), so one bad file is visible and
removable instead of silently missing or breaking the listing.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop_app.core.db import Database
from desktop_app.core.errors import DiskFullError, HearthError, ModelFileError, StorageError
from desktop_app.core.gguf_info import ModelSummary, inspect_gguf
from desktop_app.core.model_files import ModelFile, find_model_files, link_in
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
            "path": _printable(str(self.path)),
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


class Library:
    def __init__(self, db: Database, paths: AppPaths) -> None:
        self.db = db
        self.paths = paths
        self._lock = threading.Lock()
        self._unusable: tuple[LibraryModel, ...] = ()  # from the last scan

    # -- reading ---------------------------------------------------------------------------------

    def list(self, *, include_unusable: bool = False) -> list[LibraryModel]:
        """The registered models; with `include_unusable`, also the bad files the last scan found."""
        rows = self.db.connection().execute("SELECT * FROM models ORDER BY lower(display_name)").fetchall()
        models = [_from_row(row) for row in rows]
        if include_unusable and self._unusable:
            models = sorted([*models, *self._unusable], key=lambda m: m.display_name.lower())
        return models

    def unusable(self) -> builtins.list[LibraryModel]:
        """Files in the models folder that the last `scan` could not use, each with its `error`."""
        return list(self._unusable)

    def get(self, model_id: str) -> LibraryModel:
        """A registered model, or an unusable file from the last scan (so it can be deleted)."""
        row = self.db.connection().execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is not None:
            return _from_row(row)
        for model in self._unusable:
            if model.id == model_id:
                return model
        raise UnknownModelError(
            f"There is no model with the id '{model_id}' in the library.",
            hint="Run `hearth models list` to see the ids.",
        )

    def find_by_path(self, path: Path) -> LibraryModel | None:
        """The entry for `path`, whether it was registered by its own name (a link in the models
        folder) or by the file it leads to."""
        real = _real(path)
        names = (str(Path(os.path.abspath(path))), str(real))
        row = self.db.connection().execute("SELECT * FROM models WHERE path IN (?, ?)", names).fetchone()
        if row is not None:
            return _from_row(row)
        return next((m for m in self.list() if m.is_link and _real(m.path) == real), None)

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
        source = _real(source.expanduser())
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
        """Pick up .gguf files dropped into the models folder by hand (a link found there makes a
        linked model); forget entries whose files are gone from it. Files that fail validation are
        reported and kept as `unusable()`, never registered."""
        root = self.models_root()
        removed = self._forget_vanished(root)
        added: list[LibraryModel] = []
        problems: list[tuple[Path, HearthError]] = []
        bad: list[LibraryModel] = []
        registered = self.list()
        known = {m.path for m in registered} | {_real(m.path) for m in registered}
        taken = {m.id for m in registered}
        found = [m for m in find_model_files(root) if ".partial" not in m.path.relative_to(root).parts]
        # Stored files first: a link that points back at one of them is only a second name for it.
        for model_file in sorted(found, key=lambda m: m.linked):
            real = _real(model_file.path)
            if model_file.path in known or real in known:
                continue
            if not model_file.complete:
                continue  # a split model still downloading or being copied
            try:
                if not os.path.exists(model_file.path):
                    raise _dangling(model_file.path)
                if _printable(str(model_file.path)) != str(model_file.path):
                    raise ModelFileError(
                        f"The file name {_printable(model_file.path.name)} is not valid UTF-8,"
                        " so Hearth cannot record it.",
                        hint="Rename the file.",
                    )
                summary = inspect_gguf(model_file.path)
                model = self._register(model_file, summary, sha256=None, is_link=model_file.linked)
                added.append(model)
                taken.add(model.id)
                known |= {model_file.path, real}
            except HearthError as exc:
                problems.append((model_file.path, exc))
                bad.append(_unusable_entry(model_file, exc, _free_id(model_file.display_name, taken)))
                taken.add(bad[-1].id)
        self._unusable = tuple(bad)
        return ScanResult(added, problems, removed)

    def _forget_vanished(self, root: Path) -> builtins.list[str]:
        """Forget entries whose files are gone from the models folder (stored there, or a link found
        there); mark as linked the entries an older Hearth registered through a link, whose files
        lie outside the folder and so are not the library's to delete."""
        removed: list[str] = []
        relinked: list[str] = []
        for m in self.list():
            if m.missing and (not m.is_link or _inside(m.path, root) is not None):
                removed.append(m.id)
            elif not m.is_link and not m.missing and _inside(_real(m.path), root) is None:
                relinked.append(m.id)
        if removed or relinked:
            with self.db.transaction() as conn:
                conn.executemany("DELETE FROM models WHERE id = ?", [(i,) for i in removed])
                conn.executemany("UPDATE models SET is_link = 1 WHERE id = ?", [(i,) for i in relinked])
        return removed

    def models_root(self) -> Path:
        """The models folder with every link in its own path resolved (it may live on another disk);
        what lies below it is compared against this."""
        self.paths.models.mkdir(parents=True, exist_ok=True)
        return _real(self.paths.models)

    # -- changing --------------------------------------------------------------------------------

    def delete(self, model_id: str) -> LibraryModel:
        """Remove the entry and, unless the model is linked, its file(s) in the models folder.

        Links are never followed: a model reached through a link in the models folder loses that link
        (for a linked folder, the folder link, so every model in it leaves the library) and the files
        it points at stay. Nothing outside the models folder is ever removed.
        """
        model = self.get(model_id)
        root = self.models_root()
        for target in _removable(model, root):
            try:
                _unlink_inside(root, target)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageError(
                    f"{target.name} could not be deleted: {exc.strerror or exc}.",
                    hint="Check the file's permissions, or delete it by hand.",
                ) from exc
        if model.error is not None:
            self._unusable = tuple(m for m in self._unusable if m.id != model.id)
        else:
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
                    str(_stored_path(model_file.path, is_link=is_link)),
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


def _printable(text: str) -> str:
    """`text` with undecodable bytes of a file name (lone surrogates) shown as escapes, so it can be
    printed, stored in SQLite and dumped as JSON."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _stored_path(path: Path, *, is_link: bool) -> Path:
    """A linked model is recorded by the name it was found under (a link in the models folder is
    removed as a link); a stored one by its real path."""
    return path if is_link and path.is_absolute() else _real(path)


def _free_id(name: str, taken: set[str]) -> str:
    """Like _unique_id, against ids already handed out (the unusable files are not in the database)."""
    base = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _real(path: Path) -> Path:
    """`path` with every link resolved; unlike Path.resolve() (Python 3.11) it never raises on a loop."""
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path) -> Path | None:
    """`path` relative to `root` when it names something below it (compared as written: links in
    `path` are not followed), else None."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        return None
    return rel if rel.parts else None


def _dangling(path: Path) -> ModelFileError:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return ModelFileError(
        f"{path.name} is a link to {target}, which does not exist or cannot be reached.",
        hint="Restore the file it points at, or delete the link.",
    )


def _unusable_entry(model_file: ModelFile, exc: HearthError, model_id: str) -> LibraryModel:
    try:
        added = os.lstat(model_file.path).st_mtime
    except OSError:
        added = 0.0
    return LibraryModel(
        id=model_id,
        display_name=_printable(model_file.display_name),
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


def _removable(model: LibraryModel, root: Path) -> list[Path]:
    """What deleting `model` may unlink: its parts stored in the models folder (unless it is linked),
    or the link inside the models folder that leads to it. Never a path outside the folder, never
    what a link points at."""
    if _inside(model.path, root) is None:
        return []  # linked in place, or registered through a link by an older Hearth
    path = Path(os.path.abspath(model.path))
    parts = next((m.parts for m in find_model_files(path.parent) if path in m.parts), (path,))
    targets: list[Path] = []
    for part in parts:
        if _inside(part, root) is None or not os.path.lexists(part):
            continue
        target = link_in(part, root)
        if target is None:
            if model.is_link or _inside(_real(part), root) is None:
                continue  # a linked model's files stay where they are
            target = part
        if target not in targets:
            targets.append(target)
    return targets


def _unlink_inside(root: Path, target: Path) -> None:
    """Unlink `target` (a file, or a link itself: never what it points at) below `root`.

    Each folder on the way is opened without following links, so a folder swapped for a link after
    `_removable` looked makes this fail instead of deleting a file outside the models folder.
    """
    rel = target.relative_to(root).parts
    if sys.platform == "win32" or os.unlink not in os.supports_dir_fd:
        if link_in(target.parent, root) is not None:
            raise OSError(errno.ELOOP, "a folder on the way is now a link", str(target))
        os.unlink(target)
        return
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in rel[:-1]:
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.unlink(rel[-1], dir_fd=fd)
    finally:
        os.close(fd)


def _model_file_for(path: Path) -> ModelFile:
    """The ModelFile (all parts) that `path` belongs to."""
    if not os.path.exists(path):
        raise ModelFileError(f"There is no file at {path}.", hint="Check the path and try again.")
    for model_file in find_model_files(path.parent):
        if _real(path) in {_real(p) for p in model_file.parts}:
            return ModelFile(path=_real(model_file.path), parts=tuple(_real(p) for p in model_file.parts))
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
