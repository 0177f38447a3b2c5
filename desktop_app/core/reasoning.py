"""Split a streamed reply into reasoning (`<think>…</think>`) and answer, as the text arrives.

Reasoning models (DeepSeek-R1, Qwen3, QwQ…) think aloud between tags before they answer. The UI shows
that part collapsed and stores it apart, so it has to be separated while streaming: a tag can arrive
split across deltas at any character (`<th` + `ink>`), so a possible partial tag at the end of a delta
is held back, and only that. Each `feed` costs O(len(delta)), never O(reply so far).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["reasoning", "answer"]
Piece = tuple[Kind, str]


class ReasoningSplitter:
    """Feed deltas in order; get back (kind, text) pieces in order, with adjacent same-kind text merged.

    Text before the open tag is answer; a reply that opens a think block and never closes it is all
    reasoning from there on. A single newline right after the close tag is dropped (models put one
    there; it is layout, not answer). Tags may appear more than once: each open/close pair toggles.

    `starts_in_reasoning=True` is for templates that end the prompt with the open tag themselves
    (DeepSeek-R1 distills, Qwen3 with thinking forced on): the reply then begins inside the block and
    only the close tag appears.
    """

    def __init__(
        self, open_tag: str = "<think>", close_tag: str = "</think>", *, starts_in_reasoning: bool = False
    ) -> None:
        if not open_tag or not close_tag:
            raise ValueError("open_tag and close_tag must not be empty")
        self._open = open_tag
        self._close = close_tag
        self._in_reasoning = starts_in_reasoning
        self._pending = ""  # a suffix that may be the start of the next tag, shorter than the tag
        self._drop_newline = False  # just closed a block: a "\n" arriving next is dropped

    @classmethod
    def for_prompt(
        cls, prompt: str, open_tag: str = "<think>", close_tag: str = "</think>"
    ) -> ReasoningSplitter:
        """A splitter for the reply to `prompt`: inside the block already if the prompt ends by opening it."""
        return cls(open_tag, close_tag, starts_in_reasoning=prompt.rstrip().endswith(open_tag))

    @property
    def in_reasoning(self) -> bool:
        """True while inside a think block (for a "thinking…" indicator)."""
        return self._in_reasoning

    def feed(self, text: str) -> list[Piece]:
        """Split one delta. Text that could still be the start of a tag is held until the next call."""
        out: list[Piece] = []
        buffer = self._pending + text
        self._pending = ""
        position = 0  # scan by index: slicing off each tag would copy the rest of the delta every time
        while position < len(buffer):
            if self._drop_newline:
                self._drop_newline = False
                if buffer.startswith("\n", position):
                    position += 1
                continue
            tag = self._close if self._in_reasoning else self._open
            index = buffer.find(tag, position)
            if index == -1:
                end = len(buffer) - _partial_tag_length(buffer, tag, position)
                _emit(out, self._kind, buffer[position:end])
                self._pending = buffer[end:]
                break
            _emit(out, self._kind, buffer[position:index])
            position = index + len(tag)
            self._drop_newline = self._in_reasoning  # only after a close tag
            self._in_reasoning = not self._in_reasoning
        return out

    def flush(self) -> list[Piece]:
        """End of the reply: a held-back partial tag was never completed, so it is plain text."""
        out: list[Piece] = []
        _emit(out, self._kind, self._pending)
        self._pending = ""
        self._drop_newline = False
        return out

    @property
    def _kind(self) -> Kind:
        return "reasoning" if self._in_reasoning else "answer"


def _partial_tag_length(text: str, tag: str, start: int) -> int:
    """Length of the longest suffix of `text[start:]` that is a proper prefix of `tag` (0 if none)."""
    for length in range(min(len(tag) - 1, len(text) - start), 0, -1):
        if text.endswith(tag[:length]):
            return length
    return 0


def _emit(out: list[Piece], kind: Kind, text: str) -> None:
    if not text:
        return
    if out and out[-1][0] == kind:
        out[-1] = (kind, out[-1][1] + text)
    else:
        out.append((kind, text))
