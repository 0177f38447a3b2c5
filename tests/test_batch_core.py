"""Batch jobs' core without a model: reading rows, filling templates safely, and resuming from the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.core.batch.inputs import make_rows, read_input
from desktop_app.core.batch.plan import plan_batch
from desktop_app.core.batch.progress import BatchProgress, format_duration
from desktop_app.core.batch.results import ResultWriter, RowResult, read_results
from desktop_app.core.batch.template import parse_template
from desktop_app.core.errors import SettingsError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_rows_with_and_without_ids(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.jsonl",
        '{"id": "a", "prompt": "one"}\n\n{"prompt": "two"}\n{"id": 7, "prompt": "three"}\n',
    )
    rows = make_rows(read_input(source), None)
    assert [(r.id, r.prompt, r.error) for r in rows] == [
        ("a", "one", None),
        (2, "two", None),
        (7, "three", None),
    ]


def test_bad_jsonl_lines_are_errors_of_their_row_only(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.jsonl",
        '{"prompt": "ok"}\nnot json\n[1, 2]\n{"id": 1.5, "prompt": "x"}\n{"text": "no prompt"}\n'
        + "[" * 100_000
        + "\n",
    )
    rows = make_rows(read_input(source), None)
    assert rows[0].prompt == "ok"
    assert rows[1].error is not None and "not valid JSON" in rows[1].error
    assert rows[2].error is not None and "not a JSON object" in rows[2].error
    assert rows[3].error is not None and "id" in rows[3].error
    assert rows[4].error is not None and "'prompt'" in rows[4].error
    assert rows[5].error is not None and "row 6" in rows[5].error
    assert all(r.prompt is None for r in rows[1:])


def test_duplicate_ids_refuse_the_input(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", '{"prompt": "a"}\n{"id": 1, "prompt": "b"}\n')
    with pytest.raises(SettingsError, match="rows 1 and 2"):
        make_rows(read_input(source), None)


def test_csv_columns_fill_the_template(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", 'id,city,country\nx1,Paris,France\nx2,"Oslo, old",Norway\n,Rome,\n')
    rows = make_rows(read_input(source), parse_template("{city} is in {country}. {{literal}}"))
    assert [(r.id, r.prompt) for r in rows] == [
        ("x1", "Paris is in France. {literal}"),
        ("x2", "Oslo, old is in Norway. {literal}"),
        (3, "Rome is in . {literal}"),
    ]


def test_a_missing_column_is_a_clear_error_for_that_row(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", '{"q": "a", "extra": 1}\n{"other": "b"}\n')
    rows = make_rows(read_input(source), parse_template("Q: {q} ({extra})"))
    assert rows[0].prompt == "Q: a (1)"
    assert rows[1].prompt is None
    assert rows[1].error == "row 2 has no column 'q'"


def test_csv_without_prompt_column_or_template_says_what_to_do(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "question\nwhy?\n")
    with pytest.raises(SettingsError, match="--template"):
        make_rows(read_input(source), None)


@pytest.mark.parametrize(
    "template",
    ["{row.__class__}", "{x:>999999999}", "{x!r}", "{x[0]}", "{0}", "{__import__('os')}"],
)
def test_fields_are_plain_names_never_format_syntax(tmp_path: Path, template: str) -> None:
    """Attribute access, indexes, conversions and format specs are just (missing) column names."""
    rows = make_rows(read_input(write(tmp_path / "in.jsonl", '{"x": "value"}\n')), parse_template(template))
    assert rows[0].prompt is None
    assert rows[0].error is not None and "has no column" in rows[0].error


@pytest.mark.parametrize("template", ["{unclosed", "closing } alone", "{}", "{ }", "{a{b}"])
def test_broken_templates_are_refused(template: str) -> None:
    with pytest.raises(SettingsError):
        parse_template(template)


def test_result_rows_are_appended_one_line_each(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as writer:
        writer.write(RowResult("a", "p", "text\nwith newline", 3, "eos"))
        writer.write(RowResult(2, None, "", 0, "error", "row 2 has no column 'q'"))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": "a", "prompt": "p", "text": "text\nwith newline", "completion_tokens": 3,
         "stop_reason": "eos"},
        {"id": 2, "prompt": None, "text": "", "completion_tokens": 0, "stop_reason": "error",
         "error": "row 2 has no column 'q'"},
    ]  # fmt: skip


def test_resume_skips_rows_already_in_the_output(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", "".join(f'{{"prompt": "p{i}"}}\n' for i in range(1, 6)))
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as writer:
        writer.write(RowResult(2, "p2", "x", 1, "eos"))
        writer.write(RowResult(4, "p4", "y", 1, "max_tokens"))
    plan = plan_batch(source, out, None)
    assert [row.id for row in plan.todo] == [1, 3, 5]
    assert plan.done == 2
    assert plan.changed == 0 and plan.foreign == 0


def test_resume_reports_changed_prompts_and_foreign_ids(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", '{"q": "a"}\n{"q": "b"}\n')
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as writer:
        writer.write(RowResult(1, "Old: a", "x", 1, "eos"))
        writer.write(RowResult("zz", "New: zz", "x", 1, "eos"))
    plan = plan_batch(source, out, "New: {q}")
    assert plan.changed == 1 and plan.foreign == 1
    assert [row.id for row in plan.todo] == [2]


def test_a_torn_last_line_is_cut_off_before_appending(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    good = json.dumps(RowResult(1, "p", "t", 1, "eos").to_json()) + "\n"
    out.write_text(good + '{"id": 2, "prompt": "p", "te', encoding="utf-8")  # killed mid-write
    existing = read_results(out)
    assert existing.torn and existing.done_ids == {1}
    with ResultWriter(out, existing) as writer:
        writer.write(RowResult(2, "p", "again", 1, "eos"))
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == [1, 2]


def test_a_garbage_last_line_with_its_newline_is_torn_too(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    good = json.dumps(RowResult(1, "p", "t", 1, "eos").to_json()) + "\n"
    out.write_bytes(good.encode() + b"\x00\x00\x00\n")
    existing = read_results(out)
    assert existing.torn and existing.good_bytes == len(good.encode())


def test_garbage_in_the_middle_is_not_a_batch_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    good = json.dumps(RowResult(1, "p", "t", 1, "eos").to_json()) + "\n"
    out.write_text("hello\n" + good, encoding="utf-8")
    with pytest.raises(SettingsError, match="Line 1"):
        read_results(out)


def test_output_cannot_be_the_input(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", '{"prompt": "a"}\n')
    with pytest.raises(SettingsError, match="input file"):
        plan_batch(source, source, None)


def test_progress_counts_and_eta() -> None:
    progress = BatchProgress(total=10, skipped=4)
    assert progress.eta_s() is None
    progress.start()
    progress.row_done(20)
    progress.row_done(0, failed=True)
    progress.stop()
    assert (progress.finished, progress.remaining, progress.failed, progress.tokens) == (6, 4, 1, 20)
    eta = progress.eta_s()
    assert eta is not None and eta == pytest.approx(4 * progress.elapsed_s / 2)
    assert "6/10 rows" in progress.line() and "1 failed" in progress.line()
    assert (
        format_duration(75) == "1m 15s" and format_duration(3700) == "1h 01m" and format_duration(4) == "4s"
    )


def test_only_one_run_writes_an_output_at_a_time(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out), pytest.raises(SettingsError, match="Another batch"):
        ResultWriter(out)
    with ResultWriter(out) as writer:  # the first one closed: free again
        writer.write(RowResult(1, "p", "t", 1, "eos"))


def test_an_output_that_changed_since_it_was_read_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    existing = read_results(out)
    with ResultWriter(out) as writer:  # another run wrote meanwhile
        writer.write(RowResult(1, "p", "t", 1, "eos"))
    with pytest.raises(SettingsError, match="changed since"):
        ResultWriter(out, existing)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
