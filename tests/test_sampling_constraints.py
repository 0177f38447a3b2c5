"""Logit bias and grammar-constrained (JSON) output through llama.cpp's own samplers, on real models.

The tiny random-weight model is enough for what the samplers guarantee whatever the weights say: a
+100 bias forces a token, a -100 bias bans it, and a grammar makes every reply parse. The Gemma test
checks that the grammar gate (native.GrammarGate) picks exactly what llama.cpp's plain grammar sampler
placed first in the chain picks (the gate is only faster: it checks one token, not all 262k).
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.engine import Engine, GenerationStats, TextDelta, native
from desktop_app.core.engine.pickers import GreedyPicker
from desktop_app.core.errors import SettingsError
from desktop_app.core.generation import JSON_OBJECT_GBNF, LoadSettings, SamplingSettings
from desktop_app.core.json_grammar import schema_to_gbnf

GREEDY = SamplingSettings(temperature=0.0, repeat_penalty=1.0)


@pytest.fixture
def engine(tiny_gguf: Callable[..., Path]) -> Iterator[Engine]:
    engine = Engine()
    engine.load(tiny_gguf("tiny-sampling.gguf", context_length=512), LoadSettings(n_ctx=512, n_threads=1))
    yield engine
    engine.unload()


def complete(engine: Engine, prompt: str, sampling: SamplingSettings) -> tuple[str, GenerationStats]:
    text: list[str] = []
    stats: GenerationStats | None = None
    for event in engine.stream_completion(prompt, sampling):
        if isinstance(event, TextDelta):
            text.append(event.text)
        else:
            stats = event
    assert stats is not None
    return "".join(text), stats


def sampled_tokens(
    engine: Engine, prompt: str, sampling: SamplingSettings, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """The token ids a completion samples (its text need not tokenize back to them): a sampler at the
    end of the chain that changes nothing records what the chain accepts."""
    ids: list[int] = []
    original = native.build_sampler
    llama_cpp = native.lib()
    keep: list[Any] = []

    def recording(vocab: Any, settings: SamplingSettings, seed: int) -> Any:
        chain = original(vocab, settings, seed)
        iface = llama_cpp.llama_sampler_i()
        iface.accept = llama_cpp.llama_sampler_i_accept(lambda _s, token: ids.append(token))
        iface.apply = llama_cpp.llama_sampler_i_apply(lambda _s, _cur: None)
        keep.append(iface)
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init(ctypes.pointer(iface), None))
        return chain

    with monkeypatch.context() as patch:
        patch.setattr(native, "build_sampler", recording)
        # the recorder sits in llama.cpp's chain: plain greedy too goes through it here (test_pickers.py
        # shows the fast path picks the same tokens)
        patch.setattr(GreedyPicker, "applies", staticmethod(lambda _settings: False))
        complete(engine, prompt, sampling)
    return ids


def test_a_bias_of_100_forces_a_token_and_minus_100_bans_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt = "once upon a time"
    plain = sampled_tokens(engine, prompt, replace(GREEDY, max_tokens=6), monkeypatch)
    assert len(plain) == 6
    banned = sampled_tokens(
        engine, prompt, replace(GREEDY, max_tokens=6, logit_bias=((plain[0], -100.0),)), monkeypatch
    )
    assert plain[0] not in banned
    forced_token = 300  # an ordinary word piece of the tiny vocabulary
    sampling = SamplingSettings(temperature=0.9, seed=4, max_tokens=6, logit_bias=((forced_token, 100.0),))
    assert sampled_tokens(engine, prompt, sampling, monkeypatch) == [forced_token] * 6


def test_bias_outside_the_vocabulary_is_a_settings_error_and_the_engine_goes_on(engine: Engine) -> None:
    with pytest.raises(SettingsError, match="vocabulary has"):
        complete(engine, "hello", SamplingSettings(max_tokens=2, logit_bias=((10**6, 1.0),)))
    _text, stats = complete(engine, "hello", SamplingSettings(max_tokens=2))
    assert stats.completion_tokens == 2


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (((1, 100.5),), "from -100 to 100"),
        (((1, float("nan")),), "from -100 to 100"),
        (((-1, 1.0),), "token ids"),
        (((True, 1.0),), "token ids"),
        (((1,),), "pairs"),
        (tuple((i, 1.0) for i in range(1025)), "at most 1024"),
    ],
)
def test_sampling_settings_refuse_bad_logit_bias(pairs: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        SamplingSettings(logit_bias=pairs)


def test_new_sampling_fields_survive_a_json_round_trip() -> None:
    sampling = SamplingSettings(logit_bias=((5, -100.0), (7, 2.5)), json_output=True, grammar='root ::= "x"')
    again = SamplingSettings.from_dict(json.loads(json.dumps(sampling.to_dict())))
    assert again == sampling
    # what core/bench.py does: the constructor takes to_dict()'s lists too
    assert SamplingSettings(**{**sampling.to_dict(), "stop": ()}).logit_bias == sampling.logit_bias
    assert SamplingSettings.from_dict({"temperature": 0.5}).logit_bias == ()  # older stored settings
    assert SamplingSettings(json_output=True).constrained_grammar == JSON_OBJECT_GBNF
    assert SamplingSettings(json_output=True, grammar='root ::= "x"').constrained_grammar == 'root ::= "x"'
    with pytest.raises(SettingsError):
        SamplingSettings(grammar="x" * (256 * 1024 + 1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_json_output_always_parses_even_from_random_weights(engine: Engine, seed: int) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"enum": ["yes", "no"]}, "count": {"type": "integer"}},
        "required": ["answer", "count"],
        "additionalProperties": False,
    }
    for sampling in (
        SamplingSettings(temperature=1.0, seed=seed, max_tokens=200, json_output=True),
        SamplingSettings(temperature=1.0, seed=seed, max_tokens=200, grammar=schema_to_gbnf(schema)),
    ):
        text, stats = complete(engine, "once upon a time", sampling)
        if stats.stop_reason == "eos":  # the grammar ended: the model could only stop
            data = json.loads(text)
            assert isinstance(data, dict)
            if sampling.grammar:
                assert set(data) == {"answer", "count"} and data["answer"] in ("yes", "no")
        else:  # a long string ran into max_tokens: what came is still a JSON prefix
            assert stats.stop_reason == "max_tokens" and text.lstrip().startswith("{")


def test_a_grammar_llama_cpp_cannot_parse_is_a_settings_error(engine: Engine) -> None:
    with pytest.raises(SettingsError, match="could not parse the grammar"):
        complete(engine, "hello", SamplingSettings(max_tokens=2, grammar="root ::= (("))
    _text, stats = complete(engine, "hello", SamplingSettings(max_tokens=2))  # and the engine goes on
    assert stats.completion_tokens == 2


def grammar_first_sampler(vocab: Any, settings: SamplingSettings, seed: int) -> Any:
    """The reference: llama.cpp's grammar sampler placed in the chain before the pickers."""
    llama_cpp = native.lib()
    params = llama_cpp.llama_sampler_chain_default_params()
    chain = llama_cpp.llama_sampler_chain_init(params)
    native._add_bias_and_penalties(chain, vocab, settings)
    grammar = llama_cpp.llama_sampler_init_grammar(vocab, settings.constrained_grammar.encode(), b"root")
    llama_cpp.llama_sampler_chain_add(chain, grammar)
    native._add_pickers(chain, settings, seed)
    return chain


@pytest.mark.gemma
@pytest.mark.slow
def test_the_grammar_gate_picks_what_the_grammar_first_chain_picks(
    gemma_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine()
    engine.load(gemma_path, LoadSettings(n_ctx=1024, n_threads=1))
    try:
        messages = [{"role": "user", "content": "Describe Paris as a JSON object."}]
        sampling = SamplingSettings(temperature=0.0, max_tokens=40, json_output=True)

        def run() -> str:
            engine.reset_cache()  # the same prefill for both: greedy output depends on it
            events = engine.stream_chat(messages, sampling)
            return "".join(e.text for e in events if isinstance(e, TextDelta))

        gated = run()
        monkeypatch.setattr(native, "build_sampler", grammar_first_sampler)
        reference = run()
        assert gated == reference
        assert gated.startswith("{")
    finally:
        engine.unload()
