"""The local model library: a registry in SQLite of the GGUF models Hearth can load.

Files live in the models folder (copied in, downloaded, or dropped there by hand) or are referenced
in place ("linked"). Every file is validated with our GGUF parser before it is registered, so the
library never offers a model llama.cpp would choke on. Split models count as one entry.

A symbolic link found in the models folder (to a file, or to a folder of files) makes a *linked*
model, like a file imported as a link: its data lives elsewhere. Deleting a model never follows a
link and never removes anything outside the models folder; at most the link itself goes (removal.py).

A file in the models folder that fails validation is not registered but is listed as *unusable*, with
the reason (`list(include_unusable=True)`, `LibraryModel.error`), so one bad file is visible and
removable instead of silently missing or breaking the listing.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from desktop_app.core import gguf_info
from desktop_app.core.db import Database
from desktop_app.core.errors import DiskFullError, HearthError, ModelFileError, StorageError
from desktop_app.core.gguf_info import ModelSummary
from desktop_app.core.library.entries import (
    CompletedDownloadLike,
    FileNameTakenError,
    LibraryModel,
    ScanResult,
    UnknownModelError,
    from_row,
    printable,
    unusable_entry,
)
from desktop_app.core.library.importing import Progress, copy_hashing
from desktop_app.core.library.locations import dangling, inside, model_file_for, real_path, stored_path
from desktop_app.core.library.removal import removable, unlink_inside
from desktop_app.core.model_files import ModelFile, find_model_files
from desktop_app.core.paths import AppPaths


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
        models = [from_row(row) for row in rows]
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
            return from_row(row)
        for model in self._unusable:
            if model.id == model_id:
                return model
        raise UnknownModelError(
            f"There is no model with the id '{model_id}' in the library.",
            hint="It may have been deleted. Pick a model from the list of your models.",
        )

    def find_by_path(self, path: Path) -> LibraryModel | None:
        """The entry for `path`, whether it was registered by its own name (a link in the models
        folder) or by the file it leads to."""
        real = real_path(path)
        names = (str(Path(os.path.abspath(path))), str(real))
        row = self.db.connection().execute("SELECT * FROM models WHERE path IN (?, ?)", names).fetchone()
        if row is not None:
            return from_row(row)
        return next((m for m in self.list() if m.is_link and real_path(m.path) == real), None)

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
        """Validate, then copy into the models folder (hashing as it copies) or reference in place.

        A file that is already in the library (the same file, or a copy of it with the same name in
        the models folder) is not imported again: its entry is returned. Another model that has the
        file's name already is a FileNameTakenError."""
        source = real_path(source.expanduser())
        model_file = model_file_for(source)
        summary = gguf_info.inspect_gguf(model_file.path)
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
            same = self._same_model_at(targets[0], model_file)
            if same is not None:
                return same
            raise FileNameTakenError(
                f"A different model is already in your library under the file name {targets[0].name}.",
                hint="Rename the file you are importing, or delete the model that has that name.",
            )
        self._check_space(model_file.size_bytes)
        digests = [
            copy_hashing(part, target, progress, cancel)
            for part, target in zip(model_file.parts, targets, strict=True)
        ]
        copied = ModelFile(path=targets[0], parts=tuple(targets))
        sha = digests[0] if len(digests) == 1 else None
        return self._register(copied, summary, sha256=sha, is_link=False, imported_from=str(source))

    def register_download(self, completed: CompletedDownloadLike) -> LibraryModel:
        model_file = model_file_for(completed.path)
        existing = self.find_by_path(model_file.path)
        if existing is not None:
            return existing
        summary = gguf_info.inspect_gguf(model_file.path)
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
        known = {m.path for m in registered} | {real_path(m.path) for m in registered}
        taken = {m.id for m in registered}
        found = [m for m in find_model_files(root) if ".partial" not in m.path.relative_to(root).parts]
        # Stored files first: a link that points back at one of them is only a second name for it.
        for model_file in sorted(found, key=lambda m: m.linked):
            real = real_path(model_file.path)
            if model_file.path in known or real in known:
                continue
            if not model_file.complete:
                continue  # a split model still downloading or being copied
            try:
                if not os.path.exists(model_file.path):
                    raise dangling(model_file.path)
                if printable(str(model_file.path)) != str(model_file.path):
                    raise ModelFileError(
                        f"The file name {printable(model_file.path.name)} is not valid UTF-8,"
                        " so Hearth cannot record it.",
                        hint="Rename the file.",
                    )
                summary = gguf_info.inspect_gguf(model_file.path)
                model = self._register(model_file, summary, sha256=None, is_link=model_file.linked)
                added.append(model)
                taken.add(model.id)
                known |= {model_file.path, real}
            except HearthError as exc:
                problems.append((model_file.path, exc))
                bad.append(unusable_entry(model_file, exc, _free_id(model_file.display_name, taken)))
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
            if m.missing and (not m.is_link or inside(m.path, root) is not None):
                removed.append(m.id)
            elif not m.is_link and not m.missing and inside(real_path(m.path), root) is None:
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
        return real_path(self.paths.models)

    # -- changing --------------------------------------------------------------------------------

    def delete(self, model_id: str) -> LibraryModel:
        """Remove the entry and, unless the model is linked, its file(s) in the models folder.

        Links are never followed: a model reached through a link in the models folder loses that link
        (for a linked folder, the folder link, so every model in it leaves the library) and the files
        it points at stay. Nothing outside the models folder is ever removed.
        """
        model = self.get(model_id)
        root = self.models_root()
        for target in removable(model, root):
            try:
                unlink_inside(root, target)
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

    def _same_model_at(self, target: Path, model_file: ModelFile) -> LibraryModel | None:
        """The library's entry for `target` when it holds the same bytes as `model_file` (same size,
        then same sha256), else None. Hashing reads both files: only when the sizes match."""
        existing = self.find_by_path(target)
        if existing is None or existing.parts != len(model_file.parts):
            return None
        if existing.size_bytes != model_file.size_bytes:
            return None
        try:
            stored = [target.parent / part.name for part in model_file.parts]
            for source, copy in zip(model_file.parts, stored, strict=True):
                if source.stat().st_size != copy.stat().st_size or _sha256(source) != _sha256(copy):
                    return None
        except OSError:
            return None
        return existing

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
                    str(stored_path(model_file.path, is_link=is_link)),
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _unique_id(conn: Any, name: str) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"
    candidate, n = base, 2
    while conn.execute("SELECT 1 FROM models WHERE id = ?", (candidate,)).fetchone():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _free_id(name: str, taken: set[str]) -> str:
    """Like _unique_id, against ids already handed out (the unusable files are not in the database)."""
    base = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
