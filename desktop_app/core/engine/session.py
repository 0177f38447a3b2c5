"""The inference engine: one loaded model, streamed generation, cancellation, KV-cache reuse.

Only one thread may call an Engine (the inference worker's thread, or the CLI's main thread), except
`cancel()`, which any thread may call at any moment.

Why our own decode loop instead of `Llama.create_completion(stream=True)`: that API re-detokenizes the
whole completion for every token (quadratic; 27% slower at token 3000), cannot be stopped during prompt
processing, and knows nothing of chat templates we trust. We load through `Llama` (robust setup of model,
context and vocab) and then drive llama.cpp's C API directly: batches in, llama.cpp's own sampler chain,
token pieces through an incremental UTF-8 decoder.
"""

from __future__ import annotations

import codecs
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from desktop_app.core import fit
from desktop_app.core.engine import native
from desktop_app.core.errors import (
    GenerationError,
    InsufficientMemoryError,
    LoadCancelledError,
    ModelLoadError,
)
from desktop_app.core.generation import (
    KV_TYPES,
    LoadSettings,
    SamplingSettings,
    StopReason,
)
from desktop_app.core.gguf_info import ModelSummary, inspect_gguf
from desktop_app.core.reasoning import ReasoningSplitter
from desktop_app.core.stop_strings import StopBuffer
from desktop_app.core.system import available_memory_bytes
from desktop_app.core.templates import ChatFormat, Segment, render_segments, resolve_chat_format

log = logging.getLogger(__name__)

Message = Mapping[str, str]

#: llama_token_attr bits (llama.h) of the tokens llama.cpp matches by their text before tokenizing
_ATTR_SPECIAL = (1 << 0) | (1 << 3) | (1 << 4)  # UNKNOWN | CONTROL | USER_DEFINED
_ATTR_LSTRIP, _ATTR_RSTRIP = 1 << 7, 1 << 8
_C_SPACE = " \t\n\v\f\r"  # what C's isspace() strips next to an LSTRIP/RSTRIP token
#: markup texts whose split into special tokens is remembered (a chat repeats the same few)
_MARKUP_CACHE_SIZE = 4096


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Event = TextDelta | GenerationStats


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


