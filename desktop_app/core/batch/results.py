"""The output file of a batch, which is also its resume point.

One JSON line per input row, appended with a single write, then flushed and fsynced before the next
row starts: a kill -9 can tear only the last line, and only a row still in flight is lost. Reopening
reads the ids already there (a rerun skips them) and cuts a torn last line off before appending.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.batch.inputs import RowId
from desktop_app.core.errors import SettingsError

MAX_OUTPUT_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class RowResult:
    """One output row. `error` is set when the row failed (then `stop_reason` is "error")."""

    id: RowId
    prompt: str | None
    text: str
    completion_tokens: int
    stop_reason: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "prompt": self.prompt,
            "text": self.text,
            "completion_tokens": self.completion_tokens,
            "stop_reason": self.stop_reason,
        }
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowResult:
        rid = data.get("id")
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            raise ValueError("no id")
        tokens = data.get("completion_tokens", 0)
        error = data.get("error")
        prompt = data.get("prompt")
        return cls(
            id=rid,
            prompt=prompt if isinstance(prompt, str) else None,
            text=str(data.get("text") or ""),
            completion_tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else 0,
            stop_reason=str(data.get("stop_reason") or ""),
            error=error if isinstance(error, str) else None,
        )

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class ExistingResults:
    """What an output file already holds."""

    results: list[RowResult]
    good_bytes: int  # the length up to the end of the last complete line
    torn: bool  # something after it (a line cut short by a crash) will be cut off
    size: int = 0  # the file's size when it was read (a writer refuses a file that changed since)

    @property
    def done_ids(self) -> set[RowId]:
        return {r.id for r in self.results}


def read_results(path: str | Path) -> ExistingResults:
    """Read `path` (missing: empty). A last line without its newline, or that is not JSON, is torn;
    any other bad line means this is not a batch output, a SettingsError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_OUTPUT_BYTES:
            raise SettingsError(
                f"The output file {path.name} is over {MAX_OUTPUT_BYTES // 2**30} GiB.",
                hint="Pick a new output file.",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        return ExistingResults([], 0, False)
    except OSError as exc:
        raise SettingsError(
            f"Cannot read the output file {path}: {exc.strerror or exc}.", hint="Check the path."
        ) from exc
    results: list[RowResult] = []
    offset = 0
    lines = raw.split(b"\n")
    for index, line in enumerate(lines):
        last = index == len(lines) - 1  # after the final newline: b"" unless the last line is torn
        if last:
            return ExistingResults(results, offset, bool(line), len(raw))
        end = offset + len(line) + 1
        if not line.strip():
            offset = end
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            results.append(RowResult.from_json(data))
        except (ValueError, RecursionError) as exc:
            if index == len(lines) - 2 and not lines[-1]:  # the last line: torn (e.g. zeros after a crash)
                return ExistingResults(results, offset, True, len(raw))
            raise SettingsError(
                f"Line {index + 1} of {path.name} is not a batch result, so the file cannot be resumed.",
                hint="Pick a new output file, or the output of an earlier run of this batch.",
            ) from exc
        offset = end
    return ExistingResults(results, offset, False, len(raw))


def _lock(fd: int, path: Path) -> None:
    """Only one run writes an output at a time (two would answer the same rows twice). POSIX only;
    the lock ends with the process, so a kill -9 never leaves the file locked."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise SettingsError(
            f"Another batch is writing to {path.name}.",
            hint="Wait for it to finish, or pick another output file.",
        ) from exc


class ResultWriter:
    """Appends result rows durably. Opening cuts a torn last line off. Not thread-safe: one thread
    writes (the engine thread, as each row ends)."""

    def __init__(self, path: str | Path, existing: ExistingResults | None = None) -> None:
        self.path = Path(path)
        existing = existing if existing is not None else read_results(self.path)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
            try:
                _lock(self._fd, self.path)
                if os.fstat(self._fd).st_size != existing.size:
                    raise SettingsError(
                        f"{self.path.name} changed since it was read (another run writing to it?).",
                        hint="Run the batch again: it resumes from what the file holds now.",
                    )
                if existing.torn:
                    os.ftruncate(self._fd, existing.good_bytes)
                    os.fsync(self._fd)
                os.lseek(self._fd, existing.good_bytes, os.SEEK_SET)
            except (OSError, SettingsError):
                os.close(self._fd)
                raise
        except OSError as exc:
            raise SettingsError(
                f"Cannot write the output file {self.path}: {exc.strerror or exc}.",
                hint="Pick a folder you can write to.",
            ) from exc
        self.written = 0

    def write(self, result: RowResult) -> None:
        """Append one row, and return once it is on disk. Raises SettingsError (a full disk)."""
        data = (json.dumps(result.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise SettingsError(
                f"Cannot write to {self.path.name}: {exc.strerror or exc}.",
                hint="Free some disk space, then run the batch again: it resumes.",
            ) from exc
        self.written += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
