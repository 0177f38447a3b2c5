"""The API's shapes (what OpenAI's clients parse) and the backend's queue, on a tiny model."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core.engine import Engine, GenerationStats
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.jobs import JobResult, ThreadBackend
from tests.server_http import LiveServer, Recorder, serving, sse_events, wait_until

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 6, "seed": 3}


@pytest.fixture
def server(tiny_gguf: Callable[..., Path]) -> Iterator[LiveServer]:
    model = tiny_gguf("tiny-api.gguf", context_length=512)
    with serving(model, LoadSettings(n_threads=1, n_threads_batch=1)) as live:
        yield live


def test_models_lists_the_loaded_model(server: LiveServer) -> None:
    data = server.request("GET", "/v1/models").json()
    assert data["object"] == "list"
    (card,) = data["data"]
    assert card["id"] == "tiny-api"
    assert card["object"] == "model"
    assert card["owned_by"] == "hearth"
    assert isinstance(card["created"], int)
    assert server.request("GET", "/v1/models/tiny-api").json() == card
    missing = server.request("GET", "/v1/models/gpt-4o")
    assert missing.status == 404
    assert missing.error()["code"] == "model_not_found"


def test_chat_completion_shape_and_usage(server: LiveServer) -> None:
    reply = server.request("POST", "/v1/chat/completions", CHAT)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    data = reply.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == "tiny-api"  # any requested model name is served by the loaded model
    (choice,) = data["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 0 < usage["completion_tokens"] <= 6
    assert usage["prompt_tokens"] > 2
    (started,) = server.recorder.started
    stats = server.recorder.result(started[0])
    assert isinstance(stats, GenerationStats)
    assert usage["completion_tokens"] == stats.completion_tokens
    assert usage["prompt_tokens"] == stats.prompt_tokens
    assert choice["finish_reason"] == ("length" if stats.stop_reason == "max_tokens" else "stop")


def test_streamed_chat_matches_the_unstreamed_reply(server: LiveServer) -> None:
    whole = server.request("POST", "/v1/chat/completions", CHAT).json()
    reply = server.request("POST", "/v1/chat/completions", {**CHAT, "stream": True})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_events(reply.body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]  # same seed, same text
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == whole["choices"][0]["finish_reason"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert "usage" not in chunks[-1]


def test_stream_options_include_usage(server: LiveServer) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    chunks = [
        json.loads(e) for e in sse_events(server.request("POST", "/v1/chat/completions", body).body)[:-1]
    ]
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] > 0


def test_completions_streamed_and_not(server: LiveServer) -> None:
    body = {"prompt": "once upon a time", "max_tokens": 5, "seed": 1, "temperature": 0}
    data = server.request("POST", "/v1/completions", body).json()
    assert data["object"] == "text_completion"
    assert data["id"].startswith("cmpl-")
    (choice,) = data["choices"]
    assert set(choice) == {"index", "text", "logprobs", "finish_reason"}
    events = sse_events(server.request("POST", "/v1/completions", {**body, "stream": True}).body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == choice["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == choice["finish_reason"]


def test_completions_default_to_16_tokens_like_openai(server: LiveServer) -> None:
    data = server.request("POST", "/v1/completions", {"prompt": "the", "ignore_eos": True}).json()
    assert data["usage"]["completion_tokens"] == 16
    assert data["choices"][0]["finish_reason"] == "length"


def test_content_parts_and_developer_role_are_accepted(server: LiveServer) -> None:
    body = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
            {"role": "assistant", "content": None},
            {"role": "user", "content": "again"},
        ],
        "max_tokens": 2,
    }
    assert server.request("POST", "/v1/chat/completions", body).status == 200
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    reply = server.request("POST", "/v1/chat/completions", image)
    assert reply.status == 400
    assert "not supported" in reply.error()["message"]


def test_a_prompt_longer_than_the_context_is_400(server: LiveServer) -> None:
    body = {"messages": [{"role": "user", "content": "hello " * 2000}], "max_tokens": 4}
    for stream in (False, True):
        reply = server.request("POST", "/v1/chat/completions", {**body, "stream": stream})
        assert reply.status == 400, reply.body  # even streamed: headers wait for the first event
        error = reply.error()
        assert error["code"] == "context_length_exceeded"
        assert "context" in error["message"]


def test_unknown_endpoints_and_methods_answer_in_openais_shape(server: LiveServer) -> None:
    missing = server.request("GET", "/v1/embeddings")
    assert missing.status == 404
    assert "/v1/chat/completions" in missing.error()["message"]
    wrong = server.request("GET", "/v1/chat/completions")
    assert wrong.status == 405
    assert wrong.headers["allow"] == "POST"
    wrong.error()


def test_concurrent_requests_all_complete_one_at_a_time(server: LiveServer) -> None:
    replies: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        status = server.request("POST", "/v1/completions", {"prompt": f"story {i}", "max_tokens": 8}).status
        with lock:
            replies.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replies == [200] * 6
    assert len(server.recorder.started) == 6
    wait_until(lambda: len(server.recorder.finished) == 6, what="all jobs to end")


# ------------------------------------------------------------------------------------ the backend


class _Job:
    def __init__(self, log: list[str], name: str, gate: threading.Event | None = None) -> None:
        self.log, self.name, self.gate = log, name, gate

    def run(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        self.log.append(f"run {self.name}")
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancelled():
                    self.log.append(f"cancelled {self.name}")
                    return None
        return None

    def skipped(self) -> None:
        self.log.append(f"skip {self.name}")


def test_thread_backend_runs_jobs_in_order_and_cancels_one_request_only() -> None:
    log: list[str] = []
    gate = threading.Event()
    recorder = Recorder()
    with ThreadBackend(listener=recorder) as backend:
        first = backend.submit(_Job(log, "a", gate), "a")
        second = backend.submit(_Job(log, "b"), "b")
        third = backend.submit(_Job(log, "c"), "c")
        wait_until(lambda: log == ["run a"], what="a to start")
        backend.cancel(second)  # queued: skipped, the others untouched
        backend.cancel(12345)  # unknown: ignored
        gate.set()
        recorder.result(third)
        assert log == ["run a", "skip b", "run c"]
        assert [rid for rid, _ in recorder.started] == [first, third]

        running = backend.submit(_Job(log, "d", threading.Event()), "d")
        wait_until(lambda: "run d" in log, what="d to start")
        backend.cancel(running)  # running: its own cancelled() turns true
        recorder.result(running)
        assert log[-1] == "cancelled d"
        backend.cancel(first)  # finished long ago: ignored, nothing breaks
        assert backend.model() is None


def test_thread_backend_reports_load_errors_and_keeps_working(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 40)
    with ThreadBackend() as backend:
        with pytest.raises(Exception, match=r"\w"):
            backend.load(bad)
        assert backend.model() is None
        model = backend.load(tiny_gguf(), LoadSettings(n_threads=1, n_threads_batch=1))
        assert backend.model() == model
        text = backend.call(
            lambda engine: [e for e in engine.stream_completion("hi", SamplingSettings(max_tokens=2))]
        )
        assert isinstance(text[-1], GenerationStats)
