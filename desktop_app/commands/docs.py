"""`hearth docs add|search|list|rm|refresh`: collections of documents to search and to chat with.

`add` indexes incrementally (unchanged files are skipped) and keeps going past files it cannot read:
it exits 0 and lists them. Progress and an ETA go to stderr; `--json` puts one object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from desktop_app.core.documents.store import (
    DEFAULT_COLLECTION,
    Collection,
    DocumentStore,
    check_collection_name,
)
from desktop_app.core.errors import HearthError
from desktop_app.core.paths import app_paths

__all__ = ["register"]

#: a line of progress at most this often when stderr is not a terminal (a log, a CI job)
PLAIN_PROGRESS_EVERY_S = 5.0
SNIPPET_CHARS = 300


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = sub.add_parser(
        "docs",
        help="index documents to search and chat with",
        description="Collections of documents (txt, Markdown, HTML, PDF, Word, source code) indexed on "
        "this computer. Search works with no model (BM25); with an embedding model set on a collection "
        "it also matches by meaning.",
    )
    actions = docs.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="add files and folders to a collection and index them",
        description="Add files and folders (walked recursively) to a collection and index what changed. "
        "Files that cannot be read are listed and the rest indexed (the exit code is still 0).",
    )
    add.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to add (folders are walked)")
    add.add_argument(
        "--collection",
        default=DEFAULT_COLLECTION,
        metavar="NAME",
        help="the collection to add to, created if new (default: %(default)s)",
    )
    add.add_argument(
        "--embedding-model",
        metavar="PATH",
        help="a GGUF embedding model (bge-small-en-v1.5, nomic-embed-text-v1.5, multilingual-e5) for this "
        "collection; kept for later runs and searches",
    )
    add.add_argument(
        "--json",
        action="store_true",
        help='end with {"indexed": n, "skipped": n, "failed": [{"file", "error"}]} on stdout',
    )
    add.set_defaults(handler=_add)

    refresh = actions.add_parser("refresh", help="re-index what changed in a collection (or all)")
    refresh.add_argument(
        "--collection", metavar="NAME", help="only this collection (default: every collection)"
    )
    refresh.add_argument("--json", action="store_true", help="as for add, one object per collection")
    refresh.set_defaults(handler=_refresh)

    search = actions.add_parser("search", help="find the passages that best match a query")
    search.add_argument("query", metavar="QUERY", help="words or a question to look for (quote it)")
    search.add_argument(
        "--collection", metavar="NAME", help="search only this collection (default: every collection)"
    )
    search.add_argument("--top", type=int, default=5, metavar="K", help="how many passages (default: 5)")
    search.add_argument(
        "--json", action="store_true", help='print [{"file", "page", "text", "score"}, ...] as one line'
    )
    search.set_defaults(handler=_search)

    listing = actions.add_parser("list", help="the collections, their paths and sizes")
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_list)

    rm = actions.add_parser(
        "rm",
        help="remove a file or folder from the index, or a whole collection",
        description="Remove PATH (a file, or a folder and all under it) from the index: from every "
        "collection, or only from --collection NAME. With --collection alone, remove that collection. "
        "Your files are not touched.",
    )
    rm.add_argument(
        "path", nargs="?", metavar="PATH", help="a file or folder to drop from the index (your files stay)"
    )
    rm.add_argument(
        "--collection",
        metavar="NAME",
        help="only from this collection; given without PATH, remove the whole collection",
    )
    rm.set_defaults(handler=_rm)


def _store() -> DocumentStore:
    return DocumentStore.open(app_paths().ensure())


def _add(args: argparse.Namespace) -> int:
    from desktop_app.core.documents.embeddings import Embedder
    from desktop_app.core.documents.indexer import Hooks, add_paths, open_embedder

    with ExitStack() as stack:
        store = _store()
        stack.callback(store.close)
        embedder = None
        if args.embedding_model:
            check_collection_name(args.collection)
            embedder = Embedder(args.embedding_model)  # refused here, before it is kept
            stack.callback(embedder.close)
            store.ensure_collection(args.collection, embedding_model=args.embedding_model)
        else:
            existing = store.collection(args.collection)
            if existing is not None:
                embedder = open_embedder(_check_model(existing))
                if embedder is not None:
                    stack.callback(embedder.close)
        progress = _ProgressLine(sys.stderr)
        stack.callback(progress.finish)
        report = add_paths(
            store, args.paths, collection=args.collection, embedder=embedder, hooks=Hooks(progress=progress)
        )
    _print_report(report, args.json)
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from desktop_app.core.documents.indexer import Hooks, open_embedder, refresh_collection

    store = _store()
    try:
        targets = [store.require_collection(args.collection)] if args.collection else store.collections()
        for target in targets:
            embedder = open_embedder(_check_model(target))
            progress = _ProgressLine(sys.stderr)
            try:
                report = refresh_collection(
                    store, target.name, embedder=embedder, hooks=Hooks(progress=progress)
                )
            finally:
                progress.finish()
                if embedder is not None:
                    embedder.close()
            if not args.json:
                print(f"{target.name}:")
            _print_report(report, args.json)
    finally:
        store.close()
    return 0


def _check_model(collection: Collection) -> Collection:
    if collection.embedding_model and not Path(collection.embedding_model).is_file():
        raise HearthError(
            f"The embedding model of the collection {collection.name!r} is missing: "
            f"{collection.embedding_model}.",
            hint="Point it at the file again: hearth docs add PATH --collection "
            f"{collection.name} --embedding-model MODEL.gguf",
        )
    return collection


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        failed = [{"file": file, "error": error} for file, error in report.failed]
        print(
            json.dumps(
                {"indexed": report.indexed, "skipped": report.skipped, "failed": failed}, ensure_ascii=False
            )
        )
        return
    parts = [f"Indexed {report.indexed} file{'s' if report.indexed != 1 else ''} ({report.chunks} chunks)"]
    parts.append(f"{report.skipped} unchanged")
    if report.removed:
        parts.append(f"{report.removed} removed (gone from disk)")
    if report.failed:
        parts.append(f"{len(report.failed)} could not be indexed")
    print(", ".join(parts) + ("; stopped early." if report.cancelled else "."))
    for file, error in report.failed:
        print(f"  {file}: {error}")
    for warning in report.warnings:
        print(f"hearth: warning: {warning}", file=sys.stderr)


def _search(args: argparse.Namespace) -> int:
    from desktop_app.core.documents.indexer import open_embedder

    if args.top < 1:
        raise HearthError(f"--top must be at least 1 (got {args.top}).", hint="Try --top 5.")
    store = _store()
    try:
        embedder = None
        target = store.require_collection(args.collection) if args.collection else None
        scope = [target] if target is not None else store.collections()
        models = {c.embedding_model for c in scope}
        if len(models) == 1 and scope and scope[0].embedding_model:
            if Path(scope[0].embedding_model).is_file():
                embedder = open_embedder(scope[0])
            else:
                print(
                    f"hearth: warning: the embedding model {scope[0].embedding_model} is missing; "
                    "searching by keywords only.",
                    file=sys.stderr,
                )
        try:
            found = store.search(args.query, collection=args.collection, top_k=args.top, embedder=embedder)
        finally:
            if embedder is not None:
                embedder.close()
    finally:
        store.close()
    if args.json:
        rows = [{"file": p.file, "page": p.page, "text": p.text, "score": round(p.score, 6)} for p in found]
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not found:
        print("No passages match.", file=sys.stderr)
    for n, passage in enumerate(found, start=1):
        where = passage.file + (f", page {passage.page}" if passage.page is not None else "")
        snippet = " ".join(passage.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "…"
        print(f"{n}. {where}  ({passage.score:.3f})\n   {snippet}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store()
    try:
        collections = store.collections()
    finally:
        store.close()
    if args.json:
        rows = [
            {
                "name": c.name,
                "paths": list(c.roots),
                "files": c.files,
                "failed": c.failed,
                "chunks": c.chunks,
                "embedding_model": c.embedding_model,
            }
            for c in collections
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not collections:
        print("No collections. Add documents: hearth docs add PATH [--collection NAME]")
        return 0
    for c in collections:
        model = f", embeddings: {Path(c.embedding_model).name}" if c.embedding_model else ""
        failed = f", {c.failed} failed" if c.failed else ""
        print(f"{c.name}  {c.files} files, {c.chunks} chunks{failed}{model}")
        for root in c.roots:
            print(f"  {root}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    if args.path is None and args.collection is None:
        raise HearthError(
            "Say what to remove.", hint="hearth docs rm PATH, or hearth docs rm --collection NAME"
        )
    store = _store()
    try:
        if args.path is None:
            gone = store.remove_collection(args.collection)
            print(f"Removed the collection {gone.name} ({gone.files} files).")
            return 0
        if args.collection is not None:
            store.require_collection(args.collection)
        roots_before = _roots(store, args.collection)
        count = store.remove_path(args.path, collection=args.collection)
        if count == 0 and roots_before == _roots(store, args.collection):
            where = f"the collection {args.collection}" if args.collection else "the index"
            raise HearthError(
                f"{args.path} is not in {where}.", hint="`hearth docs list` shows the paths indexed."
            )
    finally:
        store.close()
    print(f"Removed {count} file{'s' if count != 1 else ''} from the index.")
    return 0


def _roots(store: DocumentStore, collection: str | None) -> list[tuple[str, ...]]:
    return [c.roots for c in store.collections() if collection is None or c.name == collection]


class _ProgressLine:
    """Indexing progress on stderr: one line rewritten in a terminal, else a line every few seconds."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if progress.files_total == 0 or now - self.last < (0.2 if self.tty else PLAIN_PROGRESS_EVERY_S):
            return
        self.last = now
        eta = "" if progress.eta_s is None else f", about {_duration(progress.eta_s)} left"
        line = f"Indexing: {progress.files_done}/{progress.files_total} files, {progress.chunks} chunks{eta}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02} min"
