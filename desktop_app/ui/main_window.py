"""The main window: a sidebar for navigation and a stack of pages.

Start-up (issue #12): the first paint needs only what the Chat page shows. The Models page (the Hub
client, huggingface_hub) and the Server page (uvicorn, Starlette) are built on first use, behind
`models` and `server`; the download worker starts, and the Models page is built, right after the
first paint. Their modules are imported inside the builders as plain `import` statements, so
PyInstaller still finds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QPaintEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from desktop_app import gc_pause
from desktop_app.core import network, starter
from desktop_app.core.conversations import Conversation
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.library import LibraryModel
from desktop_app.core.model_settings import ModelSettings, stored_with, template_override_of
from desktop_app.core.providers.chat_choice import remote_chat_model
from desktop_app.core.providers.records import RemoteModel
from desktop_app.core.providers.store import ProviderStore
from desktop_app.core.services import AppServices
from desktop_app.resources import icon_path
from desktop_app.ui import saved_state_menu
from desktop_app.ui.chat_page import STARTER_NOTE_KEY, ChatPage
from desktop_app.ui.conversation_panel import ConversationPanel
from desktop_app.ui.error_dialog import show_error
from desktop_app.ui.sidebar import TITLE as WINDOW_TITLE
from desktop_app.ui.sidebar import Sidebar, SidebarScroll
from desktop_app.ui.starter_watch import StarterWatch
from desktop_app.ui.status_bar import StatusBar
from desktop_app.ui.theme import apply_theme, current_colors
from desktop_app.workers.inference import InferenceController
from desktop_app.workers.tasks import run_in_background

if TYPE_CHECKING:
    from desktop_app.core.downloads import DownloadManager
    from desktop_app.ui.batch_page import BatchPage
    from desktop_app.ui.documents_page import DocumentsPage
    from desktop_app.ui.models_page import ModelsPage
    from desktop_app.ui.server_page import ServerPage

#: the text size the app started at (the system's), kept on the QApplication: Ctrl+0 goes back to it
START_FONT_PROPERTY = "hearthStartFontPt"
#: yes/no preferences kept in the settings file (AppSettings fields of these names)
LOAD_LAST_MODEL = "load_last_model"  # load the last used model when Hearth starts
STARTER_NOTE_CLOSED = "starter_note_closed"  # the starter model's note was closed for good
MIN_FONT_PT, MAX_FONT_PT = 8.0, 24.0
log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Builds the pages from the services it is given; it opens nothing itself (core/services.py).

    `start_downloads=False` (the self-test) keeps the download worker from ever starting."""

    #: emitted once, from the event loop, after the window's first paint (first-run work waits for it)
    first_painted = Signal()

    def __init__(self, services: AppServices, *, start_downloads: bool = True) -> None:
        super().__init__()
        self._start_downloads = start_downloads
        self._painted = False
        self._shut_down = False
        self._models: ModelsPage | None = None
        self._server: ServerPage | None = None
        self._documents: DocumentsPage | None = None
        self._batch: BatchPage | None = None
        self._placeholders: dict[int, QWidget] = {}
        self._session_prefs: dict[str, bool] = {}
        self.services = services
        self.paths = services.paths
        self.settings = services.settings
        settings_problem = services.settings_problem
        app = QApplication.instance()
        if isinstance(app, QApplication) and app.property(START_FONT_PROPERTY) is None:
            app.setProperty(START_FONT_PROPERTY, app.font().pointSizeF())  # before a remembered size
        if self.settings.font_size and isinstance(app, QApplication):
            apply_theme(app, self.settings.font_size)
        self._network_applied = False  # after the first paint: it imports huggingface_hub
        self.db = services.db
        self.library_store = services.library
        self.conversations = services.conversations
        recovered = services.recover_interrupted()  # cut-off replies are shown as such
        self.setAcceptDrops(True)
        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(QIcon(str(icon_path())))
        self.resize(1180, 760)
        self.setMinimumSize(820, 540)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.sidebar = Sidebar()
        self.pages = QStackedWidget()
        self.sidebar_scroll = SidebarScroll(self.sidebar)
        row.addWidget(self.sidebar_scroll)
        row.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.inference = InferenceController(self, engine=services.engine, state_cache=services.state_cache)
        self.presets = services.presets
        self.chat = ChatPage(self.inference, self.conversations, self.presets, session=services.chat_session)
        self.chat.documents_path = services.paths.data / "documents.sqlite3"
        self.providers = ProviderStore(self.paths)
        self.chat.providers = self.providers
        self._remote_fetch = 0  # the latest fetch of the providers' models; older answers are dropped
        self.chat.reload_requested.connect(self.reload_model)
        self.chat.sampling_changed.connect(self._remember_sampling)
        self.chat.find_chat_model = self._find_chat_model
        self.chat.load_requested.connect(self.load_model)
        self.chat.load_last_requested.connect(self.load_last_used)
        self.chat.auto_load_changed.connect(lambda on: self._save_pref(LOAD_LAST_MODEL, on))
        self.chat.empty.set_auto_load(self._pref(LOAD_LAST_MODEL))
        if self._pref(STARTER_NOTE_CLOSED):
            self.chat.closed_notes.add(STARTER_NOTE_KEY)
        self.chat.note_closed.connect(self._note_closed)
        self.starter_watch = StarterWatch(self.paths, self)
        self.starter_watch.progress.connect(lambda f: self.chat.show_starter(starter.DISPLAY_NAME, f))
        self.starter_watch.finished.connect(self._starter_finished)
        self._model: LibraryModel | Path | None = None
        self.chat_index = self.add_page("Chat", self.chat, "Ctrl+1")
        self.models_index = self._add_lazy_page("Models", "Ctrl+2")
        self.server_index = self._add_lazy_page("Server", "Ctrl+3")  # the local API; off until switched on
        self.documents_index = self._add_lazy_page("Documents", "Ctrl+4")
        self.batch_index = self._add_lazy_page("Batch", "Ctrl+5")
        self.sidebar.group.idClicked.connect(self.show_page)
        QShortcut(QKeySequence.StandardKey.Quit, self, self.close)
        self.chat.model_chosen.connect(self.load_model)
        self.chat.choose_model.connect(self.show_discover)
        self._refresh_model_picker()

        self.sidebar.smaller.clicked.connect(lambda: self.change_font_size(-1))
        self.sidebar.larger.clicked.connect(lambda: self.change_font_size(1))
        self.chat_list = ConversationPanel(self.conversations)
        self.sidebar.set_conversations(self.chat_list)
        self.chat_list.new_chat_requested.connect(self.new_chat)
        self.chat_list.conversation_selected.connect(self.open_conversation)
        self.chat_list.hit_selected.connect(self.open_conversation)
        self.chat_list.conversation_deleted.connect(self._conversation_deleted)
        self.chat_list.conversation_imported.connect(self.open_conversation)
        self.chat.conversation_changed.connect(self.chat_list.select)
        self.chat.conversations_changed.connect(self.chat_list.refresh)
        for keys, action in (
            ("Ctrl+N", self.new_chat),
            ("Ctrl+K", self.chat_list.focus_search),
            ("Ctrl+F", self.chat_list.focus_search),
            ("Ctrl+L", self.focus_composer),
            ("Ctrl+,", self.chat.toggle_settings),
            ("Ctrl+=", lambda: self.change_font_size(1)),
            ("Ctrl++", lambda: self.change_font_size(1)),
            ("Ctrl+-", lambda: self.change_font_size(-1)),
            ("Ctrl+0", lambda: self.change_font_size(0)),
        ):
            QShortcut(QKeySequence(keys), self, action)
        self.sidebar.offline.setChecked(self.settings.offline)
        self.sidebar.show_offline(self.settings.offline)
        self.sidebar.offline.toggled.connect(self.set_offline)

        self.status = StatusBar(self.inference)
        self.chat.remote_changed.connect(self.status.show_remote)
        self.setStatusBar(self.status)
        self.status_message = self.status.message
        self.saved_state_menu = saved_state_menu.attach(
            self.sidebar.saved_state, services.state_cache, self.status_message.setText
        )
        self.chat.status_changed.connect(self.status_message.setText)
        self.chat_list.status.connect(self.status_message.setText)
        self.chat.stats_changed.connect(self.status.show_stats)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._theme_changed)
        if recovered:
            self.status_message.setText(f"{recovered} reply(s) cut off by a crash were kept as they were.")
        if settings_problem is not None:
            self.status_message.setText(str(settings_problem))

    # -- pages built on first use -------------------------------------------------------------------

    @property
    def downloads(self) -> DownloadManager:
        """The download queue; its module (and the Hub client) is imported on first use."""
        return self.services.downloads

    @property
    def models(self) -> ModelsPage:
        """The Models page, built on first use (or right after the first paint)."""
        if self._models is None:
            from desktop_app.ui.models_page import ModelsPage

            services = self.services
            self._apply_network_setting()
            page = ModelsPage(self.library_store, self.downloads, services.read_token, services.write_token)
            self._models = page
            self._start_download_worker()  # its Downloads tab shows the queue the worker runs
            page.my_models.load_requested.connect(self.load_model)
            page.my_models.refreshed.connect(self._refresh_model_picker)
            page.my_models.status.connect(self.status_message.setText)
            page.my_models.settings_saved.connect(self._stored_settings_changed)
            self._install_page(self.models_index, page)
        return self._models

    @property
    def documents(self) -> DocumentsPage:
        """The Documents page, built after the first paint: its indexer re-reads the collections'
        changed files at start, and pauses while a reply is generated (the chat goes first)."""
        if self._documents is None:
            from desktop_app.ui.documents_page import DocumentsPage

            page = DocumentsPage(self.services)
            self._documents = page
            indexer = page.indexer
            self.inference.generation_started.connect(lambda _id: indexer.set_paused(True))
            self.inference.finished.connect(lambda _id, _stats: indexer.set_paused(False))
            self.inference.failed.connect(lambda _id, _error: indexer.set_paused(False))
            self._install_page(self.documents_index, page)
            if not self._shut_down:
                page.refresh_all()
        return self._documents

    @property
    def batch(self) -> BatchPage:
        """The Batch page, built when the user first opens it."""
        if self._batch is None:
            from desktop_app.ui.batch_page import BatchPage

            page = BatchPage(self.services, self.inference)
            self._batch = page
            self._install_page(self.batch_index, page)
        return self._batch

    @property
    def server(self) -> ServerPage:
        """The Server page (uvicorn, Starlette), built when the user first opens it."""
        if self._server is None:
            from desktop_app.ui.server_page import ServerPage

            page = ServerPage(self.inference, self.services.paths)
            self._server = page
            page.status_changed.connect(self.status_message.setText)
            self._install_page(self.server_index, page)
        return self._server

    def _add_lazy_page(self, title: str, shortcut: str) -> int:
        placeholder = QWidget()
        placeholder.setObjectName("Page")
        index = self.add_page(title, placeholder, shortcut)
        self._placeholders[index] = placeholder
        return index

    def _install_page(self, index: int, page: QWidget) -> None:
        """Swap the built page in for its placeholder, at the same index (the sidebar's ids)."""
        placeholder = self._placeholders.pop(index)
        was_current = self.pages.currentWidget() is placeholder
        self.pages.insertWidget(index, page)
        self.pages.removeWidget(placeholder)
        placeholder.deleteLater()
        if was_current:
            self.pages.setCurrentWidget(page)

    def _page_at(self, index: int) -> QWidget | None:
        """The page at `index`, built now if it was still a placeholder."""
        if index == self.models_index:
            return self.models
        if index == self.server_index:
            return self.server
        if index == self.documents_index:
            return self.documents
        if index == self.batch_index:
            return self.batch
        return self.pages.widget(index)

    def _apply_network_setting(self) -> None:
        """The offline switch, applied before anything that can reach the network exists (the download
        worker, the Models page). `network.apply_offline` imports huggingface_hub, so not sooner."""
        if not self._network_applied:
            self._network_applied = True
            network.apply_offline(self.settings.offline)

    def _start_download_worker(self) -> None:
        if self._start_downloads and not self._shut_down:
            self._apply_network_setting()
            self.downloads.start()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._after_first_paint)

    def _after_first_paint(self) -> None:
        """What the first paint did not wait for: the download worker (queued downloads resume), then
        the Models page, one event-loop turn later so input in between is handled; the last used
        model when the user asked for it at start; the first run's starter model, followed here."""
        gc_pause.resume()  # cli.py paused the collector for the launch
        if self._shut_down:
            return
        self.first_painted.emit()
        if self.starter_watch.start():  # app.py prepares it; the chat says it is on its way
            self.chat.show_starter(starter.DISPLAY_NAME, None)
            self._set_picker_note(f"Preparing {starter.DISPLAY_NAME}…")
        if self._pref(LOAD_LAST_MODEL) and self.inference.loaded_model is None:
            self.load_last_used()
        self._apply_network_setting()
        self._start_download_worker()
        QTimer.singleShot(0, self._build_models_when_idle)

    def _build_models_when_idle(self) -> None:
        if not self._shut_down:
            self.models  # noqa: B018 - built for its side effect: the first switch to Models is instant
            QTimer.singleShot(0, self._build_documents_when_idle)

    def _build_documents_when_idle(self) -> None:
        if not self._shut_down:
            self.documents  # noqa: B018 - built for its side effect: changed files are re-indexed
            QTimer.singleShot(0, self._build_drawers_when_idle)

    def _build_drawers_when_idle(self) -> None:
        if not self._shut_down:
            self.chat.build_drawers()  # hidden at start: the first paint did not wait for them

    def after_first_paint(self, action: Callable[[], None]) -> None:
        """Run `action` once the window has been painted (at once, queued, if it already has)."""
        if self._painted:
            QTimer.singleShot(0, action)
        else:
            self.first_painted.connect(action, Qt.ConnectionType.SingleShotConnection)

    def load_model(
        self, model: LibraryModel | Path | RemoteModel, settings_override: LoadSettings | None = None
    ) -> None:
        """Every load starts here (the top bar, My models, Open file…, a chat's "Load … to continue",
        the last used model at start): a library model's "Last used" is set here, which is what
        `hearth serve` and "Load the last used model at start" pick. A provider's model (a reopened
        remote chat) is chosen, not loaded."""
        self.show_page(self.chat_index)
        if isinstance(model, RemoteModel):
            self.chat.choose_remote(model)
            return
        self._model = model
        if isinstance(model, Path):
            known = self.library_store.find_by_path(model)
            if known is None:
                self.chat.model_key = str(model.resolve())
                self.chat.model_id = None
                self.chat.load(model, settings_override)
                return
            model = self._model = known
        self.chat.model_key = self.chat.model_id = model.id
        try:
            self.library_store.touch(model.id)
        except HearthError:
            log.warning("could not record %s as last used", model.id, exc_info=True)
        try:
            saved = ModelSettings.from_stored(model.settings)
        except HearthError as exc:  # a malformed saved setting: say so, use defaults
            show_error(self, exc)
            saved = ModelSettings(template_override=template_override_of(model.settings))
        self.chat.sampling = saved.sampling
        self.chat.load(model.path, settings_override or saved.load, saved.template_override)

    def reload_model(self, settings: object) -> None:
        """The settings drawer's "Reload": load the same model again with new load settings, and keep
        them for this model (in the library) when it is one of the user's models."""
        if not isinstance(settings, LoadSettings) or self._model is None:
            return
        if isinstance(self._model, LibraryModel):
            try:
                current = self.library_store.get(self._model.id)
                self.library_store.update_settings(current.id, stored_with(current.settings, load=settings))
                self._model = current
            except HearthError as exc:
                show_error(self, exc)
        self.load_model(self._model, settings)

    def _remember_sampling(self, sampling: object) -> None:
        if not isinstance(sampling, SamplingSettings) or not isinstance(self._model, LibraryModel):
            return
        try:
            current = self.library_store.get(self._model.id)
            self.library_store.update_settings(current.id, stored_with(current.settings, sampling=sampling))
        except HearthError:
            log.warning("could not remember the sampling settings", exc_info=True)

    def _stored_settings_changed(self, model_id: str) -> None:
        """Another editor (My models → Settings…) saved a model's settings: when it is the chat's
        model, the chat samples with them from the next turn and the drawer shows them (it offers
        Reload when the stored load settings differ from the loaded ones), without reloading."""
        if self.chat.model_id != model_id:
            return
        try:
            model = self.library_store.get(model_id)
            saved = ModelSettings.from_stored(model.settings)
        except HearthError as exc:
            show_error(self, exc)
            return
        self._model = model
        self.chat.sampling = saved.sampling
        if self.chat.settings_panel.model_key == model_id:  # the drawer shows this model (it is loaded)
            self.chat.settings_panel.show_stored(saved.sampling, saved.load)

    def _refresh_model_picker(self) -> None:
        try:
            models = self.library_store.list()
        except HearthError:
            log.warning("could not list the library for the model picker", exc_info=True)
            return
        self.chat.header.set_models(models)
        last = self.last_used_model(models)
        usable = [m for m in models if not m.missing and m.error is None]
        self.chat.set_library(bool(usable), _display_name(last) if last is not None else None)
        self.refresh_remote_models()

    def refresh_remote_models(self) -> None:
        """Offer the providers' models in the picker: listed on a pool thread (network I/O, up to 10 s a
        provider), none in offline mode. An answer that a newer fetch (or the offline switch) made stale
        is dropped."""
        self._remote_fetch += 1
        ticket = self._remote_fetch
        if self.settings.offline:
            self.chat.set_remote_models([])
            return
        store = self.providers

        def fetch() -> tuple[list[RemoteModel], list[str]]:
            if not store.providers():  # none: the HTTP client is not even imported
                return [], []
            from desktop_app.core.providers.catalog import all_remote_models

            return all_remote_models(store)

        run_in_background(
            fetch,
            parent=self,
            on_success=lambda result: self._remote_models_fetched(ticket, result),
            on_failure=lambda exc: self._remote_models_fetched(ticket, exc),
        )

    def _remote_models_fetched(self, ticket: int, result: object) -> None:
        if ticket != self._remote_fetch or self._shut_down:
            return
        if isinstance(result, BaseException):  # the providers file is unreadable: say what to fix
            models: list[RemoteModel] = []
            problems = [str(result)]
            log.warning("could not list the remote providers' models: %s", result)
        else:
            assert isinstance(result, tuple)
            models, problems = result
        self.chat.set_remote_models(models if not self.settings.offline else [])
        if problems:  # one line per provider that failed; the status bar shows plain text
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.status_message.setText(f"Remote models: {problems[0]}{more}")

    # -- a chat's model, the last used one, first-run preparation ------------------------------------

    def last_used_model(self, models: list[LibraryModel] | None = None) -> LibraryModel | None:
        """The library model loaded most recently (what `hearth serve` picks too), if any was."""
        try:
            models = self.library_store.list() if models is None else models
        except HearthError:
            return None
        used = [m for m in models if m.last_used_at and not m.missing and m.error is None]
        return max(used, key=lambda m: m.last_used_at or 0.0, default=None)

    def load_last_used(self) -> None:
        model = self.last_used_model()
        if model is not None:
            self.load_model(model)

    def _find_chat_model(self, conversation: Conversation) -> tuple[str, object | None] | None:
        """The model a chat last used, as the library knows it now: its name, and what to load
        (None when it is gone from the library and its file too). A chat held with a provider's
        model offers that model (nothing, offline or once the provider is removed)."""
        remote = remote_chat_model(conversation.settings, self.providers, offline=self.settings.offline)
        if remote is not None:
            return remote
        model: LibraryModel | None = None
        try:
            if conversation.model_id:
                model = self.library_store.get(conversation.model_id)
            elif conversation.model_path:
                model = self.library_store.find_by_path(Path(conversation.model_path))
        except HearthError:
            model = None
        name = conversation.model_name or (_display_name(model) if model is not None else None)
        if model is not None and not model.missing and model.error is None:
            return (name or _display_name(model), model)
        path = Path(conversation.model_path) if conversation.model_path else None
        if model is None and path is not None and path.is_file():  # a file opened outside the library
            return (name or path.name, path)
        return (name, None) if name else None

    def _starter_finished(self, ok: bool) -> None:
        self.chat.show_starter(None)
        self._set_picker_note(None)
        self._refresh_model_picker()
        if ok:
            self.status_message.setText(f"{starter.DISPLAY_NAME} is ready: choose it in the bar above.")
        else:
            self.status_message.setText("The starter model could not be prepared: the Models page says why.")

    def _set_picker_note(self, text: str | None) -> None:
        """The model picker's text while the library is empty (the header offers set_empty_text)."""
        set_note = getattr(self.chat.header, "set_empty_text", None)
        if callable(set_note):
            set_note(text)

    def _note_closed(self, key: str) -> None:
        if key == STARTER_NOTE_KEY:
            self._save_pref(STARTER_NOTE_CLOSED, True)

    # -- preferences kept in the settings file --------------------------------------------------------

    def _pref(self, name: str) -> bool:
        value = getattr(self.settings, name, self._session_prefs.get(name, False))
        return bool(value)

    def _save_pref(self, name: str, value: bool) -> None:
        """Keep a yes/no preference in the settings file. One AppSettings does not have yet is kept
        for this session only (core/settings.py declares which keys the file holds)."""
        if name in {f.name for f in fields(self.settings)}:
            self.settings = replace(self.settings, **{name: value})
            self.services.save_settings(self.settings)
        else:
            self._session_prefs[name] = value

    def new_chat(self) -> None:
        self.show_page(self.chat_index)
        self.chat.new_chat()

    def open_conversation(self, conversation_id: int, message_id: int | None = None) -> None:
        self.show_page(self.chat_index)
        if not self.chat.open_conversation(conversation_id, message_id):
            self.chat_list.refresh()

    def _conversation_deleted(self, conversation_id: int) -> None:
        self.services.state_cache.forget(str(conversation_id))  # its saved KV state goes with it
        if self.chat.conversation is not None and self.chat.conversation.id == conversation_id:
            self.chat.new_chat()

    def _theme_changed(self) -> None:
        """The OS switched light/dark: app.py re-applies the stylesheet; painted rows follow here."""
        self.chat.view.delegate.set_colors(current_colors())
        self.chat.view.doItemsLayout()

    def focus_composer(self) -> None:
        self.show_page(self.chat_index)
        self.chat.composer.input.setFocus()

    def change_font_size(self, step: int) -> None:
        """Ctrl+= / Ctrl+- / Ctrl+0: the whole UI and the chat text; remembered across restarts."""
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        start = start_font_size(app)
        current = self.settings.font_size or app.font().pointSizeF() or start
        size = start if step == 0 else min(MAX_FONT_PT, max(MIN_FONT_PT, current + step))
        # Ctrl+0 forgets the size: the app follows the system's text size again
        self.settings = replace(self.settings, font_size=None if step == 0 else size)
        self.services.save_settings(self.settings)
        apply_theme(app, size)
        self.sidebar_scroll.fit_width()
        self.chat.view.setFont(app.font())
        self.chat.view.delegate.clear_cache()
        self.chat.view.doItemsLayout()
        self.status_message.setText(f"Text size {size:g} pt")

    def set_offline(self, offline: bool) -> None:
        self._network_applied = True
        network.apply_offline(offline)
        self.settings = replace(self.settings, offline=offline)
        self.services.save_settings(self.settings)
        if self._models is not None:  # a Models page built later reads the setting itself
            self._models.discover.set_offline(offline)
        self.sidebar.show_offline(offline)
        self.status_message.setText(
            "Offline mode: Hearth makes no network requests." if offline else "Online"
        )
        self.refresh_remote_models()  # offline: none offered; online again: fetched afresh

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Models (.gguf) are imported into the library; chats (.json exports) into the chat list."""
        urls = event.mimeData().urls()
        if urls and all(u.toLocalFile().lower().endswith((".gguf", ".json")) for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls()]
        event.acceptProposedAction()
        for chat in [p for p in paths if p.suffix.lower() == ".json"]:
            try:
                self.chat_list.import_chat(chat)
            except HearthError as exc:
                show_error(self, exc)
        paths = [p for p in paths if p.suffix.lower() == ".gguf"]
        if not paths:
            return
        self.show_page(self.models_index)
        self.models.tabs.setCurrentWidget(self.models.my_models)
        self.models.my_models.import_paths(paths)

    def shutdown(self) -> None:
        """Stop generation, free the model on its thread, pause the download worker. Idempotent:
        runs from closeEvent and from QApplication.aboutToQuit, whichever comes first."""
        self._shut_down = True
        if self._server is not None:  # before the inference thread: cancels the API's requests first
            self._server.shutdown()
        if self._documents is not None:
            self._documents.shutdown()
        self.inference.shutdown()
        self.services.stop_downloads()  # the services stay open: a test may read them after closing

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def add_page(self, title: str, page: QWidget, shortcut: str = "") -> int:
        index = self.pages.addWidget(page)
        self.sidebar.add_nav(title, index, f"{title} ({shortcut})" if shortcut else title)
        if shortcut:
            QShortcut(QKeySequence(shortcut), self, lambda: self.show_page(index))
        return index

    def show_discover(self) -> None:
        """The Models page's Discover tab, where the models recommended for this computer are."""
        self.show_page(self.models_index)
        self.models.tabs.setCurrentWidget(self.models.discover)

    def show_page(self, index: int) -> None:
        page = self._page_at(index)
        if page is not None:
            self.pages.setCurrentWidget(page)
        nav = self.sidebar.group.button(index)
        if nav is not None:
            nav.setChecked(True)


def start_font_size(app: QApplication) -> float:
    """The text size the app started at, before any size the user chose (Ctrl+0 returns to it)."""
    value = app.property(START_FONT_PROPERTY)
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return app.font().pointSizeF() if app.font().pointSizeF() > 0 else 10.0


def _display_name(model: LibraryModel) -> str:
    return starter.DISPLAY_NAME if starter.is_starter(model.path) else model.display_name
