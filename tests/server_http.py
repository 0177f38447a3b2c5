"""Helpers for the API server tests: raw HTTP (so tests control every header and byte), an activity
recorder, and a real uvicorn server on 127.0.0.1 with an ephemeral port over a real ThreadBackend."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.generation import LoadSettings
from desktop_app.core.jobs import JobResult, ThreadBackend
from desktop_app.server.app import ServerApp
from desktop_app.server.runner import ServerRunner
from desktop_app.server.security import SecurityPolicy

if TYPE_CHECKING:
    import openai

KEY = "test-key-0123456789abcdef"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        data = self.json()
        assert set(data) == {"error"}, data
        err = data["error"]
        assert set(err) == {"message", "type", "param", "code"}, err
        assert isinstance(err["message"], str) and err["message"]
        return dict(err)

    def cors_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.startswith("access-control-")}


def request(
    port: int,
    method: str,
    path: str,
    body: object = None,
    *,
    key: str | None = KEY,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 60,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        if key is not None:
            conn.putheader("Authorization", f"Bearer {key}")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders(data)
        resp = conn.getresponse()
        payload = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        conn.close()


def sse_events(body: bytes) -> list[str]:
    """The `data:` payloads of a server-sent event stream, in order."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            events.append(block[len("data: ") :])
    return events


def open_stream(
    port: int, body: dict[str, Any], path: str = "/v1/completions", key: str = KEY
) -> socket.socket:
    """Send a streaming request on a raw socket and return it, unread."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def read_until(sock: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    got = b""
    while marker not in got:
        chunk = sock.recv(65536)
        if not chunk or len(got) > limit:
            raise AssertionError(f"stream ended before {marker!r}: {got[-300:]!r}")
        got += chunk
    return got


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass
class Recorder:
    """An ActivityListener that remembers what the backend ran, for assertions."""

    started: list[tuple[int, str]] = field(default_factory=list)
    finished: dict[int, JobResult] = field(default_factory=dict)
    rejected: list[tuple[str, str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def job_started(self, request_id: int, description: str) -> None:
        with self.lock:
            self.started.append((request_id, description))

    def job_finished(self, request_id: int, description: str, result: JobResult) -> None:
        with self.lock:
            self.finished[request_id] = result

    def on_rejected(self, method: str, path: str, status: int, code: str) -> None:
        with self.lock:
            self.rejected.append((method, path, status, code))

    def result(self, request_id: int, timeout: float = 30.0) -> JobResult:
        wait_until(lambda: request_id in self.finished, timeout, f"request {request_id} to finish")
        return self.finished[request_id]


@dataclass
class LiveServer:
    backend: ThreadBackend
    runner: ServerRunner
    app: ServerApp
    policy: SecurityPolicy
    recorder: Recorder
    key: str = KEY

    @property
    def port(self) -> int:
        return self.runner.port

    @property
    def base_url(self) -> str:
        return f"{self.runner.url}/v1"

    def request(self, method: str, path: str, body: object = None, **kwargs: Any) -> Reply:
        return request(self.port, method, path, body, **kwargs)

    def stop(self) -> None:
        assert self.runner.stop(), "the server thread did not stop"


def start_server(
    backend: ThreadBackend, recorder: Recorder, *, cors_origins: Iterable[str] = (), **app_kwargs: Any
) -> LiveServer:
    policy = SecurityPolicy(KEY, cors_origins)
    app = ServerApp(backend, policy, on_rejected=recorder.on_rejected, **app_kwargs)
    runner = ServerRunner(app, "127.0.0.1", 0)
    runner.start(wait=True)
    return LiveServer(backend, runner, app, policy, recorder)


@contextmanager
def serving(
    model: Path,
    load: LoadSettings,
    *,
    parallel: int = 1,
    cors_origins: Iterable[str] = (),
    **app_kwargs: Any,
) -> Iterator[LiveServer]:
    """`model` loaded in a real ThreadBackend (decoding up to `parallel` requests together) and served on
    127.0.0.1 for the `with` block; the server, then the backend, are stopped after it (a fixture's
    body: `with serving(...) as s: yield s`)."""
    recorder = Recorder()
    backend = ThreadBackend(listener=recorder, parallel=parallel).start()
    try:
        backend.load(model, load)
        live = start_server(backend, recorder, cors_origins=cors_origins, **app_kwargs)
        try:
            yield live
        finally:
            live.stop()
    finally:
        assert backend.close()


@contextmanager
def openai_client(server: LiveServer, *, timeout: float = 120) -> Iterator[openai.OpenAI]:
    """The real `openai` client pointed at `server`, with its key and no retries."""
    import openai

    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=timeout) as client:
        yield client
