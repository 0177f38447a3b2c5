"""Remote providers against real sockets: a standard-library server that misbehaves on request (slow,
silent, disconnecting, garbage SSE, 401, 429, unknown model), over http and TLS, and through a proxy
from the environment. Every failure must be one clear line; a stop must close the stream."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.engine.events import Event, GenerationStats, TextDelta
from desktop_app.core.errors import HearthError, OfflineError, SettingsError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.network import apply_offline
from desktop_app.core.paths import app_paths
from desktop_app.core.providers import (
    Provider,
    ProviderAuthError,
    ProviderDroppedError,
    ProviderError,
    ProviderModelError,
    ProviderProtocolError,
    ProviderRateLimitError,
    ProviderStore,
    ProviderTimeoutError,
    ProviderTLSError,
    ProviderUnreachableError,
    plain_http_warning,
)
from desktop_app.core.providers.catalog import all_remote_models, list_models, remote_chat_for
from desktop_app.core.providers.remote_chat import RemoteChat, request_body
from desktop_app.core.providers.sse import sse_json
from tests.openai_stub import KEY, MODELS, TOKENS, StubServer, self_signed_cert

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture(autouse=True)
def online(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HF_HUB_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield
    apply_offline(False)


def provider(server: StubServer, **kwargs: str) -> Provider:
    return Provider("stub", server.url, **({"api_key": KEY} | kwargs))


def run(chat: RemoteChat, sampling: SamplingSettings | None = None) -> tuple[str, GenerationStats]:
    events: list[Event] = list(chat.stream_chat(HELLO, sampling or SamplingSettings(max_tokens=50)))
    assert isinstance(events[-1], GenerationStats)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)), events[-1]


def one_line(exc: HearthError) -> str:
    text = str(exc)
    assert "\n" not in text and exc.hint, text
    assert KEY not in text
    return text


# -- records and the store ------------------------------------------------------------------------


def test_store_is_0600_and_keeps_the_key_out_of_repr_and_public_views(hearth_home: Path) -> None:
    store = ProviderStore()
    record = Provider("box", "https://gpu.example:8000/v1", api_key="sk-secret-1")
    store.add(record)
    file = app_paths().config / "providers.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert store.get("box").key() == "sk-secret-1"
    assert "sk-secret-1" not in repr(record) and "sk-secret-1" not in str(record.public_dict())
    with pytest.raises(SettingsError, match="already a provider"):
        store.add(record)
    os.chmod(file, 0o644)  # a copy left readable is tightened when read
    store.providers()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert store.remove("box").name == "box"
    assert store.providers() == []


def test_store_refuses_a_malformed_file_with_a_line_that_says_what_to_do(hearth_home: Path) -> None:
    file = app_paths().ensure().config / "providers.json"
    file.write_text('{"providers": [{"name": "x", "url": "ftp://nope"}]}')
    with pytest.raises(SettingsError, match=r"providers\.json") as caught:
        ProviderStore().providers()
    assert "remove it" in caught.value.hint


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://gpu-box:8000/v1", "http://gpu-box:8000/v1"),
        ("http://gpu-box:8000/", "http://gpu-box:8000/v1"),
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
        ("https://llm.example.org/openai/v1/", "https://llm.example.org/openai/v1"),
    ],
)
def test_api_base_appends_v1_only_to_a_bare_host(url: str, expected: str) -> None:
    assert Provider("p", url).api_base == expected


@pytest.mark.parametrize(
    "url", ["gpu-box:8000", "ftp://x/v1", "http://user:pw@x/v1", "http://x/v1?k=1", "http://x:99999", ""]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(SettingsError):
        Provider("p", url)


def test_key_must_be_one_header_token_and_names_are_checked() -> None:
    with pytest.raises(SettingsError):
        Provider("p", "http://x/v1", api_key="two words")
    with pytest.raises(SettingsError):
        Provider("p", "http://x/v1", api_key="k\r\nX-Evil: 1")
    with pytest.raises(SettingsError):
        Provider("../etc", "http://x/v1")
    with pytest.raises(SettingsError, match="not set"):
        Provider("p", "http://x/v1", api_key_env="HEARTH_TEST_UNSET_VAR").key()


def test_plain_http_warns_only_off_this_computer() -> None:
    assert plain_http_warning(Provider("p", "http://127.0.0.1:8000/v1")) is None
    assert plain_http_warning(Provider("p", "http://localhost:8000/v1")) is None
    assert plain_http_warning(Provider("p", "http://[::1]:8000/v1")) is None
    assert plain_http_warning(Provider("p", "https://gpu-box/v1")) is None
    warning = plain_http_warning(Provider("p", "http://192.168.1.20:8000/v1", api_key="k"))
    assert warning and "unencrypted" in warning and "API key" in warning


# -- listing models --------------------------------------------------------------------------------


def test_list_models_and_the_key_is_sent(stub: StubServer) -> None:
    assert list_models(provider(stub)) == sorted(MODELS)


def test_key_from_an_environment_variable(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_KEY", KEY)
    assert list_models(Provider("stub", stub.url, api_key_env="STUB_KEY")) == sorted(MODELS)


def test_wrong_or_missing_key_is_one_line(stub: StubServer) -> None:
    with pytest.raises(ProviderAuthError) as wrong:
        list_models(provider(stub, api_key="nope"))
    assert "refused the API key (HTTP 401): Invalid API key" in one_line(wrong.value)
    with pytest.raises(ProviderAuthError, match="needs an API key"):
        list_models(Provider("stub", stub.url))


def test_unreachable_and_not_openai(stub: StubServer) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderUnreachableError, match="refused") as refused:
        list_models(Provider("gone", f"http://127.0.0.1:{port}/v1"))
    one_line(refused.value)
    with pytest.raises(ProviderProtocolError, match="no OpenAI-compatible API"):
        list_models(Provider("stub", stub.url.removesuffix("/v1") + "/api", api_key=KEY))
    stub.behaviour.mode = "html"
    with pytest.raises(ProviderProtocolError, match="did not answer GET /models"):
        list_models(provider(stub))


def test_offline_mode_blocks_before_any_socket(stub: StubServer) -> None:
    apply_offline(True)
    with pytest.raises(OfflineError, match="Offline mode is on"):
        list_models(provider(stub))
    with pytest.raises(OfflineError):
        run(RemoteChat(provider(stub), MODELS[0]))
    assert stub.request_lines == []  # the server never heard from us


def test_a_proxy_from_the_environment_is_used(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{stub.port}")
    monkeypatch.setenv("NO_PROXY", "")
    far = Provider("far", "http://gpu-box.invalid:8000/v1", api_key=KEY)  # resolvable only by the proxy
    assert list_models(far) == sorted(MODELS)
    assert stub.request_lines == ["GET http://gpu-box.invalid:8000/v1/models HTTP/1.1"]


# -- TLS -------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificate with openssl")
def test_tls_is_verified_and_a_ca_bundle_makes_it_trusted(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    with StubServer(tls=(cert, key)) as server:
        with pytest.raises(ProviderTLSError, match="not accepted") as refused:
            list_models(Provider("tls", server.url, api_key=KEY))
        assert "--ca-bundle" in refused.value.hint
        trusted = Provider("tls", server.url, api_key=KEY, ca_bundle=str(cert))
        assert list_models(trusted) == sorted(MODELS)
        text, _stats = run(RemoteChat(trusted, MODELS[0]))
        assert text == "".join(TOKENS)
    with pytest.raises(SettingsError, match="CA bundle"):
        list_models(Provider("tls", "https://127.0.0.1:1/v1", ca_bundle=str(tmp_path / "missing.pem")))


# -- streaming chat --------------------------------------------------------------------------------


def test_streams_the_same_events_as_the_engine_with_usage_and_timing(stub: StubServer) -> None:
    stub.behaviour.delay_s = 0.01
    text, stats = run(RemoteChat(provider(stub), MODELS[0]))
    assert text == "Hello, world!"
    assert (stats.prompt_tokens, stats.cached_tokens, stats.evaluated_tokens) == (11, 3, 8)
    assert stats.completion_tokens == len(TOKENS)
    assert stats.stop_reason == "eos"
    assert stats.ttft_s > 0 and stats.generation_tps > 0 and stats.total_s >= stats.ttft_s


def test_sampling_settings_map_to_openai_fields(stub: StubServer) -> None:
    sampling = SamplingSettings(
        temperature=0.3, top_p=0.8, top_k=12, min_p=0.1, repeat_penalty=1.2, frequency_penalty=0.5,
        presence_penalty=0.25, seed=42, max_tokens=4, stop=("END",), logit_bias=((7, -100.0),),
        json_output=True,
    )  # fmt: skip
    _text, stats = run(RemoteChat(provider(stub), MODELS[1]), sampling)
    assert stats.stop_reason == "max_tokens"  # finish_reason "length"
    sent = stub.requests[-1]
    assert sent == request_body(MODELS[1], HELLO, sampling)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (0.3, 0.8, 4, 42)
    assert (sent["top_k"], sent["min_p"], sent["repeat_penalty"]) == (12, 0.1, 1.2)
    assert (sent["frequency_penalty"], sent["presence_penalty"]) == (0.5, 0.25)
    assert sent["stop"] == ["END"] and sent["logit_bias"] == {"7": -100.0}
    assert sent["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("401", ProviderAuthError, "refused the API key"),
        ("429", ProviderRateLimitError, "rate-limiting"),
        ("unknown_model", ProviderModelError, "has no model 'alpha-7b'"),
        ("garbage", ProviderProtocolError, "not valid server-sent events"),
        ("not_json", ProviderProtocolError, "not JSON"),
        ("huge_line", ProviderProtocolError, "longer than 1 MiB"),
        ("not_sse", ProviderProtocolError, "did not stream the reply"),
        ("drop", ProviderDroppedError, "dropped"),
        ("error_event", ProviderError, "CUDA out of memory"),
    ],
)
def test_each_failure_is_one_clear_line(
    stub: StubServer, mode: str, error: type[ProviderError], words: str
) -> None:
    stub.behaviour.mode = mode
    received: list[str] = []
    chat = RemoteChat(provider(stub), MODELS[0])
    with pytest.raises(error) as caught:
        for event in chat.stream_chat(HELLO, SamplingSettings(max_tokens=50)):
            if isinstance(event, TextDelta):
                received.append(event.text)
    assert words in one_line(caught.value)
    if mode == "429":
        assert caught.value.hint == "Wait 7 s and try again."
    if mode in ("drop", "error_event"):
        assert received == TOKENS[:2]  # what arrived was streamed (and a writer keeps it)


def test_a_stream_without_done_but_with_a_finish_reason_is_complete(stub: StubServer) -> None:
    stub.behaviour.mode = "no_done"
    text, stats = run(RemoteChat(provider(stub), MODELS[0]))
    assert text == "".join(TOKENS) and stats.stop_reason == "eos"


def test_a_silent_server_times_out(stub: StubServer) -> None:
    stub.behaviour.mode, stub.behaviour.delay_s = "slow", 3.0
    with pytest.raises(ProviderTimeoutError, match="stopped answering") as caught:
        run(RemoteChat(provider(stub), MODELS[0], read_timeout_s=0.5))
    one_line(caught.value)


def test_cancel_closes_a_stalled_stream_at_once(stub: StubServer) -> None:
    stub.behaviour.mode = "stall"  # two tokens, then silence until the client hangs up
    chat = RemoteChat(provider(stub), MODELS[0])
    events: list[Event] = []
    got_two = threading.Event()

    def consume() -> None:
        for event in chat.stream_chat(HELLO, SamplingSettings(max_tokens=50)):
            events.append(event)
            if len(events) == 2:
                got_two.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert got_two.wait(10)
    chat.cancel()
    worker.join(10)
    assert not worker.is_alive(), "cancel did not end a read blocked on a silent server"
    assert stub.stream_closed.wait(10), "the server never saw the connection close"
    assert [e.text for e in events if isinstance(e, TextDelta)] == TOKENS[:2]
    stats = events[-1]
    assert isinstance(stats, GenerationStats) and stats.stop_reason == "cancelled"


# -- the SSE parser on its own ---------------------------------------------------------------------


def test_sse_parser_handles_split_chunks_crlf_comments_and_fields() -> None:
    raw = (
        b': hi\r\nevent: message\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\r\n\r\ndata: {}\n\n'
    )
    chunks = [raw[i : i + 3] for i in range(0, len(raw), 3)]  # split anywhere, even inside \r\n
    assert list(sse_json(chunks)) == [{"a": 1}, None]  # nothing is read after [DONE]


@pytest.mark.parametrize(
    "raw",
    [
        b"data: \xff\xfe\n\n",
        b"data: [1, 2]\n\n",
        b"HTTP/1.1 200 OK\n\n",
        b"data: " + b"x" * (1 << 20) + b"\n\n",
    ],
)
def test_sse_parser_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(ProviderProtocolError):
        list(sse_json([raw]))


def test_cancel_before_the_first_byte(stub: StubServer) -> None:
    stub.behaviour.mode, stub.behaviour.delay_s = "slow", 5.0
    chat = RemoteChat(provider(stub), MODELS[0])
    timer = threading.Timer(0.3, chat.cancel)
    timer.start()
    try:
        text, stats = run(chat)
    finally:
        timer.join()
    assert stats.stop_reason == "cancelled" and text == ""
    assert not stub.headers_sent.is_set()  # the stop did not wait for the server's first byte


def test_the_key_never_reaches_a_log_even_at_debug_level(
    stub: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx2 and httpcore2 log every request and header event
    list_models(provider(stub))
    run(RemoteChat(provider(stub), MODELS[0]))
    with pytest.raises(ProviderAuthError):
        list_models(provider(stub, api_key="wrong-key-987"))
    assert "127.0.0.1" in caplog.text  # the libraries did log the requests
    assert KEY not in caplog.text and "wrong-key-987" not in caplog.text


def test_the_pickers_catalog_lists_every_providers_models_and_one_line_per_failure(
    stub: StubServer, hearth_home: Path
) -> None:
    store = ProviderStore()
    store.add(provider(stub))
    store.add(Provider("locked", stub.url, api_key="wrong-key-5"))
    models, problems = all_remote_models(store)
    assert [(m.provider, m.host, m.model) for m in models] == [
        ("stub", "127.0.0.1", m) for m in sorted(MODELS)
    ]
    assert models[0].label == "alpha-7b on stub"
    assert len(problems) == 1 and "'locked'" in problems[0] and "wrong-key-5" not in problems[0]
    text, _stats = run(remote_chat_for(models[0], store))
    assert text == "".join(TOKENS)
    apply_offline(True)
    models, problems = all_remote_models(store)
    assert models == [] and len(problems) == 2 and all("Offline mode" in p for p in problems)
