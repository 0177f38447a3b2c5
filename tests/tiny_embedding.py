"""A tiny random-weight embedding model for the documents pipeline: the llama-architecture model of
tiny_gguf.py, loaded with `Llama(embedding=True)` and mean pooling (the GGUF declares it, as real
embedding models do). Its vectors mean nothing; retrieval quality is measured with BM25 and real models."""

from __future__ import annotations

from pathlib import Path

from tests.tiny_gguf import write_tiny_model

#: llama.cpp's LLAMA_POOLING_TYPE_MEAN
POOLING_MEAN = 1


def write_tiny_embedding_model(path: Path, *, name: str = "tiny-embed", seed: int = 0) -> Path:
    """Write a ~0.3 MB embedding GGUF (64 dimensions, 512-token context)."""
    return write_tiny_model(
        path,
        name=name,
        context_length=512,
        seed=seed,
        extra_kv={"llama.pooling_type": POOLING_MEAN},
    )
