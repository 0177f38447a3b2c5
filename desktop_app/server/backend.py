"""How the API server reaches the one model: an `InferenceBackend` runs its jobs on the engine's thread.

`core.jobs.ThreadBackend` is the backend of `hearth serve`; the GUI's (workers/server_bridge.py) queues
jobs on the inference worker instead.
"""

from __future__ import annotations

from typing import Protocol

from desktop_app.core.engine import LoadedModel
from desktop_app.core.jobs import Job


class InferenceBackend(Protocol):
    def model(self) -> LoadedModel | None:
        """The loaded model, or None. Any thread; a snapshot (the job sees the engine's own)."""
        ...

    def submit(self, job: Job, description: str) -> int:
        """Thread-safe. Queue `job`; jobs run in order. Returns the request id."""
        ...

    def cancel(self, request_id: int) -> None:
        """Thread-safe. Cancel that request only, queued or running; a finished id is ignored."""
        ...
