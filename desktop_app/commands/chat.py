"""`hearth chat --model PATH|ID [--prompt TEXT] …`: one answer, or an interactive multi-turn session.
`hearth chat --model PATH|ID --resume ID [--prompt TEXT]` continues a stored conversation.

Generation runs on a helper thread so that Ctrl+C in the terminal cancels the reply at once (a Python
signal handler cannot run while the main thread is inside llama_decode); the KV cache is reused
between turns, so each new turn only evaluates the new tokens.

With --save (and --resume), each turn goes through core's ChatSession, as in the app: the prompt is
stored before generation, the history sent is read back from the store (the conversation's current
branch), and the reply is saved as it streams.

With --remote NAME, --model names a model of that provider (`hearth remote list`): the same turn, flags
and JSON line, streamed from the provider instead of the local engine; the conversation stays here.

With --docs NAME (a collection from `hearth docs list`, or an indexed file), each turn is answered from
those documents: whole when they fit the context, else the best passages (core/documents/context.py).
Retrieval is local, with --remote too: only the passages chosen go to the provider. The JSON line adds
the reply's citations, `[{"file", "page"}]`.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from desktop_app.core.chat_session import ChatSession, NewConversation, document_messages
from desktop_app.core.conversation_records import Conversation, UnknownConversationError
from desktop_app.core.documents.context import (
    REMOTE_CONTEXT_TOKENS,
    SETTINGS_KEY,
    Attachment,
    DocumentContext,
    DocumentSource,
    TokenCounter,
    citations,
)
from desktop_app.core.engine import Engine, Event, GenerationStats, Message, TextDelta
from desktop_app.core.engine.state_cache import StateCache
from desktop_app.core.errors import HearthError, SettingsError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.library import LibraryModel
from desktop_app.core.model_choice import ChosenModel, choose_model, load_settings_with
from desktop_app.core.providers.backend import ChatBackend
from desktop_app.core.reply_writer import ReplyWriter

if TYPE_CHECKING:
    from desktop_app.core.providers.remote_chat import RemoteChat

#: a one-shot --prompt without --max-tokens stops here: an answer, not pages of a base model rambling
ONE_SHOT_MAX_TOKENS = 512
QUIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit"})


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser(
        "chat",
        help="chat with a model in the terminal",
        description="Chat with a model in the terminal: one answer with --prompt, else an interactive "
        'session (Ctrl+C stops a reply; Ctrl+D or "exit" quits). A library model (an ID from '
        "`hearth models list`) chats with its saved settings; the options below override them.",
    )
    chat.add_argument(
        "--model",
        required=True,
        metavar="PATH|ID",
        help="a .gguf file, or a model id from `hearth models list` (with --remote: the provider's model)",
    )
    chat.add_argument(
        "--remote",
        metavar="NAME",
        help="chat with a model of the provider NAME (`hearth remote list`); your messages go to it",
    )
    chat.add_argument(
        "--prompt", metavar="TEXT", help="answer this one message and exit (default: interactive)"
    )
    chat.add_argument("--system", metavar="TEXT", help="system prompt (a new conversation only)")
    chat.add_argument(
        "--docs",
        action="append",
        metavar="NAME",
        help="answer from the collection NAME (`hearth docs list`) or an indexed file; repeatable. "
        "Retrieval stays on this computer; with --remote, the passages used go to the provider",
    )
    chat.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help=f"longest reply in tokens (default: {ONE_SHOT_MAX_TOKENS} with --prompt, else the model's "
        f"saved setting or {SamplingSettings.max_tokens})",
    )
    chat.add_argument(
        "--temperature",
        type=float,
        default=None,
        metavar="T",
        help=f"randomness, 0 for the most likely reply (default: saved, else {SamplingSettings.temperature})",
    )
    chat.add_argument(
        "--seed", type=int, default=None, metavar="S", help="random seed, for a reply you can reproduce"
    )
    chat.add_argument(
        "--ctx", type=int, default=None, metavar="N", help="context length in tokens (default: up to 4096)"
    )
    chat.add_argument(
        "--threads", type=int, default=None, metavar="N", help="CPU threads (default: automatic)"
    )
    chat.add_argument(
        "--json", action="store_true", help="end each reply with one JSON line of text and stats"
    )
    chat.add_argument(
        "--save", action="store_true", help="save the exchange as a conversation (the app shows it)"
    )
    chat.add_argument(
        "--resume",
        type=int,
        metavar="ID",
        help="continue the stored conversation ID (from `hearth chats list`) on its current branch, "
        "saving the new exchange to it",
    )
    chat.set_defaults(handler=_chat)


def load_engine(
    model: str | ChosenModel,
    ctx: int | None,
    threads: int | None,
    *,
    touch: bool = True,
    batch_invariant: bool = False,
) -> Engine:
    """The one place the CLI creates and loads an Engine: `model` is a path, a library id, or a model
    already chosen; --ctx and --threads go over its saved load settings."""
    chosen = model if isinstance(model, ChosenModel) else choose_model(model, touch=touch)
    engine = Engine(state_cache=_state_cache())
    engine.load(
        chosen.path,
        load_settings_with(chosen.load, ctx, threads),
        template_override=chosen.template_override,
        batch_invariant=batch_invariant,
    )
    return engine


def _state_cache() -> StateCache | None:
    """The app's saved chat state: a --resume continues where the app (or an earlier run) left off,
    and a saved turn leaves its state for the next. None when the data folder cannot be opened: the
    chat still works, only without the speed-up."""
    from desktop_app.core.services import AppServices

    try:
        services = AppServices.open()
    except HearthError:
        return None
    try:
        return services.state_cache
    finally:
        services.close()


def stream_in_thread(engine: ChatBackend, events: Iterator[Event]) -> Iterator[Event]:
    """Iterate `events` on a helper thread; Ctrl+C here cancels the generation instead of killing us."""
    box: queue.Queue[Event | BaseException | None] = queue.Queue()

    def pump() -> None:
        try:
            for event in events:
                box.put(event)
        except BaseException as exc:
            box.put(exc)
        finally:
            box.put(None)

    worker = threading.Thread(target=pump, name="hearth-chat", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = box.get(timeout=0.1)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                engine.cancel()
                continue
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    except KeyboardInterrupt:
        engine.cancel()
        raise
    finally:
        worker.join()


def answer(
    engine: ChatBackend,
    messages: list[Message],
    sampling: SamplingSettings,
    out: TextIO,
    writer: ReplyWriter | None = None,
) -> tuple[str, str, GenerationStats]:
    """Stream one reply to `out`; `writer` (--save) stores it as it grows, and as failed on an error."""
    text: list[str] = []
    reasoning: list[str] = []
    stats: GenerationStats | None = None
    saving: AbstractContextManager[object] = writer if writer is not None else nullcontext()
    with saving:
        tag = str(writer.conversation_id) if writer is not None else None  # a saved chat keeps its KV state
        for event in stream_in_thread(engine, engine.stream_chat(messages, sampling, state_tag=tag)):
            if writer is not None:
                writer.feed(event)
            if isinstance(event, TextDelta):
                if event.kind == "reasoning":
                    reasoning.append(event.text)
                    continue
                text.append(event.text)
                out.write(event.text)
                out.flush()
            else:
                stats = event
    assert stats is not None
    return "".join(text), "".join(reasoning), stats


def _sampling(args: argparse.Namespace, saved: SamplingSettings | None) -> tuple[SamplingSettings, bool]:
    """The saved sampling (or the defaults) with the options given over it; and whether the reply
    length is the one-shot default (then a reply that reaches it says how to get more)."""
    base = saved or SamplingSettings()
    changes: dict[str, Any] = {}
    if args.temperature is not None:
        changes["temperature"] = args.temperature
    if args.seed is not None:
        changes["seed"] = args.seed
    one_shot_default = args.max_tokens is None and args.prompt is not None
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    elif one_shot_default:
        changes["max_tokens"] = min(base.max_tokens, ONE_SHOT_MAX_TOKENS)
    return (replace(base, **changes) if changes else base), one_shot_default


def _chat(args: argparse.Namespace) -> int:
    if args.resume is not None and args.system is not None:
        raise SettingsError(
            "--system cannot change a resumed conversation: it keeps the system prompt it was started with.",
            hint="Leave out --system, or start a new conversation without --resume.",
        )
    if args.remote is not None:
        return _remote_chat(args)
    chosen = choose_model(args.model)
    sampling, one_shot_default = _sampling(args, chosen.sampling)
    docs = ChatDocuments.open(args.docs)  # an unknown collection fails before the load
    saved: SavedChat | None = None
    if args.resume is not None:
        saved = SavedChat.resume(args.resume, chosen, sampling)  # an unknown id fails before the load
        docs = docs or _resumed_documents(saved)
    engine = load_engine(chosen, args.ctx, args.threads)
    if engine.model is not None and engine.model.template_warning:
        # the model still chats, in a built-in format; say why its own template was not used
        print(f"hearth: warning: {engine.model.template_warning}", file=sys.stderr)
    history: list[Message] = [{"role": "system", "content": args.system}] if args.system else []
    try:
        assert engine.model is not None
        if saved is None and args.save:
            saved = SavedChat.new(chosen, engine.model.summary.name, args.system, sampling)
        elif saved is not None and chosen.entry is None:
            saved.model_name = engine.model.summary.name  # as --save names it
        if docs is not None:
            docs.n_ctx = engine.model.n_ctx
            docs.count_tokens = _token_counter(engine)
            docs.attach_to(saved)
        if args.prompt is not None:
            return _one_shot(
                engine, args, history, sampling, saved, one_shot_default=one_shot_default, docs=docs
            )
        banner = f"Chatting with {engine.model.summary.name} ({engine.model.chat_format.family} template)."
        return _interactive(engine, banner, history, sampling, as_json=args.json, saved=saved, docs=docs)
    finally:
        engine.unload()
        if engine.state_cache is not None:
            engine.state_cache.flush(timeout=60)  # the last turn's state is written before we exit
        if saved is not None:
            saved.report()
        if docs is not None:
            docs.close()


class ChatDocuments:
    """`--docs`: the attached collections and files, the index they are read from, and the context
    size that bounds what each turn is sent."""

    def __init__(self, attachment: Attachment, source: DocumentSource, close: Callable[[], None]) -> None:
        self.attachment = attachment
        self.source = source
        self.close = close
        self.n_ctx = REMOTE_CONTEXT_TOKENS  # a local model sets its own
        self.count_tokens: TokenCounter | None = None

    @classmethod
    def open(cls, names: list[str] | None) -> ChatDocuments | None:
        """None without --docs. A NAME that is an existing file is that file; anything else is a
        collection, which must exist (UnknownCollectionError lists those there are)."""
        if not names:
            return None
        from desktop_app.core.documents.store import normalise_path

        files = tuple(normalise_path(n) for n in names if Path(n).is_file())
        collections = tuple(n for n in names if not Path(n).is_file())
        return cls.attached(Attachment(collections=collections, files=files))

    @classmethod
    def attached(cls, attachment: Attachment) -> ChatDocuments:
        """The index, opened for `attachment` (UnknownCollectionError for a collection not in it)."""
        from desktop_app.core.documents.chat_source import IndexSource
        from desktop_app.core.documents.store import DocumentStore
        from desktop_app.core.paths import app_paths

        store = DocumentStore.open(app_paths().ensure())
        source = IndexSource(store)
        try:
            source.check(attachment)
        except HearthError:
            store.close()
            raise

        def close() -> None:
            source.close()
            store.close()

        return cls(attachment, source, close)

    def attach_to(self, saved: SavedChat | None) -> None:
        """A saved chat records its documents, so the app answers its next turns from them too."""
        if saved is None:
            return
        if saved.to_create is not None:
            settings = {**(saved.to_create.settings or {}), SETTINGS_KEY: self.attachment.to_dict()}
            saved.to_create = replace(saved.to_create, settings=settings)
        elif saved.conversation_id is not None:
            saved.session.store.set_documents(saved.conversation_id, self.attachment.to_dict())

    def apply(
        self, messages: list[Message], sampling: SamplingSettings, writer: ReplyWriter | None
    ) -> tuple[list[Message], DocumentContext]:
        """This turn's messages with its sources; a saved turn stores them with its reply."""
        sent, context = document_messages(
            messages, self.attachment, self.source, n_ctx=self.n_ctx, reply_tokens=sampling.max_tokens,
            count_tokens=self.count_tokens,
        )  # fmt: skip
        if writer is not None:
            writer.store.save_sources(writer.message_id, context.sources)
        if context.note:
            print(f"hearth: note: {context.note}", file=sys.stderr)
        return sent, context


