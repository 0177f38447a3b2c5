"""Instant reopen: time to first token when a long chat is reopened in a new process with its saved KV
state, against a cold start, and when switching between two long chats in one process (a benchmark,
not a test).

Each phase runs in a fresh process, as a user's restart would:
- cold:    no saved state; answer the chat (history H, ~8k tokens at 400 messages). This saves H's state.
           The same process then answers the follow-up H' from the KV it kept in memory (the reference
           reply, and the warm TTFT).
- reopen:  a new process answers H' from the state saved on disk: TTFT, tokens restored, and whether
           the reply is token for token the in-memory one (greedy).
- fresh:   a new process with no saved state answers H' (the cold start the reopen replaces).
- switch:  one process, two long chats A and B: A, B, then A' and B' (each restored from the host
           copy) against a warm turn (A'' right after A').

    python -m tests.benchmarks.instant_reopen [--messages 400] [--model PATH] [--threads N]

Goals: reopen TTFT <= 5% of the fresh cold start; switching <= 1.5x a warm turn; identical replies.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_app.core.engine import Engine, GenerationStats, Message, TextDelta
from desktop_app.core.engine.state_cache import StateCache
from desktop_app.core.generation import LoadSettings, SamplingSettings

GREEDY = SamplingSettings(temperature=0.0, max_tokens=16, seed=1)


def history(n: int, topic: str) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": "You are a helpful assistant. Answer briefly."}]
    for i in range(n):
        if i % 2 == 0:
            messages.append({"role": "user", "content": f"Question {i} about {topic}: what of item {i}?"})
        else:
            messages.append({"role": "assistant", "content": f"Item {i} of {topic} is fine, thank you."})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": f"And the last {topic} one?"})
    return messages


def follow_up(messages: Sequence[Message], reply: str, question: str) -> list[Message]:
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": question}]


def turn(engine: Engine, messages: Sequence[Message], tag: str | None) -> dict[str, Any]:
    parts: list[str] = []
    stats: GenerationStats | None = None
    started = time.perf_counter()
    for event in engine.stream_chat(messages, GREEDY, state_tag=tag):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            stats = event
    assert stats is not None
    return {
        "text": "".join(parts),
        "ttft": stats.ttft_s,
        "wall": time.perf_counter() - started,
        "prompt": stats.prompt_tokens,
        "cached": stats.cached_tokens,
        "restored": stats.restored_tokens,
        "restore_s": stats.restore_s,
    }


def open_engine(args: argparse.Namespace) -> tuple[Engine, StateCache]:
    cache = StateCache(Path(args.state))
    engine = Engine(state_cache=cache)
    engine.load(args.model, LoadSettings(n_ctx=args.ctx, n_threads=args.threads))
    return engine, cache


def phase(args: argparse.Namespace) -> dict[str, Any]:
    engine, cache = open_engine(args)
    chat = history(args.messages, "hearths")
    out: dict[str, Any] = {}
    try:
        if args.phase == "cold":
            out["cold"] = first = turn(engine, chat, "1")
            cache.flush()
            out["warm"] = turn(engine, follow_up(chat, first["text"], "Why?"), None)
        elif args.phase in ("reopen", "fresh"):
            out[args.phase] = turn(engine, follow_up(chat, args.reply, "Why?"), None)
        else:  # switch
            other = history(args.messages, "kettles")
            # Each turn starts once the last one's state is on disk, as after a user's reading and
            # typing: back to back, the writer's checksum and fsync would share the 2 cores with it.
            a = turn(engine, chat, "1")
            cache.flush()
            b = turn(engine, other, "2")
            cache.flush()
            chat_a, chat_b = follow_up(chat, a["text"], "Why?"), follow_up(other, b["text"], "Why?")
            out["switch_a"] = switched_a = turn(engine, chat_a, "1")  # B's KV was in the cache
            cache.flush()
            out["switch_a_warm"] = turn(engine, follow_up(chat_a, switched_a["text"], "Really?"), "1")
            cache.flush()
            out["switch_b"] = turn(engine, chat_b, "2")  # A's KV was in the cache
            cache.flush()
    finally:
        engine.unload()
    return out


def run_phase(args: argparse.Namespace, name: str, state: Path, reply: str = "") -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.instant_reopen",
        "--phase",
        name,
        "--state",
        str(state),
    ]
    command += ["--messages", str(args.messages), "--model", args.model, "--ctx", str(args.ctx)]
    command += ["--threads", str(args.threads), "--reply", reply]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from tests.gemma_model import ensure_gemma

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--model", default=None)
    parser.add_argument("--ctx", type=int, default=12288)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--phase", choices=("cold", "reopen", "fresh", "switch"), help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--reply", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.model = args.model or str(ensure_gemma())
    if args.phase:
        print(json.dumps(phase(args)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        state, empty, other = Path(tmp, "state"), Path(tmp, "empty"), Path(tmp, "switch")
        cold = run_phase(args, "cold", state)
        reply = cold["cold"]["text"]
        reopen = run_phase(args, "reopen", state, reply)["reopen"]
        fresh = run_phase(args, "fresh", empty, reply)["fresh"]
        switch = run_phase(args, "switch", other)
    warm = cold["warm"]
    print(f"{args.messages} messages, {reopen['prompt']} prompt tokens, {args.threads} threads")
    print(f"  cold start, no saved state   TTFT {fresh['ttft']:8.3f} s")
    ratio = reopen["ttft"] / fresh["ttft"]
    restored = f"restored {reopen['restored']:,} tokens in {reopen['restore_s']:.3f} s"
    print(f"  reopen, state from disk      TTFT {reopen['ttft']:8.3f} s   {restored}")
    print(f"  reopen / cold start          {ratio:.3f} (goal <= 0.05)")
    print(f"  warm turn (KV in memory)     TTFT {warm['ttft']:8.3f} s")
    same = reopen["text"] == warm["text"]
    print(f"  reply after restore == reply from memory: {same}")

    def line(name: str, figures: dict[str, Any]) -> str:
        new = figures["prompt"] - figures["cached"]
        source = f", {figures['restored']:,} restored" if figures["restored"] else ""
        return f"  {name:<28} TTFT {figures['ttft']:8.3f} s   ({new} tokens computed{source})"

    print(line("switch to chat A", switch["switch_a"]))
    print(line("next turn in A (warm)", switch["switch_a_warm"]))
    print(line("switch to chat B", switch["switch_b"]))
    ratio = switch["switch_a"]["ttft"] / switch["switch_a_warm"]["ttft"]
    print(f"  switching / warm turn        {ratio:.2f} (goal <= 1.5; same number of new tokens)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
