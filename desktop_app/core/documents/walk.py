"""Finding the files of a collection: folders walked recursively without following symlinked folders
(no loops), hidden folders and files skipped, only the formats extraction reads, and a bounded count
so a mistaken `hearth docs add /` ends with a message instead of an afternoon of indexing."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: the most files one collection's walk takes
MAX_FILES = 20_000


@dataclass(frozen=True)
class Found:
    path: str
    size: int
    mtime_ns: int


@dataclass
class Walk:
    files: list[Found] = field(default_factory=list)
    #: (path, reason) for the roots that cannot be indexed
    problems: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False


def walk(roots: Iterable[str], suffixes: frozenset[str], *, limit: int = MAX_FILES) -> Walk:
    """Every supported file under `roots` (absolute, normalised paths), each once, sorted per folder."""
    out = Walk()
    seen: set[str] = set()

    def take(path: str, info: os.stat_result) -> bool:
        if path in seen:
            return True
        if len(out.files) >= limit:
            out.truncated = True
            return False
        seen.add(path)
        out.files.append(Found(path, info.st_size, info.st_mtime_ns))
        return True

    for root in roots:
        try:
            info = os.stat(root)
        except OSError as exc:
            out.problems.append((root, f"cannot be read: {exc.strerror or exc.__class__.__name__}"))
            continue
        if stat.S_ISREG(info.st_mode):
            if os.path.splitext(root)[1].lower() not in suffixes:
                shown = ", ".join(sorted(suffixes))
                out.problems.append((root, f"this format is not supported (supported: {shown})"))
            elif not take(root, info):
                break
            continue
        if not stat.S_ISDIR(info.st_mode):
            out.problems.append((root, "not a regular file or folder"))
            continue
        if not _walk_folder(root, suffixes, take):
            break
    return out


def _walk_folder(root: str, suffixes: frozenset[str], take: Callable[[str, os.stat_result], bool]) -> bool:
    """False once the limit is reached."""
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in suffixes:
                continue
            path = os.path.join(folder, name)
            try:
                info = os.stat(path)  # a symlinked file is followed; a broken one is skipped
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and not take(path, info):
                return False
    return True
