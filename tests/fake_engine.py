"""A scripted engine for UI tests: the real window, real stores and the real inference thread, without
llama.cpp.

What the chat page does with a reply (stream it, save it, stop it, branch it) does not depend on which
tokens a model picks. Tests of that behaviour inject this engine through `AppServices`/`build_window`
and get replies that are instant, deterministic and known in advance; the tests that are about the
model itself (templates, KV reuse, the API's text) keep using the real Gemma file. `load` still parses
the real GGUF header (the same validation a user's file gets) and resolves the real chat format.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from desktop_app.core.engine import Engine, Event, GenerationStats, LoadedModel, Message, TextDelta
from desktop_app.core.errors import GenerationError, LoadCancelledError
from desktop_app.core.generation import LoadSettings, SamplingSettings, StopReason
from desktop_app.core.gguf_info import inspect_gguf
from desktop_app.core.templates import resolve_chat_format

#: how the default script answers: it repeats the last message, so a test knows the text to expect
Script = Callable[[Sequence[Message], SamplingSettings], str]


def echo(messages: Sequence[Message], _sampling: SamplingSettings) -> str:
    return f"You said: {messages[-1].get('content', '')}"


class ScriptedEngine(Engine):
    """Streams `script(messages, sampling)` word by word, `delay_s` apart; honours cancel, the sampling's
    max_tokens (a word per token) and the load settings' context length."""

    def __init__(self, script: Script = echo, *, delay_s: float = 0.0, n_ctx: int = 4096) -> None:
        super().__init__()
        self.script = script
        self.delay_s = delay_s
        self.n_ctx = n_ctx
        self.requests: list[list[Message]] = []  # what each chat request was given, in order
        self.state_tags: list[str | None] = []  # the conversation each request saves its state for
        self._stop = threading.Event()

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        *,
        template_override: str | None = None,
        progress: Callable[[float], bool | None] | None = None,
        batch_invariant: bool = False,
    ) -> LoadedModel:
        started = time.perf_counter()
        summary = inspect_gguf(path)
        for step in (0.0, 0.5, 1.0):
            if progress is not None and progress(step) is False:
                raise LoadCancelledError("Loading was cancelled.")
        chat_format = resolve_chat_format(
            architecture=summary.architecture,
            name=summary.name,
            file_template=summary.chat_template,
            override=template_override,
        )
        settings = settings or LoadSettings()
        self._model = LoadedModel(
            summary=summary,
            settings=settings,
            n_ctx=settings.n_ctx or self.n_ctx,
            chat_format=chat_format,
            load_s=time.perf_counter() - started,
            template_warning=chat_format.warning,
        )
        return self._model

    def unload(self) -> None:
        self._model = None

    def cancel(self) -> None:
        self._stop.set()

    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        continue_last: bool = False,
        state_tag: str | None = None,
    ) -> Iterator[Event]:
        self.state_tags.append(state_tag)
        if self._model is None:
            raise GenerationError("No model is loaded.", hint="Load a model first.")
        sampling = sampling or SamplingSettings()
        self._stop.clear()
        self.requests.append([dict(m) for m in messages])
        started = time.perf_counter()
        words = self.script(messages, sampling).split(" ")
        sent = 0
        reason: StopReason = "eos"
        for index, word in enumerate(words):
            if self._stop.is_set():
                reason = "cancelled"
                break
            if sent == sampling.max_tokens:  # one word stands for one token
                reason = "max_tokens"
                break
            if self.delay_s:
                time.sleep(self.delay_s)
            yield TextDelta(word if index == 0 else " " + word)
            sent += 1
        elapsed = max(time.perf_counter() - started, 1e-6)
        prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
        yield GenerationStats(
            prompt_tokens=prompt, cached_tokens=0, evaluated_tokens=prompt, completion_tokens=sent,
            ttft_s=min(elapsed, self.delay_s), prefill_tps=0.0, generation_tps=sent / elapsed,
            stop_reason=reason, n_ctx=self._model.n_ctx, context_used=prompt + sent, total_s=elapsed,
        )  # fmt: skip
