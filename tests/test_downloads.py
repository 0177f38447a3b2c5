"""Downloads against a real HTTP server (tests/fake_hub.py) through huggingface_hub's own session.

What these prove is what users of other apps complain about: a download resumes after a crash or a
SIGKILL (and the server really is asked for the missing bytes only), a corrupted download never reaches
the models folder, and every failure is a typed error that says what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFValueType

from desktop_app.commands import pull
from desktop_app.core.db import Database
from desktop_app.core.downloads import (
    AlreadyDownloadedError,
    CompletedDownload,
    DownloadBusyError,
    DownloadExistsError,
    DownloadManager,
    Progress,
    RetryPolicy,
)
from desktop_app.core.errors import (
    AuthRequiredError,
    DiskFullError,
    IntegrityError,
    NetworkError,
    OfflineError,
    RemoteNotFoundError,
)
from desktop_app.core.network import apply_offline
from desktop_app.core.paths import app_paths
from desktop_app.core.settings import write_token
from tests.fake_hub import FakeHub
from tests.tiny_gguf import write_tiny_model

REPO = "acme/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
FAST_RETRY = RetryPolicy(attempts=5, base_delay_s=0.01, max_delay_s=0.05)
PULL = "import sys; from desktop_app.commands.pull import main; sys.exit(main())"
MiB = 1 << 20


def model_bytes(tmp_path: Path, *, pad_mb: int = 0, seed: int = 0, kv: dict[str, Any] | None = None) -> bytes:
    """A real tiny GGUF; `pad_mb` adds a metadata string to make it a multi-MB file that still loads."""
    extra: dict[str, Any] = dict(kv or {})
    if pad_mb:
        extra["hearth.test.padding"] = "x" * (pad_mb * MiB)
    path = tmp_path / f"src-{seed}-{pad_mb}-{len(extra)}.gguf"
    return write_tiny_model(path, seed=seed, extra_kv=extra).read_bytes()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def resolve_gets(hub: FakeHub) -> list[str | None]:
    """The Range header of every file GET the server saw (None: a whole-file GET)."""
    return [r.headers.get("range") for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]


def settle(hub: FakeHub) -> None:
    """Wait until the server has stopped writing to connections a killed client left behind."""
    last = -1
    while (now := hub.body_bytes_sent()) != last:
        last = now
        time.sleep(0.2)


def partial_files() -> list[Path]:
    return sorted((app_paths().models / ".partial").glob("*.part"))


def model_files() -> list[Path]:
    return sorted(p for p in app_paths().models.rglob("*") if p.is_file() and ".partial" not in p.parts)


@pytest.fixture
def make_manager() -> Iterator[Callable[..., DownloadManager]]:
    """Managers on the test's HEARTH_HOME, each with its own Database, all stopped afterwards."""
    made: list[tuple[DownloadManager, Database]] = []

    def make(**kwargs: Any) -> DownloadManager:
        paths = app_paths().ensure()
        db = Database(paths.database)
        kwargs.setdefault("retry", FAST_RETRY)
        manager = DownloadManager(db, paths, **kwargs)
        made.append((manager, db))
        return manager

    yield make
    for manager, db in made:
        assert manager.stop(5.0), "the download thread did not stop"
        db.close()


# ------------------------------------------------------------------------------------------ basics


