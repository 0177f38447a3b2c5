"""A small OpenAI-compatible server from the standard library that misbehaves on request: slow,
silent, disconnecting mid-stream, garbage SSE, 401, 429, an unknown model. Real sockets on 127.0.0.1,
optionally TLS, so the provider client is tested against bytes on the wire, not a mock.

It also answers as an HTTP proxy (a request line with an absolute URL), recording what it was asked,
to show that proxies from the environment are honoured.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KEY = "stub-key-123"
MODELS = ["alpha-7b", "beta-70b"]
TOKENS = ["Hello", ",", " world", "!"]


@dataclass
class Behaviour:
    """What the next chat requests get (tests set it before they call)."""

    mode: str = "ok"  # ok, slow, stall, drop, garbage, not_json, huge_line, not_sse, error_event,
    #                   401, 429, unknown_model, no_done, html
    delay_s: float = 0.0  # between tokens
    tokens: list[str] = field(default_factory=lambda: list(TOKENS))
    require_key: bool = True


class StubServer:
    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.behaviour = Behaviour()
        self.requests: list[dict[str, Any]] = []  # chat bodies received
        self.request_lines: list[str] = []
        self.stream_closed = threading.Event()  # a stalled stream saw the client go away
        self.headers_sent = threading.Event()  # a chat stream's 200 went out
        self.stalled = threading.Event()  # a "stall" stream sent its tokens and now says nothing
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub.request_lines.append(self.requestline)
                if stub.behaviour.mode == "html":
                    self._send(200, b"<html><body>Login</body></html>", "text/html")
                    return
                if not self._authorised():
                    return
                if self.path.endswith("/v1/models"):
                    body = {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]}
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(404, b'{"error": {"message": "Not found"}}')

            def do_POST(self) -> None:
                stub.request_lines.append(self.requestline)
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                stub.requests.append(body)
                if not self._authorised():
                    return
                mode = stub.behaviour.mode
                if mode == "429":
                    self._send(
                        429, b'{"error": {"message": "Too many requests"}}', extra={"Retry-After": "7"}
                    )
                    return
                if mode == "unknown_model" or body.get("model") not in MODELS:
                    msg = f"The model `{body.get('model')}` does not exist."
                    self._send(404, json.dumps({"error": {"message": msg}}).encode())
                    return
                if mode == "not_sse":
                    self._send(200, b'{"choices": []}')
                    return
                if mode == "slow":
                    time.sleep(stub.behaviour.delay_s)
                self.send_response(200)
                stub.headers_sent.set()
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    self._stream(mode, body)
                except (BrokenPipeError, ConnectionResetError):
                    stub.stream_closed.set()

            def _stream(self, mode: str, body: dict[str, Any]) -> None:
                behaviour = stub.behaviour
                if mode == "garbage":
                    self._write(b"<html>\n<body>502 Bad Gateway</body>\n")
                    return
                if mode == "not_json":
                    self._write(b"data: {not json\n\n")
                    return
                if mode == "huge_line":
                    for _ in range(40):
                        self._write(b"data: " + b"x" * 65536)
                    return
                self._write(b": keep-alive\n\n")
                self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
                for i, token in enumerate(behaviour.tokens):
                    if mode == "drop" and i == 2:
                        self.wfile.flush()
                        self.connection.shutdown(2)  # the server dies mid-reply
                        return
                    self._event({"choices": [{"index": 0, "delta": {"content": token}}]})
                    if mode == "error_event" and i == 1:
                        self._event({"error": {"message": "CUDA out of memory", "type": "server_error"}})
                        return
                    if mode == "stall" and i == 1:
                        self._wait_for_hangup()
                        return
                    if behaviour.delay_s and mode != "slow":
                        time.sleep(behaviour.delay_s)
                n = len(behaviour.tokens)
                length = body.get("max_tokens", 99) <= n
                self._event(
                    {"choices": [{"index": 0, "delta": {}, "finish_reason": "length" if length else "stop"}]}
                )
                self._event(
                    {
                        "choices": [],
                        "usage": {
                            "prompt_tokens": 11,
                            "completion_tokens": n,
                            "total_tokens": 11 + n,
                            "prompt_tokens_details": {"cached_tokens": 3},
                        },
                    }
                )
                if mode != "no_done":
                    self._write(b"data: [DONE]\n\n")

            def _wait_for_hangup(self) -> None:
                """Send nothing more; return when the client closes the connection (or after 30 s)."""
                stub.stalled.set()
                self.connection.settimeout(0.1)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        if self.connection.recv(1) == b"":
                            break
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                stub.stream_closed.set()

            def _event(self, payload: dict[str, Any]) -> None:
                self._write(b"data: " + json.dumps(payload).encode() + b"\n\n")

            def _write(self, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()

            def _authorised(self) -> bool:
                if not stub.behaviour.require_key and stub.behaviour.mode != "401":
                    return True
                if stub.behaviour.mode != "401" and self.headers.get("Authorization") == f"Bearer {KEY}":
                    return True
                self._send(401, b'{"error": {"message": "Invalid API key"}}')
                return False

            def _send(
                self,
                status: int,
                body: bytes,
                kind: str = "application/json",
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # a client that hung up (the point of several tests) is not a server error worth a traceback
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="openai-stub", daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command line."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key
