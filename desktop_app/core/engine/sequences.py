"""Parallel sequences: many requests decoded together in one llama.cpp context (continuous batching).

On a CPU, generation is bound by memory bandwidth: one pass over the weights serves several sequences
almost as cheaply as one (2.0-2.4x aggregate at 4 sequences on the 2-core test machine, raw llama.cpp).
So the API server and batch jobs run their requests here, as llama-server does with `-np N`:

- a second context on the loaded model, with `n_seq_max = N` and a KV stream of its own per sequence
  (not `kv_unified`: a sequence then attends over its own cells laid out as if it ran alone, so two
  copies of one prompt in a batch give the same text, and a sequence alone gives exactly the text of
  the chat's loop): the chat's own context, its KV cache and its saved state are never disturbed, and
  parked sequences survive a chat turn taken in between;
- each step is one `llama_decode` of one batch: the next token of every generating sequence, plus a
  slice of the prompt of sequences still reading theirs. While others generate, a prompt is read in
  slices of `PREFILL_SLICE` tokens, so a long prompt joining slows running streams but never stops them;
- new requests join between steps (`next_request` is asked whenever a slot is free); each sequence has
  its own sampler and is cancelled on its own; `pause` parks everything between steps, so the GUI's
  chat goes first;
- a slot remembers the tokens it last held: a request that starts the same way (a batch job's shared
  system prompt and template, an API client's growing conversation) reuses that prefix;
- `invariant` (batch jobs): each prompt slice is a `llama_decode` of its own and only whole slices are
  reused, so a sequence's numbers do not depend on its neighbours (`_step_invariant`).

Only the engine's thread may call into it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from desktop_app.core import fit
from desktop_app.core.engine import native
from desktop_app.core.engine.decode import oldest_needed
from desktop_app.core.engine.events import Event, GenerationStats, Message, measure
from desktop_app.core.engine.governor import LoadReader, ThreadGovernor, ThreadState
from desktop_app.core.engine.pickers import Picker, build_picker
from desktop_app.core.engine.reply_text import ReplyText
from desktop_app.core.engine.state_cache import common_prefix
from desktop_app.core.errors import GenerationError, ModelLoadError
from desktop_app.core.generation import SamplingSettings, StopReason
from desktop_app.core.limits import random_seed
from desktop_app.core.system import available_memory_bytes

log = logging.getLogger(__name__)

#: prompt tokens read per step for one sequence while others are generating (a step of 64 prompt
#: tokens costs about as much as 10 generated ones on a 2-core CPU: streams slow down, never stall)
PREFILL_SLICE = 64
#: the share of free memory the parallel context's KV cache may take
KV_MEMORY_SHARE = 0.5
MAX_PARALLEL = 16  # the server_config limit too


def _never() -> bool:
    return False


@dataclass
class SequenceRequest:
    """One request for `Engine.run_parallel`. `on_event` is called on the engine thread with the
    TextDelta events, then exactly one GenerationStats, or one exception instead of the stats (a
    prompt that does not fit: GenerationError). `cancelled` is polled between steps. What `on_event`
    returns is ignored here (the parallel lane reads an exception it returns as the request's answer)."""

    messages: Sequence[Message] | None
    sampling: SamplingSettings
    on_event: Callable[[Event | BaseException], object]
    cancelled: Callable[[], bool] = _never
    prompt: str | Sequence[int] | None = None  # raw completion (no template) when messages is None
    ignore_eos: bool = False
    refuse_dropped: bool = False  # a conversation that does not fit is an error, not trimmed (the API)


@dataclass
class _Sequence:
    seq_id: int
    request: SequenceRequest | None = None
    tokens: list[int] = field(default_factory=list)  # the prompt, then each sampled token
    in_cache: int = 0  # tokens of `tokens` whose keys/values are in the KV cache
    held: list[int] = field(default_factory=list)  # what the slot's KV holds (reused by the next)
    held_prompt: int = 0  # how many of `held` were its prompt (read in slices, not generated)
    picker: Picker | None = None
    reply: ReplyText | None = None
    logits_at: int = -1  # the batch index of this sequence's logits in the last step, or -1
    next_token: int = -1  # sampled, not yet decoded
    prompt_len: int = 0
    cached: int = 0
    dropped: int = 0
    sampled: int = 0
    started: float = 0.0
    prefill_end: float = 0.0
    first_token_at: float = 0.0

    @property
    def busy(self) -> bool:
        return self.request is not None


class ParallelContext:
    """The second context: `n_parallel` sequences of up to `n_ctx_seq` tokens each."""

    def __init__(self, llm: Any, n_parallel: int, n_ctx_seq: int, abort: native.AbortFlag | None) -> None:
        llama_cpp = native.lib()
        source = llm.context_params
        params = llama_cpp.llama_context_default_params()
        for name in (
            "n_batch", "n_ubatch", "n_threads", "n_threads_batch", "flash_attn_type", "type_k", "type_v",
            "swa_full", "offload_kqv", "rope_scaling_type", "rope_freq_base", "rope_freq_scale",
            "yarn_ext_factor", "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_orig_ctx",
        ):  # fmt: skip
            setattr(params, name, getattr(source, name))
        params.n_seq_max = n_parallel
        params.n_ctx = n_parallel * n_ctx_seq
        params.kv_unified = False  # a stream per sequence (see the module docstring)
        params.no_perf = True
        ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not ctx:
            raise ModelLoadError(
                f"Could not create a context for {n_parallel} parallel sequences.",
                hint="Lower the number of parallel requests, or the context length.",
            )
        self.ctx = ctx
        self.n_parallel = n_parallel
        self.n_ctx_seq = n_ctx_seq
        self.n_batch = int(params.n_batch)
        self.memory = llama_cpp.llama_get_memory(ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        if abort is not None:
            abort.install(ctx)  # the engine's cancel stops a step in the middle too

    def close(self) -> None:
        llama_cpp = native.lib()
        if self.batch is not None:
            llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None


def parallel_capacity(summary: Any, kv_type: str, n_ctx_seq: int, wanted: int) -> int:
    """How many sequences of `n_ctx_seq` tokens fit: `wanted`, lowered until their KV cache takes at
    most half of the free memory (never below 1). A sliding-window model needs less than this counts."""
    wanted = max(1, min(wanted, MAX_PARALLEL))
    free = available_memory_bytes()
    if free is None:
        return wanted
    shape = fit.ModelShape.from_summary(summary)
    while wanted > 1 and fit.kv_cache_bytes(shape, wanted * n_ctx_seq, kv_type) > free * KV_MEMORY_SHARE:
        wanted -= 1
    return wanted


class Scheduler:
    """Continuous batching over a ParallelContext. `prepare` turns a request into (prompt tokens,
    turns dropped, stop strings, reasoning) or raises GenerationError."""

    def __init__(
        self,
        context: ParallelContext,
        vocab: Any,
        prepare: Callable[[SequenceRequest, int], tuple[list[int], int, tuple[str, ...], bool]],
        *,
        n_swa: int = 0,
        threads: Callable[[], tuple[int, int]] | None = None,
        governed: int = 0,
        clock: Callable[[], float] = time.perf_counter,
        load_reader: Callable[[], LoadReader | None] | None = None,
        invariant: bool = False,
    ) -> None:
        """`threads` gives the thread counts to use (fixed ones, or the chat's); with `governed` > 0
        the scheduler governs its own instead, starting there (see `_governor`), each with a CPU
        reader from `load_reader` (cpu_load.py; None: timer probes only). `invariant`: a
        sequence's text must not depend on what runs beside it (see `_step_invariant`)."""
        self.context = context
        self._invariant = invariant
        self._vocab = vocab
        self._prepare = prepare
        self._n_swa = n_swa
        self._threads = threads
        self._governed = governed
        self._clock = clock
        self._load_reader = load_reader
        self._governors: dict[int, ThreadGovernor] = {}
        self.slots = [_Sequence(i) for i in range(context.n_parallel)]

    @property
    def active(self) -> int:
        return sum(1 for slot in self.slots if slot.busy)

    def run(
        self,
        next_request: Callable[[], SequenceRequest | None],
        pause: Callable[[], bool],
        stop: Callable[[], bool] = _never,
    ) -> bool:
        """Step until no request is left and every sequence has ended (True), or `pause()` (False).
        `stop()` (the engine's cancel) ends every sequence as cancelled and returns True."""
        while True:
            if stop():
                self.cancel_all()
                return True
            if pause():
                return False
            self._admit(next_request)
            self._drop_cancelled()
            if not any(slot.busy for slot in self.slots):
                return True
            self._step()

    def cancel_all(self) -> None:
        """End every running sequence as cancelled (the engine is unloading or closing)."""
        for slot in self.slots:
            if slot.busy:
                self._finish(slot, "cancelled")

    # -- admission ---------------------------------------------------------------------------------

    def _admit(self, next_request: Callable[[], SequenceRequest | None]) -> None:
        """Fill free slots until `next_request` has nothing now (it is asked again next step: requests
        that arrive while others run join between steps)."""
        while any(not slot.busy for slot in self.slots):
            request = next_request()
            if request is None:
                return
            self._start(request)

    def _start(self, request: SequenceRequest) -> None:
        started = time.perf_counter()
        try:
            tokens, dropped, stops, reasoning = self._prepare(request, self.context.n_ctx_seq)
        except GenerationError as exc:
            _deliver(request, exc)
            return
        if not tokens:
            _deliver(request, GenerationError("The prompt is empty.", hint="Type some text first."))
            return
        if len(tokens) >= self.context.n_ctx_seq:
            _deliver(
                request,
                GenerationError(
                    f"The prompt ({len(tokens)} tokens) does not fit in the context "
                    f"({self.context.n_ctx_seq} tokens).",
                    hint="Shorten it, or raise the context length in the model's load settings.",
                ),
            )
            return
        slot = max((s for s in self.slots if not s.busy), key=lambda s: common_prefix(s.held, tokens))
        keep = self._reusable(slot, tokens)
        sampling = request.sampling
        seed = sampling.seed if sampling.seed is not None else random_seed()
        slot.request = request
        slot.tokens = list(tokens)
        slot.prompt_len = len(tokens)
        slot.in_cache = keep
        slot.cached = keep
        slot.dropped = dropped
        slot.picker = build_picker(self._vocab, sampling, seed)
        slot.reply = ReplyText(self._vocab, stops, reasoning=reasoning, ignore_eos=request.ignore_eos)
        slot.sampled = 0
        slot.next_token = -1
        slot.logits_at = -1
        slot.started = started
        slot.prefill_end = 0.0
        slot.first_token_at = 0.0

    def _reusable(self, slot: _Sequence, tokens: list[int]) -> int:
        """Keep the slot's KV for the prefix `tokens` shares with what it held; drop the rest."""
        llama_cpp = native.lib()
        memory = self.context.memory
        keep = max(0, min(common_prefix(slot.held, tokens), len(tokens) - 1))
        if self._invariant:  # only whole slices of the last prompt: their keys are what a fresh read makes
            keep = min(keep, slot.held_prompt) // PREFILL_SLICE * PREFILL_SLICE
        window = self._n_swa
        if (
            keep
            and window
            and llama_cpp.llama_memory_seq_pos_min(memory, slot.seq_id) > oldest_needed(keep, window)
        ):
            keep = 0  # a sliding-window cache has forgotten keys the rest of the prompt needs
        if not llama_cpp.llama_memory_seq_rm(memory, slot.seq_id, keep, -1):
            llama_cpp.llama_memory_seq_rm(memory, slot.seq_id, -1, -1)
            keep = 0
        slot.held = []
        return keep

    # -- one step ----------------------------------------------------------------------------------

    def _step(self) -> None:
        if self._invariant:
            self._step_invariant()
            return
        llama_cpp = native.lib()
        context = self.context
        batch = context.batch
        n = 0
        generating = [s for s in self.slots if s.busy and s.next_token >= 0]
        for slot in generating:
            n = _put(batch, n, slot.next_token, slot.in_cache, slot.seq_id, True)
            slot.logits_at = n - 1
        reading = [s for s in self.slots if s.busy and s.next_token < 0]
        for slot in reading:
            room = context.n_batch - n
            if room <= 0:
                slot.logits_at = -1
                continue
            remaining = len(slot.tokens) - slot.in_cache
            take = min(remaining, room, PREFILL_SLICE if generating else room)
            for i in range(take):
                position = slot.in_cache + i
                last = i == take - 1 and take == remaining
                n = _put(batch, n, slot.tokens[position], position, slot.seq_id, last)
            slot.logits_at = n - 1 if take == remaining else -1
            slot.in_cache += take
        batch.n_tokens = n
        governor = self._governor(len(generating)) if n == len(generating) else None
        if governor is not None:
            llama_cpp.llama_set_n_threads(context.ctx, governor.threads, governor.threads)
        elif self._threads is not None:
            n_threads, n_threads_batch = self._threads()
            llama_cpp.llama_set_n_threads(context.ctx, n_threads, n_threads_batch)
        began = self._clock()
        rc = llama_cpp.llama_decode(context.ctx, batch)
        if governor is not None and rc == native.DECODE_OK:
            governor.step(began)
        if rc != native.DECODE_OK:
            self._failed(rc, generating, reading)
            return
        for slot in generating:
            slot.in_cache += 1
        for slot in [*generating, *reading]:
            if slot.busy and slot.logits_at >= 0:
                self._sample(slot)

    def _step_invariant(self) -> None:
        """One step in which no sequence's numbers depend on its neighbours: the next token of every
        generating sequence in one `llama_decode` (one token each: the same dot products as alone, with
        the weights as stored), then each reading sequence's next `PREFILL_SLICE` tokens in a
        `llama_decode` of their own, since llama.cpp's kernels sum a sequence's prompt differently when
        its ubatch holds other tokens or another count. Sampled right after each call, which overwrites
        the last one's logits. Costs an extra pass over the weights when a prompt slice is read."""
        batch = self.context.batch
        generating = [s for s in self.slots if s.busy and s.next_token >= 0]
        reading = [s for s in self.slots if s.busy and s.next_token < 0]
        if generating:
            n = 0
            for slot in generating:
                n = _put(batch, n, slot.next_token, slot.in_cache, slot.seq_id, True)
                slot.logits_at = n - 1
            if not self._decode(n, self._governor(len(generating)), generating):
                return
            for slot in generating:
                slot.in_cache += 1
            for slot in generating:
                if slot.busy:
                    self._sample(slot)
        for slot in reading:
            if not slot.busy:
                continue
            take = min(len(slot.tokens) - slot.in_cache, PREFILL_SLICE)
            n = 0
            for i in range(take):
                position = slot.in_cache + i
                n = _put(
                    batch, n, slot.tokens[position], position, slot.seq_id, position == len(slot.tokens) - 1
                )
            if not self._decode(n, None, [slot]):
                continue
            slot.in_cache += take
            slot.logits_at = n - 1 if slot.in_cache == len(slot.tokens) else -1
            if slot.logits_at >= 0:
                self._sample(slot)

    def _decode(self, n: int, governor: ThreadGovernor | None, sequences: list[_Sequence]) -> bool:
        """`n` tokens of the batch through llama_decode at the governed (or given) thread counts; on a
        failure the `sequences` in it end (False)."""
        llama_cpp = native.lib()
        context = self.context
        context.batch.n_tokens = n
        if governor is not None:
            llama_cpp.llama_set_n_threads(context.ctx, governor.threads, governor.threads)
        elif self._threads is not None:
            n_threads, n_threads_batch = self._threads()
            llama_cpp.llama_set_n_threads(context.ctx, n_threads, n_threads_batch)
        began = self._clock()
        rc = llama_cpp.llama_decode(context.ctx, context.batch)
        if rc != native.DECODE_OK:
            self._failed(rc, sequences, [])
            return False
        if governor is not None:
            governor.step(began)
        return True

    def _governor(self, sequences: int) -> ThreadGovernor | None:
        """The thread governor for steps that only generate, one per number of sequences in the step
        (a step of 4 tokens and one of 1 cost different times: each count learns its own best). A busy
        CPU collapses batched steps as it does single ones (the barrier after each graph node waits for
        a descheduled thread), so the parallel context is governed too. Steps that read a prompt slice
        use the chat's prefill count, where every thread still helps."""
        if not self._governed or not sequences:
            return None
        governor = self._governors.get(sequences)
        if governor is None:
            load = self._load_reader() if self._load_reader is not None else None
            governor = ThreadGovernor(self._governed, lambda _n: None, clock=self._clock, load=load)
            self._governors[sequences] = governor
        return governor

    @property
    def thread_state(self) -> ThreadState | None:
        """The generation steps' state, for the status line and the stats: the busiest governor's."""
        if not self._governors:
            return None
        return min((g.state for g in self._governors.values()), key=lambda state: state.n_threads)

    def _failed(self, rc: int, generating: list[_Sequence], reading: list[_Sequence]) -> None:
        """A failed step: the whole batch is undone for its sequences (their KV is dropped)."""
        reason: StopReason = "cancelled" if rc == native.DECODE_ABORTED else "context_full"
        if rc not in (native.DECODE_ABORTED, native.DECODE_NO_KV_SLOT):
            log.error("llama_decode failed with code %d in a parallel step", rc)
        for slot in [*generating, *reading]:
            if slot.busy:
                self._finish(slot, reason, forget=True)

    def _sample(self, slot: _Sequence) -> None:
        assert slot.request is not None and slot.reply is not None
        now = time.perf_counter()
        if not slot.prefill_end:
            slot.prefill_end = now
        assert slot.picker is not None
        token = slot.picker.sample(self.context.ctx, slot.logits_at)
        slot.sampled += 1
        if slot.sampled == 1:
            slot.first_token_at = now
        deltas, ended = slot.reply.push(token)
        for delta in deltas:
            if not _deliver(slot.request, delta):
                self._finish(slot, "cancelled")
                return
        if ended is not None:
            self._finish(slot, ended)
        elif slot.reply.completion >= slot.request.sampling.max_tokens:
            self._finish(slot, "max_tokens")
        elif len(slot.tokens) + 1 >= self.context.n_ctx_seq:
            self._finish(slot, "context_full")
        else:
            slot.tokens.append(token)
            slot.next_token = token

    def _stats_threads(self) -> int:
        state = self.thread_state
        if state is not None:
            return state.n_threads
        return self._threads()[0] if self._threads is not None else 0

    def _threads_note(self) -> str:
        state = self.thread_state
        return state.describe() if state is not None else ""

    def _drop_cancelled(self) -> None:
        for slot in self.slots:
            if slot.busy and slot.request is not None and _asks_cancel(slot.request):
                self._finish(slot, "cancelled")

    def _finish(self, slot: _Sequence, reason: StopReason, *, forget: bool = False) -> None:
        llama_cpp = native.lib()
        request, reply = slot.request, slot.reply
        assert request is not None and reply is not None
        for delta in reply.finish():
            _deliver(request, delta)
        end = time.perf_counter()
        del slot.tokens[slot.in_cache :]  # a sampled token never decoded, or the unread prompt
        prompt_tokens = slot.prompt_len
        evaluated = max(min(slot.in_cache, prompt_tokens) - slot.cached, 0)
        stats = measure(
            prompt_tokens=prompt_tokens, cached=slot.cached, evaluated=evaluated,
            completion=reply.completion, sampled=slot.sampled, started=slot.started,
            prefill_end=slot.prefill_end or end, end=end, reason=reason, dropped=slot.dropped,
            n_ctx=self.context.n_ctx_seq, context_used=slot.in_cache, first_token_at=slot.first_token_at,
            n_threads=self._stats_threads(), threads_note=self._threads_note(),
        )  # fmt: skip
        if reply.stop_hit is not None:
            stats = GenerationStats(**{**stats.to_dict(), "stop_string": reply.stop_hit})
        if slot.picker is not None:
            slot.picker.free()
        if forget:
            llama_cpp.llama_memory_seq_rm(self.context.memory, slot.seq_id, -1, -1)
            slot.held = []
        else:
            slot.held = slot.tokens[: slot.in_cache]
            slot.held_prompt = min(slot.prompt_len, slot.in_cache)
        slot.request = None
        slot.reply = None
        slot.picker = None
        slot.next_token = -1
        _deliver(request, stats)


def _put(batch: Any, n: int, token: int, position: int, seq_id: int, logits: bool) -> int:  # noqa: PLR0917
    batch.token[n] = token
    batch.pos[n] = position
    batch.n_seq_id[n] = 1
    batch.seq_id[n][0] = seq_id
    batch.logits[n] = logits
    return n + 1


def _deliver(request: SequenceRequest, item: Event | BaseException) -> bool:
    """Hand an event to its request; False when the receiver failed (it is then treated as gone)."""
    try:
        request.on_event(item)
    except Exception:
        log.warning("a parallel request's receiver failed; cancelling it", exc_info=True)
        return False
    return True


def _asks_cancel(request: SequenceRequest) -> bool:
    try:
        return bool(request.cancelled())
    except Exception:
        return True
