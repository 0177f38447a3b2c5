"""What a run of a batch will do: the input's rows, those the output already holds, those left."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.batch.inputs import BatchRow, RowId, make_rows, read_input
from desktop_app.core.batch.results import ExistingResults, read_results
from desktop_app.core.batch.template import parse_template
from desktop_app.core.errors import SettingsError


@dataclass(frozen=True)
class BatchPlan:
    rows: list[BatchRow]  # every input row
    todo: list[BatchRow]  # those without a result yet
    existing: ExistingResults
    changed: int  # done rows whose prompt differs from what this template makes of them now
    foreign: int  # result ids that are not in this input (another input's output?)

    @property
    def done(self) -> int:
        return len(self.rows) - len(self.todo)


def plan_batch(input_path: str | Path, output_path: str | Path, template: str | None) -> BatchPlan:
    """Read the input and the output (if any). Raises SettingsError for an unusable input, template
    or output, and when input and output are the same file."""
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.exists() and output_path.exists() and input_path.resolve() == output_path.resolve():
        raise SettingsError(
            "The output file is the input file.", hint="Pick another output file, e.g. results.jsonl."
        )
    parsed = parse_template(template) if template else None
    rows = make_rows(read_input(input_path), parsed)
    existing = read_results(output_path)
    done: dict[RowId, str | None] = {r.id: r.prompt for r in existing.results}
    ids = {row.id for row in rows}
    todo = [row for row in rows if row.id not in done]
    changed = sum(
        1
        for row in rows
        if row.id in done and row.prompt is not None and done[row.id] not in (None, row.prompt)
    )
    foreign = sum(1 for rid in done if rid not in ids)
    return BatchPlan(rows, todo, existing, changed, foreign)
