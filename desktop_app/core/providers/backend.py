"""What every chat front end needs from whatever generates a reply: the local Engine and a RemoteChat
both stream TextDelta events then one GenerationStats, and both cancel from any thread."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from desktop_app.core.engine.events import Event, Message
from desktop_app.core.generation import SamplingSettings

__all__ = ["ChatBackend"]


class ChatBackend(Protocol):
    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        continue_last: bool = False,
        state_tag: str | None = None,
    ) -> Iterator[Event]: ...

    def cancel(self) -> None: ...
