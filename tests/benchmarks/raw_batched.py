"""The raw anchor for parallel sequences: llama.cpp's own batched decoding, no Hearth code in the loop.

    python -m tests.benchmarks.raw_batched [--model PATH] [--tokens 64] [--threads 2]

A fresh context with `n_seq_max = 8`; each run prefills N short prompts, then steps: one `llama_batch`
holding the next token of each of the N sequences (greedy: argmax of its logits row), one
`llama_decode`. Aggregate tok/s at N = 1, 2, 4, 8 and the ratio to N = 1, measured in this run: the
figure Hearth's scheduler (`hearth batch --parallel N`, `hearth serve --parallel N`) is compared with.
"""

from __future__ import annotations

import argparse
import ctypes
import time
from typing import Any

from tests.gemma_model import ensure_gemma

PROMPTS = [
    "The capital of France is", "Once upon a time", "def fibonacci(n):", "The three primary colors are",
    "In the beginning", "The best way to learn", "Water boils at", "My favourite book is",
]  # fmt: skip


def aggregate_tps(model_path: str, n_seq: int, tokens: int, threads: int) -> float:
    import llama_cpp

    from desktop_app.core.engine import native

    native.route_llama_logs()
    mparams = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = 8 * 512
    cparams.n_batch = cparams.n_ubatch = 512
    cparams.n_seq_max = 8
    cparams.n_threads = cparams.n_threads_batch = threads
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    try:
        positions = []
        for seq, prompt in enumerate(PROMPTS[:n_seq]):  # prefill each prompt in its own sequence
            buf = (llama_cpp.llama_token * 64)()
            n = llama_cpp.llama_tokenize(vocab, prompt.encode(), len(prompt.encode()), buf, 64, True, False)
            for i in range(n):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = buf[i], i, 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = i == n - 1
            batch.n_tokens = n
            assert llama_cpp.llama_decode(ctx, batch) == 0
            positions.append(n)
        nexts = [0] * n_seq  # the first token of each: any token does for timing
        began = time.perf_counter()
        for _ in range(tokens):
            for seq in range(n_seq):
                batch.token[seq], batch.pos[seq], batch.n_seq_id[seq] = nexts[seq], positions[seq], 1
                batch.seq_id[seq][0] = seq
                batch.logits[seq] = True
            batch.n_tokens = n_seq
            assert llama_cpp.llama_decode(ctx, batch) == 0
            for seq in range(n_seq):
                nexts[seq] = _argmax(llama_cpp.llama_get_logits_ith(ctx, seq), n_vocab)
                positions[seq] += 1
        return n_seq * tokens / (time.perf_counter() - began)
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


def _argmax(logits: Any, n_vocab: int) -> int:
    import numpy as np

    row = np.ctypeslib.as_array(ctypes.cast(logits, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
    return int(row.argmax())


def anchor(
    model_path: str, tokens: int, threads: int, counts: tuple[int, ...] = (1, 2, 4, 8)
) -> dict[int, float]:
    return {n: aggregate_tps(model_path, n, tokens, threads) for n in counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    figures = anchor(args.model or str(ensure_gemma()), args.tokens, args.threads)
    for n, tps in figures.items():
        print(f"{n} sequences: {tps:.1f} tok/s aggregate, {tps / figures[1]:.2f}x one")


if __name__ == "__main__":
    main()
