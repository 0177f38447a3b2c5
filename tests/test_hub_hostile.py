"""What a hostile, broken or absent Hub can do to Hearth, against real sockets on 127.0.0.1.

- Card text is untrusted: crafted READMEs that made the old regexes quadratic (minutes on 256 KiB,
  hours on megabytes) are summarised at once, and only a bounded prefix is ever looked at.
- An /api/ answer the library reads whole is bounded too.
- An unreachable Hub (nothing listening, a name that does not resolve) is said at once, after one
  connection attempt per call, not after the library's 23 s of retries.
- A Hub file name that some OS would misread (a drive, "..", a backslash, a Windows device name…)
  never becomes a local path, on any OS: the same names and models folders travel between them.

No test here asserts a duration: the quadratic cases carry a pytest timeout the old code exceeds.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from desktop_app.commands import pull
from desktop_app.core import hub
from desktop_app.core.db import Database
from desktop_app.core.downloads import DownloadManager, RetryPolicy, safe_repo_dir
from desktop_app.core.errors import NetworkError, OfflineError
from desktop_app.core.hub import UnsafeNameError, check_local_name
from desktop_app.core.hub import client as hub_client
from desktop_app.core.hub import transport as hub_transport
from desktop_app.core.network import apply_offline
from desktop_app.core.paths import app_paths
from tests.fake_hub import FakeHub
from tests.tiny_gguf import write_tiny_model

REAL = "A real paragraph of words."
UNDER_CAP = 250_000  # characters: under the 256 KiB first_paragraph looks at
MB = 1 << 20


@pytest.fixture(autouse=True)
def online_after() -> Iterator[None]:
    yield
    apply_offline(False)


# ------------------------------------------------------------------------------------- card text

# Each took minutes with the old regexes at 250,000 characters (measured on the old code, 2 cores:
# front matter ~13 min, links ~10 min, images ~5 min, comments ~3.5 min, tags ~1 min).
HOSTILE_UNDER_CAP: dict[str, str] = {
    "front matter of newlines, never closed": "---" + "\n" * UNDER_CAP + REAL,
    "comment openers, never closed": "<!--" * (UNDER_CAP // 4) + "\n\n" + REAL,
    "link openers, never closed": "[" * UNDER_CAP + "\n\n" + REAL,
    "image openers, never closed": "![" * (UNDER_CAP // 2) + "\n\n" + REAL,
    "tag openers, never closed": "<" * UNDER_CAP + "\n\n" + REAL,
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", list(HOSTILE_UNDER_CAP))
def test_crafted_cards_are_summarised_in_one_pass(name: str) -> None:
    assert hub.first_paragraph(HOSTILE_UNDER_CAP[name]) == REAL


def _megabytes(unit: str) -> str:
    return unit * (5 * MB // len(unit))


# Hours with the old code, which looked at the whole text; now only the first 256 KiB count, so the
# paragraph after the junk is out of reach and there is no summary.
HOSTILE_MEGABYTES: dict[str, str] = {
    "front matter": "---" + "\n" * (5 * MB) + REAL,
    "comments": _megabytes("<!--") + "\n\n" + REAL,
    "links": _megabytes("[") + "\n\n" + REAL,
    "links without a closing parenthesis": _megabytes("[a](") + "\n\n" + REAL,
    "images": _megabytes("![") + "\n\n" + REAL,
    "tags": _megabytes("<") + "\n\n" + REAL,
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", list(HOSTILE_MEGABYTES))
def test_megabytes_of_card_are_cut_to_a_prefix(name: str) -> None:
    assert hub.first_paragraph(HOSTILE_MEGABYTES[name]) is None
    # the same junk after a real paragraph changes nothing
    assert hub.first_paragraph(REAL + "\n\n" + HOSTILE_MEGABYTES[name]) == REAL


@pytest.mark.timeout(20)
def test_card_summary_reads_a_bounded_prefix_of_a_hostile_readme(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/m", {"m.gguf": b"x"}, card="---\nlicense: mit\n---\n" + "[" * (5 * MB))
    summary = hub.card_summary("org/m")
    assert summary.description is None and summary.license == "mit"
    assert fake_hub.body_bytes_sent("README.md") <= 256 << 10


# ------------------------------------------------------------------------------------- JSON size


class _Server:
    """A bare HTTP server on 127.0.0.1 whose handler the test writes."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.mark.timeout(60)
def test_an_endless_api_answer_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid JSON (spaces, then []), but bigger than any real search page: refused, not parsed."""

    def spaces(handler: BaseHTTPRequestHandler) -> None:
        total = 48 * MB
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(total + 2))
        handler.end_headers()
        chunk = b" " * MB
        try:
            for _ in range(total // MB):
                handler.wfile.write(chunk)
            handler.wfile.write(b"[]")
        except OSError:
            pass

    server = _Server(spaces)
    try:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        with pytest.raises(NetworkError, match="could not understand") as exc:
            hub.search_models("x")
        assert "more than 32 MiB" in exc.value.details
        assert not isinstance(exc.value, OfflineError)
    finally:
        server.close()


# ------------------------------------------------------------------------------------- no Hub


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The host of every connection attempt: socket.create_connection (httpcore's way to connect)
    looks each one up first. The real lookup still happens."""
    seen: list[Any] = []
    real_lookup = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(host)
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return seen


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _every_hub_call() -> list[tuple[str, Callable[[], object]]]:
    return [
        ("search", lambda: hub.search_models("qwen")),
        ("file list", lambda: hub.list_model_options("org/m")),
        ("card", lambda: hub.card_summary("org/m")),
        ("header", lambda: hub.read_remote_header("org/m", "m.gguf")),
    ]


