"""OpenAI conformance points that llama.cpp's own server tests check, against a real server on 127.0.0.1
over a tiny model: a conversation too long for the context is refused rather than cut, logit_bias and
response_format work through llama.cpp's samplers, usage chunks follow OpenAI's reference, and every
refusal the API makes is listed in the README."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.engine import Engine, GenerationStats
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.server.openai_schema import ApiError
from tests.server_http import LiveServer, serving, sse_events

ROOT = Path(__file__).resolve().parents[1]
N_CTX = 512


@pytest.fixture
def server(tiny_gguf: Callable[..., Path]) -> Iterator[LiveServer]:
    model = tiny_gguf("tiny-conformance.gguf", context_length=N_CTX)
    with serving(model, LoadSettings(n_ctx=N_CTX, n_threads=1, n_threads_batch=1)) as live:
        yield live


def chat(server: LiveServer, **body: Any) -> Any:
    return server.request("POST", "/v1/chat/completions", {"max_tokens": 4, **body})


def conversation(turns: int, words: int) -> list[dict[str, str]]:
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "the " * words} for i in range(turns - 1)
    ] + [{"role": "user", "content": "hello"}]


# -- 1. a conversation that does not fit is 400, not an answer to its last turns ----------------------


def test_a_conversation_too_long_for_the_context_is_refused_not_cut(server: LiveServer) -> None:
    long = conversation(turns=7, words=80)  # ~710 tokens of history in a 512-token context
    for stream in (False, True):
        reply = chat(server, messages=long, stream=stream)
        assert reply.status == 400, reply.body  # streamed too: nothing was sent before the refusal
        error = reply.error()
        assert error["code"] == "context_length_exceeded"
        assert error["param"] == "messages"
        assert "oldest" in error["message"] and f"{N_CTX:,} tokens" in error["message"]
    # the refusals never generated: each request ended with the ApiError, not with stats
    results = [server.recorder.result(request_id) for request_id, _ in server.recorder.started]
    assert len(results) == 2 and all(isinstance(r, ApiError) for r in results)


def test_lowering_max_tokens_lets_the_same_conversation_fit_and_nothing_is_dropped(
    server: LiveServer,
) -> None:
    long = conversation(turns=7, words=30)  # ~410 tokens: fits with 16 kept for the reply, not with 128
    assert chat(server, messages=long, max_tokens=200).status == 400
    reply = chat(server, messages=long, max_tokens=16)
    assert reply.status == 200, reply.body
    request_id = server.recorder.started[-1][0]
    stats = server.recorder.result(request_id)
    assert isinstance(stats, GenerationStats) and stats.dropped_messages == 0


def test_the_engine_itself_still_drops_turns_for_the_app(server: LiveServer) -> None:
    """The GUI's chat keeps its behaviour: the engine leaves out old turns (and says how many)."""

    def prompt(engine: Engine) -> int:
        return engine.build_chat_prompt(conversation(turns=7, words=80), 128)[1]

    assert server.backend.call(prompt) > 0


# -- 2. logit_bias ---------------------------------------------------------------------------------


def test_logit_bias_forces_and_bans_tokens(server: LiveServer) -> None:
    body = {"prompt": "once upon a time", "max_tokens": 4, "temperature": 0.9, "seed": 5, "ignore_eos": True}
    forced = server.request("POST", "/v1/completions", {**body, "logit_bias": {"300": 100}}).json()
    expected = server.backend.call(lambda engine: engine.detokenize([300] * 4))
    assert forced["choices"][0]["text"] == expected
    # ban the forced token and force another: the first can no longer appear
    both = {"300": -100, "301": 100}
    other = server.request("POST", "/v1/completions", {**body, "logit_bias": both}).json()
    assert other["choices"][0]["text"] == server.backend.call(lambda engine: engine.detokenize([301] * 4))
    # streamed, and on chat too
    chunks = sse_events(
        server.request("POST", "/v1/completions", {**body, "logit_bias": {"300": 100}, "stream": True}).body
    )
    assert (
        "".join(json.loads(c)["choices"][0]["text"] for c in chunks[:-1] if json.loads(c)["choices"])
        == expected
    )
    reply = chat(server, messages=[{"role": "user", "content": "hi"}], logit_bias={"300": 100}, temperature=0)
    assert reply.json()["choices"][0]["message"]["content"].startswith(expected[:1])


