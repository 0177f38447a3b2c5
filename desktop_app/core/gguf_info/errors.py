"""The errors a GGUF file can earn: one short sentence naming the problem, and what to do about it."""

from __future__ import annotations

from typing import Final

from desktop_app.core.errors import ModelFileError

HINT_TRUNCATED: Final = "Download it again; the copy on disk is incomplete."
HINT_CORRUPT: Final = "The file is damaged or is not a GGUF model. Download it again from a source you trust."


def show(text: str, limit: int = 60) -> str:
    """Quote a name taken from the file so the message stays one short line whatever it contains."""
    clean = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return f"'{clean}…'" if len(text) > limit else f"'{clean}'"


def nth(what: str, i: int) -> str:
    return f"{what} {i:,}"


def corrupt(message: str) -> ModelFileError:
    return ModelFileError(message, hint=HINT_CORRUPT)


def truncated(message: str) -> ModelFileError:
    return ModelFileError(message, hint=HINT_TRUNCATED)


class IncompleteHeaderError(ModelFileError):
    """`inspect_gguf_header` needs more of the file than the prefix it was given.

    Not a fault in the file: the caller reads at least `needed` bytes and tries again.
    """

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"The first {available:,} bytes of the file do not hold its whole header"
            f" (at least {needed:,} are needed).",
            hint="Read more of the file and try again.",
        )
        self.needed = needed
        self.available = available