@pytest.mark.timeout(15)
@pytest.mark.parametrize("endpoint", ["closed port", "unresolvable name"])
def test_an_unreachable_hub_fails_at_once(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, connects: list[Any], tmp_path: Path
) -> None:
    """Before: search and the file list took 23 s (the library's 5 retries), a download 15 s (ours)."""
    url = _closed_port() if endpoint == "closed port" else "http://nonexistent.invalid"
    monkeypatch.setenv("HF_ENDPOINT", url)
    for what, call in _every_hub_call():
        connects.clear()
        with pytest.raises(OfflineError, match="cannot reach the Hugging Face Hub") as exc:
            call()
        assert "connection" in exc.value.hint, what
        assert len(connects) == 1, f"{what}: {len(connects)} connection attempts"

    paths = app_paths().ensure()
    db = Database(paths.database)
    try:
        manager = DownloadManager(db, paths, retry=RetryPolicy(attempts=5, base_delay_s=2.0))
        connects.clear()
        with pytest.raises(OfflineError, match="could not reach the Hugging Face Hub"):
            manager.enqueue("org/m", "m.gguf")
        assert len(connects) == 1 and manager.list() == []
    finally:
        db.close()


@pytest.mark.timeout(15)
def test_a_hub_that_never_completes_a_connect_is_given_up_at_once(
    monkeypatch: pytest.MonkeyPatch, connects: list[Any]
) -> None:
    """A full accept queue drops SYNs, as a firewall does. Before: the library's client had no
    timeout, so a search waited for the OS's connect timeout (about 2 min), six times over."""
    monkeypatch.setattr(hub_transport, "CONNECT_TIMEOUT", 0.5)
    monkeypatch.setattr(hub_client, "TIMEOUT", 0.5)
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())  # the one queued connection; nobody accepts
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
        for what, call in _every_hub_call():
            connects.clear()
            with pytest.raises(OfflineError, match="cannot reach the Hugging Face Hub"):
                call()
            assert len(connects) == 1, what


class _Resetter:
    """Listens on 127.0.0.1, accepts every connection and resets it at once (SO_LINGER 0)."""

    def __init__(self) -> None:
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.mark.timeout(15)
def test_a_hub_that_resets_every_connection_is_given_up_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: search and the file list made 6 connections over 23 s."""
    resetter = _Resetter()
    try:
        monkeypatch.setenv("HF_ENDPOINT", resetter.endpoint)
        for what, call in _every_hub_call():
            before = resetter.accepted
            with pytest.raises(OfflineError, match="cannot reach the Hugging Face Hub"):
                call()
            assert resetter.accepted - before <= 2, what  # one more try: a stale keep-alive connection
    finally:
        resetter.close()


@pytest.mark.timeout(15)
def test_a_download_whose_hub_goes_away_stops_at_once(
    fake_hub: FakeHub, connects: list[Any], tmp_path: Path
) -> None:
    """The HEAD worked, then the Hub went away: the GET's refused connect is not retried for 15 s."""
    data = write_tiny_model(tmp_path / "m.gguf").read_bytes()
    fake_hub.add_repo("org/m", {"m.gguf": data})
    paths = app_paths().ensure()
    db = Database(paths.database)
    try:
        manager = DownloadManager(db, paths, retry=RetryPolicy(attempts=5, base_delay_s=2.0))
        download_id = manager.enqueue("org/m", "m.gguf")
        partial = manager.get(download_id).partial_path
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data[:100])  # so that run() re-hashes ("resuming") between HEAD and GET

        def hub_goes_away(update: Any) -> None:
            if update.state == "resuming" and fake_hub.endpoint:
                fake_hub.stop()
                fake_hub.endpoint = ""
                connects.clear()

        with pytest.raises(OfflineError, match="could not reach the Hugging Face Hub"):
            manager.run(download_id, progress=hub_goes_away)
        info = manager.get(download_id)
        assert info.state == "failed" and partial.read_bytes() == data[:100]
        assert len(connects) == 1  # the GET's one try
    finally:
        db.close()


# ------------------------------------------------------------------------------------- file names

