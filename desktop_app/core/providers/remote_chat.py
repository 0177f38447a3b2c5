"""A chat reply streamed from a remote OpenAI-compatible server, as the same events the local engine
yields: TextDelta as text arrives, then one GenerationStats (TTFT and tok/s measured here, token counts
from the server's `usage` when it sends them).

`cancel()` works from any thread and at any moment: it shuts the connection's socket down, which wakes
a read blocked on a silent server at once, and the stream ends as "cancelled" with what arrived.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx2

from desktop_app.core.engine.events import Event, GenerationStats, Message, TextDelta
from desktop_app.core.generation import SamplingSettings, StopReason
from desktop_app.core.providers.errors import ProviderDroppedError, ProviderError, ProviderProtocolError
from desktop_app.core.providers.records import Provider
from desktop_app.core.providers.sse import sse_json
from desktop_app.core.providers.transport import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    error_for_status,
    error_for_transport,
    one_line,
    open_client,
    server_message,
)

__all__ = ["MAX_REPLY_CHARS", "RemoteChat", "request_body"]

#: a reply longer than this is a server that does not stop (about 2M tokens)
MAX_REPLY_CHARS = 8 << 20
_MAX_COUNT = 1 << 31


def request_body(
    model: str, messages: Sequence[Message], sampling: SamplingSettings, *, continue_last: bool = False
) -> dict[str, Any]:
    """The POST /chat/completions body: OpenAI's fields, plus llama.cpp's top_k, min_p and
    repeat_penalty, which llama-server, llama-cpp-python, LM Studio, vLLM (top_k, min_p), Ollama's
    compatible API and Hearth read, so a reply samples as it would locally."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "min_p": sampling.min_p,
        "repeat_penalty": sampling.repeat_penalty,
        "frequency_penalty": sampling.frequency_penalty,
        "presence_penalty": sampling.presence_penalty,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if sampling.logit_bias:
        body["logit_bias"] = {str(token): bias for token, bias in sampling.logit_bias}
    if sampling.json_output or sampling.grammar:
        body["response_format"] = {"type": "json_object"}
    if continue_last:  # vLLM's and llama-server's way to extend the last assistant message
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    return body


