"""When a download tries again: the backoff, the statuses worth retrying, and the signal a transfer
raises for a failure worth another attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from desktop_app.core.errors import HearthError

__all__ = ["RETRY_STATUS", "RetryPolicy", "RetryableError"]

RETRY_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff, waits 1, 2, 4, 8 s between 5 attempts, for what is transient: a connection
    that breaks or stalls mid-transfer, 408/425/429 and 5xx. A connect that fails (name not resolved,
    connection refused) is said at once: waiting seconds does not bring the Hub back."""

    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 8.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** max(failures - 1, 0)))


class RetryableError(Exception):
    """A transient failure; `progressed` says whether bytes arrived first (the count starts over)."""

    def __init__(self, error: HearthError, *, progressed: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.progressed = progressed
