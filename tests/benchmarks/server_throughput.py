"""Streaming throughput of the local API server compared with `hearth chat`, on the same model, prompt
and seed (so both generate the same tokens; the script checks that they do).

Both run as separate processes, as users run them, one after the other (never at the same time): the
server as `hearth serve`, read by a raw HTTP client here; the chat as `hearth chat --json`, its stdout
read here. For each it reports
  - observed: (tokens - 1) / (end of the reply - first text), as the reader sees them;
  - engine: the engine's own generation tok/s (from `--json` for the chat, from the server's request
    log line for the API).
and the ratios server / chat. Runs alternate between the two paths to spread machine noise evenly.

    python -m tests.benchmarks.server_throughput [--model PATH] [--tokens 256] [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.serve_stream import ROOT, HearthServe

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


@dataclass
class Run:
    text: str
    tokens: int
    observed_tps: float
    engine_tps: float


def _env(home: str) -> dict[str, str]:
    return {**os.environ, "HEARTH_HOME": home, "PYTHONUNBUFFERED": "1"}


def chat_run(model: str, tokens: int, seed: int, threads: int, home: str) -> Run:
    args = ["chat", "--model", model, "--prompt", PROMPT, "--max-tokens", str(tokens), "--seed", str(seed)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args, "--threads", str(threads), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(home), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    out = b""
    first = last = 0.0
    while chunk := os.read(proc.stdout.fileno(), 65536):
        now = time.perf_counter()
        first = first or now
        last = now  # the final chunk is the JSON line, printed as the reply ends
        out += chunk
    proc.wait()
    lines = out.decode("utf-8").rstrip("\n").split("\n")
    result = json.loads(lines[-1])
    n = int(result["completion_tokens"])
    return Run(result["text"], n, (n - 1) / (last - first) if last > first else 0.0, result["generation_tps"])


def server_run(server: HearthServe, tokens: int, seed: int) -> Run:
    body = {
        "model": "any",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "seed": seed,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    streamed = server.stream_chat(body)  # [DONE] ends it: symmetric with the chat's final JSON line
    log = server.request_log("POST /v1/chat/completions")
    engine = float(re.search(r"([\d.]+) tok/s", log).group(1))  # type: ignore[union-attr]
    return Run(streamed.text, streamed.tokens, streamed.observed_tps, engine)


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

    home = tempfile.mkdtemp(prefix="hearth-bench-")
    server = HearthServe(args.model, args.threads, home, log=True)
    try:
        server_run(server, 16, args.seed)  # warm-up: weights paged in, threads spun up
        chats: list[Run] = []
        served: list[Run] = []
        for i in range(args.runs):
            for path in ("chat", "server") if i % 2 == 0 else ("server", "chat"):
                if path == "chat":
                    chats.append(chat_run(args.model, args.tokens, args.seed, args.threads, home))
                else:
                    served.append(server_run(server, args.tokens, args.seed))
    finally:
        server.stop()

    same = all(r.text == chats[0].text for r in chats + served)
    med = statistics.median
    chat_obs, chat_eng = med(r.observed_tps for r in chats), med(r.engine_tps for r in chats)
    srv_obs, srv_eng = med(r.observed_tps for r in served), med(r.engine_tps for r in served)
    print(
        f"model {Path(args.model).name}, {chats[0].tokens} tokens per reply, seed {args.seed}, "
        f"{args.threads} thread(s), median of {args.runs} runs each; same text on both paths: {same}"
    )
    print(f"{'':22}{'hearth chat':>14}{'API (stream)':>14}{'ratio':>8}")
    print(f"{'observed by reader':22}{chat_obs:>10.1f} t/s{srv_obs:>10.1f} t/s{srv_obs / chat_obs:>8.3f}")
    print(f"{'engine generation':22}{chat_eng:>10.1f} t/s{srv_eng:>10.1f} t/s{srv_eng / chat_eng:>8.3f}")
    print(
        "per run (observed):",
        [round(r.observed_tps, 1) for r in chats],
        [round(r.observed_tps, 1) for r in served],
    )
    print(json.dumps({
        "model": Path(args.model).name, "tokens": chats[0].tokens, "threads": args.threads, "runs": args.runs,
        "identical_text": same, "chat_observed_tps": chat_obs, "server_observed_tps": srv_obs,
        "chat_engine_tps": chat_eng, "server_engine_tps": srv_eng,
        "ratio_observed": srv_obs / chat_obs, "ratio_engine": srv_eng / chat_eng,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
