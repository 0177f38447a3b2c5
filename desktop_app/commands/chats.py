"""`hearth chats list|export|import`, and the recorder behind `hearth chat --save`.

Conversation ids are the integers `hearth chats list` shows (they are never reused after a delete).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from desktop_app.core.chat_transfer import read_chat_file, read_chat_stream, write_export
from desktop_app.core.conversations import ConversationStore, ReplyWriter, with_fixed_seed
from desktop_app.core.generation import SamplingSettings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chats = sub.add_parser("chats", help="list, export and import saved conversations")
    chats_sub = chats.add_subparsers(title="chats commands", metavar="ACTION", required=True)

    listing = chats_sub.add_parser("list", help="your conversations, most recent first")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=_list)

    export = chats_sub.add_parser("export", help="write a conversation as Markdown or JSON")
    export.add_argument("id", type=int, help="the conversation's id, from `hearth chats list`")
    export.add_argument("--format", choices=("md", "json"), default="md", help="default: md")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of to stdout")
    export.set_defaults(handler=_export)

    importing = chats_sub.add_parser("import", help="add a conversation from a JSON file (prints its id)")
    importing.add_argument("file", help="a file written by `hearth chats export ID --format json`, or -")
    importing.set_defaults(handler=_import)


def open_store() -> ConversationStore:
    from desktop_app.core.db import Database
    from desktop_app.core.paths import app_paths

    return ConversationStore(Database(app_paths().ensure().database))


def _list(args: argparse.Namespace) -> int:
    conversations = open_store().list_conversations()
    if args.json:
        print(json.dumps([c.to_dict() for c in conversations], ensure_ascii=False))
        return 0
    if not conversations:
        print("No saved conversations yet. Chat in the app, or run `hearth chat --model PATH --save`.")
        return 0
    rows = [
        (str(c.id), time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated_at)), str(c.message_count),
         c.model_name or "", c.title)
        for c in conversations
    ]  # fmt: skip
    header = ("ID", "UPDATED", "MESSAGES", "MODEL", "TITLE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _export(args: argparse.Namespace) -> int:
    text = open_store().export_text(args.id, args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    write_export(args.output, text)
    print(f"Wrote conversation {args.id} to {args.output}.", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    data = (
        read_chat_stream(sys.stdin.buffer, "standard input")
        if args.file == "-"
        else read_chat_file(Path(args.file))
    )
    conversation_id = open_store().import_json(data)
    print(conversation_id)
    return 0


class ChatRecorder:
    """`hearth chat --save`: the run becomes one conversation (created at the first turn). Each turn's
    prompt is committed before generation starts, and the reply is saved as it streams."""

    def __init__(
        self, model_path: str, model_name: str, system_prompt: str | None, sampling: SamplingSettings
    ) -> None:
        from desktop_app.core.library import Library
        from desktop_app.core.paths import app_paths

        self.store = open_store()
        path = Path(model_path)
        known = Library(self.store.db, app_paths()).find_by_path(path)
        self.model_id = known.id if known else None
        self.model_name = known.display_name if known else model_name
        self.model_path = str(path.resolve())
        self.system_prompt = system_prompt or ""
        self.sampling = sampling
        self.conversation_id: int | None = None
        self._turn_prompt_id: int | None = None
        self._retry_of: int | None = None

    def begin_turn(self, prompt: str) -> tuple[ReplyWriter, SamplingSettings]:
        """Store the prompt, create the streaming reply; returns its writer and the sampling settings
        (seed fixed, so the message records the seed really used) to generate with."""
        if self.conversation_id is None:
            self.conversation_id = self.store.create_conversation(
                model_name=self.model_name,
                model_path=self.model_path,
                model_id=self.model_id,
                system_prompt=self.system_prompt,
                settings={"sampling": self.sampling.to_dict()},
            ).id
        # After a failed turn the model never saw that prompt: the next one is a sibling of it (an edit),
        # so the saved branch matches the history the model is sent.
        prompt_message = self.store.add_message(
            self.conversation_id, "user", prompt, sibling_of=self._retry_of
        )
        self._turn_prompt_id = prompt_message.id
        self._retry_of = None
        sampling = with_fixed_seed(self.sampling)
        writer = self.store.start_reply(
            self.conversation_id, prompt_message.id, model=self.model_name, sampling=sampling
        )
        return writer, sampling

    def turn_failed(self) -> None:
        self._retry_of = self._turn_prompt_id

    def report(self) -> None:
        if self.conversation_id is not None:
            print(
                f"Saved as conversation {self.conversation_id} "
                f"(`hearth chats export {self.conversation_id}` shows it).",
                file=sys.stderr,
            )
