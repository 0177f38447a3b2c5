"""What a generation streams back: text deltas as they are decoded, then one GenerationStats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from desktop_app.core.generation import StopReason

Message = Mapping[str, str]


@dataclass(frozen=True)
class TextDelta:
    text: str
    kind: Literal["answer", "reasoning"] = "answer"


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int
    cached_tokens: int  # reused from the KV cache of the previous request
    evaluated_tokens: int  # prompt tokens actually computed
    completion_tokens: int
    ttft_s: float
    prefill_tps: float
    generation_tps: float
    stop_reason: StopReason
    dropped_messages: int = 0  # oldest turns left out because the history no longer fits
    n_ctx: int = 0
    context_used: int = 0
    total_s: float = 0.0
    stop_string: str | None = None
    n_threads: int = 0  # llama.cpp threads at the end of the request (0: not known)
    threads_note: str = ""  # the governor's word when it lowered them ("1 thread: the CPU is busy")
    # Of cached_tokens, those restored from saved KV state (another chat's, or an earlier process's)
    restored_tokens: int = 0
    restore_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Event = TextDelta | GenerationStats


def measure(
    *,
    prompt_tokens: int,
    cached: int,
    evaluated: int,
    completion: int,
    sampled: int,
    started: float,
    prefill_end: float,
    end: float,
    reason: StopReason,
    dropped: int,
    n_ctx: int,
    context_used: int,
    first_token_at: float = 0.0,
    n_threads: int = 0,
    threads_note: str = "",
) -> GenerationStats:
    """The stats of one request from its counts and its perf_counter() timestamps."""
    prefill_s = prefill_end - started
    gen_s = end - prefill_end
    return GenerationStats(
        prompt_tokens=prompt_tokens,
        cached_tokens=cached,
        evaluated_tokens=evaluated,
        completion_tokens=completion,
        ttft_s=(first_token_at - started) if first_token_at else 0.0,
        prefill_tps=evaluated / prefill_s if evaluated and prefill_s > 0 else 0.0,
        generation_tps=sampled / gen_s if sampled and gen_s > 0 else 0.0,
        stop_reason=reason,
        dropped_messages=dropped,
        n_ctx=n_ctx,
        context_used=context_used,
        total_s=end - started,
        n_threads=n_threads,
        threads_note=threads_note,
    )
