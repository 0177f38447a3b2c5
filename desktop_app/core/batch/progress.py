"""Counts, speed and time left of a batch run, from the rows finished in this run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class BatchProgress:
    """`total` rows in the input, `skipped` of them done by an earlier run. Times are monotonic."""

    total: int
    skipped: int = 0
    done: int = 0  # finished in this run (answered or failed)
    failed: int = 0
    tokens: int = 0  # completion tokens generated in this run
    started_at: float = field(default_factory=time.monotonic)
    active_s: float = 0.0  # time spent running before the last resume (pauses do not count)
    _running_since: float | None = None

    def start(self) -> None:
        self._running_since = time.monotonic()

    def stop(self) -> None:
        """A pause: the time until the next start() is not counted."""
        if self._running_since is not None:
            self.active_s += time.monotonic() - self._running_since
            self._running_since = None

    def row_done(self, completion_tokens: int, *, failed: bool = False) -> None:
        self.done += 1
        self.tokens += completion_tokens
        self.failed += int(failed)

    @property
    def elapsed_s(self) -> float:
        running = time.monotonic() - self._running_since if self._running_since is not None else 0.0
        return self.active_s + running

    @property
    def finished(self) -> int:
        """Rows with a result, from this run and earlier ones."""
        return self.skipped + self.done

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def tokens_per_s(self) -> float:
        elapsed = self.elapsed_s
        return self.tokens / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        """Seconds left at this run's pace so far; None before a row has finished."""
        if self.done == 0 or self.elapsed_s <= 0:
            return 0.0 if self.remaining == 0 else None
        return self.remaining * self.elapsed_s / self.done

    def line(self) -> str:
        parts = [f"{self.finished}/{self.total} rows"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{self.tokens_per_s:.1f} tok/s")
        eta = self.eta_s()
        parts.append("ETA " + (format_duration(eta) if eta is not None else "…"))
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