def _resumed_documents(saved: SavedChat) -> ChatDocuments | None:
    """A resumed chat with documents attached (in the app, or by --docs) answers from them again;
    when they are gone from the index it goes on without them, and says so."""
    if saved.conversation_id is None:
        return None
    conversation = saved.session.store.get_conversation(saved.conversation_id)
    attachment = Attachment.from_settings(conversation.settings)
    if not attachment:
        return None
    try:
        docs = ChatDocuments.attached(attachment)
    except HearthError as exc:
        print(f"hearth: warning: the chat's documents are not used: {exc}", file=sys.stderr)
        return None
    print(f"Answering from the chat's documents: {attachment.describe()}.", file=sys.stderr)
    return docs


def _token_counter(engine: Engine) -> TokenCounter:
    """The loaded model's own token count (text only: no BOS, control tokens stay text)."""
    return lambda text: len(engine.tokenize(text, add_bos=False, special=False))


class SavedChat:
    """`hearth chat --save` and `--resume`: the run's turns go to one conversation, created at the first
    turn (--save) or the stored one (--resume). The turns themselves are ChatSession's; this keeps only
    what the run adds: which conversation, and which prompt failed (the next prompt replaces it, so the
    saved branch is what the model was sent)."""

    def __init__(self, session: ChatSession, model_name: str, sampling: SamplingSettings) -> None:
        self.session = session
        self.model_name = model_name
        self.sampling = sampling
        self.to_create: NewConversation | None = None  # what the first turn creates (--save)
        self.conversation_id: int | None = None
        self.resumed = False
        self._prompt_id: int | None = None  # this turn's prompt
        self._failed_prompt_id: int | None = None  # a prompt whose turn failed: the model never saw it

    @classmethod
    def new(
        cls, chosen: ChosenModel, model_name: str, system_prompt: str | None, sampling: SamplingSettings
    ) -> SavedChat:
        from desktop_app.core.services import AppServices

        services = AppServices.open()
        known = chosen.entry or services.library.find_by_path(chosen.path)
        saved = cls(services.chat_session, known.display_name if known else model_name, sampling)
        saved.to_create = NewConversation(
            model_name=saved.model_name,
            model_path=str(chosen.path.resolve()),
            model_id=known.id if known else None,
            system_prompt=system_prompt or "",
            settings={"sampling": sampling.to_dict()},
        )
        return saved

    @classmethod
    def resume(cls, conversation_id: int, chosen: ChosenModel, sampling: SamplingSettings) -> SavedChat:
        """The stored conversation `conversation_id`, to continue with `chosen`. An unknown id is an
        error; a conversation held with another model is continued, with a warning that names it."""
        from desktop_app.core.services import AppServices

        services = AppServices.open()
        try:
            conversation = services.conversations.get_conversation(conversation_id)
        except UnknownConversationError as exc:
            raise UnknownConversationError(
                f"There is no conversation {conversation_id}.",
                hint="`hearth chats list` shows the ids of your conversations.",
            ) from exc
        known = chosen.entry or services.library.find_by_path(chosen.path)
        name = known.display_name if known else chosen.path.name
        other = _other_model(conversation, chosen, known)
        if other is not None:
            print(
                f"hearth: warning: conversation {conversation_id} was held with {other}; "
                f"continuing it with {name}.",
                file=sys.stderr,
            )
        saved = cls(services.chat_session, name, sampling)
        saved.conversation_id = conversation.id
        saved.resumed = True
        messages = len(services.conversations.path(conversation.id))
        print(
            f'Continuing conversation {conversation.id}, "{conversation.display_title}" '
            f"({messages} message{'s' if messages != 1 else ''}).",
            file=sys.stderr,
        )
        return saved

    def begin(self, prompt: str) -> tuple[list[Message], SamplingSettings, ReplyWriter]:
        """Store the prompt and the streaming reply; returns what to send the engine (read back from
        the store), the sampling with the seed it records, and the writer to feed."""
        if self._failed_prompt_id is not None:
            turn = self.session.edit(self._failed_prompt_id, prompt, self.sampling, model=self.model_name)
        else:
            target = self.conversation_id if self.conversation_id is not None else self.to_create
            assert target is not None
            turn = self.session.begin(target, prompt, self.sampling, model=self.model_name)
        assert turn.prompt is not None
        self.conversation_id, self._prompt_id, self._failed_prompt_id = (
            turn.conversation.id,
            turn.prompt.id,
            None,
        )
        return turn.messages, turn.sampling, turn.writer

    @classmethod
    def new_remote(cls, chat: RemoteChat, system_prompt: str | None, sampling: SamplingSettings) -> SavedChat:
        """--save with --remote: the conversation records the provider's model (no local path or id)
        and where it ran, so the app can say so and continue it there."""
        from desktop_app.core.services import AppServices

        services = AppServices.open()
        saved = cls(services.chat_session, chat.label, sampling)
        saved.to_create = NewConversation(
            model_name=chat.label,
            system_prompt=system_prompt or "",
            settings={"sampling": sampling.to_dict(), "remote": remote_record(chat)},
        )
        return saved

    @classmethod
    def resume_remote(cls, conversation_id: int, chat: RemoteChat, sampling: SamplingSettings) -> SavedChat:
        """--resume with --remote: as `resume`, warning when the conversation was held with another model."""
        from desktop_app.core.services import AppServices

        services = AppServices.open()
        try:
            conversation = services.conversations.get_conversation(conversation_id)
        except UnknownConversationError as exc:
            raise UnknownConversationError(
                f"There is no conversation {conversation_id}.",
                hint="`hearth chats list` shows the ids of your conversations.",
            ) from exc
        if conversation.model_name and conversation.model_name != chat.label:
            print(
                f"hearth: warning: conversation {conversation_id} was held with {conversation.model_name}; "
                f"continuing it with {chat.label}.",
                file=sys.stderr,
            )
        saved = cls(services.chat_session, chat.label, sampling)
        saved.conversation_id = conversation.id
        saved.resumed = True
        print(f'Continuing conversation {conversation.id}, "{conversation.display_title}".', file=sys.stderr)
        return saved

    def turn_failed(self) -> None:
        self._failed_prompt_id = self._prompt_id

    def report(self) -> None:
        if self.conversation_id is not None:
            what = "Saved to" if self.resumed else "Saved as"
            print(
                f"{what} conversation {self.conversation_id} "
                f"(`hearth chats export {self.conversation_id}` shows it).",
                file=sys.stderr,
            )


