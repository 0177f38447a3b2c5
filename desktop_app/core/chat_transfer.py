"""Chat files: the JSON and Markdown a conversation is exported as, and the checks a JSON file passes
before it is imported.

An imported file comes from anywhere (another tool, a hand edit, a damaged disk), and what it holds is
later listed, exported and painted. So every field is checked for type and range here, at the door:
a value that would crash a later step (a date in the year 10^292, a speed that is text, an unpaired
surrogate SQLite cannot encode) refuses the whole file with one message that names the first bad field.
The work is bounded too: the file's size, the number of messages and of document sources, each
text's length, and the JSON's nesting depth are capped.

A reply that drew on the chat's documents (issue #15) carries its sources: source n is what its [n]
citations name. The JSON export keeps them whole, so an import restores them; Markdown lists them
under the reply by file and page.

The store (conversations.py) owns the database; this module only parses, checks and renders, so it
needs nothing from the store at run time.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal, NoReturn, cast

from desktop_app.core.documents.context import cited_numbers
from desktop_app.core.documents.passages import Passage
from desktop_app.core.errors import HearthError, SettingsError, StorageError

if TYPE_CHECKING:
    from desktop_app.core.conversations import Conversation, Message, MessageState, Role

ExportFormat = Literal["md", "json"]

# Bounds on what an import reads and stores. A Hearth export stays far below each of them: a long
# chat is a few hundred KB, and even a reply as long as the largest context (2^21 tokens) fits in
# MAX_TEXT_CHARS.
MAX_FILE_BYTES: Final = 32 << 20
MAX_MESSAGES: Final = 10_000
MAX_TEXT_CHARS: Final = 4_000_000  # content, reasoning, the system prompt, an error
MAX_NAME_CHARS: Final = 10_000  # title, model name, and text inside stats and sampling
MAX_DETAIL_KEYS: Final = 64  # keys in one message's stats or sampling
MAX_STOP_STRINGS: Final = 64
MAX_TIME_CHARS: Final = 64
# Dates a chat can have: 1970 up to (not including) 3000. Windows' localtime() fails outside that,
# and datetime fails beyond the year 9999, so a date out of it would break listing and export.
EARLIEST_TIME: Final = 0.0
LATEST_TIME: Final = 32_503_680_000.0  # 3000-01-01T00:00:00Z
# Stats are counts, seconds and speeds: never negative, and far below these.
MAX_STAT_COUNT: Final = 1 << 40
MAX_STAT_NUMBER: Final = 1e12
# Document sources: a reply is shown a handful of passages, or a small document whole, one source a
# page; these leave room for that and stop a file from making a million rows.
MAX_SOURCES: Final = 1_000  # of one message
MAX_SOURCES_TOTAL: Final = 20_000  # of the whole chat
MAX_PAGE: Final = 1_000_000
# Markdown lists every source of a reply up to this many; beyond it, only the cited ones.
MARKDOWN_SOURCES: Final = 12

_STAT_COUNTS: Final = frozenset(
    {"prompt_tokens", "cached_tokens", "evaluated_tokens", "completion_tokens", "dropped_messages", "n_ctx",
     "context_used"}
)  # fmt: skip
_STAT_NUMBERS: Final = frozenset({"ttft_s", "prefill_tps", "generation_tps", "total_s"})
_STAT_TEXTS: Final = frozenset({"stop_reason", "stop_string"})

_SHAPE_HINT: Final = (
    'A chat file looks like {"title": "…", "messages": [{"role": "user", "content": "…"}, …]}, '
    "as `hearth chats export ID --format json` writes it."
)
_VALUE_HINT: Final = "Fix or remove that value in the file, or export the chat again from Hearth."
_SIZE_HINT: Final = "Split the chat into smaller files, or shorten that text."
_SOURCE_HINT: Final = (
    'A reply\'s "sources" is a list like [{"n": 1, "file": "/path/report.pdf", "page": 3, "text": "…"}], '
    "numbered 1, 2, … in order, as Hearth's JSON export writes it."
)


class ChatFileError(HearthError):
    """A chat file to import is not JSON in the shape `export_json` writes, or holds a value out of
    range; nothing of it is stored."""

    title = "This chat file cannot be imported"
    exit_code = 2


@dataclass(frozen=True)
class ImportedMessage:
    role: Role
    content: str
    reasoning: str
    state: MessageState
    model: str | None
    error: str | None
    sampling: dict[str, Any] | None
    stats: dict[str, Any] | None
    created_at: float | None  # None: the file has no date; the store uses the import time
    sources: tuple[Passage, ...] = ()  # source n is sources[n - 1], as export_json numbers them


@dataclass(frozen=True)
class ImportedChat:
    """A chat file that passed every check: each value has the type and range the store expects."""

    title: str
    system_prompt: str
    messages: tuple[ImportedMessage, ...]


# -- reading ---------------------------------------------------------------------------------------


def parse_chat_json(text: str | bytes, source: str) -> object:
    """A chat file's JSON (checked in shape by `check_chat`), refused with a ChatFileError when it is
    too large, not JSON, or nested too deeply to parse."""
    if len(text) > MAX_FILE_BYTES:
        raise _too_large(source)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ChatFileError(f"{source} is not UTF-8 text.", hint="Import a JSON file.") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChatFileError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            hint="Import a file written by Hearth's JSON export (Export as JSON in the chat list).",
        ) from exc
    except RecursionError as exc:  # json's C parser checks its depth: [[[[… raises this, not a crash
        raise ChatFileError(f"{source} is nested too deeply to be a chat file.", hint=_SHAPE_HINT) from exc
    except ValueError as exc:  # an integer of more than 4300 digits (CPython's int_max_str_digits)
        raise ChatFileError(f"{source} holds a number too large to read.", hint=_VALUE_HINT) from exc


def read_chat_stream(stream: BinaryIO, source: str) -> object:
    """Parse a chat file from an open binary stream (standard input), reading at most one byte more
    than MAX_FILE_BYTES."""
    try:
        data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise StorageError(f"Cannot read {source}: {exc.strerror or exc}.", hint="Try again.") from exc
    return parse_chat_json(data, source)


def read_chat_file(path: Path) -> object:
    """Read and parse a chat file for import, with errors that say what to do."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise StorageError(
            f"Cannot read {path}: {exc.strerror or exc}.", hint="Check the file's path and permissions."
        ) from exc
    return parse_chat_json(data, str(path))


