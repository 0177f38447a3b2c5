"""`hearth chats list|export|import` (`hearth chat --save` writes the conversations; see commands/chat.py).

Conversation ids are the integers `hearth chats list` shows (they are never reused after a delete).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from desktop_app.core.chat_transfer import read_chat_file, read_chat_stream, write_export
from desktop_app.core.conversations import ConversationStore


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
    from desktop_app.core.services import AppServices

    return AppServices.open().conversations


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
