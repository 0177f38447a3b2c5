"""Search the Hub for GGUF repositories, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Final, Literal

from desktop_app.core.hub.client import api, auth_for
from desktop_app.core.hub.errors import hub_errors
from desktop_app.core.network import ensure_online

__all__ = ["RepoSummary", "SortKey", "search_models"]

SortKey = Literal["downloads", "likes", "recent"]
_SORTS: Final[dict[str, Literal["downloads", "likes", "last_modified"]]] = {
    "downloads": "downloads",
    "likes": "likes",
    "recent": "last_modified",
}
# Fields the public Hub leaves out of /api/models unless asked for (lastModified, author, gated…).
_SEARCH_FIELDS: Final = ["author", "downloads", "likes", "lastModified", "gated", "private", "tags"]
_MAX_PAGE_SIZE: Final = 100


@dataclass(frozen=True)
class RepoSummary:
    """One search hit."""

    id: str
    author: str | None
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool
    private: bool
    tags: tuple[str, ...]


def search_models(
    query: str,
    *,
    sort: SortKey = "downloads",
    page: int = 0,
    page_size: int = 20,
    token: str | None = None,
) -> list[RepoSummary]:
    """One page of GGUF repos matching `query`, most downloaded, most liked or most recent first."""
    ensure_online("search the Hugging Face Hub")
    if sort not in _SORTS:
        raise ValueError(f"sort must be one of {sorted(_SORTS)}, not {sort!r}")
    page, page_size = max(page, 0), min(max(page_size, 1), _MAX_PAGE_SIZE)
    auth = auth_for(token)
    with hub_errors(auth=auth):
        found = api().list_models(
            search=query.strip() or None,
            filter="gguf",
            sort=_SORTS[sort],
            limit=(page + 1) * page_size,
            expand=_SEARCH_FIELDS,  # type: ignore[arg-type]  # a list of the Literal names
            token=auth,
        )
        hits = list(islice(found, page * page_size, (page + 1) * page_size))
    return [
        RepoSummary(
            id=m.id,
            author=m.author or (m.id.split("/")[0] if "/" in m.id else None),
            downloads=m.downloads or 0,
            likes=m.likes or 0,
            last_modified=m.last_modified,
            gated=bool(m.gated),
            private=bool(m.private),
            tags=tuple(m.tags or ()),
        )
        for m in hits
    ]