def _too_large(source: str) -> ChatFileError:
    return ChatFileError(
        f"{source} is larger than {MAX_FILE_BYTES >> 20} MiB, too large for a chat file.", hint=_SIZE_HINT
    )


# -- checking --------------------------------------------------------------------------------------


def check_chat(data: object) -> ImportedChat:
    """Check a parsed chat file, field by field; raises ChatFileError naming the first bad field.
    Keys this format does not know (another tool's ids, a top-level "id") are ignored."""
    from desktop_app.core.conversations import ROLES, STATES

    if not isinstance(data, dict):
        _refuse("the top level", f"is {_kind(data)}, not an object", _SHAPE_HINT)
    title = _text(data.get("title", ""), "title", MAX_NAME_CHARS)
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list):
        _refuse("messages", "is missing" if raw_messages is None else f"is {_kind(raw_messages)}, not a list",
                _SHAPE_HINT)  # fmt: skip
    if len(raw_messages) > MAX_MESSAGES:
        _refuse("messages", f"has {len(raw_messages):,} entries; at most {MAX_MESSAGES:,} can be imported",
                _SIZE_HINT)  # fmt: skip
    system_prompt = ""
    messages: list[ImportedMessage] = []
    source_count = 0
    for index, item in enumerate(raw_messages):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            _refuse(where, f"is {_kind(item)}, not an object", _SHAPE_HINT)
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:
            _refuse(f"{where}.role", f'is {_show(role)}; it must be "system", "user" or "assistant"',
                    _SHAPE_HINT)  # fmt: skip
        if "content" not in item or item["content"] is None:
            _refuse(f"{where}.content", "is missing", _SHAPE_HINT)
        content = _text(item["content"], f"{where}.content", MAX_TEXT_CHARS)
        if role == "system" and index == 0:
            system_prompt = content
            continue
        sources = _sources(item.get("sources"), f"{where}.sources")
        source_count += len(sources)
        if source_count > MAX_SOURCES_TOTAL:
            _refuse(f"{where}.sources", f"brings the chat to {source_count:,} sources; at most "
                    f"{MAX_SOURCES_TOTAL:,} can be imported", _SIZE_HINT)  # fmt: skip
        state = item.get("state", "complete")
        if not isinstance(state, str) or state not in STATES:
            _refuse(f"{where}.state", f"is {_show(state)}; it must be one of {', '.join(STATES)}",
                    _SHAPE_HINT)  # fmt: skip
        messages.append(
            ImportedMessage(
                role=cast("Role", role),  # checked against ROLES above
                content=content,
                reasoning=_text(item.get("reasoning", ""), f"{where}.reasoning", MAX_TEXT_CHARS),
                # nothing is writing a "streaming" reply any more
                state=cast("MessageState", "interrupted" if state == "streaming" else state),
                model=_optional_text(item.get("model"), f"{where}.model", MAX_NAME_CHARS),
                error=_optional_text(item.get("error"), f"{where}.error", MAX_TEXT_CHARS),
                sampling=_sampling(item.get("sampling"), f"{where}.sampling"),
                stats=_stats(item.get("stats"), f"{where}.stats"),
                created_at=_time(item.get("created_at"), f"{where}.created_at"),
                sources=sources,
            )
        )
    return ImportedChat(title=title.strip(), system_prompt=system_prompt, messages=tuple(messages))


