"""A batch's input: JSONL rows (`id` and `prompt`, or any fields for a template) or a CSV with a header.

The file is untrusted: its size, line lengths and row count are capped, a bad line is an error for that
row only, and ids must be unique (a resumed run skips rows by id, so two rows sharing one would lose one).
A row without an id gets its 1-based row number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from desktop_app.core.batch.template import MissingColumnError, PromptTemplate
from desktop_app.core.errors import SettingsError

MAX_INPUT_BYTES = 256 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_FIELD_CHARS = 8 * 1024 * 1024

RowId = str | int
Kind = Literal["jsonl", "csv"]


@dataclass(frozen=True)
class Record:
    """One row as read: its fields, or why it could not be read."""

    number: int  # 1-based, counting rows (not blank lines or the CSV header)
    fields: Mapping[str, object] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class InputFile:
    kind: Kind
    records: list[Record]
    columns: list[str]  # the CSV header, or every key the JSONL rows use, in first-seen order


@dataclass(frozen=True)
class BatchRow:
    """A row to answer: its id and prompt, or the error that keeps it from being sent."""

    number: int
    id: RowId
    prompt: str | None
    error: str | None = None


def input_kind(path: Path) -> Kind:
    return "csv" if path.suffix.lower() in {".csv", ".tsv"} else "jsonl"


def read_input(path: str | Path) -> InputFile:
    """Read and split `path` into records. Raises SettingsError when the file as a whole is unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise SettingsError(
                f"{path.name} is {size / 2**20:,.0f} MiB; a batch input can be at most "
                f"{MAX_INPUT_BYTES // 2**20} MiB.",
                hint="Split the file into smaller ones.",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"Cannot read the input file {path}: {exc.strerror or exc}.",
            hint="Check the path and that you may read it.",
        ) from exc
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    kind = input_kind(path)
    return (
        _read_csv(text, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        if kind == "csv"
        else _read_jsonl(text)
    )


def _read_jsonl(text: str) -> InputFile:
    records: list[Record] = []
    columns: dict[str, None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        number = len(records) + 1
        _check_rows(number)
        if len(line) > MAX_FIELD_CHARS:
            records.append(
                Record(number, error=f"row {number} is longer than {MAX_FIELD_CHARS:,} characters")
            )
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append(Record(number, error=f"row {number} is not valid JSON ({exc.msg})"))
            continue
        except (ValueError, RecursionError):  # nested too deep, or a number too long
            records.append(Record(number, error=f"row {number} is not valid JSON"))
            continue
        if not isinstance(value, dict):
            records.append(Record(number, error=f"row {number} is not a JSON object"))
            continue
        columns.update(dict.fromkeys(value))
        records.append(Record(number, value))
    return InputFile("jsonl", records, list(columns))


def _read_csv(text: str, *, delimiter: str) -> InputFile:
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SettingsError(
            f"The CSV header cannot be read: {exc}.", hint="Check the file's first line."
        ) from exc
    if not header:
        raise SettingsError("The CSV file is empty.", hint="The first line names the columns.")
    header = [name.strip() for name in header]
    records: list[Record] = []
    while True:
        number = len(records) + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            records.append(Record(number, error=f"row {number} cannot be read ({exc})"))
            break  # the reader cannot go on past a broken quote
        if cells is None:
            break
        if not any(cell.strip() for cell in cells):
            continue
        _check_rows(number)
        if len(cells) > len(header):
            records.append(
                Record(number, error=f"row {number} has {len(cells)} cells; the header has {len(header)}")
            )
            continue
        records.append(Record(number, dict(zip(header, cells, strict=False))))
    return InputFile("csv", records, header)


def _check_rows(number: int) -> None:
    if number > MAX_ROWS:
        raise SettingsError(
            f"The input has more than {MAX_ROWS:,} rows.", hint="Split the file into smaller ones."
        )


def row_id(record: Record) -> tuple[RowId, str | None]:
    """The record's id (its number when it has none) and an error when its id is unusable."""
    value = record.fields.get("id")
    if value is None or value == "":
        return record.number, None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return record.number, f"row {record.number} has an id that is neither text nor a whole number"
    return value, None


def make_rows(source: InputFile, template: PromptTemplate | None) -> list[BatchRow]:
    """The rows to answer: each record's prompt (its `prompt` field, or the template filled from its
    fields). A row that cannot be filled carries its error. Raises SettingsError for duplicate ids,
    and for a CSV with neither a prompt column nor a template."""
    if template is None and source.kind == "csv" and "prompt" not in source.columns:
        raise SettingsError(
            "The CSV file has no 'prompt' column.",
            hint="Pass --template with {column} fields, e.g. --template 'Summarize: {text}'.",
        )
    rows: list[BatchRow] = []
    seen: dict[RowId, int] = {}
    for record in source.records:
        rid, id_error = row_id(record)
        if rid in seen:
            raise SettingsError(
                f"Row ids must be unique: id {json.dumps(rid)} is on rows {seen[rid]} and {record.number}.",
                hint="Give each row its own id, or leave ids out to number the rows.",
            )
        seen[rid] = record.number
        error = record.error or id_error
        rows.append(
            BatchRow(record.number, rid, None, error) if error else _prompt_row(record, rid, template)
        )
    return rows


def _prompt_row(record: Record, rid: RowId, template: PromptTemplate | None) -> BatchRow:
    if template is not None:
        try:
            return BatchRow(record.number, rid, template.fill(record.fields))
        except MissingColumnError as exc:
            return BatchRow(record.number, rid, None, f"row {record.number} has no column {exc.column!r}")
    prompt = record.fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return BatchRow(
            record.number,
            rid,
            None,
            f"row {record.number} has no 'prompt' text (or use a template with {{column}} fields)",
        )
    return BatchRow(record.number, rid, prompt)


def first_preview(source: InputFile, template: PromptTemplate | None) -> Sequence[BatchRow]:
    """The first row's prompt (or error), for a live preview: no duplicate check over the whole file."""
    for record in source.records:
        rid, id_error = row_id(record)
        error = record.error or id_error
        return [BatchRow(record.number, rid, None, error) if error else _prompt_row(record, rid, template)]
    return []
