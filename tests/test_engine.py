"""The inference engine against real llama.cpp: determinism, stopping, cancelling, KV reuse, errors.

Gemma tests share one engine per module (`gemma` fixture). Everything is asserted through the engine's
own counters (GenerationStats, `cached_tokens`) and the text it streams, never through wall-clock
thresholds. Test engines run llama.cpp on one thread: on this 2-core machine, while other jobs ran,
2-thread generation fell from ~48 to ~0.6 tok/s at times (llama.cpp's pool spins at its barriers),
while one thread stayed at ~29 tok/s.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.engine import Engine, Event, GenerationStats, TextDelta, native
from desktop_app.core.errors import (
    GenerationError,
    InsufficientMemoryError,
    LoadCancelledError,
    ModelFileError,
    ModelLoadError,
    SettingsError,
)
from desktop_app.core.generation import LoadSettings, SamplingSettings

N_BATCH = 64  # small prefill chunks: a cancelled prefill keeps a useful, predictable prefix
GREEDY = SamplingSettings(temperature=0.0, max_tokens=24)
STORY = "Once upon a time, in a small village by the sea, there lived an old lighthouse keeper who"
LONG_PARAGRAPH = (
    "The history of the hearth is the history of the home. For most of human history, the fire at the "
    "centre of the dwelling was where food was cooked, where people gathered for warmth, and where "
    "stories were told late into the night. "
)

# ---------------------------------------------------------------------------------------- helpers


def collect(events: Iterable[Event]) -> tuple[str, GenerationStats]:
    """Join the answer text; check the stream's shape: deltas, then exactly one stats event last."""
    parts: list[str] = []
    stats: list[GenerationStats] = []
    for event in events:
        assert not stats, "an event came after the GenerationStats"
        if isinstance(event, TextDelta):
            assert event.text, "empty TextDelta"
            if event.kind == "answer":
                parts.append(event.text)
        else:
            assert isinstance(event, GenerationStats)
            stats.append(event)
    assert len(stats) == 1
    return "".join(parts), stats[0]


def complete(
    engine: Engine, prompt: str | list[int], sampling: SamplingSettings = GREEDY, *, ignore_eos: bool = False
) -> tuple[str, GenerationStats]:
    return collect(engine.stream_completion(prompt, sampling, ignore_eos=ignore_eos))


def one_thread(**settings: Any) -> LoadSettings:
    return LoadSettings(n_threads=1, n_threads_batch=1, **settings)


def loaded_name(engine: Engine) -> str | None:
    return engine.model.summary.path.name if engine.model is not None else None


def long_prompt(engine: Engine, n_tokens: int) -> list[int]:
    text = LONG_PARAGRAPH
    while len(engine.tokenize(text)) < n_tokens:
        text += LONG_PARAGRAPH
    return engine.tokenize(text)[:n_tokens]


def kv_positions(engine: Engine) -> int:
    """How many positions of sequence 0 llama.cpp itself holds in its KV cache (not our bookkeeping)."""
    llama_cpp = native.lib()
    ctx, _, _ = engine.native_handles()
    return int(llama_cpp.llama_memory_seq_pos_max(llama_cpp.llama_get_memory(ctx), 0)) + 1


def greedy_token_ids(engine: Engine, prompt: list[int], n: int) -> list[int]:
    """The first `n` tokens plain greedy decoding (no penalties) picks, read with llama.cpp's own API."""
    llama_cpp = native.lib()
    ctx, vocab, buffer = engine.native_handles()
    engine.reset_cache()
    sampler = native.build_sampler(vocab, SamplingSettings(temperature=0.0, repeat_penalty=1.0), 0)
    ids: list[int] = []
    try:
        assert llama_cpp.llama_decode(ctx, buffer.batch(prompt)) == native.DECODE_OK
        while len(ids) < n:
            token = int(llama_cpp.llama_sampler_sample(sampler, ctx, -1))
            ids.append(token)
            assert llama_cpp.llama_decode(ctx, buffer.single(token)) == native.DECODE_OK
    finally:
        llama_cpp.llama_sampler_free(sampler)
        engine.reset_cache()
    return ids


