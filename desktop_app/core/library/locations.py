"""Where a model's files are: links resolved or kept as written, and whether a path lies in a folder.

A symbolic link in the models folder names a *linked* model whose data lives elsewhere; the library
records it by the name it was found under and never treats what it points at as its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.core.errors import ModelFileError
from desktop_app.core.model_files import ModelFile, find_model_files


def stored_path(path: Path, *, is_link: bool) -> Path:
    """A linked model is recorded by the name it was found under (a link in the models folder is
    removed as a link); a stored one by its real path."""
    return path if is_link and path.is_absolute() else real_path(path)


def real_path(path: Path) -> Path:
    """`path` with every link resolved; unlike Path.resolve() (Python 3.11) it never raises on a loop."""
    return Path(os.path.realpath(path))


def inside(path: Path, root: Path) -> Path | None:
    """`path` relative to `root` when it names something below it (compared as written: links in
    `path` are not followed), else None."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        return None
    return rel if rel.parts else None


def dangling(path: Path) -> ModelFileError:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return ModelFileError(
        f"{path.name} is a link to {target}, which does not exist or cannot be reached.",
        hint="Restore the file it points at, or delete the link.",
    )


def model_file_for(path: Path) -> ModelFile:
    """The ModelFile (all parts) that `path` belongs to."""
    if not os.path.exists(path):
        raise ModelFileError(f"There is no file at {path}.", hint="Check the path and try again.")
    for model_file in find_model_files(path.parent):
        if real_path(path) in {real_path(p) for p in model_file.parts}:
            return ModelFile(
                path=real_path(model_file.path), parts=tuple(real_path(p) for p in model_file.parts)
            )
    return ModelFile(path=path, parts=(path,))
