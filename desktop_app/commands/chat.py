"""`hearth chat --model PATH [--prompt TEXT] …`: one answer, or an interactive multi-turn session.

Generation runs on a helper thread so that Ctrl+C in the terminal cancels the reply at once (a Python
signal handler cannot run while the main thread is inside llama_decode); the KV cache is reused
between turns, so each new turn only evaluates the new tokens.

With --save, each turn goes through core's ChatSession, as in the app: the prompt is stored before
generation, the history sent is read back from the store, and the reply is saved as it streams.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TextIO

from desktop_app.core.chat_session import NewConversation
from desktop_app.core.engine import Engine, Event, GenerationStats, Message, TextDelta
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.reply_writer import ReplyWriter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="chat with a model in the terminal")
    chat.add_argument("--model", required=True, help="path to a .gguf file")
    chat.add_argument("--prompt", help="answer this one message and exit (default: interactive)")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=SamplingSettings.max_tokens)
    chat.add_argument("--temperature", type=float, default=SamplingSettings.temperature)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument("--ctx", type=int, default=None, help="context length (default: up to 4096)")
    chat.add_argument("--threads", type=int, default=None)
    chat.add_argument("--json", action="store_true", help="end with one JSON line of text and stats")
    chat.add_argument(
        "--save", action="store_true", help="save the exchange as a conversation (the app shows it)"
    )
    chat.set_defaults(handler=_chat)


def load_engine(model: str, ctx: int | None, threads: int | None) -> Engine:
    settings = LoadSettings(n_ctx=ctx) if threads is None else LoadSettings(n_ctx=ctx, n_threads=threads)
    engine = Engine()
    engine.load(model, settings)
    return engine


def stream_in_thread(engine: Engine, events: Iterator[Event]) -> Iterator[Event]:
    """Iterate `events` on a helper thread; Ctrl+C here cancels the generation instead of killing us."""
    box: queue.Queue[Event | BaseException | None] = queue.Queue()

    def pump() -> None:
        try:
            for event in events:
                box.put(event)
        except BaseException as exc:
            box.put(exc)
        finally:
            box.put(None)

    worker = threading.Thread(target=pump, name="hearth-chat", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = box.get(timeout=0.1)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                engine.cancel()
                continue
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    except KeyboardInterrupt:
        engine.cancel()
        raise
    finally:
        worker.join()


def answer(
    engine: Engine,
    messages: list[Message],
    sampling: SamplingSettings,
    out: TextIO,
    writer: ReplyWriter | None = None,
) -> tuple[str, str, GenerationStats]:
    """Stream one reply to `out`; `writer` (--save) stores it as it grows, and as failed on an error."""
    text: list[str] = []
    reasoning: list[str] = []
    stats: GenerationStats | None = None
    saving: AbstractContextManager[object] = writer if writer is not None else nullcontext()
    with saving:
        for event in stream_in_thread(engine, engine.stream_chat(messages, sampling)):
            if writer is not None:
                writer.feed(event)
            if isinstance(event, TextDelta):
                if event.kind == "reasoning":
                    reasoning.append(event.text)
                    continue
                text.append(event.text)
                out.write(event.text)
                out.flush()
            else:
                stats = event
    assert stats is not None
    return "".join(text), "".join(reasoning), stats


def _chat(args: argparse.Namespace) -> int:
    sampling = SamplingSettings(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    engine = load_engine(args.model, args.ctx, args.threads)
    if engine.model is not None and engine.model.template_warning:
        # the model still chats, in a built-in format; say why its own template was not used
        print(f"hearth: warning: {engine.model.template_warning}", file=sys.stderr)
    history: list[Message] = [{"role": "system", "content": args.system}] if args.system else []
    saved: SavedChat | None = None
    try:
        if args.save:
            assert engine.model is not None
            saved = SavedChat(args.model, engine.model.summary.name, args.system, sampling)
        if args.prompt is not None:
            messages, turn_sampling, writer = _begin(args.prompt, history, sampling, saved)
            text, reasoning, stats = answer(engine, messages, turn_sampling, sys.stdout, writer)
            print()
            if args.json:
                print(json.dumps(_result(text, reasoning, stats), ensure_ascii=False))
            return 0
        return _interactive(engine, history, sampling, args.json, saved)
    finally:
        engine.unload()
        if saved is not None:
            saved.report()


class SavedChat:
    """`hearth chat --save`: the run becomes one conversation, created at its first turn. The turns
    themselves are ChatSession's; this keeps only what the run adds: which conversation, and which
    prompt failed (the next prompt replaces it, so the saved branch is what the model was sent)."""

    def __init__(
        self, model_path: str, model_name: str, system_prompt: str | None, sampling: SamplingSettings
    ) -> None:
        from desktop_app.core.services import AppServices

        services = AppServices.open()
        path = Path(model_path)
        known = services.library.find_by_path(path)
        self.session = services.chat_session
        self.model_name = known.display_name if known else model_name
        self.new = NewConversation(
            model_name=self.model_name,
            model_path=str(path.resolve()),
            model_id=known.id if known else None,
            system_prompt=system_prompt or "",
            settings={"sampling": sampling.to_dict()},
        )
        self.sampling = sampling
        self.conversation_id: int | None = None
        self._prompt_id: int | None = None  # this turn's prompt
        self._failed_prompt_id: int | None = None  # a prompt whose turn failed: the model never saw it

    def begin(self, prompt: str) -> tuple[list[Message], SamplingSettings, ReplyWriter]:
        """Store the prompt and the streaming reply; returns what to send the engine (read back from
        the store), the sampling with the seed it records, and the writer to feed."""
        if self._failed_prompt_id is not None:
            turn = self.session.edit(self._failed_prompt_id, prompt, self.sampling, model=self.model_name)
        else:
            target = self.new if self.conversation_id is None else self.conversation_id
            turn = self.session.begin(target, prompt, self.sampling, model=self.model_name)
        assert turn.prompt is not None
        self.conversation_id, self._prompt_id, self._failed_prompt_id = (
            turn.conversation.id,
            turn.prompt.id,
            None,
        )
        return turn.messages, turn.sampling, turn.writer

    def turn_failed(self) -> None:
        self._failed_prompt_id = self._prompt_id

    def report(self) -> None:
        if self.conversation_id is not None:
            print(
                f"Saved as conversation {self.conversation_id} "
                f"(`hearth chats export {self.conversation_id}` shows it).",
                file=sys.stderr,
            )


def _begin(
    prompt: str, history: list[Message], sampling: SamplingSettings, saved: SavedChat | None
) -> tuple[list[Message], SamplingSettings, ReplyWriter | None]:
    """One turn's messages, sampling and writer: from the store with --save, else from `history`."""
    history.append({"role": "user", "content": prompt})
    if saved is None:
        return history, sampling, None
    return saved.begin(prompt)