@contextmanager
def cancel_when(engine: Engine, condition: Callable[[], bool], timeout_s: float = 60.0) -> Iterator[None]:
    """While inside, a helper thread calls engine.cancel() once `condition()` holds (or at the timeout)."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            if done.wait(0.002):
                return
        engine.cancel()

    thread = threading.Thread(target=watch, name="test-canceller")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(gemma_path, one_thread(n_ctx=4096, n_batch=N_BATCH))
    yield engine
    engine.unload()


@pytest.fixture
def tiny_engine(tiny_gguf: Callable[..., Path]) -> Iterator[Engine]:
    engine = Engine()
    engine.load(tiny_gguf(), one_thread())
    yield engine
    engine.unload()


# ------------------------------------------------------------------------------------ determinism


@pytest.mark.gemma
def test_greedy_output_is_identical_cold_and_warm(gemma: Engine) -> None:
    gemma.reset_cache()
    first, s1 = complete(gemma, STORY)
    gemma.reset_cache()
    second, s2 = complete(gemma, STORY)
    assert s1.completion_tokens == s2.completion_tokens == 24
    assert s1.cached_tokens == s2.cached_tokens == 0
    assert first and first == second
    # same request with the cache warm: only the last prompt token is evaluated, same text
    third, s3 = complete(gemma, STORY)
    assert s3.cached_tokens == s3.prompt_tokens - 1
    assert s3.evaluated_tokens == 1
    assert third == first


@pytest.mark.gemma
def test_seeded_sampling_is_reproducible_and_seeds_differ(gemma: Engine) -> None:
    sampled = SamplingSettings(temperature=1.0, seed=1234, max_tokens=24)
    gemma.reset_cache()
    first, s1 = complete(gemma, STORY, sampled)
    gemma.reset_cache()
    second, _ = complete(gemma, STORY, sampled)
    warm, s3 = complete(gemma, STORY, sampled)
    assert s3.cached_tokens > 0
    assert first == second == warm
    assert s1.completion_tokens > 8
    other, _ = complete(gemma, STORY, SamplingSettings(temperature=1.0, seed=4321, max_tokens=24))
    assert other != first


# --------------------------------------------------------------------------------------- stopping


@pytest.mark.gemma
@pytest.mark.parametrize("n", [1, 7])
def test_max_tokens_gives_exactly_that_many_tokens(gemma: Engine, n: int) -> None:
    text, stats = complete(gemma, "1, 2, 3, 4, 5,", SamplingSettings(temperature=0.0, max_tokens=n))
    assert stats.stop_reason == "max_tokens"
    assert stats.completion_tokens == n
    assert text
    assert stats.prompt_tokens <= stats.context_used <= stats.prompt_tokens + n


@pytest.fixture(scope="module")
def greedy_story(gemma: Engine) -> tuple[str, GenerationStats]:
    """48 greedy tokens of STORY, without stop strings: what the stop-string runs are compared with."""
    return complete(gemma, STORY, SamplingSettings(temperature=0.0, max_tokens=48))


@pytest.mark.gemma
@pytest.mark.parametrize("kind", ["word", "mid-token"])
def test_stop_string_ends_the_text_before_it(
    gemma: Engine, greedy_story: tuple[str, GenerationStats], kind: str
) -> None:
    full, base = greedy_story
    assert base.stop_reason == "max_tokens"
    if kind == "word":
        # a word whose first occurrence is past the first third of the text
        words = [w for w in re.findall(r"[A-Za-z]{4,}", full) if full.index(w) > len(full) // 3]
        assert words, full
        stop = words[0]
    else:
        # an arbitrary 7-character slice starting in the middle: it usually cuts tokens in two
        start = len(full) // 2
        stop = full[start : start + 7]
    cut = full.index(stop)
    text, stats = complete(gemma, STORY, SamplingSettings(temperature=0.0, max_tokens=48, stop=(stop,)))
    assert stats.stop_reason == "stop_string"
    assert stats.stop_string == stop
    assert stop not in text
    assert text == full[:cut]
    assert stats.completion_tokens < base.completion_tokens


def test_eos_ends_generation(tiny_gguf: Callable[..., Path]) -> None:
    """Make the greedy model's own next token the EOS token: generation must end right there."""
    probe = Engine()
    probe.load(tiny_gguf("probe.gguf"), one_thread())
    try:
        prompt = probe.tokenize("once upon a time the model")
        first, second, third = greedy_token_ids(probe, prompt, 3)
    finally:
        probe.unload()
    assert first != 2, "the random model already ends with the default EOS; change the prompt"
    no_penalty = SamplingSettings(temperature=0.0, repeat_penalty=1.0, max_tokens=16)

    engine = Engine()
    engine.load(
        tiny_gguf("eos-first.gguf", extra_kv={"tokenizer.ggml.eos_token_id": first}),
        one_thread(),
    )
    try:
        text, stats = complete(engine, prompt, no_penalty)
        assert stats.stop_reason == "eos"
        assert stats.completion_tokens == 0
        assert text == ""
        # ignore_eos (the benchmark's mode) runs on to max_tokens instead
        _, stats = complete(engine, prompt, no_penalty, ignore_eos=True)
        assert stats.stop_reason == "max_tokens"
        assert stats.completion_tokens == 16
    finally:
        engine.unload()

    if third in (first, second):
        return
    engine = Engine()
    engine.load(
        tiny_gguf("eos-third.gguf", extra_kv={"tokenizer.ggml.eos_token_id": third}),
        one_thread(),
    )
    try:
        text, stats = complete(engine, prompt, no_penalty)
        assert stats.stop_reason == "eos"
        assert stats.completion_tokens == 2  # the EOS token itself is not part of the reply
        assert text == engine.detokenize([first, second])
    finally:
        engine.unload()


