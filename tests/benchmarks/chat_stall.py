"""Event-loop stalls while a reply streams into the real chat view (a benchmark, not a test).

A synthetic token source on its own thread produces 500 tokens/s and sends them the way the inference
worker does (a text batch every 40 ms, through the worker's signal, re-emitted on the GUI thread by the
controller). A 1 ms timer on the GUI thread records how late each tick fires. Printed: p50, p99 and max
of the tick intervals while streaming, and the one-off stall of the final Markdown render, with an empty
history and with 500 messages (~200k characters) already in the chat.

    QT_QPA_PLATFORM=offscreen python -m tests.benchmarks.chat_stall [--seconds 8] [--rate 500]

The goal is p99 <= 16 ms (one frame at 60 Hz). Run it on a quiet machine: on these 2-core VMs any other
process competing for the CPU shows up as stalls.
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


def run(history: int, seconds: float, rate: int) -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.app import build_window, create_application
    from desktop_app.core import starter
    from desktop_app.core.paths import app_paths
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

    tokens = fake_tokens(int(seconds * rate))
    worker = window.inference.worker
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
    ticker.stop()
    streamed = intervals[5:]

    # the end of the reply: one Markdown render of the whole text, measured on its own
    shown = chat.view.chat_model.item_by_id(writer.message_id)
    assert shown is not None and shown.content == "".join(tokens), "the view lost text"
    from desktop_app.core.engine import GenerationStats

    stats = GenerationStats(
        prompt_tokens=10, cached_tokens=0, evaluated_tokens=10, completion_tokens=len(tokens), ttft_s=0.1,
        prefill_tps=100.0, generation_tps=float(rate), stop_reason="eos",
    )  # fmt: skip
    started = time.perf_counter()
    worker.finished.emit(request_id, stats)
    while chat.generating:
        app.processEvents()
    app.processEvents()
    final_ms = (time.perf_counter() - started) * 1000
    window.close()
    app.processEvents()
    QApplication.processEvents()
    ordered = sorted(streamed)
    return {
        "history": history,
        "ticks": len(streamed),
        "p50": statistics.median(ordered),
        "p99": ordered[int(len(ordered) * 0.99) - 1],
        "max": ordered[-1],
        "final_render_ms": final_ms,
        "chars": len("".join(tokens)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=500, help="tokens per second")
    parser.add_argument("--history", type=int, nargs="*", default=[0, 500])
    args = parser.parse_args()
    for history in args.history:
        with tempfile.TemporaryDirectory() as home:
            os.environ["HEARTH_HOME"] = str(Path(home))
            r = run(history, args.seconds, args.rate)
        print(
            f"history {r['history']:>3} messages: {r['ticks']} ticks of a 1 ms timer while "
            f"{args.rate} tok/s streamed ({r['chars']:,} chars): p50 {r['p50']:.2f} ms, "
            f"p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms; "
            f"final Markdown render {r['final_render_ms']:.0f} ms"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
