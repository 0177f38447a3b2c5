"""A remote provider's reply through the app's inference thread: the same path as a local reply
(batched text signals, the ChatSession turn's writer on the inference thread, Stop), against the real
stdlib stub server of tests/openai_stub.py. No local model is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.chat_session import ChatSession, ChatTurn, NewConversation
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.providers import Provider, ProviderAuthError
from desktop_app.core.providers.remote_chat import RemoteChat
from desktop_app.workers.inference import InferenceController
from tests.openai_stub import KEY, MODELS, TOKENS, StubServer


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with StubServer() as server:
        yield server


@pytest.fixture
def controller(qtbot):
    ctl = InferenceController()
    yield ctl
    assert ctl.shutdown(), "the inference thread did not stop"
    qtbot.wait(10)


def turn_on(tmp_path: Path, chat: RemoteChat) -> tuple[ConversationStore, ChatTurn]:
    store = ConversationStore(Database(tmp_path / "hearth.db"))
    new = NewConversation(model_name=chat.label, settings={"remote": {"provider": chat.provider.name}})
    turn = ChatSession(store).begin(new, "hi", SamplingSettings(max_tokens=40), model=chat.label)
    return store, turn


def texts(controller: InferenceController) -> list[str]:
    got: list[str] = []
    controller.text.connect(lambda _rid, _kind, text: got.append(text))
    return got


def test_a_remote_reply_streams_and_is_saved_through_the_inference_thread(
    qtbot, controller, stub: StubServer, tmp_path: Path
) -> None:
    chat = RemoteChat(Provider("stub", stub.url, api_key=KEY), MODELS[0])
    store, turn = turn_on(tmp_path, chat)
    got = texts(controller)
    with qtbot.waitSignal(controller.finished, timeout=30_000) as finished:
        rid = controller.generate_turn(turn, backend=chat)
    assert finished.args[0] == rid
    stats = finished.args[1]
    assert isinstance(stats, GenerationStats) and stats.completion_tokens == len(TOKENS)
    assert "".join(got) == "".join(TOKENS)
    reply = store.get_message(turn.reply.id)
    assert (reply.content, reply.state, reply.model) == ("".join(TOKENS), "complete", "alpha-7b on stub")
    assert controller.loaded_model is None  # nothing was loaded for it


def test_stop_closes_a_remote_stream_and_saves_what_arrived(
    qtbot, controller, stub: StubServer, tmp_path: Path
) -> None:
    stub.behaviour.mode = "stall"  # two tokens, then silence until the client hangs up
    chat = RemoteChat(Provider("stub", stub.url, api_key=KEY), MODELS[0])
    store, turn = turn_on(tmp_path, chat)
    got = texts(controller)
    with qtbot.waitSignal(controller.finished, timeout=30_000) as finished:
        controller.generate_turn(turn, backend=chat)
        assert stub.stalled.wait(10)  # both tokens are on the wire; the server says nothing more
        controller.cancel()
    assert finished.args[1].stop_reason == "cancelled"
    # Stop may land before the worker read the tokens off the socket; what it showed is what is saved
    assert "".join(TOKENS[:2]).startswith("".join(got))
    assert stub.stream_closed.wait(10)
    reply = store.get_message(turn.reply.id)
    assert (reply.content, reply.state) == ("".join(got), "cancelled")


def test_a_refused_key_fails_the_turn_with_its_line(
    qtbot, controller, stub: StubServer, tmp_path: Path
) -> None:
    chat = RemoteChat(Provider("stub", stub.url, api_key="wrong-key-1"), MODELS[0])
    store, turn = turn_on(tmp_path, chat)
    with qtbot.waitSignal(controller.failed, timeout=30_000) as failed:
        controller.generate_turn(turn, backend=chat)
    assert isinstance(failed.args[1], ProviderAuthError)
    reply = store.get_message(turn.reply.id)
    assert reply.state == "failed" and reply.error and "refused the API key" in reply.error
