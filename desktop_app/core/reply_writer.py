"""Saving a reply while it streams, so a crash loses at most about a second of it.

A `ReplyWriter` belongs to one assistant message. It is fed the engine's events (on whichever thread
runs the engine: the GUI's inference thread, or the CLI's) and writes the growing text at most once per
FLUSH_INTERVAL_S, each write its own short transaction, and once more at the end with the final state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, Literal

from desktop_app.core.conversation_records import Message, MessageState, dump_optional
from desktop_app.core.db import Database
from desktop_app.core.engine import GenerationStats, TextDelta
from desktop_app.core.errors import HearthError
from desktop_app.core.generation import SamplingSettings
from desktop_app.core.limits import random_seed

if TYPE_CHECKING:
    from desktop_app.core.conversations import ConversationStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S: Final = 1.0  # a kill -9 loses at most this much of a streaming reply


def with_fixed_seed(sampling: SamplingSettings) -> SamplingSettings:
    """Pick the random seed here, not in the engine, so the message records the seed really used.
    Pass the result to the engine and to `start_reply`."""
    if sampling.seed is not None:
        return sampling
    return replace(sampling, seed=random_seed())


class ReplyWriter:
    """Saves one assistant reply while it streams: at most once per `interval_s` (each save its own
    short transaction), and once more at the end. Feed it every engine event; use it as a context
    manager so an exception still leaves the reply saved (state "failed", or "cancelled" on Ctrl+C)."""

    def __init__(
        self,
        store: ConversationStore,
        message: Message,
        *,
        interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.message_id = message.id
        self.conversation_id = message.conversation_id
        self.interval_s = interval_s
        self._clock = clock
        self._answer: list[str] = [message.content] if message.content else []
        self._reasoning: list[str] = [message.reasoning] if message.reasoning else []
        self._dirty = False
        self._last_save = clock()
        self._done = False
        self.saves = 0  # how many times the growing reply was written (tests, logs)

    @property
    def content(self) -> str:
        return "".join(self._answer)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def finished(self) -> bool:
        return self._done

    def feed(self, event: TextDelta | GenerationStats) -> None:
        """Take an engine event: text is appended (and saved when a second has passed); the final
        GenerationStats finishes the message."""
        if isinstance(event, TextDelta):
            self.append(event.text, event.kind)
        else:
            self.finish(event)

    def append(self, text: str, kind: Literal["answer", "reasoning"] = "answer") -> None:
        if self._done:
            raise RuntimeError("this reply is already finished")
        if not text:
            return
        (self._reasoning if kind == "reasoning" else self._answer).append(text)
        self._dirty = True
        if self._clock() - self._last_save >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Write what has streamed so far, if anything changed since the last write."""
        if not self._dirty or self._done:
            return
        self.store._save_reply(self.message_id, self.content, self.reasoning)
        self._dirty = False
        self._last_save = self._clock()
        self.saves += 1

    def finish(
        self, stats: GenerationStats | Mapping[str, Any] | None = None, *, state: MessageState | None = None
    ) -> Message:
        """Final text and stats. The state is "cancelled" when the stats say so, else "complete"."""
        data = stats.to_dict() if isinstance(stats, GenerationStats) else (dict(stats) if stats else None)
        if state is None:
            state = "cancelled" if data and data.get("stop_reason") == "cancelled" else "complete"
        return self._final(state, data, None)

    def fail(self, error: BaseException | str) -> Message:
        """Keep what was generated, marked "failed" with the reason."""
        reason = error.message if isinstance(error, HearthError) else str(error) or type(error).__name__
        return self._final("failed", None, reason)

    def cancel(self) -> Message:
        return self._final("cancelled", None, None)

    def _final(self, state: MessageState, stats: dict[str, Any] | None, error: str | None) -> Message:
        if not self._done:
            self.store._save_reply(
                self.message_id, self.content, self.reasoning, state=state, stats=stats, error=error,
                final=True,
            )  # fmt: skip
            self._done = True
        return self.store.get_message(self.message_id)

    def __enter__(self) -> ReplyWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self._done:
            return
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.cancel()
        else:
            try:
                self.fail(exc)
            except HearthError:  # the disk may be why we are failing; keep the original error
                log.warning("could not save the failed reply %d", self.message_id, exc_info=True)


def save_reply(
    db: Database,
    now: float,
    message_id: int,
    content: str,
    reasoning: str,
    *,
    state: MessageState = "streaming",
    stats: Mapping[str, Any] | None = None,
    error: str | None = None,
    final: bool = False,
) -> None:
    """One write of a reply: its text so far (still "streaming"), or with `final` its end state and
    stats, which also mark the conversation active."""
    with db.transaction() as conn:
        if final:
            conn.execute(
                "UPDATE messages SET content = ?, reasoning = ?, state = ?, stats = ?, error = ?, "
                "updated_at = ? WHERE id = ?",
                (content, reasoning, state, dump_optional(stats), error, now, message_id),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ? "
                "WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                (now, message_id),
            )
        else:
            conn.execute(
                "UPDATE messages SET content = ?, reasoning = ?, state = 'streaming', updated_at = ? "
                "WHERE id = ?",
                (content, reasoning, now, message_id),
            )
