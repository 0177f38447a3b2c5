"""How failures talking to the Hub become HearthErrors that say what happened and what to do next.

The one mapping of huggingface_hub's and httpx's exceptions (and the Hub's HTTP statuses) for every
Hub call: searches and listings here, downloads in core/downloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import httpx2
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from desktop_app.core.errors import (
    AuthRequiredError,
    HearthError,
    NetworkError,
    OfflineError,
    RemoteNotFoundError,
)
from desktop_app.core.hub.client import Token, hub_endpoint

#: where a token goes, said so that it reads right in the app's dialogs and in a terminal alike
_TOKEN_PLACES: Final = "Models → Discover → Token…; a download from a terminal also reads HF_TOKEN"

__all__ = [
    "HubUnreachableError",
    "ResponseTooLargeError",
    "download_error",
    "file_status_error",
    "gated_error",
    "hub_errors",
    "invalid_repo_error",
]


class HubUnreachableError(httpx2.TransportError):
    """Connecting to the Hub failed: the name did not resolve, the connection was refused or timed
    out, or every connection was closed before an answer.

    Not transient, so never retried: huggingface_hub's backoff retries NetworkError (ConnectError
    is one) five times with 1-8 s sleeps, 23 s before the user hears "no network". This type is a
    TransportError but not a NetworkError or TimeoutException, so that backoff lets it through.
    A connection that drops mid-transfer is a ReadError or RemoteProtocolError, still retried.
    """


class ResponseTooLargeError(httpx2.TransportError):
    """An /api/ answer (JSON the library reads whole and parses) went past `MAX_API_RESPONSE`."""


@contextmanager
def hub_errors(
    repo_id: str | None = None,
    *,
    auth: Token,
    filename: str | None = None,
    revision: str | None = None,
) -> Iterator[None]:
    """Turn the library's and httpx's exceptions into HearthErrors a user can act on."""
    try:
        yield
    except HearthError:
        raise
    except HFValidationError as exc:
        raise invalid_repo_error(repo_id, exc) from exc
    except OfflineModeIsEnabled as exc:
        raise OfflineError(
            "Offline mode is on, so Hearth will not contact the Hugging Face Hub.",
            hint="Turn off offline mode (the switch in Hearth's sidebar) to search and download.",
            details=str(exc),
        ) from exc
    except GatedRepoError as exc:
        raise gated_error(repo_id or "", had_token=auth is not False, details=str(exc)) from exc
    except RepositoryNotFoundError as exc:
        raise RemoteNotFoundError(
            f"No model repository named {repo_id} was found on the Hugging Face Hub.",
            hint="Check the name. A private repository also needs a token (Models → Discover → Token…)"
            " from an account that can read it."
            if auth is False
            else "Check the name, and that your token's account can read the repository.",
            details=str(exc),
        ) from exc
    except RevisionNotFoundError as exc:
        raise RemoteNotFoundError(
            f"{repo_id} has no branch, tag or commit named {revision}.",
            hint="Check the revision, or use main.",
            details=str(exc),
        ) from exc
    except RemoteEntryNotFoundError as exc:
        raise RemoteNotFoundError(
            f"{repo_id} has no file named {filename}.",
            hint=f"The file may have been renamed or removed; refresh the file list of {repo_id}.",
            details=str(exc),
        ) from exc
    except HfHubHTTPError as exc:
        raise _http_error(exc, repo_id, auth) from exc
    except httpx2.TimeoutException as exc:
        raise NetworkError(
            "The Hugging Face Hub did not answer in time.",
            hint="Check your connection and try again; the Hub may be slow right now.",
            details=repr(exc),
        ) from exc
    except (HubUnreachableError, httpx2.ConnectError, httpx2.NetworkError, ConnectionError) as exc:
        raise OfflineError(
            "Hearth cannot reach the Hugging Face Hub.",
            hint="Check your internet connection (and proxy settings), then try again.",
            details=repr(exc),
        ) from exc
    except (httpx2.HTTPError, ValueError, KeyError) as exc:
        raise NetworkError(
            "The Hugging Face Hub sent an answer Hearth could not understand.",
            hint="Try again later; if it keeps happening, update Hearth.",
            details=repr(exc),
        ) from exc


def invalid_repo_error(repo_id: str | None, exc: HFValidationError) -> RemoteNotFoundError:
    return RemoteNotFoundError(
        f"{repo_id!r} is not a valid name for a model repository.",
        hint="Repository names look like owner/name, for example Qwen/Qwen2.5-7B-Instruct-GGUF.",
        details=str(exc),
    )


def gated_error(
    repo_id: str, *, had_token: bool, status: int | None = None, details: str = ""
) -> AuthRequiredError:
    """The one message for a gated or private repo, from a listing (hub) or a download (downloads)."""
    page = f"{hub_endpoint()}/{repo_id}"
    code = f" ({status})" if status else ""
    if not had_token:
        return AuthRequiredError(
            f"{repo_id} is gated or private{code}: downloading it needs a Hugging Face token.",
            hint=f"Accept the model's terms at {page} while logged in, then add an access token in Hearth"
            f" ({_TOKEN_PLACES}).",
            details=details,
        )
    return AuthRequiredError(
        f"Your Hugging Face token does not give access to {repo_id}{code}.",
        hint=f"Accept the model's terms at {page} with the account the token belongs to"
        " (some authors approve requests by hand), then try again.",
        details=details,
    )


def _http_error(exc: HfHubHTTPError, repo_id: str | None, auth: Token) -> HearthError:
    status = exc.response.status_code if exc.response is not None else 0
    if status == 401:
        return AuthRequiredError(
            "The Hugging Face Hub rejected your access token.",
            hint=f"Paste a valid token in Hearth ({_TOKEN_PLACES}), or remove it to use public models only.",
            details=str(exc),
        )
    if status == 403:
        return AuthRequiredError(
            f"The Hugging Face Hub refused access to {repo_id or 'this resource'}.",
            hint="Check that your token has read access"
            + (f", or add a token in Hearth ({_TOKEN_PLACES})." if auth is False else "."),
            details=str(exc),
        )
    if status == 429:
        return NetworkError(
            "The Hugging Face Hub is limiting how fast Hearth may ask (too many requests).",
            hint="Wait a minute and try again; adding a token in Hearth raises the limit.",
            details=str(exc),
        )
    return NetworkError(
        f"The Hugging Face Hub answered with an error (HTTP {status}).",
        hint="Try again in a few minutes; the Hub may be having trouble.",
        details=str(exc),
    )


# ------------------------------------------------------------------------------- one file's bytes
# A download names the file, and says that what arrived is kept for a resume.


def download_error(exc: Exception, filename: str) -> NetworkError:
    """A failed HEAD or GET of one file: no connection, offline mode, a stall, a broken connection."""
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


def file_status_error(
    status: int,
    *,
    repo: str,
    filename: str,
    revision: str,
    had_token: bool,
    doing: str,
    hint: str = "",
    details: str = "",
) -> NetworkError:
    """An HTTP error status for one file; `doing` ends the generic message ("while sending x.gguf")."""
    if status in (401, 403):
        return gated_error(repo, had_token=had_token, status=status)
    if status == 404:
        return RemoteNotFoundError(
            f"{filename} was not found in {repo} (revision {revision}) on the Hugging Face Hub.",
            hint="Check the repository and file names; the file may have been renamed or removed.",
        )
    return NetworkError(f"The Hub answered {status} {doing}.", hint=hint, details=details)
