"""`hearth chat --model PATH [--prompt TEXT] …`: one answer, or an interactive multi-turn session.

Generation runs on a helper thread so that Ctrl+C in the terminal cancels the reply at once (a Python
signal handler cannot run while the main thread is inside llama_decode); the KV cache is reused
between turns, so each new turn only evaluates the new tokens.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, TextIO

from desktop_app.core.engine import Engine, Event, GenerationStats, Message, TextDelta
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import LoadSettings, SamplingSettings

if TYPE_CHECKING:
    from desktop_app.commands.chats import ChatRecorder
    from desktop_app.core.conversations import ReplyWriter


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
    recorder: ChatRecorder | None = None
    try:
        if args.save:
            from desktop_app.commands.chats import ChatRecorder

            assert engine.model is not None
            recorder = ChatRecorder(args.model, engine.model.summary.name, args.system, sampling)
        if args.prompt is not None:
            history.append({"role": "user", "content": args.prompt})
            writer, turn_sampling = recorder.begin_turn(args.prompt) if recorder else (None, sampling)
            text, reasoning, stats = answer(engine, history, turn_sampling, sys.stdout, writer)
            print()
            if args.json:
                print(json.dumps(_result(text, reasoning, stats), ensure_ascii=False))
            return 0
        return _interactive(engine, history, sampling, args.json, recorder)
    finally:
        engine.unload()
        if recorder is not None:
            recorder.report()


def _interactive(
    engine: Engine,
    history: list[Message],
    sampling: SamplingSettings,
    as_json: bool,
    recorder: ChatRecorder | None = None,
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
        history.append({"role": "user", "content": line})
        writer, turn_sampling = recorder.begin_turn(line) if recorder else (None, sampling)
        try:
            text, reasoning, stats = answer(engine, history, turn_sampling, sys.stdout, writer)
        except HearthError as exc:
            history.pop()
            if recorder is not None:
                recorder.turn_failed()
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
