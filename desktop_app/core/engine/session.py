"""The engine's session: one loaded model, and the requests that run on it.

Only one thread may call an Engine (the inference worker's thread, or the CLI's main thread), except
`cancel()`, which any thread may call at any moment.

We load through `Llama` (robust setup of model, context and vocab; loading.py) and then drive
llama.cpp's C API directly: prompt.py builds the prompt, decode.py streams the reply and keeps the KV
cache between requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from desktop_app.core import gguf_info
from desktop_app.core.engine import cpu_load, kv_state, native
from desktop_app.core.engine.decode import Decoder
from desktop_app.core.engine.events import Event, GenerationStats, Message
from desktop_app.core.engine.governor import LoadReader, ThreadGovernor, ThreadState
from desktop_app.core.engine.loading import LoadedModel, check_memory, open_llama
from desktop_app.core.engine.prompt import PromptTokenizer, fit_history
from desktop_app.core.engine.sequences import (
    ParallelContext,
    Scheduler,
    SequenceRequest,
    parallel_capacity,
)
from desktop_app.core.engine.state_cache import Snapshot, StateCache
from desktop_app.core.errors import GenerationError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.templates import resolve_chat_format

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        state_cache: StateCache | None = None,
        sense_cpu: bool | None = None,
    ) -> None:
        """`clock` times decode calls for the thread governor (tests inject one to simulate slow steps).
        `sense_cpu`: the governors also read the OS's CPU counts (cpu_load.py); by default only with
        the real clock, since readings of the machine would steer a test's simulated steps.
        `state_cache` keeps each conversation's KV state after a reply (`stream_chat(state_tag=...)`)
        and restores it when a prompt continues it: reopening a long chat skips re-reading it."""
        self._clock = clock
        self._sense_cpu = clock is time.perf_counter if sense_cpu is None else sense_cpu
        # Without a folder the cache still keeps host copies: switching between API conversations and
        # regenerating after a long reply (a sliding-window model's prefill checkpoint) use them.
        self.state_cache = state_cache if state_cache is not None else StateCache(None)
        self._state_key: str | None = None  # this load's StateKey digest; None: saved state is off
        self._governor: ThreadGovernor | None = None  # generation steps (n_threads)
        self._prefill_governor: ThreadGovernor | None = None  # prefill chunks (n_threads_batch)
        self._fixed: int | None = None  # a count the benchmark pinned over the governor
        self._llm: Any = None
        self._model: LoadedModel | None = None
        self._abort: native.AbortFlag | None = None
        self._cancel = threading.Event()
        self._decoder: Decoder | None = None
        self._prompt: PromptTokenizer | None = None
        self._parallel: Scheduler | None = None  # API and batch sequences (a second context), on demand
        self._batch_invariant = False  # load(batch_invariant=True): sequences.py's invariant steps

    # -- loading ---------------------------------------------------------------------------------

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        *,
        template_override: str | None = None,
        progress: native.LoadProgress | None = None,
        batch_invariant: bool = False,
    ) -> LoadedModel:
        """Validate, check memory, load. Raises ModelFileError, InsufficientMemoryError, ModelLoadError.
        `progress` gets llama.cpp's loading progress (0.0 to 1.0) on this thread; when it returns False
        the load stops and LoadCancelledError is raised (no model is loaded then). `batch_invariant`:
        a sequence's text does not depend on what else shares its step (batch jobs; loading.py)."""
        settings = settings or LoadSettings()
        started = time.perf_counter()
        summary = gguf_info.inspect_gguf(path)  # llama.cpp never sees a file that fails our checks
        chat_format = resolve_chat_format(
            architecture=summary.architecture,
            name=summary.name,
            file_template=summary.chat_template,
            override=template_override,
        )
        n_ctx = settings.context_for(summary.context_length or 0)
        check_memory(summary, settings, n_ctx)
        self.unload()
        llm = open_llama(summary, settings, n_ctx, progress, repack=not batch_invariant)
        self._llm = llm
        self._batch_invariant = batch_invariant
        self._abort = native.AbortFlag()
        self._abort.install(llm._ctx.ctx)
        self._prompt = PromptTokenizer(llm)
        self._model = LoadedModel(
            summary=summary,
            settings=settings,
            n_ctx=llm.n_ctx(),
            chat_format=chat_format,
            load_s=time.perf_counter() - started,
            gpu_offload=bool(native.lib().llama_supports_gpu_offload()) and settings.n_gpu_layers != 0,
            warnings=(chat_format.warning,) if chat_format.warning else (),
            template_warning=chat_format.warning,
        )
        self._decoder = Decoder(
            llm, native.TokenBuffer(min(settings.n_batch, n_ctx)), self._model.n_ctx, self._cancel
        )
        n_threads, _ = settings.thread_counts()
        self._decoder.fixed_threads = n_threads
        self._decoder.n_swa = int(native.lib().llama_model_n_swa(llm._model.model))
        if self._decoder.n_swa:
            self._decoder.checkpoint = self._checkpoint
        try:
            self._state_key = kv_state.state_key(Path(path), settings, llm.n_ctx(), chat_format).digest
        except OSError:
            self._state_key = None
        if settings.automatic_threads:
            self._start_governors(llm._ctx.ctx, n_threads)
        if chat_format.warning:
            log.warning("%s: %s", summary.name, chat_format.warning)
        log.info(
            "loaded %s (%s, %s) n_ctx=%d in %.2fs, template: %s (%s)",
            summary.name,
            summary.architecture,
            summary.file_type,
            self._model.n_ctx,
            self._model.load_s,
            chat_format.family,
            chat_format.source,
        )
        return self._model

    def unload(self) -> None:
        self.release_parallel()
        if self._llm is not None:
            self._llm.close()
        self._llm = None
        self._model = None
        self._abort = None
        self._decoder = None
        self._prompt = None
        self._governor = None
        self._prefill_governor = None
        self._fixed = None
        self._state_key = None

    # -- threads ---------------------------------------------------------------------------------

    def _start_governors(self, ctx: Any, n_threads: int) -> None:
        """Two governors, because generation and prefill answer a busy CPU differently: a one-token
        step waits at a barrier per graph node and collapses when a core is taken, while a prefill chunk
        has enough work per node that every thread still helps (measured on 2 cores with 2 busy
        processes: prefill at 2 threads beat 1 by ~1.5x while generation at 1 beat 2 many times over)."""
        assert self._decoder is not None

        def apply(_: int) -> None:
            generation, prefill = self._governor, self._prefill_governor
            assert generation is not None and prefill is not None
            native.lib().llama_set_n_threads(ctx, generation.threads, prefill.threads)

        self._governor = ThreadGovernor(n_threads, apply, clock=self._clock, load=self._load_reader())
        # Prefill probes on its timer: with every core taken, one more thread can still win a larger
        # share of the CPU for a chunk (306 against 254 tok/s under 2 busy processes on 2 cores),
        # where a one-token step collapses; the counts would keep it from ever finding that out.
        self._prefill_governor = ThreadGovernor(n_threads, apply, clock=self._clock)
        self._decoder.governor = self._governor
        self._decoder.prefill_governor = self._prefill_governor

    def _load_reader(self) -> LoadReader | None:
        """A reader of the CPU counts of its own (readings are differences since its last one)."""
        sensor = cpu_load.sensor() if self._sense_cpu else None
        return sensor.reading if sensor is not None else None

    @property
    def thread_state(self) -> ThreadState | None:
        """The threads llama.cpp runs with now, and why when the governor lowered them."""
        if self._decoder is None or self._model is None:
            return None
        if self._governor is not None and self._fixed is None:
            return self._governor.state
        n = self._fixed if self._fixed is not None else self._decoder.fixed_threads
        return ThreadState(n, n, automatic=False)

    def pin_threads(self, n_threads: int | None) -> None:
        """Run with exactly `n_threads` (the governor pauses), or None: back to the load settings
        (the governor, when automatic). For `hearth bench --contention`'s fixed-count runs."""
        llm = self._require()
        assert self._decoder is not None and self._model is not None
        self._fixed = n_threads
        if n_threads is not None:
            self._decoder.governor = None
            self._decoder.prefill_governor = None
            self._decoder.fixed_threads = n_threads
            native.lib().llama_set_n_threads(llm._ctx.ctx, n_threads, n_threads)
            return
        loaded, batch = self._model.settings.thread_counts()
        self._decoder.governor = self._governor
        self._decoder.prefill_governor = self._prefill_governor
        self._decoder.fixed_threads = loaded
        if self._governor is not None and self._prefill_governor is not None:
            loaded, batch = self._governor.threads, self._prefill_governor.threads
        native.lib().llama_set_n_threads(llm._ctx.ctx, loaded, batch)

    # -- generation ------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Thread-safe. Ends the running request within one graph node, prefill included."""
        self._cancel.set()
        abort = self._abort
        if abort is not None:
            abort.set()

    @property
    def cached_tokens(self) -> int:
        return len(self._decoder.cached) if self._decoder is not None else 0

    def reset_cache(self) -> None:
        self._require()
        assert self._decoder is not None
        self._decoder.reset()

    def tokenize(self, text: str, *, add_bos: bool = True, special: bool = True) -> list[int]:
        llm = self._require()
        tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
        return tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        return str(self._require().detokenize(list(tokens)).decode("utf-8", errors="replace"))

    def build_chat_prompt(
        self, messages: Sequence[Message], reserve: int, *, continue_last: bool = False
    ) -> tuple[list[int], int]:
        """Render and tokenize the conversation; drop the oldest turns (never the system prompt) until
        the prompt plus `reserve` tokens for the reply fit in the context. Returns (tokens, dropped).

        `continue_last`: the last message is an unfinished assistant reply that the model continues, so
        it is rendered as the start of the model's turn (no end-of-turn marker after it)."""
        model = self._require_model()
        return fit_history(
            messages,
            model.n_ctx,
            reserve,
            lambda batch: self._render_tokens(batch, continue_last=continue_last),
            continue_last=continue_last,
        )

    def _render_tokens(self, messages: Sequence[Message], *, continue_last: bool = False) -> list[int]:
        """Render and tokenize, reading special tokens only in the template's own markup."""
        model = self._require_model()
        assert self._prompt is not None
        return self._prompt.render_tokens(
            model.chat_format, model.summary, messages, continue_last=continue_last
        )

    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        continue_last: bool = False,
        state_tag: str | None = None,
    ) -> Iterator[Event]:
        """Yield TextDelta events, then exactly one GenerationStats. With `continue_last`, the last
        (assistant) message is extended: the deltas are what comes after its text.

        `state_tag` (a conversation id) saves the KV state once the stats are out, so that reopening
        the chat later, in this process or the next, restores it instead of re-reading the history."""
        sampling = sampling or SamplingSettings()
        if continue_last and (sampling.json_output or sampling.grammar):
            # A grammar starts at its root, so it would refuse the rest of a half-written JSON reply:
            # a continuation samples freely (the GUI and API only continue replies the user asked for).
            sampling = replace(sampling, json_output=False, grammar="")
        started = time.perf_counter()
        decoder = self._begin_request()
        model = self._require_model()
        reserve = min(sampling.max_tokens, model.n_ctx // 4)
        tokens, dropped = self.build_chat_prompt(messages, reserve, continue_last=continue_last)
        restored, restore_s = self._restore_state(tokens)
        stops = (*sampling.stop, *model.chat_format.stop_strings)
        events = decoder.stream(tokens, sampling, stops, started=started, dropped=dropped, reasoning=True)
        for event in events:
            if isinstance(event, GenerationStats) and restored:
                kept = min(restored, event.cached_tokens)
                yield replace(event, restored_tokens=kept, restore_s=restore_s if kept else 0.0)
            else:
                yield event
        if state_tag is not None:
            self._save_state(state_tag)  # after the stats: the reply has already ended for the caller

    # -- saved KV state ----------------------------------------------------------------------------

    def _restore_state(self, tokens: Sequence[int]) -> tuple[int, float]:
        """Swap in the saved state sharing the longest prefix with `tokens`, when it beats what the KV
        cache holds now. Returns (tokens restored, seconds)."""
        cache, key, decoder = self.state_cache, self._state_key, self._decoder
        if key is None or decoder is None:
            return 0, 0.0
        began = time.perf_counter()
        in_memory = decoder.usable_prefix(tokens)
        found = cache.best(key, tokens, beat=in_memory)
        if found is None:
            return 0, 0.0
        snapshot = cache.load(found[1])
        if snapshot is None:
            return 0, 0.0
        ctx = self._require()._ctx.ctx
        if not kv_state.restore(ctx, snapshot.payload):
            log.warning("llama.cpp refused a saved state; computing the prompt instead")
            cache.discard(snapshot)
            decoder.cached = []
            return 0, 0.0
        decoder.cached = list(snapshot.tokens)
        return found[0], time.perf_counter() - began

    def _checkpoint(self, tokens: list[int]) -> None:
        """The prompt's state, kept in memory: a sliding-window cache forgets the keys a regenerate or
        an edit of the last message needs once the reply runs past the window (llama-server keeps
        "context checkpoints" for the same reason). A copy, not a computation: ~36 MB at 7k tokens of
        Gemma 3 270M."""
        key = self._state_key
        if key is None:
            return
        payload = kv_state.snapshot(self._require()._ctx.ctx)
        if payload:
            self.state_cache.remember(Snapshot(key, tuple(tokens), payload, None))

    def _save_state(self, tag: str) -> None:
        cache, key, decoder = self.state_cache, self._state_key, self._decoder
        if key is None or decoder is None or not decoder.cached:
            return
        payload = kv_state.snapshot(self._require()._ctx.ctx)
        if payload:
            cache.remember(Snapshot(key, tuple(decoder.cached), payload, tag))

    def stream_completion(
        self,
        prompt: str | Sequence[int],
        sampling: SamplingSettings | None = None,
        *,
        ignore_eos: bool = False,
        token_times: list[float] | None = None,
    ) -> Iterator[Event]:
        """Raw text completion (no template). `token_times` collects a timestamp per sampled token."""
        sampling = sampling or SamplingSettings()
        started = time.perf_counter()
        decoder = self._begin_request()
        tokens = self.tokenize(prompt, add_bos=True) if isinstance(prompt, str) else list(prompt)
        yield from decoder.stream(
            tokens,
            sampling,
            sampling.stop,
            started=started,
            ignore_eos=ignore_eos,
            token_times=token_times,
        )

    # -- parallel sequences ------------------------------------------------------------------------

    def run_parallel(
        self,
        next_request: Callable[[], SequenceRequest | None],
        *,
        n_parallel: int,
        pause: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Decode up to `n_parallel` requests together (continuous batching, sequences.py).
        `next_request()` is asked between steps whenever a sequence is free (None: nothing now), so
        requests join while others run. Returns True once no sequence is running and `next_request()`
        has nothing, or False when `pause()` turned true between steps (the running sequences stay
        parked in their own context; the next call resumes them). `cancel()` ends them all. The chat's
        context and KV cache are not touched."""
        llm = self._require()
        model = self._require_model()
        self._cancel.clear()
        if self._abort is not None:
            self._abort.clear()
        scheduler = self._parallel
        if scheduler is not None and scheduler.context.n_parallel != n_parallel and not scheduler.active:
            self.release_parallel()
            scheduler = None
        if scheduler is None:
            n_ctx_seq = model.n_ctx
            n = parallel_capacity(model.summary, model.settings.kv_cache_type, n_ctx_seq, n_parallel)
            if n < n_parallel:
                log.info("memory allows %d parallel sequences of %d tokens, not %d", n, n_ctx_seq, n_parallel)
            context = ParallelContext(llm, n, n_ctx_seq, self._abort)
            decoder = self._decoder
            automatic = self._governor is not None and self._fixed is None
            scheduler = Scheduler(
                context,
                llm._model.vocab,
                self._prepare_sequence,
                n_swa=decoder.n_swa if decoder is not None else 0,
                threads=self._parallel_threads,
                governed=self._governor.max_threads if automatic and self._governor is not None else 0,
                clock=self._clock,
                load_reader=self._load_reader,
                invariant=self._batch_invariant,
            )
            self._parallel = scheduler
        try:
            return scheduler.run(next_request, pause, self._cancel.is_set)
        except BaseException:
            # Whatever escaped (a receiver's bug, an interrupt) may have left a step half-done: the
            # sequences end as cancelled and the context goes, so the next call starts clean.
            self.release_parallel()
            raise

    @property
    def parallel_slots(self) -> int:
        """How many sequences the parallel context holds (0 before the first parallel request)."""
        return self._parallel.context.n_parallel if self._parallel is not None else 0

    def release_parallel(self) -> None:
        """Free the parallel context (its KV cache); parked sequences end as cancelled."""
        scheduler, self._parallel = self._parallel, None
        if scheduler is not None:
            scheduler.cancel_all()
            scheduler.context.close()

    def _prepare_sequence(
        self, request: SequenceRequest, n_ctx_seq: int
    ) -> tuple[list[int], int, tuple[str, ...], bool]:
        model = self._require_model()
        sampling = request.sampling
        if request.messages is not None:
            reserve = min(sampling.max_tokens, n_ctx_seq // 4)
            tokens, dropped = fit_history(request.messages, n_ctx_seq, reserve, self._render_tokens)
            if dropped and request.refuse_dropped:
                raise GenerationError(
                    f"The conversation does not fit in the model's context ({n_ctx_seq:,} tokens per "
                    f"sequence, of which {reserve:,} are kept for the reply): its oldest {dropped:,} "
                    "message(s) would have to be left out.",
                    hint="Send fewer or shorter messages, lower max_tokens, or load the model with a "
                    "longer context.",
                )
            return tokens, dropped, (*sampling.stop, *model.chat_format.stop_strings), True
        prompt = request.prompt if request.prompt is not None else ""
        tokens = self.tokenize(prompt, add_bos=True) if isinstance(prompt, str) else list(prompt)
        return tokens, 0, tuple(sampling.stop), False

    def _parallel_threads(self) -> tuple[int, int]:
        """The counts the chat's governors chose (or the fixed ones): a busy CPU slows batches too."""
        model = self._require_model()
        n_threads, n_threads_batch = model.settings.thread_counts()
        if self._fixed is not None:
            return self._fixed, self._fixed
        if self._governor is not None:
            n_threads = self._governor.state.n_threads
        if self._prefill_governor is not None:
            n_threads_batch = self._prefill_governor.state.n_threads
        return n_threads, n_threads_batch

    def _begin_request(self) -> Decoder:
        self._require()
        self._cancel.clear()
        assert self._abort is not None and self._decoder is not None
        self._abort.clear()
        return self._decoder

    def native_handles(self) -> tuple[Any, Any, native.TokenBuffer]:
        """(llama_context*, llama_vocab*, token buffer) for the benchmark's raw reference loop."""
        llm = self._require()
        assert self._decoder is not None
        return llm._ctx.ctx, llm._model.vocab, self._decoder.batch

    def _require(self) -> Any:
        if self._llm is None:
            raise GenerationError("No model is loaded.", hint="Load a model first.")
        return self._llm

    def _require_model(self) -> LoadedModel:
        if self._model is None:
            raise GenerationError("No model is loaded.", hint="Load a model first.")
        return self._model
