"""The streaming decode loop over llama.cpp's C API, and the KV cache it keeps between requests.

Why our own loop instead of `Llama.create_completion(stream=True)`: that API re-detokenizes the whole
completion for every token (quadratic; 27% slower at token 3000) and cannot be stopped during prompt
processing. Here batches go in, llama.cpp's own sampler chain picks, and token pieces come out through
an incremental UTF-8 decoder. The tokens whose keys and values are in the cache (sequence 0) are
tracked, so the next request evaluates only what differs from the last one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from desktop_app.core.engine import native
from desktop_app.core.engine.events import Event, GenerationStats, measure
from desktop_app.core.engine.governor import ThreadGovernor
from desktop_app.core.engine.pickers import build_picker
from desktop_app.core.engine.reply_text import ReplyText
from desktop_app.core.engine.state_cache import common_prefix
from desktop_app.core.errors import GenerationError
from desktop_app.core.generation import SamplingSettings, StopReason
from desktop_app.core.limits import random_seed


class Decoder:
    """Runs requests on one llama.cpp context; only its owner thread may call it.

    `cancel` is the engine's flag, set from any thread; llama.cpp's abort callback (set alongside it)
    stops a decode in the middle of a batch.
    """

    def __init__(self, llm: Any, batch: native.TokenBuffer, n_ctx: int, cancel: threading.Event) -> None:
        self._ctx = llm._ctx.ctx
        self._vocab = llm._model.vocab
        self.batch = batch
        self.n_ctx = n_ctx
        self._cancel = cancel
        self.cached: list[int] = []  # tokens whose keys/values are in the KV cache (sequence 0)
        # Timed decode calls feed it (two clock reads per call); None when the threads are fixed.
        self.governor: ThreadGovernor | None = None
        self.prefill_governor: ThreadGovernor | None = None  # prefill chunks have their own
        self.fixed_threads = 0  # the thread count when there is no governor
        self.n_swa = 0  # the model's sliding-window size (0: none)
        # Called with the prompt once it is in the KV cache, before the first token is sampled: the
        # engine keeps a copy there, because a sliding-window cache cannot go back to it later.
        self.checkpoint: Callable[[list[int]], None] | None = None

    def reset(self) -> None:
        """Empty the KV cache."""
        native.lib().llama_memory_clear(native.lib().llama_get_memory(self._ctx), True)
        self.cached = []

    def usable_prefix(self, tokens: Sequence[int]) -> int:
        """How many of `tokens` the KV cache can serve now: the common prefix, unless a sliding-window
        cache has already forgotten keys that the rest would need (then 0). A window cache keeps only
        the last window of what it computed: after dropping a long suffix, the keys the next token must
        see are gone (llama-server checks the same)."""
        llama_cpp = native.lib()
        # the last prompt token must be evaluated for its logits
        keep = max(0, min(common_prefix(self.cached, tokens), len(tokens) - 1))
        if keep and self.n_swa:
            memory = llama_cpp.llama_get_memory(self._ctx)
            if llama_cpp.llama_memory_seq_pos_min(memory, 0) > oldest_needed(keep, self.n_swa):
                return 0
        return keep

    def _reuse_prefix(self, tokens: list[int]) -> int:
        """Keep the KV cache for the usable common prefix; drop the rest. Returns tokens kept."""
        llama_cpp = native.lib()
        keep = self.usable_prefix(tokens)
        memory = llama_cpp.llama_get_memory(self._ctx)
        if keep < len(self.cached) and not llama_cpp.llama_memory_seq_rm(memory, 0, keep, -1):
            # Some caches (recurrent, sliding-window) cannot drop a suffix: start over.
            llama_cpp.llama_memory_clear(memory, True)
            keep = 0
        del self.cached[keep:]
        return keep

    def _sync_cache_with_memory(self, chunk: Sequence[int] = ()) -> None:
        """After an abort or error, llama.cpp keeps the ubatches it finished, which may be part of
        `chunk` (one n_batch chunk is several ubatches): make our token list match its memory."""
        llama_cpp = native.lib()
        memory = llama_cpp.llama_get_memory(self._ctx)
        in_memory = max(llama_cpp.llama_memory_seq_pos_max(memory, 0) + 1, 0)
        if in_memory <= len(self.cached):
            del self.cached[in_memory:]
            return
        extra = in_memory - len(self.cached)
        if extra <= len(chunk):
            self.cached.extend(chunk[:extra])
        elif not llama_cpp.llama_memory_seq_rm(memory, 0, len(self.cached), -1):
            llama_cpp.llama_memory_clear(memory, True)
            self.cached.clear()

    def stream(
        self,
        tokens: list[int],
        sampling: SamplingSettings,
        stops: Sequence[str],
        *,
        started: float,
        dropped: int = 0,
        reasoning: bool = False,
        ignore_eos: bool = False,
        token_times: list[float] | None = None,
    ) -> Iterator[Event]:
        """Prefill `tokens`, then sample until a stop; yield TextDelta events, then one GenerationStats."""
        llama_cpp = native.lib()
        ctx = self._ctx
        vocab = self._vocab
        n_ctx = self.n_ctx
        if not tokens:
            raise GenerationError("The prompt is empty.", hint="Type some text first.")
        if len(tokens) >= n_ctx:
            raise GenerationError(
                f"The prompt ({len(tokens)} tokens) does not fit in the context ({n_ctx} tokens).",
                hint="Shorten it, or raise the context length in the model's load settings.",
            )
        cached = self._reuse_prefix(tokens)
        pending = tokens[cached:]
        reason: StopReason | None = None
        batch_size = self.batch.capacity
        governor = self.governor
        prefill_governor = self.prefill_governor

        # Prefill, in n_batch chunks; the abort flag is polled inside llama_decode too.
        for start in range(0, len(pending), batch_size):
            if self._cancel.is_set():
                reason = "cancelled"
                break
            chunk = pending[start : start + batch_size]
            if prefill_governor is None:
                rc = llama_cpp.llama_decode(ctx, self.batch.batch(chunk))
            else:
                began = prefill_governor.clock()
                rc = llama_cpp.llama_decode(ctx, self.batch.batch(chunk))
                if rc == native.DECODE_OK:
                    prefill_governor.step(began, "prefill", len(chunk))
            if rc == native.DECODE_ABORTED:
                self._sync_cache_with_memory(chunk)
                reason = "cancelled"
                break
            if rc != native.DECODE_OK:
                self._sync_cache_with_memory(chunk)
                raise GenerationError(
                    f"llama.cpp failed while reading the prompt (code {rc}).",
                    hint="Try again; if it keeps failing, reload the model with a smaller context.",
                )
            self.cached.extend(chunk)
        # The prompt's state is copied before the first decode changes it, but after the first token
        # is out: the copy (~36 MB at 7k tokens) must not delay the time to first token.
        checkpoint = self.checkpoint if reason is None and len(self.cached) > self.n_swa else None
        prefill_end = time.perf_counter()
        evaluated = len(pending)
        if reason == "cancelled":
            evaluated = max(len(self.cached) - cached, 0)
            yield self._stats(
                tokens=tokens, cached=cached, evaluated=evaluated, completion=0, sampled=0,
                started=started, prefill_end=prefill_end, end=prefill_end, reason=reason, dropped=dropped,
            )  # fmt: skip
            return

        seed = sampling.seed if sampling.seed is not None else random_seed()
        picker = build_picker(vocab, sampling, seed)
        reply = ReplyText(vocab, stops, reasoning=reasoning, ignore_eos=ignore_eos)
        push = reply.push
        sample = picker.sample
        decode = llama_cpp.llama_decode
        sampled = 0
        first_token_at = 0.0
        try:
            while True:
                if self._cancel.is_set():
                    reason = "cancelled"
                    break
                token = sample(ctx, -1)
                sampled += 1
                if sampled == 1:
                    first_token_at = time.perf_counter()
                if token_times is not None:
                    token_times.append(time.perf_counter())
                deltas, ended = push(token)
                if deltas:
                    yield from deltas
                if ended is not None:
                    reason = ended
                    break
                if reply.completion >= sampling.max_tokens:
                    reason = "max_tokens"
                    break
                if len(self.cached) + 1 >= n_ctx:
                    reason = "context_full"
                    break
                if checkpoint is not None:
                    checkpoint(list(self.cached))
                    checkpoint = None
                if governor is None:
                    rc = decode(ctx, self.batch.single(token))
                else:
                    began = governor.clock()
                    rc = decode(ctx, self.batch.single(token))
                    if rc == native.DECODE_OK:
                        governor.step(began)
                if rc == native.DECODE_ABORTED:
                    reason = "cancelled"
                    break
                if rc == native.DECODE_NO_KV_SLOT:
                    reason = "context_full"
                    break
                if rc != native.DECODE_OK:
                    raise GenerationError(
                        f"llama.cpp failed while generating (code {rc}).",
                        hint="Try again; if it keeps failing, reload the model.",
                    )
                self.cached.append(token)
            if checkpoint is not None:  # the reply ended at its first token: nothing was decoded
                checkpoint(list(self.cached))
        finally:
            picker.free()
        yield from reply.finish()
        completion = reply.completion
        self._sync_cache_with_memory()
        end = time.perf_counter()
        stats = self._stats(
            tokens=tokens, cached=cached, evaluated=evaluated, completion=completion, sampled=sampled,
            started=started, prefill_end=prefill_end, end=end, reason=reason, dropped=dropped,
            first_token_at=first_token_at,
        )  # fmt: skip
        if reply.stop_hit is not None:
            stats = GenerationStats(**{**stats.to_dict(), "stop_string": reply.stop_hit})
        yield stats

    def _stats(
        self,
        *,
        tokens: list[int],
        cached: int,
        evaluated: int,
        completion: int,
        sampled: int,
        started: float,
        prefill_end: float,
        end: float,
        reason: StopReason,
        dropped: int,
        first_token_at: float = 0.0,
    ) -> GenerationStats:
        if self.governor is not None:
            state = self.governor.state
            n_threads, note = state.n_threads, state.describe()
        else:
            n_threads, note = self.fixed_threads, ""
        return measure(
            prompt_tokens=len(tokens), cached=cached, evaluated=evaluated, completion=completion,
            sampled=sampled, started=started, prefill_end=prefill_end, end=end, reason=reason,
            dropped=dropped, n_ctx=self.n_ctx, context_used=len(self.cached), first_token_at=first_token_at,
            n_threads=n_threads, threads_note=note,
        )  # fmt: skip


def oldest_needed(position: int, n_swa: int) -> int:
    """The oldest position a token at `position` attends to in a sliding window of `n_swa`
    (llama.cpp's standard SWA masks p0 when position - p0 >= n_swa)."""
    return max(0, position - n_swa + 1)