@pytest.mark.parametrize(
    ("bias", "message"),
    [
        ([[300, 1]], "must be an object"),
        ({"abc": 1}, "token ids"),
        ({"-1": 1}, "token ids"),
        ({"99999999": 1}, "vocabulary has"),
        ({"300": 101}, "from -100 to 100"),
        ({"300": -100.5}, "from -100 to 100"),
        ({"300": "1"}, "must be a number"),
        ({"300": True}, "must be a number"),
        ({str(i): 1 for i in range(1025)}, "at most 1024"),
    ],
)
def test_bad_logit_bias_is_a_clear_400(server: LiveServer, bias: object, message: str) -> None:
    reply = chat(server, messages=[{"role": "user", "content": "hi"}], logit_bias=bias)
    assert reply.status == 400
    error = reply.error()
    assert error["param"] == "logit_bias"
    assert re.search(message, error["message"]), error["message"]


# -- 3. response_format ------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "count": {"type": "integer"}},
    "required": ["answer", "count"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_replies_parse_and_match_the_schema(server: LiveServer, stream: bool) -> None:
    """Even random weights give schema-valid JSON: the grammar leaves them no other choice."""
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True},
    }
    for seed in (1, 2, 3):
        reply = chat(
            server, messages=[{"role": "user", "content": "hi"}], max_tokens=64, temperature=1.0, seed=seed,
            response_format=response_format, stream=stream,
        )  # fmt: skip
        assert reply.status == 200, reply.body
        if stream:
            chunks = [json.loads(c) for c in sse_events(reply.body)[:-1]]
            text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
            finish = chunks[-1]["choices"][0]["finish_reason"]
        else:
            choice = reply.json()["choices"][0]
            text, finish = choice["message"]["content"], choice["finish_reason"]
        assert finish == "stop"
        data = json.loads(text)
        assert set(data) == {"answer", "count"} and data["answer"] in ("yes", "no")
        assert isinstance(data["count"], int)


def test_json_object_replies_are_a_json_object(server: LiveServer) -> None:
    reply = chat(
        server, messages=[{"role": "user", "content": "hi"}], max_tokens=32, temperature=0,
        response_format={"type": "json_object"},
    )  # fmt: skip
    assert reply.status == 200
    assert reply.json()["choices"][0]["message"]["content"].startswith("{")
    text = chat(server, messages=[{"role": "user", "content": "hi"}], response_format={"type": "text"})
    assert text.status == 200


def test_the_apps_saved_json_output_and_bias_do_not_reach_api_requests(
    tiny_gguf: Callable[..., Path],
) -> None:
    """A model whose saved settings tick "JSON output" (or carry a bias) in the app still answers API
    clients in plain text unless they ask otherwise: OpenAI's defaults are text and no bias."""
    model = tiny_gguf("tiny-json-default.gguf", context_length=N_CTX)
    defaults = SamplingSettings(json_output=True, logit_bias=((300, 100.0),))
    with serving(model, LoadSettings(n_threads=1), default_sampling=defaults) as live:
        forced = live.backend.call(lambda engine: engine.detokenize([300] * 8))
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0}
        plain, constrained = (
            live.request("POST", "/v1/chat/completions", {**body, **extra}).json()["choices"][0]["message"][
                "content"
            ]
            for extra in ({}, {"response_format": {"type": "json_object"}})
        )
    assert constrained.startswith("{")
    assert not plain.startswith("{")
    assert plain != forced


@pytest.mark.parametrize(
    ("response_format", "param", "message"),
    [
        ({"type": "yaml"}, "response_format", "must be 'text', 'json_object' or 'json_schema'"),
        ("json", "response_format", "must be 'text'"),
        ({"type": "json_schema"}, "response_format.json_schema", "must be an object"),
        (
            {"type": "json_schema", "json_schema": {"schema": {"type": "integer", "minimum": 1}}},
            "response_format.json_schema.schema",
            "'minimum'",
        ),
        (
            {"type": "json_schema", "json_schema": {"schema": {"type": "array", "maxItems": 10**9}}},
            "response_format.json_schema.schema",
            "maxItems",
        ),
        (
            {"type": "json_schema", "json_schema": {"schema": {"$ref": "https://example.com/s.json"}}},
            "response_format.json_schema.schema",
            "inside the schema",
        ),
    ],
)
def test_unsupported_response_formats_are_a_clear_400(
    server: LiveServer, response_format: object, param: str, message: str
) -> None:
    reply = chat(server, messages=[{"role": "user", "content": "hi"}], response_format=response_format)
    assert reply.status == 400
    error = reply.error()
    assert error["param"] == param
    assert message in error["message"]