def test_context_full_stops_generation_and_an_oversized_prompt_is_refused(
    tiny_gguf: Callable[..., Path],
) -> None:
    engine = Engine()
    engine.load(tiny_gguf(), one_thread(n_ctx=256))
    try:
        prompt = long_prompt(engine, 200)
        _, stats = complete(
            engine, prompt, SamplingSettings(temperature=0.0, max_tokens=500), ignore_eos=True
        )
        assert stats.stop_reason == "context_full"
        assert stats.n_ctx == 256
        assert stats.completion_tokens == 256 - 200  # every free position used, the last token unsent
        assert stats.context_used < 256

        with pytest.raises(GenerationError, match="does not fit"):
            complete(engine, long_prompt(engine, 256))
        # the engine still works after both
        short = SamplingSettings(temperature=0.0, max_tokens=3)
        _, stats = complete(engine, prompt[:10], short, ignore_eos=True)
        assert stats.completion_tokens == 3
    finally:
        engine.unload()


# ------------------------------------------------------------------------------------- cancelling


@pytest.mark.gemma
def test_cancel_during_a_long_prefill_keeps_the_evaluated_prefix(gemma: Engine) -> None:
    prompt = long_prompt(gemma, 3000)
    gemma.reset_cache()
    timer = threading.Timer(0.3, gemma.cancel)
    timer.start()
    try:
        text, stats = complete(gemma, prompt, SamplingSettings(temperature=0.0, max_tokens=8))
    finally:
        timer.cancel()
        timer.join()
    assert stats.stop_reason == "cancelled"
    assert stats.prompt_tokens == 3000
    assert stats.cached_tokens == 0
    assert stats.evaluated_tokens < stats.prompt_tokens
    assert stats.completion_tokens == 0
    assert text == ""
    assert gemma.cached_tokens == stats.evaluated_tokens == kv_positions(gemma)

    # the next request works, and reuses what the cancelled prefill had already computed
    follow_up = prompt[: stats.evaluated_tokens + 16]
    _, after = complete(gemma, follow_up, SamplingSettings(temperature=0.0, max_tokens=4))
    assert after.stop_reason == "max_tokens"
    assert after.completion_tokens == 4
    assert after.cached_tokens == stats.evaluated_tokens
    assert after.evaluated_tokens == 16


@pytest.mark.gemma
def test_cancel_after_some_prefill_chunks(gemma: Engine) -> None:
    """Cancel once 3 chunks are in: the kept prefix is whole chunks, and the next request reuses it."""
    prompt = long_prompt(gemma, 3000)
    gemma.reset_cache()
    with cancel_when(gemma, lambda: gemma.cached_tokens >= 3 * N_BATCH):
        _, stats = complete(gemma, prompt, SamplingSettings(temperature=0.0, max_tokens=8))
    assert stats.stop_reason == "cancelled"
    assert 3 * N_BATCH <= stats.evaluated_tokens < stats.prompt_tokens
    assert stats.evaluated_tokens % N_BATCH == 0  # an interrupted chunk is dropped whole
    assert stats.completion_tokens == 0
    assert gemma.cached_tokens == stats.evaluated_tokens == kv_positions(gemma)

    # a prompt that shares only part of the kept prefix reuses exactly that part
    shared = stats.evaluated_tokens - 10
    follow_up = [*prompt[:shared], *gemma.tokenize(" Now something else entirely.", add_bos=False)]
    _, after = complete(gemma, follow_up, SamplingSettings(temperature=0.0, max_tokens=2))
    assert after.stop_reason == "max_tokens"
    assert after.cached_tokens == shared
    assert after.evaluated_tokens == after.prompt_tokens - shared


