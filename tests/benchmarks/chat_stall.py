"""Event-loop stalls while a reply streams into the real chat view, and when it ends (a benchmark, not a
test).

A synthetic token source on its own thread produces 500 tokens/s and sends them the way the inference
worker does (a text batch every 40 ms, through the worker's signal, re-emitted on the GUI thread by the
controller). A 1 ms timer on the GUI thread records how late each tick fires. Printed, with an empty
history and with 500 messages (~200k characters) already in the chat:

- stream: p50, p99 and max of the tick intervals while the reply streams;
- end: the same from the moment the reply ends until its Markdown has been swapped into the row (the
  render itself runs on a worker), and how long that took (`render_markdown` alone, and end to swap);
- all: both together, which is what the goal is about.

With `--reply-chars 200000` (the default run adds it as a third case) the reply already holds that much
text, pre-streamed before the clock starts, so its end renders a 200k-character reply.

    QT_QPA_PLATFORM=offscreen python -m tests.benchmarks.chat_stall [--seconds 8] [--rate 500]
        [--history 0 500] [--reply-chars 200000]

The goal is p99 <= 16 ms (one frame at 60 Hz) and max <= 50 ms. Run it on a quiet machine: on these
2-core VMs any other process competing for the CPU shows up as stalls.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WORDS = [
    "the", "model", "streams", "tokens", "into", "chat", "view", "while", "event", "loop", "keeps",
    "painting", "frames", "and", "user", "scrolls", "reads", "types", "without", "waiting", "for", "anything",
]  # fmt: skip
CODE = "\n```python\ndef tokens(n: int) -> list[int]:\n    return [i * i for i in range(n)]\n```\n"


def fake_tokens(count: int, seed: int = 1) -> list[str]:
    """Word-sized pieces with paragraphs, lists and code fences, like a real reply."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        roll = rng.random()
        if roll < 0.02:
            out.append("\n\n")
        elif roll < 0.025:
            out.extend(CODE)  # one character a token: the worst case for the batcher
        elif roll < 0.035:
            out.append("\n- ")
        else:
            out.append(" " + rng.choice(WORDS))
    return out[:count]