def test_download_lands_in_models_folder_verified(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    data = model_bytes(tmp_path)
    fake_hub.add_repo(REPO, {FILE: data, "README.md": b"# tiny\n"})
    done: list[CompletedDownload] = []
    updates: list[Progress] = []
    manager = make_manager(on_complete=done.append)

    download_id = manager.enqueue(REPO, FILE)
    assert manager.get(download_id).state == "queued"
    path = manager.run(download_id, progress=updates.append)

    assert path == app_paths().models / "acme--tiny-GGUF" / FILE
    assert sha256(path) == fake_hub.sha256(REPO, FILE)
    info = manager.get(download_id)
    assert (info.state, info.downloaded_bytes) == ("done", len(data))
    assert info.sha256 == fake_hub.sha256(REPO, FILE)
    assert done == [
        CompletedDownload(download_id, REPO, FILE, "main", path, fake_hub.sha256(REPO, FILE), len(data))
    ]
    assert updates[-1].state == "done" and updates[-1].downloaded == len(data)
    assert partial_files() == []
    # asked again: reported once the file is on disk, refused while it is still in the queue
    with pytest.raises(AlreadyDownloadedError) as already:
        manager.enqueue(REPO, FILE)
    assert already.value.path == path
    # a non-LFS file is checked against its git blob id (the only checksum the Hub publishes for it)
    readme_id = manager.enqueue(REPO, "README.md")
    with pytest.raises(DownloadExistsError) as exists:
        manager.enqueue(REPO, "README.md")
    assert exists.value.download_id == readme_id
    assert manager.run(readme_id).read_bytes() == b"# tiny\n"


def test_server_ignoring_range_restarts_from_zero(
    make_manager: Callable[..., DownloadManager], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server that answers 200 to a Range request: the partial bytes and the hash start over."""
    data = model_bytes(tmp_path, pad_mb=1)
    with _NoRangeServer(data) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        manager = make_manager()
        download_id = manager.enqueue(REPO, FILE)
        partial = manager.get(download_id).partial_path
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"\xff" * 5000)  # garbage: had it been kept, the checksum would fail

        path = manager.run(download_id)

    assert server.ranges == ["bytes=5000-"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------ resume


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_cli_resumes_after_sigkill(fake_hub: FakeHub, hearth_home: Path, tmp_path: Path) -> None:
    data = model_bytes(tmp_path, pad_mb=5)
    fake_hub.add_repo(REPO, {FILE: data})
    fake_hub.throttle(3 * MiB)
    env = {
        **os.environ,
        "HF_ENDPOINT": fake_hub.endpoint,
        "HEARTH_HOME": str(hearth_home),
        "HF_HUB_DISABLE_TELEMETRY": "1",  # else huggingface_hub fetches /api/agent-harnesses once a day
    }
    command = [sys.executable, "-c", PULL, REPO, FILE]

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: any(p.stat().st_size >= MiB for p in partial_files()),
            timeout=20,
            what="the first MiB on disk",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    [partial] = partial_files()
    kept = partial.stat().st_size
    assert 0 < kept < len(data)

    settle(fake_hub)  # the server notices the dead connection before we count bytes again
    fake_hub.throttle(None)
    fake_hub.clear_requests()
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert second.returncode == 0, second.stderr
    path = Path(second.stdout.strip().splitlines()[-1])
    assert path == app_paths().models / "acme--tiny-GGUF" / FILE
    assert sha256(path) == fake_hub.sha256(REPO, FILE)
    assert resolve_gets(fake_hub) == [f"bytes={kept}-"]
    assert fake_hub.body_bytes_sent("/resolve/") == len(data) - kept
    assert partial_files() == []
    db = Database(app_paths().database)
    try:
        query = "SELECT sha256 FROM models WHERE path=?"
        registered = db.connection().execute(query, (str(path),)).fetchone()
    finally:
        db.close()
    assert registered is not None and registered["sha256"] == fake_hub.sha256(REPO, FILE)


def test_restart_resumes_a_row_left_downloading(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    data = model_bytes(tmp_path, pad_mb=4)
    fake_hub.add_repo(REPO, {FILE: data})
    fake_hub.throttle(3 * MiB)
    first = make_manager()
    first.start()
    download_id = first.enqueue(REPO, FILE)
    wait_for(lambda: first.get(download_id).downloaded_bytes >= MiB, what="a MiB downloaded")

    started = time.monotonic()
    assert first.stop(timeout=5.0)
    assert time.monotonic() - started < 1.5, "stop() must interrupt a running download quickly"
    assert first.get(download_id).state == "queued"
    kept = first.get(download_id).partial_path.stat().st_size
    assert 0 < kept < len(data)
    # as if the app had crashed mid-download instead of shutting down
    db = Database(app_paths().database)
    with db.transaction() as conn:
        conn.execute("UPDATE downloads SET state='downloading' WHERE id=?", (download_id,))
    db.close()

    fake_hub.throttle(None)
    fake_hub.clear_requests()
    second = make_manager()
    second.start()
    wait_for(lambda: second.get(download_id).state == "done", what="the resumed download")

    assert resolve_gets(fake_hub) == [f"bytes={kept}-"]
    assert sha256(second.get(download_id).dest_path) == fake_hub.sha256(REPO, FILE)


def test_pause_resume_and_cancel_through_the_worker(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    fake_hub.add_repo(
        REPO,
        {FILE: model_bytes(tmp_path, pad_mb=3), "other-Q8_0.gguf": model_bytes(tmp_path, pad_mb=3, seed=1)},
    )
    fake_hub.throttle(3 * MiB)
    manager = make_manager()
    manager.start()

    download_id = manager.enqueue(REPO, FILE)
    wait_for(lambda: manager.get(download_id).downloaded_bytes >= MiB, what="a MiB downloaded")
    running = manager.get(download_id)
    assert running.state == "downloading" and running.speed_bps > 0
    manager.pause(download_id)
    wait_for(lambda: manager.get(download_id).state == "paused", what="the pause")
    paused = manager.get(download_id)
    kept = paused.partial_path.stat().st_size
    assert 0 < kept == paused.downloaded_bytes

    fake_hub.throttle(None)
    fake_hub.clear_requests()
    manager.resume(download_id)
    wait_for(lambda: manager.get(download_id).state == "done", what="the resumed download")
    assert resolve_gets(fake_hub) == [f"bytes={kept}-"]
    assert sha256(manager.get(download_id).dest_path) == fake_hub.sha256(REPO, FILE)

    fake_hub.throttle(2 * MiB)
    other = manager.enqueue(REPO, "other-Q8_0.gguf")
    wait_for(lambda: manager.get(other).downloaded_bytes > 0, what="the second download")
    manager.cancel(other)
    wait_for(lambda: manager.get(other).state == "cancelled", what="the cancel")
    assert not manager.get(other).partial_path.exists()
    assert not manager.get(other).dest_path.exists()
    assert [i.state for i in manager.list()] == ["done", "cancelled"]


# ------------------------------------------------------------------------------------------ integrity


def test_corrupted_download_never_enters_the_models_folder(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path)})
    fake_hub.corrupt(FILE)
    completed: list[CompletedDownload] = []
    manager = make_manager(on_complete=completed.append)
    download_id = manager.enqueue(REPO, FILE)

    with pytest.raises(IntegrityError) as error:
        manager.run(download_id)

    assert error.value.message.startswith("The downloaded file does not match the Hub's checksum")
    assert "Download it again" in error.value.hint
    assert model_files() == [] and partial_files() == []
    info = manager.get(download_id)
    assert (info.state, info.downloaded_bytes) == ("failed", 0)
    assert completed == []


def test_cli_exits_nonzero_on_a_checksum_mismatch(
    fake_hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path)})
    fake_hub.corrupt(FILE)

    code = pull.main([REPO, FILE])

    captured = capsys.readouterr()
    assert code == IntegrityError.exit_code != 0
    errors = [line for line in captured.err.splitlines() if line.startswith("hearth: error:")]
    assert len(errors) == 1 and "does not match the Hub's checksum" in errors[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert model_files() == [] and partial_files() == []


# ------------------------------------------------------------------------------------------ disk


def test_too_little_free_space_is_refused_before_downloading(
    fake_hub: FakeHub,
    make_manager: Callable[..., DownloadManager],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path), "other.gguf": model_bytes(tmp_path, seed=1)})
    manager = make_manager()
    queued = manager.enqueue(REPO, FILE)
    free = {"bytes": 10 * MiB}
    real = shutil.disk_usage

    def tiny_disk(path: str | os.PathLike[str]) -> Any:
        usage = real(path)
        return type(usage)(usage.total, usage.total - free["bytes"], free["bytes"])

    monkeypatch.setattr(shutil, "disk_usage", tiny_disk)  # what the free-space check reads

    with pytest.raises(DiskFullError) as error:
        manager.enqueue(REPO, "other.gguf")  # the size is checked before a row exists
    with pytest.raises(DiskFullError):
        manager.run(queued)  # and again right before the bytes start flowing

    assert "needs" in error.value.message and "free" in error.value.message
    assert [i.id for i in manager.list()] == [queued]
    assert manager.get(queued).state == "failed"
    assert resolve_gets(fake_hub) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full for a real ENOSPC")
def test_real_enospc_keeps_the_partial_file_for_a_resume(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    """The kernel's own ENOSPC: the partial file is a link to /dev/full, where every write fails."""
    data = model_bytes(tmp_path, pad_mb=2)
    fake_hub.add_repo(REPO, {FILE: data})
    manager = make_manager()
    download_id = manager.enqueue(REPO, FILE)
    partial = manager.get(download_id).partial_path
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.symlink_to("/dev/full")

    with pytest.raises(DiskFullError) as error:
        manager.run(download_id)

    assert "disk filled up" in error.value.message
    assert partial.is_symlink(), "the partial file must be kept"
    assert manager.get(download_id).state == "failed"
    assert model_files() == []
    partial.unlink()  # space freed
    assert sha256(manager.run(download_id)) == fake_hub.sha256(REPO, FILE)


# ------------------------------------------------------------------------------------------ errors


def test_missing_file_and_repo_are_not_found(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path)})
    manager = make_manager()
    with pytest.raises(RemoteNotFoundError):
        manager.enqueue(REPO, "missing-Q4_K_M.gguf")
    with pytest.raises(RemoteNotFoundError):
        manager.enqueue("acme/nothing-here", FILE)
    with pytest.raises(RemoteNotFoundError):
        manager.enqueue(REPO, FILE, revision="no-such-branch")
    assert manager.list() == []