def _refuse(where: str, problem: str, hint: str = _VALUE_HINT) -> NoReturn:
    raise ChatFileError(f"Cannot import this chat: {where} {problem}.", hint=hint)


def _text(value: object, where: str, limit: int) -> str:
    if not isinstance(value, str):
        _refuse(where, f"is {_kind(value)}, not text", _SHAPE_HINT)
    if len(value) > limit:
        _refuse(where, f"is too long ({len(value):,} characters; at most {limit:,})", _SIZE_HINT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON's "\ud800": SQLite cannot store it
        bad = value[exc.start]
        _refuse(where, f"holds an unpaired surrogate (\\u{ord(bad):04x}), which is not valid Unicode")
    return value


def _optional_text(value: object, where: str, limit: int) -> str | None:
    return None if value is None else _text(value, where, limit)


def _time(value: object, where: str) -> float | None:
    """A date as Hearth writes it (ISO 8601), or seconds since 1970; within EARLIEST..LATEST_TIME."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        _refuse(where, f"is {_kind(value)}, not a date (ISO 8601 text, or seconds since 1970)", _SHAPE_HINT)
    if isinstance(value, str):
        if len(value) > MAX_TIME_CHARS:
            _refuse(where, "is too long to be a date")
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            seconds = parsed.timestamp()
        except (ValueError, OverflowError, OSError):
            _refuse(where, f"is {_show(value)}, not an ISO 8601 date")
    else:
        seconds = value  # compared as is: float(10**400) would overflow, NaN fails both comparisons
    if not EARLIEST_TIME <= seconds < LATEST_TIME:
        _refuse(where, f"is out of range ({_show(value)} is not a date from 1970 to 2999)")
    return float(seconds)


def _stats(value: object, where: str) -> dict[str, Any] | None:
    """Generation stats: counts are whole numbers, times and speeds finite numbers, all >= 0."""
    details = _details(value, where)
    if details is None:
        return None
    for key, item in details.items():
        path = f"{where}.{key}"
        if key in _STAT_COUNTS:
            if isinstance(item, bool) or not isinstance(item, int):
                _refuse(path, f"is {_kind(item)}, not a whole number")
            if not 0 <= item <= MAX_STAT_COUNT:
                _refuse(path, f"is out of range ({_show(item)}; it must be from 0 to {MAX_STAT_COUNT})")
        elif key in _STAT_NUMBERS:
            if isinstance(item, bool) or not isinstance(item, int | float):
                _refuse(path, f"is {_kind(item)}, not a number")
            if not 0 <= item <= MAX_STAT_NUMBER:
                _refuse(path, f"is out of range ({_show(item)}; it must be from 0 to {MAX_STAT_NUMBER:g})")
        elif key in _STAT_TEXTS:
            _optional_text(item, path, MAX_NAME_CHARS)
        else:
            _scalar(item, path)
    return details


def _sampling(value: object, where: str) -> dict[str, Any] | None:
    """Sampling settings, each known one checked by SamplingSettings itself (the same ranges the
    settings drawer enforces); the seed stored with a reply must be one the engine accepts."""
    from desktop_app.core.generation import SamplingSettings

    details = _details(value, where)
    if details is None:
        return None
    known = {field.name for field in fields(SamplingSettings)}
    for key, item in details.items():
        path = f"{where}.{key}"
        if key == "stop":
            if not isinstance(item, list):
                _refuse(path, f"is {_kind(item)}, not a list of text")
            if len(item) > MAX_STOP_STRINGS:
                _refuse(path, f"has {len(item)} entries; at most {MAX_STOP_STRINGS}")
            for position, text in enumerate(item):
                if not _text(text, f"{path}[{position}]", MAX_NAME_CHARS):
                    _refuse(f"{path}[{position}]", "is empty")
        elif key in known:
            try:
                SamplingSettings.from_dict({key: item})  # JSON's lists as the settings take them
            except SettingsError as exc:  # "'top_k' must be a whole number from 0 to 1000000, not …"
                rule = exc.message.partition(", not ")[0].rstrip(".")
                if isinstance(item, int | float) and not isinstance(item, bool) and abs(item) >= 10**40:
                    _refuse(path, f"is out of range ({_show(item)}); {rule}")
                _refuse(path, f"is {_show(item)}; {rule}")
            except OverflowError:  # math.isfinite(10**400)
                _refuse(path, f"is out of range ({_show(item)})")
        else:
            _scalar(item, path)
    return details


def _sources(value: object, where: str) -> tuple[Passage, ...]:
    """A message's document sources as export_json writes them, numbered 1, 2, … in order (an [n] in
    the reply names source n). "cited" is read from the reply's text on export, so it is checked here
    but not kept; a source's place in another machine's index (its chunk id) is not in the file."""
    if value is None:
        return ()
    if not isinstance(value, list):
        _refuse(where, f"is {_kind(value)}, not a list", _SOURCE_HINT)
    if len(value) > MAX_SOURCES:
        _refuse(where, f"has {len(value):,} entries; at most {MAX_SOURCES:,} can be imported", _SIZE_HINT)
    passages: list[Passage] = []
    for position, item in enumerate(value):
        path = f"{where}[{position}]"
        if not isinstance(item, dict):
            _refuse(path, f"is {_kind(item)}, not an object", _SOURCE_HINT)
        n = item.get("n", position + 1)
        if isinstance(n, bool) or not isinstance(n, int) or n != position + 1:
            _refuse(f"{path}.n", f"is {_show(n)}; sources are numbered 1, 2, … in order, so it must be "
                    f"{position + 1}", _SOURCE_HINT)  # fmt: skip
        if item.get("file") is None:
            _refuse(f"{path}.file", "is missing", _SOURCE_HINT)
        file = _text(item["file"], f"{path}.file", MAX_NAME_CHARS)
        if not file.strip():
            _refuse(f"{path}.file", "is empty", _SOURCE_HINT)
        page = item.get("page")
        if page is not None:
            page = _whole(page, f"{path}.page", 1, MAX_PAGE)
        score = item.get("score", 0.0)
        if isinstance(score, bool) or not isinstance(score, int | float):
            _refuse(f"{path}.score", f"is {_kind(score)}, not a number")
        if not -MAX_STAT_NUMBER <= score <= MAX_STAT_NUMBER:  # NaN fails this too
            _refuse(f"{path}.score", f"is out of range ({_show(score)})")
        cited = item.get("cited")
        if cited is not None and not isinstance(cited, bool):
            _refuse(f"{path}.cited", f"is {_kind(cited)}, not true/false")
        passages.append(
            Passage(
                file=file,
                page=page,
                text=_text(item.get("text", ""), f"{path}.text", MAX_TEXT_CHARS),
                score=float(score),
                start=_whole(item.get("start", 0), f"{path}.start", 0, MAX_STAT_COUNT),
                end=_whole(item.get("end", 0), f"{path}.end", 0, MAX_STAT_COUNT),
            )
        )
    return tuple(passages)


def _whole(value: object, where: str, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _refuse(where, f"is {_kind(value)}, not a whole number")
    if not least <= value <= most:
        _refuse(where, f"is out of range ({_show(value)}; it must be from {least} to {most:,})")
    return value


def _details(value: object, where: str) -> dict[str, Any] | None:
    """A flat object of named values (stats, sampling): no nesting, a bounded number of keys."""
    if value is None:
        return None
    if not isinstance(value, dict):
        _refuse(where, f"is {_kind(value)}, not an object", _SHAPE_HINT)
    if len(value) > MAX_DETAIL_KEYS:
        _refuse(where, f"has {len(value)} keys; at most {MAX_DETAIL_KEYS}", _SIZE_HINT)
    for key in value:
        _text(key, f"{where} key {_show(key)}", 100)
    return value


def _scalar(value: object, where: str) -> None:
    """A value Hearth does not read but keeps (written by a newer version): plain, finite, bounded."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if not -MAX_STAT_NUMBER <= value <= MAX_STAT_NUMBER:
            _refuse(where, f"is out of range ({_show(value)})")
        return
    if isinstance(value, str):
        _text(value, where, MAX_NAME_CHARS)
        return
    _refuse(where, f"is {_kind(value)}; only text, numbers, true/false and null are kept here")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)  # fmt: skip


