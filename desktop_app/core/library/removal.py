"""Deleting a model's files: never following a link, never removing anything outside the models folder.

At most a link itself goes: a model reached through a link in the models folder loses that link, and
the files it points at stay.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from desktop_app.core.library.entries import LibraryModel
from desktop_app.core.library.locations import inside, real_path
from desktop_app.core.model_files import find_model_files, link_in


def removable(model: LibraryModel, root: Path) -> list[Path]:
    """What deleting `model` may unlink: its parts stored in the models folder (unless it is linked),
    or the link inside the models folder that leads to it. Never a path outside the folder, never
    what a link points at."""
    if inside(model.path, root) is None:
        return []  # linked in place, or registered through a link by an older Hearth
    path = Path(os.path.abspath(model.path))
    parts = next((m.parts for m in find_model_files(path.parent) if path in m.parts), (path,))
    targets: list[Path] = []
    for part in parts:
        if inside(part, root) is None or not os.path.lexists(part):
            continue
        target = link_in(part, root)
        if target is None:
            if model.is_link or inside(real_path(part), root) is None:
                continue  # a linked model's files stay where they are
            target = part
        if target not in targets:
            targets.append(target)
    return targets


def unlink_inside(root: Path, target: Path) -> None:
    """Unlink `target` (a file, or a link itself: never what it points at) below `root`.

    Each folder on the way is opened without following links, so a folder swapped for a link after
    `removable` looked makes this fail instead of deleting a file outside the models folder.
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
