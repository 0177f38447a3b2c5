"""Verified, resumable model downloads from the Hugging Face Hub, queued in SQLite.

Why our own loop instead of `hf_hub_download`: huggingface_hub 2.x checks only the size of what it
downloaded and no longer resumes after the process restarts (DESIGN.md §3), and our users' most common
complaints are downloads that restart from zero and corrupt files nobody noticed. So the bytes go to a
partial file that survives restarts (and SIGKILL), a resume asks for `Range: bytes=N-` and re-hashes the
N bytes already on disk, and a file enters the models folder only after its size and sha256 match what
the Hub published. The HTTP side stays the library's: its session (proxies, headers, offline hook), its
URL builder and its metadata call, so `HF_ENDPOINT`, `HF_TOKEN` and user agents behave as in every other
Hub tool.

The database row is bookkeeping; the truth about progress is the partial file's size on disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Literal

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata, get_session, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazily exported

from desktop_app import __version__
from desktop_app.core.db import Database
from desktop_app.core.errors import (
    AuthRequiredError,
    DiskFullError,
    HearthError,
    IntegrityError,
    NetworkError,
    OfflineError,
    RemoteNotFoundError,
    StorageError,
)
from desktop_app.core.hub import HubUnreachableError, check_local_name, gated_error, hub_endpoint
from desktop_app.core.network import ensure_online, is_offline
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import read_token
from desktop_app.core.units import human_size

__all__ = [
    "AlreadyDownloadedError",
    "CompletedDownload",
    "DownloadBusyError",
    "DownloadExistsError",
    "DownloadInfo",
    "DownloadInterruptedError",
    "DownloadManager",
    "Progress",
    "RetryPolicy",
    "UnknownDownloadError",
    "safe_repo_dir",
]

log = logging.getLogger(__name__)

ACTION: Final = "download models"

# Row states. "downloading" rows left behind by a crash are runnable: the partial file is the truth.
QUEUED: Final = "queued"
DOWNLOADING: Final = "downloading"
PAUSED: Final = "paused"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
UNFINISHED: Final = (QUEUED, DOWNLOADING, PAUSED, FAILED)
#: extra Progress states while a download is running
RESUMING: Final = "resuming"  # re-hashing the bytes already on disk
VERIFYING: Final = "verifying"

_CHUNK: Final = 1024 * 1024  # bytes per write
_FSYNC_EVERY_S: Final = 5.0  # bounds what a power cut can leave unsynced in the partial file
_DB_EVERY_S: Final = 0.5
_PROGRESS_EVERY_S: Final = 0.1
_SPEED_WINDOW_S: Final = 3.0
_FREE_SPACE_MARGIN: Final = 64 * 1024 * 1024  # keep the disk from filling to the last byte
_RETRY_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1: Final = re.compile(r"[0-9a-f]{40}")
# Header text from the network: ASCII digits only, and few enough that int() stays cheap and legal.
_CONTENT_RANGE: Final = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)", re.ASCII)
_UNSAFE_CHARS: Final = re.compile(r"[^A-Za-z0-9._-]+")
_NO_SPACE: Final = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_CANNOT_SYNC: Final = frozenset({errno.EINVAL, getattr(errno, "ENOTSUP", errno.EINVAL)})


# ----------------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Progress:
    """`state`: "resuming" (re-hashing bytes already on disk), "downloading", "verifying", "done"."""

    downloaded: int
    total: int
    speed_bps: float
    eta_s: float | None
    state: str

    @property
    def fraction(self) -> float:
        return self.downloaded / self.total if self.total else 0.0


@dataclass(frozen=True)
class CompletedDownload:
    """Handed to `on_complete` so the library can register the model."""

    download_id: int
    repo: str
    filename: str
    revision: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class DownloadInfo:
    """One row of the queue, with live speed for the download that is running."""

    id: int
    repo: str
    filename: str
    revision: str
    state: str
    downloaded_bytes: int
    size_bytes: int | None
    sha256: str | None
    etag: str | None
    dest_path: Path
    partial_path: Path
    error: str | None
    created_at: float
    updated_at: float
    speed_bps: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return self.downloaded_bytes / self.size_bytes if self.size_bytes else 0.0


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


class DownloadExistsError(HearthError):
    """The same file (repo, name, revision) is already in the queue."""

    title = "Already in the download queue"

    def __init__(self, message: str, *, download_id: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.download_id = download_id


class AlreadyDownloadedError(HearthError):
    """The destination already holds a file of the published size."""

    title = "Already downloaded"
    exit_code = 0

    def __init__(self, message: str, *, path: Path, size: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.size = size


class DownloadInterruptedError(HearthError):
    """run() stopped early: paused, cancelled, or the worker is shutting down."""

    title = "Download stopped"
    exit_code = 130

    def __init__(self, message: str, *, reason: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class DownloadBusyError(StorageError):
    """Another process (the app, or `hearth pull`) is writing this download's partial file."""

    title = "Already downloading"


