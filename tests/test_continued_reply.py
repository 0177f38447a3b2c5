"""Continue's stats count the whole reply: in the store (what a reopened chat and `hearth chat` show)
and on screen right after the reply ends (issue #18, item 10)."""

from __future__ import annotations

import pytest

from desktop_app.core import starter
from desktop_app.core.continued_reply import merge_continued
from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.paths import app_paths
from tests.chat_window import items, load, open_window, painted, send, wait_reply
from tests.fake_engine import ScriptedEngine


def _stats(tokens: int, tps: float, ttft: float, reason: str = "max_tokens") -> GenerationStats:
    return GenerationStats(
        prompt_tokens=20, cached_tokens=0, evaluated_tokens=20, completion_tokens=tokens, ttft_s=ttft,
        prefill_tps=100.0, generation_tps=tps, stop_reason=reason, n_ctx=4096,  # type: ignore[arg-type]
        context_used=20 + tokens, total_s=tokens / tps if tps else 0.0,
    )  # fmt: skip


def test_merge_sums_tokens_and_time_and_keeps_the_first_ttft() -> None:
    merged = merge_continued(_stats(100, 20.0, 0.5).to_dict(), _stats(50, 10.0, 0.2, "eos").to_dict())
    assert merged["completion_tokens"] == 150
    assert merged["generation_tps"] == pytest.approx(150 / (100 / 20.0 + 50 / 10.0))  # 15 tok/s
    assert merged["ttft_s"] == 0.5
    assert merged["total_s"] == pytest.approx(10.0)
    assert merged["stop_reason"] == "eos" and merged["parts"] == 2
    again = merge_continued(merged, _stats(10, 10.0, 0.1).to_dict())
    assert again["completion_tokens"] == 160 and again["parts"] == 3
    assert merge_continued(None, {"completion_tokens": 7}) == {"completion_tokens": 7}


def test_the_store_saves_the_whole_replys_stats_after_continue() -> None:
    store = ConversationStore(Database(app_paths().ensure().database))
    chat = store.create_conversation("Story")
    store.add_message(chat.id, "user", "Tell me a story")
    writer = store.start_reply(chat.id)
    writer.append("Once upon a time")
    writer.finish(_stats(100, 20.0, 0.5))
    again = store.continue_reply(writer.message_id)
    again.append(", there was a fox.")
    saved = again.finish(_stats(50, 10.0, 0.2, "eos"))
    assert saved.content == "Once upon a time, there was a fox."
    assert saved.stats is not None and saved.stats["completion_tokens"] == 150
    assert saved.stats["ttft_s"] == 0.5 and saved.state == "complete"
    stopped = store.continue_reply(writer.message_id).finish(_stats(0, 0.0, 0.0, "cancelled"))
    assert stopped.state == "cancelled" and stopped.stats is not None
    assert stopped.stats["completion_tokens"] == 150  # a Continue stopped at once adds nothing


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(starter, "is_available", lambda: False)
    words = " ".join(f"w{n}" for n in range(30))
    win = open_window(qtbot, ScriptedEngine(lambda _m, _s: words))
    yield win
    win.close()


def test_the_stats_line_counts_the_whole_reply_after_continue(qtbot, window, tiny_gguf) -> None:
    load(qtbot, window, tiny_gguf())
    window.chat.sampling = SamplingSettings(max_tokens=10, seed=1)
    reply = send(qtbot, window, "Go")
    assert painted(window, reply.id)["footer"].startswith("10 tokens")
    window.chat.view.action_triggered.emit("continue", reply.id)
    continued = wait_reply(qtbot, window)
    assert continued.id == reply.id and len(items(window)) == 2
    assert painted(window, reply.id)["footer"].startswith("20 tokens")  # was "10 tokens": the last part
    stored = window.conversations.get_message(reply.id)
    assert stored.stats is not None and stored.stats["completion_tokens"] == 20