@pytest.mark.gemma
def test_cancel_during_generation_then_the_next_request_works(gemma: Engine) -> None:
    events = gemma.stream_completion(STORY, SamplingSettings(temperature=0.0, max_tokens=200))
    deltas = 0
    stats: GenerationStats | None = None
    for event in events:
        if isinstance(event, TextDelta):
            deltas += 1
            if deltas == 3:
                canceller = threading.Thread(target=gemma.cancel)
                canceller.start()
                canceller.join()
        else:
            stats = event
    assert stats is not None
    assert stats.stop_reason == "cancelled"
    assert deltas >= 3
    assert 0 < stats.completion_tokens < 200
    assert gemma.cached_tokens == kv_positions(gemma)

    _, again = complete(gemma, STORY, SamplingSettings(temperature=0.0, max_tokens=5))
    assert again.stop_reason == "max_tokens"
    assert again.completion_tokens == 5


@pytest.mark.gemma
def test_a_cancel_while_idle_does_not_abort_the_next_request(gemma: Engine) -> None:
    gemma.cancel()
    gemma.cancel()
    text, stats = complete(gemma, "1, 2, 3, 4, 5,", SamplingSettings(temperature=0.0, max_tokens=6))
    assert stats.stop_reason == "max_tokens"
    assert stats.completion_tokens == 6
    assert text
    # the same holds with a fresh prompt whose prefill goes through llama_decode's abort check
    gemma.cancel()
    _, stats = complete(gemma, "The river", SamplingSettings(temperature=0.0, max_tokens=3))
    assert stats.stop_reason == "max_tokens"
    assert stats.evaluated_tokens > 0


# ------------------------------------------------------------------------------------- KV reuse


@pytest.mark.gemma
def test_second_chat_turn_only_evaluates_the_new_tokens(gemma: Engine) -> None:
    gemma.reset_cache()
    turn1 = [
        {"role": "system", "content": "You are a storyteller. Answer in plain sentences."},
        {"role": "user", "content": LONG_PARAGRAPH * 2 + "Tell me more about the hearth."},
    ]
    reply, s1 = collect(gemma.stream_chat(turn1, SamplingSettings(temperature=0.0, max_tokens=16)))
    assert s1.cached_tokens == 0
    assert s1.evaluated_tokens == s1.prompt_tokens

    turn2 = [*turn1, {"role": "assistant", "content": reply}, {"role": "user", "content": "Why?"}]
    _, s2 = collect(gemma.stream_chat(turn2, SamplingSettings(temperature=0.0, max_tokens=4)))
    assert s2.cached_tokens > 0
    assert s2.evaluated_tokens == s2.prompt_tokens - s2.cached_tokens
    # the whole first prompt is reused: only the reply and the new user turn are computed
    assert s2.cached_tokens >= s1.prompt_tokens
    assert s2.evaluated_tokens <= s2.prompt_tokens - s1.prompt_tokens
    assert s2.evaluated_tokens * 4 < s2.prompt_tokens

    # the identical request again: everything but the last prompt token comes from the cache
    _, s3 = collect(gemma.stream_chat(turn2, SamplingSettings(temperature=0.0, max_tokens=4)))
    assert s3.prompt_tokens == s2.prompt_tokens
    assert s3.evaluated_tokens == 1
    assert s3.cached_tokens == s3.prompt_tokens - 1


