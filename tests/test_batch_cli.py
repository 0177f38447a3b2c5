"""`hearth batch` as a user runs it, on the real Gemma model: results, the --json summary, resuming,
and a kill -9 in the middle that leaves every row in the output exactly once after a rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_engine import ROOT, assert_one_line_error, hearth

GEMMA = Path("/root/.cache/hearth-test/gemma-3-270m-q4_k_m.gguf")

pytestmark = pytest.mark.skipif(not GEMMA.exists(), reason="the Gemma test model is not assembled")

PROMPTS = ["The capital of France is", "One, two, three,", "Water boils at", "The sky is", "Cats like"]


def write_rows(path: Path, n: int) -> Path:
    lines = [json.dumps({"id": f"r{i}", "prompt": PROMPTS[i % len(PROMPTS)]}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def batch_args(source: Path, out: Path, *extra: str) -> list[str | Path]:
    return ["batch", "--model", GEMMA, "--input", source, "--output", out, "--temperature", "0", *extra]


def run_batch(
    tmp_path: Path, source: Path, out: Path, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`hearth batch` run to its end, with the test's own HEARTH_HOME (the same for a rerun)."""
    return hearth(batch_args(source, out, *extra), tmp_path / "home", timeout=timeout)


def start_batch(
    tmp_path: Path, source: Path, out: Path, *extra: str, rows: int, pipe: bool = False
) -> subprocess.Popen[str]:
    """`hearth batch` in a child process, returned once it has written `rows` rows and still runs, so a
    test can interrupt it mid-batch. `pipe`: capture stdout and stderr (else they are dropped)."""
    env = {**os.environ, "HEARTH_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "desktop_app", *map(str, batch_args(source, out, *extra))]
    output = subprocess.PIPE if pipe else subprocess.DEVNULL
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=output, stderr=output, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= rows:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the batch ended before {rows} rows were written; give it more rows"
    except BaseException:
        proc.kill()  # no child left running when the test fails here
        proc.communicate(timeout=30)
        raise
    return proc


@pytest.mark.slow
def test_rows_are_answered_and_a_rerun_skips_them(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "id,thing\na,The capital of France is\nb,Water boils at\n,The sky is\n", encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    options = ("--template", "{thing}", "--max-tokens", "6", "--parallel", "2", "--json")
    first = run_batch(tmp_path, source, out, *options, timeout=300)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    assert (
        summary["rows"] == 3 and summary["done"] == 3 and summary["skipped"] == 0 and summary["failed"] == 0
    )
    assert summary["aggregate_tps"] > 0
    rows = {row["id"]: row for row in results(out)}
    assert set(rows) == {"a", "b", 3}
    assert rows["b"]["prompt"] == "Water boils at"
    for row in rows.values():
        assert set(row) == {"id", "prompt", "text", "completion_tokens", "stop_reason"}
        assert 0 < row["completion_tokens"] <= 6
        assert row["stop_reason"] in {"max_tokens", "eos", "stop"}
        assert row["text"]
    assert "rows" in first.stderr and "ETA" in first.stderr  # progress goes to stderr

    again = run_batch(tmp_path, source, out, "--template", "{thing}", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1]) == {
        "rows": 3, "done": 0, "skipped": 3, "failed": 0, "aggregate_tps": 0.0,
    }  # fmt: skip
    assert len(results(out)) == 3


@pytest.mark.slow
def test_a_row_missing_its_column_fails_alone(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"q": "The sky is"}\n{"other": 1}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_batch(
        tmp_path, source, out, "--template", "Q: {q}", "--max-tokens", "4", "--json", timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["failed"] == 1
    rows = {row["id"]: row for row in results(out)}
    assert rows[1]["stop_reason"] != "error"
    assert rows[2]["stop_reason"] == "error" and rows[2]["error"] == "row 2 has no column 'q'"
    assert "row 2 has no column 'q'" in result.stderr


def test_a_broken_template_is_one_clear_line(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 2)
    result = run_batch(tmp_path, source, tmp_path / "out.jsonl", "--template", "{oops")
    assert_one_line_error(result, 2)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow
def test_kill_9_then_rerun_leaves_each_row_exactly_once(tmp_path: Path) -> None:
    n = 10
    source = write_rows(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    proc = start_batch(tmp_path, source, out, "--max-tokens", "16", "--parallel", "3", rows=2)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    killed_at = len(results_lenient(out))
    assert 2 <= killed_at < n

    rerun = run_batch(tmp_path, source, out, "--max-tokens", "16", "--parallel", "3", "--json", timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout.splitlines()[-1])
    assert summary["skipped"] == killed_at and summary["done"] == n - killed_at
    counts = Counter(row["id"] for row in results(out))
    assert counts == Counter({f"r{i}": 1 for i in range(n)})


def results_lenient(path: Path) -> list[dict[str, Any]]:
    """The complete lines of an output a kill may have torn."""
    complete = path.read_bytes().rsplit(b"\n", 1)[0].decode("utf-8")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


@pytest.mark.slow
def test_ctrl_c_stops_without_writing_rows_in_flight(tmp_path: Path) -> None:
    n = 12
    source = write_rows(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    proc = start_batch(tmp_path, source, out, "--max-tokens", "24", "--json", rows=1, pipe=True)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Run the same command again" in stderr
    rows = results(out)  # whole lines only: nothing torn, nothing cancelled written
    assert all(row["stop_reason"] != "cancelled" for row in rows)
    assert len({row["id"] for row in rows}) == len(rows) < n
    assert json.loads(stdout.splitlines()[-1])["done"] == len(rows)
