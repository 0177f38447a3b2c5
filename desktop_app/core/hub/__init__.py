"""Find GGUF models on the Hugging Face Hub: search, the quantizations a repo offers, its card, and
a model's header read with Range requests before anything is downloaded.

Why these choices:
- Only huggingface_hub's own calls and session are used (`HfApi`, `hf_hub_url`, `get_session`),
  so proxies, user agent and its error types behave as the library intends. Its session gets one
  wrapper (`use_fail_fast_client`): a Hub that cannot be reached is said at once instead of after
  23 s of retries, and an /api/ answer has a size limit.
- Names and card text from the Hub are untrusted: a file name becomes a local path only through
  `check_local_name`, and the card is summarised in one pass over a bounded prefix.
- The library reads `HF_ENDPOINT` once, at import; `hub_endpoint()` reads it at each call and every
  call passes it, so a test server (or a mirror set in the environment later) is honoured.
- Every function calls `ensure_online` first: offline mode means no socket, not a failed request.
- A missing token is sent as `token=False`: otherwise the library falls back to the user's
  `hf auth login` token and may even refresh an OAuth token over the network. Hearth uses only the
  token the user gave Hearth.
- Every library error becomes a HearthError that says what happened and what to do next.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import PurePosixPath
from typing import Final, Literal

import httpx2
from huggingface_hub import HfApi, get_session, hf_hub_url, hf_raise_for_status, set_client_factory
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile as HfRepoFile
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # documented, lazily exported
from huggingface_hub.utils._http import default_client_factory

from desktop_app import __version__
from desktop_app.core.errors import (
    AuthRequiredError,
    HearthError,
    ModelFileError,
    NetworkError,
    OfflineError,
    RemoteNotFoundError,
    UnsupportedModelError,
)
from desktop_app.core.gguf_info import IncompleteHeaderError, ModelSummary, inspect_gguf_header
from desktop_app.core.network import ensure_online
from desktop_app.core.paths import app_paths
from desktop_app.core.settings import read_token
from desktop_app.core.units import human_size

__all__ = [
    "CardSummary",
    "HubUnreachableError",
    "ModelOption",
    "RepoFile",
    "RepoSummary",
    "ResponseTooLargeError",
    "SortKey",
    "UnsafeNameError",
    "card_summary",
    "check_local_name",
    "hub_endpoint",
    "list_model_options",
    "parse_quant",
    "read_remote_header",
    "search_models",
    "use_fail_fast_client",
]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://huggingface.co"
SortKey = Literal["downloads", "likes", "recent"]
_SORTS: Final[dict[str, Literal["downloads", "likes", "last_modified"]]] = {
    "downloads": "downloads",
    "likes": "likes",
    "recent": "last_modified",
}
# Fields the public Hub leaves out of /api/models unless asked for (lastModified, author, gated…).
_SEARCH_FIELDS: Final = ["author", "downloads", "likes", "lastModified", "gated", "private", "tags"]
_MAX_PAGE_SIZE: Final = 100

#: seconds to wait for the Hub on calls that accept a timeout (HfApi's list calls do not)
TIMEOUT: Final = 30.0
#: first ranged read of a remote header; doubled until the metadata and tensor list parse
INITIAL_READ: Final = 2 << 20
_MAX_README_BYTES: Final = 256 << 10
_DESCRIPTION_CHARS: Final = 400

Token = str | Literal[False]


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class RepoSummary:
    """One search hit."""

    id: str
    author: str | None
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool
    private: bool
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RepoFile:
    """A .gguf file in a repo; `sha256` is the LFS hash downloads are verified against.

    `split_index` is 1-based, as in `-00001-of-00003.gguf`; a whole file is part 1 of 1.
    `sha256` is None only for a file stored in git rather than LFS; `blob_id` (git sha1) then applies.
    """

    path: str
    size: int
    sha256: str | None
    quant: str | None
    split_index: int = 1
    split_count: int = 1
    blob_id: str | None = None


@dataclass(frozen=True)
class ModelOption:
    """One quantization the user can pick: a single file, or every part of a split model.

    `name` is the file llama.cpp opens (the first part); `size` the total over all parts.
    """

    name: str
    quant: str | None
    files: tuple[RepoFile, ...]
    size: int


@dataclass(frozen=True)
class CardSummary:
    """What a model page shows above the file list."""

    description: str | None
    license: str | None
    base_model: str | None
    pipeline_tag: str | None


# ------------------------------------------------------------------------------------------ connections


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


#: seconds to wait for a connection when the call itself gives no timeout (the library's list calls)
CONNECT_TIMEOUT: Final = 10.0
#: the most bytes of one /api/ answer (search page, file-list page, model info) Hearth accepts;
#: the real Hub's are well under 1 MiB, and the library holds the whole body in memory to parse it
MAX_API_RESPONSE: Final = 32 << 20


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, request: httpx2.Request) -> None:
        self.inner = inner
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self.inner:
            seen += len(chunk)
            if seen > MAX_API_RESPONSE:
                raise ResponseTooLargeError(
                    f"{self.request.url.path} sent more than {human_size(MAX_API_RESPONSE, binary=True)}",
                    request=self.request,
                )
            yield chunk

    def close(self) -> None:
        self.inner.close()


#: how a connection dies before the server answered (while the body streams, these are retried)
_DROPPED: Final = (httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError)


class _FailFastTransport(httpx2.BaseTransport):
    """Wraps one of the library client's transports: a failed connect, or a connection dropped twice
    before any answer, becomes HubUnreachableError; an /api/ answer is cut off at `MAX_API_RESPONSE`
    bytes. Errors while a body streams come from the response, not from here, and are unchanged."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        # The library's list calls pass no timeout at all: a Hub whose packets are dropped held a
        # search for the OS's connect timeout (about 2 min on Linux), six times over.
        timeout = dict(request.extensions.get("timeout") or {})
        if timeout.get("connect") is None:
            request.extensions["timeout"] = timeout | {"connect": CONNECT_TIMEOUT}
        try:
            response = self.inner.handle_request(request)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise HubUnreachableError(str(exc) or repr(exc), request=request) from exc
        except _DROPPED as exc:
            if request.method not in ("GET", "HEAD"):
                raise
            # Dropped before any answer: a keep-alive connection the server had just closed gets one
            # more try, on a new connection; a Hub (or firewall) that drops every one is unreachable.
            log.info("%s %s: %r; trying once more", request.method, request.url, exc)
            try:
                response = self.inner.handle_request(request)
            except (httpx2.ConnectError, *_DROPPED) as again:
                raise HubUnreachableError(
                    f"the connection was closed before any answer ({again!r})", request=request
                ) from again
        if request.url.path.startswith("/api/") and isinstance(response.stream, httpx2.SyncByteStream):
            response.stream = _CappedStream(response.stream, request)
        return response

    def __enter__(self) -> _FailFastTransport:
        self.inner.__enter__()
        return self

    def close(self) -> None:
        self.inner.close()