def test_a_schema_llama_cpp_cannot_parse_is_a_400_before_any_byte_streams(server: LiveServer) -> None:
    schema = {"type": "string", "pattern": "^[\\q]$"}  # passes the converter, fails llama.cpp's parser
    for stream in (False, True):
        reply = chat(
            server, messages=[{"role": "user", "content": "hi"}], stream=stream,
            response_format={"type": "json_schema", "json_schema": {"schema": schema}},
        )  # fmt: skip
        assert reply.status == 400, reply.body
        assert "grammar" in reply.error()["message"]
    assert chat(server, messages=[{"role": "user", "content": "hi"}]).status == 200  # the server goes on


# -- 4. usage chunks -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_with_include_usage_every_chunk_before_the_usage_chunk_has_usage_null(
    server: LiveServer, path: str
) -> None:
    body: dict[str, Any] = {"max_tokens": 5, "seed": 1, "stream": True}
    body |= {"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "once"}
    with_usage = [json.loads(e) for e in sse_events(server.request("POST", path, {
        **body, "stream_options": {"include_usage": True}}).body)[:-1]]  # fmt: skip
    *chunks, usage_chunk = with_usage
    assert len(chunks) >= 2
    assert all("usage" in c and c["usage"] is None for c in chunks), chunks
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] > 0
    without = [json.loads(e) for e in sse_events(server.request("POST", path, body).body)[:-1]]
    assert all("usage" not in c for c in without)


# -- 5. the README lists every refusal -----------------------------------------------------------------

#: each request the API refuses, and the words the README's API section uses for it
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/chat/completions", {"n": 2}, "`n` other than 1"),
    ("/v1/chat/completions", {"tools": [{"type": "function", "function": {"name": "f"}}]}, "`tools`"),
    ("/v1/chat/completions", {"functions": [{"name": "f"}]}, "`functions`"),
    ("/v1/chat/completions", {"tool_choice": "required"}, "`tool_choice`"),
    ("/v1/chat/completions", {"logprobs": True}, "`logprobs`"),
    ("/v1/chat/completions", {"top_logprobs": 2}, "`top_logprobs`"),
    ("/v1/completions", {"logprobs": 2}, "`logprobs`"),
    ("/v1/completions", {"echo": True}, "`echo`"),
    ("/v1/completions", {"suffix": "end"}, "`suffix`"),
    ("/v1/completions", {"best_of": 2}, "`best_of` other than 1"),
    ("/v1/completions", {"prompt": [1, 2, 3]}, "token-array"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "images"),
    ("/v1/chat/completions", {"messages": [{"role": "tool", "content": "x"}]}, "`tool` messages"),
]


def refusals_in_readme() -> str:
    """The README's list of what the API refuses (the bullet that starts with **Refused**)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Local API server")
    section = readme[start : readme.index("\n## ", start + 1)]
    match = re.search(r"^- \*\*Refused.*?(?=^- |^$)", section, re.MULTILINE | re.DOTALL)
    assert match, "the README's API section has no '- **Refused' bullet"
    return " ".join(match.group(0).split())


@pytest.mark.parametrize(("path", "fields", "words"), REFUSED)
def test_every_refusal_is_listed_in_the_readme(
    server: LiveServer, path: str, fields: dict[str, Any], words: str
) -> None:
    base: dict[str, Any] = (
        {"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "hi"}
    )
    reply = server.request("POST", path, {**base, "max_tokens": 2, **fields})
    assert reply.status == 400, reply.body
    assert reply.error()["param"]
    assert words in refusals_in_readme(), f"the README's list of refusals leaves out {words}"
