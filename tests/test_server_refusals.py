"""Refused requests reach the activity list (issue #18): every request the API answers with an error
before any job of it ran (bad JSON or parameters, an unknown endpoint or model, a full queue, no model
loaded, a queued job cancelled before it started) is told to the server's reject listener, as the
security gate's refusals are; a job the API answered with an error (a conversation too long for the
context) ends its own row as a refusal, once.

Real HTTP to a real uvicorn server on 127.0.0.1: a ThreadBackend for the listener's view, the app's
inference thread and Server page for what a user reads.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core.engine import Engine
from desktop_app.core.generation import LoadSettings
from desktop_app.core.jobs import JobResult, ThreadBackend
from desktop_app.core.paths import app_paths
from desktop_app.server.app import CANCELLED_BEFORE_START
from desktop_app.ui.server_page import ServerPage
from desktop_app.workers.inference import InferenceController
from tests.server_http import LiveServer, Recorder, request, start_server, wait_until

CHAT_PATH = "/v1/chat/completions"
CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
TOO_LONG = {"messages": [{"role": "user", "content": "hello " * 2000}], "max_tokens": 4}
TINY = LoadSettings(n_threads=1, n_threads_batch=1)


def _serve(backend: ThreadBackend, recorder: Recorder, **app_kwargs: Any) -> Iterator[LiveServer]:
    live = start_server(backend, recorder, **app_kwargs)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def backend(recorder: Recorder, tiny_gguf: Callable[..., Path]) -> Iterator[ThreadBackend]:
    with ThreadBackend(listener=recorder) as started:
        started.load(tiny_gguf("tiny-refusals.gguf", context_length=512), TINY)
        yield started


@pytest.fixture
def server(backend: ThreadBackend, recorder: Recorder) -> Iterator[LiveServer]:
    yield from _serve(backend, recorder, max_pending=1)


class _GatedJob:
    """Holds the engine's thread until `gate` opens, so HTTP requests queue behind it."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.running = threading.Event()

    def run(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        self.running.set()
        self.gate.wait(30)
        return None

    def skipped(self) -> None:
        pass


def test_bad_requests_unknown_endpoints_and_models_are_reported_as_refused(server: LiveServer) -> None:
    replies = [
        server.request("POST", CHAT_PATH, raw=b"{not json"),
        server.request("POST", CHAT_PATH, {**CHAT, "n": 2}),
        server.request("POST", "/v1/completions", {"prompt": 7}),
        server.request("GET", "/v1/embeddings"),
        server.request("GET", "/v1/models/no-such-model"),
        server.request("GET", CHAT_PATH),
    ]
    assert [r.status for r in replies] == [400, 400, 400, 404, 404, 405]
    assert server.recorder.rejected == [
        ("POST", CHAT_PATH, 400, "invalid_request"),
        ("POST", CHAT_PATH, 400, "invalid_request"),
        ("POST", "/v1/completions", 400, "invalid_request"),
        ("GET", "/v1/embeddings", 404, "not_found"),
        ("GET", "/v1/models/no-such-model", 404, "model_not_found"),
        ("GET", CHAT_PATH, 405, "method_not_allowed"),
    ]
    assert server.recorder.started == []  # none of them reached the model


def test_a_conversation_too_long_is_reported_once_with_its_job(server: LiveServer) -> None:
    reply = server.request("POST", CHAT_PATH, TOO_LONG)
    assert reply.status == 400 and reply.error()["code"] == "context_length_exceeded"
    [(request_id, _description)] = server.recorder.started  # the job ran: its result reports it
    result = server.recorder.result(request_id)
    assert getattr(result, "status", None) == 400
    assert getattr(result, "code", None) == "context_length_exceeded"
    assert server.recorder.rejected == []  # not a second time as a refusal


def test_a_full_queue_and_a_job_cancelled_before_it_ran_are_reported(
    server: LiveServer, backend: ThreadBackend
) -> None:
    gate = threading.Event()
    blocker = _GatedJob(gate)
    backend.submit(blocker, "blocker")  # the engine's thread is busy until the gate opens
    assert blocker.running.wait(30)
    queued: list[int] = []
    waiter = threading.Thread(
        target=lambda: queued.append(server.request("POST", CHAT_PATH, CHAT).status), daemon=True
    )
    waiter.start()
    try:
        wait_until(lambda: server.app.in_flight == 1, what="the request to queue")
        full = server.request("POST", CHAT_PATH, CHAT)  # max_pending=1: one already waits
        assert full.status == 429 and full.error()["code"] == "too_many_requests"
        assert server.recorder.rejected == [("POST", CHAT_PATH, 429, "too_many_requests")]
        server.app.cancel_all()  # as when the server stops: the queued job is skipped
    finally:
        gate.set()
    waiter.join(30)
    assert queued == [503]
    assert server.recorder.rejected[1:] == [("POST", CHAT_PATH, 503, CANCELLED_BEFORE_START)]
    assert [d for _, d in server.recorder.started] == ["blocker"]  # the HTTP request never ran


def test_no_model_loaded_is_reported() -> None:
    recorder = Recorder()
    with ThreadBackend(listener=recorder) as empty:  # nothing loaded
        for live in _serve(empty, recorder):
            reply = live.request("POST", CHAT_PATH, CHAT)
            assert reply.status == 503 and reply.error()["code"] == "model_not_loaded"
            assert live.recorder.rejected == [("POST", CHAT_PATH, 503, "model_not_loaded")]


# ------------------------------------------------------------------------------- the Server page


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def page(qtbot) -> Iterator[tuple[ServerPage, InferenceController]]:
    controller = InferenceController()
    host = QWidget()  # no layout: a top-level layout's minimum size makes offscreen Qt warn
    host.resize(960, 700)
    widget = ServerPage(controller, app_paths().ensure(), host)
    widget.setGeometry(0, 0, 960, 700)
    qtbot.addWidget(host)
    widget.port.setValue(_free_port())
    host.show()
    yield widget, controller
    widget.shutdown()
    assert controller.shutdown()
    qtbot.wait(10)


def test_the_server_page_lists_refused_requests(
    qtbot, page: tuple[ServerPage, InferenceController], tiny_gguf: Callable[..., Path]
) -> None:
    server_page, controller = page
    with qtbot.waitSignal(controller.loaded, timeout=60_000):
        controller.load(tiny_gguf("tiny-page-refusals.gguf", context_length=512), TINY)
    with qtbot.waitSignal(server_page.server.started, timeout=10_000):
        server_page.switch.click()
    port, key = server_page.port.value(), server_page.api_key
    assert request(port, "POST", CHAT_PATH, raw=b"{not json", key=key).status == 400
    assert request(port, "GET", "/v1/embeddings", key=key).status == 404
    assert request(port, "POST", CHAT_PATH, TOO_LONG, key=key).status == 400
    qtbot.waitUntil(lambda: len(server_page.activity_rows()) == 3, timeout=10_000)
    qtbot.waitUntil(lambda: "running" not in server_page.activity_rows()[0][4], timeout=10_000)
    too_long, missing, bad = server_page.activity_rows()  # newest first
    assert bad[1:] == ("POST /v1/chat/completions", "", "", "400 refused: invalid request")
    assert missing[1:] == ("GET /v1/embeddings", "", "", "404 refused: no such endpoint")
    assert too_long[1] == "POST /v1/chat/completions"
    assert too_long[4] == "400 refused: conversation too long for the context"
    status = server_page.activity.item(0, 4)
    assert status is not None and "too long for this model" in status.toolTip()  # the why, on hover
    assert server_page.activity.isVisible()
