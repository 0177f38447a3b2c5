"""The API server inside the GUI: jobs go through the inference worker, uvicorn runs on its own thread.

`ControllerBackend` implements the server's `InferenceBackend` over `InferenceController`, so the chat
and API requests share the one loaded model and run in order. `ServerController` starts and stops the
server without blocking the GUI thread (binding is immediate; stopping is polled on a timer) and turns
the server's reports into signals the Server page connects to.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop_app.core.engine import LoadedModel
from desktop_app.core.errors import HearthError
from desktop_app.core.jobs import Job, JobResult
from desktop_app.core.server_config import ServerOptions
from desktop_app.server.app import ServerApp
from desktop_app.server.runner import ServerRunner
from desktop_app.server.security import SecurityPolicy
from desktop_app.workers.inference import InferenceController

if TYPE_CHECKING:
    from desktop_app.core.engine.sequences import SequenceRequest
    from desktop_app.core.parallel_lane import ParallelLane

log = logging.getLogger(__name__)

POLL_MS = 25


class ControllerBackend:
    """InferenceBackend over the GUI's inference thread. All its methods are thread-safe.

    With `parallel` > 1, requests go through a ParallelLane (decoded together, as `hearth serve`
    does); its host job pauses whenever a chat reply waits, so the chat goes first."""

    def __init__(self, controller: InferenceController, parallel: int = 1) -> None:
        self._controller = controller
        self.parallel = parallel
        self._lane: ParallelLane | None = None
        if parallel > 1:
            from desktop_app.core.parallel_lane import ParallelLane  # the engine's modules: on demand

            worker = controller.worker
            self._lane = ParallelLane(
                parallel,
                controller.submit_job,
                pause=lambda: worker.chat_waiting() > 0,
                listener=_WorkerActivity(controller),
            )

    def submit_sequence(self, request: SequenceRequest, description: str) -> int:
        assert self._lane is not None, "made without parallel sequences"
        request_id = self._controller.worker.new_request_id()
        self._lane.add(request_id, description, request)
        return request_id

    def model(self) -> LoadedModel | None:
        return self._controller.loaded_model

    def submit(self, job: Job, description: str) -> int:
        return self._controller.submit_job(job, description)

    def cancel(self, request_id: int) -> None:
        if self._lane is None or not self._lane.cancel(request_id):
            self._controller.cancel_request(request_id)


class _WorkerActivity:
    """The lane's requests in the Server page's activity list, as the worker reports its own jobs
    (called on the inference thread; the worker's signals reach the GUI queued)."""

    def __init__(self, controller: InferenceController) -> None:
        self._worker = controller.worker

    def job_started(self, request_id: int, description: str) -> None:
        self._worker.external_started.emit(request_id, description)

    def job_finished(self, request_id: int, description: str, result: JobResult) -> None:
        self._worker.external_finished.emit(request_id, result)


class ServerController(QObject):
    """Owns the running server, if any. Lives on the GUI thread."""

    started = Signal(str)  # base URL, e.g. http://127.0.0.1:8765
    stopped = Signal()
    failed = Signal(object)  # HearthError: could not start, or died
    # A request the security gate refused: method, path, HTTP status, code. Emitted on the server's
    # thread; connections to GUI-thread receivers are queued.
    rejected = Signal(str, str, int, str)

    def __init__(self, inference: InferenceController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._inference = inference
        self.backend = ControllerBackend(inference)
        self.runner: ServerRunner | None = None
        self.policy: SecurityPolicy | None = None
        self._stopping = False
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._check)

    @property
    def url(self) -> str | None:
        return self.runner.url if self.runner is not None else None

    def is_running(self) -> bool:
        return self.runner is not None and self.runner.is_running()

    def start(self, options: ServerOptions) -> bool:
        """Bind and start serving. False (and `failed` emitted) when it cannot start."""
        if self.runner is not None:
            return self.is_running()
        policy = SecurityPolicy(
            options.api_key,
            options.cors_origins,
            allow_remote=options.allow_remote,
            max_body_bytes=options.max_body_bytes,
        )
        self.backend = ControllerBackend(self._inference, options.parallel)
        app = ServerApp(
            self.backend,
            policy,
            default_sampling=options.default_sampling,
            max_pending=options.max_pending,
            on_rejected=self._on_rejected,
        )
        runner = ServerRunner(app, options.host, options.port)
        try:
            url = runner.start()
        except HearthError as exc:
            self.failed.emit(exc)
            return False
        self.runner, self.policy, self._stopping = runner, policy, False
        self._poll.start()
        log.info("API server listening on %s", url)
        self.started.emit(url)
        return True

    def stop(self) -> None:
        """Non-blocking: asks the server to stop; `stopped` follows when its thread has ended."""
        if self.runner is None:
            return
        self._stopping = True
        self.runner.request_stop()

    def stop_and_wait(self, timeout: float = 5.0) -> bool:
        """Blocking stop, for quitting the app. True when the server thread is gone."""
        if self.runner is None:
            return True
        self._stopping = True
        gone = self.runner.stop(timeout)
        self._check()
        return gone

    def set_api_key(self, key: str) -> None:
        """Takes effect on the next request."""
        if self.policy is not None:
            self.policy.set_api_key(key)

    def set_cors_origins(self, origins: tuple[str, ...]) -> None:
        if self.policy is not None:
            self.policy.set_cors_origins(origins)

    def _on_rejected(self, method: str, path: str, status: int, code: str) -> None:
        self.rejected.emit(method, path, status, code)

    @Slot()
    def _check(self) -> None:
        runner = self.runner
        if runner is None or runner.is_running():
            return
        self._poll.stop()
        self.runner, self.policy = None, None
        if not self._stopping and runner.error is not None:
            self.failed.emit(
                HearthError(
                    f"The API server stopped unexpectedly: {runner.error}",
                    hint="Turn it on again; see the log for details.",
                )
            )
        log.info("API server stopped")
        self.stopped.emit()