def test_gated_repo_needs_the_right_token(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path)}, gated=True)
    fake_hub.require_token("hf_granted")

    with pytest.raises(AuthRequiredError):  # 401: no token at all
        make_manager().enqueue(REPO, FILE)
    with pytest.raises(AuthRequiredError):  # 403: a token without access
        make_manager(token="hf_someone_else").enqueue(REPO, FILE)

    write_token(app_paths(), "hf_granted")  # the token saved in Settings is used by default
    manager = make_manager()
    fake_hub.clear_requests()
    path = manager.run(manager.enqueue(REPO, FILE))
    assert sha256(path) == fake_hub.sha256(REPO, FILE)
    assert {r.headers.get("authorization") for r in fake_hub.requests} == {"Bearer hf_granted"}


def test_transient_server_errors_are_retried(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    data = model_bytes(tmp_path)
    fake_hub.add_repo(REPO, {FILE: data})
    manager = make_manager()

    fake_hub.fail_next(2, 503)  # the metadata HEAD
    download_id = manager.enqueue(REPO, FILE)
    partial = manager.get(download_id).partial_path
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(data[:100_000])
    injected: list[bool] = []

    def fail_the_gets(update: Progress) -> None:
        if update.state == "resuming" and not injected:  # after run()'s HEAD, before its GET
            injected.append(True)
            fake_hub.fail_next(2, 500)

    path = manager.run(download_id, progress=fail_the_gets)

    assert sha256(path) == fake_hub.sha256(REPO, FILE)
    assert resolve_gets(fake_hub) == ["bytes=100000-"] * 3
    assert [r.method for r in fake_hub.requests if "/resolve/" in r.path] == ["HEAD"] * 4 + ["GET"] * 3

    fake_hub.clear_requests()
    fake_hub.fail_next(FAST_RETRY.attempts, 500)
    with pytest.raises(NetworkError):
        manager.enqueue(REPO, "README-Q4_K_M.gguf")
    assert len(fake_hub.requests) == FAST_RETRY.attempts


def test_offline_mode_opens_no_socket(
    fake_hub: FakeHub,
    make_manager: Callable[..., DownloadManager],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path), "other.gguf": model_bytes(tmp_path, seed=1)})
    manager = make_manager()
    first = manager.enqueue(REPO, FILE)  # both queued while online
    second = manager.enqueue(REPO, "other.gguf")
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def record(self: socket.socket, address: Any) -> None:
        connects.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    seen = len(fake_hub.requests)
    apply_offline(True)
    try:
        with pytest.raises(OfflineError):
            manager.enqueue(REPO, "third.gguf")
        with pytest.raises(OfflineError):
            manager.run(first)
        manager.start()  # the worker leaves the queue alone while offline
        time.sleep(0.3)
        assert connects == []
        assert len(fake_hub.requests) == seen
        assert manager.get(first).state == "paused" and "Offline" in (manager.get(first).error or "")
        assert manager.get(second).state == "queued"
    finally:
        apply_offline(False)
    wait_for(lambda: manager.get(second).state == "done", what="the queue to go on once online")


