"""`hearth models info`, `hearth chat` and `hearth bench` as a user runs them: separate processes.

Each command runs as `python -m desktop_app …` with HEARTH_HOME pointing into the test's own folder.
Generation commands pass `--threads 1`: on a 2-core machine shared with other jobs, 2-thread
generation sometimes fell from ~48 to ~0.6 tok/s here, while one thread stayed steady.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

GEMMA_SIZE = 253_113_024
ROOT = Path(__file__).resolve().parents[1]


def hearth(
    args: Sequence[str | Path], home: Path, *, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line that is a JSON object."""
    found = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            assert isinstance(data, dict)
            found.append(data)
    return found


def assert_one_line_error(result: subprocess.CompletedProcess[str], exit_code: int) -> None:
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hearth: error: ")
    assert len(lines[0]) > len("hearth: error: ") + 10


# ----------------------------------------------------------------------------------- models info


@pytest.mark.gemma
@pytest.mark.slow
def test_models_info_json_on_gemma(gemma_path: Path, hearth_home: Path) -> None:
    result = hearth(["models", "info", gemma_path, "--json"], hearth_home)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "gemma3"
    assert info["context_length"] == 32768
    assert info["file_type"] == "Q4_K_M"
    assert info["size_bytes"] == GEMMA_SIZE
    assert info["has_chat_template"] is False
    assert info["vocab_size"] == 262144


@pytest.mark.gemma
@pytest.mark.slow
def test_models_info_human_form_on_gemma(gemma_path: Path, hearth_home: Path) -> None:
    result = hearth(["models", "info", gemma_path], hearth_home)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^Architecture\s+gemma3$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^Quantization\s+Q4_K_M$", result.stdout, re.MULTILINE), result.stdout
    assert "Traceback" not in result.stderr


def test_models_info_on_a_tiny_model_with_a_template(
    tiny_gguf: Callable[..., Path], hearth_home: Path
) -> None:
    path = tiny_gguf(chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}")
    result = hearth(["models", "info", path, "--json"], hearth_home)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "llama"
    assert info["has_chat_template"] is True
    assert info["size_bytes"] == path.stat().st_size


@pytest.fixture
def bad_files(tiny_gguf: Callable[..., Path], tmp_path: Path) -> dict[str, Path]:
    good = tiny_gguf("good.gguf")
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(os.urandom(32 * 1024))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    return {"garbage": garbage, "truncated": truncated, "missing": tmp_path / "no-such-model.gguf"}


@pytest.mark.parametrize("kind", ["garbage", "truncated", "missing"])
def test_models_info_on_a_bad_file_is_one_clear_line(
    bad_files: dict[str, Path], hearth_home: Path, kind: str
) -> None:
    result = hearth(["models", "info", bad_files[kind]], hearth_home)
    assert_one_line_error(result, 3)
    assert result.stdout == ""


@pytest.mark.parametrize("kind", ["garbage", "truncated", "missing"])
def test_chat_on_a_bad_file_is_one_clear_line(
    bad_files: dict[str, Path], hearth_home: Path, kind: str
) -> None:
    result = hearth(["chat", "--model", bad_files[kind], "--prompt", "hi"], hearth_home)
    assert_one_line_error(result, 3)


# ------------------------------------------------------------------------------------------- chat


@pytest.mark.gemma
@pytest.mark.slow
def test_chat_one_prompt_json(gemma_path: Path, hearth_home: Path) -> None:
    result = hearth(
        [
            "chat",
            "--model",
            gemma_path,
            "--prompt",
            "Write one sentence about the sea.",
            "--max-tokens",
            "8",
            "--temperature",
            "0",
            "--threads",
            "1",
            "--json",
        ],
        hearth_home,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stdout.rstrip("\n").splitlines()[-1]
    data = json.loads(last)
    for key in (
        "text",
        "prompt_tokens",
        "completion_tokens",
        "ttft_s",
        "prefill_tps",
        "generation_tps",
        "stop_reason",
    ):
        assert key in data, key
    assert data["completion_tokens"] == 8
    assert data["stop_reason"] == "max_tokens"
    assert data["prompt_tokens"] > 0
    assert data["ttft_s"] > 0 and data["prefill_tps"] > 0 and data["generation_tps"] > 0
    assert data["text"]
    # what was streamed before the JSON line is exactly the answer (then one newline)
    streamed = result.stdout[: result.stdout.rindex(last)]
    assert streamed == data["text"] + "\n"


@pytest.mark.gemma
@pytest.mark.slow
def test_chat_interactive_reuses_the_kv_cache_between_turns(gemma_path: Path, hearth_home: Path) -> None:
    result = hearth(
        [
            "chat",
            "--model",
            gemma_path,
            "--max-tokens",
            "8",
            "--temperature",
            "0",
            "--threads",
            "1",
            "--json",
        ],
        hearth_home,
        stdin="Tell me about the sea.\nAnd the sky?\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    turns = json_lines(result.stdout)
    assert len(turns) == 2, result.stdout
    first, second = turns
    assert first["cached_tokens"] == 0
    assert second["cached_tokens"] > 0
    # turn 2's prompt holds turn 1's prompt and reply; all of turn 1's prompt comes from the cache
    assert second["prompt_tokens"] > first["prompt_tokens"] + first["completion_tokens"]
    assert second["cached_tokens"] >= first["prompt_tokens"]
    for turn in turns:
        assert turn["completion_tokens"] == 8
        # each answer is streamed on stdout before its JSON line
        assert turn["text"] + "\n" + json.dumps(turn, ensure_ascii=False) + "\n" in result.stdout


# ------------------------------------------------------------------------------------------ bench


@pytest.mark.gemma
@pytest.mark.slow
def test_bench_json(gemma_path: Path, hearth_home: Path) -> None:
    result = hearth(
        [
            "bench",
            "--model",
            gemma_path,
            "--tokens",
            "16",
            "--prompt-tokens",
            "32",
            "--repeat",
            "1",
            "--threads",
            "1",
            "--json",
        ],
        hearth_home,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["prompt_tokens"] == 32
    assert data["generated_tokens"] == 16
    assert data["engine"]["prefill_tps"] > 0
    assert data["engine"]["generation_tps"] > 0
    assert data["engine"]["generated_tokens"] == 16
    assert data["raw"]["prefill_tps"] > 0
    assert data["raw"]["generation_tps"] > 0
    assert data["raw"]["prompt_tokens"] == 32
    assert data["raw"]["generated_tokens"] == 16
    assert data["ratio"]["prefill"] > 0
    assert data["ratio"]["generation"] > 0


@pytest.mark.parametrize("bad", [["--prompt-tokens", "0"], ["--repeat", "-1"]])
def test_bench_rejects_impossible_arguments(
    tiny_gguf: Callable[..., Path], hearth_home: Path, bad: list[str]
) -> None:
    result = hearth(["bench", "--model", tiny_gguf(), "--tokens", "4", "--threads", "1", *bad], hearth_home)
    assert result.returncode in (1, 2, 6), (result.returncode, result.stderr[-2000:])
    assert_one_line_error(result, result.returncode)
