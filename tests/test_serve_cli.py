"""`hearth serve` as a user runs it: a separate process that prints two lines, serves, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core.api_key import KEY_FILE
from tests.server_http import request
from tests.test_cli_engine import ROOT, assert_one_line_error, hearth


class Serve:
    """A running `hearth serve`; `.url` and `.key` are what it printed."""

    def __init__(self, args: list[str], home: Path) -> None:
        env = {**os.environ, "HEARTH_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        second = self.proc.stdout.readline()
        if not first.startswith("Listening on "):
            self.proc.kill()
            raise AssertionError(f"unexpected output {first!r} {second!r}: {self.proc.communicate()[1]}")
        self.url = first.removeprefix("Listening on ").rstrip("\n")
        assert second.startswith("API key: "), second
        self.key = second.removeprefix("API key: ").rstrip("\n")
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, as a service manager would; returns (exit code, rest of stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


@pytest.fixture
def serve(hearth_home: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def run(*args: str | Path) -> Serve:
        server = Serve([str(a) for a in args], hearth_home)
        started.append(server)
        return server

    yield run
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_serve_prints_two_lines_serves_and_stops_cleanly(
    serve: Callable[..., Serve], tiny_gguf: Callable[..., Path], hearth_home: Path
) -> None:
    server = serve("--model", tiny_gguf("tiny-cli.gguf"), "--port", "0", "--threads", "1")
    assert server.url == f"http://127.0.0.1:{server.port}"
    key_path = hearth_home / "config" / KEY_FILE
    assert key_path.read_text().strip() == server.key  # created at first start
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600

    models = request(server.port, "GET", "/v1/models", key=server.key)
    assert models.status == 200
    assert models.json()["data"][0]["id"] == "tiny-cli"
    reply = request(
        server.port, "POST", "/v1/completions", {"prompt": "once", "max_tokens": 3}, key=server.key
    )
    assert reply.status == 200
    assert request(server.port, "GET", "/v1/models", key="wrong-key-1234").status == 401

    code, out, err = server.stop()
    assert code == 0, err
    assert out == ""  # stdout carried only the two lines
    assert "Traceback" not in err
    assert "POST /v1/completions" in err and "refused 401" in err  # one line per request
    assert err.rstrip().endswith("Server stopped.")

    # the next start reuses the stored key
    again = serve("--model", tiny_gguf("tiny-cli.gguf"), "--port", "0", "--threads", "1")
    assert again.key == server.key
    assert again.stop()[0] == 0


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_ctrl_c_and_an_explicit_key(
    serve: Callable[..., Serve], tiny_gguf: Callable[..., Path], hearth_home: Path
) -> None:
    server = serve("--model", tiny_gguf(), "--port", "0", "--threads", "1", "--api-key", "my-own-key-123")
    assert server.key == "my-own-key-123"
    assert not (hearth_home / "config" / KEY_FILE).exists()  # a key given on the command line is not stored
    assert request(server.port, "GET", "/v1/models", key="my-own-key-123").status == 200
    server.proc.send_signal(signal.SIGINT)
    code, _, err = server.stop()
    assert code == 0, err
    assert "Traceback" not in err


def test_a_non_local_host_needs_allow_remote(hearth_home: Path, tiny_gguf: Callable[..., Path]) -> None:
    result = hearth(["serve", "--model", tiny_gguf(), "--host", "0.0.0.0", "--port", "0"], hearth_home)
    assert_one_line_error(result, 2)
    assert "--allow-remote" in result.stderr
    assert result.stdout == ""


def test_allow_remote_warns(serve: Callable[..., Serve], tiny_gguf: Callable[..., Path]) -> None:
    server = serve(
        "--model", tiny_gguf(), "--host", "0.0.0.0", "--allow-remote", "--port", "0", "--threads", "1"
    )
    assert server.url.startswith("http://0.0.0.0:")
    # still only answers local Host names or IP literals, with the key
    assert request(server.port, "GET", "/v1/models", key=server.key).status == 200
    assert request(server.port, "GET", "/v1/models", key=server.key, host="evil.example").status == 403
    code, _, err = server.stop()
    assert code == 0
    assert "warning: listening on 0.0.0.0" in err


def test_bad_arguments_are_one_line_errors(hearth_home: Path, tiny_gguf: Callable[..., Path]) -> None:
    model = tiny_gguf()
    for args, code in (
        (["--model", model, "--cors-origin", "*"], 2),
        (["--model", model, "--api-key", "short"], 2),
        (["--model", "no-such-model-id"], 2),
        (["--model", model, "--port", "70000"], 2),
        ([], 2),  # nothing in the library to serve
    ):
        result = hearth(["serve", *args], hearth_home)
        assert_one_line_error(result, code)
        assert result.stdout == ""


def test_a_busy_port_is_a_one_line_error(
    serve: Callable[..., Serve], hearth_home: Path, tiny_gguf: Callable[..., Path]
) -> None:
    first = serve("--model", tiny_gguf(), "--port", "0", "--threads", "1")
    result = hearth(["serve", "--model", tiny_gguf(), "--port", str(first.port)], hearth_home)
    assert_one_line_error(result, 10)
    assert "already in use" in result.stderr
    assert first.stop()[0] == 0


def test_a_library_model_by_id_or_by_default(
    serve: Callable[..., Serve], hearth_home: Path, tiny_gguf: Callable[..., Path]
) -> None:
    imported = hearth(["models", "import", tiny_gguf("library-tiny.gguf")], hearth_home)
    assert imported.returncode == 0, imported.stderr
    listing = hearth(["models", "list", "--json"], hearth_home)
    (model,) = json.loads(listing.stdout)
    by_id = serve("--model", model["id"], "--port", "0", "--threads", "1")
    assert request(by_id.port, "GET", "/v1/models", key=by_id.key).json()["data"][0]["id"] == "library-tiny"
    assert by_id.stop()[0] == 0
    by_default = serve("--port", "0", "--threads", "1")  # no --model: the last one used
    assert request(by_default.port, "GET", "/v1/models", key=by_default.key).status == 200
    assert by_default.stop()[0] == 0


@pytest.mark.timeout(180, method="thread")
def test_a_refused_template_is_a_warning_and_the_server_still_serves(
    serve: Callable[..., Serve], tiny_gguf: Callable[..., Path]
) -> None:
    """A file template that cannot render in bounds (a deep-structure comparison) is replaced by the
    built-in format; the operator is told on stderr, and clients are served."""
    hostile = (
        "{% set ns = namespace(a=[[]], b=[[]]) %}{% for i in range(40) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}"
    )
    server = serve("--model", tiny_gguf(chat_template=hostile), "--port", "0", "--threads", "1")
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert request(server.port, "POST", "/v1/chat/completions", chat, key=server.key).status == 200
    code, _, err = server.stop()
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("hearth: warning:")]
    assert len(warnings) == 1 and "template in this model file was refused" in warnings[0], err
