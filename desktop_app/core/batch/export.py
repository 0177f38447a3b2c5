"""Exporting a batch's results as CSV or JSONL (the output file already is JSONL; this writes a copy,
in input order, e.g. for a spreadsheet)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from desktop_app.core.batch.results import RowResult
from desktop_app.core.errors import SettingsError

CSV_COLUMNS = ("id", "prompt", "text", "completion_tokens", "stop_reason", "error")
#: a spreadsheet runs a cell that starts with one of these as a formula: model text must stay text
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_results(results: Iterable[RowResult], path: str | Path) -> int:
    """Write `results` to `path` (.csv: a header and one row each; else JSONL), via a temporary file
    renamed into place. Returns the number of rows. Raises SettingsError."""
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            if path.suffix.lower() == ".csv":
                writer = csv.writer(out)
                writer.writerow(CSV_COLUMNS)
                for result in results:
                    data = result.to_json()
                    writer.writerow([spreadsheet_safe(data.get(name)) for name in CSV_COLUMNS])
                    count += 1
            else:
                for result in results:
                    out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
                    count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise SettingsError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="Pick a folder you can write to."
        ) from exc
    return count