class Engine:
    def __init__(self) -> None:
        self._llm: Any = None
        self._model: LoadedModel | None = None
        self._abort: native.AbortFlag | None = None
        self._cancel = threading.Event()
        self._cached: list[int] = []  # tokens whose keys/values are in the KV cache (sequence 0)
        self._tokens: native.TokenBuffer | None = None
        self._markup: dict[str, list[str | int]] = {}  # see _split_markup
        self._token_info: dict[int, tuple[int, str]] = {}  # token id -> (attributes, text)

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
    ) -> LoadedModel:
        """Validate, check memory, load. Raises ModelFileError, InsufficientMemoryError, ModelLoadError.
        `progress` gets llama.cpp's loading progress (0.0 to 1.0) on this thread; when it returns False
        the load stops and LoadCancelledError is raised (no model is loaded then)."""
        settings = settings or LoadSettings()
        started = time.perf_counter()
        summary = inspect_gguf(path)  # llama.cpp never sees a file that fails our checks
        chat_format = resolve_chat_format(
            architecture=summary.architecture,
            name=summary.name,
            file_template=summary.chat_template,
            override=template_override,
        )
        n_ctx = settings.context_for(summary.context_length or 0)
        self._check_memory(summary, settings, n_ctx)
        self.unload()
        native.route_llama_logs()
        llama_cpp = native.lib()
        native.recent_log_lines.clear()
        try:
            from llama_cpp import Llama

            stopped = False

            def report(fraction: float) -> bool | None:
                nonlocal stopped
                go_on = progress(fraction) if progress is not None else None
                stopped = stopped or go_on is False
                return go_on

            with native.load_progress(report if progress is not None else None):
                llm = Llama(
                    model_path=str(summary.path),
                    n_ctx=n_ctx,
                    n_batch=min(settings.n_batch, n_ctx),
                    n_threads=settings.n_threads,
                    n_threads_batch=settings.n_threads_batch,
                    n_gpu_layers=settings.n_gpu_layers,
                    flash_attn=settings.flash_attention,
                    type_k=KV_TYPES[settings.kv_cache_type],
                    type_v=KV_TYPES[settings.kv_cache_type],
                    use_mmap=settings.use_mmap,
                    use_mlock=settings.use_mlock,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            if stopped:
                raise LoadCancelledError(
                    f"Loading {summary.name} was cancelled.", hint="Choose a model when you are ready."
                ) from exc
            raise self._load_error(summary, n_ctx, exc) from exc
        self._llm = llm
        self._abort = native.AbortFlag()
        self._abort.install(llm._ctx.ctx)
        self._tokens = native.TokenBuffer(min(settings.n_batch, n_ctx))
        self._cached = []
        self._markup.clear()
        self._token_info.clear()
        self._model = LoadedModel(
            summary=summary,
            settings=settings,
            n_ctx=llm.n_ctx(),
            chat_format=chat_format,
            load_s=time.perf_counter() - started,
            gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()) and settings.n_gpu_layers != 0,
            warnings=(chat_format.warning,) if chat_format.warning else (),
            template_warning=chat_format.warning,
        )
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
        if self._llm is not None:
            self._llm.close()
        self._llm = None
        self._model = None
        self._abort = None
        self._tokens = None
        self._cached = []
        self._markup.clear()
        self._token_info.clear()

    def _check_memory(self, summary: ModelSummary, settings: LoadSettings, n_ctx: int) -> None:
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

    @staticmethod
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

    # -- generation ------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Thread-safe. Ends the running request within one graph node, prefill included."""
        self._cancel.set()
        abort = self._abort
        if abort is not None:
            abort.set()

    @property
    def cached_tokens(self) -> int:
        return len(self._cached)

    def reset_cache(self) -> None:
        llm = self._require()
        native.lib().llama_memory_clear(native.lib().llama_get_memory(llm._ctx.ctx), True)
        self._cached = []

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
        if continue_last and (not messages or messages[-1].get("role") != "assistant"):
            raise GenerationError("Only an assistant reply can be continued.", hint="Send a message instead.")
        system = [m for m in messages if m.get("role") == "system"]
        turns = [m for m in messages if m.get("role") != "system"]
        if not turns:
            raise GenerationError("There is no message to answer.", hint="Type a message first.")
        limit = model.n_ctx - reserve
        rendered: dict[int, list[int]] = {}

        def tokens_from(start: int) -> list[int]:
            if start not in rendered:
                rendered[start] = self._render_tokens([*system, *turns[start:]], continue_last=continue_last)
            return rendered[start]

        # Where the kept history may start: the first turn, or a user turn (never a reply without its
        # question), keeping at least the last turn (two when continuing a reply). Fewer turns never
        # need more tokens, so the earliest start that fits is found by bisection: a 500-message chat
        # costs ~10 renders, not one per dropped turn (that took 30 s on these machines).
        keep = 2 if continue_last else 1
        last = max(0, len(turns) - keep)
        starts = [i for i in range(1, last + 1) if turns[i].get("role") == "user"]
        if not starts or starts[-1] != last:
            starts.append(last)
        dropped = 0
        tokens = tokens_from(0)
        if len(tokens) > limit and last > 0:
            low, high = -1, len(starts) - 1  # starts[high] is the last resort; -1 stands for 0
            if len(tokens_from(starts[high])) <= limit:
                while high - low > 1:
                    middle = (low + high) // 2
                    if len(tokens_from(starts[middle])) <= limit:
                        high = middle
                    else:
                        low = middle
            dropped = starts[high]
            tokens = tokens_from(dropped)
        if len(tokens) >= model.n_ctx - 8:
            raise GenerationError(
                f"The message is too long for this model's context ({len(tokens)} tokens; the context "
                f"holds {model.n_ctx}).",
                hint="Shorten the message or the system prompt, or raise the context length.",
            )
        return tokens, dropped

    def _render_tokens(self, messages: Sequence[Message], *, continue_last: bool = False) -> list[int]:
        """Render and tokenize, reading special tokens only in the template's own markup.

        A message (system prompt and a partial reply to continue included) that says `<end_of_turn>`
        gets the tokens of that text, never the control token: render_segments tells markup from
        message text. The text between two special tokens of the markup, message text included, is
        tokenized as one piece, exactly as llama.cpp splits a whole prompt, so an ordinary chat gets the
        very tokens it got when the whole prompt was tokenized with special parsing.
        """
        model = self._require_model()
        summary = model.summary
        partial = ""
        if continue_last:  # the template's generation prompt opens the model's turn; the text goes on it
            partial = str(messages[-1].get("content", ""))
            messages = messages[:-1]
        segments = render_segments(
            model.chat_format.template,
            messages,
            bos_token=summary.bos_token or "",
            eos_token=summary.eos_token or "",
            add_generation_prompt=True,
        )
        if partial:
            segments.append(Segment(partial, False))
        tokens = self._tokenize_segments(segments)
        llama_cpp = native.lib()
        vocab = self._llm._model.vocab
        bos = llama_cpp.llama_vocab_bos(vocab)
        if llama_cpp.llama_vocab_get_add_bos(vocab) and bos >= 0 and (not tokens or tokens[0] != bos):
            tokens.insert(0, bos)
        return tokens

    def _tokenize_segments(self, segments: Sequence[Segment]) -> list[int]:
        """Special tokens from the markup; every run of text between them tokenized without special
        parsing; whitespace next to an LSTRIP/RSTRIP special token dropped, as llama.cpp does."""
        pieces: list[str | int] = []
        for segment in segments:
            if segment.markup:
                pieces.extend(self._split_markup(segment.text))
            else:
                pieces.append(segment.text)
        tokens: list[int] = []
        run: list[str] = []
        strip_left = False  # the previous special token eats the whitespace after it

        def flush(strip_right: bool) -> None:
            text = "".join(run)
            run.clear()
            if strip_left:
                text = text.lstrip(_C_SPACE)
            if strip_right:
                text = text.rstrip(_C_SPACE)
            if text:
                tokens.extend(self.tokenize(text, add_bos=False, special=False))

        for piece in pieces:
            if isinstance(piece, str):
                run.append(piece)
                continue
            attributes = self._token(piece)[0]
            flush(strip_right=bool(attributes & _ATTR_LSTRIP))
            tokens.append(piece)
            strip_left = bool(attributes & _ATTR_RSTRIP)
        flush(strip_right=False)
        return tokens

    def _split_markup(self, text: str) -> list[str | int]:
        """Template markup as text pieces and special-token ids, where llama.cpp finds the specials.

        llama.cpp does the finding (the markup is tokenized with special parsing); the text between two
        specials is then cut out of `text` so that it can join the message text next to it. If the
        specials cannot be placed back in `text` (a vocabulary whose plain text yields a token we count
        as special), the markup's own tokens are used as they are: only boundaries can differ then.
        """
        cached = self._markup.get(text)
        if cached is not None:
            return cached
        tokens = self.tokenize(text, add_bos=False, special=True)
        pieces: list[str | int] = []
        position = 0
        for token in tokens:
            attributes, token_text = self._token(token)
            if not attributes & _ATTR_SPECIAL:
                continue
            found = text.find(token_text, position) if token_text else -1
            if found < 0:
                pieces = [*tokens]
                position = len(text)
                break
            pieces += [text[position:found], token]
            position = found + len(token_text)
        pieces.append(text[position:])
        pieces = [piece for piece in pieces if piece != ""]
        if len(self._markup) >= _MARKUP_CACHE_SIZE:
            self._markup.clear()
        self._markup[text] = pieces
        return pieces

    def _token(self, token: int) -> tuple[int, str]:
        """(llama_token_attr bits, text) of a token id, remembered per model."""
        info = self._token_info.get(token)
        if info is None:
            llama_cpp = native.lib()
            vocab = self._llm._model.vocab
            raw = llama_cpp.llama_vocab_get_text(vocab, token) or b""
            info = (int(llama_cpp.llama_vocab_get_attr(vocab, token)), raw.decode("utf-8", errors="replace"))
            self._token_info[token] = info
        return info

    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        continue_last: bool = False,
    ) -> Iterator[Event]:
        """Yield TextDelta events, then exactly one GenerationStats. With `continue_last`, the last
        (assistant) message is extended: the deltas are what comes after its text."""
        sampling = sampling or SamplingSettings()
        started = time.perf_counter()
        self._begin_request()
        model = self._require_model()
        reserve = min(sampling.max_tokens, model.n_ctx // 4)
        tokens, dropped = self.build_chat_prompt(messages, reserve, continue_last=continue_last)
        stops = (*sampling.stop, *model.chat_format.stop_strings)
        yield from self._stream(tokens, sampling, stops, started=started, dropped=dropped, reasoning=True)

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
        self._begin_request()
        tokens = self.tokenize(prompt, add_bos=True) if isinstance(prompt, str) else list(prompt)
        yield from self._stream(
            tokens,
            sampling,
            sampling.stop,
            started=started,
            ignore_eos=ignore_eos,
            token_times=token_times,
        )

    def _begin_request(self) -> None:
        self._require()
        self._cancel.clear()
        assert self._abort is not None
        self._abort.clear()

    def _reuse_prefix(self, tokens: list[int]) -> int:
        """Keep the KV cache for the longest common prefix; drop the rest. Returns tokens kept."""
        llama_cpp = native.lib()
        keep = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            keep += 1
        keep = max(0, min(keep, len(tokens) - 1))  # the last prompt token must be evaluated for its logits
        memory = llama_cpp.llama_get_memory(self._llm._ctx.ctx)
        if keep < len(self._cached) and not llama_cpp.llama_memory_seq_rm(memory, 0, keep, -1):
            # Some caches (recurrent, sliding-window) cannot drop a suffix: start over.
            llama_cpp.llama_memory_clear(memory, True)
            keep = 0
        del self._cached[keep:]
        return keep

    def _sync_cache_with_memory(self, chunk: Sequence[int] = ()) -> None:
        """After an abort or error, llama.cpp keeps the ubatches it finished, which may be part of
        `chunk` (one n_batch chunk is several ubatches): make our token list match its memory."""
        llama_cpp = native.lib()
        memory = llama_cpp.llama_get_memory(self._llm._ctx.ctx)
        in_memory = max(llama_cpp.llama_memory_seq_pos_max(memory, 0) + 1, 0)
        if in_memory <= len(self._cached):
            del self._cached[in_memory:]
            return
        extra = in_memory - len(self._cached)
        if extra <= len(chunk):
            self._cached.extend(chunk[:extra])
        elif not llama_cpp.llama_memory_seq_rm(memory, 0, len(self._cached), -1):
            llama_cpp.llama_memory_clear(memory, True)
            self._cached.clear()

    def _stream(
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
        llm = self._require()
        model = self._require_model()
        assert self._tokens is not None and self._abort is not None
        llama_cpp = native.lib()
        ctx = llm._ctx.ctx
        vocab = llm._model.vocab
        n_ctx = model.n_ctx
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
        batch_size = self._tokens.capacity

        # Prefill, in n_batch chunks; the abort flag is polled inside llama_decode too.
        for start in range(0, len(pending), batch_size):
            if self._cancel.is_set():
                reason = "cancelled"
                break
            chunk = pending[start : start + batch_size]
            rc = llama_cpp.llama_decode(ctx, self._tokens.batch(chunk))
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
            self._cached.extend(chunk)
        prefill_end = time.perf_counter()
        evaluated = len(pending)
        if reason == "cancelled":
            evaluated = max(len(self._cached) - cached, 0)
            yield self._stats(
                tokens=tokens, cached=cached, evaluated=evaluated, completion=0, sampled=0,
                started=started, prefill_end=prefill_end, end=prefill_end, reason=reason, dropped=dropped,
            )  # fmt: skip
            return

        seed = sampling.seed if sampling.seed is not None else random.randrange(2**32)
        sampler = native.build_sampler(vocab, sampling, seed)
        pieces = native.PieceDecoder(vocab)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stop_buffer = StopBuffer(tuple(stops))
        splitter = ReasoningSplitter() if reasoning else None
        sample = llama_cpp.llama_sampler_sample
        decode = llama_cpp.llama_decode
        is_eog = llama_cpp.llama_vocab_is_eog
        completion = 0
        sampled = 0
        first_token_at = 0.0
        try:
            while True:
                if self._cancel.is_set():
                    reason = "cancelled"
                    break
                token = sample(sampler, ctx, -1)
                sampled += 1
                if sampled == 1:
                    first_token_at = time.perf_counter()
                if token_times is not None:
                    token_times.append(time.perf_counter())
                if not ignore_eos and is_eog(vocab, token):
                    reason = "eos"
                    break
                completion += 1
                text = utf8.decode(pieces.piece(token))
                if text:
                    shown = stop_buffer.push(text)
                    if shown:
                        yield from _deltas(shown, splitter)
                    if stop_buffer.hit is not None:
                        reason = "stop_string"
                        break
                if completion >= sampling.max_tokens:
                    reason = "max_tokens"
                    break
                if len(self._cached) + 1 >= n_ctx:
                    reason = "context_full"
                    break
                rc = decode(ctx, self._tokens.single(token))
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
                self._cached.append(token)
        finally:
            llama_cpp.llama_sampler_free(sampler)
        tail = utf8.decode(b"", final=True)
        tail = stop_buffer.push(tail) + stop_buffer.flush() if tail else stop_buffer.flush()
        if tail:
            yield from _deltas(tail, splitter)
        if splitter is not None:
            yield from (TextDelta(text, kind) for kind, text in splitter.flush() if text)
        self._sync_cache_with_memory()
        end = time.perf_counter()
        stats = self._stats(
            tokens=tokens, cached=cached, evaluated=evaluated, completion=completion, sampled=sampled,
            started=started, prefill_end=prefill_end, end=end, reason=reason, dropped=dropped,
            first_token_at=first_token_at,
        )  # fmt: skip
        if stop_buffer.hit is not None:
            stats = GenerationStats(**{**stats.to_dict(), "stop_string": stop_buffer.hit})
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
        prefill_s = prefill_end - started
        gen_s = end - prefill_end
        model = self._require_model()
        return GenerationStats(
            prompt_tokens=len(tokens),
            cached_tokens=cached,
            evaluated_tokens=evaluated,
            completion_tokens=completion,
            ttft_s=(first_token_at - started) if first_token_at else 0.0,
            prefill_tps=evaluated / prefill_s if evaluated and prefill_s > 0 else 0.0,
            generation_tps=sampled / gen_s if sampled and gen_s > 0 else 0.0,
            stop_reason=reason,
            dropped_messages=dropped,
            n_ctx=model.n_ctx,
            context_used=len(self._cached),
            total_s=end - started,
        )

    def native_handles(self) -> tuple[Any, Any, native.TokenBuffer]:
        """(llama_context*, llama_vocab*, token buffer) for the benchmark's raw reference loop."""
        llm = self._require()
        assert self._tokens is not None
        return llm._ctx.ctx, llm._model.vocab, self._tokens

    def _require(self) -> Any:
        if self._llm is None:
            raise GenerationError("No model is loaded.", hint="Load a model first.")
        return self._llm

    def _require_model(self) -> LoadedModel:
        if self._model is None:
            raise GenerationError("No model is loaded.", hint="Load a model first.")
        return self._model


def _deltas(text: str, splitter: ReasoningSplitter | None) -> Iterator[TextDelta]:
    if splitter is None:
        yield TextDelta(text)
        return
    for kind, part in splitter.feed(text):
        if part:
            yield TextDelta(part, kind)