class RemoteChat:
    """One provider's model, used like an Engine: `stream_chat` then (from any thread) `cancel`."""

    def __init__(
        self,
        provider: Provider,
        model: str,
        *,
        read_timeout_s: float = READ_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.provider = provider
        self.model = model
        self.read_timeout_s = read_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None

    @property
    def label(self) -> str:
        """How a conversation names this model: "MODEL on PROVIDER"."""
        return f"{self.model} on {self.provider.name}"

    def cancel(self) -> None:
        """Thread-safe: stop the reply now, also while the server is still silent (a long prefill):
        the connection's socket is shut down, so a blocked read ends at once."""
        self._cancel.set()
        with self._lock:
            sock = self._socket
        if sock is not None:
            _shutdown(sock)

    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        continue_last: bool = False,
        state_tag: str | None = None,  # the engine's saved-state key; a remote server keeps its own
    ) -> Iterator[Event]:
        del state_tag
        settings = sampling or SamplingSettings()
        self._cancel.clear()
        body = request_body(self.model, messages, settings, continue_last=continue_last)
        stream = _Stream()
        started = time.perf_counter()
        with open_client(
            self.provider, read_timeout_s=self.read_timeout_s, connect_timeout_s=self.connect_timeout_s
        ) as client:
            try:
                with client.stream(
                    "POST",
                    f"{self.provider.api_base}/chat/completions",
                    json=body,
                    headers={"Accept": "text/event-stream"},
                    extensions={"trace": self._trace},  # the socket, as soon as it is connected
                ) as response:
                    if self._cancel.is_set():
                        stream.cancelled = True
                    else:
                        if response.status_code != 200:
                            raise error_for_status(self.provider, response, "chat", self.model)
                        self._check_streaming(response)
                        yield from self._events(response, stream)
            except httpx2.HTTPError as exc:
                if not self._cancel.is_set():
                    raise error_for_transport(self.provider, exc, streaming=stream.began) from exc
                stream.cancelled = True
            finally:
                self._detach()
        if self._cancel.is_set():
            stream.cancelled = True
        if not stream.cancelled and not stream.done and stream.finish is None:
            raise ProviderDroppedError(
                f"The connection to {self.provider.where} dropped before the reply was complete.",
                hint="What arrived is kept; try again (regenerate, or send the message again).",
            )
        yield stream.stats(started, time.perf_counter())

    # -- helpers -----------------------------------------------------------------------------------

    def _events(self, response: httpx2.Response, stream: _Stream) -> Iterator[TextDelta]:
        for event in sse_json(response.iter_bytes()):
            if event is None:
                stream.done = True
                return
            stream.began = True
            if "error" in event:
                message = server_message(json.dumps(event).encode()) or "no reason given"
                raise ProviderError(
                    f"'{self.provider.name}' stopped the reply with an error: {message}",
                    hint="What arrived is kept; the server's log says more.",
                )
            for delta in stream.take(event):
                if stream.chars > MAX_REPLY_CHARS:
                    raise ProviderProtocolError(
                        f"'{self.provider.name}' sent a reply longer than {MAX_REPLY_CHARS:,} characters.",
                        hint="Lower the reply length (max tokens) and try again.",
                    )
                yield delta
            if self._cancel.is_set():
                stream.cancelled = True
                return

    def _check_streaming(self, response: httpx2.Response) -> None:
        kind = response.headers.get("content-type", "")
        if "text/event-stream" not in kind.lower():
            raise ProviderProtocolError(
                f"'{self.provider.name}' did not stream the reply (it sent "
                f"{one_line(kind, 60) or 'no type'}, not text/event-stream).",
                hint="Check that the URL points at an OpenAI-compatible API (such as http://HOST:8000/v1).",
            )

    def _trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: keep the connection's socket (after TLS, the TLS socket: wrapping
        detaches the plain one) so `cancel` can shut it down before any response has arrived."""
        if not name.endswith(("connect_tcp.complete", "start_tls.complete")):
            return
        stream = info.get("return_value")
        extra = getattr(stream, "get_extra_info", None)
        sock = extra("socket") if callable(extra) else None
        if isinstance(sock, socket.socket):
            self._attach(sock)

    def _attach(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
        if self._cancel.is_set():  # cancelled while connecting
            _shutdown(sock)

    def _detach(self) -> None:
        with self._lock:
            self._socket = None


class _Stream:
    """What one reply's stream has said so far, and the stats it makes."""

    def __init__(self) -> None:
        self.began = False
        self.done = False  # [DONE] arrived
        self.cancelled = False
        self.finish: str | None = None
        self.usage: dict[str, Any] = {}
        self.deltas = 0
        self.chars = 0
        self.first_at = 0.0
        self.last_at = 0.0

    def take(self, event: dict[str, Any]) -> Iterator[TextDelta]:
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = event.get("choices")
        if choices is None and usage is None:
            raise ProviderProtocolError(
                "The server's stream holds an event without 'choices'; it is not an OpenAI chat stream.",
                hint="Check that the URL points at an OpenAI-compatible API.",
            )
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key, kind in (
                ("reasoning_content", "reasoning"),
                ("reasoning", "reasoning"),
                ("content", "answer"),
            ):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    now = time.perf_counter()
                    if not self.first_at:
                        self.first_at = now
                    self.last_at = now
                    self.deltas += 1
                    self.chars += len(text)
                    yield TextDelta(text, "reasoning" if kind == "reasoning" else "answer")
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish = reason

    def stats(self, started: float, end: float) -> GenerationStats:
        prompt = _count(self.usage.get("prompt_tokens"))
        details = self.usage.get("prompt_tokens_details")
        cached = min(prompt, _count(details.get("cached_tokens"))) if isinstance(details, dict) else 0
        completion = _count(self.usage.get("completion_tokens")) or self.deltas
        reason: StopReason
        if self.cancelled:
            reason = "cancelled"
        elif self.finish == "length":
            reason = "max_tokens"
        else:
            reason = "eos"
        ttft = self.first_at - started if self.first_at else 0.0
        span = self.last_at - self.first_at
        # n tokens arrive over n - 1 gaps: the rate between the first and the last is (n - 1) / span
        generation_tps = (completion - 1) / span if completion > 1 and span > 0 else 0.0
        evaluated = prompt - cached
        return GenerationStats(
            prompt_tokens=prompt,
            cached_tokens=cached,
            evaluated_tokens=evaluated,
            completion_tokens=completion,
            ttft_s=ttft,
            # the time to the first token includes the network: a lower bound on the server's speed
            prefill_tps=evaluated / ttft if evaluated and ttft > 0 else 0.0,
            generation_tps=generation_tps,
            stop_reason=reason,
            total_s=end - started,
        )


def _shutdown(sock: socket.socket) -> None:
    # socket.socket's shutdown, not SSLSocket's (which also drops its TLS state under a reading thread)
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_COUNT:
        return 0
    return value