UNSAFE_NAMES: dict[str, str] = {
    "D:/x.gguf": "drive",
    "C:x.gguf": "drive",
    "c:/Windows/x.gguf": "drive",
    "/abs/x.gguf": "absolute path",
    "../x.gguf": "'..'",
    "sub/../../x.gguf": "'..'",
    "sub\\x.gguf": "backslash",
    "..\\x.gguf": "backslash",
    "CON": "device name",
    "con.gguf": "device name",
    "nul.gguf": "device name",
    "NUL.tar.gz": "device name",
    "Aux.Q4_K_M.gguf": "device name",
    "prn": "device name",
    "COM1.gguf": "device name",
    "com9": "device name",
    "LPT1.gguf": "device name",
    "lpt9.Q8_0.gguf": "device name",
    "COM\u00b9.gguf": "device name",
    "nul .gguf": "device name",
    "sub/CON/x.gguf": "device name",
    "conin$.gguf": "device name",
    "x.gguf.": "ends with a dot or a space",
    "x.gguf ": "ends with a dot or a space",
    "nul.": "ends with a dot or a space",
    "dir./x.gguf": "ends with a dot or a space",
    "ab:c.gguf": "':'",
    "x?.gguf": "'?'",
    "x*.gguf": "'*'",
    'x".gguf': "'\"'",
    "x<y.gguf": "'<'",
    "x|y.gguf": "'|'",
    "x\x01.gguf": "'\\x01'",
    "sub//x.gguf": "empty or '.'",
    "./x.gguf": "empty or '.'",
    "": "empty",
}


@pytest.mark.parametrize("name", list(UNSAFE_NAMES))
def test_unsafe_names_are_refused_before_any_request(
    name: str, fake_hub: FakeHub, make_manager: Callable[..., DownloadManager]
) -> None:
    fake_hub.add_repo("org/m", {"m.gguf": b"GGUF"})
    manager = make_manager()
    with pytest.raises(UnsafeNameError) as exc:
        manager.enqueue("org/m", name)
    assert exc.value.message.startswith(f"Hearth will not save the file {name!r}:")
    assert UNSAFE_NAMES[name] in exc.value.message
    assert "Windows, macOS and Linux" in exc.value.hint
    assert fake_hub.requests == [] and manager.list() == []


@pytest.mark.parametrize(
    "name",
    [
        "x-Q4_K_M.gguf",
        "sub/dir/x.gguf",
        "console.gguf",
        "con-model.gguf",
        "COM10.gguf",
        "lpt.gguf",
        "nul-x.gguf",
        "a.b.c.gguf",
        "Über-модель.gguf",
        "with space.gguf",
        ".hidden.gguf",
    ],
)
def test_ordinary_names_pass(name: str) -> None:
    assert check_local_name(name) == tuple(name.split("/"))


def test_safe_repo_dir_refuses_a_device_or_dots() -> None:
    assert safe_repo_dir("org/name") == "org--name"
    for repo in ("nul", "CON.x", "..", "org/."):
        with pytest.raises(UnsafeNameError, match="repository folder"):
            safe_repo_dir(repo)


def test_the_file_list_leaves_out_names_no_os_may_save(fake_hub: FakeHub, tmp_path: Path) -> None:
    tiny = write_tiny_model(tmp_path / "t.gguf").read_bytes()
    fake_hub.add_repo(
        "org/m",
        {
            "good-Q4_K_M.gguf": tiny,
            "nul.Q8_0.gguf": tiny,
            "aux-Q6_K.gguf": tiny,  # "aux-Q6_K" is not "AUX": fine
            "COM1.Q5_K_M.gguf": tiny,
            "dir./m-Q3_K_S.gguf": tiny,
            "m-Q2_K.gguf ": tiny,
            "lpt1/s-F16-00001-of-00002.gguf": tiny,
            "lpt1/s-F16-00002-of-00002.gguf": tiny,
            "ok/s-Q8_0-00001-of-00002.gguf": tiny,
            "ok/s-Q8_0-00002-of-00002.gguf": tiny,
        },
    )
    names = [o.name for o in hub.list_model_options("org/m")]
    assert sorted(names) == ["aux-Q6_K.gguf", "good-Q4_K_M.gguf", "ok/s-Q8_0-00001-of-00002.gguf"]


def test_pull_says_why_it_refuses_a_name(
    fake_hub: FakeHub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_hub.add_repo("org/m", {"nul.gguf": write_tiny_model(tmp_path / "t.gguf").read_bytes()})
    parser = argparse.ArgumentParser()
    pull.register(parser.add_subparsers())
    args = parser.parse_args(["pull", "org/m", "nul.gguf"])
    code = args.handler(args)
    err = capsys.readouterr().err
    assert code == UnsafeNameError.exit_code != 0
    assert "'nul.gguf' is NUL, a device name Windows reserves" in err
    assert fake_hub.requests == []


@pytest.fixture
def make_manager() -> Iterator[Callable[..., DownloadManager]]:
    made: list[tuple[DownloadManager, Database]] = []

    def make(**kwargs: Any) -> DownloadManager:
        paths = app_paths().ensure()
        db = Database(paths.database)
        manager = DownloadManager(db, paths, **kwargs)
        made.append((manager, db))
        return manager

    yield make
    for manager, db in made:
        assert manager.stop(5.0)
        db.close()
