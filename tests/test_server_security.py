"""The API server's security defaults, attacked over raw HTTP against a real uvicorn on 127.0.0.1.

A tiny random-weight model keeps these fast; what is under test is the gate, the limits and
cancellation, not the text.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core.api_key import key_file, load_or_create_key, regenerate_key
from desktop_app.core.engine import GenerationStats
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import LoadSettings
from desktop_app.core.jobs import ThreadBackend
from desktop_app.core.paths import app_paths
from desktop_app.core.server_config import (
    MAX_BODY_BYTES,
    ServerOptions,
    ServerStartError,
    check_origin,
    host_header_allowed,
)
from desktop_app.server.runner import ServerRunner
from tests.server_http import (
    KEY,
    LiveServer,
    Recorder,
    open_stream,
    read_until,
    start_server,
    wait_until,
)

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 4}
CTX = 16384  # room for a generation long enough to disconnect from in the middle


@pytest.fixture
def backend(tiny_gguf: Callable[..., Path]) -> Iterator[tuple[ThreadBackend, Recorder]]:
    recorder = Recorder()
    engine_backend = ThreadBackend(listener=recorder).start()
    try:
        engine_backend.load(
            tiny_gguf(context_length=CTX), LoadSettings(n_ctx=CTX, n_threads=1, n_threads_batch=1)
        )
        yield engine_backend, recorder
    finally:
        assert engine_backend.close()


@pytest.fixture
def server(backend: tuple[ThreadBackend, Recorder]) -> Iterator[LiveServer]:
    live = start_server(*backend, cors_origins=["http://localhost:3000"])
    yield live
    live.stop()


# ------------------------------------------------------------------------------------ bind address


def _non_loopback_ip() -> str | None:
    """This machine's outward address (a UDP connect sends nothing), if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 9))
        ip = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if ipaddress.ip_address(ip).is_loopback else ip


def test_the_listening_socket_is_on_127_0_0_1_only(server: LiveServer) -> None:
    assert server.runner.address == ("127.0.0.1", server.port)
    assert server.request("GET", "/v1/models").status == 200
    outward = _non_loopback_ip()
    if outward is not None:  # the same port on the machine's network address refuses the connection
        with pytest.raises(OSError):
            socket.create_connection((outward, server.port), timeout=2).close()


def test_binding_elsewhere_needs_an_explicit_flag() -> None:
    for host in ("0.0.0.0", "::", "192.168.1.10"):
        with pytest.raises(SettingsError, match="allow-remote"):
            ServerOptions(api_key=KEY, host=host)
        assert ServerOptions(api_key=KEY, host=host, allow_remote=True).host == host
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert ServerOptions(api_key=KEY, host=host).host == host
    with pytest.raises(SettingsError, match="not an IP address"):
        ServerOptions(api_key=KEY, host="example.com", allow_remote=True)


def test_a_busy_port_is_a_clear_error(server: LiveServer, backend: tuple[ThreadBackend, Recorder]) -> None:
    second = ServerRunner(server.app, "127.0.0.1", server.port)
    with pytest.raises(ServerStartError, match="already in use"):
        second.start()
    assert not second.is_running()


# ------------------------------------------------------------------------------------ Host header


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.evil.example",
     "localhost:80@evil.example", "[::1].evil.example", "192.168.1.10:8765", "0.0.0.0", ""],
)  # fmt: skip
def test_a_foreign_host_header_is_refused_even_with_the_key(server: LiveServer, host: str) -> None:
    reply = server.request("GET", "/v1/models", host=host)
    assert reply.status == 403
    assert reply.error()["code"] == "host_not_allowed"
    assert reply.cors_headers() == {}
    # a chat request too, and before the key is even looked at
    assert server.request("POST", "/v1/chat/completions", CHAT, host=host, key=None).status == 403


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost:1", "127.0.0.1", "127.0.0.1:8765", "[::1]", "[::1]:9"]
)
def test_local_host_headers_are_answered(server: LiveServer, host: str) -> None:
    assert server.request("GET", "/v1/models", host=host).status == 200


def test_host_header_rule() -> None:
    assert host_header_allowed("localhost:8765")
    assert not host_header_allowed("localhost:8765x")
    assert not host_header_allowed(None)
    assert not host_header_allowed("10.0.0.5:8765")
    # with --allow-remote, IP literals are fine (rebinding needs a name), names still are not
    assert host_header_allowed("10.0.0.5:8765", allow_remote=True)
    assert host_header_allowed("[fe80::1]:8765", allow_remote=True)
    assert not host_header_allowed("evil.example", allow_remote=True)