def _fail_fast_client() -> httpx2.Client:
    """The library's own client (event hooks, redirects, proxies from the environment), every
    transport wrapped. httpx2 has no public way to wrap a built client's transports."""
    client = default_client_factory()
    if not isinstance(client._transport, _FailFastTransport):
        client._transport = _FailFastTransport(client._transport)
    client._mounts = {
        pattern: None if t is None or isinstance(t, _FailFastTransport) else _FailFastTransport(t)
        for pattern, t in client._mounts.items()
    }
    return client


_client_lock = threading.Lock()
_client_installed = False


def use_fail_fast_client() -> None:
    """Make huggingface_hub's shared session fail at once when the Hub cannot be reached. Idempotent."""
    global _client_installed  # noqa: PLW0603 - one process-wide session, guarded by the lock
    with _client_lock:
        if not _client_installed:
            set_client_factory(_fail_fast_client)  # closes the old session; the next call builds ours
            _client_installed = True


# ------------------------------------------------------------------------------------------ names

_QUANT: Final = re.compile(
    r"""
    (?:^|(?<=[-._/\s]))
    (?P<ud>UD[-_])?
    (?P<q>
        [IT]?Q[1-8]_(?:K(?:_(?:XXS|XS|S|M|L|XL))?|[0-9](?:_[0-9]_[0-9])?|XXS|XS|S|M|L|NL)
      | MXFP4(?:_MOE)?
      | BF16 | FP16 | FP32 | F16 | F32
    )
    (?=$|[-._\s])
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SPLIT: Final = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_SKIPPED: Final = re.compile(r"mmproj|imatrix", re.IGNORECASE)


def parse_quant(filename: str) -> str | None:
    """The quantization label in a GGUF file name ("Q4_K_M"), upper-cased; None if there is none.

    Unsloth's dynamic quants keep their "UD-" prefix ("UD-Q4_K_XL"): the same repo often ships both
    UD-IQ2_XXS and IQ2_XXS, and they are different files. The file name is tried before its folder
    (big splits live in folders named after the quant); the last match in a name wins, since the
    label comes after the model name.
    """
    path = PurePosixPath(filename)
    for part in (path.name, *reversed(path.parent.parts)):
        name = re.sub(r"(?i)(-\d{5}-of-\d{5})?\.gguf$", "", part)
        matches = list(_QUANT.finditer(name))
        if matches:
            last = matches[-1]
            label = last.group("q").upper().replace("FP16", "F16").replace("FP32", "F32")
            return f"UD-{label}" if last.group("ud") else label
    return None


class UnsafeNameError(RemoteNotFoundError):
    """A Hub file or repo name that cannot become a file name on every OS (see `check_local_name`)."""

    title = "This name cannot be used as a file name"


# Windows opens the device, not a file, for these names, with any extension ("nul.gguf") and with
# trailing dots or spaces ("CON ."); the superscript digits count too.
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}
)
_WINDOWS_FORBIDDEN: Final = frozenset('<>:"|?*\\') | {chr(c) for c in range(32)}
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_NAME_HINT: Final = (
    "Hearth refuses such names on every system, so that a models folder works on Windows, macOS and"
    " Linux alike. Pick another file, or download it another way and import it."
)


def check_local_name(name: str, *, what: str = "file") -> tuple[str, ...]:
    """The path parts a Hub file name (or one the user typed) takes under a repo's folder.

    Every path that turns a Hub name into a local path goes through here. The same models folder
    (and the same Hub names) travel between OSes, so what Windows would misread is refused
    everywhere: a drive ("D:/x", "C:x"), an absolute path, "..", a backslash, characters Windows
    forbids, a device name ("CON", "nul.gguf", "COM1 .") and a part ending in a dot or a space
    (Windows drops those, so the name would point at another file). Raises UnsafeNameError.
    """

    def refuse(why: str) -> UnsafeNameError:
        shown = name if len(name) <= 200 else name[:200] + "…"
        return UnsafeNameError(
            f"Hearth will not save the {what} {shown!r}: {why}.", hint=_NAME_HINT, details=repr(name)
        )

    if not name:
        raise refuse("the name is empty")
    if "\\" in name:
        raise refuse("it contains a backslash, which Windows reads as a folder separator")
    if name.startswith("/"):
        raise refuse("it is an absolute path, outside the models folder")
    if _DRIVE.match(name):
        raise refuse(f"it names a drive ({name[:2]}), outside the models folder")
    parts = tuple(name.split("/"))
    for part in parts:
        if part in ("", "."):
            raise refuse("it has an empty or '.' folder name")
        if part == "..":
            raise refuse("'..' would take it out of the models folder")
        bad = next((c for c in part if c in _WINDOWS_FORBIDDEN), None)
        if bad is not None:
            raise refuse(f"it contains {bad!r}, which Windows does not allow in file names")
        if part[-1] in ". ":
            raise refuse(f"{part!r} ends with a dot or a space, which Windows drops")
        device = part.split(".", 1)[0].rstrip(" ").upper()
        if device in _WINDOWS_DEVICES:
            raise refuse(f"{part!r} is {device}, a device name Windows reserves")
    return parts


def hub_endpoint() -> str:
    """The Hub to talk to, read at call time (the library freezes HF_ENDPOINT at import)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


# ------------------------------------------------------------------------------------------ calls


def search_models(
    query: str,
    *,
    sort: SortKey = "downloads",
    page: int = 0,
    page_size: int = 20,
    token: str | None = None,
) -> list[RepoSummary]:
    """One page of GGUF repos matching `query`, most downloaded, most liked or most recent first."""
    ensure_online("search the Hugging Face Hub")
    if sort not in _SORTS:
        raise ValueError(f"sort must be one of {sorted(_SORTS)}, not {sort!r}")
    page, page_size = max(page, 0), min(max(page_size, 1), _MAX_PAGE_SIZE)
    auth = _auth(token)
    with _hub_errors(auth=auth):
        found = _api().list_models(
            search=query.strip() or None,
            filter="gguf",
            sort=_SORTS[sort],
            limit=(page + 1) * page_size,
            expand=_SEARCH_FIELDS,  # type: ignore[arg-type]  # a list of the Literal names
            token=auth,
        )
        hits = list(islice(found, page * page_size, (page + 1) * page_size))
    return [
        RepoSummary(
            id=m.id,
            author=m.author or (m.id.split("/")[0] if "/" in m.id else None),
            downloads=m.downloads or 0,
            likes=m.likes or 0,
            last_modified=m.last_modified,
            gated=bool(m.gated),
            private=bool(m.private),
            tags=tuple(m.tags or ()),
        )
        for m in hits
    ]


def list_model_options(
    repo_id: str, *, revision: str = "main", token: str | None = None
) -> list[ModelOption]:
    """The GGUF quantizations in a repo, split parts grouped, smallest first.

    Vision projectors (mmproj) and importance matrices are left out: they are not models to pick.
    A split model with parts missing from the repo is left out too, since it could never load.
    """
    ensure_online(f"list the files of {repo_id}")
    auth = _auth(token)
    with _hub_errors(repo_id, auth=auth, revision=revision):
        entries = list(
            _api().list_repo_tree(repo_id, recursive=True, expand=True, revision=revision, token=auth)
        )
    files = [
        _repo_file(e)
        for e in entries
        if isinstance(e, HfRepoFile) and _is_model_file(e.path) and _is_safe_name(repo_id, e.path)
    ]
    groups: dict[tuple[str, int], list[RepoFile]] = {}
    for f in files:
        split = _SPLIT.match(f.path)
        key = (split.group("stem") if split else f.path, f.split_count)
        groups.setdefault(key, []).append(f)
    options = []
    for parts in groups.values():
        parts.sort(key=lambda f: f.split_index)
        if [f.split_index for f in parts] != list(range(1, parts[0].split_count + 1)):
            continue
        options.append(
            ModelOption(
                name=parts[0].path,
                quant=parts[0].quant,
                files=tuple(parts),
                size=sum(f.size for f in parts),
            )
        )
    return sorted(options, key=lambda o: (o.size, o.name))


def card_summary(repo_id: str, token: str | None = None) -> CardSummary:
    """License, base model and task from the card's metadata, and the README's first real paragraph."""
    ensure_online(f"read the model card of {repo_id}")
    auth = _auth(token)
    with _hub_errors(repo_id, auth=auth):
        info = _api().model_info(repo_id, timeout=TIMEOUT, token=auth)
        has_readme = any(s.rfilename == "README.md" for s in info.siblings or ())
        readme = _read_text(repo_id, "README.md", auth) if has_readme else ""
    card = info.card_data
    base = card.base_model if card is not None else None
    if isinstance(base, list):
        base = ", ".join(str(b) for b in base) or None
    license_ = card.license if card is not None else None
    pipeline = info.pipeline_tag or (card.pipeline_tag if card is not None else None)
    return CardSummary(
        description=first_paragraph(readme),
        license=str(license_) if license_ else None,
        base_model=str(base) if base else None,
        pipeline_tag=str(pipeline) if pipeline else None,
    )


def read_remote_header(
    repo_id: str,
    filename: str,
    *,
    revision: str = "main",
    token: str | None = None,
    max_bytes: int = 32 << 20,
) -> ModelSummary:
    """Summarize a remote GGUF from its first bytes, fetched with Range requests.

    Starts with 2 MiB and reads further (at least doubling) until the metadata and tensor list
    parse with our bounded parser, up to `max_bytes`. Raises ModelFileError when the file on the Hub
    is damaged or its header is bigger than `max_bytes`, UnsupportedModelError when it will not run.
    """
    ensure_online(f"read the header of {filename} from the Hub")
    auth = _auth(token)
    with _hub_errors(repo_id, auth=auth, filename=filename, revision=revision):
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=hub_endpoint())
    data = b""
    total: int | None = None
    want = min(INITIAL_READ, max_bytes)
    while True:
        with _hub_errors(repo_id, auth=auth, filename=filename, revision=revision):
            chunk, total = _read_range(url, len(data), want, auth)
        data += chunk
        try:
            return inspect_gguf_header(data, name=filename, total_size=total)
        except IncompleteHeaderError as exc:
            if exc.needed > max_bytes or len(data) >= max_bytes or not chunk:
                raise ModelFileError(
                    f"The header of {filename} is larger than the {human_size(max_bytes, binary=True)} "
                    "Hearth reads ahead of a download.",
                    hint="Download the file to see its details.",
                ) from exc
            want = min(max(want * 2, exc.needed + (64 << 10)), max_bytes)
        except UnsupportedModelError:
            raise
        except ModelFileError as exc:
            raise type(exc)(
                f"{filename} on the Hub is not a usable model: {exc.message}",
                hint="Pick another file or another repository.",
                details=exc.details,
            ) from exc


