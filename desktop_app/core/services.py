"""AppServices: the one place that opens Hearth's data (database, library, stores, downloads).

The window, every command and the tests used to wire these up themselves, each slightly differently
(the window started the download thread, the CLI opened a database per command, tests did both). Now
they all open an `AppServices` from the folders and use what it holds. An engine can be injected: the
GUI's inference thread then owns that one instead of a fresh llama.cpp `Engine`, which is how tests
drive the real window without loading a model.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from desktop_app.core.conversations import ConversationStore
from desktop_app.core.db import Database
from desktop_app.core.errors import HearthError
from desktop_app.core.library import Library
from desktop_app.core.paths import AppPaths, app_paths
from desktop_app.core.presets import PresetStore
from desktop_app.core.settings import AppSettings, load_settings, read_token, save_settings, write_token

if TYPE_CHECKING:
    from desktop_app.core.chat_session import ChatSession
    from desktop_app.core.downloads import CompletedDownload, DownloadManager
    from desktop_app.core.engine import Engine
    from desktop_app.core.engine.state_cache import StateCache
    from desktop_app.core.errors import SettingsError

log = logging.getLogger(__name__)


@dataclass
class AppServices:
    paths: AppPaths
    db: Database
    library: Library
    conversations: ConversationStore
    presets: PresetStore
    settings: AppSettings
    #: why settings.json could not be read (defaults are in use), to show once
    settings_problem: SettingsError | None = None
    #: the engine the inference thread should own; None means a fresh llama.cpp Engine
    engine: Engine | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(cls, paths: AppPaths | None = None, *, engine: Engine | None = None) -> AppServices:
        """Create the folders (private to the user) and open the database; raises a HearthError that
        says what to do when a folder or the database cannot be used."""
        paths = (paths or app_paths()).ensure()
        db = Database(paths.database)
        settings, problem = load_settings(paths)
        return cls(
            paths=paths,
            db=db,
            library=Library(db, paths),
            conversations=ConversationStore(db),
            presets=PresetStore(db),
            settings=settings,
            settings_problem=problem,
            engine=engine,
        )

    @functools.cached_property
    def chat_session(self) -> ChatSession:
        """Chat turns over the conversation store: the window and `hearth chat --save` share it."""
        from desktop_app.core.chat_session import ChatSession

        return ChatSession(self.conversations)

    @functools.cached_property
    def state_cache(self) -> StateCache:
        """Saved chat state (instant reopen) under the cache folder; shared by the engine's thread, which
        saves and restores, and the window, which deletes a chat's state with the chat. States of chats
        deleted elsewhere (`hearth chats rm` while the app was closed) are dropped here."""
        from desktop_app.core.engine.state_cache import StateCache

        cache = StateCache(
            self.paths.cache / "kv-state", cap_bytes=int(self.settings.saved_state_limit_gb * 1024**3)
        )
        try:
            cache.prune(str(c.id) for c in self.conversations.list_conversations())
        except (HearthError, OSError):
            log.warning("could not drop the saved state of deleted chats", exc_info=True)
        return cache

    def delete_conversation(self, conversation_id: int) -> None:
        """The chat and its saved state. Raises HearthError."""
        self.conversations.delete_conversation(conversation_id)
        if "state_cache" in self.__dict__ or (self.paths.cache / "kv-state").is_dir():
            self.state_cache.forget(str(conversation_id))

    @functools.cached_property
    def downloads(self) -> DownloadManager:
        """Built on first use (the downloads module and the Hub client cost start-up time). Finished
        downloads enter the library; the caller starts the worker thread when it wants queued downloads
        to run (the window does, `hearth pull` runs one in the foreground)."""
        from desktop_app.core.downloads import DownloadManager

        return DownloadManager(self.db, self.paths, on_complete=self._register_download)

    def stop_downloads(self) -> None:
        """Pause the download worker if one was made; never imports the downloads module."""
        if "downloads" in self.__dict__:
            self.downloads.stop()

    def _register_download(self, done: CompletedDownload) -> None:
        """Runs on the download thread: the file is verified and in place; list it in the library."""
        try:
            self.library.register_download(done)
        except HearthError:
            log.warning("downloaded %s but could not register it", done.path, exc_info=True)

    def save_settings(self, settings: AppSettings) -> None:
        self.settings = settings
        save_settings(self.paths, settings)

    def read_token(self) -> str | None:
        return read_token(self.paths)

    def write_token(self, token: str | None) -> None:
        write_token(self.paths, token)

    def recover_interrupted(self) -> int:
        """Replies a crash cut off are marked as such (at app start); 0 if the store cannot say."""
        try:
            return self.conversations.recover_interrupted()
        except HearthError:
            log.warning("could not mark interrupted replies", exc_info=True)
            return 0

    def close(self) -> None:
        """Stop the download worker (if one was made) and close this thread's database connection.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop_downloads()
        self.db.close()
