"""`hearth chat --docs NAME --prompt TEXT --json` against a real index (extraction, chunks, FTS5 under
the test's HEARTH_HOME): with the real Gemma model, the JSON line's citations point to the file and
page that hold the answer, whether the documents were inlined whole or searched; the saved reply keeps
its sources. With --remote, retrieval stays local and only the passages chosen reach the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.documents.context import Attachment
from desktop_app.core.providers import Provider, ProviderStore
from desktop_app.core.services import AppServices
from tests.doc_index import FALCON, REVENUE, index_files, write_notes, write_report
from tests.openai_stub import KEY, MODELS, StubServer
from tests.test_cli_engine import assert_one_line_error, hearth, json_lines

ARGS = ["--threads", "1", "--temperature", "0", "--seed", "1", "--json"]
QUESTION = "When did the falcon project ship?"


@pytest.fixture
def files(tmp_path: Path, hearth_home: Path) -> tuple[Path, Path]:
    folder = tmp_path / "files"
    folder.mkdir()
    report, notes = write_report(folder, filler=120), write_notes(folder)
    index_files([report, notes], "work")
    return report, notes


@pytest.mark.slow
def test_docs_answer_cites_the_file_and_page_that_hold_it(
    gemma_path: Path, hearth_home: Path, files: tuple[Path, Path]
) -> None:
    report, _ = files
    # a small context: the padded report does not fit whole, so the best passages are sent
    result = hearth(
        ["chat", "--model", gemma_path, "--docs", "work", "--prompt", QUESTION, "--max-tokens", "24",
         "--ctx", "1024", "--save", *ARGS],
        hearth_home, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = json_lines(result.stdout)
    assert line["documents"] == "passages"
    assert line["sources"][0]["file"] == str(report) and line["sources"][0]["page"] == 3
    assert line["citations"] and line["citations"][0] == {"file": str(report), "page": 3}
    # the saved chat keeps what its reply was shown, and its documents for the next turn
    services = AppServices.open()
    try:
        conversation = services.conversations.get_conversation(line["conversation_id"])
        assert Attachment.from_settings(conversation.settings) == Attachment(collections=("work",))
        reply = services.conversations.path(conversation.id)[-1]
        stored = services.conversations.sources(reply.id)
        assert [(s.file, s.page) for s in stored] == [(s["file"], s["page"]) for s in line["sources"]]
        assert FALCON in stored[0].text
        assert services.conversations.get_message(reply.id - 1).content == QUESTION  # as typed
    finally:
        services.close()


@pytest.mark.slow
def test_small_documents_are_inlined_and_still_cited_by_page(
    gemma_path: Path, hearth_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    report = write_report(folder)
    index_files([report, write_notes(folder)], "small")
    result = hearth(
        ["chat", "--model", gemma_path, "--docs", "small", "--prompt", "How much did revenue grow?",
         "--max-tokens", "16", *ARGS],
        hearth_home, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = json_lines(result.stdout)
    assert line["documents"] == "inline" and len(line["sources"]) == 4  # three pages and the notes
    assert line["citations"][0] == {"file": str(report), "page": 2}


def test_an_unknown_collection_is_one_line_before_any_model_loads(hearth_home: Path, tmp_path: Path) -> None:
    missing_model = tmp_path / "never-loaded.gguf"  # not read: the collection is checked first
    missing_model.write_bytes(b"GGUF")
    result = hearth(["chat", "--model", missing_model, "--docs", "nope", "--prompt", "hi"], hearth_home)
    assert_one_line_error(result, 2)
    assert "nope" in result.stderr and "hearth docs add" in result.stderr


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    for name in ("HF_HUB_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with StubServer() as server:
        ProviderStore().add(Provider("gpu", server.url, api_key=KEY))
        yield server


def test_remote_model_gets_the_passages_and_its_markers_become_citations(
    hearth_home: Path, files: tuple[Path, Path], stub: StubServer
) -> None:
    report, notes = files
    stub.behaviour.tokens = ["Revenue grew ", "twelve percent [3]", "; falcon shipped in March [4][3]."]
    result = hearth(
        ["chat", "--remote", "gpu", "--model", MODELS[0], "--docs", "work", "--prompt",
         "falcon project ship and revenue grow", "--json"],
        hearth_home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = json_lines(result.stdout)
    # both files fit the remote context whole: notes.md is [1], then the report's pages 1 to 3
    assert line["documents"] == "inline"
    assert [(s["file"], s["page"]) for s in line["sources"]] == [(str(notes), None)] + [
        (str(report), page) for page in (1, 2, 3)
    ]
    assert line["citations"] == [{"file": str(report), "page": 2}, {"file": str(report), "page": 3}]
    (body,) = stub.requests
    sent = body["messages"][-1]["content"]
    assert FALCON in sent and REVENUE in sent and "<<<SOURCE [1]" in sent
    assert sent.endswith("Question: falcon project ship and revenue grow")


def test_a_resumed_chat_answers_from_its_documents_again(
    hearth_home: Path, files: tuple[Path, Path], stub: StubServer
) -> None:
    first = hearth(
        ["chat", "--remote", "gpu", "--model", MODELS[0], "--docs", "work", "--save", "--prompt",
         "falcon project", "--json"],
        hearth_home,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    (line,) = json_lines(first.stdout)
    again = hearth(
        ["chat", "--remote", "gpu", "--model", MODELS[0], "--resume", str(line["conversation_id"]),
         "--prompt", "revenue", "--json"],
        hearth_home,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "Answering from the chat's documents: work." in again.stderr
    (resumed,) = json_lines(again.stdout)
    assert resumed["documents"] == "inline" and resumed["citations"]
    sent = stub.requests[-1]["messages"]
    assert sent[0]["content"] == "falcon project"  # the earlier turn as typed, without its sources
    assert REVENUE in sent[-1]["content"] and sent[-1]["content"].endswith("Question: revenue")