@pytest.mark.gemma
def test_history_overflow_drops_old_turns_but_keeps_the_system_prompt(gemma_path: Path) -> None:
    engine = Engine()
    engine.load(gemma_path, one_thread(n_ctx=512))
    try:
        system = "You are Hearth. The secret word is PINECONE."
        messages = [{"role": "system", "content": system}]
        for i in range(12):
            messages.append({"role": "user", "content": f"Question {i}: " + LONG_PARAGRAPH})
            messages.append({"role": "assistant", "content": f"Answer {i}: " + LONG_PARAGRAPH})
        messages.append({"role": "user", "content": "Final question: what is the secret word?"})

        tokens, dropped = engine.build_chat_prompt(messages, 64)
        assert dropped > 0
        assert dropped % 2 == 0  # whole user/assistant exchanges go
        assert len(tokens) <= 512 - 64
        prompt = engine.detokenize(tokens)
        assert "PINECONE" in prompt
        assert "Final question" in prompt
        assert "Question 0:" not in prompt
        assert "Answer 11:" in prompt  # the newest exchanges are kept

        # through stream_chat: the stats report the same drop (cancel at once: only the stats matter)
        events = engine.stream_chat(messages, SamplingSettings(temperature=0.0, max_tokens=64))
        stats: GenerationStats | None = None
        for event in events:
            if isinstance(event, TextDelta):
                engine.cancel()
            else:
                stats = event
        assert stats is not None
        assert stats.dropped_messages == dropped
        assert stats.prompt_tokens == len(tokens)
        assert stats.n_ctx == 512

        # a single message longer than the whole context cannot be helped by dropping turns
        huge = [{"role": "system", "content": system}, {"role": "user", "content": LONG_PARAGRAPH * 40}]
        with pytest.raises(GenerationError, match=r"too long.*context") as info:
            collect(engine.stream_chat(huge, SamplingSettings(temperature=0.0, max_tokens=64)))
        assert "512" in info.value.message
        assert info.value.hint

        # and the engine still answers afterwards
        _, ok = collect(engine.stream_chat(messages[-1:], SamplingSettings(temperature=0.0, max_tokens=2)))
        assert ok.completion_tokens >= 1 or ok.stop_reason == "eos"
    finally:
        engine.unload()


# ---------------------------------------------------------------------------------- load errors


