"""Discover's embedding models ("For your documents"): the shipped entries, their prefixes (which must
be the ones core/documents/embeddings.py uses), hostile entries, and the cards on a real widget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel

from desktop_app.app import build_window
from desktop_app.core import network, starter
from desktop_app.core.documents.embeddings import Prefixes, prefixes_for
from desktop_app.core.hub import recommended
from desktop_app.core.hub.recommended import choose_all, load_catalog, parse_catalog
from desktop_app.core.paths import app_paths
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.recommended_view import DOCUMENTS_TITLE, RecommendedView, prefixes_line
from tests.fake_engine import ScriptedEngine
from tests.tiny_embedding import write_tiny_embedding_model

GB = 1024**3


def _embedding_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "embedding",
        "name": "tiny-embed",
        "family": "Tiny",
        "params": "20M",
        "repo": "org/tiny-embed-GGUF",
        "license": "MIT",
        "description": "A small embedding model.",
        "prefixes": {"query": "query: ", "document": "passage: "},
        "dimensions": 384,
        "context": 512,
        "quants": [{"quant": "Q8_0", "files": ["tiny-embed-q8_0.gguf"], "size": 30_000_000}],
    }
    entry.update(changes)
    return entry


def test_the_shipped_embedding_models_have_the_prefixes_the_indexer_uses() -> None:
    catalog = load_catalog()
    models = catalog.of_kind("embedding")
    assert {m.name for m in models} >= {"bge-small-en-v1.5", "nomic-embed-text-v1.5"}
    assert any("e5" in m.name for m in models)
    for model in models:
        facts = model.embedding
        assert facts is not None and facts.dimensions > 0 and facts.context > 0
        expected = Prefixes(facts.query_prefix, facts.document_prefix)
        for quant in model.quants:
            for name in quant.files:  # the downloaded file's name is what embeddings.py matches
                assert prefixes_for(name) == expected, (name, prefixes_for(name), expected)
    nomic = next(m for m in models if m.name == "nomic-embed-text-v1.5")
    assert nomic.embedding is not None and nomic.embedding.query_prefix == "search_query: "


def test_chat_and_embedding_models_are_chosen_apart() -> None:
    catalog = load_catalog()
    chat = choose_all(catalog, free_ram=16 * GB, total_ram=32 * GB)
    embedding = choose_all(catalog, kind="embedding", free_ram=16 * GB, total_ram=32 * GB)
    assert chat and all(c.model.kind == "chat" and c.model.embedding is None for c in chat)
    assert embedding and all(c.model.kind == "embedding" for c in embedding)
    assert all(c.quant is not None for c in embedding)  # all are small: they fit a 16 GB computer
    assert len(chat) + len(embedding) == len(catalog.models)


def test_an_entry_without_a_kind_is_a_chat_model() -> None:
    entry = _embedding_entry()
    del entry["kind"]
    model = parse_catalog({"models": [entry]}).models[0]
    assert model.kind == "chat" and model.embedding is None


def test_prefixes_are_kept_exactly_with_their_trailing_space() -> None:
    model = parse_catalog({"models": [_embedding_entry()]}).models[0]
    assert model.embedding is not None
    assert (model.embedding.query_prefix, model.embedding.document_prefix) == ("query: ", "passage: ")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kind": "reranker"}, "'kind'"),
        ({"prefixes": None}, "'prefixes'"),
        ({"prefixes": {"query": "query: "}}, "'document'"),
        ({"prefixes": {"query": 3, "document": ""}}, "'query'"),
        ({"prefixes": {"query": "q\n", "document": ""}}, "printable"),
        ({"prefixes": {"query": "\u202equery", "document": ""}}, "printable"),
        ({"prefixes": {"query": "x" * 101, "document": ""}}, "printable"),
        ({"dimensions": 0}, "'dimensions'"),
        ({"dimensions": True}, "'dimensions'"),
        ({"dimensions": "384"}, "'dimensions'"),
        ({"context": 10**9}, "'context'"),
    ],
)
def test_a_bad_embedding_entry_is_skipped_with_the_reason(changes: dict[str, Any], reason: str) -> None:
    catalog = parse_catalog({"models": [_embedding_entry(**changes), _embedding_entry(repo="org/other")]})
    assert [m.repo for m in catalog.models] == ["org/other"]
    assert len(catalog.problems) == 1 and reason in catalog.problems[0], catalog.problems


def test_discover_shows_embedding_models_in_their_own_section_with_their_prefixes(qtbot) -> None:
    catalog = load_catalog()
    view = RecommendedView()
    qtbot.addWidget(view)
    chat = choose_all(catalog, free_ram=16 * GB, total_ram=32 * GB)
    embedding = choose_all(catalog, kind="embedding", free_ram=16 * GB, total_ram=32 * GB)
    view.set_choices(chat, "16 GB", embedding)
    assert len(view.rows) == len(chat) + len(embedding)
    assert [r.choice for r in view.embedding_rows] == embedding
    assert not view.documents_title.isHidden() and view.documents_title.text() == DOCUMENTS_TITLE
    assert "--embedding-model" in view.documents_note.text()
    column = view.column
    title_at = column.indexOf(view.documents_title)
    assert all(column.indexOf(r) < title_at for r in view.rows if r.choice.model.kind == "chat")
    assert all(column.indexOf(r) > title_at for r in view.embedding_rows)
    for row in view.embedding_rows:
        assert isinstance(row.prefixes, QLabel) and row.choice.model.embedding is not None
        assert row.prefixes.text() == prefixes_line(row.choice.model.embedding)
        assert row.button.isEnabled()  # downloads like a chat model
    bge = next(r for r in view.embedding_rows if r.choice.model.name == "bge-small-en-v1.5")
    assert bge.prefixes is not None
    assert "“Represent this sentence for searching relevant passages: ”" in bge.prefixes.text()
    assert "Document prefix: none" in bge.prefixes.text()
    assert all(r.prefixes is None for r in view.rows if r.choice.model.kind == "chat")

    view.set_choices(chat, "16 GB")  # a list without embedding models: no empty section
    assert view.documents_title.isHidden() and not view.embedding_rows


def test_an_embedding_row_is_marked_owned_once_its_file_is_in_the_library(qtbot) -> None:
    catalog = load_catalog()
    view = RecommendedView()
    qtbot.addWidget(view)
    embedding = choose_all(catalog, kind="embedding", free_ram=16 * GB, total_ram=32 * GB)
    view.set_choices([], "16 GB", embedding)
    row = view.embedding_rows[0]
    view.mark({(row.choice.model.repo, name) for name in row.files}, set())
    assert row.state == "owned" and not row.button.isEnabled()
    assert all(r.state == "ready" for r in view.embedding_rows[1:])


@pytest.fixture
def window(qtbot, monkeypatch) -> Iterator[MainWindow]:
    monkeypatch.setattr(starter, "is_available", lambda: False)
    win = build_window(app_paths().ensure(), engine=ScriptedEngine())
    qtbot.addWidget(win)
    yield win
    win.close()
    network.apply_offline(False)


def test_one_click_downloads_a_recommended_embedding_model(
    qtbot, window: MainWindow, fake_hub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same flow as a chat model's: the Hub's checksum, the download queue, then the library."""
    model = write_tiny_embedding_model(tmp_path / "m.gguf", name="tiny-e5")
    fake_hub.add_repo("org/tiny-e5-GGUF", {"tiny-e5-q8_0.gguf": model.read_bytes()})
    entry = _embedding_entry(
        name="tiny-e5",
        repo="org/tiny-e5-GGUF",
        quants=[{"quant": "Q8_0", "files": ["tiny-e5-q8_0.gguf"], "size": model.stat().st_size}],
    )
    path = tmp_path / "recommended.json"
    path.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    monkeypatch.setattr(recommended, "default_path", lambda: path)
    page = window.models
    discover = page.discover
    discover.load_recommended()
    qtbot.waitUntil(lambda: len(discover.recommended.embedding_rows) == 1, timeout=10_000)
    row = discover.recommended.embedding_rows[0]
    assert row.prefixes is not None and "“query: ”" in row.prefixes.text()
    row.button.click()
    qtbot.waitUntil(lambda: page.my_models.model.rowCount() == 1, timeout=30_000)
    item = page.my_models.model.items()[0]
    assert (item.origin_repo, item.origin_file) == ("org/tiny-e5-GGUF", "tiny-e5-q8_0.gguf")
    qtbot.waitUntil(lambda: row.state == "owned", timeout=10_000)
    assert row.button.text() == "In your library" and not row.button.isEnabled()