def _interactive(
    engine: Engine,
    history: list[Message],
    sampling: SamplingSettings,
    as_json: bool,
    saved: SavedChat | None = None,
) -> int:
    model = engine.model
    assert model is not None
    print(
        f"Chatting with {model.summary.name} ({model.chat_format.family} template). "
        "Ctrl+C stops a reply; Ctrl+D or /exit quits.",
        file=sys.stderr,
    )
    while True:
        try:
            line = _read_line("> ")
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 0
        if line is None:
            print(file=sys.stderr)
            return 0
        if line.strip() in ("/exit", "/quit"):
            return 0
        if not line.strip():
            continue
        messages, turn_sampling, writer = _begin(line, history, sampling, saved)
        try:
            text, reasoning, stats = answer(engine, messages, turn_sampling, sys.stdout, writer)
        except HearthError as exc:
            history.pop()
            if saved is not None:
                saved.turn_failed()
            print(f"\nhearth: {exc}", file=sys.stderr)
            continue
        print()
        history.append({"role": "assistant", "content": text})
        if as_json:
            print(json.dumps(_result(text, reasoning, stats), ensure_ascii=False))
        else:
            print(
                f"[{stats.completion_tokens} tokens, {stats.generation_tps:.1f} tok/s, "
                f"{stats.cached_tokens} of {stats.prompt_tokens} prompt tokens reused, {stats.stop_reason}]",
                file=sys.stderr,
            )


def _read_line(prompt: str) -> str | None:
    """Read one line. On a terminal, input() gives line editing; otherwise the prompt goes to stderr
    so that piped stdout carries only replies (and JSON lines)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            return input(prompt)
        except EOFError:
            return None
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return None if line == "" else line.rstrip("\n")


def _result(text: str, reasoning: str, stats: GenerationStats) -> dict[str, object]:
    return {
        "text": text,
        "reasoning": reasoning,
        "prompt_tokens": stats.prompt_tokens,
        "cached_tokens": stats.cached_tokens,
        "completion_tokens": stats.completion_tokens,
        "ttft_s": round(stats.ttft_s, 4),
        "prefill_tps": round(stats.prefill_tps, 2),
        "generation_tps": round(stats.generation_tps, 2),
        "stop_reason": stats.stop_reason,
        "dropped_messages": stats.dropped_messages,
    }