# ------------------------------------------------------------------------------------------ helpers


def _api() -> HfApi:
    return HfApi(endpoint=hub_endpoint(), library_name="hearth", library_version=__version__)


def _auth(token: str | None) -> Token:
    """The token the user gave Hearth, or False: never the library's own login or OAuth refresh."""
    if token is None:
        token = read_token(app_paths())
    return token or False


def _is_safe_name(repo_id: str, path: str) -> bool:
    """A file no computer could save under its name is no option (a split with one is incomplete)."""
    try:
        check_local_name(path)
    except UnsafeNameError as exc:
        log.warning("%s: leaving out %r: %s", repo_id, path, exc.message)
        return False
    return True


def _is_model_file(path: str) -> bool:
    return path.lower().endswith(".gguf") and not _SKIPPED.search(PurePosixPath(path).name)


def _repo_file(entry: HfRepoFile) -> RepoFile:
    split = _SPLIT.match(entry.path)
    return RepoFile(
        path=entry.path,
        size=entry.size,
        sha256=entry.lfs.sha256 if entry.lfs is not None else None,
        quant=parse_quant(entry.path),
        split_index=int(split.group("index")) if split else 1,
        split_count=int(split.group("count")) if split else 1,
        blob_id=entry.blob_id,
    )


def _headers(auth: Token) -> dict[str, str]:
    return build_hf_headers(token=auth, library_name="hearth", library_version=__version__)


