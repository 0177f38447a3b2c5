"""A continued reply's stats describe the whole reply, not only the part the last request wrote.

Continue extends an assistant message with a new engine request, whose GenerationStats count only the
tokens it produced. Saved as they are, the reply's stats line would say "12 tokens" under a reply of
300. `merge_continued` sums what adds up (tokens, time), keeps the first part's time to first token,
and takes the rest (context, stop reason, threads) from the latest request; `ContinuedReplyWriter`
saves the merged stats, for the GUI and `hearth chat` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from desktop_app.core.conversation_records import Message, MessageState
from desktop_app.core.engine import GenerationStats
from desktop_app.core.reply_writer import ReplyWriter

if TYPE_CHECKING:
    from desktop_app.core.conversations import ConversationStore

__all__ = ["ContinuedReplyWriter", "merge_continued"]


def _number(stats: Mapping[str, Any], key: str) -> float:
    value = stats.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def merge_continued(earlier: Mapping[str, Any] | None, latest: Mapping[str, Any]) -> dict[str, Any]:
    """The stats of a reply whose earlier parts had `earlier` and whose latest part has `latest`."""
    merged = dict(latest)
    if not earlier:
        return merged
    before, now = _number(earlier, "completion_tokens"), _number(latest, "completion_tokens")
    merged["completion_tokens"] = int(before + now)
    seconds = 0.0
    for part, tokens in ((earlier, before), (latest, now)):
        tps = _number(part, "generation_tps")
        seconds += tokens / tps if tokens and tps > 0 else 0.0
    if seconds > 0:
        merged["generation_tps"] = (before + now) / seconds
    if earlier.get("ttft_s") is not None:
        merged["ttft_s"] = earlier["ttft_s"]  # the reply's first token came with its first part
    merged["total_s"] = _number(earlier, "total_s") + _number(latest, "total_s")
    merged["parts"] = int(_number(earlier, "parts") or 1) + 1
    return merged


class ContinuedReplyWriter(ReplyWriter):
    """A ReplyWriter for Continue: its final stats are merged with the ones the message had."""

    def __init__(self, store: ConversationStore, message: Message, *, interval_s: float) -> None:
        super().__init__(store, message, interval_s=interval_s)
        self.earlier_stats = dict(message.stats) if message.stats else None

    def finish(
        self, stats: GenerationStats | Mapping[str, Any] | None = None, *, state: MessageState | None = None
    ) -> Message:
        data = stats.to_dict() if isinstance(stats, GenerationStats) else (dict(stats) if stats else None)
        # with nothing new to count, the reply keeps the stats it had
        merged = self.earlier_stats if data is None else merge_continued(self.earlier_stats, data)
        return super().finish(merged, state=state)
