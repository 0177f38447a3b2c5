"""`DownloadManager`: the queue's one entry point for the GUI and `hearth pull`, and the scheduler
thread that runs queued downloads one by one.

A download runs either on the manager's worker thread (queued from the GUI) or synchronously in the
caller's thread (`run`, as `hearth pull` does). Either way it goes to a locked partial file, is
verified against the Hub's checksum, and only then moves into the models folder. Pause, cancel and
stop reach the running download through its `Control`, from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from desktop_app.core.db import Database
from desktop_app.core.downloads import partial
from desktop_app.core.downloads.control import Control, StopError
from desktop_app.core.downloads.errors import (
    AlreadyDownloadedError,
    DownloadBusyError,
    DownloadExistsError,
    DownloadInterruptedError,
)
from desktop_app.core.downloads.progress import Reporter
from desktop_app.core.downloads.queue import DownloadQueue
from desktop_app.core.downloads.records import (
    CANCELLED,
    DONE,
    DOWNLOADING,
    FAILED,
    PAUSED,
    QUEUED,
    UNFINISHED,
    CompletedDownload,
    DownloadInfo,
    Progress,
)
from desktop_app.core.downloads.remote import Remote, fetch_remote
from desktop_app.core.downloads.retry import RetryPolicy
from desktop_app.core.downloads.transfer import Transfer
from desktop_app.core.errors import HearthError, IntegrityError, OfflineError
from desktop_app.core.hub.client import Token
from desktop_app.core.hub.names import check_local_name
from desktop_app.core.network import is_offline
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import read_token

__all__ = ["DownloadManager"]

log = logging.getLogger(__name__)


class DownloadManager:
    """The download queue. Thread-safe: the GUI thread calls it while one worker thread downloads.

    Row states: queued -> downloading -> done, or paused / failed (partial kept, resumable) /
    cancelled (partial deleted). `on_complete` runs on the thread that ran the download (the worker's,
    for queued downloads), after the file is in place. `token` None means the token saved in Settings.
    """

    def __init__(
        self,
        db: Database,
        paths: AppPaths,
        *,
        token: str | None = None,
        on_complete: Callable[[CompletedDownload], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._db = db
        self._paths = paths
        self._token = token
        self._on_complete = on_complete
        self._retry = retry or RetryPolicy()
        self._lock = threading.RLock()
        self._active: dict[int, Control] = {}
        self._queue = DownloadQueue(db, self._live)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()

    # ------------------------------------------------------------------------------ queue API

    def enqueue(self, repo: str, filename: str, revision: str = "main") -> int:
        """Queue one file after checking it exists, what it weighs, and that it fits on the disk.

        Does network I/O (one HEAD): call it off the GUI thread. An unfinished row for the same file is
        refused while active, and re-queued (keeping its partial bytes) after a failure.
        """
        dest = self._dest_path(repo, filename)
        existing = self.find(repo, filename, revision)
        if existing is not None and existing.state != FAILED:
            raise DownloadExistsError(
                f"{filename} from {repo} is already in the download queue ({existing.state}).",
                download_id=existing.id,
                hint="Resume that download instead of starting a new one.",
            )
        remote = self._fetch_remote(repo, filename, revision, time.sleep)
        if existing is None and dest.is_file() and dest.stat().st_size == remote.size:
            raise AlreadyDownloadedError(
                f"{filename} is already downloaded at {dest}.",
                path=dest,
                size=remote.size,
                hint="Delete it first to download it again.",
            )
        have = 0
        if existing is not None and existing.sha256 == remote.sha256:
            have = partial.file_size(existing.partial_path)
        partial.check_space(self._paths.models, remote.size - have, filename)
        with self._lock:  # the worker claims rows under this lock: it cannot start on a stale partial
            download_id = self._queue.add(
                repo,
                filename,
                revision,
                remote,
                dest=dest,
                partial_dir=self._paths.models / ".partial",
                failed=existing,
                have=have,
            )
            if existing is not None and existing.sha256 != remote.sha256:
                partial.unlink(existing.partial_path)  # the file changed on the Hub: its bytes are stale
        self._wake.set()
        return download_id

    def find(self, repo: str, filename: str, revision: str = "main") -> DownloadInfo | None:
        """The unfinished row for this file, if any (how `hearth pull` finds its partial again)."""
        return self._queue.find(repo, filename, revision)

    def get(self, download_id: int) -> DownloadInfo:
        return self._queue.get(download_id)

    def list(self) -> list[DownloadInfo]:
        return self._queue.list()

    def pause(self, download_id: int) -> None:
        """Stop a download but keep its bytes; resume() continues where it stopped."""
        with self._lock:
            ctrl = self._active.get(download_id)
            if ctrl is not None:
                ctrl.request(PAUSED)
            elif self.get(download_id).state in (QUEUED, DOWNLOADING):
                self._queue.set_state(download_id, PAUSED)

    def resume(self, download_id: int) -> None:
        with self._lock:
            if download_id in self._active:
                return
            if self.get(download_id).state in (PAUSED, FAILED, DOWNLOADING):
                self._queue.set_state(download_id, QUEUED)
        self._wake.set()

    def cancel(self, download_id: int) -> None:
        """Stop a download and delete its partial file. A finished download is left alone."""
        with self._lock:
            ctrl = self._active.get(download_id)
            if ctrl is not None:
                ctrl.request(CANCELLED)
                return
            info = self.get(download_id)
            if info.state in UNFINISHED:
                partial.unlink(info.partial_path)
                self._queue.set_state(download_id, CANCELLED, downloaded=0)

    # ------------------------------------------------------------------------------ worker

    def start(self) -> None:
        """Run queued downloads one by one on a thread; rows a crash left "downloading" are queued again."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._queue.requeue_interrupted(busy=self._active)  # a direct run() here is not stale
            self._stopping.clear()
            self._thread = threading.Thread(target=self._work, name="hearth-downloads")
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Interrupt the running download (it goes back to "queued") and join the thread."""
        with self._lock:
            self._stopping.set()
            for ctrl in self._active.values():
                if ctrl.worker:  # a run() called directly belongs to its caller
                    ctrl.request(QUEUED)
            thread = self._thread
        self._wake.set()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _work(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                ctrl = self._claim_next()
                if ctrl is None:
                    self._wake.wait(1.0)
                    continue
                try:
                    self._run(ctrl, None)
                except DownloadInterruptedError:
                    pass
                except HearthError as exc:
                    log.warning("download %d failed: %s", ctrl.download_id, exc)
                except Exception as exc:  # a bug: keep the worker alive, record it on the row
                    log.exception("download %d crashed", ctrl.download_id)
                    self._queue.set_state(ctrl.download_id, FAILED, error=f"Unexpected error: {exc!r}")
                finally:
                    self._release(ctrl.download_id)
        finally:
            self._db.close()

    def _claim_next(self) -> Control | None:
        with self._lock:
            if self._stopping.is_set() or is_offline():  # offline: the queue waits, nothing fails
                return None
            download_id = self._queue.next_queued(busy=self._active)
            if download_id is None:
                return None
            ctrl = Control(download_id, None, worker=True)
            self._active[download_id] = ctrl
            self._queue.set_state(download_id, DOWNLOADING)
            return ctrl

    def _release(self, download_id: int) -> None:
        with self._lock:
            self._active.pop(download_id, None)

    def _live(self, download_id: int) -> Progress | None:
        ctrl = self._active.get(download_id)
        return ctrl.latest if ctrl is not None else None

    # ------------------------------------------------------------------------------ run

    def run(
        self,
        download_id: int,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Download (or finish downloading) one queued file, synchronously; returns its final path.

        Setting `cancel` stops it like pause(): the partial file stays and a later run() resumes.
        """
        with self._lock:
            if download_id in self._active:
                raise DownloadExistsError(
                    f"Download {download_id} is already running.", download_id=download_id
                )
            self.get(download_id)  # UnknownDownloadError before anything is registered
            ctrl = Control(download_id, cancel)
            self._active[download_id] = ctrl  # the worker skips it from now on
        try:
            return self._run(ctrl, progress)
        finally:
            self._release(download_id)

    def _run(self, ctrl: Control, progress: Callable[[Progress], None] | None) -> Path:
        info = self.get(ctrl.download_id)
        if info.state == DONE and info.dest_path.is_file():
            return info.dest_path
        if info.state == CANCELLED:
            raise DownloadInterruptedError(
                f"The download of {info.filename} was cancelled.", reason=CANCELLED
            )
        try:
            with partial.open_partial(info.partial_path) as part:
                self._queue.set_state(info.id, DOWNLOADING)
                remote, sha256, reporter = self._transfer(ctrl, info, part, progress)
            completed = self._install(info, remote, sha256)
        except DownloadBusyError:
            raise  # the row belongs to the process that holds the lock: leave it alone
        except StopError as stop:
            return self._stopped(info, stop.reason)
        except KeyboardInterrupt:
            self._queue.set_state(info.id, PAUSED, downloaded=partial.file_size(info.partial_path))
            raise
        except IntegrityError as exc:
            partial.unlink(info.partial_path)
            self._queue.set_state(info.id, FAILED, downloaded=0, error=str(exc))
            raise
        except OfflineError as exc:
            size = partial.file_size(info.partial_path)
            if is_offline():  # the user's choice, not a failure
                self._queue.set_state(info.id, ctrl.offline_state, downloaded=size, error=str(exc))
                raise
            self._queue.set_state(info.id, FAILED, downloaded=size, error=str(exc))
            raise
        except HearthError as exc:
            self._queue.set_state(
                info.id, FAILED, downloaded=partial.file_size(info.partial_path), error=str(exc)
            )
            raise
        reporter.emit(remote.size, DONE, force=True)
        if self._on_complete is not None:  # outside the try: the file is in place whatever this does
            self._on_complete(completed)
        return completed.path

    def _stopped(self, info: DownloadInfo, reason: str) -> Path:
        if reason == CANCELLED:
            partial.unlink(info.partial_path)
            self._queue.set_state(info.id, CANCELLED, downloaded=0)
            raise DownloadInterruptedError(f"The download of {info.filename} was cancelled.", reason=reason)
        self._queue.set_state(info.id, reason, downloaded=partial.file_size(info.partial_path))
        raise DownloadInterruptedError(
            f"The download of {info.filename} was paused.",
            reason=reason,
            hint="Resume it later; the part already downloaded is kept.",
        )

    def _transfer(
        self, ctrl: Control, info: DownloadInfo, part: IO[bytes], progress: Callable[[Progress], None] | None
    ) -> tuple[Remote, str, Reporter]:
        """Bring the partial file to the published size and check it; returns its sha256."""
        remote = self._fetch_remote(info.repo, info.filename, info.revision, ctrl.sleep)
        have = partial.size_of(part)
        if remote.sha256 != info.sha256 or remote.etag != info.etag or have > remote.size:
            if have:
                log.info("%s changed on the Hub, or its partial file is too long: restarting", info.filename)
            partial.truncate(part, info.partial_path)
            have = 0
            self._queue.update(info.id, size_bytes=remote.size, sha256=remote.sha256, etag=remote.etag)
        partial.check_space(self._paths.models, remote.size - have, info.filename)

        def save(downloaded: int) -> None:
            self._queue.update(info.id, downloaded_bytes=downloaded)

        reporter = Reporter(ctrl, remote.size, progress, save)
        job = Transfer(ctrl, info, remote, part, reporter)
        job.rehash(have)
        return remote, job.complete(self._auth, self._retry), reporter

    def _install(self, info: DownloadInfo, remote: Remote, sha256: str) -> CompletedDownload:
        """Move the verified file into the models folder (after its handle is closed), then say so."""
        partial.move_into_place(info.partial_path, info.dest_path, info.filename)
        self._queue.mark_done(info.id, remote.size, sha256)
        return CompletedDownload(
            info.id, info.repo, info.filename, info.revision, info.dest_path, sha256, remote.size
        )

    # ------------------------------------------------------------------------------ helpers

    def _fetch_remote(
        self, repo: str, filename: str, revision: str, sleep: Callable[[float], None]
    ) -> Remote:
        return fetch_remote(repo, filename, revision, auth=self._auth, retry=self._retry, sleep=sleep)

    def _auth(self) -> Token:
        """The token given to Hearth, else False: never the library's own login or an OAuth refresh."""
        return self._token or read_token(self._paths) or False

    def _dest_path(self, repo: str, filename: str) -> Path:
        """Where a Hub file lands; `check_local_name` refuses what some OS would misread."""
        return self._paths.models / partial.safe_repo_dir(repo) / Path(*check_local_name(filename))
