"""The index as a chat turn reads it (context.DocumentSource over the DocumentStore): the attached
collections and files whole when they are small, else the best passages across all of them.

Kept apart from context.py so a chat without documents never imports the index (or numpy)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from desktop_app.core.documents.context import Attachment, Document
from desktop_app.core.documents.passages import Passage
from desktop_app.core.documents.search import QueryEmbedder
from desktop_app.core.documents.store import Collection, DocumentStore, UnknownCollectionError

log = logging.getLogger(__name__)

#: the most files a whole-document turn reads; more than this is a job for top passages
MAX_INLINE_FILES = 20

EmbedderFor = Callable[[Collection], QueryEmbedder | None]


class IndexSource:
    """context.DocumentSource over a DocumentStore. `embedder_for` gives a collection's query
    embedder (hybrid search); the default loads the collection's embedding model once (the indexer's
    open_embedder) and keeps it; a model that fails to load leaves that collection on BM25 alone."""

    def __init__(self, store: DocumentStore, embedder_for: EmbedderFor | None = None) -> None:
        self.store = store
        self.embedder_for = embedder_for or self._cached_embedder
        self._embedders: dict[str, QueryEmbedder | None] = {}

    def _cached_embedder(self, collection: Collection) -> QueryEmbedder | None:
        model = collection.embedding_model
        if not model:
            return None
        if model not in self._embedders:
            from desktop_app.core.documents.indexer import open_embedder
            from desktop_app.core.errors import HearthError

            try:
                self._embedders[model] = open_embedder(collection)
            except (HearthError, OSError, ValueError) as exc:  # keyword search still answers
                log.warning("embedding model %s not used for the chat: %s", model, exc)
                self._embedders[model] = None
        return self._embedders[model]

    def close(self) -> None:
        """Free the embedding models loaded for the chat (the store is its owner's to close)."""
        for embedder in self._embedders.values():
            close = getattr(embedder, "close", None)
            if close is not None:
                close()
        self._embedders.clear()

    def check(self, attachment: Attachment) -> None:
        """Raise UnknownCollectionError (with the collections there are) for a name not in the index."""
        for name in attachment.collections:
            self.store.require_collection(name)

    def _files(self, attachment: Attachment) -> list[tuple[str, str | None]]:
        """(path, collection) of every attached indexed file; a file attached alone has no collection."""
        found: list[tuple[str, str | None]] = []
        for name in attachment.collections:
            collection = self.store.collection(name)
            if collection is None:
                continue  # removed since it was attached: nothing of it to show
            found += [(f.path, name) for f in self.store.files(collection.id) if f.status == "indexed"]
        found += [(path, None) for path in attachment.files]
        unique: dict[str, str | None] = {}
        for path, place in found:  # a file in two attached places is read once
            unique.setdefault(path, place)
        return list(unique.items())

    def whole(self, attachment: Attachment, max_chars: int) -> list[Document] | None:
        files = self._files(attachment)
        if len(files) > MAX_INLINE_FILES:
            return None
        total = 0
        for path, collection in files:
            total += self.store.document_chars(path, collection=collection) or 0
            if total > max_chars:
                return None
        documents = []
        for path, collection in files:
            pages = self.store.document_pages(path, collection=collection)
            if pages:
                documents.append(Document(path, tuple(pages)))
        return documents

    def search(self, query: str, attachment: Attachment, top_k: int) -> list[Passage]:
        """The best passages across the attached collections and files. Scores from one scope are
        compared with another's: BM25 (or fused RRF) scores of the same query are of one scale."""
        found: list[Passage] = []
        for name in attachment.collections:
            collection = self.store.collection(name)
            if collection is None:
                continue
            embedder = self.embedder_for(collection)
            found += self.store.search(query, collection=name, top_k=top_k, embedder=embedder)
        if attachment.files:
            found += self.store.search(query, files=list(attachment.files), top_k=top_k)
        ranked = sorted(found, key=lambda p: -p.score)
        unique: dict[tuple[str, int | None, int, int], Passage] = {}
        for passage in ranked:  # the same file indexed in two attached collections: its best copy
            unique.setdefault((passage.file, passage.page, passage.start, passage.end), passage)
        return list(unique.values())[:top_k]


__all__ = ["IndexSource", "UnknownCollectionError"]
