"""Will this model fit? Weights + KV cache + llama.cpp's compute buffer, against free RAM and VRAM.

The estimate follows what llama.cpp allocates (its own load log itemises it): the weights (the file,
memory-mapped), the KV cache (layers x KV heads x (key + value dims) x context x bytes per element),
and the part of the compute buffer that is really touched: attention scores over the whole context
(2 x n_ubatch x context x heads x 4 bytes: scores and softmax), activations, and one row of logits.
tests/benchmarks/fit_accuracy.py checks it against measured resident memory.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from desktop_app.core.generation import KV_BYTES_PER_ELEMENT
from desktop_app.core.system import available_memory_bytes, total_memory_bytes
from desktop_app.core.units import human_size

Verdict = Literal["green", "yellow", "red"]

RUNTIME_OVERHEAD = 32 * 1024 * 1024  # llama.cpp's own state, thread pools, tokenizer tables
N_UBATCH = 512


@dataclass(frozen=True)
class ModelShape:
    """The few numbers the estimate needs; from a local file or a remote header."""

    size_bytes: int
    block_count: int
    head_count: int
    head_count_kv: int
    key_length: int
    value_length: int
    vocab_size: int
    embedding_length: int

    @classmethod
    def from_summary(cls, summary: object) -> ModelShape:
        def get(name: str, default: int = 0) -> int:
            value = getattr(summary, name, None)
            return int(value) if isinstance(value, int) and value > 0 else default

        heads = get("head_count", 1)
        head_dim = get("embedding_length") // heads
        return cls(
            size_bytes=get("size_bytes"),
            block_count=get("block_count"),
            head_count=heads,
            head_count_kv=get("head_count_kv", heads),
            key_length=get("key_length", head_dim),
            value_length=get("value_length", head_dim),
            vocab_size=get("vocab_size", 32_000),
            embedding_length=get("embedding_length"),
        )


@dataclass(frozen=True)
class Estimate:
    weights: int
    kv_cache: int
    compute: int
    total: int
    verdict: Verdict
    reason: str
    gpu_bytes: int = 0


def kv_cache_bytes(shape: ModelShape, n_ctx: int, kv_type: str = "f16") -> int:
    per_token = shape.block_count * shape.head_count_kv * (shape.key_length + shape.value_length)
    return int(per_token * n_ctx * KV_BYTES_PER_ELEMENT[kv_type])


def compute_bytes(
    shape: ModelShape, n_ctx: int, n_ubatch: int = N_UBATCH, flash_attention: bool = False
) -> int:
    """What llama.cpp's compute buffer really touches at its worst (a full context). It *reserves*
    n_ubatch x vocabulary logits, but Hearth asks for one output row per batch, so those pages are
    never touched and never count against RAM; the attention scores do grow with the context."""
    # without flash attention the graph holds the KQ scores and their softmax: two f32 matrices
    scores = 0 if flash_attention else 2 * n_ubatch * n_ctx * shape.head_count * 4
    activations = n_ubatch * shape.embedding_length * 4 * 16
    logits = 2 * shape.vocab_size * 4
    return scores + activations + logits + RUNTIME_OVERHEAD


def estimate(
    shape: ModelShape,
    n_ctx: int,
    *,
    kv_type: str = "f16",
    n_gpu_layers: int = 0,
    flash_attention: bool = False,
    free_ram: int | None = None,
    total_ram: int | None = None,
    free_vram: int | None = None,
) -> Estimate:
    weights = shape.size_bytes
    kv = kv_cache_bytes(shape, n_ctx, kv_type)
    compute = compute_bytes(shape, n_ctx, flash_attention=flash_attention)
    total = weights + kv + compute
    free_ram = available_memory_bytes() if free_ram is None else free_ram
    total_ram = total_memory_bytes() if total_ram is None else total_ram
    gpu_share = 0.0
    if n_gpu_layers and shape.block_count:
        layers = shape.block_count if n_gpu_layers < 0 else min(n_gpu_layers, shape.block_count)
        gpu_share = layers / shape.block_count
    gpu_bytes = int((weights + kv) * gpu_share + (compute if gpu_share else 0))
    ram_bytes = total - gpu_bytes
    verdict, reason = _judge(ram_bytes, gpu_bytes, free_ram, total_ram, free_vram)
    return Estimate(weights, kv, compute, total, verdict, reason, gpu_bytes)


def _judge(
    ram: int, gpu: int, free_ram: int | None, total_ram: int | None, free_vram: int | None
) -> tuple[Verdict, str]:
    if gpu and free_vram is not None and gpu > free_vram:
        return "red", (
            f"Needs {human_size(gpu)} of GPU memory; {human_size(free_vram)} is free. Offload fewer layers."
        )
    if free_ram is None:
        return "yellow", (
            f"Needs about {human_size(ram)} of memory; Hearth cannot tell how much is free here."
        )
    if total_ram is not None and ram > total_ram:
        return "red", (
            f"Needs about {human_size(ram)} of memory but this computer has {human_size(total_ram)} in all."
        )
    if ram > free_ram:
        return (
            "red",
            f"Needs about {human_size(ram)} of memory; only {human_size(free_ram)} is free. "
            "Close apps or pick a smaller quant.",
        )
    if ram > 0.8 * free_ram:
        return (
            "yellow",
            f"Needs about {human_size(ram)} of the {human_size(free_ram)} free: "
            "it fits, but little is left for other apps.",
        )
    return "green", f"Needs about {human_size(ram)}; {human_size(free_ram)} is free."


def free_vram_bytes() -> int | None:
    """Free memory of the first NVIDIA GPU, if nvidia-smi is there (llama.cpp's bindings do not say)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=3, check=True,
        ).stdout  # fmt: skip
        return int(out.split()[0]) * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
