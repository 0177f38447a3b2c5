"""Where Hearth keeps the user's data.

Everything lives under platformdirs' folders for the app "Hearth", unless `HEARTH_HOME` is set: then
data, config, cache, logs and models all move under that one folder. Tests and benchmarks rely on that
to never touch a real user's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

from desktop_app.core.errors import StorageError
from desktop_app.core.private_files import ensure_private_dir

APP_NAME = "Hearth"
HOME_ENV = "HEARTH_HOME"


@dataclass(frozen=True)
class AppPaths:
    data: Path
    config: Path
    cache: Path
    logs: Path

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def database(self) -> Path:
        return self.data / "hearth.db"

    @property
    def log_file(self) -> Path:
        return self.logs / "hearth.log"

    def all_dirs(self) -> tuple[Path, ...]:
        return (self.data, self.config, self.cache, self.logs, self.models)

    def ensure(self) -> AppPaths:
        """Create the folders, private to this user (0700 on POSIX: they hold chats, keys and logs), or
        raise a StorageError that says which one and why."""
        for folder in self.all_dirs():
            try:
                ensure_private_dir(folder)
            except OSError as exc:
                raise StorageError(
                    f"Hearth cannot create its folder {folder}: {exc.strerror or exc}.",
                    hint=f"Check the permissions of that folder, or set {HOME_ENV} to a folder you own.",
                    details=repr(exc),
                ) from exc
        return self


def app_paths(environ: os._Environ[str] | dict[str, str] | None = None) -> AppPaths:
    """The current folders. Cheap; reads the environment every call so tests can move them."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV, "").strip()
    if home:
        base = Path(home).expanduser().absolute()
        return AppPaths(data=base / "data", config=base / "config", cache=base / "cache", logs=base / "logs")
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return AppPaths(
        data=Path(dirs.user_data_dir),
        config=Path(dirs.user_config_dir),
        cache=Path(dirs.user_cache_dir),
        logs=Path(dirs.user_log_dir),
    )
