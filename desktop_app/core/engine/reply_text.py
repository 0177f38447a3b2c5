"""Sampled tokens to the reply's text: the part of the decode loop that one sequence and many share.

Pieces go through an incremental UTF-8 decoder (a character split over two tokens is never shown
half), the stop strings are held back until they can no longer match, a control token the model emits
is markup that never reaches the user (one that is a stop string still ends the reply), and a model's
reasoning is split from its answer.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from typing import Any

from desktop_app.core.engine import native
from desktop_app.core.engine.events import TextDelta
from desktop_app.core.generation import StopReason
from desktop_app.core.reasoning import ReasoningSplitter
from desktop_app.core.stop_strings import StopBuffer


class ReplyText:
    """One reply's text as its tokens arrive. `push` returns the deltas to show and, when the token
    ends the reply, why ("eos" or "stop_string"); `completion` counts the tokens that belong to it."""

    def __init__(
        self, vocab: Any, stops: Sequence[str], *, reasoning: bool = False, ignore_eos: bool = False
    ) -> None:
        llama_cpp = native.lib()
        self._vocab = vocab
        self._stops = tuple(stops)
        self._ignore_eos = ignore_eos
        self._pieces = native.PieceDecoder(vocab)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop_buffer = StopBuffer(self._stops)
        self._splitter = ReasoningSplitter() if reasoning else None
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._get_attr = llama_cpp.llama_vocab_get_attr
        self._control = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
        self.completion = 0

    @property
    def stop_hit(self) -> str | None:
        return self._stop_buffer.hit

    def push(self, token: int) -> tuple[list[TextDelta], StopReason | None]:
        if not self._ignore_eos and self._is_eog(self._vocab, token):
            return [], "eos"
        self.completion += 1
        if self._get_attr(self._vocab, token) & self._control:
            # A control token the model emitted is markup, never text to show (a box, or a stray
            # "<start_of_turn>"); one that is a stop string still ends the reply.
            marker = self._pieces.piece(token).decode("utf-8", errors="replace")
            hit = next((stop for stop in self._stops if stop and stop in marker), None)
            if hit is not None:
                self._stop_buffer.hit = hit
                return [], "stop_string"
            return [], None
        text = self._utf8.decode(self._pieces.piece(token))
        if not text:
            return [], None
        shown = self._stop_buffer.push(text)
        deltas = list(self._deltas(shown)) if shown else []
        return deltas, "stop_string" if self._stop_buffer.hit is not None else None

    def finish(self) -> list[TextDelta]:
        """What was held back: an unfinished UTF-8 sequence, a partial stop string, reasoning."""
        tail = self._utf8.decode(b"", final=True)
        buffer = self._stop_buffer
        tail = buffer.push(tail) + buffer.flush() if tail else buffer.flush()
        deltas = list(self._deltas(tail)) if tail else []
        if self._splitter is not None:
            deltas.extend(TextDelta(text, kind) for kind, text in self._splitter.flush() if text)
        return deltas

    def _deltas(self, text: str) -> Iterator[TextDelta]:
        if self._splitter is None:
            yield TextDelta(text)
            return
        for kind, part in self._splitter.feed(text):
            if part:
                yield TextDelta(part, kind)
