from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.errors import StorageError
from desktop_app.core.paths import APP_NAME, app_paths


def test_hearth_home_moves_everything(hearth_home: Path) -> None:
    paths = app_paths().ensure()
    for folder in (*paths.all_dirs(), paths.database.parent, paths.log_file.parent):
        assert hearth_home in folder.parents, folder
        assert folder.is_dir()
    assert paths.models == paths.data / "models"


def test_without_hearth_home_platformdirs_are_used_for_the_app() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEARTH_HOME"}
    paths = app_paths(env)
    assert all(APP_NAME in str(folder) for folder in paths.all_dirs())


def test_unwritable_home_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    paths = app_paths({"HEARTH_HOME": str(blocker / "sub")})
    with pytest.raises(StorageError) as info:
        paths.ensure()
    assert "HEARTH_HOME" in info.value.hint
    assert str(blocker) in info.value.message
