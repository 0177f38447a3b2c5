"""A real HTTP server that answers the Hugging Face Hub endpoints huggingface_hub 2.4 calls.

Why a server and not mocks: the Hub is unreachable from here and from CI, and what we must prove
(Range reads, resume, sha256 checks, auth and 404 mapping, "no socket at all when offline") only
means something when the library's own HTTP client talks to a socket. The shapes follow the library's
parsers (`ModelInfo`, `RepoFile`, `_paginate_pages`, `get_hf_file_metadata`, `hf_raise_for_status`)
and the public Hub's habits:

- `GET /api/models` returns only `id`, `downloads`, `likes`, `tags`, `private`, `createdAt` unless
  `expand=` or `full=true` asks for more (the real Hub omits `lastModified`, `author`, `gated`), and
  pages with a `Link: <…cursor=…>; rel="next"` header;
- `/tree` pages hold 1000 entries, 50 with `expand=true`, like the real Hub;
- gated repos show their metadata, tree and paths-info to anyone and gate only file content
  (401 `GatedRepo` without a token, 403 with a token that has no access); private repos answer
  401 `RepoNotFound` everywhere without the right token;
- `.gguf`/`.bin`/`.safetensors` files and anything over 1 MiB are LFS files: the tree gives
  `lfs.oid` (sha256) and resolve sends `X-Linked-Etag`/`X-Linked-Size`.

Knobs (`corrupt`, `throttle`, `fail_next`, `require_token`) may be changed while requests run.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml  # type: ignore[import-untyped]

__all__ = ["FakeHub", "Headers", "RecordedRequest"]

_LFS_SUFFIXES = (".gguf", ".bin", ".safetensors", ".pt", ".pth", ".onnx", ".zip", ".tar")
_LFS_MIN_SIZE = 1 << 20
_MODELS_PAGE = 1000
_TREE_PAGE = 1000
_TREE_PAGE_EXPANDED = 50
_DEFAULT_LIST_FIELDS = ("id", "likes", "downloads", "private", "tags", "createdAt", "pipeline_tag")
_FULL_LIST_FIELDS = (*_DEFAULT_LIST_FIELDS, "author", "gated", "lastModified", "sha", "siblings", "disabled")
_SORT_KEYS = {
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "last_modified",
    "createdAt": "created_at",
    "trendingScore": "likes",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (`h["range"] == h["Range"]`)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = {k.lower(): v for k, v in items}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class RecordedRequest(NamedTuple):
    method: str
    path: str  # as sent, with the query string
    headers: Headers


@dataclass
class _File:
    path: str
    data: bytes
    sha256: str
    git_oid: str
    lfs: bool
    pointer_size: int

    @classmethod
    def of(cls, path: str, data: bytes) -> _File:
        sha256 = hashlib.sha256(data).hexdigest()
        lfs = path.lower().endswith(_LFS_SUFFIXES) or len(data) >= _LFS_MIN_SIZE
        if lfs:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n"
            blob = pointer.encode()
        else:
            blob = data
        git_oid = hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
        return cls(path, data, sha256, git_oid, lfs, len(blob) if lfs else 0)


@dataclass
class _Repo:
    repo_id: str
    files: dict[str, _File]
    gated: str | bool
    private: bool
    downloads: int
    likes: int
    last_modified: str
    card_data: dict[str, Any] | None
    tags: tuple[str, ...]
    created_at: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.repo_id.encode())
        for f in sorted(self.files.values(), key=lambda f: f.path):
            digest.update(f"{f.path}\0{f.git_oid}\0".encode())
        self.sha = digest.hexdigest()

    @property
    def object_id(self) -> str:
        return hashlib.md5(self.repo_id.encode()).hexdigest()[:24]


class _HubError(Exception):
    """Raised inside a handler to answer with an error status and the Hub's error headers."""

    def __init__(self, status: int, code: str | None = None, message: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _front_matter(card: str) -> dict[str, Any] | None:
    if not card.startswith("---"):
        return None
    end = card.find("\n---", 3)
    if end < 0:
        return None
    data = yaml.safe_load(card[3:end])
    return data if isinstance(data, dict) else None


class FakeHub:
    """A local Hub: `with FakeHub() as hub: hub.add_repo(...); HfApi(endpoint=hub.endpoint)...`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repos: dict[str, _Repo] = {}
        self._requests: list[RecordedRequest] = []
        self._body_bytes: dict[str, int] = {}
        self._generation = 0  # bumped by clear_requests: older streams stop counting
        self._corrupt: set[tuple[str | None, str]] = set()
        self._throttle: int | None = None
        self._failures: list[tuple[int, str | None]] = []  # (status, path fragment) per coming request
        self._token: str | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""
        #: most entries per page of /api/models (the real Hub: 1000); lower it to test pagination
        self.models_page_size = _MODELS_PAGE
        #: answer resolve of LFS files with a 302 to another origin (http://localhost:PORT/_cdn/…),
        #: as the real Hub redirects to its storage: the library then takes the metadata from the
        #: 302 itself, and the client must not send the Authorization header there
        self.lfs_redirects = False

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeHub:
        handler = _make_handler(self)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # wake handler threads parked on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- content

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        gated: bool | str = False,
        private: bool = False,
        downloads: int = 0,
        likes: int = 0,
        last_modified: str = "2026-01-01T00:00:00.000Z",
        card: str | None = None,
        tags: Iterable[str] = ("gguf",),
        created_at: str = "2025-01-01T00:00:00.000Z",
    ) -> None:
        """Publish (or replace) a repo. `card` becomes README.md; its YAML front matter is `cardData`.

        `gated=True` means automatic approval ("auto"); pass "manual" for the other kind.
        """
        if repo_id.count("/") != 1:
            raise ValueError(f"repo ids are 'owner/name', not {repo_id!r}")
        all_files = dict(files)
        if card is not None:
            all_files["README.md"] = card.encode()
        repo = _Repo(
            repo_id=repo_id,
            files={p: _File.of(p, d) for p, d in all_files.items()},
            gated="auto" if gated is True else gated,
            private=private,
            downloads=downloads,
            likes=likes,
            last_modified=last_modified,
            card_data=_front_matter(card) if card is not None else None,
            tags=tuple(tags),
            created_at=created_at,
        )
        with self._lock:
            self._repos[repo_id] = repo

    def sha256(self, repo_id: str, path: str) -> str:
        """The sha256 the Hub publishes for a file (what a verified download must match)."""
        return self._repos[repo_id].files[path].sha256

    def commit(self, repo_id: str) -> str:
        return self._repos[repo_id].sha

    # ------------------------------------------------------------------------------------- knobs

    def corrupt(self, path: str, *, repo_id: str | None = None, enabled: bool = True) -> None:
        """Serve bytes that differ from the published sha256 (same length) for `path`."""
        with self._lock:
            (self._corrupt.add if enabled else self._corrupt.discard)((repo_id, path))

    def throttle(self, bytes_per_s: int | None) -> None:
        """Stream file bodies at about this rate; None or 0 turns throttling off."""
        with self._lock:
            self._throttle = bytes_per_s or None

    def fail_next(self, n: int, status: int = 500, *, path_contains: str | None = None) -> None:
        """The next `n` requests (whose path contains `path_contains`, if given) answer `status`."""
        with self._lock:
            self._failures.extend([(status, path_contains)] * n)

    def require_token(self, token: str | None) -> None:
        """The token that may read gated and private repos. Until set, no token can."""
        with self._lock:
            self._token = token

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._body_bytes.clear()
            self._generation += 1

    def body_bytes_sent(self, path_contains: str = "") -> int:
        """File-content bytes written for resolve requests whose URL path contains the fragment.

        Only requests that arrived since the last `clear_requests` count: a stream still draining
        into a killed client's dead socket does not add to the new tally.
        """
        with self._lock:
            return sum(n for p, n in self._body_bytes.items() if path_contains in p)

    # ------------------------------------------------------------------------------------- internals

    def _record(self, method: str, path: str, headers: Headers, conn: socket.socket) -> int | None:
        """Log the request; return an injected failure status if one is due."""
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers))
            self._connections.add(conn)
            for i, (status, fragment) in enumerate(self._failures):
                if fragment is None or fragment in path:
                    del self._failures[i]
                    return status
        return None

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _repo(self, repo_id: str, headers: Headers, *, content: bool) -> _Repo:
        with self._lock:
            repo = self._repos.get(repo_id)
            accepted = self._token
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        allowed = accepted is not None and token == accepted
        if repo is None:
            raise _HubError(404, "RepoNotFound", "Repository not found")
        if repo.private and not allowed:
            raise _HubError(401 if token is None else 404, "RepoNotFound", "Repository not found")
        if repo.gated and content and not allowed:
            if token is None:
                raise _HubError(
                    401,
                    "GatedRepo",
                    f"Access to model {repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in.",
                )
            raise _HubError(
                403,
                "GatedRepo",
                f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{repo_id} to ask for access.",
            )
        return repo

    def _listing(self, headers: Headers) -> list[_Repo]:
        auth = headers.get("authorization", "")
        with self._lock:
            visible_private = self._token is not None and auth == f"Bearer {self._token}"
            return [r for r in self._repos.values() if not r.private or visible_private]

    def _payload(self, repo: _Repo, fields: Iterable[str], *, blobs: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.sha,
            "lastModified": repo.last_modified,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": list(repo.tags),
            "pipeline_tag": (repo.card_data or {}).get("pipeline_tag"),
            "library_name": "gguf" if "gguf" in repo.tags else None,
            "cardData": repo.card_data,
            "siblings": [self._sibling(f, blobs) for f in sorted(repo.files.values(), key=lambda f: f.path)],
            "spaces": [],
            "usedStorage": sum(len(f.data) for f in repo.files.values()),
            "trendingScore": repo.likes,
        }
        out = {"_id": repo.object_id}
        for key in fields:
            if key in values and (key != "cardData" or values[key] is not None):
                out[key] = values[key]
        return out

    @staticmethod
    def _sibling(f: _File, blobs: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"rfilename": f.path}
        if blobs:
            out |= {"size": len(f.data), "blobId": f.git_oid}
            if f.lfs:
                out["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": f.pointer_size}
        return out

    def _served_bytes(self, repo: _Repo, f: _File) -> bytes:
        with self._lock:
            bad = (None, f.path) in self._corrupt or (repo.repo_id, f.path) in self._corrupt
        if not bad or not f.data:
            return f.data
        middle = len(f.data) // 2
        return f.data[:middle] + bytes([f.data[middle] ^ 0xFF]) + f.data[middle + 1 :]

    def _rate(self) -> int | None:
        with self._lock:
            return self._throttle


def _tree_entry(f: _File, repo: _Repo, expand: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": len(f.data), "path": f.path}
    if f.lfs:
        entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": f.pointer_size}
    if expand:
        entry["lastCommit"] = {"id": repo.sha, "title": "Upload model", "date": repo.last_modified}
        entry["securityFileStatus"] = {"status": "safe", "avScan": None, "pickleImportScan": None}
    return entry


def _dir_entry(path: str, repo: _Repo, expand: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": "directory",
        "oid": hashlib.sha1(f"{repo.sha}/{path}".encode()).hexdigest(),
        "size": 0,
        "path": path,
    }
    if expand:
        entry["lastCommit"] = {"id": repo.sha, "title": "Upload model", "date": repo.last_modified}
    return entry


def _truthy(values: list[str] | None) -> bool:
    return values is not None and bool(values) and values[-1].lower() in ("1", "true", "yes")


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(query: dict[str, list[str]]) -> int:
    raw = (query.get("cursor") or [""])[-1]
    if not raw:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(raw.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise _HubError(400, None, "Invalid cursor") from None


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeHub/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        # -------------------------------------------------------------------------------- routing

        def _dispatch(self, method: str) -> None:
            headers = Headers(self.headers.items())
            body = b""
            if method == "POST":
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            injected = hub._record(method, self.path, headers, self.connection)
            try:
                if injected is not None:
                    raise _HubError(injected, None, "Injected failure")
                url = urlsplit(self.path)
                query = parse_qs(url.query, keep_blank_values=True)
                parts = [unquote(p) for p in url.path.split("/")[1:]]
                if parts[:2] == ["api", "models"] and len(parts) == 2 and method == "GET":
                    self._search(query, headers)
                elif parts[:2] == ["api", "models"] and len(parts) >= 4:
                    self._api(
                        method,
                        repo_id=parts[2] + "/" + parts[3],
                        rest=parts[4:],
                        query=query,
                        headers=headers,
                        body=body,
                    )
                elif len(parts) >= 5 and parts[0] == "_cdn" and method in ("GET", "HEAD"):
                    self._cdn(method, parts[1] + "/" + parts[2], parts[3], "/".join(parts[4:]), headers)
                elif len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
                    self._resolve(method, parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]), headers)
                else:
                    raise _HubError(404, None, "Not found")
            except _HubError as reply:
                self._error(reply, method)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                if self.close_connection:
                    hub._forget(self.connection)

        def _api(
            self,
            method: str,
            *,
            repo_id: str,
            rest: list[str],
            query: dict[str, list[str]],
            headers: Headers,
            body: bytes,
        ) -> None:
            if not rest and method == "GET":
                self._model_info(repo_id, "main", query, headers)
            elif len(rest) == 2 and rest[0] == "revision" and method == "GET":
                self._model_info(repo_id, rest[1], query, headers)
            elif len(rest) >= 2 and rest[0] == "tree" and method == "GET":
                self._tree(repo_id, rest[1], "/".join(rest[2:]), query, headers)
            elif len(rest) == 2 and rest[0] == "paths-info" and method == "POST":
                self._paths_info(repo_id, rest[1], body, headers)
            else:
                raise _HubError(404, None, "Not found")

        # -------------------------------------------------------------------------------- endpoints

        def _search(self, query: dict[str, list[str]], headers: Headers) -> None:
            repos = hub._listing(headers)
            needle = (query.get("search") or [""])[-1].lower()
            wanted_tags = set(query.get("filter", []))
            author = (query.get("author") or [""])[-1]
            repos = [
                r
                for r in repos
                if needle in r.repo_id.lower()
                and wanted_tags <= set(r.tags)
                and (not author or r.repo_id.split("/")[0] == author)
            ]
            sort = (query.get("sort") or [""])[-1]
            if sort:
                if sort not in _SORT_KEYS:
                    raise _HubError(400, None, f"Invalid sort: {sort}")
                key = _SORT_KEYS[sort]
                descending = (query.get("direction") or ["-1"])[-1] != "1"
                repos.sort(key=lambda r: (getattr(r, key), r.repo_id), reverse=descending)
            if _truthy(query.get("full")):
                fields: tuple[str, ...] = _FULL_LIST_FIELDS
            elif query.get("expand"):
                fields = ("id", *query["expand"])
            else:
                fields = _DEFAULT_LIST_FIELDS
            if _truthy(query.get("cardData")):
                fields = (*fields, "cardData")
            try:
                limit = int((query.get("limit") or [str(hub.models_page_size)])[-1])
            except ValueError:
                raise _HubError(400, None, "Invalid limit") from None
            per_page = max(1, min(limit, hub.models_page_size))
            start = _offset(query)
            page = [hub._payload(r, fields) for r in repos[start : start + per_page]]
            link = None
            if start + per_page < len(repos):
                rest = {k: v for k, v in query.items() if k != "cursor"}
                rest["cursor"] = [_cursor(start + per_page)]
                link = f'<{hub.endpoint}/api/models?{urlencode(rest, doseq=True)}>; rel="next"'
            self._json(page, link=link)

        def _model_info(
            self, repo_id: str, revision: str, query: dict[str, list[str]], headers: Headers
        ) -> None:
            repo = hub._repo(repo_id, headers, content=False)
            self._check_revision(repo, revision)
            if query.get("expand"):
                fields: tuple[str, ...] = ("id", *query["expand"])
            else:
                fields = (*_FULL_LIST_FIELDS, "cardData", "library_name", "spaces", "usedStorage")
            self._json(hub._payload(repo, fields, blobs=_truthy(query.get("blobs"))))

        def _tree(
            self, repo_id: str, revision: str, folder: str, query: dict[str, list[str]], headers: Headers
        ) -> None:
            repo = hub._repo(repo_id, headers, content=False)
            self._check_revision(repo, revision)
            expand = _truthy(query.get("expand"))
            recursive = _truthy(query.get("recursive"))
            prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
            if prefix and not any(p.startswith(prefix) for p in repo.files):
                if folder.strip("/") in repo.files:
                    raise _HubError(400, None, f"{folder} is a file, not a folder")
                raise _HubError(404, "EntryNotFound", f"{folder} does not exist on main")
            entries: dict[str, dict[str, Any]] = {}
            for path in sorted(repo.files):
                if not path.startswith(prefix):
                    continue
                rel = path[len(prefix) :].split("/")
                if len(rel) == 1:
                    entries[path] = _tree_entry(repo.files[path], repo, expand)
                    continue
                top = prefix + rel[0]
                entries.setdefault(top, _dir_entry(top, repo, expand))
                if recursive:
                    for depth in range(2, len(rel)):
                        sub = prefix + "/".join(rel[:depth])
                        entries.setdefault(sub, _dir_entry(sub, repo, expand))
                    entries[path] = _tree_entry(repo.files[path], repo, expand)
            ordered = sorted(entries.values(), key=lambda e: (e["type"] != "directory", e["path"]))
            per_page = _TREE_PAGE_EXPANDED if expand else _TREE_PAGE
            start = _offset(query)
            link = None
            if start + per_page < len(ordered):
                rest = {k: v for k, v in query.items() if k != "cursor"}
                rest["cursor"] = [_cursor(start + per_page)]
                url = f"{hub.endpoint}{urlsplit(self.path).path}?{urlencode(rest, doseq=True)}"
                link = f'<{url}>; rel="next"'
            self._json(ordered[start : start + per_page], link=link)

        def _paths_info(self, repo_id: str, revision: str, body: bytes, headers: Headers) -> None:
            repo = hub._repo(repo_id, headers, content=False)
            self._check_revision(repo, revision)
            content_type = headers.get("content-type", "")
            if content_type.startswith("application/json"):
                form = json.loads(body or b"{}")
                paths = form.get("paths", [])
                expand = bool(form.get("expand"))
            else:
                parsed = parse_qs(body.decode(), keep_blank_values=True)
                paths = parsed.get("paths", [])
                expand = _truthy(parsed.get("expand"))
            out: list[dict[str, Any]] = []
            for raw in paths:
                path = raw.strip("/")
                if path in repo.files:
                    out.append(_tree_entry(repo.files[path], repo, expand))
                elif any(p.startswith(path + "/") for p in repo.files):
                    out.append(_dir_entry(path, repo, expand))
            self._json(out)

        def _resolve(self, method: str, repo_id: str, revision: str, path: str, headers: Headers) -> None:
            repo = hub._repo(repo_id, headers, content=True)
            self._check_revision(repo, revision)
            f = repo.files.get(path)
            if f is None:
                raise _HubError(404, "EntryNotFound", f"{path} does not exist on {revision}")
            out = {"ETag": f'"{f.sha256 if f.lfs else f.git_oid}"', "X-Repo-Commit": repo.sha}
            if f.lfs:
                out["X-Linked-Etag"] = f'"{f.sha256}"'
                out["X-Linked-Size"] = str(len(f.data))
                if hub.lfs_redirects:
                    port = hub.endpoint.rsplit(":", 1)[1]
                    out["Location"] = (
                        f"http://localhost:{port}/_cdn/{repo.repo_id}/{f.sha256}/{quote(f.path)}"
                    )
                    self.send_response(302)
                    for key, value in out.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self._send_file(method, repo, f, headers, out)

        def _cdn(self, method: str, repo_id: str, sha256: str, path: str, headers: Headers) -> None:
            """The storage host LFS files redirect to: no auth, no repo headers, only the bytes."""
            with hub._lock:
                repo = hub._repos.get(repo_id)
            f = repo.files.get(path) if repo is not None else None
            if repo is None or f is None or f.sha256 != sha256:
                raise _HubError(404, None, "NoSuchKey")
            self._send_file(method, repo, f, headers, {"ETag": f'"{f.sha256}"'})

        def _send_file(
            self, method: str, repo: _Repo, f: _File, headers: Headers, out: dict[str, str]
        ) -> None:
            data = hub._served_bytes(repo, f)
            size = len(data)
            out |= {
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream" if f.lfs else "text/plain; charset=utf-8",
                "Content-Disposition": f"inline; filename*=UTF-8''{quote(f.path.rsplit('/', 1)[-1])}",
            }
            start, end, status = 0, size, 200
            spec = headers.get("range")
            if spec is not None:
                match = _RANGE.match(spec.strip())
                if match and (match.group(1) or match.group(2)):
                    first, last = match.group(1), match.group(2)
                    if first:
                        start = int(first)
                        end = min(int(last) + 1, size) if last else size
                    else:  # suffix range: the last N bytes
                        start = max(size - int(last), 0)
                    if start >= size or start >= end:
                        out["Content-Range"] = f"bytes */{size}"
                        raise _RangeError(out)
                    status = 206
                    out["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(end - start))
            self.end_headers()
            if method == "HEAD":
                return
            self._stream(urlsplit(self.path).path, data, start, end)

        # -------------------------------------------------------------------------------- output

        def _stream(self, url_path: str, data: bytes, start: int, end: int) -> None:
            view = memoryview(data)
            pos = start
            with hub._lock:
                generation = hub._generation
            while pos < end:
                if hub._stopping.is_set():
                    self.close_connection = True
                    return
                rate = hub._rate()
                chunk = max(1, rate // 20) if rate else 256 * 1024
                n = min(chunk, end - pos)
                self.wfile.write(view[pos : pos + n])
                with hub._lock:
                    if hub._generation == generation:
                        hub._body_bytes[url_path] = hub._body_bytes.get(url_path, 0) + n
                pos += n
                if rate:
                    self.wfile.flush()
                    time.sleep(n / rate)

        def _check_revision(self, repo: _Repo, revision: str) -> None:
            if revision not in ("main", repo.sha):
                raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

        def _json(self, payload: Any, *, status: int = 200, link: str | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        def _error(self, reply: _HubError, method: str) -> None:
            if isinstance(reply, _RangeError):
                self.send_response(416)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            raw = json.dumps({"error": reply.message}).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            if reply.code:
                self.send_header("X-Error-Code", reply.code)
            if reply.message:
                self.send_header("X-Error-Message", reply.message)
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(raw)

    return Handler


class _RangeError(_HubError):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(416, None, "Range Not Satisfiable")
        self.headers = headers
