"""The server inside the GUI process: API jobs queue on the inference worker with the chat's requests.

Real parts: the InferenceController's QThread, a tiny model, uvicorn on 127.0.0.1, raw HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.server_config import ServerOptions
from desktop_app.workers.inference import InferenceController
from desktop_app.workers.server_bridge import ServerController
from tests.server_http import KEY, open_stream, read_until, request

CTX = 16384
LONG = {"prompt": "once upon a time", "max_tokens": CTX - 64, "stream": True, "ignore_eos": True}


class Activity:
    def __init__(self, controller: InferenceController) -> None:
        self.events: list[tuple[str, int, object]] = []
        controller.external_started.connect(lambda rid, what: self.events.append(("started", rid, what)))
        controller.external_finished.connect(
            lambda rid, result: self.events.append(("finished", rid, result))
        )
        controller.generation_started.connect(lambda rid: self.events.append(("chat_started", rid, None)))
        controller.finished.connect(lambda rid, stats: self.events.append(("chat_finished", rid, stats)))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]

    def result(self, kind: str) -> object:
        return next(payload for k, _, payload in self.events if k == kind)


@pytest.fixture
def controller(qtbot, tiny_gguf: Callable[..., Path]) -> Iterator[InferenceController]:
    ctl = InferenceController()
    with qtbot.waitSignal(ctl.loaded, timeout=60_000):
        ctl.load(tiny_gguf(context_length=CTX), LoadSettings(n_ctx=CTX, n_threads=1, n_threads_batch=1))
    assert isinstance(ctl.loaded_model, LoadedModel)
    yield ctl
    assert ctl.shutdown()
    qtbot.wait(10)


@pytest.fixture
def server(qtbot, controller: InferenceController) -> Iterator[ServerController]:
    """One request at a time ("At once: 1"): each is a job in the inference thread's queue."""
    srv = ServerController(controller)
    assert srv.start(ServerOptions(api_key=KEY, port=0, parallel=1))
    assert srv.is_running()
    yield srv
    assert srv.stop_and_wait()
    assert not srv.is_running()


def _port(server: ServerController) -> int:
    assert server.runner is not None
    return server.runner.port


def test_api_requests_run_on_the_inference_thread_and_report_activity(qtbot, controller, server) -> None:
    activity = Activity(controller)
    reply = request(_port(server), "POST", "/v1/completions", {"prompt": "hello", "max_tokens": 3})
    assert reply.status == 200
    qtbot.waitUntil(lambda: "finished" in activity.kinds(), timeout=10_000)
    assert activity.kinds() == ["started", "finished"]
    assert activity.result("started") == "POST /v1/completions"
    stats = activity.result("finished")
    assert isinstance(stats, GenerationStats)
    assert reply.json()["usage"]["completion_tokens"] == stats.completion_tokens


def test_the_chat_waits_its_turn_and_its_stop_button_leaves_api_requests_alone(
    qtbot, controller, server
) -> None:
    activity = Activity(controller)
    sock = open_stream(_port(server), LONG)
    try:
        read_until(sock, b"data: ")  # the API request is generating
        chat_id = controller.generate([{"role": "user", "content": "hi"}], SamplingSettings(max_tokens=2))
        controller.cancel()  # the chat's Stop: cancels the chat request, not the API's
        qtbot.wait(200)
        assert "chat_started" not in activity.kinds()  # queued behind the API request
        assert read_until(sock, b"data: ")  # still streaming
    finally:
        sock.close()  # the client leaves: only now does the API request end
    qtbot.waitUntil(lambda: "chat_finished" in activity.kinds(), timeout=30_000)
    kinds = activity.kinds()
    assert kinds.index("finished") < kinds.index("chat_finished")
    api_stats = activity.result("finished")
    assert isinstance(api_stats, GenerationStats) and api_stats.stop_reason == "cancelled"
    assert api_stats.completion_tokens > 0
    chat_stats = activity.result("chat_finished")
    assert isinstance(chat_stats, GenerationStats) and chat_stats.stop_reason == "cancelled"
    assert chat_id > 0


def test_a_queued_api_request_whose_client_leaves_is_skipped(qtbot, controller, server) -> None:
    activity = Activity(controller)
    port = _port(server)
    first = open_stream(port, LONG)
    try:
        read_until(first, b"data: ")
        second = open_stream(port, {**LONG, "stream": False})
        qtbot.wait(100)
        second.close()
        qtbot.wait(100)
    finally:
        first.close()
    qtbot.waitUntil(lambda: activity.kinds().count("finished") >= 1, timeout=30_000)
    qtbot.wait(200)
    assert activity.kinds() == ["started", "finished"]  # the second never started
    assert request(port, "GET", "/v1/models").status == 200


def test_with_parallel_requests_the_chat_goes_first(qtbot, controller) -> None:
    """The default ("At once: 4"): API requests run in the parallel lane, which steps aside between
    steps when a chat reply is queued, so the chat is answered while the API stream waits, then the
    stream carries on. The activity list shows the request, not the lane's host job."""
    srv = ServerController(controller)
    assert srv.start(ServerOptions(api_key=KEY, port=0, parallel=4))
    try:
        activity = Activity(controller)
        sock = open_stream(_port(srv), LONG)
        try:
            read_until(sock, b"data: ")  # the API request is generating
            controller.generate([{"role": "user", "content": "hi"}], SamplingSettings(max_tokens=2))
            qtbot.waitUntil(lambda: "chat_finished" in activity.kinds(), timeout=30_000)
            assert "finished" not in activity.kinds()  # the API request is parked, not ended
            read_until(sock, b"data: ")  # and streams again after the chat
            assert str(activity.result("started")).startswith("POST /v1/completions")
        finally:
            sock.close()
        qtbot.waitUntil(lambda: "finished" in activity.kinds(), timeout=30_000)
        api_stats = activity.result("finished")
        assert isinstance(api_stats, GenerationStats) and api_stats.stop_reason == "cancelled"
        assert activity.kinds().count("started") == 1
    finally:
        assert srv.stop_and_wait()


def test_without_a_model_the_gui_server_answers_503(qtbot) -> None:
    ctl = InferenceController()
    srv = ServerController(ctl)
    try:
        assert srv.start(ServerOptions(api_key=KEY, port=0))
        reply = request(
            _port(srv), "POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}
        )
        assert reply.status == 503
        assert reply.error()["code"] == "model_not_loaded"
    finally:
        assert srv.stop_and_wait()
        assert ctl.shutdown()
        qtbot.wait(10)


def test_stop_does_not_block_and_the_thread_ends(qtbot, controller) -> None:
    srv = ServerController(controller)
    assert srv.start(ServerOptions(api_key=KEY, port=0))
    port = _port(srv)
    sock = open_stream(port, LONG)
    try:
        read_until(sock, b"data: ")
        with qtbot.waitSignal(srv.stopped, timeout=10_000):
            srv.stop()  # returns at once; the generation in flight is cancelled
            assert srv.runner is not None
    finally:
        sock.close()
    assert not srv.is_running()
    assert srv.url is None
    with pytest.raises(OSError):
        request(port, "GET", "/v1/models", timeout=2)
