"""`hearth batch` throughput: the same rows with --parallel 1 and --parallel 4 (a benchmark, not a test).

Runs the real command twice in one go on the real Gemma model, at temperature 0, each into a fresh
output, and prints figures only:

- aggregate tok/s of each run (completion tokens over the run's generation time, model load excluded:
  the `aggregate_tps` of `--json`) and their ratio; the goal is >= 1.5, and >= 0.9 x the raw batched
  decoding anchor (llama.cpp alone, 4 sequences against 1: tests/benchmarks/raw_batched.py, measured
  in this same run; it has measured 1.3x on one machine and 2.0-2.4x on another);
- the fraction of rows whose text is identical in both runs: all of them, since `hearth batch` loads
  the model batch-invariant (docs/ARCHITECTURE.md, "Parallel sequences").

    python -m tests.benchmarks.batch_throughput [--rows 24] [--max-tokens 64] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.raw_batched import anchor

ROOT = Path(__file__).resolve().parents[2]

SUBJECTS = [
    "the history of bread", "how rivers form", "why the sky is blue", "the rules of chess",
    "how bees make honey", "the first computers", "volcanoes", "the moon landing", "how to tie a knot",
    "the water cycle",
    "ancient Rome", "how trains work", "the life of a star", "coffee", "the Pacific Ocean", "libraries",
]  # fmt: skip


def run(
    model: str, source: Path, out: Path, parallel: int, *, max_tokens: int, home: Path
) -> dict[str, float]:
    env = {**os.environ, "HEARTH_HOME": str(home)}
    args = [
        sys.executable, "-m", "desktop_app", "batch", "--model", model, "--input", str(source),
        "--output", str(out), "--template", "Write a short paragraph about {subject}.\n",
        "--parallel", str(parallel), "--max-tokens", str(max_tokens), "--temperature", "0", "--json",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        sys.exit(f"hearth batch --parallel {parallel} failed:\n{done.stderr}")
    summary: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return summary


def texts(path: Path) -> dict[object, str]:
    return {row["id"]: row["text"] for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _common_prefix(x: str, y: str) -> int:
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2, help="for the raw anchor (hearth picks its own)")
    args = parser.parse_args()
    if args.model is None:
        from tests.gemma_model import ensure_gemma

        args.model = str(ensure_gemma())
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        source = tmp / "rows.jsonl"
        subjects = [
            SUBJECTS[i % len(SUBJECTS)] + (" today" if i >= len(SUBJECTS) else "") for i in range(args.rows)
        ]
        source.write_text("".join(json.dumps({"subject": s}) + "\n" for s in subjects), encoding="utf-8")
        one = run(args.model, source, tmp / "p1.jsonl", 1, max_tokens=args.max_tokens, home=tmp / "home")
        four = run(args.model, source, tmp / "p4.jsonl", 4, max_tokens=args.max_tokens, home=tmp / "home")
        a, b = texts(tmp / "p1.jsonl"), texts(tmp / "p4.jsonl")
    raw = anchor(args.model, args.max_tokens, args.threads, (1, 4))
    raw_ratio = raw[4] / raw[1]
    same = sum(1 for key in a if a[key] == b.get(key))
    ratio = four["aggregate_tps"] / one["aggregate_tps"] if one["aggregate_tps"] else 0.0
    print(f"rows: {args.rows}, max tokens: {args.max_tokens}, temperature 0")
    print(f"--parallel 1: {one['aggregate_tps']:.1f} tok/s aggregate")
    print(f"--parallel 4: {four['aggregate_tps']:.1f} tok/s aggregate")
    print(f"raw llama.cpp, 4 sequences against 1: {raw[4]:.1f} / {raw[1]:.1f} tok/s = {raw_ratio:.2f}x")
    print(f"ratio: {ratio:.2f}x (goal >= 1.5, and >= 0.9 of the raw anchor: {ratio / raw_ratio:.2f} of it)")
    print(f"identical text: {same}/{len(a)} rows ({same / len(a):.0%})")
    differing = [(a[key], b.get(key, "")) for key in a if a[key] != b.get(key)]
    if differing:
        shared = sorted(_common_prefix(x, y) for x, y in differing)
        lengths = sorted(max(len(x), len(y)) for x, y in differing)
        print(
            f"differing rows agree on their first {shared[len(shared) // 2]} characters "
            f"(median; of {lengths[len(lengths) // 2]})"
        )


if __name__ == "__main__":
    main()
