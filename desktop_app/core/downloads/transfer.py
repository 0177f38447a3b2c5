"""One file's bytes: the GETs that bring its partial file to the published size, and the check that
it is the file the Hub published.

Why our own loop instead of `hf_hub_download`: huggingface_hub 2.x checks only the size of what it
downloaded, and since 1.18 it no longer resumes after the process restarts. So a resume asks for
`Range: bytes=N-` and re-hashes the N bytes already on disk, transient failures are retried with our
backoff, and the file is accepted only when its size and sha256 (or git sha1, for a file not in LFS)
match. The HTTP side stays the library's: its session (proxies, headers, offline hook) and headers.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import IO, Final

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_session
from huggingface_hub.errors import OfflineModeIsEnabled
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazily exported

from desktop_app import __version__
from desktop_app.core.downloads.control import Control, StopError
from desktop_app.core.downloads.errors import integrity_error, storage_error
from desktop_app.core.downloads.partial import sync, truncate
from desktop_app.core.downloads.progress import Reporter
from desktop_app.core.downloads.records import DOWNLOADING, RESUMING, VERIFYING, DownloadInfo
from desktop_app.core.downloads.remote import ACTION, Remote
from desktop_app.core.downloads.retry import RETRY_STATUS, RetryableError, RetryPolicy
from desktop_app.core.errors import NetworkError
from desktop_app.core.hub.client import Token
from desktop_app.core.hub.errors import HubUnreachableError, download_error, file_status_error
from desktop_app.core.network import ensure_online

__all__ = ["Transfer"]

log = logging.getLogger(__name__)

_CHUNK: Final = 1024 * 1024  # bytes per write
# Header text from the network: ASCII digits only, and few enough that int() stays cheap and legal.
_CONTENT_RANGE: Final = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)", re.ASCII)
_MAX_RESTARTS: Final = 3


class _RestartError(Exception):
    """The server's answer does not continue our partial file: truncate it and start from zero."""


class _Digest:
    """sha256 always; the git blob sha1 too when that is what the Hub published (non-LFS files)."""

    def __init__(self, size: int, want_git_sha1: bool) -> None:
        self.sha256 = hashlib.sha256()
        self.git_sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False) if want_git_sha1 else None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.sha256.update(data)
        if self.git_sha1 is not None:
            self.git_sha1.update(data)


class Transfer:
    """One file's bytes: the partial file, the running hash over exactly the bytes in it, the GETs.

    Invariant: `digest` covers the file's `have` bytes plus `buffer` (not yet written).
    """

    def __init__(
        self, ctrl: Control, info: DownloadInfo, remote: Remote, part: IO[bytes], reporter: Reporter
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
        truncate(self.part, self.info.partial_path)
        self.digest = _Digest(self.remote.size, self.remote.sha256 is None)
        self.have = 0

    def complete(self, auth: Callable[[], Token], retry: RetryPolicy) -> str:
        """GET until the partial file has the published size, then verify it; returns its sha256."""
        failures = restarts = 0
        while self.have < self.remote.size:
            self.ctrl.check()
            try:
                got = self.stream(auth())
            except _RestartError:
                restarts += 1
                if restarts > _MAX_RESTARTS:
                    raise NetworkError(
                        f"The Hub kept sending {self.info.filename} from the wrong place."
                    ) from None
                self.restart()
                continue
            except RetryableError as exc:
                failures = 0 if exc.progressed else failures + 1
                if failures >= retry.attempts:
                    raise exc.error from exc
                delay = retry.delay(max(failures, 1))
                log.warning("%s Retrying in %.2f s.", exc.error.message, delay)
                self.ctrl.sleep(delay)
                continue
            if got == 0 and self.have < self.remote.size:  # the body ended cleanly, but short
                failures += 1
                if failures >= retry.attempts:
                    raise NetworkError(f"The Hub kept ending the download of {self.info.filename} early.")
                self.ctrl.sleep(retry.delay(failures))
        self.reporter.emit(self.have, VERIFYING, force=True)
        sync(self.part, self.info.partial_path, self.info.filename)
        self._verify()
        return self.digest.sha256.hexdigest()

    def _verify(self) -> None:
        size, remote, filename = self.have, self.remote, self.info.filename
        if size != remote.size:
            raise integrity_error(filename, f"it has {size:,} bytes instead of {remote.size:,}")
        if remote.sha256 is not None:
            if self.digest.sha256.hexdigest() != remote.sha256:
                raise integrity_error(filename, "its sha256 differs")
        elif self.digest.git_sha1 is None or self.digest.git_sha1.hexdigest() != remote.etag:
            raise integrity_error(filename, "its git checksum differs")

    def stream(self, token: Token) -> int:
        """One GET from `have` to the end; returns the bytes received (or raises RetryableError)."""
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
                        raise integrity_error(self.info.filename, "the Hub sent more bytes than the file has")
                    self.buffer += piece
                    self.digest.update(piece)
                    got += len(piece)
                    if len(self.buffer) >= _CHUNK:
                        self.flush()
                    else:
                        self.reporter.emit(self.have + len(self.buffer), DOWNLOADING)
        except (OfflineModeIsEnabled, HubUnreachableError, httpx2.ConnectError) as exc:
            self.flush()  # no connection (or offline): waiting 1-8 s will not bring the Hub back
            raise download_error(exc, self.info.filename) from exc
        except httpx2.TransportError as exc:  # the connection broke or stalled mid-transfer
            self.flush()  # what arrived is good: keep it
            raise RetryableError(download_error(exc, self.info.filename), progressed=got > 0) from exc
        except httpx2.HTTPError as exc:  # undecodable body, redirect loop: retrying will not help
            raise download_error(exc, self.info.filename) from exc
        except StopError:
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
            raise storage_error(exc, self.info.filename, None, have=self.have) from exc
        self.have += len(self.buffer)
        self.buffer.clear()
        self.reporter.written(self.have, self.part, self.info.partial_path)

    def _check(self, response: httpx2.Response, *, had_token: bool) -> None:
        status, info = response.status_code, self.info

        def error(hint: str = "") -> NetworkError:
            return file_status_error(
                status,
                repo=info.repo,
                filename=info.filename,
                revision=info.revision,
                had_token=had_token,
                doing=f"while sending {info.filename}",
                hint=hint,
            )

        if status in RETRY_STATUS:
            raise RetryableError(error(), progressed=False)
        if status in (401, 403, 404):
            raise error()
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
        raise error("Try again later.")
