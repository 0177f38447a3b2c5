"""Streamed throughput through the remote-provider client compared with the server's own streamed speed,
measured directly in the same run, on the same server, prompt, seed and request body (so both paths
generate the same tokens; the script checks that they do).

The server is `hearth serve` (a separate process, as users run it). Per run it reports, for
  - direct: a raw HTTP client here reading the SSE bytes (the server's own streamed speed);
  - provider: `RemoteChat.stream_chat`, Hearth's provider client, yielding TextDelta events;
observed tok/s = (tokens - 1) / (end of the stream - first text), and the ratio provider / direct.
Runs alternate between the two paths to spread machine noise evenly. Goal: ratio >= 0.95.

    python -m tests.benchmarks.remote_throughput [--model PATH] [--tokens 256] [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.engine.events import GenerationStats, TextDelta
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.providers import Provider
from desktop_app.core.providers.remote_chat import RemoteChat, request_body
from tests.benchmarks.serve_stream import HearthServe

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
MESSAGES = [{"role": "user", "content": PROMPT}]


@dataclass
class Run:
    text: str
    tokens: int
    observed_tps: float
    cpu_s: float = 0.0  # this process's CPU time for the run: the client's own cost, whatever the load


def timed(
    run: Callable[[HearthServe, SamplingSettings], Run], server: HearthServe, sampling: SamplingSettings
) -> Run:
    cpu = time.process_time()
    result = run(server, sampling)
    result.cpu_s = time.process_time() - cpu
    return result


def direct_run(server: HearthServe, sampling: SamplingSettings) -> Run:
    """The server's own streamed speed: raw bytes off the socket, split into events, nothing else."""
    streamed = server.stream_chat(request_body("any", MESSAGES, sampling))
    return Run(streamed.text, streamed.tokens, streamed.observed_tps)


def provider_run(server: HearthServe, sampling: SamplingSettings) -> Run:
    """The same request through Hearth's provider client, as a chat front end consumes it."""
    chat = RemoteChat(Provider("bench", server.url, api_key=server.key), "any")
    text: list[str] = []
    first = last = 0.0
    n = 0
    for event in chat.stream_chat(MESSAGES, sampling):
        now = time.perf_counter()
        if isinstance(event, TextDelta):
            text.append(event.text)
            first = first or now
        elif isinstance(event, GenerationStats):
            n = event.completion_tokens
            last = now  # symmetric with [DONE] on the direct path
    return Run("".join(text), n, (n - 1) / (last - first) if last > first else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="a .gguf file (default: the Gemma test model)")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="1 is steadier on a shared 2-core machine")
    args = parser.parse_args()
    if args.model is None:
        from tests.gemma_model import ensure_gemma

        args.model = str(ensure_gemma())
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    sampling = SamplingSettings(max_tokens=args.tokens, seed=args.seed)

    home = tempfile.mkdtemp(prefix="hearth-bench-")
    server = HearthServe(args.model, args.threads, home)
    try:
        direct_run(server, SamplingSettings(max_tokens=16, seed=args.seed))  # warm-up
        direct: list[Run] = []
        provider: list[Run] = []
        for i in range(args.runs):
            for path in ("direct", "provider") if i % 2 == 0 else ("provider", "direct"):
                if path == "direct":
                    direct.append(timed(direct_run, server, sampling))
                else:
                    provider.append(timed(provider_run, server, sampling))
    finally:
        server.stop()

    same = all(r.text == direct[0].text for r in direct + provider)
    med = statistics.median
    direct_tps, provider_tps = med(r.observed_tps for r in direct), med(r.observed_tps for r in provider)
    ratio = provider_tps / direct_tps
    direct_cpu = med(r.cpu_s / max(r.tokens, 1) for r in direct) * 1e6
    provider_cpu = med(r.cpu_s / max(r.tokens, 1) for r in provider) * 1e6
    print(
        f"model {Path(args.model).name}, {direct[0].tokens} tokens per reply, seed {args.seed}, "
        f"{args.threads} thread(s), median of {args.runs} runs each; same text on both paths: {same}"
    )
    print(f"direct (server's own stream) {direct_tps:8.1f} tok/s")
    print(f"provider client              {provider_tps:8.1f} tok/s   ratio {ratio:.3f} (goal >= 0.95)")
    print(f"client CPU per token: direct {direct_cpu:.0f} us, provider {provider_cpu:.0f} us")
    print(
        "per run:", [round(r.observed_tps, 1) for r in direct], [round(r.observed_tps, 1) for r in provider]
    )
    print(json.dumps({
        "model": Path(args.model).name, "tokens": direct[0].tokens, "threads": args.threads,
        "runs": args.runs,
        "identical_text": same, "direct_tps": direct_tps, "provider_tps": provider_tps, "ratio": ratio,
        "direct_cpu_us_per_token": direct_cpu, "provider_cpu_us_per_token": provider_cpu,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