def _other_model(conversation: Conversation, chosen: ChosenModel, known: LibraryModel | None) -> str | None:
    """How to name the model `conversation` was held with, when it is not `chosen`; else None."""
    remote = conversation.settings.get("remote")
    if isinstance(remote, dict):  # held with a provider's model (`--remote`): never this local one
        return conversation.model_name or "a remote model"
    if conversation.model_id is None and conversation.model_path is None:
        return None  # imported, or made before models were recorded: nothing to compare
    if conversation.model_id is not None and known is not None:
        same = conversation.model_id == known.id
    elif conversation.model_path is not None:
        same = Path(conversation.model_path).resolve() == chosen.path.resolve()
    else:
        same = False
    if same:
        return None
    name = conversation.model_name or conversation.model_id or "another model"
    where = conversation.model_id if conversation.model_id and conversation.model_id != name else None
    where = where or conversation.model_path
    return f"{name} ({where})" if where else name


def _begin(
    prompt: str, history: list[Message], sampling: SamplingSettings, saved: SavedChat | None
) -> tuple[list[Message], SamplingSettings, ReplyWriter | None]:
    """One turn's messages, sampling and writer: from the store with --save, else from `history`."""
    history.append({"role": "user", "content": prompt})
    if saved is None:
        return history, sampling, None
    return saved.begin(prompt)


