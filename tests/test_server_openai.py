"""The real `openai` Python client against `ServerApp` serving the real Gemma 3 270M model.

What users' tools do: list models, chat and complete, streaming and not, and read errors. The model
is a base model without a chat template; the engine's built-in Gemma template handles chat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from desktop_app.core.generation import LoadSettings
from tests.server_http import KEY, LiveServer, openai_client, serving

pytestmark = [pytest.mark.gemma, pytest.mark.slow]

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of France? Answer in one word."}
]


@pytest.fixture(scope="module")
def server(gemma_path: Path) -> Iterator[LiveServer]:
    with serving(gemma_path, LoadSettings(n_ctx=2048, n_threads=1)) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai_client(server) as c:
        yield c


def test_models_list(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["gemma-3-270m-q4_k_m"]
    assert models.data[0].owned_by == "hearth"


def test_chat_streamed_and_not_give_the_same_answer(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model="gemma-3-270m-q4_k_m",
        messages=QUESTION,
        max_tokens=12,
        temperature=0,
    )
    answer = whole.choices[0].message.content
    assert answer and answer.strip()
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage is not None
    assert 0 < whole.usage.completion_tokens <= 12
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    assert whole.model == "gemma-3-270m-q4_k_m"

    stream = client.chat.completions.create(
        model="any-name-works",
        messages=QUESTION,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish: list[str | None] = []
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish.append(choice.finish_reason)
    assert "".join(pieces) == answer
    assert finish[-1] == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def test_completions_streamed_and_not(client: openai.OpenAI) -> None:
    prompt = "The capital of France is"
    whole = client.completions.create(model="gemma", prompt=prompt, max_tokens=8, temperature=0)
    text = whole.choices[0].text
    assert text.strip()
    assert whole.usage is not None and whole.usage.completion_tokens == 8
    assert whole.choices[0].finish_reason == "length"
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model="gemma", prompt=prompt, max_tokens=8, temperature=0, stream=True
        )
        if c.choices
    )
    assert streamed == text


def test_errors_reach_the_client_as_openai_exceptions(server: LiveServer) -> None:
    wrong = openai.OpenAI(base_url=server.base_url, api_key="not-the-key", max_retries=0)
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError) as denied:
            wrong.models.list()
        assert denied.value.status_code == 401
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="gemma", messages=QUESTION, max_tokens=-1)
        assert bad.value.status_code == 400
        assert "max_tokens" in str(bad.value)
    finally:
        wrong.close()
        client.close()
