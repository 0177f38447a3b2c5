"""Chats, settings, logs and secrets are private to the user: 0700 folders, 0600 files, atomic secrets."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.api_key import key_file, load_or_create_key
from desktop_app.core.db import Database
from desktop_app.core.logs import setup_logging
from desktop_app.core.paths import app_paths
from desktop_app.core.private_files import write_private_text
from desktop_app.core.server_config import ServerPrefs, save_prefs
from desktop_app.core.settings import AppSettings, read_token, save_settings, write_token

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are a POSIX notion")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """Most desktops run with umask 022: everything created is world-readable unless we say otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_data_config_cache_and_log_folders_are_0700() -> None:
    paths = app_paths().ensure()
    for folder in (paths.data, paths.config, paths.cache, paths.logs, paths.models):
        assert _mode(folder) == 0o700, folder


def test_folders_left_open_by_an_older_version_are_tightened() -> None:
    paths = app_paths()
    for folder in (paths.data, paths.config, paths.logs):
        folder.mkdir(parents=True)
        os.chmod(folder, 0o755)
    paths.ensure()
    assert {_mode(f) for f in (paths.data, paths.config, paths.logs)} == {0o700}


def test_the_database_and_its_wal_files_are_0600() -> None:
    paths = app_paths()
    db = Database(paths.database)
    db.connection().execute("CREATE TABLE IF NOT EXISTS t (x)")
    db.connection().execute("INSERT INTO t VALUES (1)")
    assert _mode(paths.data) == 0o700
    for suffix in ("", "-wal", "-shm"):
        file = paths.database.with_name(paths.database.name + suffix)
        assert file.exists(), file
        assert _mode(file) == 0o600, file
    db.close()


def test_an_existing_world_readable_database_is_tightened() -> None:
    paths = app_paths()
    paths.data.mkdir(parents=True)
    paths.database.touch(mode=0o644)
    os.chmod(paths.database, 0o644)
    db = Database(paths.database)
    db.connection().execute("SELECT 1")
    assert _mode(paths.database) == 0o600
    db.close()


def test_the_log_file_is_private() -> None:
    paths = app_paths()
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(paths)
        logging.getLogger("hearth.test").warning("a line")
        assert _mode(paths.logs) == 0o700
        assert _mode(paths.log_file) == 0o600
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()


def test_settings_and_server_prefs_are_0600() -> None:
    paths = app_paths()
    save_settings(paths, AppSettings(offline=True))
    save_prefs(paths, ServerPrefs(port=9999, cors_origins=("http://localhost:3000",)))
    for file in paths.config.iterdir():
        assert _mode(file) == 0o600, file
    assert json.loads((paths.config / "settings.json").read_text())["offline"] is True


class _FsyncSpy:
    """Records, at the moment a secret is made durable, which file holds it and with what mode."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []  # (mode, size)
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        info = os.fstat(fd)
        self.seen.append((stat.S_IMODE(info.st_mode), info.st_size))
        self._real(fd)


@pytest.mark.parametrize("old_mode", [0o644, 0o666])
def test_a_token_replacing_a_loose_file_is_written_whole_into_a_private_file(
    old_mode: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old code truncated the existing (world-readable) file, wrote the token into it, then chmodded:
    for a moment the token sat in a file anyone could read, and a crash in between lost it."""
    paths = app_paths()
    paths.config.mkdir(parents=True)
    token_file = paths.config / "hf_token"
    token_file.write_text("hf_old")
    os.chmod(token_file, old_mode)
    spy = _FsyncSpy()
    monkeypatch.setattr(os, "fsync", spy)

    write_token(paths, "hf_new_secret_token")

    assert spy.seen == [(0o600, len("hf_new_secret_token"))]  # durable, private, complete, then renamed
    assert _mode(token_file) == 0o600
    assert read_token(paths) == "hf_new_secret_token"
    assert [p.name for p in paths.config.iterdir()] == ["hf_token"]  # no temporary file left behind


def test_a_failed_secret_write_keeps_the_old_secret() -> None:
    folder = app_paths().config
    folder.mkdir(parents=True)
    secret = folder / "secret"
    write_private_text(secret, "old")
    with pytest.raises(UnicodeEncodeError):
        write_private_text(secret, "new ✗", encoding="ascii")
    assert secret.read_text() == "old"
    assert [p.name for p in folder.iterdir()] == ["secret"]


def test_the_api_key_is_private_from_the_first_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = app_paths()
    spy = _FsyncSpy()
    monkeypatch.setattr(os, "fsync", spy)
    key = load_or_create_key(paths)
    assert spy.seen == [(0o600, len(key) + 1)]
    assert _mode(key_file(paths)) == 0o600
    assert _mode(paths.config) == 0o700
