"""The Starlette app: `/v1/models`, `/v1/chat/completions`, `/v1/completions`, in OpenAI's shapes.

Why Starlette on uvicorn: a small, maintained ASGI toolkit (routing, requests, exception handlers) on
a maintained server whose pure-Python h11 backend needs no C extension, so installers stay simple. The
security checks are our own ASGI middleware (security.py), so each rule is a few readable lines.

A generation request becomes a `GenerationJob` queued on the backend. The job runs on the engine's
thread and hands each event to this event loop with `call_soon_threadsafe`; the response drains what
has arrived since its last write and sends it as one chunk, so a slow client gets fewer, larger
chunks instead of a growing backlog. A watcher task sees the client disconnect and cancels the request
at once, whether it is still queued or already generating.

With a backend made for parallel sequences (`hearth serve --parallel N`), a request goes to the
backend's parallel lane instead (core/parallel_lane.py): up to N are decoded together, each with its
own id, events and cancel, through the same queue and the same response code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from desktop_app.core.engine import Engine, GenerationStats, TextDelta
from desktop_app.core.engine.events import Event
from desktop_app.core.engine.sequences import SequenceRequest
from desktop_app.core.errors import GenerationError, HearthError, SettingsError, TemplateError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.jobs import JobResult
from desktop_app.core.parallel_lane import CancelledBeforeStartError
from desktop_app.core.server_config import MAX_PENDING
from desktop_app.server.backend import InferenceBackend
from desktop_app.server.openai_schema import (
    ApiError,
    GenerationRequest,
    ResponseIds,
    chat_chunk,
    chat_response,
    completion_chunk,
    completion_response,
    error_body,
    finish_reason,
    model_card,
    model_id,
    new_ids,
    no_model_error,
    parse_chat,
    parse_completion,
)
from desktop_app.server.security import RejectListener, SecurityMiddleware, SecurityPolicy, send_json

log = logging.getLogger(__name__)

#: the code told to the reject listener for an error whose body has none (the status says the rest)
_GENERIC_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    500: "server_error",
    503: "unavailable",
}
#: a queued job cancelled before it ran (the server is stopping, or the request was cancelled)
CANCELLED_BEFORE_START = "cancelled_before_start"

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


@dataclass(frozen=True)
class _Begin:
    model_id: str


class _Skipped:
    """The job was cancelled while queued and never ran."""


class _Gone:
    """The client disconnected: stop answering (the job is cancelled separately)."""


_SKIPPED = _Skipped()
_GONE = _Gone()
Item = _Begin | TextDelta | GenerationStats | BaseException | _Skipped | _Gone


class GenerationJob:
    """Runs one request on the engine thread; every event goes to the handler's asyncio queue."""

    def __init__(
        self, request: GenerationRequest, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Item]
    ) -> None:
        self.request = request
        self._loop = loop
        self._queue = queue

    def _push(self, item: Item) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: the server stopped
            return False
        return True

    def run(self, engine: Engine, cancelled: Callable[[], bool]) -> JobResult:
        model = engine.model
        if model is None:
            error = no_model_error()
            self._push(error)
            return error
        self._push(_Begin(model_id(model)))
        req = self.request
        stats: GenerationStats | None = None
        try:
            if req.kind == "chat":
                refusal = _dropped_turns_error(engine, req)
                if refusal is not None:
                    self._push(refusal)
                    return refusal
                events = engine.stream_chat(list(req.messages), req.sampling)
            else:
                events = engine.stream_completion(req.prompt, req.sampling, ignore_eos=req.ignore_eos)
            for event in events:
                if isinstance(event, GenerationStats):
                    stats = event
                if not self._push(event) or cancelled():
                    engine.cancel()  # the client is gone, or a cancel raced with this job's start
        except HearthError as exc:  # the job's result is the error the client gets (its status and code)
            error = _error_for(exc, "messages" if req.kind == "chat" else "prompt")
            self._push(error)
            return error
        except Exception as exc:
            log.error("server generation failed", exc_info=True)
            self._push(exc)
            return exc
        return stats

    def skipped(self) -> None:
        self._push(_SKIPPED)


def sequence_request(
    request: GenerationRequest, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Item]
) -> SequenceRequest:
    """The parallel lane's form of a request: its events go to the handler's queue like a job's."""

    param = "messages" if request.kind == "chat" else "prompt"

    def push(item: Event | BaseException) -> BaseException | None:
        """Returns the error the client is answered with: the activity list shows that, as for a job."""
        answer: Item
        if isinstance(item, CancelledBeforeStartError):
            answer = _SKIPPED
        elif isinstance(item, HearthError):
            answer = _error_for(item, param)
        else:
            answer = item
        try:
            loop.call_soon_threadsafe(queue.put_nowait, answer)
        except RuntimeError:  # the event loop is closed: the server stopped
            raise ConnectionError("the server stopped") from None
        return answer if isinstance(answer, BaseException) else None

    if request.kind == "chat":
        return SequenceRequest(list(request.messages), request.sampling, push, refuse_dropped=True)
    return SequenceRequest(None, request.sampling, push, prompt=request.prompt, ignore_eos=request.ignore_eos)