def _one_shot(
    backend: ChatBackend,
    args: argparse.Namespace,
    history: list[Message],
    sampling: SamplingSettings,
    saved: SavedChat | None,
    *,
    one_shot_default: bool,
    docs: ChatDocuments | None = None,
) -> int:
    """`--prompt`: one reply, its JSON line with --json, and a hint when the default length cut it."""
    if sys.stderr.isatty():
        print("(Ctrl+C stops the reply.)", file=sys.stderr, flush=True)
    messages, turn_sampling, writer = _begin(args.prompt, history, sampling, saved)
    context = None
    if docs is not None:
        messages, context = docs.apply(messages, turn_sampling, writer)
    text, reasoning, stats = answer(backend, messages, turn_sampling, sys.stdout, writer)
    print()
    if args.json:
        print(json.dumps(_result(text, reasoning, stats, saved, context), ensure_ascii=False))
    if one_shot_default and stats.stop_reason == "max_tokens":
        print(
            f"hearth: the reply stopped at {sampling.max_tokens} tokens; "
            "pass --max-tokens N for a longer one.",
            file=sys.stderr,
        )
    return 0


def _interactive(
    engine: ChatBackend,
    banner: str,
    history: list[Message],
    sampling: SamplingSettings,
    *,
    as_json: bool,
    saved: SavedChat | None = None,
    docs: ChatDocuments | None = None,
) -> int:
    print(f'{banner} Ctrl+C stops a reply; Ctrl+D or "exit" quits.', file=sys.stderr)
    while True:
        try:
            line = _read_line("> ")
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 0
        if line is None:
            print(file=sys.stderr)
            return 0
        if line.strip().lower() in QUIT_WORDS:
            return 0
        if not line.strip():
            continue
        messages, turn_sampling, writer = _begin(line, history, sampling, saved)
        context = None
        try:
            if docs is not None:
                messages, context = docs.apply(messages, turn_sampling, writer)
            text, reasoning, stats = answer(engine, messages, turn_sampling, sys.stdout, writer)
        except HearthError as exc:
            history.pop()
            if saved is not None:
                saved.turn_failed()
            print(f"\nhearth: {exc}", file=sys.stderr)
            continue
        print()
        history.append({"role": "assistant", "content": text})
        if as_json:
            print(json.dumps(_result(text, reasoning, stats, saved, context), ensure_ascii=False))
        else:
            if context is not None and context.sources:
                cited = "; ".join(_cite_label(c) for c in citations(text, context.sources))
                print(f"[sources: {cited}]", file=sys.stderr)
            print(
                f"[{stats.completion_tokens} tokens, {stats.generation_tps:.1f} tok/s, "
                f"{stats.cached_tokens} of {stats.prompt_tokens} prompt tokens reused, {stats.stop_reason}]",
                file=sys.stderr,
            )


