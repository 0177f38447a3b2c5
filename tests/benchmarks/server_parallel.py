"""Concurrent streamed API requests: `hearth serve --parallel 4` against one stream at a time.

    python -m tests.benchmarks.server_parallel [--model PATH] [--tokens 96] [--threads 2]

One `hearth serve` process (as users run it). First each of 4 prompts is streamed alone, one after
another; then the same 4 at once. Aggregate tok/s = all completion tokens / wall time from the first
request sent to the last stream's end. The ratio (goal: >= 1.4) is taken within this one run, so a
busy machine slows both sides alike. Also printed: how many of the 4 replies (temperature 0) are the
same text together as alone (a batch can flip a nearly tied token: the kernels differ with the batch
size).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

from tests.benchmarks.serve_stream import HearthServe, Streamed
from tests.gemma_model import ensure_gemma

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle stays upright.",
    "List some ideas for a rainy weekend.",
    "Describe the water cycle to a child.",
]


def body(prompt: str, tokens: int) -> dict[str, object]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .gguf (default: the Gemma 3 270M test model)")
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model = args.model or str(ensure_gemma())
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as home:
        server = HearthServe(model, args.threads, home)  # --parallel defaults to 4
        try:
            server.stream_chat(body("Hello", 8))  # warm-up: the parallel context is made on first use
            began = time.perf_counter()
            alone = [server.stream_chat(body(p, args.tokens)) for p in PROMPTS]
            alone_s = time.perf_counter() - began
            together: list[Streamed | None] = [None] * len(PROMPTS)

            def run(i: int) -> None:
                together[i] = server.stream_chat(body(PROMPTS[i], args.tokens))

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(PROMPTS))]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            together_s = time.perf_counter() - began
        finally:
            server.stop()
    done = [t for t in together if t is not None]
    alone_tokens = sum(s.tokens for s in alone)
    together_tokens = sum(s.tokens for s in done)
    one = alone_tokens / alone_s
    four = together_tokens / together_s
    same = sum(a.text == t.text for a, t in zip(alone, done, strict=True))
    print(f"one stream at a time: {alone_tokens} tokens in {alone_s:.2f} s = {one:.1f} tok/s")
    print(
        f"4 streams at once:    {together_tokens} tokens in {together_s:.2f} s = {four:.1f} tok/s aggregate"
    )
    print(f"  per stream: {', '.join(f'{s.observed_tps:.1f}' for s in done)} tok/s")
    print(f"ratio: {four / one:.2f}x (goal >= 1.4)")
    print(f"same text together as alone (temperature 0): {same} of {len(done)}")


if __name__ == "__main__":
    main()
