"""Finding GGUF model files in a folder, with split models (`-00001-of-00003`) counted once.

Paths are returned as found *inside* the folder, never resolved: a file reached through a symbolic
link (the file itself, or the subfolder holding it, is a link) is marked `linked`, because its data
lives elsewhere and is not the library's to delete. Links whose target is missing are listed too, so
the library can show them as unusable instead of silently ignoring them.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelFile:
    """One model on disk: `path` is what llama.cpp is given (the first part of a split model).

    `linked`: some part is reached through a symbolic link inside the folder that was searched.
    """

    path: Path
    parts: tuple[Path, ...]
    linked: bool = False

    @property
    def display_name(self) -> str:
        match = _SPLIT.match(self.path.name)
        return match["stem"] if match else self.path.stem

    @property
    def size_bytes(self) -> int:
        total = 0
        for part in self.parts:
            with contextlib.suppress(OSError):  # missing, a dangling link, unreadable: counts as nothing
                total += part.stat().st_size
        return total

    @property
    def complete(self) -> bool:
        match = _SPLIT.match(self.path.name)
        return match is None or len(self.parts) == int(match["count"])


def link_in(path: Path, folder: Path) -> Path | None:
    """The first symbolic link on the way from `folder` down to `path` (the path itself included),
    or None when every step is a real folder or file. `path` must be lexically inside `folder`."""
    step = folder
    for name in path.relative_to(folder).parts:
        step = step / name
        if os.path.islink(step):
            return step
    return None


def _candidate(path: Path) -> bool:
    """Anything named .gguf but a folder: a file, a dangling link, something unreadable or odd
    (a FIFO); the validator then says what is wrong with it."""
    return not os.path.isdir(path)


def find_model_files(folder: Path) -> list[ModelFile]:
    """Every `.gguf` under `folder` (one level of subfolders too, as downloads create them)."""
    if not os.path.isdir(folder):
        return []
    try:
        found = [p for pattern in ("*.gguf", "*/*.gguf") for p in folder.glob(pattern)]
    except OSError:  # a folder vanished or became unreadable while we looked
        found = []
    candidates = sorted(p for p in found if _candidate(p))
    groups: dict[tuple[Path, str], list[Path]] = {}
    singles: list[ModelFile] = []
    for path in candidates:
        match = _SPLIT.match(path.name)
        if match is None:
            singles.append(ModelFile(path=path, parts=(path,), linked=link_in(path, folder) is not None))
        else:
            groups.setdefault((path.parent, match["stem"]), []).append(path)
    for parts in groups.values():
        parts.sort()
        linked = any(link_in(p, folder) is not None for p in parts)
        singles.append(ModelFile(path=parts[0], parts=tuple(parts), linked=linked))
    return sorted(singles, key=lambda m: m.display_name.lower())
