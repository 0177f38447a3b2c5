"""The rendered and tokenized prefixes of recent conversations, so a chat turn renders only what is new.

Why: rendering a template and tokenizing the result grows with the history (~0.3 s at 400 messages on
the test machine, twice the Jinja render because of the marker render), while the KV cache then skips
almost all of it. A turn extends the previous request's messages, so the tokens of what was rendered
before can be reused and only the new messages rendered (prompt.py, `PromptTokenizer`).

What is kept per conversation (`Prefix`): the messages, rendered *without* the generation prompt, and
their tokens up to the last special token of that rendering. A special token ends a tokenizer run (text
is tokenized between special tokens), so tokens after it never merge with tokens before it: appending
the tokens of what follows is exactly what a full tokenization gives.
"""

from __future__ import annotations

import os
from array import array
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: a message as the cache compares it: its items in order (role, content, any other field)
MessageKey = tuple[tuple[str, object], ...]
#: what the cache is keyed by besides the messages: the template text, bos and eos token texts
TemplateKey = tuple[str, str, str]

#: prefixes remembered: two per conversation (see `put`), plus the probes of a history that no longer
#: fits (fit_history bisects over ~10 starts); a long chat's entry is ~4 bytes per token
DEFAULT_CAPACITY = 16
#: set to 0 to turn the cache off (benchmarks compare both in one run)
ENV_SWITCH = "HEARTH_PROMPT_CACHE"


def enabled_by_environment() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in {"0", "false", "no", "off"}


def message_keys(messages: Sequence[Mapping[str, object]]) -> tuple[MessageKey, ...]:
    return tuple(tuple(message.items()) for message in messages)


@dataclass(frozen=True)
class Prefix:
    """A conversation rendered without the generation prompt, tokenized up to its last special token."""

    template: TemplateKey
    messages: tuple[MessageKey, ...]
    tokens: array[int]  # compact: a long chat's entry is ~4 bytes per token, not ~36 in a list
    #: the last token strips the whitespace after it (llama.cpp's RSTRIP attribute)
    strip_left: bool


class PrefixCache:
    """A few `Prefix`es, least recently used first out; lookups find the longest cached prefix."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[TemplateKey, tuple[MessageKey, ...]], Prefix] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, template: TemplateKey, messages: tuple[MessageKey, ...]) -> Prefix | None:
        """The entry with the most messages that are the first messages of `messages` (all of them
        included). Comparing is cheap: the strings are usually the very objects seen last time."""
        best: Prefix | None = None
        for entry in self._entries.values():
            size = len(entry.messages)
            if (
                entry.template == template
                and size <= len(messages)
                and (best is None or size > len(best.messages))
                and messages[:size] == entry.messages
            ):
                best = entry
        if best is not None:
            self._entries.move_to_end((best.template, best.messages))
        return best

    def put(self, entry: Prefix, *, grown_from: Prefix | None = None) -> None:
        """Remember `entry`. When it grew from a cached entry, the entries before that one go: a chat
        keeps its newest prefix and the one before it (so editing or regenerating the last question
        still finds a prefix), not one per turn, and the capacity bounds conversations, not turns."""
        if grown_from is not None:
            older = grown_from.messages
            for key, other in list(self._entries.items()):
                size = len(other.messages)
                if other.template == entry.template and size < len(older) and older[:size] == other.messages:
                    del self._entries[key]
        key = (entry.template, entry.messages)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
