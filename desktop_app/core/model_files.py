"""Finding GGUF model files in a folder, with split models (`-00001-of-00003`) counted once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelFile:
    """One model on disk: `path` is what llama.cpp is given (the first part of a split model)."""

    path: Path
    parts: tuple[Path, ...]

    @property
    def display_name(self) -> str:
        match = _SPLIT.match(self.path.name)
        return match["stem"] if match else self.path.stem

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.parts if p.exists())

    @property
    def complete(self) -> bool:
        match = _SPLIT.match(self.path.name)
        return match is None or len(self.parts) == int(match["count"])


def find_model_files(folder: Path) -> list[ModelFile]:
    """Every `.gguf` under `folder` (one level of subfolders too, as downloads create them)."""
    if not folder.is_dir():
        return []
    candidates = sorted(p for pattern in ("*.gguf", "*/*.gguf") for p in folder.glob(pattern) if p.is_file())
    groups: dict[tuple[Path, str], list[Path]] = {}
    singles: list[ModelFile] = []
    for path in candidates:
        match = _SPLIT.match(path.name)
        if match is None:
            singles.append(ModelFile(path=path, parts=(path,)))
        else:
            groups.setdefault((path.parent, match["stem"]), []).append(path)
    for parts in groups.values():
        parts.sort()
        singles.append(ModelFile(path=parts[0], parts=tuple(parts)))
    return sorted(singles, key=lambda m: m.display_name.lower())