def _read_line(prompt: str) -> str | None:
    """Read one line. On a terminal, input() gives line editing; otherwise the prompt goes to stderr
    so that piped stdout carries only replies (and JSON lines)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            return input(prompt)
        except EOFError:
            return None
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return None if line == "" else line.rstrip("\n")


def _cite_label(citation: dict[str, Any]) -> str:
    name = Path(str(citation["file"])).name
    return f"{name}, page {citation['page']}" if citation["page"] is not None else name


def _result(
    text: str,
    reasoning: str,
    stats: GenerationStats,
    saved: SavedChat | None = None,
    context: DocumentContext | None = None,
) -> dict[str, object]:
    """The JSON line of one turn. `cached_tokens`: prompt tokens not computed (kept in memory from the
    previous turn, or restored from saved state)."""
    result: dict[str, object] = {
        "text": text,
        "reasoning": reasoning,
        "prompt_tokens": stats.prompt_tokens,
        "cached_tokens": stats.cached_tokens,
        "restored_tokens": stats.restored_tokens,  # of cached_tokens, those read back from saved state
        "completion_tokens": stats.completion_tokens,
        "ttft_s": round(stats.ttft_s, 4),
        "prefill_tps": round(stats.prefill_tps, 2),
        "generation_tps": round(stats.generation_tps, 2),
        "stop_reason": stats.stop_reason,
        "dropped_messages": stats.dropped_messages,
    }
    if saved is not None and saved.conversation_id is not None:
        result["conversation_id"] = saved.conversation_id
    if context is not None:  # --docs: where the reply's material came from, as file and page
        result["citations"] = citations(text, context.sources)
        result["sources"] = [
            {"file": p.file, "page": p.page, "score": round(p.score, 4)} for p in context.sources
        ]
        result["documents"] = context.mode  # "inline" (whole), "passages", or "none" (see the note)
    return result


def remote_record(chat: RemoteChat) -> dict[str, str]:
    """What a conversation keeps of the provider it ran on (never the key)."""
    return {"provider": chat.provider.name, "url": chat.provider.url, "model": chat.model}


def _remote_chat(args: argparse.Namespace) -> int:
    """`hearth chat --remote NAME --model MODEL …`: the same turns, streamed from the provider."""
    from desktop_app.commands.remote import apply_saved_offline, warn_plain_http
    from desktop_app.core.providers import ProviderStore
    from desktop_app.core.providers.remote_chat import RemoteChat

    for flag, value in (("--ctx", args.ctx), ("--threads", args.threads)):
        if value is not None:
            raise SettingsError(
                f"{flag} sets how this computer loads a model; a remote model is loaded by its server.",
                hint=f"Leave out {flag} with --remote (the server's own settings decide).",
            )
    apply_saved_offline()
    provider = ProviderStore().get(args.remote)
    chat = RemoteChat(provider, args.model)
    sampling, one_shot_default = _sampling(args, None)
    warn_plain_http(provider)
    docs = ChatDocuments.open(args.docs)
    saved: SavedChat | None = None
    if args.resume is not None:
        saved = SavedChat.resume_remote(args.resume, chat, sampling)
        docs = docs or _resumed_documents(saved)
    elif args.save:
        saved = SavedChat.new_remote(chat, args.system, sampling)
    if docs is not None:
        docs.attach_to(saved)
    history: list[Message] = [{"role": "system", "content": args.system}] if args.system else []
    try:
        if args.prompt is not None:
            return _one_shot(
                chat, args, history, sampling, saved, one_shot_default=one_shot_default, docs=docs
            )
        banner = f"Chatting with {chat.model} on {provider.name} ({provider.netloc}); your messages go there."
        return _interactive(chat, banner, history, sampling, as_json=args.json, saved=saved, docs=docs)
    finally:
        if saved is not None:
            saved.report()
        if docs is not None:
            docs.close()
