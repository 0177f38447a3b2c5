"""What the chat page can do with the model loaded (or without one), and what a chat remembers of its
model: the part of the page that enables Send, Regenerate, Continue and Reply or says why they are
disabled, offers a reopened chat's model ("Load <model> to continue"), records the model each turn
uses, and warns when the context is nearly full.

A mixin of ChatPage (which provides the widgets and state declared below), kept apart so the page
stays about the chat turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.conversations import Conversation, ConversationStore
from desktop_app.core.errors import HearthError
from desktop_app.core.providers.records import RemoteModel
from desktop_app.ui.chat_notices import ContextNotice, ModelOffer
from desktop_app.ui.chat_view import ChatView
from desktop_app.ui.composer import Composer
from desktop_app.workers.inference import InferenceController

log = logging.getLogger(__name__)

#: what a chat remembers of its model: the name to show, and what to load (None: not in the library)
ChatModelRef = tuple[str, object | None]


class ModelGate:
    """Readiness and a chat's own model, for ChatPage. No state of its own beyond what it declares."""

    controller: InferenceController
    store: ConversationStore
    conversation: Conversation | None
    view: ChatView
    composer: Composer
    model_offer: ModelOffer
    context_notice: ContextNotice
    find_chat_model: Callable[[Conversation], ChatModelRef | None]
    _loading: bool
    _live: tuple[int, int] | None
    _loaded_id: str | None
    remote: RemoteModel | None  # a provider's model chosen: it answers, no local model needed
    _remote_where: dict[str, str] | None  # the provider and model of the turn being started

    def _model_name(self) -> str:
        raise NotImplementedError

    def _say(self, text: str) -> None:
        """A short message in the status bar."""
        raise NotImplementedError

    def _request_load(self, target: object) -> None:
        """Ask the window to load `target` (a LibraryModel, or a Path)."""
        raise NotImplementedError

    def _can_generate(self) -> bool:
        """True when a model can answer; else the status bar says what is needed (a painted button
        that is disabled says the same when clicked)."""
        if self._has_model() and not self._loading:
            return True
        self._say(self._blocked_reason() or "Load a model first.")
        return False

    def _blocked_reason(self) -> str | None:
        """Why Send, Regenerate, Continue and Reply cannot run now; None when they can."""
        if self._loading:
            return "Wait for the model to finish loading."
        if self._has_model():
            return None
        chat = self._chat_model()
        if chat is not None:
            return f"Load {chat[0]} (or another model) to continue this chat."
        return "Load a model to write replies."

    def _has_model(self) -> bool:
        """A model can answer: the one loaded here, or a provider's."""
        return self.remote is not None or self.controller.loaded_model is not None

    def _refresh_readiness(self) -> None:
        """Enable or disable everything that needs a model, saying why, and offer a reopened chat's
        model when another (or none) is loaded."""
        reason = self._blocked_reason()
        delegate = self.view.delegate
        if delegate.blocked != reason:
            delegate.blocked = reason
            self.view.viewport().update()
        if self._loading:
            self.composer.set_ready(False, "Loading the model…")
        elif reason is not None:
            chat = self._chat_model()
            self.composer.set_ready(
                False, f"Load {chat[0]} to continue this chat" if chat else "Load a model to start chatting"
            )
        else:
            self.composer.set_ready(
                True, f"Message {self._model_name()}…  (Enter to send, Shift+Enter for a new line)"
            )
        self._show_offer()

    def _chat_model(self) -> ChatModelRef | None:
        """The model the chat on screen last used (as the window finds it), if it has one."""
        if self.conversation is None or not self.view.chat_model.rowCount():
            return None
        return self.find_chat_model(self.conversation)

    def _show_offer(self) -> None:
        chat = self._chat_model()
        has_model = self._has_model()
        if chat is None or self._loading or self._live is not None or self._uses_loaded(chat):
            self.model_offer.hide()
            return
        name, target = chat
        self.model_offer.offer(
            name, loadable=target is not None, loaded=self._model_name() if has_model else None
        )

    def _uses_loaded(self, chat: ChatModelRef) -> bool:
        """Whether the model answering is the one the chat used (by file, or by name when not known,
        as for a remote model)."""
        if self.remote is not None:
            return chat[0] == self.remote.label
        model = self.controller.loaded_model
        if model is None:
            return False
        target = chat[1]
        path = getattr(target, "path", target)
        if isinstance(path, Path):
            try:
                return path.resolve() == Path(model.summary.path).resolve()
            except OSError:
                return False
        return chat[0] == self._model_name()

    def _load_chat_model(self) -> None:
        chat = self._chat_model()
        if chat is not None and chat[1] is not None:
            self._request_load(chat[1])

    def _record_model(self) -> None:
        """The chat remembers the model that answers it now, so a reopened chat can offer it: a local
        one by file, a remote one by name and, in settings["remote"], where it ran (as `hearth chat
        --remote --save` records it; a local model answering later drops that record)."""
        model, conversation = self.controller.loaded_model, self.conversation
        if (model is None and self.remote is None) or conversation is None:
            return
        name = self._model_name()
        path = str(model.summary.path) if model is not None and self.remote is None else None
        model_id = self._loaded_id if path is not None else None
        where = self._remote_where if self.remote is not None else None
        settings = dict(conversation.settings)
        if where is None:
            settings.pop("remote", None)
        else:
            settings["remote"] = where
        fields = (conversation.model_name, conversation.model_path, conversation.model_id)
        if fields == (name, path, model_id) and settings == conversation.settings:
            return
        try:
            self.conversation = self.store.record_model(
                conversation.id, model_name=name, model_path=path, model_id=model_id
            )
            if settings != conversation.settings:
                self.conversation = self.store.update_conversation(conversation.id, settings=settings)
        except HearthError:
            log.warning("could not record the model of chat %d", conversation.id, exc_info=True)

    def _show_context(self, stats: dict[str, object] | None) -> None:
        """Warn when the last reply's request nearly filled the context (or had to drop messages);
        stats from another context size than the loaded model's say nothing about the next turn."""
        model = self.controller.loaded_model if self.remote is None else None
        if stats and model is not None and stats.get("n_ctx") not in (None, 0, model.n_ctx):
            stats = None
        self.context_notice.show_stats(stats)