def test_a_second_process_cannot_write_the_same_partial_file(
    fake_hub: FakeHub, make_manager: Callable[..., DownloadManager], tmp_path: Path
) -> None:
    fake_hub.add_repo(REPO, {FILE: model_bytes(tmp_path, pad_mb=2)})
    fake_hub.throttle(3 * MiB)
    app = make_manager()
    app.start()
    download_id = app.enqueue(REPO, FILE)
    wait_for(lambda: app.get(download_id).downloaded_bytes > 0, what="the download to start")

    cli = make_manager()  # its own database connection and file handle, as `hearth pull` would have
    with pytest.raises(DownloadBusyError):
        cli.run(download_id)

    assert cli.get(download_id).state == "downloading"
    fake_hub.throttle(None)
    wait_for(lambda: app.get(download_id).state == "done", what="the first download")
    assert sha256(app.get(download_id).dest_path) == fake_hub.sha256(REPO, FILE)


# ------------------------------------------------------------------------------------------ pull


def test_pull_picks_a_quant_and_downloads_every_split_part(
    fake_hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    split = {"split.count": (2, GGUFValueType.UINT16), "split.no": (0, GGUFValueType.UINT16)}
    fake_hub.add_repo(
        REPO,
        {
            "tiny-Q2_K.gguf": model_bytes(tmp_path, seed=1),
            "tiny-Q4_K_M-00001-of-00002.gguf": model_bytes(tmp_path, seed=2, kv=split),
            "tiny-Q4_K_M-00002-of-00002.gguf": b"second part " * 1000,
            "tiny-Q8_0.gguf": model_bytes(tmp_path, seed=3),
        },
    )
    fake_hub.add_repo("acme/no-q4-GGUF", {"x-Q8_0.gguf": model_bytes(tmp_path, seed=4)})

    assert pull.main([REPO]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.split()
    folder = app_paths().models / "acme--tiny-GGUF"
    assert out == [
        str(folder / "tiny-Q4_K_M-00001-of-00002.gguf"),
        str(folder / "tiny-Q4_K_M-00002-of-00002.gguf"),
    ]
    db = Database(app_paths().database)
    try:
        rows = db.connection().execute("SELECT path, parts FROM models").fetchall()
    finally:
        db.close()
    assert [(r["path"], r["parts"]) for r in rows] == [(out[0], 2)]

    assert pull.choose_files("acme/no-q4-GGUF", None, "main", None) == ["x-Q8_0.gguf"]  # the only one
    assert pull.choose_files(REPO, "q8_0", "main", None) == ["tiny-Q8_0.gguf"]
    with pytest.raises(RemoteNotFoundError):
        pull.choose_files(REPO, "IQ1_S", "main", None)


# ------------------------------------------------------------------------------------------ helpers


class _NoRangeServer:
    """A Hub-like server for one file that ignores Range headers (some proxies and CDNs do)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ranges: list[str] = []
        digest = hashlib.sha256(data).hexdigest()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                if "range" in {k.lower() for k in self.headers}:
                    owner.ranges.append(self.headers["Range"])
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                self.send_response(200)
                self.send_header("ETag", f'"{digest}"')
                self.send_header("X-Linked-Etag", f'"{digest}"')
                self.send_header("X-Linked-Size", str(len(owner.data)))
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("Content-Length", str(len(owner.data)))
                self.end_headers()
                if body:
                    self.wfile.write(owner.data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> _NoRangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=5)
