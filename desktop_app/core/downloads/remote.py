"""What the Hub says about one file right now (size, checksum, etag), asked with a HEAD through the
library's own metadata call, so `HF_ENDPOINT`, `HF_TOKEN` and user agents behave as in every other
Hub tool; retried with our backoff, since the library's own cannot be shortened."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import httpx2
from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

from desktop_app import __version__
from desktop_app.core.downloads.retry import RETRY_STATUS, RetryPolicy
from desktop_app.core.errors import HearthError, IntegrityError, NetworkError, OfflineError
from desktop_app.core.hub.client import Token, hub_endpoint
from desktop_app.core.hub.errors import download_error, file_status_error, invalid_repo_error
from desktop_app.core.network import ensure_online

__all__ = ["ACTION", "Remote", "fetch_remote"]

#: what offline mode refuses, in its message
ACTION: Final = "download models"
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1: Final = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Remote:
    """What the Hub says about one file right now."""

    url: str
    size: int
    sha256: str | None
    etag: str
    commit: str | None


def fetch_remote(
    repo: str,
    filename: str,
    revision: str,
    *,
    auth: Callable[[], Token],
    retry: RetryPolicy,
    sleep: Callable[[float], None],
) -> Remote:
    """HEAD through the library, with our backoff; `sleep` waits between attempts (and may stop)."""
    try:
        url = hf_hub_url(repo, filename, revision=revision, endpoint=hub_endpoint())
    except HFValidationError as exc:
        raise invalid_repo_error(repo, exc) from exc
    failures = 0
    while True:
        ensure_online(ACTION)
        try:
            meta = get_hf_file_metadata(
                url,
                token=auth(),
                endpoint=hub_endpoint(),
                library_name="hearth",
                library_version=__version__,
            )
            break
        except HfHubHTTPError as exc:
            status = exc.response.status_code
            final = status not in RETRY_STATUS
            error: HearthError = file_status_error(
                status,
                repo=repo,
                filename=filename,
                revision=revision,
                had_token=bool(auth()),
                doing=f"for {filename} in {repo}",
                details=str(exc) if final else "",
            )
            if final:
                raise error from exc
        except (httpx2.TransportError, OfflineModeIsEnabled) as exc:
            error = download_error(exc, filename)
            if isinstance(error, OfflineError):  # nothing to wait for: say so at once
                raise error from exc
        except httpx2.HTTPError as exc:  # redirect loops, bad URLs: retrying will not help
            raise download_error(exc, filename) from exc
        failures += 1
        if failures >= retry.attempts:
            raise error
        sleep(retry.delay(failures))
    if meta.size is None:
        raise NetworkError(f"The Hub did not say how big {filename} is.", hint="Try again later.")
    etag = (meta.etag or "").lower()
    sha256 = etag if _SHA256.fullmatch(etag) else None
    if sha256 is None and not _GIT_SHA1.fullmatch(etag):
        raise IntegrityError(
            f"The Hub published no checksum for {filename}, so Hearth cannot check the download.",
            hint="Download it another way and import the file.",
        )
    return Remote(url=url, size=meta.size, sha256=sha256, etag=etag, commit=meta.commit_hash)
