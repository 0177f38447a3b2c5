"""Saved KV state (instant reopen): restored state gives what state kept in memory gives, a state saved
under other conditions is never used, damaged files are discarded, and the disk cap holds."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from desktop_app.core.engine import Engine, GenerationStats, TextDelta
from desktop_app.core.engine.events import Message
from desktop_app.core.engine.state_cache import SUFFIX, TMP_SUFFIX, Snapshot, StateCache
from desktop_app.core.generation import LoadSettings, SamplingSettings

GREEDY = SamplingSettings(temperature=0.0, max_tokens=12, seed=1)


def _turn(engine: Engine, messages: list[Message], tag: str | None) -> tuple[str, GenerationStats]:
    text: list[str] = []
    stats = None
    for event in engine.stream_chat(messages, GREEDY, state_tag=tag):
        if isinstance(event, TextDelta):
            text.append(event.text)
        else:
            stats = event
    assert stats is not None
    return "".join(text), stats


def _m(role: str, content: str) -> Message:
    return {"role": role, "content": content}


def _history(turns: int) -> list[Message]:
    messages: list[Message] = [_m("system", "You answer briefly and plainly.")]
    for i in range(turns):
        messages.append(_m("user", f"Question {i}: what is a hearth, and why does number {i} matter?"))
        messages.append(_m("assistant", f"A hearth is the floor of a fireplace; {i} is just a count."))
    messages.append(_m("user", "Tell me one more thing about fires."))
    return messages


def _engine(folder: Path, model: Path, settings: LoadSettings) -> tuple[Engine, StateCache]:
    cache = StateCache(folder)
    engine = Engine(state_cache=cache)
    engine.load(model, settings)
    return engine, cache


@pytest.mark.slow
def test_a_restored_state_gives_the_reply_that_state_kept_in_memory_gives(
    tmp_path: Path, gemma_path: Path
) -> None:
    settings = LoadSettings(n_ctx=2048, n_threads=2)
    history = _history(12)
    first, cache = _engine(tmp_path / "kv", gemma_path, settings)
    try:
        reply, stats = _turn(first, history, "chat1")
        assert stats.restored_tokens == 0
        cache.flush()
        assert len(list((tmp_path / "kv").glob(f"chat1-*{SUFFIX}"))) == 1
        follow_up = [*history, _m("assistant", reply), _m("user", "And why is that?")]
        in_memory, warm = _turn(first, follow_up, None)  # the KV this process kept
        assert warm.cached_tokens > 0 and warm.restored_tokens == 0
    finally:
        first.unload()

    second, _ = _engine(tmp_path / "kv", gemma_path, settings)  # a new engine: nothing in memory
    try:
        restored, reopened = _turn(second, follow_up, None)
    finally:
        second.unload()
    assert reopened.restored_tokens > 0
    assert reopened.cached_tokens == warm.cached_tokens
    assert reopened.evaluated_tokens == warm.evaluated_tokens
    assert restored == in_memory


def test_switching_chats_restores_each_from_memory(tmp_path: Path, tiny_gguf: Callable[..., Path]) -> None:
    engine, cache = _engine(tmp_path / "kv", tiny_gguf(), LoadSettings(n_ctx=512, n_threads=1))
    try:
        a = _history(3)
        b = [_m("user", "Something else entirely, with other words in it.")]
        reply_a, _ = _turn(engine, a, "a")
        _turn(engine, b, "b")  # the KV now holds chat b
        cache.flush()
        for path in (tmp_path / "kv").iterdir():
            path.unlink()  # so a restore can only come from memory
        _, stats = _turn(engine, [*a, _m("assistant", reply_a), _m("user", "more")], "a")
        assert stats.restored_tokens > 0
        assert stats.cached_tokens >= stats.restored_tokens
    finally:
        engine.unload()
        cache.flush()


def _saved(tmp_path: Path, model: Path, settings: LoadSettings) -> list[Message]:
    engine, cache = _engine(tmp_path / "kv", model, settings)
    messages = _history(3)
    try:
        reply, _ = _turn(engine, messages, "chat")
        cache.flush()
    finally:
        engine.unload()
    return [*messages, _m("assistant", reply), _m("user", "next")]


def _restored(tmp_path: Path, model: Path, settings: LoadSettings, messages: list[Message]) -> int:
    engine, _ = _engine(tmp_path / "kv", model, settings)
    try:
        text, stats = _turn(engine, messages, None)
    finally:
        engine.unload()
    assert stats.completion_tokens > 0 or text == ""
    return stats.restored_tokens


def test_a_state_saved_under_other_conditions_is_never_used(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    model = tiny_gguf()
    base = LoadSettings(n_ctx=512, n_threads=1)
    follow_up = _saved(tmp_path, model, base)
    assert _restored(tmp_path, model, LoadSettings(n_ctx=1024, n_threads=1), follow_up) == 0
    flash = LoadSettings(n_ctx=512, n_threads=1, flash_attention=True)
    assert _restored(tmp_path, model, flash, follow_up) == 0
    assert _restored(tmp_path, tiny_gguf(), base, follow_up) == 0  # another model file
    assert _restored(tmp_path, model, LoadSettings(n_ctx=512, n_threads=2), follow_up) > 0  # threads: same KV


def test_a_state_saved_with_another_kv_type_is_never_used(tmp_path: Path, gemma_path: Path) -> None:
    """On Gemma: the tiny model's heads are too small for llama.cpp's quantized V cache."""
    f16 = LoadSettings(n_ctx=512, n_threads=2, flash_attention=True)  # a quantized V cache needs it
    follow_up = _saved(tmp_path, gemma_path, f16)
    q8 = LoadSettings(n_ctx=512, n_threads=2, flash_attention=True, kv_cache_type="q8_0")
    assert _restored(tmp_path, gemma_path, q8, follow_up) == 0
    assert _restored(tmp_path, gemma_path, f16, follow_up) > 0  # the same settings: used


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_a_damaged_state_file_is_discarded(
    tmp_path: Path, tiny_gguf: Callable[..., Path], damage: str
) -> None:
    model = tiny_gguf()
    settings = LoadSettings(n_ctx=512, n_threads=1)
    follow_up = _saved(tmp_path, model, settings)
    (path,) = (tmp_path / "kv").glob(f"*{SUFFIX}")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-100] ^= 0x40  # inside the payload
    elif damage == "truncate":
        del data[-1000:]
    else:
        data += b"\0" * 16
    path.write_bytes(bytes(data))
    assert _restored(tmp_path, model, settings, follow_up) == 0
    assert not path.exists()


def test_the_cap_evicts_the_least_recently_used(tmp_path: Path) -> None:
    payload = bytearray(os.urandom(40_000))
    cache = StateCache(tmp_path, cap_bytes=100_000)
    for tag in ("old", "middle", "new"):
        cache.remember(Snapshot("k" * 64, tuple(range(100)), bytearray(payload), tag))
        cache.flush()
        time.sleep(0.01)  # distinct modification times
    names = sorted(p.name.split("-")[0] for p in tmp_path.glob(f"*{SUFFIX}"))
    assert names == ["middle", "new"]
    assert cache.disk_usage() <= 100_000


def test_forgetting_a_chat_deletes_its_states(tmp_path: Path) -> None:
    cache = StateCache(tmp_path)
    for tag in ("keep", "gone"):
        cache.remember(Snapshot("k" * 64, (1, 2, 3), bytearray(b"x" * 100), tag))
    cache.forget("gone")  # before its save was written: the save is void
    cache.flush()
    assert [p.name.split("-")[0] for p in tmp_path.glob(f"*{SUFFIX}")] == ["keep"]
    assert cache.best("k" * 64, (1, 2, 3, 4)) is not None  # the kept chat's state, from memory
    assert cache.clear() > 0
    assert cache.best("k" * 64, (1, 2, 3, 4)) is None and cache.disk_usage() == 0


def _save_forever(folder: str) -> None:
    cache = StateCache(Path(folder), cap_bytes=10**10)
    payload = bytearray(300 * 1024 * 1024)
    while True:  # killed mid-write by the test
        cache.remember(Snapshot("k" * 64, tuple(range(10)), payload, "killed"))
        cache.flush()


@pytest.mark.slow
def test_a_kill_during_a_save_leaves_nothing_that_is_used(tmp_path: Path) -> None:
    folder = tmp_path / "kv"
    child = multiprocessing.get_context("spawn").Process(target=_save_forever, args=(str(folder),))
    child.start()
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(f"*{TMP_SUFFIX}")):
            assert time.monotonic() < deadline and child.is_alive()
            time.sleep(0.005)
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    cache = StateCache(folder)
    for path in folder.glob(f"*{SUFFIX}"):  # a save that completed before the kill is whole and usable
        loaded = cache.best("k" * 64, tuple(range(10)))
        assert loaded is not None and cache.load(loaded[1]) is not None, path
    leftovers = list(folder.glob(f"*{TMP_SUFFIX}"))
    assert leftovers  # the half-written file is there, and was never offered above


@pytest.mark.slow
@pytest.mark.timeout(900)  # 600 generated tokens: ~25 s on a quiet 2-core machine, minutes on a busy one
def test_regenerating_after_a_reply_longer_than_the_window_starts_from_the_prefill_checkpoint(
    gemma_path: Path,
) -> None:
    """Gemma 3's sliding-window layers keep their window (plus one batch) of keys: after a reply longer
    than that, the prompt's own keys are gone, and a regenerate would read the whole history again."""
    engine = Engine()  # no folder: checkpoints are host copies
    # A small batch makes the window's cache small (window + one batch), so a short reply outruns it.
    engine.load(gemma_path, LoadSettings(n_ctx=2048, n_batch=64, n_threads=2))
    eos = [engine.tokenize(t, add_bos=False, special=True)[0] for t in ("<eos>", "<end_of_turn>")]
    long_reply = SamplingSettings(
        temperature=0.0, max_tokens=300, seed=1, logit_bias=tuple((t, -100.0) for t in eos)
    )
    messages = _history(14)  # ~640 tokens
    try:
        first = _turn_with(engine, messages, long_reply)
        again = _turn_with(engine, messages, long_reply)  # Regenerate: the same prompt
    finally:
        engine.unload()
    assert first[1].prompt_tokens > 512, first[1]
    assert first[1].completion_tokens == 300, first[1]  # past the window's cache (512 + 64, padded)
    assert again[1].restored_tokens > 0
    assert again[1].evaluated_tokens <= 1  # only the last prompt token, for its logits
    assert again[1].completion_tokens == 300
    # Not the first reply's text token for token: the first computed the last prompt token inside a
    # batch, the regenerate alone, and the kernels differ with the batch size (as in any regenerate).


def _turn_with(
    engine: Engine, messages: list[Message], sampling: SamplingSettings
) -> tuple[str, GenerationStats]:
    text: list[str] = []
    stats = None
    for event in engine.stream_chat(messages, sampling):
        if isinstance(event, TextDelta):
            text.append(event.text)
        else:
            stats = event
    assert stats is not None
    return "".join(text), stats
