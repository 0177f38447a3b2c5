"""How close is core/fit.py to reality? Loads the Gemma model at several context sizes in fresh
subprocesses, fills the context with prompt (the worst case the estimate is for), and compares the
growth of resident memory (RSS after - RSS before loading) with the estimate.

    python -m tests.benchmarks.fit_accuracy [--ctx 2048 8192]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys
from desktop_app.core.system import resident_memory_bytes
import llama_cpp  # import cost is not part of the model's footprint
from desktop_app.core.engine import Engine
from desktop_app.core.generation import LoadSettings, SamplingSettings
before = resident_memory_bytes()
engine = Engine()
engine.load(sys.argv[1], LoadSettings(n_ctx=int(sys.argv[2])))
n_ctx = int(sys.argv[2])
prompt = engine.tokenize("The hearth is the heart of the home. " * (n_ctx // 4))[: n_ctx - 32]
for _ in engine.stream_completion(prompt, SamplingSettings(max_tokens=8, seed=1)):
    pass
after = resident_memory_bytes()
print(json.dumps({"rss_growth": after - before}))
"""


def main() -> int:
    from desktop_app.core.fit import ModelShape, estimate
    from desktop_app.core.gguf_info import inspect_gguf
    from tests.gemma_model import ensure_gemma

    parser = argparse.ArgumentParser()
    parser.add_argument("--ctx", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    path = args.model or str(ensure_gemma())
    shape = ModelShape.from_summary(inspect_gguf(path))
    rows = []
    for n_ctx in args.ctx:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, path, str(n_ctx)], capture_output=True, text=True, check=True
        )
        measured = json.loads(out.stdout.strip().splitlines()[-1])["rss_growth"]
        est = estimate(shape, n_ctx)
        error = (est.total - measured) / measured
        rows.append({"n_ctx": n_ctx, "estimate": est.total, "measured": measured, "error": round(error, 4),
                     "weights": est.weights, "kv": est.kv_cache, "compute": est.compute})  # fmt: skip
        print(f"ctx {n_ctx:>6}: estimate {est.total / 2**20:7.1f} MiB, measured {measured / 2**20:7.1f} MiB, "
              f"error {error:+.1%}")  # fmt: skip
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
