"""The documents index on real files, real SQLite and (for hybrid search) a real llama.cpp embedding
model: incremental add, refresh and removal, bad files, search with citations, hostile queries."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from desktop_app.core.documents.embeddings import Embedder, prefixes_for
from desktop_app.core.documents.extract import open_document
from desktop_app.core.documents.indexer import Hooks, Progress, add_paths, refresh_collection
from desktop_app.core.documents.search import fts_query, reciprocal_rank_fusion, selective_words
from desktop_app.core.documents.store import DocumentStore
from tests.doc_fixtures import write_binary, write_corrupt_pdf, write_pdf
from tests.tiny_embedding import write_tiny_embedding_model


@pytest.fixture
def store(tmp_path: Path):
    s = DocumentStore(tmp_path / "index" / "documents.sqlite3")
    yield s
    s.close()


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cats.txt").write_text("Cats sleep sixteen hours a day. The tabby purrs on the sofa.\n")
    (folder / "boats.md").write_text("# Boats\n\nA schooner has two masts. The ketch carries a mizzen.\n")
    sub = folder / "deep" / "er"
    sub.mkdir(parents=True)
    (sub / "volcano.txt").write_text("Basalt lava flows from the volcano of Kilauea in Hawaii.\n")
    hidden = folder / ".git"
    hidden.mkdir()
    (hidden / "secret.txt").write_text("never indexed: hidden folder")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
    return folder


def _chunk_rows(store: DocumentStore) -> list[tuple[str, int | None, int, str]]:
    rows = store.db.read(
        "SELECT f.path, c.page, c.start, c.text FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY c.id"
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _fts_count(store: DocumentStore, word: str) -> int:
    return int(
        store.db.read("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (word,)).fetchone()[0]
    )


def test_add_skips_unchanged_reindexes_changed_and_removes_deleted(
    store: DocumentStore, tmp_path: Path
) -> None:
    folder = _docs(tmp_path / "docs")
    first = add_paths(store, [folder])
    assert (first.indexed, first.skipped, first.failed, first.removed) == (3, 0, [], 0)
    assert {Path(r.path).name for r in store.files()} == {"cats.txt", "boats.md", "volcano.txt"}
    assert store.collections()[0].name == "default"
    assert store.collections()[0].roots == (str(folder),)

    again = add_paths(store, [folder])
    assert (again.indexed, again.skipped) == (0, 3)

    # the same bytes with a new mtime: hashed, found equal, skipped (and the new mtime remembered)
    cats = folder / "cats.txt"
    os.utime(cats, ns=(1_000_000_000, 1_000_000_000))
    touched = refresh_collection(store, "default")
    assert (touched.indexed, touched.skipped) == (0, 3)
    assert store.file_record(store.collections()[0].id, str(cats)).mtime_ns == 1_000_000_000  # type: ignore[union-attr]

    cats.write_text("Dogs bark at the mailman every morning.\n")
    changed = refresh_collection(store, "default")
    assert (changed.indexed, changed.skipped) == (1, 2)
    assert _fts_count(store, "tabby") == 0  # the old text left the FTS index too
    assert [p.file for p in store.search("mailman")] == [str(cats)]

    (folder / "boats.md").unlink()
    removed = refresh_collection(store, "default")
    assert removed.removed == 1
    assert store.search("schooner") == []
    assert _fts_count(store, "schooner") == 0
    assert not [r for r in _chunk_rows(store) if r[0].endswith("boats.md")]

    assert store.remove_path(folder / "deep") == 1
    assert [Path(r.path).name for r in store.files()] == ["cats.txt"]


def test_bad_files_are_reported_and_the_rest_indexed(store: DocumentStore, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_corrupt_pdf(folder / "broken.pdf")
    write_binary(folder / "blob.txt")
    (folder / "empty.md").write_text("")
    (folder / "good.txt").write_text("The lighthouse keeper logs every ship.\n")
    report = add_paths(store, [folder, tmp_path / "missing.txt", tmp_path / "x.jpg"])
    failed = dict(report.failed)
    assert report.indexed == 1
    assert set(failed) == {
        str(folder / "broken.pdf"),
        str(folder / "blob.txt"),
        str(folder / "empty.md"),
        str(tmp_path / "missing.txt"),
        str(tmp_path / "x.jpg"),
    }
    assert all(reason and "\n" not in reason for reason in failed.values())
    assert [p.file for p in store.search("lighthouse")] == [str(folder / "good.txt")]
    statuses = {Path(r.path).name: (r.status, r.error) for r in store.files()}
    assert statuses["blob.txt"][0] == "failed" and statuses["blob.txt"][1]
    # an unchanged bad file is not read again; fixed, it is indexed
    assert add_paths(store, [folder]).skipped == 4
    (folder / "empty.md").write_text("Now the notes mention a walrus.\n")
    fixed = add_paths(store, [folder])
    assert fixed.indexed == 1
    assert [Path(p.file).name for p in store.search("walrus")] == ["empty.md"]


def test_search_cites_the_right_file_and_page(store: DocumentStore, tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "manual.pdf",
        [
            "Chapter one explains how to unpack the device.",
            "Chapter two: the warranty covers the compressor for five years.",
            "Chapter three: descaling uses citric acid monthly.",
        ],
    )
    (tmp_path / "notes.txt").write_text("Remember: the compressor hums when the fridge is cold.\n")
    add_paths(store, [pdf, tmp_path / "notes.txt"], collection="work")
    hits = store.search("How long is the warranty on the compressor?", collection="work", top_k=3)
    assert (hits[0].file, hits[0].page) == (str(pdf), 2)
    assert "warranty" in hits[0].text
    assert hits[0].score >= hits[-1].score
    descale = store.search("citric acid", files=[str(pdf)])
    assert [(p.file, p.page) for p in descale] == [(str(pdf), 3)]
    notes = store.search("compressor", files=[str(tmp_path / "notes.txt")])
    assert [(Path(p.file).name, p.page) for p in notes] == [("notes.txt", None)]
    assert store.search("compressor", collection="nope") == []
    # diacritics and case do not matter (unicode61 remove_diacritics 2)
    (tmp_path / "cafe.txt").write_text("Le CAFÉ crème est servi.\n")
    add_paths(store, [tmp_path / "cafe.txt"], collection="work")
    assert [Path(p.file).name for p in store.search("cafe creme", collection="work")] == ["cafe.txt"]


@pytest.mark.parametrize(
    "query",
    ['"', "NEAR(", "*", "AND OR", "NOT", '"unterminated', "col:value", "^start", "a-b", "(((", "", "   ",
     "\0", "🦙", "x" * 10_000, "AND " * 500, "{text}: cats", "NEAR(cats sleep, 2)"],
)  # fmt: skip
def test_hostile_queries_never_raise(store: DocumentStore, tmp_path: Path, query: str) -> None:
    (tmp_path / "a.txt").write_text("cats and dogs sleep; the NEAR operator is a word here\n")
    add_paths(store, [tmp_path / "a.txt"])
    assert isinstance(store.search(query), list)


def test_query_sanitising() -> None:
    assert fts_query('say "NEAR(x, 2)" AND *') == '"say" OR "near" OR "x" OR "2"'
    assert fts_query("what is the") == '"what" OR "is" OR "the"'
    assert fts_query("*** ((") is None
    assert selective_words(["rare", "common"], {"rare": 3, "common": 90_000}, 100_000) == ["rare"]
    assert selective_words(["a", "b", "c"], {"a": 90_000, "b": 80_000, "c": 70_000}, 100_000) == ["c", "b"]
    assert selective_words(["rare", "common"], {"common": 900}, 1_000) == ["rare", "common"]  # small index
    assert reciprocal_rank_fusion([[1, 2, 3], [3, 1]])[0][0] == 1
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 2]])] == [3, 2, 1]


def test_whole_document_pages_are_rebuilt_from_overlapping_chunks(
    store: DocumentStore, tmp_path: Path
) -> None:
    sentences = [f"Sentence number {i} talks about item {i * 7} in some detail." for i in range(120)]
    text_file = tmp_path / "long.txt"
    text_file.write_text(" ".join(sentences))
    pdf = write_pdf(tmp_path / "two.pdf", [" ".join(sentences[:40]), " ".join(sentences[40:80])])
    add_paths(store, [text_file, pdf])
    for path in (text_file, pdf):
        with open_document(path) as reader:
            expected = list(reader.pages())
        assert store.document_pages(str(path)) == expected
        assert store.document_chars(str(path)) == sum(len(p.text) for p in expected)
    assert len(_chunk_rows(store)) > 6  # really several overlapping chunks per page
    assert store.full_text([str(text_file)], max_chars=100) is None
    whole = store.full_text([str(text_file), str(pdf)], max_chars=100_000)
    assert whole is not None and [p.number for p in whole[str(pdf)]] == [1, 2]


def test_a_file_in_two_collections_is_indexed_in_each(store: DocumentStore, tmp_path: Path) -> None:
    (tmp_path / "shared.txt").write_text("The quarterly budget for the orchard.\n")
    add_paths(store, [tmp_path / "shared.txt"], collection="a")
    add_paths(store, [tmp_path / "shared.txt"], collection="b")
    assert len(store.search("orchard")) == 1  # the same passage once, whichever collection it came from
    assert len(store.db.read("SELECT id FROM chunks").fetchall()) == 2
    assert len(store.search("orchard", collection="a")) == 1
    store.remove_collection("a")
    assert [c.name for c in store.collections()] == ["b"]
    assert len(store.search("orchard")) == 1
    assert len(_chunk_rows(store)) == 1


def test_progress_cancel_and_pause(store: DocumentStore, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"f{i:02}.txt").write_text(f"File {i} mentions the keyword zebra{i}.\n" * 40)
    seen: list[Progress] = []
    pauses = 0

    def pause() -> None:
        nonlocal pauses
        pauses += 1

    def cancelled() -> bool:
        return sum(1 for p in seen if p.current == "") > 5  # after a few files

    report = add_paths(store, [folder], hooks=Hooks(progress=seen.append, cancelled=cancelled, pause=pause))
    assert report.cancelled and 0 < report.indexed < 12
    assert pauses >= report.indexed
    assert seen[0].files_total == 12 and seen[0].files_done == 0
    assert any(p.eta_s is not None and p.eta_s > 0 for p in seen)
    done = add_paths(store, [folder])  # the rest, with no duplicates
    assert done.indexed + report.indexed == 12 and done.skipped == report.indexed
    assert len({r[3] for r in _chunk_rows(store)}) == len(_chunk_rows(store))


def test_pause_blocks_indexing_until_released(store: DocumentStore, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    gate = threading.Event()

    def pause() -> None:
        gate.wait()

    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(add_paths(store, [tmp_path], hooks=Hooks(pause=pause)).indexed)
    )
    worker.start()
    worker.join(0.3)
    assert worker.is_alive() and not result  # held by the pause hook
    gate.set()
    worker.join(30)
    assert result == [2]


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory):
    path = write_tiny_embedding_model(tmp_path_factory.mktemp("embed") / "tiny-embed.gguf")
    embedder = Embedder(path)
    yield embedder
    embedder.close()


def test_hybrid_search_with_an_embedding_model(
    store: DocumentStore, tmp_path: Path, tiny_embedder: Embedder
) -> None:
    folder = _docs(tmp_path / "docs")
    store.ensure_collection("emb", embedding_model=str(tiny_embedder.path))
    report = add_paths(store, [folder], collection="emb", embedder=tiny_embedder)
    assert report.indexed == 3
    n_vectors = store.db.read(
        "SELECT count(*) FROM vectors WHERE model = ?", (tiny_embedder.key,)
    ).fetchone()[0]
    assert n_vectors == len(_chunk_rows(store)) == 3
    hybrid = store.search("schooner masts", collection="emb", embedder=tiny_embedder, top_k=3)
    assert len(hybrid) == 3  # the vector ranking brings in chunks BM25 did not match
    assert Path(hybrid[0].file).name == "boats.md"  # first in both rankings
    assert all(0 < p.score <= 2 / 61 for p in hybrid)
    # a changed file: the cached matrix is not reused
    (folder / "cats.txt").write_text("Parrots repeat words.\n")
    refresh_collection(store, "emb", embedder=tiny_embedder)
    assert Path(store.search("parrots", collection="emb", embedder=tiny_embedder)[0].file).name == "cats.txt"
    assert len(store.search("parrots", collection="emb", embedder=tiny_embedder, top_k=10)) == 3

    # keyword-only collection, then an embedding model set: unchanged files get vectors, not re-chunked
    (tmp_path / "late.txt").write_text("Late vectors for a glacier.\n")
    add_paths(store, [tmp_path / "late.txt"], collection="late")
    chunk_ids = [r[0] for r in store.db.read("SELECT id FROM chunks ORDER BY id").fetchall()]
    late = add_paths(store, [tmp_path / "late.txt"], collection="late", embedder=tiny_embedder)
    assert late.indexed == 1
    assert [r[0] for r in store.db.read("SELECT id FROM chunks ORDER BY id").fetchall()] == chunk_ids
    assert len(store.search("glacier", collection="late", embedder=tiny_embedder)) == 1

    # another embedding model for a collection: the old model's vectors go, the new one embeds
    other = write_tiny_embedding_model(tmp_path / "other-embed.gguf", seed=3)
    store.ensure_collection("late", embedding_model=str(other))
    with Embedder(other) as second:
        assert add_paths(store, [tmp_path / "late.txt"], collection="late", embedder=second).indexed == 1
        late_models = store.db.read(
            "SELECT DISTINCT v.model FROM vectors v JOIN chunks c ON c.id = v.chunk_id JOIN files f "
            "ON f.id = c.file_id JOIN collections k ON k.id = f.collection_id WHERE k.name = 'late'"
        ).fetchall()
        assert [r[0] for r in late_models] == [second.key]
        assert len(store.search("glacier", collection="late", embedder=second)) == 1


def test_model_prefixes() -> None:
    assert prefixes_for("nomic-embed-text-v1.5.Q8_0.gguf").query == "search_query: "
    assert prefixes_for("bge-small-en-v1.5-q8_0.gguf").query.startswith("Represent this sentence")
    assert prefixes_for("bge-m3-Q4_K_M.gguf").query == ""
    assert prefixes_for("multilingual-e5-small-q8_0.gguf").document == "passage: "
    assert prefixes_for("some-model-e50.gguf").query == ""