def _dropped_turns_error(engine: Engine, request: GenerationRequest) -> ApiError | None:
    """The 400 for a conversation that does not fit, else None.

    The engine fits a long chat by leaving out its oldest turns, which the app's chat wants (and says).
    An API client would get an answer to a conversation it did not send, so it gets what OpenAI and
    llama.cpp answer instead: 400 `context_length_exceeded`. The prompt is built here with the reserve
    `stream_chat` uses; `stream_chat` then builds the same one again, from the engine's prompt cache."""
    model = engine.model
    assert model is not None
    reserve = min(request.sampling.max_tokens, model.n_ctx // 4)  # as Engine.stream_chat reserves
    _tokens, dropped = engine.build_chat_prompt(list(request.messages), reserve)
    if not dropped:
        return None
    return ApiError(
        400,
        f"The conversation does not fit in the model's context ({model.n_ctx:,} tokens, of which "
        f"{reserve:,} are kept for the reply): its oldest {dropped:,} message(s) would have to be left "
        "out. Send fewer or shorter messages, lower max_tokens, or load the model with a longer context.",
        param="messages",
        code="context_length_exceeded",
    )


class ServerApp:
    """The ASGI app: security middleware in front of the routes. Callable by uvicorn."""

    def __init__(
        self,
        backend: InferenceBackend,
        policy: SecurityPolicy,
        *,
        default_sampling: SamplingSettings | None = None,
        max_pending: int = MAX_PENDING,
        on_rejected: RejectListener | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.on_rejected = on_rejected
        self.default_sampling = default_sampling or SamplingSettings()
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._submitting = 0
        self._id_token = secrets.token_hex(4)
        routes = [
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self._model, methods=["GET"]),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/completions", self._completions, methods=["POST"]),
        ]
        self.starlette = Starlette(
            routes=routes,
            exception_handlers={
                ApiError: self._api_error,
                HTTPException: self._http_error,
                Exception: self._server_error,
            },
        )
        self.asgi = SecurityMiddleware(self.starlette, policy, on_rejected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)

    def cancel_all(self) -> None:
        """Thread-safe: cancel every request in flight (the server is stopping)."""
        with self._lock:
            ids = list(self._in_flight)
        for request_id in ids:
            self.backend.cancel(request_id)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    # -- routes ------------------------------------------------------------------------------------

    async def _models(self, _request: Request) -> Response:
        model = self.backend.model()
        return JSONResponse({"object": "list", "data": [model_card(model)] if model else []})

    async def _model(self, request: Request) -> Response:
        model = self.backend.model()
        wanted = request.path_params["model_id"]
        if model is None or wanted != model_id(model):
            raise ApiError(404, f"The model '{wanted}' is not loaded.", param="model", code="model_not_found")
        return JSONResponse(model_card(model))

    async def _chat(self, request: Request) -> Response:
        return await self._generation(request, "chat")

    async def _completions(self, request: Request) -> Response:
        return await self._generation(request, "completion")

    async def _generation(self, request: Request, kind: str) -> Response:
        body = await _json_body(request)
        model = self.backend.model()
        if model is None:
            raise no_model_error()
        parse = parse_chat if kind == "chat" else parse_completion
        parsed = parse(body, model, self.default_sampling)
        description = f"POST {request.url.path}" + (" (stream)" if parsed.stream else "")
        return _GenerationResponse(self, parsed, description, (request.method, request.url.path))

    # -- error handlers -----------------------------------------------------------------------------

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        self.report_refusal(request.method, request.url.path, exc.status, exc.code)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = (
                f"There is no endpoint {request.url.path}. Hearth serves /v1/models, "
                "/v1/chat/completions and /v1/completions."
            )
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        self.report_refusal(request.method, request.url.path, exc.status_code, None)
        return JSONResponse(
            error_body(exc.status_code, message), status_code=exc.status_code, headers=exc.headers
        )

    async def _server_error(self, request: Request, exc: Exception) -> Response:
        log.error("server error", exc_info=exc)
        self.report_refusal(request.method, request.url.path, 500, None)
        return JSONResponse(error_body(500, f"Internal error: {exc}"), status_code=500)

    def report_refusal(self, method: str, path: str, status: int, code: str | None) -> None:
        """Tell the activity list (or `hearth serve`'s log) about a request answered with an error
        before any job of it ran: such a request has no job to report it, as a refusal by the security
        gate has none. Errors of a job that ran reach the list with the job's result instead."""
        if self.on_rejected is None:
            return
        try:
            self.on_rejected(method, path, status, code or _GENERIC_CODES.get(status, "error"))
        except Exception:  # a listener must never break serving
            log.warning("reject listener failed", exc_info=True)

    # -- bookkeeping for _GenerationResponse ---------------------------------------------------------

    def _submit(self, job: GenerationJob, description: str) -> int | None:
        """Queue the job unless `max_pending` requests are already waiting (then None: 429)."""
        with self._lock:
            if len(self._in_flight) + self._submitting >= self.max_pending:
                return None
            self._submitting += 1
        try:
            request_id = self.backend.submit(job, description)
        except BaseException:
            with self._lock:
                self._submitting -= 1
            raise
        with self._lock:
            self._submitting -= 1
            self._in_flight.add(request_id)
        return request_id

    def _submit_sequence(self, request: SequenceRequest, description: str) -> int | None:
        """`_submit` for the parallel lane: the same limit on waiting requests (429 past it)."""
        with self._lock:
            if len(self._in_flight) + self._submitting >= self.max_pending:
                return None
            self._submitting += 1
        try:
            request_id = self.backend.submit_sequence(request, description)  # type: ignore[attr-defined]
        finally:
            with self._lock:
                self._submitting -= 1
        with self._lock:
            self._in_flight.add(request_id)
        return int(request_id)

    @property
    def parallel(self) -> int:
        """How many requests the backend decodes together (1: one at a time, as jobs)."""
        return int(getattr(self.backend, "parallel", 1) or 1)

    def _untrack(self, request_id: int) -> None:
        with self._lock:
            self._in_flight.discard(request_id)


async def _json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.") from exc


def _error_for(exc: BaseException, param: str | None = None) -> ApiError:
    """HearthErrors to HTTP: the prompt's fault is 400 (naming `param`), ours or llama.cpp's 500."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HearthError):
        text = str(exc)
        if isinstance(exc, SettingsError):
            return ApiError(400, text)
        if isinstance(exc, GenerationError) and "No model is loaded" in exc.message:
            return no_model_error()
        if isinstance(exc, GenerationError) and not exc.message.startswith("llama.cpp failed"):
            code = "context_length_exceeded" if "context" in exc.message else None
            return ApiError(400, text, param=param, code=code)
        if isinstance(exc, TemplateError):
            return ApiError(500, text, code="template_error")
        return ApiError(500, text)
    return ApiError(500, f"Internal error: {exc}")


class _GenerationResponse(Response):
    """Submits the job when Starlette sends the response, then streams (SSE) or answers once."""

    def __init__(
        self, app: ServerApp, request: GenerationRequest, description: str, where: tuple[str, str]
    ) -> None:
        super().__init__()
        self.app = app
        self.request = request
        self.description = description
        self.method, self.path = where  # for the activity list, when it is refused without a job
        self.done = False  # the job delivered its last item
        self.ids: ResponseIds | None = None
        self._param = "messages" if request.kind == "chat" else "prompt"  # what a 400 points at

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        queue: asyncio.Queue[Item] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        if app.parallel > 1:
            model = app.backend.model()
            if model is None:
                error = no_model_error()
                await send_json(send, error.status, error.body())
                return
            queue.put_nowait(_Begin(model_id(model)))
            request_id = app._submit_sequence(sequence_request(self.request, loop, queue), self.description)
        else:
            request_id = app._submit(GenerationJob(self.request, loop, queue), self.description)
        if request_id is None:
            error = ApiError(
                429,
                f"The server already has {app.max_pending} requests waiting for the model. "
                "Try again when some have finished.",
                code="too_many_requests",
            )
            app.report_refusal(self.method, self.path, error.status, error.code)  # no job was queued
            await send_json(send, error.status, error.body())
            return
        watcher = asyncio.create_task(self._watch(receive, request_id, queue))
        try:
            if self.request.stream:
                await self._stream(queue, send, request_id)
            else:
                await self._single(queue, send, request_id)
        finally:
            watcher.cancel()
            if not self.done:  # disconnected, or this task was cancelled (server stopping)
                app.backend.cancel(request_id)
            app._untrack(request_id)

    async def _watch(self, receive: Receive, request_id: int, queue: asyncio.Queue[Item]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.done:
                    log.info("client of request %d disconnected: cancelling it", request_id)
                    self.app.backend.cancel(request_id)
                    queue.put_nowait(_GONE)  # a queued job may wait long to be skipped: leave now
                return

    async def _items(self, queue: asyncio.Queue[Item]) -> list[Item]:
        """What the job has produced since the last call (at least one item), text merged by kind."""
        items: list[Item] = [await queue.get()]
        while not queue.empty():
            items.append(queue.get_nowait())
        merged: list[Item] = []
        for item in items:
            last = merged[-1] if merged else None
            if isinstance(item, TextDelta) and isinstance(last, TextDelta) and last.kind == item.kind:
                merged[-1] = TextDelta(last.text + item.text, item.kind)
            else:
                merged.append(item)
        return merged

    def _ids(self, request_id: int, model: str) -> ResponseIds:
        if self.ids is None:
            self.ids = new_ids(self.request.kind, request_id, self.app._id_token, model)
        return self.ids

    async def _single(self, queue: asyncio.Queue[Item], send: Send, request_id: int) -> None:
        text: list[str] = []
        reasoning: list[str] = []
        model = ""
        while True:
            for item in await self._items(queue):
                if isinstance(item, _Gone):
                    return
                if isinstance(item, _Begin):
                    model = item.model_id
                elif isinstance(item, TextDelta):
                    (reasoning if item.kind == "reasoning" else text).append(item.text)
                elif isinstance(item, GenerationStats):
                    self.done = True
                    ids = self._ids(request_id, model)
                    if self.request.kind == "chat":
                        payload = chat_response(ids, "".join(text), "".join(reasoning), item)
                    else:
                        payload = completion_response(ids, "".join(text), item)
                    await send_json(send, 200, payload)
                    return
                else:
                    self.done = True
                    await self._fail(send, item)
                    return

    async def _fail(self, send: Send, item: Item) -> None:
        if isinstance(item, _Skipped):
            error = ApiError(503, "The request was cancelled before it started (the server is stopping).")
            # the job never ran, so nothing else reports it
            self.app.report_refusal(self.method, self.path, error.status, CANCELLED_BEFORE_START)
            await send_json(send, error.status, error.body())
            return
        assert isinstance(item, BaseException)
        error = _error_for(item, self._param)
        await send_json(send, error.status, error.body())

    async def _stream(self, queue: asyncio.Queue[Item], send: Send, request_id: int) -> None:
        chat = self.request.kind == "chat"
        usage_field = self.request.include_usage  # then every chunk before the usage chunk has "usage": null
        model = ""
        started = False
        while True:
            out: list[bytes] = []
            for item in await self._items(queue):
                if isinstance(item, _Gone):
                    return
                if isinstance(item, _Begin):
                    model = item.model_id
                    continue
                if not isinstance(item, TextDelta | GenerationStats) and not started:
                    self.done = True
                    await self._fail(send, item)  # before any byte: a proper HTTP error status
                    return
                ids = self._ids(request_id, model)
                if not started:
                    # Headers wait for the first event, so a prompt that is too long still gets a 400.
                    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                    started = True
                    if chat:
                        out.append(
                            _sse(
                                chat_chunk(ids, {"role": "assistant", "content": ""}, usage_field=usage_field)
                            )
                        )
                if isinstance(item, TextDelta):
                    if chat:
                        key = "reasoning_content" if item.kind == "reasoning" else "content"
                        out.append(_sse(chat_chunk(ids, {key: item.text}, usage_field=usage_field)))
                    elif item.kind == "answer":
                        out.append(_sse(completion_chunk(ids, item.text, usage_field=usage_field)))
                elif isinstance(item, GenerationStats):
                    self.done = True
                    reason = finish_reason(item)
                    last = (
                        chat_chunk(ids, {}, reason, usage_field=usage_field)
                        if chat
                        else completion_chunk(ids, "", reason, usage_field=usage_field)
                    )
                    out.append(_sse(last))
                    if self.request.include_usage:
                        usage_chunk = (
                            chat_chunk(ids, {}, usage_of=item)
                            if chat
                            else completion_chunk(ids, "", usage_of=item)
                        )
                        out.append(_sse(usage_chunk))
                    out.append(b"data: [DONE]\n\n")
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": False})
                    return
                else:  # an error after the stream began: OpenAI's clients raise on an `error` event
                    self.done = True
                    error = (
                        _error_for(item, self._param)
                        if isinstance(item, BaseException)
                        else ApiError(503, "Cancelled.")
                    )
                    out.append(_sse(error.body()))
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": False})
                    return
            if out:
                await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})


def _sse(payload: dict[str, Any]) -> bytes:
    return (
        b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"
    )
