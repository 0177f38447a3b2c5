"""The quantizations a Hub repository offers: its .gguf files, split parts grouped, each with the
size and the hash its download is verified against."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from huggingface_hub.hf_api import RepoFile as HfRepoFile

from desktop_app.core.hub.client import api, auth_for
from desktop_app.core.hub.errors import hub_errors
from desktop_app.core.hub.names import UnsafeNameError, check_local_name, parse_quant
from desktop_app.core.network import ensure_online

__all__ = ["ModelOption", "RepoFile", "list_model_options"]

log = logging.getLogger(__name__)

_SPLIT: Final = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_SKIPPED: Final = re.compile(r"mmproj|imatrix", re.IGNORECASE)


@dataclass(frozen=True)
class RepoFile:
    """A .gguf file in a repo; `sha256` is the LFS hash downloads are verified against.

    `split_index` is 1-based, as in `-00001-of-00003.gguf`; a whole file is part 1 of 1.
    `sha256` is None only for a file stored in git rather than LFS; `blob_id` (git sha1) then applies.
    """

    path: str
    size: int
    sha256: str | None
    quant: str | None
    split_index: int = 1
    split_count: int = 1
    blob_id: str | None = None


@dataclass(frozen=True)
class ModelOption:
    """One quantization the user can pick: a single file, or every part of a split model.

    `name` is the file llama.cpp opens (the first part); `size` the total over all parts.
    """

    name: str
    quant: str | None
    files: tuple[RepoFile, ...]
    size: int


def list_model_options(
    repo_id: str, *, revision: str = "main", token: str | None = None
) -> list[ModelOption]:
    """The GGUF quantizations in a repo, split parts grouped, smallest first.

    Vision projectors (mmproj) and importance matrices are left out: they are not models to pick.
    A split model with parts missing from the repo is left out too, since it could never load.
    """
    ensure_online(f"list the files of {repo_id}")
    auth = auth_for(token)
    with hub_errors(repo_id, auth=auth, revision=revision):
        entries = list(
            api().list_repo_tree(repo_id, recursive=True, expand=True, revision=revision, token=auth)
        )
    files = [
        _repo_file(e)
        for e in entries
        if isinstance(e, HfRepoFile) and _is_model_file(e.path) and _is_safe_name(repo_id, e.path)
    ]
    groups: dict[tuple[str, int], list[RepoFile]] = {}
    for f in files:
        split = _SPLIT.match(f.path)
        key = (split.group("stem") if split else f.path, f.split_count)
        groups.setdefault(key, []).append(f)
    options = []
    for parts in groups.values():
        parts.sort(key=lambda f: f.split_index)
        if [f.split_index for f in parts] != list(range(1, parts[0].split_count + 1)):
            continue
        options.append(
            ModelOption(
                name=parts[0].path,
                quant=parts[0].quant,
                files=tuple(parts),
                size=sum(f.size for f in parts),
            )
        )
    return sorted(options, key=lambda o: (o.size, o.name))


def _is_safe_name(repo_id: str, path: str) -> bool:
    """A file no computer could save under its name is no option (a split with one is incomplete)."""
    try:
        check_local_name(path)
    except UnsafeNameError as exc:
        log.warning("%s: leaving out %r: %s", repo_id, path, exc.message)
        return False
    return True


def _is_model_file(path: str) -> bool:
    return path.lower().endswith(".gguf") and not _SKIPPED.search(PurePosixPath(path).name)


def _repo_file(entry: HfRepoFile) -> RepoFile:
    split = _SPLIT.match(entry.path)
    return RepoFile(
        path=entry.path,
        size=entry.size,
        sha256=entry.lfs.sha256 if entry.lfs is not None else None,
        quant=parse_quant(entry.path),
        split_index=int(split.group("index")) if split else 1,
        split_count=int(split.group("count")) if split else 1,
        blob_id=entry.blob_id,
    )
