"""The fit estimate's arithmetic and verdicts. Its accuracy against measured memory is a benchmark
(tests/benchmarks/fit_accuracy.py), not a test: RSS depends on the machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.fit import ModelShape, estimate, kv_cache_bytes
from desktop_app.core.gguf_info import inspect_gguf

GB = 10**9


@pytest.fixture(scope="module")
def gemma_shape(gemma_path: Path) -> ModelShape:
    return ModelShape.from_summary(inspect_gguf(gemma_path))


def test_kv_cache_matches_what_llama_cpp_allocates(gemma_shape: ModelShape) -> None:
    # llama.cpp's own log for Gemma 3 270M at n_ctx 4096: 12 MiB (non-SWA) + 60 MiB (SWA) of f16 KV
    assert kv_cache_bytes(gemma_shape, 4096, "f16") == 72 * 2**20
    assert kv_cache_bytes(gemma_shape, 4096, "q8_0") < kv_cache_bytes(gemma_shape, 4096, "f16")


def test_estimate_grows_with_context(gemma_shape: ModelShape) -> None:
    small = estimate(gemma_shape, 2048, free_ram=8 * GB, total_ram=16 * GB)
    large = estimate(gemma_shape, 32768, free_ram=8 * GB, total_ram=16 * GB)
    assert small.weights == large.weights == 253_113_024
    assert large.kv_cache > small.kv_cache and large.compute > small.compute
    assert small.total == small.weights + small.kv_cache + small.compute


@pytest.mark.parametrize(
    ("free_factor", "total_factor", "verdict", "words"),
    [
        (4.0, 8.0, "green", "is free"),
        (1.1, 8.0, "yellow", "little is left"),
        (0.9, 8.0, "red", "only"),
        (0.5, 0.9, "red", "in all"),
    ],
)
def test_verdicts_say_why(
    gemma_shape: ModelShape, free_factor: float, total_factor: float, verdict: str, words: str
) -> None:
    need = estimate(gemma_shape, 4096, free_ram=100 * GB, total_ram=100 * GB).total
    result = estimate(gemma_shape, 4096, free_ram=int(need * free_factor), total_ram=int(need * total_factor))
    assert result.verdict == verdict
    assert words in result.reason


def test_gpu_offload_moves_memory_to_vram(gemma_shape: ModelShape) -> None:
    cpu = estimate(gemma_shape, 4096, free_ram=8 * GB, total_ram=16 * GB)
    gpu = estimate(gemma_shape, 4096, n_gpu_layers=-1, free_ram=8 * GB, total_ram=16 * GB, free_vram=8 * GB)
    assert gpu.gpu_bytes > 0 and gpu.verdict == "green"
    too_small = estimate(
        gemma_shape, 4096, n_gpu_layers=-1, free_ram=8 * GB, total_ram=16 * GB, free_vram=10**6
    )
    assert too_small.verdict == "red" and "GPU" in too_small.reason
    assert cpu.gpu_bytes == 0
