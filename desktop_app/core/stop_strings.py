"""A rolling buffer that finds stop strings in streamed text without re-scanning the whole reply.

Text that could still be the start of a stop string is held back (at most the longest stop string
minus one character), so a stop string is never shown to the user, even when it arrives in pieces.
"""

from __future__ import annotations


class StopBuffer:
    def __init__(self, stops: tuple[str, ...] | list[str]) -> None:
        self._stops = tuple(dict.fromkeys(s for s in stops if s))
        self._hold = max((len(s) for s in self._stops), default=0)
        self._pending = ""
        self.hit: str | None = None

    def push(self, text: str) -> str:
        """Add text; return what is safe to show. After a hit, `hit` is set and nothing more is shown."""
        if self.hit is not None:
            return ""
        if not self._stops:
            return text
        pending = self._pending + text
        cut = -1
        for stop in self._stops:
            index = pending.find(stop)
            if index != -1 and (cut == -1 or index < cut):
                cut, self.hit = index, stop
        if cut != -1:
            self._pending = ""
            return pending[:cut]
        keep = self._partial_suffix(pending)
        self._pending = pending[len(pending) - keep :]
        return pending[: len(pending) - keep]

    def flush(self) -> str:
        """The held-back text, when generation ends for another reason."""
        text, self._pending = self._pending, ""
        return "" if self.hit is not None else text

    def _partial_suffix(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
        window = text[-(self._hold - 1) :] if self._hold > 1 else ""
        for start in range(len(window)):
            tail = window[start:]
            if any(stop.startswith(tail) for stop in self._stops):
                return len(tail)
        return 0