def _read_range(url: str, start: int, end: int, auth: Token) -> tuple[bytes, int | None]:
    """Bytes [start, end) and the file's total size; stops reading if the server ignores Range."""
    headers = _headers(auth) | {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
    with get_session().stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
        if response.status_code == 416:  # nothing at `start`: the file is shorter (or empty)
            return b"", _total_size(response)
        hf_raise_for_status(response)
        total = _total_size(response)
        skip = start if response.status_code == 200 else 0  # whole-file answer: drop what we have
        out = bytearray()
        for block in response.iter_bytes():
            out += block
            if len(out) >= skip + (end - start):
                break
    return bytes(out[skip : skip + end - start]), total


# Header text from the network: ASCII digits only ("²".isdigit() is True), at most 19 of them.
_CONTENT_RANGE_TOTAL: Final = re.compile(r"bytes (?:\d{1,19}-\d{1,19}|\*)/(\d{1,19})", re.ASCII)
_DIGITS: Final = re.compile(r"\d{1,19}", re.ASCII)


def _total_size(response: httpx2.Response) -> int | None:
    """The file's size from Content-Range (or Content-Length of a whole-file answer); None if unsaid."""
    content_range = _CONTENT_RANGE_TOTAL.fullmatch(response.headers.get("Content-Range", "").strip())
    if content_range is not None:
        return int(content_range[1])
    length = response.headers.get("Content-Length", "").strip()
    if response.status_code == 200 and _DIGITS.fullmatch(length):
        return int(length)
    return None


def _read_text(repo_id: str, filename: str, auth: Token) -> str:
    url = hf_hub_url(repo_id, filename, endpoint=hub_endpoint())
    data, _ = _read_range(url, 0, _MAX_README_BYTES, auth)
    return data.decode("utf-8", errors="replace")


# Card text comes from the network, so no pattern below may backtrack over it: the old regexes for
# links, images, tags, comments and front matter rescanned to the end of the card from every "[",
# "<" or "<!--" that had no end, which is quadratic (minutes on a 256 KiB card of "[[[["). Those
# spans are now found with str.find, in one pass; what is left are single-class patterns.
_EMPHASIS: Final = re.compile(r"\*\*|__|\*|`")
_SPACES: Final = re.compile(r"\s+")
_WORD: Final = re.compile(r"[A-Za-z]{2,}")
# Anchored at the start of a stripped line, and no repeat is followed by one that overlaps it.
_NOT_PROSE: Final = re.compile(r"(#|\||>|```|~~~|[-*_]{3,}\s*$|[-*+]\s|\d+\.\s|https?://\S+\s*$)")


def first_paragraph(markdown: str) -> str | None:
    """The first paragraph of prose in a README: no headings, tables, lists, code, badges or bare links.

    Only the first `_MAX_README_BYTES` characters are looked at (what `card_summary` reads), and
    the work is linear in them: the card is untrusted text from the network.
    """
    text = _strip_comments(_strip_front_matter(markdown[:_MAX_README_BYTES].replace("\r\n", "\n")))
    in_code = False
    for block in _blocks(text):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if not lines:
            continue
        fences = sum(line.lstrip().startswith(("```", "~~~")) for line in lines)
        if in_code or fences:
            in_code = in_code != (fences % 2 == 1)
            continue
        if _NOT_PROSE.match(lines[0].lstrip()):
            continue
        prose = " ".join(line.strip() for line in lines)
        prose = _strip_tags(_strip_links(_strip_links(prose, "!["), "["))
        prose = _SPACES.sub(" ", _EMPHASIS.sub("", prose)).strip()
        if len(_WORD.findall(prose)) < 3:  # badges, a lone name, stray markup
            continue
        if len(prose) > _DESCRIPTION_CHARS:
            prose = prose[:_DESCRIPTION_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        return prose
    return None


def _strip_front_matter(text: str) -> str:
    """Drop YAML front matter: a first line `---` up to the next line `---`; unclosed, keep it all."""
    first_end = text.find("\n")
    if not text.startswith("---") or first_end < 0 or text[3:first_end].strip():
        return text
    pos = first_end
    while (start := text.find("\n---", pos)) >= 0:
        end = text.find("\n", start + 4)
        if not text[start + 4 : len(text) if end < 0 else end].strip():
            return "" if end < 0 else text[end + 1 :]
        pos = end if end >= 0 else len(text)
    return text


def _strip_comments(text: str) -> str:
    """Drop every closed `<!-- … -->`; an unclosed one (and what follows it) stays as it is."""
    kept: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0 and (end := text.find("-->", start + 4)) >= 0:
        kept.append(text[pos:start])
        pos = end + 3
    kept.append(text[pos:])
    return "".join(kept)


def _strip_links(text: str, opener: str) -> str:
    """`[label](target)` becomes `label` (opener "["); `![alt](src)` goes (opener "![").

    The same matches as the old regex (a label up to the first "]", then "(" and a target up to the
    first ")"), found in one pass: the openers before an opener's first "]" all share that "]", so
    one that failed is never scanned again.
    """
    kept: list[str] = []
    pos = search = 0
    while (start := text.find(opener, search)) >= 0:
        close = text.find("]", start + len(opener))
        if close < 0:
            break
        if not text.startswith("(", close + 1):
            search = close + 1
            continue
        end = text.find(")", close + 2)
        if end < 0:
            break  # no later opener can find a ")" either
        kept.append(text[pos:start])
        if opener == "[":
            kept.append(text[start + 1 : close])
        pos = search = end + 1
    kept.append(text[pos:])
    return "".join(kept)


def _strip_tags(text: str) -> str:
    """Drop `<…>` spans (the regex `<[^>]+>`), in one pass."""
    kept: list[str] = []
    pos = search = 0
    while (start := text.find("<", search)) >= 0:
        end = text.find(">", start + 1)
        if end < 0:
            break
        if end == start + 1:  # "<>" is not a tag
            search = end
            continue
        kept.append(text[pos:start])
        pos = search = end + 1
    kept.append(text[pos:])
    return "".join(kept)


def _blocks(text: str) -> Iterator[str]:
    """Paragraphs: runs of lines between blank (whitespace-only) lines."""
    block: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)


@contextmanager
def _hub_errors(
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
        raise RemoteNotFoundError(
            f"{repo_id!r} is not a valid name for a model repository.",
            hint="Repository names look like owner/name, for example Qwen/Qwen2.5-7B-Instruct-GGUF.",
            details=str(exc),
        ) from exc
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
            " (Models → Discover → Token…; HF_TOKEN for hearth pull).",
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
            hint="Paste a valid token in Hearth (Models → Discover → Token…; HF_TOKEN for hearth pull),"
            " or remove it to use public models only.",
            details=str(exc),
        )
    if status == 403:
        return AuthRequiredError(
            f"The Hugging Face Hub refused access to {repo_id or 'this resource'}.",
            hint="Check that your token has read access"
            + (
                ", or add a token in Hearth (Models → Discover → Token…; HF_TOKEN for hearth pull)."
                if auth is False
                else "."
            ),
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