class UnknownDownloadError(HearthError):
    title = "No such download"
    exit_code = 2


@dataclass(frozen=True)
class _Remote:
    """What the Hub says about one file right now."""

    url: str
    size: int
    sha256: str | None
    etag: str
    commit: str | None


class _StopError(Exception):
    """Raised inside the transfer loop when the download must stop; carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Control:
    """Per-running-download switches, shared between run() and pause/cancel/stop from other threads."""

    download_id: int
    external: threading.Event | None
    worker: bool = False
    event: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    latest: Progress | None = None

    @property
    def offline_state(self) -> str:
        """The worker's downloads wait in the queue for the network; a direct run() is paused."""
        return QUEUED if self.worker else PAUSED

    def request(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def check(self) -> None:
        if self.event.is_set():
            raise _StopError(self.reason)
        if is_offline():  # switched offline mid-download: not one more byte
            raise _StopError(self.offline_state)
        if self.external is not None and self.external.is_set():
            raise _StopError(PAUSED)

    def sleep(self, seconds: float) -> None:
        """Backoff that wakes up at once when asked to stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check()
            self.event.wait(min(left, 0.1))
        self.check()


class _Digest:
    """sha256 always; the git blob sha1 too when that is what the Hub published (non-LFS files)."""

    def __init__(self, size: int, want_git_sha1: bool) -> None:
        self.sha256 = hashlib.sha256()
        self.git_sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False) if want_git_sha1 else None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.sha256.update(data)
        if self.git_sha1 is not None:
            self.git_sha1.update(data)


class _Meter:
    """Speed over the last few seconds, so a stall shows as a falling number rather than a frozen one."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, downloaded: int) -> float:
        now = time.monotonic()
        self._samples.append((now, downloaded))
        while len(self._samples) > 2 and now - self._samples[0][0] > _SPEED_WINDOW_S:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return (downloaded - b0) / (now - t0) if now > t0 else 0.0

    def reset(self) -> None:
        self._samples.clear()


# --------------------------------------------------------------------------------------- manager


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
        self._active: dict[int, _Control] = {}
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
        remote = self._fetch_remote(repo, filename, revision, None)
        if existing is None and dest.is_file() and dest.stat().st_size == remote.size:
            raise AlreadyDownloadedError(
                f"{filename} is already downloaded at {dest}.",
                path=dest,
                size=remote.size,
                hint="Delete it first to download it again.",
            )
        have = 0
        if existing is not None and existing.sha256 == remote.sha256:
            have = _file_size(existing.partial_path)
        self._check_space(remote.size - have, filename)
        now = time.time()
        with self._lock, self._db.transaction() as conn:
            again = self.find(repo, filename, revision)  # another thread may have queued it meanwhile
            if again is not None and (existing is None or again.id != existing.id or again.state != FAILED):
                raise DownloadExistsError(
                    f"{filename} from {repo} is already in the download queue ({again.state}).",
                    download_id=again.id,
                )
            if existing is not None:
                if existing.sha256 != remote.sha256:
                    _unlink(existing.partial_path)
                conn.execute(
                    "UPDATE downloads SET state=?, size_bytes=?, sha256=?, etag=?, error=NULL, "
                    "downloaded_bytes=?, updated_at=? WHERE id=?",
                    (QUEUED, remote.size, remote.sha256, remote.etag, have, now, existing.id),
                )
                download_id = existing.id
            else:
                cur = conn.execute(
                    "INSERT INTO downloads (repo, filename, revision, size_bytes, sha256, etag, dest_path, "
                    "partial_path, state, downloaded_bytes, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, 0, ?, ?)",
                    (
                        repo,
                        filename,
                        revision,
                        remote.size,
                        remote.sha256,
                        remote.etag,
                        str(dest),
                        QUEUED,
                        now,
                        now,
                    ),
                )
                assert cur.lastrowid is not None
                download_id = cur.lastrowid
                partial = self._paths.models / ".partial" / f"{download_id}-{_safe_name(filename)}.part"
                conn.execute("UPDATE downloads SET partial_path=? WHERE id=?", (str(partial), download_id))
        self._wake.set()
        return download_id

    def find(self, repo: str, filename: str, revision: str = "main") -> DownloadInfo | None:
        """The unfinished row for this file, if any (how `hearth pull` finds its partial again)."""
        row = (
            self._db.connection()
            .execute(
                f"SELECT * FROM downloads WHERE repo=? AND filename=? AND revision=? "
                f"AND state IN ({','.join('?' * len(UNFINISHED))}) ORDER BY id DESC LIMIT 1",
                (repo, filename, revision, *UNFINISHED),
            )
            .fetchone()
        )
        return self._info(row) if row is not None else None

    def get(self, download_id: int) -> DownloadInfo:
        row = self._db.connection().execute("SELECT * FROM downloads WHERE id=?", (download_id,)).fetchone()
        if row is None:
            raise UnknownDownloadError(f"There is no download number {download_id}.")
        return self._info(row)

    def list(self) -> list[DownloadInfo]:
        rows = self._db.connection().execute("SELECT * FROM downloads ORDER BY id").fetchall()
        return [self._info(row) for row in rows]

    def pause(self, download_id: int) -> None:
        """Stop a download but keep its bytes; resume() continues where it stopped."""
        with self._lock:
            ctrl = self._active.get(download_id)
            if ctrl is not None:
                ctrl.request(PAUSED)
            elif self.get(download_id).state in (QUEUED, DOWNLOADING):
                self._set_state(download_id, PAUSED)

    def resume(self, download_id: int) -> None:
        with self._lock:
            if download_id in self._active:
                return
            if self.get(download_id).state in (PAUSED, FAILED, DOWNLOADING):
                self._set_state(download_id, QUEUED)
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
                _unlink(info.partial_path)
                self._set_state(download_id, CANCELLED, downloaded=0)

    # ------------------------------------------------------------------------------ worker

    def start(self) -> None:
        """Run queued downloads one by one on a thread; rows a crash left "downloading" are queued again."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            busy = ",".join(str(i) for i in self._active)  # a direct run() in this process is not stale
            with self._db.transaction() as conn:
                conn.execute(
                    f"UPDATE downloads SET state=?, updated_at=? WHERE state=? AND id NOT IN ({busy})",
                    (QUEUED, time.time(), DOWNLOADING),
                )
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
                    self._set_state(ctrl.download_id, FAILED, error=f"Unexpected error: {exc!r}")
                finally:
                    self._release(ctrl.download_id)
        finally:
            self._db.close()

    def _claim_next(self) -> _Control | None:
        with self._lock:
            if self._stopping.is_set() or is_offline():  # offline: the queue waits, nothing fails
                return None
            busy = ",".join(str(i) for i in self._active)
            row = (
                self._db.connection()
                .execute(
                    f"SELECT id FROM downloads WHERE state=? AND id NOT IN ({busy}) ORDER BY id LIMIT 1",
                    (QUEUED,),
                )
                .fetchone()
            )
            if row is None:
                return None
            ctrl = _Control(int(row["id"]), None, worker=True)
            self._active[ctrl.download_id] = ctrl
            self._set_state(ctrl.download_id, DOWNLOADING)
            return ctrl

    def _release(self, download_id: int) -> None:
        with self._lock:
            self._active.pop(download_id, None)

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
            ctrl = _Control(download_id, cancel)
            self._active[download_id] = ctrl  # the worker skips it from now on
        try:
            return self._run(ctrl, progress)
        finally:
            self._release(download_id)

    def _run(self, ctrl: _Control, progress: Callable[[Progress], None] | None) -> Path:
        info = self.get(ctrl.download_id)
        if info.state == DONE and info.dest_path.is_file():
            return info.dest_path
        if info.state == CANCELLED:
            raise DownloadInterruptedError(
                f"The download of {info.filename} was cancelled.", reason=CANCELLED
            )
        try:
            with _open_partial(info.partial_path) as part:
                self._set_state(info.id, DOWNLOADING)
                remote, sha256, reporter = self._transfer(ctrl, info, part, progress)
            completed = self._install(info, remote, sha256)
        except DownloadBusyError:
            raise  # the row belongs to the process that holds the lock: leave it alone
        except _StopError as stop:
            return self._stopped(info, stop.reason)
        except KeyboardInterrupt:
            self._set_state(info.id, PAUSED, downloaded=_file_size(info.partial_path))
            raise
        except IntegrityError as exc:
            _unlink(info.partial_path)
            self._set_state(info.id, FAILED, downloaded=0, error=str(exc))
            raise
        except OfflineError as exc:
            if is_offline():  # the user's choice, not a failure
                size = _file_size(info.partial_path)
                self._set_state(info.id, ctrl.offline_state, downloaded=size, error=str(exc))
                raise
            self._set_state(info.id, FAILED, downloaded=_file_size(info.partial_path), error=str(exc))
            raise
        except HearthError as exc:
            self._set_state(info.id, FAILED, downloaded=_file_size(info.partial_path), error=str(exc))
            raise
        reporter.emit(remote.size, DONE, force=True)
        if self._on_complete is not None:  # outside the try: the file is in place whatever this does
            self._on_complete(completed)
        return completed.path

    def _stopped(self, info: DownloadInfo, reason: str) -> Path:
        if reason == CANCELLED:
            _unlink(info.partial_path)
            self._set_state(info.id, CANCELLED, downloaded=0)
            raise DownloadInterruptedError(f"The download of {info.filename} was cancelled.", reason=reason)
        self._set_state(info.id, reason, downloaded=_file_size(info.partial_path))
        raise DownloadInterruptedError(
            f"The download of {info.filename} was paused.",
            reason=reason,
            hint="Resume it later; the part already downloaded is kept.",
        )

    def _transfer(
        self, ctrl: _Control, info: DownloadInfo, part: IO[bytes], progress: Callable[[Progress], None] | None
    ) -> tuple[_Remote, str, _Reporter]:
        """Bring the partial file to the published size and check it; returns its sha256."""
        remote = self._fetch_remote(info.repo, info.filename, info.revision, ctrl)
        have = _size_of(part)
        if remote.sha256 != info.sha256 or remote.etag != info.etag or have > remote.size:
            if have:
                log.info("%s changed on the Hub, or its partial file is too long: restarting", info.filename)
            _truncate(part, info.partial_path)
            have = 0
            self._update(info.id, size_bytes=remote.size, sha256=remote.sha256, etag=remote.etag)
        self._check_space(remote.size - have, info.filename)
        job = _Transfer(ctrl, info, remote, part, _Reporter(self, ctrl, info.id, remote.size, progress))
        job.rehash(have)
        failures = restarts = 0
        while job.have < remote.size:
            ctrl.check()
            try:
                got = job.stream(self._auth())
            except _RestartError:
                restarts += 1
                if restarts > 3:
                    raise NetworkError(
                        f"The Hub kept sending {info.filename} from the wrong place."
                    ) from None
                job.restart()
                continue
            except _RetryableError as exc:
                failures = 0 if exc.progressed else failures + 1
                if failures >= self._retry.attempts:
                    raise exc.error from exc
                delay = self._retry.delay(max(failures, 1))
                log.warning("%s Retrying in %.2f s.", exc.error.message, delay)
                ctrl.sleep(delay)
                continue
            if got == 0 and job.have < remote.size:  # the body ended cleanly, but short
                failures += 1
                if failures >= self._retry.attempts:
                    raise NetworkError(f"The Hub kept ending the download of {info.filename} early.")
                ctrl.sleep(self._retry.delay(failures))
        job.reporter.emit(job.have, VERIFYING, force=True)
        _sync(part, info.partial_path, info.filename)
        self._verify(info, remote, job.have, job.digest)
        return remote, job.digest.sha256.hexdigest(), job.reporter

    def _verify(self, info: DownloadInfo, remote: _Remote, size: int, digest: _Digest) -> None:
        if size != remote.size:
            raise _integrity_error(info.filename, f"it has {size:,} bytes instead of {remote.size:,}")
        if remote.sha256 is not None:
            if digest.sha256.hexdigest() != remote.sha256:
                raise _integrity_error(info.filename, "its sha256 differs")
        elif digest.git_sha1 is None or digest.git_sha1.hexdigest() != remote.etag:
            raise _integrity_error(info.filename, "its git checksum differs")

    def _install(self, info: DownloadInfo, remote: _Remote, sha256: str) -> CompletedDownload:
        """Atomically move the verified file into the models folder (after its handle is closed)."""
        dest = info.dest_path
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(info.partial_path, dest)
            _fsync_dir(dest.parent)
        except OSError as exc:
            raise _storage_error(exc, info.filename, dest) from exc
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE downloads SET state=?, downloaded_bytes=?, sha256=?, error=NULL, updated_at=? "
                "WHERE id=?",
                (DONE, remote.size, sha256, time.time(), info.id),
            )
        return CompletedDownload(info.id, info.repo, info.filename, info.revision, dest, sha256, remote.size)

    # ------------------------------------------------------------------------------ helpers

    def _fetch_remote(self, repo: str, filename: str, revision: str, ctrl: _Control | None) -> _Remote:
        """HEAD through the library, with our backoff (the library's own cannot be shortened)."""
        try:
            url = hf_hub_url(repo, filename, revision=revision, endpoint=hub_endpoint())
        except HFValidationError as exc:
            raise RemoteNotFoundError(
                f"{repo!r} is not a valid repository id.", hint="Use the owner/name form.", details=str(exc)
            ) from exc
        failures = 0
        while True:
            ensure_online(ACTION)
            try:
                meta = get_hf_file_metadata(
                    url,
                    token=self._auth(),
                    endpoint=hub_endpoint(),
                    library_name="hearth",
                    library_version=__version__,
                )
                break
            except HfHubHTTPError as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    raise _auth_error(repo, status, bool(self._auth())) from exc
                if status == 404:
                    raise _not_found_error(repo, filename, revision) from exc
                if status not in _RETRY_STATUS:
                    raise NetworkError(
                        f"The Hub answered {status} for {filename} in {repo}.", details=str(exc)
                    ) from exc
                error: HearthError = NetworkError(f"The Hub answered {status} for {filename} in {repo}.")
            except (httpx2.TransportError, OfflineModeIsEnabled) as exc:
                error = _network_error(exc, filename)
                if isinstance(error, OfflineError):  # nothing to wait for: say so at once
                    raise error from exc
            except httpx2.HTTPError as exc:  # redirect loops, bad URLs: retrying will not help
                raise _network_error(exc, filename) from exc
            failures += 1
            if failures >= self._retry.attempts:
                raise error
            delay = self._retry.delay(failures)
            if ctrl is not None:
                ctrl.sleep(delay)
            else:
                time.sleep(delay)
        if meta.size is None:
            raise NetworkError(f"The Hub did not say how big {filename} is.", hint="Try again later.")
        etag = (meta.etag or "").lower()
        sha256 = etag if _SHA256.fullmatch(etag) else None
        if sha256 is None and not _GIT_SHA1.fullmatch(etag):
            raise IntegrityError(
                f"The Hub published no checksum for {filename}, so Hearth cannot check the download.",
                hint="Download it another way and import the file.",
            )
        return _Remote(url=url, size=meta.size, sha256=sha256, etag=etag, commit=meta.commit_hash)

    def _auth(self) -> str | Literal[False]:
        """The token given to Hearth, else False: never the library's own login or an OAuth refresh."""
        return self._token or read_token(self._paths) or False

    def _check_space(self, needed: int, filename: str) -> None:
        folder = self._paths.models
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = shutil.disk_usage(probe).free
        except OSError:
            return  # cannot tell: the write itself will say ENOSPC
        if needed + _FREE_SPACE_MARGIN > free:
            raise DiskFullError(
                f"Not enough disk space for {filename}: it needs {human_size(needed + _FREE_SPACE_MARGIN)} "
                f"and only {human_size(free)} is free on {folder}.",
                hint="Free some disk space, or choose a smaller quantization.",
            )

    def _dest_path(self, repo: str, filename: str) -> Path:
        """Where a Hub file lands; `check_local_name` refuses what some OS would misread."""
        return self._paths.models / safe_repo_dir(repo) / Path(*check_local_name(filename))

    def _info(self, row: Any) -> DownloadInfo:
        ctrl = self._active.get(int(row["id"]))
        live = ctrl.latest if ctrl is not None else None
        return DownloadInfo(
            id=int(row["id"]),
            repo=row["repo"],
            filename=row["filename"],
            revision=row["revision"],
            state=row["state"],
            downloaded_bytes=live.downloaded if live is not None else int(row["downloaded_bytes"]),
            size_bytes=row["size_bytes"],
            sha256=row["sha256"],
            etag=row["etag"],
            dest_path=Path(row["dest_path"]),
            partial_path=Path(row["partial_path"]),
            error=row["error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            speed_bps=live.speed_bps if live is not None else 0.0,
            eta_s=live.eta_s if live is not None else None,
        )

    def _set_state(
        self, download_id: int, state: str, *, downloaded: int | None = None, error: str | None = None
    ) -> None:
        fields: dict[str, Any] = {"state": state, "error": error}
        if downloaded is not None:
            fields["downloaded_bytes"] = downloaded
        self._update(download_id, **fields)

    def _update(self, download_id: int, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        columns = ", ".join(f"{name}=?" for name in fields)
        with self._db.transaction() as conn:
            conn.execute(f"UPDATE downloads SET {columns} WHERE id=?", (*fields.values(), download_id))


class _RetryableError(Exception):
    def __init__(self, error: HearthError, *, progressed: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.progressed = progressed


class _RestartError(Exception):
    """The server's answer does not continue our partial file: truncate it and start from zero."""


class _Transfer:
    """One file's bytes: the partial file, the running hash over exactly the bytes in it, the GETs.

    Invariant: `digest` covers the file's `have` bytes plus `buffer` (not yet written).
    """

    def __init__(
        self, ctrl: _Control, info: DownloadInfo, remote: _Remote, part: IO[bytes], reporter: _Reporter
    ) -> None:
        self.ctrl = ctrl
        self.info = info
        self.remote = remote
        self.part = part
        self.reporter = reporter
        self.digest = _Digest(remote.size, remote.sha256 is None)
        self.have = 0
        self.buffer = bytearray()

    def rehash(self, have: int) -> None:
        """Feed the bytes already on disk to the hash, so a resumed file is verified end to end."""
        self.part.seek(0)
        done = 0
        while done < have:
            self.ctrl.check()
            block = self.part.read(min(_CHUNK, have - done))
            if not block:
                break
            self.digest.update(block)
            done += len(block)
            self.reporter.emit(done, RESUMING)
        self.part.seek(done)
        self.have = done

    def restart(self) -> None:
        _truncate(self.part, self.info.partial_path)
        self.digest = _Digest(self.remote.size, self.remote.sha256 is None)
        self.have = 0

    def stream(self, token: str | Literal[False]) -> int:
        """One GET from `have` to the end; returns the bytes received (or raises _RetryableError)."""
        ensure_online(ACTION)
        headers = build_hf_headers(token=token, library_name="hearth", library_version=__version__)
        headers["Accept-Encoding"] = "identity"  # the bytes we hash must be the file's, not gzip's
        if self.have:
            headers["Range"] = f"bytes={self.have}-"
        timeout = float(hf_constants.HF_HUB_DOWNLOAD_TIMEOUT)
        got = 0
        try:
            with get_session().stream("GET", self.remote.url, headers=headers, timeout=timeout) as response:
                self._check(response, had_token=token is not False)
                self.reporter.emit(self.have, DOWNLOADING, force=True)
                for piece in response.iter_bytes():
                    self.ctrl.check()
                    if self.have + len(self.buffer) + len(piece) > self.remote.size:
                        raise _integrity_error(
                            self.info.filename, "the Hub sent more bytes than the file has"
                        )
                    self.buffer += piece
                    self.digest.update(piece)
                    got += len(piece)
                    if len(self.buffer) >= _CHUNK:
                        self.flush()
                    else:
                        self.reporter.emit(self.have + len(self.buffer), DOWNLOADING)
        except (OfflineModeIsEnabled, HubUnreachableError, httpx2.ConnectError) as exc:
            self.flush()  # no connection (or offline): waiting 1-8 s will not bring the Hub back
            raise _network_error(exc, self.info.filename) from exc
        except httpx2.TransportError as exc:  # the connection broke or stalled mid-transfer
            self.flush()  # what arrived is good: keep it
            raise _RetryableError(_network_error(exc, self.info.filename), progressed=got > 0) from exc
        except httpx2.HTTPError as exc:  # undecodable body, redirect loop: retrying will not help
            raise _network_error(exc, self.info.filename) from exc
        except _StopError:
            self.flush()  # paused: keep every byte that arrived
            raise
        self.flush()
        return got

    def flush(self) -> None:
        """Append the buffer; ENOSPC keeps the partial file for a later resume."""
        if not self.buffer:
            return
        try:
            self.part.write(self.buffer)
            self.part.flush()
        except OSError as exc:
            raise _storage_error(exc, self.info.filename, None, have=self.have) from exc
        self.have += len(self.buffer)
        self.buffer.clear()
        self.reporter.written(self.have, self.part, self.info.partial_path)

    def _check(self, response: httpx2.Response, *, had_token: bool) -> None:
        status, info = response.status_code, self.info
        if status in _RETRY_STATUS:
            raise _RetryableError(
                NetworkError(f"The Hub answered {status} while sending {info.filename}."), progressed=False
            )
        if status in (401, 403):
            raise _auth_error(info.repo, status, had_token)
        if status == 404:
            raise _not_found_error(info.repo, info.filename, info.revision)
        if status == 416:  # our range no longer fits the file
            raise _RestartError()
        if status == 200:
            if self.have:
                log.info("%s: the server ignored our Range header; restarting from zero", info.filename)
                raise _RestartError()
            return
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            total_ok = match is not None and (match[3] == "*" or int(match[3]) == self.remote.size)
            if match is None or int(match[1]) != self.have or not total_ok:
                log.info("%s: unexpected Content-Range %r; restarting", info.filename, match and match[0])
                raise _RestartError()
            return
        raise NetworkError(
            f"The Hub answered {status} while sending {info.filename}.", hint="Try again later."
        )


class _Reporter:
    """Throttles progress callbacks (~10/s), database writes (~2/s) and fsyncs (every few seconds)."""

    def __init__(
        self,
        manager: DownloadManager,
        ctrl: _Control,
        download_id: int,
        total: int,
        callback: Callable[[Progress], None] | None,
    ) -> None:
        self._manager = manager
        self._ctrl = ctrl
        self._id = download_id
        self._total = total
        self._callback = callback
        self._meter = _Meter()
        self._last_emit = 0.0
        self._last_db = time.monotonic()
        self._last_sync = time.monotonic()

    def emit(self, downloaded: int, state: str, *, force: bool = False) -> None:
        now = time.monotonic()
        speed = self._meter.add(downloaded) if state == DOWNLOADING else 0.0
        if state != DOWNLOADING:
            self._meter.reset()
        if not force and now - self._last_emit < _PROGRESS_EVERY_S:
            return
        self._last_emit = now
        eta = (self._total - downloaded) / speed if speed > 0 else None
        update = Progress(downloaded, self._total, speed, eta, state)
        self._ctrl.latest = update
        if self._callback is not None:
            self._callback(update)

    def written(self, downloaded: int, part: IO[bytes], path: Path) -> None:
        self.emit(downloaded, DOWNLOADING)
        now = time.monotonic()
        if now - self._last_sync >= _FSYNC_EVERY_S:
            self._last_sync = now
            _sync(part, path, path.name)
        if now - self._last_db >= _DB_EVERY_S:
            self._last_db = now
            self._manager._update(self._id, downloaded_bytes=downloaded)


# ------------------------------------------------------------------------------------ file helpers


def safe_repo_dir(repo: str) -> str:
    """`owner/name` -> `owner--name`: one folder per repo; the Hub forbids "--" in names, so no clashes.

    Raises UnsafeNameError for a folder no OS should get (a bare "nul" or ".." as the repo id).
    """
    folder = "--".join(_UNSAFE_CHARS.sub("_", part) or "_" for part in repo.split("/"))
    check_local_name(folder, what="repository folder")
    return folder


def _safe_name(filename: str) -> str:
    return _UNSAFE_CHARS.sub("_", filename.replace("/", "__"))[-150:]


@contextlib.contextmanager
def _open_partial(path: Path) -> Iterator[IO[bytes]]:
    """Open (or create) the partial file, locked so a second process cannot append to it too."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise _storage_error(exc, path.name, path) from exc
    try:
        _lock(handle, path)
        yield handle
    finally:
        handle.close()


def _lock(handle: IO[bytes], path: Path) -> None:
    """POSIX: two processes (the app and `hearth pull`) must never append to one partial file."""
    if sys.platform == "win32":  # no advisory locks there; the in-process check still applies
        return
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise DownloadBusyError(
            f"{path.name} is being downloaded by another Hearth process.",
            hint="Wait for that download to finish, or stop it first.",
        ) from exc
    except OSError:
        pass  # a filesystem without locks: carry on unprotected


def _size_of(part: IO[bytes]) -> int:
    return part.seek(0, os.SEEK_END)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _truncate(part: IO[bytes], path: Path) -> None:
    try:
        part.seek(0)
        part.truncate(0)
    except OSError as exc:
        raise _storage_error(exc, path.name, path) from exc


def _sync(part: IO[bytes], path: Path, filename: str) -> None:
    try:
        part.flush()
        os.fsync(part.fileno())
    except OSError as exc:
        if exc.errno in _CANNOT_SYNC:
            return  # not a regular file (or a filesystem that cannot sync): nothing to do
        raise _storage_error(exc, filename, path) from exc


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; best effort (Windows cannot open folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# ----------------------------------------------------------------------------------- error helpers


def _storage_error(
    exc: OSError, filename: str, path: Path | None, *, have: int | None = None
) -> StorageError:
    if exc.errno in _NO_SPACE:
        saved = f" ({human_size(have)} saved so far)" if have else ""
        return DiskFullError(
            f"The disk filled up while downloading {filename}{saved}.",
            hint="Free some disk space and resume the download; the part already downloaded is kept.",
            details=repr(exc),
        )
    where = f" {path}" if path is not None else ""
    return StorageError(
        f"Hearth could not write{where or ' ' + filename}: {exc.strerror or exc}.",
        hint="Check that the models folder is writable.",
        details=repr(exc),
    )


def _network_error(exc: Exception, filename: str) -> NetworkError:
    if isinstance(exc, OfflineModeIsEnabled):
        return OfflineError(
            f"Cannot download {filename}: Hugging Face offline mode is on (HF_HUB_OFFLINE).",
            hint="Unset HF_HUB_OFFLINE to download models.",
            details=str(exc),
        )
    if isinstance(exc, (HubUnreachableError, httpx2.ConnectError)):
        return OfflineError(
            f"Hearth could not reach the Hugging Face Hub ({hub_endpoint()}) to download {filename}.",
            hint="Check your internet connection; a paused download resumes where it stopped.",
            details=repr(exc),
        )
    if isinstance(exc, httpx2.TimeoutException):
        text = "the Hub stopped answering"
    elif isinstance(exc, httpx2.TransportError):
        text = "the connection to the Hub broke"
    else:
        text = f"the Hub's answer could not be used ({type(exc).__name__})"
    return NetworkError(
        f"Downloading {filename} failed: {text}.",
        hint="Try again; the download resumes where it stopped.",
        details=repr(exc),
    )


def _auth_error(repo: str, status: int, had_token: bool) -> AuthRequiredError:
    return gated_error(repo, had_token=had_token, status=status)


def _not_found_error(repo: str, filename: str, revision: str) -> RemoteNotFoundError:
    return RemoteNotFoundError(
        f"{filename} was not found in {repo} (revision {revision}) on the Hugging Face Hub.",
        hint="Check the repository and file names; the file may have been renamed or removed.",
    )


def _integrity_error(filename: str, why: str) -> IntegrityError:
    return IntegrityError(
        f"The downloaded file does not match the Hub's checksum: {filename} ({why}). It was deleted.",
        hint="Download it again; if this keeps happening, your connection or a proxy alters the data.",
    )
