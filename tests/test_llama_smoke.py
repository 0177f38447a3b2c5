"""The pinned llama.cpp build loads the real Gemma file and decodes without crashing (the AMX bug)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.gemma
def test_gemma_generates_greedy_tokens(gemma_path: Path) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gemma_path), n_ctx=256, n_threads=2, verbose=False, seed=1)
    try:
        prompt = llm.tokenize(b"The capital of France is", add_bos=True)
        runs = []
        for _ in range(2):
            llm.reset()  # type: ignore[no-untyped-call]
            out: list[int] = []
            for token in llm.generate(prompt, temp=0.0, top_k=1):
                out.append(token)
                if len(out) == 8:
                    break
            runs.append(out)
        text = llm.detokenize(runs[0]).decode("utf-8")
        assert len(runs[0]) == 8
        assert runs[0] == runs[1]  # greedy is deterministic
        assert "France" in text or "Paris" in text  # a coherent continuation, not noise
    finally:
        llm.close()
