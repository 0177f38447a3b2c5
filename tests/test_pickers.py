"""The greedy fast path picks exactly what llama.cpp's sampler chain (penalties + greedy) picks: both
read the same logits row at every step of a real Gemma generation, and the token both chose is decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.engine import Engine, native
from desktop_app.core.engine.pickers import ChainPicker, GreedyPicker, build_picker
from desktop_app.core.generation import LoadSettings, SamplingSettings

#: repetitive on purpose: the repeat penalty then changes the winner at many steps
PROMPT = "one two three one two three one two three one two three one two"


@pytest.fixture(scope="module")
def engine(gemma_path: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(gemma_path, LoadSettings(n_ctx=1024, n_threads=2))
    yield engine
    engine.unload()


def lockstep(engine: Engine, settings: SamplingSettings, steps: int) -> tuple[list[int], int]:
    """Tokens picked by both at each step (asserted equal), and at how many steps the repeat penalty
    changed the winner (plain argmax would have taken another token)."""
    llama_cpp = native.lib()
    ctx, vocab, buffer = engine.native_handles()
    engine.reset_cache()
    fast = build_picker(vocab, settings, 0)
    chain = ChainPicker(native.build_sampler(vocab, settings, 0))
    assert isinstance(fast, GreedyPicker)
    plain = GreedyPicker(
        llama_cpp.llama_vocab_n_tokens(vocab), SamplingSettings(temperature=0.0, repeat_penalty=1.0)
    )
    picked: list[int] = []
    changed = 0
    try:
        assert llama_cpp.llama_decode(ctx, buffer.batch(engine.tokenize(PROMPT))) == 0
        for _ in range(steps):
            argmax = plain.sample(ctx, -1)
            token = fast.sample(ctx, -1)
            assert chain.sample(ctx, -1) == token, f"step {len(picked)}: {picked}"
            changed += token != argmax
            picked.append(token)
            assert llama_cpp.llama_decode(ctx, buffer.single(token)) == 0
    finally:
        chain.free()
        engine.reset_cache()
    return picked, changed


@pytest.mark.parametrize("penalty", [1.3, 1.1, 0.8])
def test_greedy_with_a_repeat_penalty_picks_what_the_chain_picks(engine: Engine, penalty: float) -> None:
    settings = SamplingSettings(temperature=0.0, repeat_penalty=penalty, repeat_last_n=16)
    picked, changed = lockstep(engine, settings, 48)
    assert len(picked) == 48
    if penalty > 1.0:
        assert changed > 0  # the penalty was exercised, not only the plain argmax


def test_plain_greedy_picks_what_the_chain_picks(engine: Engine) -> None:
    lockstep(engine, SamplingSettings(temperature=0.0, repeat_penalty=1.0), 32)


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(temperature=0.7),
        SamplingSettings(temperature=0.0, json_output=True),
        SamplingSettings(temperature=0.0, logit_bias=((5, 1.0),)),
        SamplingSettings(temperature=0.0, frequency_penalty=0.5),
        SamplingSettings(temperature=0.0, presence_penalty=0.5),
    ],
    ids=["temperature", "grammar", "bias", "frequency", "presence"],
)
def test_everything_else_goes_through_the_chain(engine: Engine, settings: SamplingSettings) -> None:
    _ctx, vocab, _buffer = engine.native_handles()
    picker = build_picker(vocab, settings, 0)
    try:
        assert isinstance(picker, ChainPicker)
    finally:
        picker.free()


def _row(engine: Engine) -> object:
    """The last output's logits row, writable: llama.cpp's own buffer, which both pickers read."""
    import ctypes

    import numpy as np

    llama_cpp = native.lib()
    ctx, vocab, _buffer = engine.native_handles()
    pointer = ctypes.cast(llama_cpp.llama_get_logits_ith(ctx, -1), ctypes.POINTER(ctypes.c_float))
    return np.ctypeslib.as_array(pointer, shape=(llama_cpp.llama_vocab_n_tokens(vocab),))


@pytest.mark.parametrize("penalty", [1.5, 0.5])
def test_crafted_rows_negative_logits_and_ties_pick_what_the_chain_picks(
    engine: Engine, penalty: float
) -> None:
    """Rows a model rarely gives, written into llama.cpp's logits buffer: every logit negative (the
    penalty multiplies instead of divides), exact ties (the lowest id wins), a penalized token that
    wins or loses by a hair."""
    llama_cpp = native.lib()
    ctx, vocab, buffer = engine.native_handles()
    engine.reset_cache()
    settings = SamplingSettings(temperature=0.0, repeat_penalty=penalty, repeat_last_n=4)
    fast = build_picker(vocab, settings, 0)
    chain = ChainPicker(native.build_sampler(vocab, settings, 0))
    rows: list[dict[int, float]] = [
        {7: 9.0},
        {11: 9.0},
        {7: 9.0},  # history: 7 twice, 11 once
        {7: -0.10, 8: -0.11},  # all negative: 7 is multiplied (1.5: loses) or shrinks (0.5: wins)
        {11: -1.0, 12: -1.0 * penalty},  # a tie made by the penalty: the lower id
        {20: 3.0, 21: 3.0},  # an exact tie, nothing penalized: the lower id
        {7: 3.0, 30: 2.5},  # a penalized positive logit against an unpenalized one
        {40: 1.0, 41: 2.0, 42: 2.0},
        {7: 2.0, 11: 2.0, 43: 1.6},  # the history has slid: 7 is still in it (last 4)
    ]
    try:
        assert llama_cpp.llama_decode(ctx, buffer.batch(engine.tokenize("Hello"))) == 0
        row = _row(engine)
        picks = []
        for values in rows:
            row[:] = -20.0  # type: ignore[index]
            for token, value in values.items():
                row[token] = value  # type: ignore[index]
            expected = chain.sample(ctx, -1)
            picks.append(fast.sample(ctx, -1))
            assert picks[-1] == expected, (values, picks)
        assert picks[:3] == [7, 11, 7]
    finally:
        chain.free()
        engine.reset_cache()