# ------------------------------------------------------------------------------------ API key


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-key", f"Bearer {KEY[:-1]}", f"Bearer {KEY}x",
     f"Bearer {KEY.upper()}", f"Basic {KEY}", KEY, f"Token {KEY}"],
)  # fmt: skip
def test_no_or_a_wrong_key_is_401(server: LiveServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in (("GET", "/v1/models", None), ("POST", "/v1/chat/completions", CHAT),
                               ("GET", "/v1/no-such-endpoint", None)):  # fmt: skip
        reply = server.request(method, path, body, key=None, headers=headers)
        assert reply.status == 401, (method, path)
        assert reply.error()["code"] == "invalid_api_key"
        assert reply.headers.get("www-authenticate") == "Bearer"
    assert server.recorder.started == []  # nothing reached the model
    assert {r[2] for r in server.recorder.rejected} == {401}


def test_the_right_key_works_and_the_scheme_is_case_insensitive(server: LiveServer) -> None:
    assert server.request("GET", "/v1/models").status == 200
    reply = server.request("GET", "/v1/models", key=None, headers={"Authorization": f"bearer {KEY}"})
    assert reply.status == 200


def test_a_new_key_takes_effect_at_once(server: LiveServer) -> None:
    server.policy.set_api_key("a-brand-new-key-42")
    assert server.request("GET", "/v1/models").status == 401
    assert server.request("GET", "/v1/models", key="a-brand-new-key-42").status == 200


def test_the_stored_key_is_created_once_private_and_regenerated_on_demand() -> None:
    paths = app_paths().ensure()
    assert not key_file(paths).exists()
    first = load_or_create_key(paths)
    assert len(first) >= 40
    assert load_or_create_key(paths) == first
    mode = stat.S_IMODE(os.stat(key_file(paths)).st_mode)
    if os.name == "posix":
        assert mode == 0o600
    second = regenerate_key(paths)
    assert second != first
    assert load_or_create_key(paths) == second
    key_file(paths).write_text("x\n")  # damaged: replaced by a fresh key, never used as a key
    assert load_or_create_key(paths) not in ("x", first, second)


# ------------------------------------------------------------------------------------ CORS


def test_a_foreign_origin_gets_no_cors_headers(server: LiveServer) -> None:
    for origin in (
        "https://evil.example",
        "http://localhost:3001",
        "null",
        "http://localhost:3000.evil.example",
    ):
        reply = server.request("POST", "/v1/chat/completions", CHAT, headers={"Origin": origin})
        assert reply.status == 403
        assert reply.error()["code"] == "origin_not_allowed"
        assert reply.cors_headers() == {}
        preflight = server.request(
            "OPTIONS", "/v1/chat/completions", key=None,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"},
        )  # fmt: skip
        assert preflight.status == 403
        assert preflight.cors_headers() == {}
    assert server.recorder.started == []


def test_clients_without_an_origin_get_no_cors_headers(server: LiveServer) -> None:
    reply = server.request("POST", "/v1/chat/completions", CHAT)
    assert reply.status == 200
    assert reply.cors_headers() == {}
    assert "vary" not in reply.headers


def test_an_allowlisted_origin_gets_cors_headers_and_preflight(server: LiveServer) -> None:
    origin = "http://localhost:3000"
    preflight = server.request(
        "OPTIONS", "/v1/chat/completions", key=None,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os"},
    )  # fmt: skip
    assert preflight.status == 204
    cors = preflight.cors_headers()
    assert cors["access-control-allow-origin"] == origin
    assert "POST" in cors["access-control-allow-methods"]
    assert "authorization" in cors["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in cors

    reply = server.request("POST", "/v1/chat/completions", CHAT, headers={"Origin": origin})
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == origin
    assert reply.headers["vary"] == "Origin"
    # the key is still required from an allowlisted page, and its error is readable there
    denied = server.request("GET", "/v1/models", key=None, headers={"Origin": origin})
    assert denied.status == 401
    assert denied.headers["access-control-allow-origin"] == origin


def test_the_allowlist_can_change_while_running(server: LiveServer) -> None:
    origin = "https://app.example.com"
    assert server.request("GET", "/v1/models", headers={"Origin": origin}).status == 403
    server.policy.set_cors_origins([check_origin("https://APP.example.com/")])
    reply = server.request("GET", "/v1/models", headers={"Origin": origin})
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "origin", ["*", "null", "https://x.example/path", "https://*.example.com", "x.example", ""]
)
def test_only_exact_origins_can_be_allowlisted(origin: str) -> None:
    with pytest.raises(SettingsError):
        check_origin(origin)


def test_app_origins_can_be_allowlisted() -> None:
    assert check_origin("vscode-webview://abc123") == "vscode-webview://abc123"
    assert check_origin("HTTP://LocalHost:3000/") == "http://localhost:3000"


# ------------------------------------------------------------------------------------ body size


def _recv_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_a_declared_oversized_body_is_413_before_it_is_sent(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        response = _recv_all(sock)  # the server answers and closes without waiting for the body
    assert response.startswith(b"HTTP/1.1 413 ")
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "request_too_large"


def test_a_chunked_body_is_counted_while_it_is_read(server: LiveServer) -> None:
    """No Content-Length to trust: the limit is enforced on the bytes actually received."""
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the rest is sent
        response = _recv_all(sock)
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert server.recorder.started == []


def test_a_body_just_under_the_limit_is_accepted(server: LiveServer) -> None:
    body = {**CHAT, "user": ""}
    padding = MAX_BODY_BYTES - len(json.dumps(body)) - 16
    body["user"] = "p" * padding
    raw = json.dumps(body).encode()
    assert MAX_BODY_BYTES - 64 < len(raw) <= MAX_BODY_BYTES
    assert server.request("POST", "/v1/chat/completions", raw=raw).status == 200


def test_a_client_uploading_an_oversized_body_can_send_it_all_and_read_the_413(server: LiveServer) -> None:
    """Clients that write the whole body before reading (urllib, requests, most HTTP libraries) got a
    broken pipe or a reset when the server answered and closed after the first MiB: the server now reads
    and discards the rest (bounded), so the upload completes and the 413 is read."""
    import time

    body = json.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 3_000_000}]}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for start in range(0, len(body), 65536):  # a client on a real network: the body takes a while
            sock.sendall(body[start : start + 65536])
            time.sleep(0.002)
        response = _recv_all(sock)
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_too_large"
    assert server.recorder.started == []