def fill_history(store: object, conversation_id: int, messages: int, chars: int) -> None:
    from desktop_app.core.conversations import ConversationStore

    assert isinstance(store, ConversationStore)
    per = chars // messages
    rng = random.Random(2)
    for n in range(messages):
        role = "user" if n % 2 == 0 else "assistant"
        words: list[str] = []
        size = 0
        while size < (per // 3 if role == "user" else per * 5 // 3):
            words.append(rng.choice(WORDS))
            size += len(words[-1]) + 1
        text = " ".join(words)
        if role == "assistant" and n % 6 == 1:
            text += "\n" + CODE + "\n- one\n- **two**\n"
        store.add_message(conversation_id, role, text)  # type: ignore[arg-type]


def _stats(intervals: list[float]) -> tuple[float, float, float]:
    ordered = sorted(intervals) or [0.0]
    return (
        statistics.median(ordered),
        ordered[max(0, int(len(ordered) * 0.99) - 1)],
        ordered[-1],
    )


def run(history: int, seconds: float, rate: int, reply_chars: int = 0) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import build_window, create_application
    from desktop_app.core import starter
    from desktop_app.core.paths import app_paths
    from desktop_app.ui import markdown_worker
    from desktop_app.workers.inference import BATCH_INTERVAL_S

    starter.is_available = lambda: False
    app = create_application([sys.argv[0]])
    window = build_window(app_paths().ensure())
    window.resize(1280, 820)
    window.show()
    chat = window.chat
    store = window.conversations
    conversation = store.create_conversation("Stall benchmark")
    if history:
        fill_history(store, conversation.id, history, 200_000)
    window.open_conversation(conversation.id)
    app.processEvents()

    # a live reply, as ChatPage sets one up (stored, a live row); the producer saves it as the inference
    # thread does
    user = store.add_message(conversation.id, "user", "Stream something long, please.")
    chat.view.chat_model.append(user)
    writer = store.start_reply(conversation.id, model="synthetic")
    request_id = window.inference.new_request_id()
    chat.view.chat_model.append(store.get_message(writer.message_id), live=True)
    chat._live = (request_id, writer.message_id)
    for _ in range(20):
        app.processEvents()

    worker = window.inference.worker
    tokens = fake_tokens(int(seconds * rate))
    streamed_text = "".join(tokens)
    prefix = ""
    if reply_chars > len(streamed_text):  # the reply so far, streamed before the clock starts
        pieces = fake_tokens(reply_chars // 3, seed=3)
        prefix = "".join(pieces)[: reply_chars - len(streamed_text)]
        for start in range(0, len(prefix), 20_000):
            chunk = prefix[start : start + 20_000]
            writer.append(chunk)
            worker.text.emit(request_id, "answer", chunk)
            for _ in range(5):
                app.processEvents()
    done = threading.Event()

    def produce() -> None:  # the inference thread's batching, at a fixed token rate
        pending: list[str] = []
        last = start = time.monotonic()
        for n, piece in enumerate(tokens):
            target = start + n / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pending.append(piece)
            writer.append(piece)
            now = time.monotonic()
            if now - last >= BATCH_INTERVAL_S:
                worker.text.emit(request_id, "answer", "".join(pending))
                pending.clear()
                last = now
        if pending:
            worker.text.emit(request_id, "answer", "".join(pending))
        done.set()

    # how long the Markdown render itself takes, wherever it runs
    render_ms: list[float] = []
    real_render = getattr(markdown_worker, "render_markdown")  # noqa: B009 (not exported: patched here)

    def timed_render(text: str, *, dark: bool) -> object:
        began = time.perf_counter()
        try:
            return real_render(text, dark=dark)
        finally:
            render_ms.append((time.perf_counter() - began) * 1000)

    setattr(markdown_worker, "render_markdown", timed_render)  # noqa: B010
    swapped: list[float] = []
    delegate = chat.view.delegate
    delegate.markdown_ready.connect(
        lambda message_id: swapped.append(time.perf_counter()) if message_id == writer.message_id else None
    )

    intervals: list[float] = []
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(1)

    def tick() -> None:
        intervals.append(clock.nsecsElapsed() / 1e6)
        clock.restart()

    ticker.timeout.connect(tick)
    clock.start()
    ticker.start()
    producer = threading.Thread(target=produce, name="synthetic-tokens")
    producer.start()
    while not done.is_set():
        app.processEvents()
        time.sleep(0.0005)
    producer.join()
    for _ in range(50):
        app.processEvents()
    streamed = intervals[5:]
    shown = chat.view.chat_model.item_by_id(writer.message_id)
    assert shown is not None and shown.content == prefix + streamed_text, "the view lost text"

    # the end of the reply: the ticker keeps running until the rendered Markdown is in the row
    from desktop_app.core.engine import GenerationStats

    stats = GenerationStats(
        prompt_tokens=10, cached_tokens=0, evaluated_tokens=10, completion_tokens=len(tokens), ttft_s=0.1,
        prefill_tps=100.0, generation_tps=float(rate), stop_reason="eos",
    )  # fmt: skip
    mark = len(intervals)
    render_ms.clear()
    started = time.perf_counter()
    worker.finished.emit(request_id, stats)
    deadline = started + 30
    while (chat.generating or not swapped) and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.0005)
    settle = time.perf_counter() + 0.2
    while time.perf_counter() < settle:
        app.processEvents()
        time.sleep(0.0005)
    ticker.stop()
    ended = intervals[mark:]
    setattr(markdown_worker, "render_markdown", real_render)  # noqa: B010
    assert swapped, "the rendered Markdown never reached the row"
    layout = delegate.layout_for(shown, chat.view.viewport().width())
    assert layout.markdown and not layout.pending
    window.close()
    app.processEvents()
    QApplication.processEvents()
    s50, s99, smax = _stats(streamed)
    e50, e99, emax = _stats(ended)
    a50, a99, amax = _stats(streamed + ended)
    return {
        "history": history,
        "ticks": len(streamed),
        "p50": s50, "p99": s99, "max": smax,
        "end_p50": e50, "end_p99": e99, "end_max": emax,
        "all_p50": a50, "all_p99": a99, "all_max": amax,
        "render_ms": max(render_ms, default=0.0),
        "swap_ms": (swapped[0] - started) * 1000,
        "chars": len(prefix) + len(streamed_text),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=500, help="tokens per second")
    parser.add_argument("--history", type=int, nargs="*", default=None)
    parser.add_argument("--reply-chars", type=int, default=None, help="the reply's length when it ends")
    args = parser.parse_args()
    if args.history is None and args.reply_chars is None:
        cases = [(0, 0), (500, 0), (500, 200_000)]
    else:
        cases = [(h, args.reply_chars or 0) for h in (args.history if args.history is not None else [0, 500])]
    for history, reply_chars in cases:
        with tempfile.TemporaryDirectory() as home:
            os.environ["HEARTH_HOME"] = str(Path(home))
            r = run(history, args.seconds, args.rate, reply_chars)
        print(
            f"history {r['history']:>3} messages, a {r['chars']:,}-char reply ({args.rate} tok/s): "
            f"stream {r['ticks']} ticks p50 {r['p50']:.2f} / p99 {r['p99']:.2f} / max {r['max']:.2f} ms; "
            f"end p50 {r['end_p50']:.2f} / p99 {r['end_p99']:.2f} / max {r['end_max']:.2f} ms; "
            f"all p99 {r['all_p99']:.2f} / max {r['all_max']:.2f} ms; "
            f"Markdown rendered off the GUI thread in {r['render_ms']:.0f} ms, in the row "
            f"{r['swap_ms']:.0f} ms after the end"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
