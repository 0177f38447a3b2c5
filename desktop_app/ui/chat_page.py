"""The chat page: top bar, the conversation, the composer, and the settings drawer.

The chat turn itself is core's (core/chat_session.py): it stores the user's message before generation
starts, reads the history to send from the store, fixes the seed, and hands back the reply's writer,
which the inference thread feeds (workers/inference.py), so a crash loses at most a second of a reply.
This page does the widget work: it shows the turn's messages and streams the text into the live row
(~40 ms batches; only that row is redrawn).

Documents (issue #15): the composer's "Documents" menu attaches collections or files to the chat (kept
in the conversation's settings). A turn of such a chat retrieves on the inference thread, for local and
remote models alike (core/chat_session.with_documents); the reply then shows its citations as chips,
which open the file at its page, and "Sources" opens the panel of the passages it was shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from PySide6.QtCore import QEvent, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QResizeEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QScrollArea, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.core import starter
from desktop_app.core.chat_session import ChatSession, ChatTurn, NewConversation, with_documents
from desktop_app.core.continued_reply import merge_continued
from desktop_app.core.conversations import Conversation, ConversationStore, MessageState
from desktop_app.core.documents.context import (
    REMOTE_CONTEXT_TOKENS,
    SETTINGS_KEY,
    Attachment,
    DocumentContext,
    TokenCounter,
    cited_sources,
)
from desktop_app.core.documents.passages import Passage
from desktop_app.core.engine import GenerationStats, LoadedModel
from desktop_app.core.errors import HearthError, LoadCancelledError
from desktop_app.core.generation import LoadSettings, SamplingSettings
from desktop_app.core.presets import PresetStore
from desktop_app.core.providers.records import LEAVES, RemoteModel
from desktop_app.core.providers.store import ProviderStore
from desktop_app.ui.chat_delegate import CITE, SOURCES
from desktop_app.ui.chat_header import ChatHeader
from desktop_app.ui.chat_model_gate import ChatModelRef, ModelGate
from desktop_app.ui.chat_notices import Banner, ContextNotice, EmptyState, ModelOffer, inset
from desktop_app.ui.chat_view import ChatView
from desktop_app.ui.composer import Composer
from desktop_app.ui.error_dialog import describe, show_error
from desktop_app.ui.plain_text import ask, escape
from desktop_app.ui.widgets import MARGIN, SPACING
from desktop_app.workers.inference import InferenceController
from desktop_app.workers.tasks import run_in_background

if TYPE_CHECKING:  # the HTTP side (httpx2) loads when a remote model first answers, not at start-up
    from desktop_app.core.documents.chat_source import IndexSource
    from desktop_app.core.documents.store import DocumentStore
    from desktop_app.core.engine import Message as EngineMessage
    from desktop_app.core.providers.remote_chat import RemoteChat
    from desktop_app.ui.settings_panel import SettingsPanel
    from desktop_app.ui.sources_panel import SourcesPanel

log = logging.getLogger(__name__)


STARTER_NOTE_KEY = "starter"
_Drawer = TypeVar("_Drawer", bound=QWidget)
DRAWER_MAX = 350  # the settings drawer's width when the window has room
DRAWER_MIN = 280
OVERLAY_GAP = 48  # of the chat left uncovered by a drawer lying over it
CHAT_MIN = 296  # what the conversation keeps beside the open drawer (the welcome card's 240 + margins)
#: where files attached one by one ("Files…") are indexed, so a chat can search them
ATTACHED_COLLECTION = "Attached files"


class ChatPage(ModelGate, QWidget):
    choose_model = Signal()  # the empty chat's "See recommended models": Discover
    load_requested = Signal(object)  # "Load <model> to continue": the chat's LibraryModel (or Path)
    load_last_requested = Signal()  # the empty chat's "Load <last used model>"
    auto_load_changed = Signal(bool)  # "Load the last used model when Hearth starts"
    note_closed = Signal(str)  # a closable note was closed (its key): the window remembers
    status_changed = Signal(str)
    stats_changed = Signal(object)  # GenerationStats of the last reply
    conversation_changed = Signal(object)  # the conversation on screen: id, or None for a new chat
    conversations_changed = Signal()  # titles or activity changed: the sidebar re-reads its list
    model_chosen = Signal(object)  # LibraryModel picked in the top bar
    reload_requested = Signal(object)  # LoadSettings from the settings drawer
    sampling_changed = Signal(object)  # SamplingSettings the user set: remembered for the model
    remote_changed = Signal(object)  # the RemoteModel that answers now, or None: the local model does

    def __init__(
        self,
        controller: InferenceController,
        store: ConversationStore,
        presets: PresetStore,
        parent: QWidget | None = None,
        *,
        session: ChatSession | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.controller = controller
        self.store = store
        self.session = session or ChatSession(store)  # the chat turn: begin, edit, regenerate, continue
        self.sampling = SamplingSettings()
        self.system_prompt = ""
        self.conversation: Conversation | None = None
        self._live: tuple[int, int] | None = None  # request id, message id
        self._earlier_stats: dict[str, object] | None = None  # a continued reply's, before this part
        self._editing: int | None = None  # the user message being edited (the next send branches)
        self.model_key: str | None = None  # library id, or the file path, of the model chosen
        self.model_id: str | None = None  # the library id of the model chosen (None: a file outside)
        self._loaded_id: str | None = None  # … of the model loaded
        self._loading = False
        self._remote: RemoteModel | None = None  # a provider's model chosen in the top bar: it answers
        self.providers: ProviderStore | None = None  # where providers are kept (None: the default home)
        self._remote_where: dict[str, str] | None = None  # what the chat records of it (no key)
        #: the model a stored chat used, and what to load for it; the window looks it up in the library
        self.find_chat_model: Callable[[Conversation], ChatModelRef | None] = _remembered_name
        self.closed_notes: set[str] = set()  # notes the user closed for good (the window fills it)
        self.attachment = Attachment()  # the documents the chat answers from (none: a plain chat)
        self.documents_path: Path | None = None  # the documents index (None: the default data folder)
        self._documents: IndexSource | None = None  # opened on first use
        self._indexing = False  # files chosen with "Files…" are being indexed

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.header = ChatHeader()
        self.header.model_chosen.connect(self.model_chosen)
        self.header.remote_chosen.connect(self.choose_remote)
        self.header.open_file.connect(self._open_file)
        self.header.unload.connect(self.controller.unload)
        self.header.cancel_load.connect(self.controller.cancel_load)
        outer.addWidget(self.header)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        outer.addLayout(row, 1)
        center = QVBoxLayout()
        center.setContentsMargins(0, SPACING, 0, MARGIN)
        center.setSpacing(SPACING)
        row.addLayout(center, 1)
        self._center = center
        self.drawer_host = QVBoxLayout()
        self.drawer_host.setContentsMargins(0, 0, 0, 0)
        row.addLayout(self.drawer_host)
        self._presets = presets
        self._settings_panel: SettingsPanel | None = None  # both drawers: built on first use (below)
        self._sources_panel: SourcesPanel | None = None
        self.drawer_overlaps = False  # the open drawer lies over the chat's edge (see _place_drawers)
        self.header.toggle_settings.connect(self.toggle_settings)
        self._prompt_timer = QTimer(self)
        self._prompt_timer.setSingleShot(True)
        self._prompt_timer.setInterval(600)
        self._prompt_timer.timeout.connect(self._save_prompt)

        self.banner = Banner()
        self.banner_text = self.banner.text
        self.banner.closed.connect(self._note_closed)
        center.addWidget(inset(self.banner))

        self.stack = QStackedWidget()
        self.empty = EmptyState()
        self.empty.choose_model.connect(self.choose_model)
        self.empty.load_last.connect(self.load_last_requested)
        self.empty.load_last_at_start.connect(self.auto_load_changed)
        self.view = ChatView()
        self.view.action_triggered.connect(self._on_action)
        self.view.notice.connect(self.status_changed)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.view)
        center.addWidget(self.stack, 1)

        self.model_offer = ModelOffer()  # a reopened chat's model, when another (or none) is loaded
        self.model_offer.load.connect(self._load_chat_model)
        center.addWidget(inset(self.model_offer, max_width=900))
        self.context_notice = ContextNotice()  # the context is nearly full
        center.addWidget(inset(self.context_notice, max_width=900))
        self.composer = Composer()
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.composer.cancel_edit_requested.connect(self.cancel_edit)
        self.composer.attach.list_collections = self._collection_names
        self.composer.attach.collection_toggled.connect(self._toggle_collection)
        self.composer.attach.files_requested.connect(self._choose_files)
        self.composer.attach.detach_all.connect(lambda: self.set_attachment(Attachment()))
        center.addWidget(inset(self.composer, max_width=900))

        controller.load_started.connect(self._on_load_started)
        controller.load_progress.connect(self.header.show_progress)
        controller.loaded.connect(self._on_loaded)
        controller.load_failed.connect(self._on_load_failed)
        controller.unloaded.connect(self._on_unloaded)
        controller.sources.connect(self._on_sources)
        controller.text.connect(self._on_text)
        controller.live_speed.connect(self._on_live_speed)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)

    # -- model loading -----------------------------------------------------------------------------

    @property
    def remote(self) -> RemoteModel | None:
        return self._remote

    @remote.setter
    def remote(self, value: RemoteModel | None) -> None:
        if value != self._remote:
            self._remote = value
            self.remote_changed.emit(value)

    def load(
        self, path: Path, settings: LoadSettings | None = None, template_override: str | None = None
    ) -> None:
        self.stop()
        self.banner.hide()
        self.remote = None  # a local model answers from now on
        self._loading = True
        self.header.show_loading(path.name)  # at once: the worker may still be busy with a reply
        self._refresh_readiness()
        self.controller.load(path, settings, template_override)

    @Slot(str)
    def _on_load_started(self, path: str) -> None:
        self.header.show_loading(Path(path).name)

    @Slot(object)
    def _on_loaded(self, model: object) -> None:
        assert isinstance(model, LoadedModel)
        summary = model.summary
        is_starter = starter.is_starter(summary.path)
        self._loading = False
        self.remote = None
        self._loaded_id = self.model_id
        self.header.show_loaded(model)
        self.settings_panel.set_model(
            self.model_key or str(summary.path),
            trained_context=summary.context_length or 0,
            loaded=model.settings,
            sampling=self.sampling,
            system_prompt=self.system_prompt,
            metadata=summary.metadata,
        )
        self.view.delegate.default_model_name = self._model_name()
        self._refresh_readiness()
        self.composer.input.setFocus()
        self.empty.show_loaded(self._model_name(), model.load_s, is_starter=is_starter)
        starter_note = is_starter and STARTER_NOTE_KEY not in self.closed_notes
        notes = [starter.NOTE] if starter_note else []
        if model.template_warning:  # the file's template was refused: say which format is used instead
            notes.append(model.template_warning)
        if notes:  # plain text: the warning quotes the model file; only the starter's note can close
            key = STARTER_NOTE_KEY if starter_note and not model.template_warning else None
            self.banner.show_text("\n\n".join(notes), key=key)
        else:
            self.banner.hide()
        self.status_changed.emit(f"Loaded {self._model_name()} in {model.load_s:.1f} s")  # one name

    @Slot(object)
    def _on_load_failed(self, exc: object) -> None:
        self._show_unloaded()
        self._loading = False
        assert isinstance(exc, BaseException)
        self._refresh_readiness()
        if isinstance(exc, LoadCancelledError):  # the user's choice: no error banner
            self.banner.hide()
            self.status_changed.emit(exc.message)
            return
        title, message, hint = describe(exc)
        # The message often quotes the file's path or the model's name: each piece is escaped.
        self.banner.show_text(f"<b>{escape(title)}.</b> {escape(message)} {escape(hint)}", rich=True)
        self.status_changed.emit(title)

    @Slot()
    def _on_unloaded(self) -> None:
        self._show_unloaded()
        self.banner.hide()
        self._loading = False
        self._refresh_readiness()
        self.empty.show_unloaded()
        self.status_changed.emit("Model unloaded")

    def _show_unloaded(self) -> None:
        """No local model: the header says so, unless a remote model is the chat's (it still answers)."""
        self.header.show_unloaded()
        if self.remote is not None:
            self.header.show_remote(self.remote)

    # -- a provider's model --------------------------------------------------------------------------

    @Slot(object)
    def choose_remote(self, remote: object) -> None:
        """A provider's model answers from now on (the local model, if any, stays loaded but idle)."""
        assert isinstance(remote, RemoteModel)
        self.stop()
        if self._loading:  # the remote model was chosen instead: the load is not waited for
            self.controller.cancel_load()
            self._loading = False
        self.remote = remote
        self.header.show_remote(remote)
        self.banner.hide()
        self.view.delegate.default_model_name = self._model_name()
        self._refresh_readiness()
        self.composer.input.setFocus()
        self.status_changed.emit(f"Chatting with {remote.label}: {LEAVES}")

    def set_remote_models(self, models: list[RemoteModel]) -> None:
        """The providers' models the picker offers. A chosen one that is no longer offered (offline
        mode, the provider removed) stops being the chat's model."""
        self.header.set_remote_models(models)
        if self.remote is not None and self.remote not in models:
            self.remote = None
            self._show_unloaded()
            if self.controller.loaded_model is not None:  # the local model answers again
                self.header.show_loaded(self.controller.loaded_model)
            self.view.delegate.default_model_name = self._model_name()
            self._refresh_readiness()

    def _backend(self) -> RemoteChat | None:
        """What answers the next turn: the remote model's client (the provider read afresh: its key or
        URL may have changed), or None for the local model. A HearthError when the provider is gone."""
        self._remote_where = None
        if self.remote is None:
            return None
        from desktop_app.commands.chat import remote_record
        from desktop_app.core.providers.catalog import remote_chat_for

        chat = remote_chat_for(self.remote, self.providers)
        self._remote_where = remote_record(chat)
        return chat

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", "", "GGUF models (*.gguf)")
        if path:
            self.load(Path(path))

    def _model_name(self) -> str:
        if self.remote is not None:
            return self.remote.label  # "MODEL on PROVIDER", as `hearth chat --remote` names it
        model = self.controller.loaded_model
        if model is None:
            return "Assistant"
        return starter.DISPLAY_NAME if starter.is_starter(model.summary.path) else model.summary.name

    # -- conversations -----------------------------------------------------------------------------

    def new_chat(self) -> None:
        self._save_prompt()
        self.stop()
        self._live = None
        self.cancel_edit()
        self.conversation = None
        self.set_attachment(Attachment())  # a new chat starts without documents
        self.sources_panel.hide()
        self.view.chat_model.set_messages([], {})
        self.stack.setCurrentWidget(self.empty)
        self.context_notice.show_stats(None)
        self._refresh_readiness()
        self.composer.input.setFocus()
        self.conversation_changed.emit(None)

    def open_conversation(self, conversation_id: int, message_id: int | None = None) -> bool:
        """Show a stored chat; with `message_id` (a search hit), switch to the branch that holds it
        and scroll to it. False if it no longer exists."""
        if self._live is not None:
            self.stop()
        self.cancel_edit()
        try:
            conversation = self.store.get_conversation(conversation_id)
            if message_id is not None:
                path = self.store.path(conversation_id)
                if all(m.id != message_id for m in path):
                    self.store.select_branch(message_id)
        except HearthError as exc:
            show_error(self, exc)
            return False
        self._save_prompt()  # a pending edit belongs to the chat being left
        self.conversation = conversation
        self.system_prompt = conversation.system_prompt
        self.settings_panel.set_system_prompt(conversation.system_prompt)
        self.attachment = Attachment.from_settings(conversation.settings)
        self.composer.set_attachment(self.attachment)
        self.sources_panel.hide()
        self._reload_messages()
        self.conversation_changed.emit(conversation_id)
        if message_id is not None:
            self.view.doItemsLayout()
            self.view.show_message(message_id)
        return True

    def _reload_messages(self) -> None:
        if self.conversation is None:
            return
        messages = self.store.path(self.conversation.id)
        positions = self.store.sibling_positions(self.conversation.id)
        sources = self.store.sources_of(self.conversation.id)
        self.view.chat_model.set_messages(messages, positions, sources)
        self.stack.setCurrentWidget(self.view if messages else self.empty)
        last = next((m for m in reversed(messages) if m.role == "assistant" and m.stats), None)
        self._show_context(last.stats if last is not None else None)
        self._refresh_readiness()

    def _target(self, backend: RemoteChat | None = None) -> int | NewConversation:
        """The conversation on screen, or what a new one records when this turn creates it (with a
        remote model: its name and where it ran, as `hearth chat --remote --save` records them)."""
        if self.conversation is not None:
            return self.conversation.id
        documents = {SETTINGS_KEY: self.attachment.to_dict()} if self.attachment else {}
        if backend is not None and self._remote_where is not None:
            return NewConversation(
                model_name=backend.label,
                system_prompt=self.system_prompt,
                settings={"remote": self._remote_where, **documents},
            )
        model = self.controller.loaded_model
        return NewConversation(
            model_name=self._model_name() if model else None,
            model_path=str(model.summary.path) if model else None,
            model_id=self._loaded_id if model else None,
            system_prompt=self.system_prompt,
            settings=documents or None,
        )

    def _adopt(self, conversation: Conversation) -> None:
        """The turn's conversation is the one on screen (it may have just been created)."""
        created = self.conversation is None or self.conversation.id != conversation.id
        self.conversation = conversation
        self._record_model()
        if created:
            self.conversation_changed.emit(conversation.id)

    @Slot(str)
    def _on_prompt_edited(self, text: str) -> None:
        self.system_prompt = text
        self._prompt_timer.start()  # saved when typing pauses, not per keystroke

    @Slot()
    def _save_prompt(self) -> None:
        self._prompt_timer.stop()
        self.set_system_prompt(self.system_prompt)

    @Slot(object)
    def _on_sampling_changed(self, sampling: object) -> None:
        if isinstance(sampling, SamplingSettings):
            self.sampling = sampling
            self.sampling_changed.emit(sampling)

    def set_system_prompt(self, text: str) -> None:
        self.system_prompt = text
        if self.conversation is not None and self.conversation.system_prompt != text:
            try:
                self.conversation = self.store.update_conversation(self.conversation.id, system_prompt=text)
            except HearthError as exc:
                show_error(self, exc)

    # -- chatting ----------------------------------------------------------------------------------

    @Slot(str)
    def send(self, text: str) -> None:
        if self._live is not None or (self.controller.loaded_model is None and self.remote is None):
            return
        editing, self._editing = self._editing, None
        self.composer.set_editing(False)
        self._save_prompt()  # a system prompt still being typed is part of this turn
        try:
            backend = self._backend()  # first: a provider removed meanwhile is refused, nothing saved
            if editing is not None:  # a branch: the edited message becomes a sibling of the old one
                turn = self.session.edit(editing, text, self.sampling, model=self._model_name())
            else:
                turn = self.session.begin(
                    self._target(backend), text, self.sampling, model=self._model_name()
                )
        except HearthError as exc:  # not saved, or saved without a reply: show what is stored
            self._reload_messages()
            items = self.view.chat_model.items()
            if not (items and items[-1].role == "user" and items[-1].content == text):
                self.composer.input.setPlainText(text)  # the message was not saved: keep its text
            show_error(self, exc)
            return
        self._adopt(turn.conversation)
        model = self.view.chat_model
        if editing is not None:
            row = model.row_of(editing)
            model.truncate(row if row is not None else model.rowCount())
        assert turn.prompt is not None
        self.stack.setCurrentWidget(self.view)
        model.append(turn.prompt, position=self._position(turn.prompt.id))
        self._start(turn, backend)
        self.conversations_changed.emit()

    def regenerate(self, message_id: int) -> None:
        """A new alternative for an assistant reply, next to the old one (< 2/2 >)."""
        row = self.view.chat_model.row_of(message_id)
        if self._live is not None or row is None or not self._can_generate():
            return
        try:
            backend = self._backend()
            turn = self.session.regenerate(message_id, self.sampling, model=self._model_name())
        except HearthError as exc:
            show_error(self, exc)
            return
        self.view.chat_model.truncate(row)
        self._adopt(turn.conversation)
        self._start(turn, backend)

    def reply(self, message_id: int) -> None:
        """A reply to the user's message that ends the chat (an imported chat, a reply deleted)."""
        if self._live is not None or not self._can_generate():
            return
        try:
            backend = self._backend()
            turn = self.session.reply(message_id, self.sampling, model=self._model_name())
        except ValueError:  # the chat moved on: the message no longer ends it
            self.status_changed.emit("Only the last message of the chat can be answered.")
            return
        except HearthError as exc:
            show_error(self, exc)
            return
        self._adopt(turn.conversation)
        self._start(turn, backend)
        self.conversations_changed.emit()

    def continue_reply(self, message_id: int) -> None:
        """Extend the last reply of the branch shown; any other is refused with a status message."""
        if self._live is not None or not self._can_generate():
            return
        try:
            backend = self._backend()
            turn = self.session.continue_reply(message_id, self.sampling)
        except ValueError:  # not the end of the branch shown
            self.status_changed.emit("Only the last reply can be continued.")
            return
        except HearthError as exc:
            show_error(self, exc)
            return
        self._adopt(turn.conversation)
        self._start(turn, backend)

    def _start(self, turn: ChatTurn, backend: RemoteChat | None = None) -> None:
        """Show the turn's reply as the live row and queue it; the inference thread saves it."""
        if turn.continue_last:
            self.view.chat_model.restart_live(turn.reply)
        else:
            self.view.chat_model.append(turn.reply, position=self._position(turn.reply.id), live=True)
        # its output is queued to us: none is missed; `backend` None: the local model answers
        request_id = self.controller.generate_turn(turn, backend, self._prepare(turn, backend))
        self._live = (request_id, turn.reply.id)
        self._earlier_stats = dict(turn.reply.stats or {}) if turn.continue_last else None
        self.model_offer.hide()  # the chat goes on with the model loaded
        self.composer.set_generating(True)
        self.view.scroll_to_end()

    def _position(self, message_id: int) -> tuple[int, int]:
        assert self.conversation is not None
        positions = self.store.sibling_positions(self.conversation.id)
        return positions.get(message_id, (1, 1))

    @Slot()
    def stop(self) -> None:
        if self._live is not None:
            self.controller.cancel()

    @Slot(int, object)
    def _on_sources(self, request_id: int, context: object) -> None:
        """What the live reply is shown from the documents (before its first word): its chips."""
        if self._live is None or request_id != self._live[0] or not isinstance(context, DocumentContext):
            return
        self.view.chat_model.set_sources(self._live[1], list(context.sources))
        if context.note:
            self.status_changed.emit(context.note)
        if self.sources_panel.isVisible():
            self.show_sources(self._live[1])

    @Slot(int, str, str)
    def _on_text(self, request_id: int, kind: str, text: str) -> None:
        if self._live is not None and request_id == self._live[0]:
            self.view.chat_model.append_text(self._live[1], kind, text)

    @Slot(int, float)
    def _on_live_speed(self, request_id: int, tps: float) -> None:
        if self._live is not None and request_id == self._live[0]:
            self.view.chat_model.set_live_speed(self._live[1], tps)  # shown with the next batch

    @Slot(int, object)
    def _on_finished(self, request_id: int, stats: object) -> None:
        if self._live is None or request_id != self._live[0]:
            return
        assert isinstance(stats, GenerationStats)
        state: MessageState = "cancelled" if stats.stop_reason == "cancelled" else "complete"
        # a continued reply counts its whole text, as the inference thread saved it (continued_reply)
        merged = merge_continued(self._earlier_stats, stats.to_dict())
        self._end_live(state=state, stats=merged)
        self._show_context(merged)
        self.stats_changed.emit(stats)
        self.status_changed.emit("Reply stopped" if state == "cancelled" else "Reply saved")

    @Slot(int, object)
    def _on_failed(self, request_id: int, exc: object) -> None:
        if self._live is None or request_id != self._live[0]:
            return
        assert isinstance(exc, BaseException)
        _, message, hint = describe(exc)
        self._end_live(state="failed", error=f"{message} {hint}".strip())
        self.status_changed.emit(message)

    def _end_live(
        self, *, state: MessageState, stats: dict[str, object] | None = None, error: str | None = None
    ) -> None:
        """Show the finished reply from what streamed: the inference thread has saved the same, and the
        GUI thread does not read it back from the disk."""
        assert self._live is not None
        _, message_id = self._live
        self._live = None
        item = self.view.chat_model.item_by_id(message_id)
        if item is not None:
            shown = replace(item.message, content=item.content, reasoning=item.reasoning, state=state)
            self.view.chat_model.finish(replace(shown, stats=stats, error=error))
        self.composer.set_generating(False)
        self.composer.input.setFocus()
        self.conversations_changed.emit()

    @property
    def generating(self) -> bool:
        return self._live is not None

    def _say(self, text: str) -> None:
        self.status_changed.emit(text)

    def _request_load(self, target: object) -> None:
        self.load_requested.emit(target)

    @Slot(str)
    def _note_closed(self, key: str) -> None:
        self.closed_notes.add(key)
        self.note_closed.emit(key)

    # -- what the window tells the empty chat -------------------------------------------------------

    def set_library(self, has_models: bool, last_used: str | None) -> None:
        self.empty.set_library(has_models, last_used)

    def show_starter(self, name: str | None, fraction: float | None = None) -> None:
        """The starter model is being prepared (`name`; None: no longer), `fraction` of it done."""
        self.empty.show_preparing(name, fraction)

    # -- per-message actions -----------------------------------------------------------------------

    @Slot(str, int)
    def _on_action(self, action: str, message_id: int) -> None:
        if action == "edit":
            self.edit(message_id)
        elif action == "reply":
            self.reply(message_id)
        elif action == "regenerate":
            self.regenerate(message_id)
        elif action == "continue":
            self.continue_reply(message_id)
        elif action == "delete":
            self.delete_message(message_id, confirm=True)
        elif action in ("prev", "next"):
            self.step_alternative(message_id, -1 if action == "prev" else 1)
        elif action == SOURCES:
            self.show_sources(message_id)
        elif action.startswith(CITE) and action[len(CITE) :].isdigit():
            self.open_source(message_id, int(action[len(CITE) :]))

    def edit(self, message_id: int) -> None:
        item = self.view.chat_model.item_by_id(message_id)
        if item is None or self._live is not None:
            return
        self._editing = message_id
        self.composer.set_editing(True)
        self.composer.input.setPlainText(item.content)
        self.composer.input.setFocus()

    @Slot()
    def cancel_edit(self) -> None:
        if self._editing is not None:
            self._editing = None
            self.composer.input.clear()
        self.composer.set_editing(False)

    def delete_message(self, message_id: int, *, confirm: bool = False) -> None:
        if self._live is not None:
            self.status_changed.emit("Stop the reply before deleting messages.")
            return
        model = self.view.chat_model
        row = model.row_of(message_id)
        if row is None or self.conversation is None:
            return
        below = model.rowCount() - row - 1
        if confirm:
            text = "Delete this message" + (f" and the {below} below it?" if below else "?")
            if not ask(self, "Delete message", text):
                return
        try:
            self.store.delete_message(message_id)
        except HearthError as exc:
            show_error(self, exc)
            return
        self._reload_messages()
        self.conversations_changed.emit()

    def step_alternative(self, message_id: int, step: int) -> None:
        """Show the previous or next version of a message (< 1/2 >) and the branch below it."""
        if self._live is not None or self.conversation is None:
            return
        try:
            siblings = self.store.siblings(message_id)
            ids = [m.id for m in siblings]
            target = ids[(ids.index(message_id) + step) % len(ids)]
            self.store.select_branch(target)
        except (HearthError, ValueError) as exc:
            log.warning("could not switch to another version of %d: %s", message_id, exc)
            return
        self._reload_messages()

    # -- the settings drawer ------------------------------------------------------------------------

    @property
    def settings_panel(self) -> SettingsPanel:
        """The settings drawer, built on first use: it is hidden at start, and building it (~50 ms of
        widgets) would delay the window's first paint (issue #12). The window builds it right after."""
        if self._settings_panel is None:
            from desktop_app.ui.settings_panel import SettingsPanel

            panel = SettingsPanel(self._presets)
            panel.setObjectName("SettingsDrawer")
            panel.hide()
            panel.set_remote(self._remote)
            self.remote_changed.connect(panel.set_remote)
            panel.sampling_changed.connect(self._on_sampling_changed)
            panel.system_prompt_changed.connect(self._on_prompt_edited)
            panel.reload_requested.connect(self.reload_requested)
            self._settings_panel = self._add_drawer(panel)
        return self._settings_panel

    @property
    def sources_panel(self) -> SourcesPanel:
        """The Sources drawer, built on first use like the settings drawer."""
        if self._sources_panel is None:
            from desktop_app.ui.sources_panel import SourcesPanel

            panel = SourcesPanel()
            panel.hide()
            panel.closed.connect(panel.hide)
            panel.open_source.connect(self._open_panel_source)
            self._sources_panel = self._add_drawer(panel)
        return self._sources_panel

    def build_drawers(self) -> None:
        """Build both drawers now (after the first paint), so that opening one is instant."""
        self.settings_panel  # noqa: B018 - built for its side effect
        self.sources_panel  # noqa: B018

    def _add_drawer(self, panel: _Drawer) -> _Drawer:
        panel.setFixedWidth(self._drawer_width(self.width()))
        self.drawer_host.addWidget(panel)
        return panel

    @staticmethod
    def _drawer_width(page_width: int) -> int:
        return max(DRAWER_MIN, min(DRAWER_MAX, page_width - CHAT_MIN))

    def resizeEvent(self, event: QResizeEvent) -> None:
        """At the minimum window size the open drawer and the chat must both fit: the drawer gives way
        first, down to DRAWER_MIN."""
        super().resizeEvent(event)
        self._place_drawers()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # a text size changes the chat's minimum width
            QTimer.singleShot(0, self._place_drawers)

    def _place_drawers(self) -> None:
        """The open drawer sits beside the chat when both fit, and over the chat's right edge when the
        chat would be squeezed below its minimum (a large text size in a small window): the composer
        and the welcome card keep their width, and closing the drawer gives the chat back."""
        width = self._drawer_width(self.width())
        drawers = [d for d in (self._settings_panel, self._sources_panel) if d is not None]
        shown = next((d for d in drawers if not d.isHidden()), None)
        over = shown is not None and self.width() - width < self._center.minimumSize().width()
        for drawer in drawers:
            beside = self.drawer_host.indexOf(drawer) >= 0
            if over and beside:
                self.drawer_host.removeWidget(drawer)
            elif not over and not beside:
                self.drawer_host.addWidget(drawer)
            if drawer.width() != width and not (over and drawer is shown):
                drawer.setFixedWidth(width)
            drawer.setAutoFillBackground(over)  # over the chat it must hide what lies beneath
        if over and shown is not None:
            # Lying over the chat anyway, it may take the width its rows need (no sideways scrolling).
            wide = min(max(width, _needed_width(shown)), self.width() - OVERLAY_GAP)
            shown.setFixedWidth(wide)
            top = self.header.geometry().bottom() + 1
            shown.setGeometry(self.width() - wide, top, wide, self.height() - top)
            shown.raise_()
        self.drawer_overlaps = over

    def toggle_settings(self) -> None:
        visible = self.settings_panel.isHidden()
        if visible:
            self.sources_panel.hide()  # one drawer at a time
        self.settings_panel.setVisible(visible)
        self.header.settings_button.setChecked(visible)
        self._place_drawers()

    # -- documents ------------------------------------------------------------------------------------

    def _document_source(self) -> IndexSource:
        """The documents index, opened on first use (a HearthError when it cannot be)."""
        if self._documents is None:
            from desktop_app.core.documents.chat_source import IndexSource
            from desktop_app.core.documents.store import DB_NAME, DocumentStore
            from desktop_app.core.paths import app_paths

            path = self.documents_path or app_paths().ensure().data / DB_NAME
            self._documents = IndexSource(DocumentStore(path))
        return self._documents

    @property
    def document_store(self) -> DocumentStore:
        return self._document_source().store

    def _collection_names(self) -> list[str]:
        """For the Documents menu (a short read of the index, when the menu opens)."""
        try:
            return [c.name for c in self.document_store.collections() if c.name != ATTACHED_COLLECTION]
        except HearthError as exc:
            self.status_changed.emit(exc.message)
            return []

    def set_attachment(self, attachment: Attachment) -> None:
        """The documents this chat answers from; a stored chat records them (its next turns, and
        `hearth chat --resume`, use them too)."""
        self.attachment = attachment
        self.composer.set_attachment(attachment)
        if self.conversation is not None:
            try:
                self.conversation = self.store.set_documents(
                    self.conversation.id, attachment.to_dict() if attachment else None
                )
            except HearthError as exc:
                show_error(self, exc)

    @Slot(str, bool)
    def _toggle_collection(self, name: str, on: bool) -> None:
        names = [n for n in self.attachment.collections if n != name] + ([name] if on else [])
        self.set_attachment(Attachment(tuple(names), self.attachment.files))
        self.status_changed.emit(f"Answers use {name}" if on else f"{name} detached")

    @Slot()
    def _choose_files(self) -> None:
        from desktop_app.core.documents.extract import SUPPORTED_SUFFIXES

        patterns = " ".join(f"*{suffix}" for suffix in sorted(SUPPORTED_SUFFIXES))
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach documents", "", f"Documents ({patterns})")
        if paths:
            self.attach_files([Path(p) for p in paths])

    def attach_files(self, paths: list[Path]) -> None:
        """Index the files (in the background, into ATTACHED_COLLECTION), then attach those that
        could be indexed; the others are named with their reason."""
        if self._indexing:
            self.status_changed.emit("Still indexing the files chosen before; try again in a moment.")
            return
        try:
            store = self.document_store
        except HearthError as exc:
            show_error(self, exc)
            return
        from desktop_app.core.documents.indexer import Hooks, add_paths
        from desktop_app.core.documents.store import normalise_path

        self._indexing = True
        self.status_changed.emit(f"Indexing {len(paths)} file{'s' if len(paths) != 1 else ''}…")

        worker = self.controller.worker

        def pause() -> None:  # on the pool thread: the chat's reply has the CPU first
            while worker.chat_busy():
                time.sleep(0.1)

        def index() -> tuple[list[str], list[tuple[str, str]]]:
            report = add_paths(store, paths, collection=ATTACHED_COLLECTION, hooks=Hooks(pause=pause))
            failed = {normalise_path(f) for f, _ in report.failed}
            return [normalise_path(p) for p in paths if normalise_path(p) not in failed], report.failed

        run_in_background(index, parent=self, on_success=self._files_indexed, on_failure=self._index_failed)

    def _files_indexed(self, result: object) -> None:
        self._indexing = False
        ready, failed = cast("tuple[list[str], list[tuple[str, str]]]", result)
        if ready:
            files = tuple(dict.fromkeys([*self.attachment.files, *ready]))
            self.set_attachment(Attachment(self.attachment.collections, files))
        if failed:
            first_file, reason = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            self.status_changed.emit(f"{Path(first_file).name}: {reason}{more}")
        else:
            self.status_changed.emit(f"Attached {len(ready)} file{'s' if len(ready) != 1 else ''}")

    def _index_failed(self, exc: BaseException) -> None:
        self._indexing = False
        show_error(self, exc)

    def _prepare(
        self, turn: ChatTurn, backend: RemoteChat | None
    ) -> Callable[[TokenCounter | None], tuple[list[EngineMessage], DocumentContext]] | None:
        """A chat with documents retrieves on the inference thread, for a remote model too (only the
        passages chosen leave the computer); None for a chat without documents."""
        attached = bool(Attachment.from_settings(turn.conversation.settings))
        continued = turn.continue_last and bool(turn.reply.id in self.store.sources_of(turn.conversation.id))
        if not (attached or continued):
            return None
        try:
            source = self._document_source()
        except HearthError as exc:
            self.status_changed.emit(exc.message)
            return None
        model = self.controller.loaded_model
        n_ctx = REMOTE_CONTEXT_TOKENS if backend is not None or model is None else model.n_ctx
        store = self.store

        def prepare(count: TokenCounter | None) -> tuple[list[EngineMessage], DocumentContext]:
            return with_documents(store, turn, source, n_ctx=n_ctx, count_tokens=count)

        return prepare

    def show_sources(self, message_id: int) -> None:
        """The Sources panel for the reply `message_id` (the settings drawer gives way)."""
        item = self.view.chat_model.item_by_id(message_id)
        if item is None:
            return
        cited = [] if item.live else cited_sources(item.content, item.sources)
        self.sources_panel.show_sources(message_id, item.sources, cited)
        self.settings_panel.hide()
        self.header.settings_button.setChecked(False)
        self.sources_panel.show()
        self._place_drawers()

    @Slot(int)
    def _open_panel_source(self, n: int) -> None:
        if self.sources_panel.message_id is not None:
            self.open_source(self.sources_panel.message_id, n)

    def open_source(self, message_id: int, n: int) -> None:
        """Open source `n` of the reply in the system's viewer, at its page (PDF viewers read
        `#page=N`); a file that has moved is said so instead."""
        item = self.view.chat_model.item_by_id(message_id)
        if item is None or not 1 <= n <= len(item.sources):
            return
        passage: Passage = item.sources[n - 1]
        path = Path(passage.file)
        if not path.is_file():
            self.status_changed.emit(
                f"{path.name} is no longer at {path.parent}; the Sources panel shows the text."
            )
            self.show_sources(message_id)
            return
        url = QUrl.fromLocalFile(str(path))
        if passage.page is not None and path.suffix.lower() == ".pdf":
            url.setFragment(f"page={passage.page}")
        if not QDesktopServices.openUrl(url):
            self.status_changed.emit(f"No application could open {path.name}.")


def _remembered_name(conversation: Conversation) -> ChatModelRef | None:
    """Without a library to look in: the name the chat stored, and nothing to load."""
    return (conversation.model_name, None) if conversation.model_name else None


def _needed_width(drawer: QWidget) -> int:
    """The width at which a drawer's scrolled content needs no sideways scrolling."""
    area = drawer.findChild(QScrollArea)
    content = area.widget() if area is not None else None
    if area is None or content is None:
        return drawer.width()
    chrome = drawer.width() - area.viewport().width()  # margins, frame and the vertical scroll bar
    if not area.verticalScrollBar().isVisible():
        chrome += area.verticalScrollBar().sizeHint().width()
    return content.minimumSizeHint().width() + chrome