def test_corrupt_files_raise_model_file_error_and_the_engine_recovers(
    tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    good = tiny_gguf("good.gguf")
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(os.urandom(64 * 1024))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    engine = Engine()
    try:
        for bad in (garbage, truncated, tmp_path / "missing.gguf"):
            with pytest.raises(ModelFileError) as info:
                engine.load(bad)
            assert info.value.message
        assert loaded_name(engine) is None

        engine.load(good, one_thread())
        _, stats = complete(engine, "hello", SamplingSettings(temperature=0.0, max_tokens=3))
        assert stats.completion_tokens == 3

        # a bad file does not take down the model that is already loaded
        with pytest.raises(ModelFileError):
            engine.load(truncated)
        assert loaded_name(engine) == "good.gguf"
        _, stats = complete(engine, "hello", SamplingSettings(temperature=0.0, max_tokens=3))
        assert stats.completion_tokens == 3
    finally:
        engine.unload()


def test_insufficient_memory_is_reported_in_gigabytes(
    tiny_gguf: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("desktop_app.core.engine.loading.available_memory_bytes", lambda: 100_000_000)
    engine = Engine()
    with pytest.raises(InsufficientMemoryError) as info:
        engine.load(tiny_gguf(), LoadSettings(n_ctx=4096))
    assert isinstance(info.value, ModelLoadError)
    assert re.search(r"needs about \d+\.\d GB", info.value.message), info.value.message
    assert "0.1 GB is free" in info.value.message
    assert info.value.hint
    assert engine.model is None


def test_generation_without_a_model_raises(tiny_engine: Engine) -> None:
    tiny_engine.unload()
    tiny_engine.unload()  # twice is harmless
    with pytest.raises(GenerationError, match="No model is loaded"):
        complete(tiny_engine, "hello")
    with pytest.raises(GenerationError, match="No model is loaded"):
        collect(tiny_engine.stream_chat([{"role": "user", "content": "hi"}]))
    tiny_engine.cancel()  # harmless without a model


# ------------------------------------------------------------------------- tiny model, templates


def test_tiny_model_streams_with_the_builtin_fallback_template(tiny_engine: Engine) -> None:
    model = tiny_engine.model
    assert model is not None
    assert model.chat_format.source == "builtin"
    assert model.chat_format.family == "chatml"
    tokens, dropped = tiny_engine.build_chat_prompt([{"role": "user", "content": "hello"}], 16)
    assert dropped == 0
    assert "<|im_start|>user\nhello" in tiny_engine.detokenize(tokens)
    _, stats = collect(tiny_engine.stream_chat([{"role": "user", "content": "hello"}], GREEDY))
    assert stats.prompt_tokens == len(tokens)
    assert stats.stop_reason in {"max_tokens", "eos", "stop_string"}
    assert stats.completion_tokens > 0 or stats.stop_reason == "eos"


FILE_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)


def test_tiny_model_uses_the_template_in_its_file(tiny_gguf: Callable[..., Path]) -> None:
    engine = Engine()
    engine.load(tiny_gguf(chat_template=FILE_TEMPLATE), one_thread())
    try:
        assert engine.model is not None
        assert engine.model.chat_format.source == "file"
        assert engine.model.chat_format.template == FILE_TEMPLATE
        tokens, _ = engine.build_chat_prompt([{"role": "user", "content": "hello"}], 16)
        assert "[user] hello\n[assistant]" in engine.detokenize(tokens)
        _, stats = collect(engine.stream_chat([{"role": "user", "content": "hello"}], GREEDY))
        assert stats.prompt_tokens == len(tokens)
    finally:
        engine.unload()


def test_template_override_wins_over_the_file(tiny_gguf: Callable[..., Path]) -> None:
    engine = Engine()
    path = tiny_gguf(chat_template=FILE_TEMPLATE)
    engine.load(path, one_thread(), template_override="chatml")
    try:
        assert engine.model is not None
        assert engine.model.chat_format.source == "override"
        assert engine.model.chat_format.family == "chatml"
        tokens, _ = engine.build_chat_prompt([{"role": "user", "content": "hello"}], 16)
        prompt = engine.detokenize(tokens)
        assert "<|im_start|>user\nhello" in prompt
        assert "[user]" not in prompt
        _, stats = collect(engine.stream_chat([{"role": "user", "content": "hello"}], GREEDY))
        assert stats.completion_tokens > 0 or stats.stop_reason == "eos"
    finally:
        engine.unload()


# ------------------------------------------------------------------------ KV bookkeeping


def test_cancel_inside_a_multi_ubatch_chunk_keeps_the_kv_bookkeeping_exact(
    tiny_gguf: Callable[..., Path],
) -> None:
    """n_batch 1024 means one prefill chunk is two 512-token ubatches; abort during the second one."""
    engine = Engine()
    engine.load(tiny_gguf(), one_thread(n_ctx=2048, n_batch=1024))
    llama_cpp = native.lib()
    ctx, _, buffer = engine.native_handles()
    calls = [0]
    limit = [1 << 62]

    def on_node(_data: ctypes.c_void_p) -> bool:
        calls[0] += 1
        return calls[0] > limit[0]

    callback = llama_cpp.ggml_abort_callback(on_node)
    try:
        prompt = long_prompt(engine, 1024)
        # count the abort checks of one 512-token ubatch, then abort half-way through the second
        llama_cpp.llama_set_abort_callback(ctx, callback, None)
        engine.reset_cache()
        assert llama_cpp.llama_decode(ctx, buffer.batch(prompt[:512])) == native.DECODE_OK
        per_ubatch = calls[0]
        assert per_ubatch > 0
        engine.reset_cache()
        calls[0], limit[0] = 0, per_ubatch + per_ubatch // 2
        _, stats = complete(engine, prompt, SamplingSettings(temperature=0.0, max_tokens=4))
        assert stats.stop_reason == "cancelled"
        assert kv_positions(engine) == 512  # llama.cpp kept the first ubatch
        limit[0] = 1 << 62

        _, after = complete(engine, prompt[:600], SamplingSettings(temperature=0.0, max_tokens=4))
        assert after.stop_reason == "max_tokens"
        assert kv_positions(engine) == after.context_used == engine.cached_tokens
    finally:
        engine.unload()


EMPTY_PROMPT_PROBE = """
import sys
from desktop_app.core.engine import Engine
from desktop_app.core.errors import GenerationError
from desktop_app.core.generation import LoadSettings, SamplingSettings

engine = Engine()
engine.load(sys.argv[1], LoadSettings(n_threads=1, n_threads_batch=1))
for warm in (False, True):
    if warm:
        list(engine.stream_completion("hello", SamplingSettings(max_tokens=2)))
    try:
        events = list(engine.stream_completion([], SamplingSettings(max_tokens=2)))
    except GenerationError:
        print("refused", flush=True)
    else:
        print("answered", events[-1], flush=True)
"""


def test_an_empty_token_prompt_is_refused(tiny_gguf: Callable[..., Path]) -> None:
    """Run in a child process: before the fix this aborted the interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", EMPTY_PROMPT_PROBE, str(tiny_gguf())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-1500:])
    assert result.stdout.split() == ["refused", "refused"]


@pytest.mark.gemma
def test_long_history_keeps_the_most_that_fits_with_few_renders(gemma_path: Path, monkeypatch) -> None:
    """Bisection over where the history starts: the same result as dropping one exchange at a time,
    with a number of renders that grows with log(n), not n (a 500-message chat took 30 s before)."""
    engine = Engine()
    engine.load(gemma_path, one_thread(n_ctx=512))
    try:
        messages = [{"role": "system", "content": "Be brief."}]
        for i in range(60):
            messages.append({"role": "user", "content": f"Question {i}: " + LONG_PARAGRAPH[: 40 + i]})
            messages.append({"role": "assistant", "content": f"Answer {i}."})
        messages.append({"role": "user", "content": "Last question?"})
        renders: list[int] = []
        original = engine._render_tokens

        def counting(batch, **kwargs):
            renders.append(len(batch))
            return original(batch, **kwargs)

        monkeypatch.setattr(engine, "_render_tokens", counting)
        tokens, dropped = engine.build_chat_prompt(messages, 64)
        assert len(renders) <= 10  # 121 turns: 1 full render + the last resort + ~7 bisection steps
        assert len(tokens) <= 512 - 64 and dropped % 2 == 0
        # the reference: one exchange at a time, the first start that fits
        turns = messages[1:]
        for start in range(0, len(turns), 2):
            fits = len(original([messages[0], *turns[start:]])) <= 512 - 64
            if fits:
                break
        assert dropped == start
        # continuing a reply keeps the question and the partial reply together
        messages.append({"role": "assistant", "content": "Partial"})
        tokens, dropped = engine.build_chat_prompt(messages, 64, continue_last=True)
        assert engine.detokenize(tokens).rstrip().endswith("Partial") and dropped % 2 == 0
    finally:
        engine.unload()


@pytest.mark.gemma
def test_load_reports_llama_cpp_progress_and_leaves_the_library_as_it_was(gemma_path: Path) -> None:
    import llama_cpp.llama_cpp as raw

    original = raw.llama_model_default_params
    seen: list[float] = []
    engine = Engine()
    try:
        engine.load(gemma_path, one_thread(), progress=seen.append)
    finally:
        engine.unload()
    assert seen and seen[-1] == 1.0 and seen == sorted(seen) and all(0.0 <= v <= 1.0 for v in seen)
    assert raw.llama_model_default_params is original

    # a callback that raises is logged and never reaches C: the model still loads
    def broken(_fraction: float) -> None:
        raise RuntimeError("a bug in the progress bar")

    engine = Engine()
    try:
        engine.load(gemma_path, one_thread(), progress=broken)  # loads anyway
        assert engine.model is not None
    finally:
        engine.unload()
    assert raw.llama_model_default_params is original
    # returning False stops the load: a typed cancel, nothing loaded, and the engine still works
    engine = Engine()
    try:
        with pytest.raises(LoadCancelledError):
            engine.load(gemma_path, one_thread(), progress=lambda fraction: fraction < 0.5)
        assert engine.model is None
        assert raw.llama_model_default_params is original
        assert engine.load(gemma_path, one_thread()).n_ctx > 0
    finally:
        engine.unload()


@pytest.mark.gemma
def test_presence_and_frequency_penalties_reach_the_sampler(gemma_path: Path) -> None:
    """OpenAI's penalties (also what the API server passes on): a strong presence penalty stops the
    base model's loops, so greedy output changes; out-of-range values are refused."""
    engine = Engine()
    engine.load(gemma_path, one_thread(n_ctx=512))
    try:

        def greedy(frequency: float = 0.0, presence: float = 0.0) -> str:
            sampling = SamplingSettings(
                temperature=0.0, max_tokens=40, repeat_penalty=1.0, frequency_penalty=frequency,
                presence_penalty=presence,
            )  # fmt: skip
            return "".join(e.text for e in engine.stream_completion("one two one two one two", sampling)
                           if isinstance(e, TextDelta))  # fmt: skip

        plain = greedy()
        assert greedy() == plain  # greedy is deterministic: any difference comes from the penalty
        assert greedy(presence=2.0) != plain
        assert greedy(frequency=2.0) != plain
    finally:
        engine.unload()
    with pytest.raises(SettingsError):
        SamplingSettings(presence_penalty=2.5)
    with pytest.raises(SettingsError):
        SamplingSettings(frequency_penalty=-3.0)
