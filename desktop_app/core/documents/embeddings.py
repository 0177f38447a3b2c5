"""Embeddings through llama.cpp (`Llama(embedding=True)`) with a GGUF embedding model, and the query
and document prefixes each model family was trained with (nomic-embed returns poor vectors without
its `search_query: `/`search_document: `).

Vectors are returned unit length (float32), so the store's dot product is the cosine. Chunks are sent
to `Llama.embed` several at a time: it packs them into one batch of `n_batch` tokens, each its own
sequence, which is where the throughput is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.documents.search import FloatArray, unit_rows
from desktop_app.core.errors import GenerationError, ModelLoadError

#: the most tokens a chunk is embedded with (longer ones are cut by llama.cpp); 1,000-character
#: chunks are about 250 tokens of English
MAX_EMBED_CONTEXT = 2048
DEFAULT_EMBED_CONTEXT = 512
#: chunks per `Llama.embed` call: between calls the indexer can cancel or pause
DOCUMENT_BATCH = 16


@dataclass(frozen=True)
class Prefixes:
    query: str
    document: str


NO_PREFIXES = Prefixes("", "")
#: model family (matched against the file name and general.name, lowercased) -> its prefixes.
#: Order matters: the first match wins.
PREFIXES: tuple[tuple[str, Prefixes], ...] = (
    ("nomic-embed", Prefixes("search_query: ", "search_document: ")),
    ("bge-m3", NO_PREFIXES),  # trained without an instruction
    ("bge", Prefixes("Represent this sentence for searching relevant passages: ", "")),
    ("e5", Prefixes("query: ", "passage: ")),
)


def prefixes_for(*names: str) -> Prefixes:
    """The prefixes of the first family one of `names` belongs to; none for an unknown model."""
    for family, prefixes in PREFIXES:
        for name in names:
            lowered = name.lower()
            # a family with a dash is matched as text; a bare one ("e5") as a whole word of the name
            words = re.split(r"[^a-z0-9]+", lowered)
            if (family in lowered) if "-" in family else (family in words):
                return prefixes
    return NO_PREFIXES


def model_key(path: str | os.PathLike[str]) -> str:
    """The name stored vectors carry: the file name and size, so another model (or another
    quantization of it) never has its vectors compared with these."""
    p = Path(path)
    return f"{p.name}#{p.stat().st_size}"


class Embedder:
    """One embedding model, loaded once. Not thread-safe: one thread uses it at a time."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        pooling_type: int | None = None,
    ) -> None:
        from desktop_app.core.engine import native
        from desktop_app.core.gguf_info import inspect_gguf

        summary = inspect_gguf(path)  # validated before llama.cpp sees the file
        self.path = Path(path)
        self.name = summary.name
        self.key = model_key(path)
        self.prefixes = prefixes_for(self.path.name, summary.name)
        trained = summary.context_length or DEFAULT_EMBED_CONTEXT
        self.n_ctx = max(32, min(n_ctx or trained, trained, MAX_EMBED_CONTEXT))
        native.route_llama_logs()
        try:
            import llama_cpp

            if pooling_type is None:
                declared = f"{summary.architecture}.pooling_type" in summary.metadata
                # a model without a declared pooling (a generative one) would give a vector per token
                pooling_type = (
                    llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
                    if declared
                    else llama_cpp.LLAMA_POOLING_TYPE_MEAN
                )
            # half the cores, as llama.cpp's default: indexing runs beside the app and the chat, and
            # with every core taken llama.cpp's spinning barrier collapses (2 threads on the busy
            # 2-core machine embedded 5x slower than 1)
            threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
            self.llama: Any = llama_cpp.Llama(
                model_path=str(self.path),
                embedding=True,
                n_ctx=self.n_ctx,
                n_batch=self.n_ctx,
                n_ubatch=self.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                pooling_type=pooling_type,
                verbose=False,
            )
            if int(self.llama.pooling_type()) == llama_cpp.LLAMA_POOLING_TYPE_NONE:
                raise ValueError("the model gives one vector per token (pooling none)")
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {self.path.name} as an embedding model ({exc}).",
                hint="Pick a GGUF embedding model, such as bge-small-en-v1.5 or nomic-embed-text-v1.5.",
                details=repr(exc),
            ) from exc
        self.dims = int(self.llama.n_embd())

    def embed_documents(self, texts: Sequence[str]) -> FloatArray:
        """Unit vectors of the chunks, one row each, with the model's document prefix."""
        return self._embed([self.prefixes.document + t for t in texts])

    def embed_query(self, text: str) -> FloatArray:
        """The unit vector of a question, with the model's query prefix."""
        row: FloatArray = self._embed([self.prefixes.query + text])[0]
        return row

    def _embed(self, texts: list[str]) -> FloatArray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        try:
            raw = self.llama.embed(texts, truncate=True)
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(
                f"The embedding model {self.path.name} failed ({exc}).",
                hint="Try again; if it keeps failing, pick another embedding model.",
                details=repr(exc),
            ) from exc
        return unit_rows(np.asarray(raw, dtype=np.float32).reshape(len(texts), self.dims))

    def close(self) -> None:
        llama, self.llama = self.llama, None
        if llama is not None:
            llama.close()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