def _show(value: object, width: int = 40) -> str:
    """A value for an error message: one line, short (the file may hold a megabyte of it)."""
    if isinstance(value, list | dict):
        return _kind(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**width:
        return "a number of more than 40 digits"
    if isinstance(value, str):
        return repr(value if len(value) <= width else value[: width - 3] + "…")
    text = repr(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


# -- writing ---------------------------------------------------------------------------------------


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


Sources = Mapping[int, Sequence[Passage]]  # message id -> its document sources, source 1 first


def export_json(
    conversation: Conversation, messages: Sequence[Message], sources: Sources | None = None
) -> dict[str, Any]:
    """`{"id", "title", "messages": [{"role", "content", …}]}`: the given branch, the system prompt
    first as a "system" message; reasoning, created_at (ISO 8601, UTC), model, sampling, stats,
    a non-"complete" state, an error and a reply's document sources (`sources`, by message id) are
    included when present."""
    items: list[dict[str, Any]] = []
    if conversation.system_prompt:
        items.append({"role": "system", "content": conversation.system_prompt})
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.reasoning:
            item["reasoning"] = message.reasoning
        item["created_at"] = iso_time(message.created_at)
        if message.model:
            item["model"] = message.model
        if message.sampling:
            item["sampling"] = message.sampling
        if message.stats:
            item["stats"] = message.stats
        if message.state != "complete":
            item["state"] = message.state
        if message.error:
            item["error"] = message.error
        if sources and sources.get(message.id):
            item["sources"] = _json_sources(message.content, sources[message.id])
        items.append(item)
    return {"id": conversation.id, "title": conversation.display_title, "messages": items}


def _json_sources(content: str, passages: Sequence[Passage]) -> list[dict[str, Any]]:
    """Each source as stored, with its number and whether the reply's text cites it as [n]."""
    cited = set(cited_numbers(content, len(passages)))
    return [
        {"n": n, "file": p.file, "page": p.page, "text": p.text,
         "score": p.score if math.isfinite(p.score) else 0.0, "start": p.start, "end": p.end,
         "cited": n in cited}
        for n, p in enumerate(passages, 1)
    ]  # fmt: skip


_STATE_NOTES: Final[Mapping[str, str]] = {
    "streaming": "reply still being written, or cut off",
    "cancelled": "stopped",
    "failed": "generation failed",
    "interrupted": "cut off: Hearth was closed while writing it",
}


def export_markdown(
    conversation: Conversation, messages: Sequence[Message], sources: Sources | None = None
) -> str:
    """A readable document of the given branch: the reasoning in a collapsed <details> block, and a
    reply's document sources (`sources`, by message id) listed under it."""
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(conversation.created_at))
    lines = [f"# {_one_line(conversation.display_title)}", ""]
    meta = [f"Created {created}"]
    if conversation.model_name:
        meta.insert(0, f"Model: {conversation.model_name}")
    lines += ["*" + " · ".join(meta) + "*", ""]
    if conversation.system_prompt:
        lines += ["## System", "", conversation.system_prompt.strip(), ""]
    for message in messages:
        heading = {"system": "System", "user": "User", "assistant": "Assistant"}[message.role]
        if message.role == "assistant" and message.model and message.model != conversation.model_name:
            heading += f" ({message.model})"
        lines += [f"## {heading}", ""]
        if message.reasoning.strip():
            lines += ["<details>", "<summary>Thinking</summary>", "", message.reasoning.strip(), "",
                      "</details>", ""]  # fmt: skip
        lines += [message.content.strip(), ""]
        if message.state != "complete":
            lines += [f"*({_STATE_NOTES[message.state]})*", ""]
        if sources and sources.get(message.id):
            lines += _markdown_sources(message.content, sources[message.id])
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_sources(content: str, passages: Sequence[Passage]) -> list[str]:
    """A "[n] file name, p. N" line per source, so the reply's [n] still say where they point; a
    reply shown many (a document inlined page by page) lists only the ones it cites."""
    numbers = list(range(1, len(passages) + 1))
    if len(passages) > MARKDOWN_SOURCES:
        numbers = sorted(cited_numbers(content, len(passages)))
    lines = ["**Sources**", ""]
    for n in numbers:
        passage = passages[n - 1]
        name = _one_line(re.split(r"[\\/]", passage.file)[-1]) or _one_line(passage.file)
        lines.append(f"- [{n}] {name}" + (f", p. {passage.page}" if passage.page is not None else ""))
    if rest := len(passages) - len(numbers):
        lines.append(f"- *({rest} more shown to the model but not cited; the JSON export has them all)*")
    return [*lines, ""]


def export_text(
    conversation: Conversation, messages: Sequence[Message], fmt: ExportFormat, sources: Sources | None = None
) -> str:
    """The file's text for `fmt`: Markdown, or the JSON of export_json (what import reads)."""
    if fmt == "json":
        data = export_json(conversation, messages, sources)
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return export_markdown(conversation, messages, sources)


def write_export(path: Path, text: str) -> None:
    """Write next to the target, then rename: an interrupted export never leaves half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(
            f"Cannot write {path}: {exc.strerror or exc}.",
            hint="Choose a folder you can write to, and check that the disk is not full.",
            details=repr(exc),
        ) from exc


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
