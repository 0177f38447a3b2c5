"""Chat with your documents: extraction (extract/), chunking, the SQLite index (FTS5 BM25 and exact
vector search fused by reciprocal rank), embeddings through llama.cpp, and collections. No Qt here."""
