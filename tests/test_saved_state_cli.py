"""`hearth chat --resume` in a new process restores the conversation's saved KV state: the prompt it
would have re-read is counted in `cached_tokens` and `restored_tokens`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop_app.core.engine.state_cache import SUFFIX
from tests.test_cli_engine import hearth, json_lines

ARGS = ["--threads", "1", "--temperature", "0", "--seed", "1", "--max-tokens", "3", "--json"]
LONG = "Tell me everything about the sea, the sky, the hills and the rivers, in order. " * 6


def test_resume_in_a_new_process_restores_the_saved_state(
    tiny_gguf: Callable[..., Path], hearth_home: Path
) -> None:
    model = tiny_gguf("tiny.gguf", name="tiny", context_length=2048)
    first = hearth(["chat", "--model", model, "--prompt", LONG, "--save", *ARGS], hearth_home)
    assert first.returncode == 0, first.stderr
    (turn,) = json_lines(first.stdout)
    assert turn["cached_tokens"] == 0 and turn["restored_tokens"] == 0
    conversation_id = turn["conversation_id"]
    states = list((hearth_home / "cache" / "kv-state").glob(f"{conversation_id}-*{SUFFIX}"))
    assert len(states) == 1  # written before the process exited

    resumed = hearth(
        ["chat", "--model", model, "--resume", str(conversation_id), "--prompt", "And the sky?", *ARGS],
        hearth_home,
    )
    assert resumed.returncode == 0, resumed.stderr
    (again,) = json_lines(resumed.stdout)
    assert again["restored_tokens"] > turn["prompt_tokens"] // 2
    assert again["cached_tokens"] >= again["restored_tokens"]
    assert again["prompt_tokens"] - again["cached_tokens"] < again["prompt_tokens"] // 2
