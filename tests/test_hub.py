"""desktop_app.core.hub against a real local HTTP server (tests/fake_hub.py): no mocks of the library."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from gguf import GGUFValueType
from huggingface_hub.errors import OfflineModeIsEnabled

from desktop_app.commands import search as search_command
from desktop_app.core import hub
from desktop_app.core.errors import (
    AuthRequiredError,
    ModelFileError,
    NetworkError,
    OfflineError,
    RemoteNotFoundError,
)
from desktop_app.core.gguf_info import IncompleteHeaderError, inspect_gguf, inspect_gguf_header
from desktop_app.core.hub import client as hub_client
from desktop_app.core.hub import remote_header
from desktop_app.core.network import apply_offline, ensure_online
from desktop_app.core.paths import app_paths
from desktop_app.core.settings import AppSettings, save_settings, write_token
from tests.fake_hub import FakeHub
from tests.tiny_gguf import build_gguf, minimal_gguf, write_tiny_model

CARD = """---
license: apache-2.0
base_model:
- Qwen/Qwen2.5-7B-Instruct
pipeline_tag: text-generation
tags: [gguf]
---

# Tiny-GGUF

<!-- provided by bartowski -->
[![badge](https://img.shields.io/x.svg)](https://x)

## Llamacpp imatrix Quantizations of Tiny

Using <a href="https://github.com/ggerganov/llama.cpp/">llama.cpp</a> release **b4000** for
quantization, with [imatrix](https://example.com) calibration.

Original model: https://huggingface.co/org/tiny
"""


@pytest.fixture(autouse=True)
def online_after() -> Iterator[None]:
    """Offline mode is process-wide state; no test may leak it into the next."""
    yield
    apply_offline(False)


@pytest.fixture(scope="module")
def tiny_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_model(tmp_path_factory.mktemp("hub") / "tiny.gguf").read_bytes()


def _tiny_repo(fake_hub: FakeHub, tiny: bytes, repo_id: str = "org/Tiny-GGUF", **kwargs: Any) -> None:
    files = {
        "Tiny-Q8_0.gguf": tiny + b"\0" * 4096,
        "Tiny-Q4_K_M.gguf": tiny,
        "Tiny-F16-00001-of-00002.gguf": tiny,
        "Tiny-F16-00002-of-00002.gguf": tiny,
        "Tiny-BF16-00001-of-00002.gguf": tiny,  # its part 2 is missing: never offered
        "mmproj-Tiny-F16.gguf": b"GGUF-projector",
        "imatrix.gguf": b"GGUF-imatrix",
        "config.json": b"{}",
    }
    fake_hub.add_repo(repo_id, files, card=CARD, **kwargs)


# ------------------------------------------------------------------------------------- parse_quant

QUANT_NAMES = [
    ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("model.q8_0.gguf", "Q8_0"),
    ("llama-3-8b-instruct.IQ3_XS-00001-of-00002.gguf", "IQ3_XS"),
    ("Meta-Llama-3.1-8B-Instruct-Q5_K_S.gguf", "Q5_K_S"),
    ("gemma-2-9b-it-IQ4_NL.gguf", "IQ4_NL"),
    ("Phi-3-mini-4k-instruct-fp16.gguf", "F16"),
    ("ggml-model-bf16.gguf", "BF16"),
    ("gemma-3-270m-it-F32.gguf", "F32"),
    ("mistral-7b-instruct-v0.2.Q2_K.gguf", "Q2_K"),
    ("tinyllama-1.1b-chat-v1.0.Q4_0.gguf", "Q4_0"),
    ("Mixtral-8x7B-Instruct-v0.1.Q3_K_L.gguf", "Q3_K_L"),
    ("phi-2.Q6_K.gguf", "Q6_K"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("DeepSeek-R1-UD-IQ1_S-00001-of-00003.gguf", "UD-IQ1_S"),
    ("UD-Q4_K_XL/DeepSeek-R1-0528-UD-Q4_K_XL-00001-of-00008.gguf", "UD-Q4_K_XL"),
    ("Q4_K_M/Llama-4-Scout-17B-16E-Instruct-00001-of-00002.gguf", "Q4_K_M"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("Llama-3.2-1B-Instruct-Q4_0_4_4.gguf", "Q4_0_4_4"),
    ("Qwen2.5-Coder-1.5B-Instruct-IQ2_XXS.gguf", "IQ2_XXS"),
    ("bitnet_b1_58-large-TQ1_0.gguf", "TQ1_0"),
    ("gemma-3-270m-q4_k_m.gguf", "Q4_K_M"),
    ("Llama-3-8B-Instruct-Q8_0-imat.gguf", "Q8_0"),
    ("model-00001-of-00002.gguf", None),
    ("qwen2-7b-instruct.gguf", None),
    ("Qwen2-VL-2B.gguf", None),
]


@pytest.mark.parametrize(("name", "quant"), QUANT_NAMES)
def test_parse_quant(name: str, quant: str | None) -> None:
    assert hub.parse_quant(name) == quant


def test_first_paragraph_skips_markup() -> None:
    assert hub.first_paragraph(CARD) == (
        "Using llama.cpp release b4000 for quantization, with imatrix calibration."
    )
    assert hub.first_paragraph("---\nlicense: mit\n---\n# Title\n\n```\ncode here and more\n```\n") is None
    long = hub.first_paragraph("word " * 500)
    assert long is not None and len(long) <= 401 and long.endswith("…")
    # the one-pass scans remove exactly what the old regexes did (nested badges, "<>", stray "[")
    card = (
        "---\nlicense: mit\n---\n<!-- hidden -->\n# Title\n\n"
        "[![b](https://x/b.svg)](https://x) <b>Bold</b> text with a [link](https://y) and a <> "
        "[stray bracket and ![an image](i.png) and `code` in **it**.\n"
    )
    assert hub.first_paragraph(card) == "Bold text with a link and a <> [stray bracket and and code in it."
    assert hub.first_paragraph("---\nopen: front matter\n\nWords after it here.") == "Words after it here."
    assert hub.first_paragraph("Some words <!-- unclosed\n\nmore words here") == "Some words <!-- unclosed"


# ------------------------------------------------------------------------------------- header-only parse


def test_header_parse_of_every_prefix_is_whole_or_asks_for_more(tmp_path: Path) -> None:
    data = minimal_gguf()
    whole = inspect_gguf(_write(tmp_path / "m.gguf", data))
    for n in range(len(data) + 1):
        try:
            summary = inspect_gguf_header(data[:n], name="m.gguf", total_size=len(data))
        except IncompleteHeaderError as exc:
            assert n < exc.needed <= len(data)
            continue
        assert replace(summary, path=whole.path) == whole


def test_header_parse_checks_counts_against_the_whole_file() -> None:
    lying = build_gguf([], n_kv=10_000)  # 10,000 entries cannot fit in the file
    with pytest.raises(ModelFileError) as exc:
        inspect_gguf_header(lying, name="x.gguf", total_size=len(lying))
    assert not isinstance(exc.value, IncompleteHeaderError)
    with pytest.raises(IncompleteHeaderError):  # without the size, it can only ask for more
        inspect_gguf_header(lying[:24], name="x.gguf")
    with pytest.raises(ValueError, match="smaller"):
        inspect_gguf_header(lying, name="x.gguf", total_size=1)


def test_header_parse_reports_split_parts_without_looking_for_them(tmp_path: Path) -> None:
    path = write_tiny_model(
        tmp_path / "t-00001-of-00003.gguf", extra_kv={"split.count": (3, GGUFValueType.UINT16)}
    )
    data = path.read_bytes()
    with pytest.raises(ModelFileError, match="missing"):
        inspect_gguf(path)
    assert inspect_gguf_header(data, name=path.name, total_size=len(data)).split_count == 3


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------- calls


def test_endpoint_is_read_at_call_time(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hub.hub_endpoint() == fake_hub.endpoint
    monkeypatch.delenv("HF_ENDPOINT")
    assert hub.hub_endpoint() == "https://huggingface.co"


def test_search_sorts_filters_and_pages(fake_hub: FakeHub) -> None:
    for i in range(7):
        fake_hub.add_repo(
            f"org{i}/Model{i}-GGUF",
            {"m.gguf": b"x"},
            downloads=100 - i,
            likes=i,
            last_modified=f"2026-0{i + 1}-01T00:00:00.000Z",
        )
    fake_hub.add_repo("org/Model-safetensors", {"m.safetensors": b"x"}, tags=("transformers",), downloads=999)
    fake_hub.add_repo("org/Other-GGUF", {"m.gguf": b"x"}, downloads=1000)

    by_downloads = hub.search_models("model", page_size=3)
    assert [h.id for h in by_downloads] == ["org0/Model0-GGUF", "org1/Model1-GGUF", "org2/Model2-GGUF"]
    first = by_downloads[0]
    assert (first.author, first.downloads, first.likes, first.gated, first.tags) == (
        "org0",
        100,
        0,
        False,
        ("gguf",),
    )
    assert first.last_modified is not None and first.last_modified.month == 1
    assert [h.id for h in hub.search_models("model", sort="likes", page_size=2)] == [
        "org6/Model6-GGUF",
        "org5/Model5-GGUF",
    ]
    assert hub.search_models("model", sort="recent", page_size=1)[0].id == "org6/Model6-GGUF"
    second_page = hub.search_models("model", page=1, page_size=3)
    assert [h.id for h in second_page] == ["org3/Model3-GGUF", "org4/Model4-GGUF", "org5/Model5-GGUF"]
    assert [h.id for h in hub.search_models("model", page=2, page_size=3)] == ["org6/Model6-GGUF"]
    assert hub.search_models("no-such-thing") == []
    searches = [r.path for r in fake_hub.requests if r.path.startswith("/api/models?")]
    assert all("filter=gguf" in p and "expand=lastModified" in p for p in searches)


def test_model_options_group_splits_and_carry_hashes(fake_hub: FakeHub, tiny_bytes: bytes) -> None:
    _tiny_repo(fake_hub, tiny_bytes)
    options = hub.list_model_options("org/Tiny-GGUF")
    assert [(o.name, o.quant, len(o.files)) for o in options] == [
        ("Tiny-Q4_K_M.gguf", "Q4_K_M", 1),
        ("Tiny-Q8_0.gguf", "Q8_0", 1),
        ("Tiny-F16-00001-of-00002.gguf", "F16", 2),
    ]
    assert [o.size for o in options] == [len(tiny_bytes), len(tiny_bytes) + 4096, 2 * len(tiny_bytes)]
    part1, part2 = options[2].files
    assert (part1.split_index, part1.split_count, part2.split_index) == (1, 2, 2)
    single = options[0].files[0]
    assert single.sha256 == fake_hub.sha256("org/Tiny-GGUF", "Tiny-Q4_K_M.gguf")
    assert single.size == len(tiny_bytes) and single.blob_id
    assert any("/tree/main" in r.path and "expand=true" in r.path for r in fake_hub.requests)


def test_card_summary(fake_hub: FakeHub, tiny_bytes: bytes) -> None:
    _tiny_repo(fake_hub, tiny_bytes)
    card = hub.card_summary("org/Tiny-GGUF")
    assert card == hub.CardSummary(
        description="Using llama.cpp release b4000 for quantization, with imatrix calibration.",
        license="apache-2.0",
        base_model="Qwen/Qwen2.5-7B-Instruct",
        pipeline_tag="text-generation",
    )
    fake_hub.add_repo("org/bare", {"m.gguf": b"x"})
    assert hub.card_summary("org/bare") == hub.CardSummary(None, None, None, None)


def test_remote_header_reads_only_a_prefix(fake_hub: FakeHub, tiny_bytes: bytes) -> None:
    big = tiny_bytes + b"\0" * (6 << 20)  # tensor data the header read must never fetch
    fake_hub.add_repo("org/big", {"big-F32.gguf": big})
    summary = hub.read_remote_header("org/big", "big-F32.gguf")
    assert (summary.architecture, summary.context_length, summary.block_count) == ("llama", 256, 2)
    assert (summary.head_count, summary.head_count_kv, summary.embedding_length) == (4, 2, 64)
    assert summary.size_bytes == len(big) and summary.tensor_count == 21
    ranges = [r.headers.get("range") for r in fake_hub.requests]
    assert ranges == ["bytes=0-2097151"]
    assert fake_hub.body_bytes_sent("big-F32.gguf") == 2 << 20 < len(big)


def test_remote_header_grows_its_window(
    fake_hub: FakeHub, tiny_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("org/tiny", {"t.gguf": tiny_bytes})
    monkeypatch.setattr(remote_header, "INITIAL_READ", 1024)
    assert hub.read_remote_header("org/tiny", "t.gguf").vocab_size is not None
    ranges = [r.headers["range"] for r in fake_hub.requests]
    assert ranges[0] == "bytes=0-1023" and len(ranges) >= 2
    for before, after in itertools.pairwise(ranges):  # contiguous, never re-reading
        assert int(after.split("=")[1].split("-")[0]) == int(before.split("-")[1]) + 1
    assert fake_hub.body_bytes_sent("t.gguf") < len(tiny_bytes)

    with pytest.raises(ModelFileError, match="larger than"):
        hub.read_remote_header("org/tiny", "t.gguf", max_bytes=4096)


def test_remote_header_of_a_bad_file(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/bad", {"bad.gguf": build_gguf([], n_kv=10_000), "notes.gguf": b"hello"})
    with pytest.raises(ModelFileError, match="on the Hub") as exc:
        hub.read_remote_header("org/bad", "bad.gguf")
    assert "another" in exc.value.hint
    with pytest.raises(ModelFileError, match="not a GGUF"):
        hub.read_remote_header("org/bad", "notes.gguf")


def test_gated_repo_needs_the_right_token(fake_hub: FakeHub, tiny_bytes: bytes) -> None:
    _tiny_repo(fake_hub, tiny_bytes, repo_id="org/Gated-GGUF", gated=True)
    fake_hub.require_token("hf_good")
    # the file list and card are public, as on the real Hub; the bytes are not
    assert hub.list_model_options("org/Gated-GGUF")
    with pytest.raises(AuthRequiredError) as no_token:
        hub.read_remote_header("org/Gated-GGUF", "Tiny-Q4_K_M.gguf")
    assert "org/Gated-GGUF" in no_token.value.message and "token" in no_token.value.message
    assert "Models → Discover → Token…" in no_token.value.hint

    write_token(app_paths(), "hf_wrong")
    with pytest.raises(AuthRequiredError) as wrong:
        hub.read_remote_header("org/Gated-GGUF", "Tiny-Q4_K_M.gguf")
    assert "accept" in wrong.value.hint.lower() and f"{fake_hub.endpoint}/org/Gated-GGUF" in wrong.value.hint

    write_token(app_paths(), "hf_good")  # the stored token is the default
    assert hub.read_remote_header("org/Gated-GGUF", "Tiny-Q4_K_M.gguf").architecture == "llama"
    assert fake_hub.requests[-1].headers["authorization"] == "Bearer hf_good"


def test_private_repo_and_missing_things(fake_hub: FakeHub, tiny_bytes: bytes) -> None:
    _tiny_repo(fake_hub, tiny_bytes, repo_id="org/Private-GGUF", private=True)
    fake_hub.require_token("hf_good")
    with pytest.raises(RemoteNotFoundError) as private:
        hub.list_model_options("org/Private-GGUF")
    assert "org/Private-GGUF" in private.value.message and "token" in private.value.hint
    assert hub.list_model_options("org/Private-GGUF", token="hf_good")
    assert hub.search_models("private") == []
    assert [h.id for h in hub.search_models("private", token="hf_good")] == ["org/Private-GGUF"]

    with pytest.raises(RemoteNotFoundError, match="No model repository named org/nothing"):
        hub.card_summary("org/nothing")
    with pytest.raises(RemoteNotFoundError, match=r"no file named missing\.gguf"):
        hub.read_remote_header("org/Private-GGUF", "missing.gguf", token="hf_good")
    with pytest.raises(RemoteNotFoundError, match="no branch, tag or commit named v9"):
        hub.list_model_options("org/Private-GGUF", revision="v9", token="hf_good")


def test_no_implicit_token_from_the_environment(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a Hearth token, none is sent: not HF_TOKEN, not `hf auth login`'s."""
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    fake_hub.add_repo("org/m", {"m.gguf": b"x"})
    hub.search_models("m")
    hub.list_model_options("org/m")
    hub.card_summary("org/m")
    assert fake_hub.requests and all("authorization" not in r.headers for r in fake_hub.requests)


def test_server_errors_timeouts_and_no_server(
    fake_hub: FakeHub, tiny_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("org/m", {"m.gguf": tiny_bytes})
    fake_hub.fail_next(1, 503)
    with pytest.raises(NetworkError, match="HTTP 503") as server:
        hub.card_summary("org/m")
    assert server.value.hint

    monkeypatch.setattr(hub_client, "TIMEOUT", 0.3)
    fake_hub.throttle(1)  # one byte a second: the read times out
    with pytest.raises(NetworkError, match="did not answer in time") as slow:
        hub.read_remote_header("org/m", "m.gguf")
    assert not isinstance(slow.value, OfflineError)
    fake_hub.throttle(None)

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", closed)
    with pytest.raises(OfflineError, match="cannot reach the Hugging Face Hub") as down:
        hub.card_summary("org/m")
    assert "connection" in down.value.hint


def test_offline_mode_opens_no_socket(
    fake_hub: FakeHub, tiny_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny_repo(fake_hub, tiny_bytes)
    connects: list[object] = []

    def no_connect(self: socket.socket, address: object) -> None:
        connects.append(address)
        raise AssertionError(f"offline mode opened a socket to {address}")

    apply_offline(True)
    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", no_connect)
        patch.setattr(socket.socket, "connect_ex", no_connect)
        _every_call_refuses(fake_hub)
        assert connects == [] and fake_hub.requests == []
        port = int(fake_hub.endpoint.rsplit(":", 1)[1])
        with pytest.raises(AssertionError):  # the spy does see connections
            socket.create_connection(("127.0.0.1", port))
        assert len(connects) == 1

    apply_offline(False)
    ensure_online("search")
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False
    assert hub.list_model_options("org/Tiny-GGUF")


def _every_call_refuses(fake_hub: FakeHub) -> None:
    calls: list[Callable[[], object]] = [
        lambda: hub.search_models("tiny"),
        lambda: hub.list_model_options("org/Tiny-GGUF"),
        lambda: hub.card_summary("org/Tiny-GGUF"),
        lambda: hub.read_remote_header("org/Tiny-GGUF", "Tiny-Q4_K_M.gguf"),
    ]
    for call in calls:
        with pytest.raises(OfflineError) as exc:
            call()
        assert exc.value.message.startswith("Offline mode is on, so Hearth will not")
        assert (
            exc.value.hint == "Turn off offline mode (the switch in Hearth's sidebar) to search and download."
        )
    # the library's own switch is on too, for code that calls it directly
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(OfflineModeIsEnabled):
        huggingface_hub.HfApi(endpoint=fake_hub.endpoint).model_info("org/Tiny-GGUF")


# ------------------------------------------------------------------------------------- CLI


def _run_search(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    search_command.register(parser.add_subparsers())
    args = parser.parse_args(["search", *argv])
    result: int = args.handler(args)
    return result


def test_search_cli(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    fake_hub.add_repo("org/A-GGUF", {"a.gguf": b"x"}, downloads=1234, likes=7, gated=True)
    fake_hub.add_repo("org/B-GGUF", {"b.gguf": b"x"}, downloads=10, likes=70)

    assert _run_search(["gguf", "--json", "--sort", "likes"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["org/B-GGUF", "org/A-GGUF"]
    assert rows[1] == {
        "id": "org/A-GGUF",
        "author": "org",
        "downloads": 1234,
        "likes": 7,
        "last_modified": "2026-01-01T00:00:00+00:00",
        "gated": True,
        "private": False,
        "tags": ["gguf"],
    }

    assert _run_search(["gguf"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "DOWNLOADS", "LIKES", "UPDATED"]
    assert lines[1].split() == ["org/A-GGUF", "[gated]", "1,234", "7", "2026-01-01"]

    assert _run_search(["nothing-matches"]) == 0
    assert "No GGUF models match" in capsys.readouterr().out


def test_search_cli_honours_offline_setting(fake_hub: FakeHub, hearth_home: Path) -> None:
    save_settings(app_paths(), AppSettings(offline=True))
    with pytest.raises(OfflineError):
        _run_search(["gguf"])
    assert fake_hub.requests == []


def test_offline_from_the_environment_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE is set") as exc:
        hub.search_models("x")
    assert "Unset HF_HUB_OFFLINE" in exc.value.hint


def test_remote_header_follows_the_storage_redirect(fake_hub: FakeHub, tiny_bytes: bytes) -> None:
    fake_hub.add_repo("org/g", {"t.gguf": tiny_bytes + b"\0" * (3 << 20)}, gated=True)
    fake_hub.require_token("hf_good")
    fake_hub.lfs_redirects = True
    assert hub.read_remote_header("org/g", "t.gguf", token="hf_good").architecture == "llama"
    resolve, cdn = fake_hub.requests
    assert "/resolve/main/t.gguf" in resolve.path and cdn.path.startswith("/_cdn/org/g/")
    assert cdn.headers["range"] == "bytes=0-2097151" and "authorization" not in cdn.headers


def test_bad_names_and_empty_files(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/empty", {"empty.gguf": b""}, card="")
    with pytest.raises(RemoteNotFoundError, match="not a valid name"):
        hub.list_model_options("not a repo/with spaces!")
    with pytest.raises(RemoteNotFoundError, match="not a valid name"):
        hub.read_remote_header("a/b/c", "x.gguf")
    with pytest.raises(ModelFileError, match="empty"):
        hub.read_remote_header("org/empty", "empty.gguf")
    assert hub.card_summary("org/empty").description is None


def test_the_library_makes_no_request_of_its_own(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub's telemetry fetches an "agent harness" list from its import-time endpoint."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)
    monkeypatch.setattr(constants, "ENDPOINT", fake_hub.endpoint)  # so a stray fetch would show here
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(Path(os.environ["HEARTH_HOME"]) / "h.json"))
    monkeypatch.setattr(_detect_agent, "_registry", None)
    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY")
    fake_hub.add_repo("org/m", {"m.gguf": b"x"})

    hub.search_models("m")
    hub.list_model_options("org/m")
    assert [r.path for r in fake_hub.requests if "agent-harnesses" in r.path] == []
    assert constants.HF_HUB_DISABLE_TELEMETRY is True and constants.HF_HUB_DISABLE_IMPLICIT_TOKEN is True
