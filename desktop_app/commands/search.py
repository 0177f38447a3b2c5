"""`hearth search QUERY [--sort downloads|likes|recent] [--json]`: GGUF repos on the Hugging Face Hub."""

from __future__ import annotations

import argparse
import json
from typing import Any

from desktop_app.core.hub import RepoSummary, SortKey, search_models
from desktop_app.core.network import apply_offline
from desktop_app.core.paths import app_paths
from desktop_app.core.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    search = sub.add_parser("search", help="search the Hugging Face Hub for GGUF models")
    search.add_argument("query", help="words in the repository name, e.g. 'qwen 7b'")
    search.add_argument(
        "--sort", choices=("downloads", "likes", "recent"), default="downloads", help="order of results"
    )
    search.add_argument("--limit", type=int, default=20, help="results per page (1-100)")
    search.add_argument("--page", type=int, default=1, help="page number, from 1")
    search.add_argument("--json", action="store_true", help="print one JSON list")
    search.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    settings, _problem = load_settings(app_paths())
    if settings.offline:  # the CLI honours the app's offline switch too
        apply_offline(True)
    sort: SortKey = args.sort
    hits = search_models(args.query, sort=sort, page=max(args.page - 1, 0), page_size=args.limit)
    if args.json:
        print(json.dumps([_as_json(h) for h in hits], ensure_ascii=False))
        return 0
    if not hits:
        print(f"No GGUF models match {args.query!r}.")
        return 0
    rows = [
        (
            h.id + ("  [gated]" if h.gated else "") + ("  [private]" if h.private else ""),
            f"{h.downloads:,}",
            f"{h.likes:,}",
            h.last_modified.date().isoformat() if h.last_modified else "?",
        )
        for h in hits
    ]
    header = ("REPOSITORY", "DOWNLOADS", "LIKES", "UPDATED")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    for row in (header, *rows):
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")
    return 0


def _as_json(hit: RepoSummary) -> dict[str, Any]:
    return {
        "id": hit.id,
        "author": hit.author,
        "downloads": hit.downloads,
        "likes": hit.likes,
        "last_modified": hit.last_modified.isoformat() if hit.last_modified else None,
        "gated": hit.gated,
        "private": hit.private,
        "tags": list(hit.tags),
    }
