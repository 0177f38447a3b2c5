"""Opening a model with llama.cpp: the memory check before, the progress and cancel during, the errors after.

A model that cannot fit is refused with the numbers before llama.cpp tries (better than llama.cpp dying
mid-load), and a load that fails gets a message that says what to change instead of llama.cpp's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desktop_app.core import fit
from desktop_app.core.engine import native
from desktop_app.core.errors import InsufficientMemoryError, LoadCancelledError, ModelLoadError
from desktop_app.core.generation import KV_TYPES, LoadSettings
from desktop_app.core.gguf_info import ModelSummary
from desktop_app.core.system import available_memory_bytes
from desktop_app.core.templates import ChatFormat


@dataclass(frozen=True)
class LoadedModel:
    summary: ModelSummary
    settings: LoadSettings
    n_ctx: int
    chat_format: ChatFormat
    load_s: float
    gpu_offload: bool = False
    warnings: tuple[str, ...] = field(default=())
    #: why the model file's chat template (or the override) was refused and a built-in format is used
    template_warning: str | None = None


def check_memory(summary: ModelSummary, settings: LoadSettings, n_ctx: int) -> None:
    """Refuse, with the numbers, a model that cannot fit: better than llama.cpp dying mid-load."""
    if settings.n_gpu_layers != 0:
        return  # weights go to VRAM; the fit estimate (Models page) covers that case
    available = available_memory_bytes()
    if available is None:
        return
    need = fit.estimate(
        fit.ModelShape.from_summary(summary),
        n_ctx,
        kv_type=settings.kv_cache_type,
        flash_attention=settings.flash_attention,
        free_ram=available,
    )
    if need.total > available:
        raise InsufficientMemoryError(
            f"{summary.name} needs about {need.total / 1e9:.1f} GB of memory "
            f"({need.weights / 1e9:.1f} GB of weights, {need.kv_cache / 1e9:.1f} GB for a {n_ctx}-token "
            f"context) but only {available / 1e9:.1f} GB is free.",
            hint="Close other apps, lower the context length, use a q8_0 KV cache, "
            "or download a smaller quantization of this model.",
        )


def open_llama(
    summary: ModelSummary,
    settings: LoadSettings,
    n_ctx: int,
    progress: native.LoadProgress | None,
    *,
    repack: bool = True,
) -> Any:
    """A `Llama` for the file `summary` describes. `progress` gets llama.cpp's loading progress (0.0 to
    1.0); when it returns False the load stops and LoadCancelledError is raised. `repack=False`: the
    weights as stored, so batched and lone sequences compute the same logits (native.load_progress)."""
    native.route_llama_logs()
    native.recent_log_lines.clear()
    try:
        from llama_cpp import Llama

        stopped = False

        def report(fraction: float) -> bool | None:
            nonlocal stopped
            go_on = progress(fraction) if progress is not None else None
            stopped = stopped or go_on is False
            return go_on

        n_threads, n_threads_batch = settings.thread_counts()
        with native.load_progress(report if progress is not None else None, repack=repack):
            return Llama(
                model_path=str(summary.path),
                n_ctx=n_ctx,
                n_batch=min(settings.n_batch, n_ctx),
                # A smaller batch than llama.cpp's 512 is computed as set (less memory, and a smaller
                # sliding-window cache); a larger one still runs in 512-token ubatches.
                n_ubatch=min(settings.n_batch, n_ctx, 512),
                n_threads=n_threads,
                n_threads_batch=n_threads_batch,
                n_gpu_layers=settings.n_gpu_layers,
                flash_attn=settings.flash_attention,
                type_k=KV_TYPES[settings.kv_cache_type],
                type_v=KV_TYPES[settings.kv_cache_type],
                use_mmap=settings.use_mmap,
                use_mlock=settings.use_mlock,
                # Sliding-window layers (Gemma 2/3 and others) keep only their window of keys, not
                # the whole context: a warm turn at 7k tokens of history took 2.2 s with the full-size
                # cache and 0.25 s without (attention ran over every cell and masked most of them).
                # The price, a suffix longer than the window cannot be dropped, is paid back by the
                # prefill checkpoint the engine keeps (session.py).
                swa_full=False,
                verbose=False,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        if stopped:
            raise LoadCancelledError(
                f"Loading {summary.name} was cancelled.", hint="Choose a model when you are ready."
            ) from exc
        raise _load_error(summary, n_ctx, exc) from exc


def _load_error(summary: ModelSummary, n_ctx: int, exc: Exception) -> ModelLoadError:
    details = "\n".join([repr(exc), *native.recent_log_lines])
    text = str(exc)
    if "context" in text:
        return InsufficientMemoryError(
            f"llama.cpp could not create a {n_ctx}-token context for {summary.name}.",
            hint="Lower the context length or the GPU layers in the model's load settings.",
            details=details,
        )
    return ModelLoadError(
        f"llama.cpp could not load {summary.path.name}. The file passed Hearth's checks, so it may "
        "use a feature this version of llama.cpp does not support.",
        hint="Try another quantization of the model, or see Details for llama.cpp's own message.",
        details=details,
    )
