"""What the throughput benchmarks share: `hearth serve` as a separate process (as users run it), and a
raw HTTP reader of its streamed chat completions, timed as the bytes arrive.

The reader does nothing but split the stream into events and join the text, so what it measures is the
server's own streamed speed: observed tok/s = (tokens - 1) / (end of the stream - first text).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Streamed:
    text: str
    tokens: int  # from the server's `usage` (stream_options.include_usage)
    first: float  # perf_counter when the first text arrived
    last: float  # … when [DONE] arrived

    @property
    def observed_tps(self) -> float:
        return (self.tokens - 1) / (self.last - self.first) if self.last > self.first else 0.0


class HearthServe:
    """A running `hearth serve --port 0`: `.url`, `.port` and `.key` are what it printed. With
    `log=True` its stderr (one line per request) is kept for `request_log`; else it is discarded."""

    def __init__(self, model: str, threads: int, home: str, *, log: bool = False) -> None:
        env = {**os.environ, "HEARTH_HOME": home, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "serve", "--model", model, "--port", "0",
             "--threads", str(threads)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE if log else subprocess.DEVNULL, text=True,
            env=env, cwd=ROOT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip().removeprefix("Listening on ")
        self.port = int(self.url.rsplit(":", 1)[1])
        self.key = self.proc.stdout.readline().strip().removeprefix("API key: ")

    def request_log(self, containing: str) -> str:
        """The next line of the server's log that contains `containing` (needs `log=True`)."""
        assert self.proc.stderr is not None, "started without log=True"
        line = self.proc.stderr.readline()
        while containing not in line:
            if not line:
                raise AssertionError(f"the server's log ended before a line with {containing!r}")
            line = self.proc.stderr.readline()
        return line

    def stream_chat(self, body: dict[str, Any]) -> Streamed:
        return stream_chat(self.port, self.key, body)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=60)


def stream_chat(port: int, key: str, body: dict[str, Any]) -> Streamed:
    """POST a streamed /v1/chat/completions on 127.0.0.1:`port` and read it raw off the socket."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(
        "POST", "/v1/chat/completions", json.dumps(body),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    text: list[str] = []
    first = last = 0.0
    n = 0
    buffer = b""
    while chunk := resp.read1(65536):
        now = time.perf_counter()
        buffer += chunk
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            payload = event.removeprefix(b"data: ")
            if payload == b"[DONE]":
                last = now
                continue
            data = json.loads(payload)
            if data.get("usage"):
                n = int(data["usage"]["completion_tokens"])
            for choice in data["choices"]:
                piece = choice["delta"].get("content")
                if piece:
                    text.append(piece)
                    first = first or now
    conn.close()
    return Streamed("".join(text), n, first, last)
