"""Remote providers against real OpenAI-compatible servers started here: `hearth serve` (a separate
process, over the real Gemma model and a tiny one) and llama-cpp-python's own server where its extras
are installed. Driven through the CLI as a user would: `hearth remote add|list|rm` and
`hearth chat --remote NAME --model MODEL`, whose greedy text must equal a local chat's."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop_app.core.services import AppServices
from tests import test_serve_cli
from tests.test_cli_engine import ROOT, assert_one_line_error, hearth, json_lines
from tests.test_serve_cli import Serve

PROMPT = "The three primary colours are"
serve = test_serve_cli.serve  # the same fixture: `hearth serve` processes, killed at the end


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def with_env(home: Path, args: list[str | Path], **env: str) -> subprocess.CompletedProcess[str]:
    old = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return hearth(args, home, timeout=240)
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.slow
def test_remote_add_list_rm_against_hearth_serve_and_the_key_is_never_shown(
    serve: Callable[..., Serve], tiny_gguf: Callable[..., Path], hearth_home: Path
) -> None:
    tiny = tiny_gguf("tiny-remote.gguf")
    server = serve("--model", tiny, "--port", "0", "--threads", "1")
    added = hearth(["remote", "add", "box", "--url", server.url, "--api-key", server.key], hearth_home)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(f"Added box ({server.url}): 1 model: tiny-remote.")
    assert "warning" not in added.stderr  # plain http, but to this computer
    listing = hearth(["remote", "list", "--json"], hearth_home)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == [{"name": "box", "url": server.url, "models": ["tiny-remote"]}]
    human = hearth(["remote", "list"], hearth_home)
    for output in (added, listing, human):
        assert server.key not in output.stdout + output.stderr
    file = hearth_home / "config" / "providers.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600 and server.key in file.read_text()

    again = hearth(["remote", "add", "box", "--url", server.url], hearth_home)
    assert_one_line_error(again, 2)
    wrong = hearth(["remote", "add", "bad", "--url", server.url, "--api-key", "wrong-key-1234"], hearth_home)
    assert_one_line_error(wrong, 8)
    assert "refused the API key (HTTP 401)" in wrong.stderr
    assert "wrong-key-1234" not in wrong.stderr

    tiny_chat = ["chat", "--remote", "box", "--model", "tiny-remote", "--max-tokens", "4", "--json"]
    chat = hearth([*tiny_chat, "--prompt", "hi", "--save"], hearth_home)
    assert chat.returncode == 0, chat.stderr
    (result,) = json_lines(chat.stdout)
    assert result["completion_tokens"] >= 1 and result["prompt_tokens"] > 0
    resumed = hearth(
        [*tiny_chat, "--prompt", "again", "--resume", str(result["conversation_id"])], hearth_home
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json_lines(resumed.stdout)[0]["conversation_id"] == result["conversation_id"]
    assert "warning" not in resumed.stderr  # the same remote model it was held with
    conversation = str(result["conversation_id"])
    here = hearth(
        ["chat", "--model", tiny, "--resume", conversation, "--prompt", "x", "--max-tokens", "2"], hearth_home
    )
    assert here.returncode == 0, here.stderr
    assert f"conversation {conversation} was held with tiny-remote on box" in here.stderr
    services = AppServices.open()
    try:
        branch = services.conversations.path(result["conversation_id"])
        assert [m.content for m in branch if m.role == "user"] == ["hi", "again", "x"]
    finally:
        services.close()

    assert hearth(["remote", "rm", "box"], hearth_home).returncode == 0
    emptied = hearth(["remote", "list", "--json"], hearth_home)
    assert emptied.returncode == 0 and json.loads(emptied.stdout) == [], emptied.stderr
    assert_one_line_error(hearth(["remote", "rm", "box"], hearth_home), 2)
    code, _out, err = server.stop()
    assert code == 0, err


def test_offline_mode_refuses_remote_commands(hearth_home: Path) -> None:
    (hearth_home / "config").mkdir(parents=True)
    (hearth_home / "config" / "settings.json").write_text('{"offline": true}')
    with socket.socket() as listener:  # a server that must never see a connection
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        result = hearth(["remote", "add", "box", "--url", url], hearth_home)
        assert_one_line_error(result, 8)
        assert "Offline mode is on" in result.stderr
        with pytest.raises(TimeoutError):
            listener.accept()


def test_plain_http_to_another_computer_warns(hearth_home: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never routed, so the check fails (quickly, as a timeout or refusal)
    result = hearth(["remote", "add", "far", "--url", "http://192.0.2.1:9/v1"], hearth_home, timeout=60)
    assert "warning: http://192.0.2.1:9/v1 is plain http to another computer" in result.stderr
    assert result.returncode == 8


@pytest.mark.gemma
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_greedy_remote_chat_through_hearth_serve_equals_a_local_chat_and_is_saved(
    serve: Callable[..., Serve], gemma_path: Path, hearth_home: Path
) -> None:
    server = serve("--model", gemma_path, "--port", "0", "--threads", "1")
    added = with_env(
        hearth_home,
        ["remote", "add", "box", "--url", server.url, "--api-key-env", "BOX_KEY"],
        BOX_KEY=server.key,
    )
    assert added.returncode == 0, added.stderr
    assert server.key not in (hearth_home / "config" / "providers.json").read_text()  # only the name
    flags = ["--prompt", PROMPT, "--temperature", "0", "--max-tokens", "24", "--json"]
    remote = with_env(
        hearth_home,
        ["chat", "--remote", "box", "--model", "gemma-3-270m-q4_k_m", *flags, "--save"],
        BOX_KEY=server.key,
    )
    assert remote.returncode == 0, remote.stderr
    server.stop()
    local = hearth(["chat", "--model", gemma_path, *flags], hearth_home, timeout=240)
    assert local.returncode == 0, local.stderr
    (remote_json,) = json_lines(remote.stdout)
    (local_json,) = json_lines(local.stdout)
    assert remote_json["text"].strip() and remote_json["text"] == local_json["text"]
    assert set(remote_json) == set(local_json) | {"conversation_id"}
    assert remote_json["completion_tokens"] == local_json["completion_tokens"]
    assert remote_json["prompt_tokens"] == local_json["prompt_tokens"]
    assert remote_json["stop_reason"] == local_json["stop_reason"]
    assert remote_json["ttft_s"] > 0 and remote_json["generation_tps"] > 0

    services = AppServices.open()
    try:
        conversation = services.conversations.get_conversation(remote_json["conversation_id"])
        assert conversation.model_name == "gemma-3-270m-q4_k_m on box"
        assert conversation.model_path is None
        assert conversation.settings["remote"] == {
            "provider": "box",
            "url": server.url,
            "model": "gemma-3-270m-q4_k_m",
        }
        prompt, reply = services.conversations.path(conversation.id)
        assert (prompt.content, reply.content) == (PROMPT, remote_json["text"])
        assert reply.state == "complete"
    finally:
        services.close()


@pytest.mark.gemma
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_llama_cpp_python_server_as_a_provider(gemma_path: Path, hearth_home: Path, tmp_path: Path) -> None:
    """A second, independent implementation of the API (FastAPI + sse-starlette)."""
    pytest.importorskip("fastapi", reason="llama-cpp-python's server extras are not installed")
    pytest.importorskip("llama_cpp.server.app")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "llama-server-key-123"
    # Its log goes to a file: llama.cpp prints ~130 KB while loading, and a pipe nobody reads fills at
    # 64 KB and stops the server before it listens.
    log_path = tmp_path / "llama-server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_path), "--host", "127.0.0.1",
                "--port", str(port), "--api_key", key, "--chat_format", "gemma", "--n_ctx", "1024",
                "--n_threads", "1", "--model_alias", "gemma",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )  # fmt: skip

    def server_log() -> str:
        return "llama_cpp.server's log ends: " + log_path.read_text(errors="replace")[-3000:]

    try:
        url = f"http://127.0.0.1:{port}/v1"
        listening = wait_for_port(port, proc, timeout_s=180)
        assert listening, server_log()
        added = hearth(["remote", "add", "llama", "--url", url, "--api-key", key], hearth_home)
        assert added.returncode == 0, f"{added.stderr}\n{server_log()}"
        assert added.stdout.startswith(f"Added llama ({url}): 1 model: gemma."), added.stdout
        listing = hearth(["remote", "list", "--json"], hearth_home)
        assert json.loads(listing.stdout) == [{"name": "llama", "url": url, "models": ["gemma"]}]
        assert key not in listing.stdout + listing.stderr + added.stdout + added.stderr
        chat = hearth(
            ["chat", "--remote", "llama", "--model", "gemma", "--prompt", PROMPT, "--temperature", "0",
             "--max-tokens", "16", "--json", "--save"],
            hearth_home,
            timeout=240,
        )  # fmt: skip
        assert chat.returncode == 0, f"{chat.stderr}\n{server_log()}"
        (result,) = json_lines(chat.stdout)
        assert result["text"].strip() and result["completion_tokens"] > 0 and result["ttft_s"] > 0
        assert result["stop_reason"] == "max_tokens"  # finish_reason "length": 16 tokens, greedy
        services = AppServices.open()
        try:
            conversation = services.conversations.get_conversation(result["conversation_id"])
            assert conversation.model_name == "gemma on llama"
            assert conversation.settings["remote"] == {"provider": "llama", "url": url, "model": "gemma"}
            prompt, reply = services.conversations.path(conversation.id)
            assert (prompt.content, reply.content, reply.state) == (PROMPT, result["text"], "complete")
        finally:
            services.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], *, timeout_s: float) -> bool:
    """True once something accepts connections on 127.0.0.1:`port`; False when `proc` exits first or
    `timeout_s` passes (loading the model comes before listening)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.25)
    return False