@pytest.mark.parametrize("size", [3 * 1024 * 1024, 20 * 1024 * 1024])
def test_the_official_client_reads_the_413(server: LiveServer, size: int) -> None:
    """httpx sends the whole body before it reads the answer: closing on unread bytes reset the connection,
    and the client reported a network error (APIConnectionError) instead of the 413."""
    import openai

    with (
        openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=60) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "x" * size}], max_tokens=4
        )
    assert caught.value.status_code == 413
    assert "limit" in caught.value.message
    assert server.recorder.started == []
    # the server is still serving
    assert server.request("POST", "/v1/chat/completions", CHAT).status == 200


# ------------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("change", "param"),
    [({"max_tokens": -1}, "max_tokens"), ({"max_tokens": 0}, "max_tokens"),
     ({"max_tokens": 10**12}, "max_tokens"), ({"max_tokens": CTX + 1}, "max_tokens"),
     ({"max_tokens": "12"}, "max_tokens"), ({"max_tokens": 1.5}, "max_tokens"),
     ({"max_tokens": True}, "max_tokens"), ({"max_completion_tokens": -5}, "max_completion_tokens"),
     ({"temperature": -0.1}, "temperature"), ({"temperature": float("nan")}, "temperature"),
     ({"temperature": float("inf")}, "temperature"), ({"temperature": "hot"}, "temperature"),
     ({"top_p": -1}, "top_p"), ({"top_k": -3}, "top_k"), ({"frequency_penalty": 3}, "frequency_penalty"),
     ({"seed": "s"}, "seed"), ({"n": 2}, "n"), ({"stop": [""]}, "stop"), ({"stop": 5}, "stop"),
     ({"stream": "yes"}, "stream"), ({"messages": []}, "messages"), ({"messages": "hi"}, "messages"),
     ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
     ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
     ({"model": 7}, "model"), ({"tools": [{"type": "function"}]}, "tools")],
)  # fmt: skip
def test_invalid_parameters_are_400_naming_the_parameter(
    server: LiveServer, change: dict[str, object], param: str
) -> None:
    reply = server.request("POST", "/v1/chat/completions", {**CHAT, **change})
    assert reply.status == 400, reply.body
    error = reply.error()
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert server.recorder.started == []  # refused before it was queued


def test_harmless_values_are_clamped_not_refused(server: LiveServer) -> None:
    changes: list[dict[str, object]] = [
        {"temperature": 7}, {"top_p": 3}, {"min_p": 2}, {"top_k": 10**9}, {"repeat_penalty": 9},
        {"seed": -1}, {"seed": 2**63}, {"frequency_penalty": -2, "presence_penalty": 2},
        {"max_tokens": CTX},  # the whole context is allowed (the random model ends it early)
    ]  # fmt: skip
    for change in changes:
        body = {"prompt": "once upon", "max_tokens": 2, **change}
        reply = server.request("POST", "/v1/completions", body)
        assert reply.status == 200, (change, reply.body)


def test_malformed_json_is_400(server: LiveServer) -> None:
    for raw in (b"{", b"[]", b'"text"', b"\xff\xfe", b"[" * 100_000):
        reply = server.request("POST", "/v1/chat/completions", raw=raw)
        assert reply.status == 400, raw[:10]
        reply.error()


def test_completions_refuse_what_they_cannot_do(server: LiveServer) -> None:
    for change, param in (({"prompt": [1, 2, 3]}, "prompt"), ({"prompt": ["a", "b"]}, "prompt"),
                          ({"echo": True}, "echo"), ({"suffix": "x"}, "suffix"),
                          ({"logprobs": 2}, "logprobs"), ({"ignore_eos": 1}, "ignore_eos")):  # fmt: skip
        reply = server.request("POST", "/v1/completions", {"prompt": "hi", "max_tokens": 2, **change})
        assert reply.status == 400, change
        assert reply.error()["param"] == param


# ------------------------------------------------------------------------------------ disconnects


def _long_stream(port: int) -> dict[str, object]:
    return {"prompt": "once upon a time", "max_tokens": CTX - 64, "stream": True, "ignore_eos": True}


def test_a_disconnect_mid_stream_cancels_the_generation(server: LiveServer) -> None:
    sock = open_stream(server.port, _long_stream(server.port))
    try:
        head = read_until(sock, b"data: ")
        assert head.startswith(b"HTTP/1.1 200 ")
        wait_until(lambda: len(server.recorder.started) == 1, what="the job to start")
        request_id = server.recorder.started[0][0]
    finally:
        sock.close()
    stats = server.recorder.result(request_id)
    assert isinstance(stats, GenerationStats)
    assert stats.stop_reason == "cancelled"
    assert 0 < stats.completion_tokens < CTX - 64
    # the engine is free again: the next request runs at once and completes
    reply = server.request("POST", "/v1/chat/completions", CHAT, timeout=30)
    assert reply.status == 200
    assert reply.json()["usage"]["completion_tokens"] == 4


def test_a_disconnect_while_queued_cancels_only_that_request(server: LiveServer) -> None:
    first = open_stream(server.port, _long_stream(server.port))
    second = None
    try:
        read_until(first, b"data: ")  # the first request is generating
        second = open_stream(server.port, {**_long_stream(server.port), "stream": False})
        wait_until(lambda: server.app.in_flight == 2, what="the second request to queue")
        second.close()  # it leaves while waiting for its turn
        wait_until(lambda: server.app.in_flight == 1, what="the queued request to be cancelled")
        more = read_until(first, b"data: ")  # the first one is still streaming
        assert more
    finally:
        first.close()
        if second is not None:
            second.close()
    wait_until(lambda: len(server.recorder.finished) == 1, what="the first request to end")
    started_ids = [rid for rid, _ in server.recorder.started]
    assert len(started_ids) == 1  # the queued one was skipped, never started
    stats = server.recorder.finished[started_ids[0]]
    assert isinstance(stats, GenerationStats) and stats.stop_reason == "cancelled"
    assert server.request("GET", "/v1/models").status == 200


def test_stopping_the_server_cancels_requests_in_flight(server: LiveServer) -> None:
    sock = open_stream(server.port, _long_stream(server.port))
    try:
        read_until(sock, b"data: ")
        assert server.runner.stop(timeout=10)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
        assert rest.endswith(b"data: [DONE]\n\n0\r\n\r\n") or rest.endswith(b"[DONE]\n\n\r\n0\r\n\r\n")
    finally:
        sock.close()
    wait_until(lambda: len(server.recorder.finished) == 1, what="the request to end")
    (stats,) = server.recorder.finished.values()
    assert isinstance(stats, GenerationStats) and stats.stop_reason == "cancelled"


# ------------------------------------------------------------------------------------ no model


def test_without_a_model_requests_get_a_clear_503(tiny_gguf: Callable[..., Path]) -> None:
    recorder = Recorder()
    with ThreadBackend(listener=recorder) as empty:
        live = start_server(empty, recorder)
        try:
            assert live.request("GET", "/v1/models").json() == {"object": "list", "data": []}
            for path, body in (("/v1/chat/completions", CHAT), ("/v1/completions", {"prompt": "x"})):
                reply = live.request("POST", path, body)
                assert reply.status == 503
                error = reply.error()
                assert error["code"] == "model_not_loaded"
                assert "Load" in error["message"]
        finally:
            live.stop()


def test_too_many_waiting_requests_get_429(backend: tuple[ThreadBackend, Recorder]) -> None:
    live = start_server(*backend, max_pending=1)
    sock = open_stream(live.port, _long_stream(live.port))
    try:
        read_until(sock, b"data: ")
        reply = live.request("POST", "/v1/chat/completions", CHAT)
        assert reply.status == 429
        assert reply.error()["type"] == "rate_limit_error"
    finally:
        sock.close()
        live.stop()
