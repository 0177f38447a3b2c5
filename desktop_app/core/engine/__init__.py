"""The inference engine: one loaded llama.cpp model, streamed generation, cancellation, KV-cache reuse.

session.py holds the Engine; loading.py opens a model, prompt.py builds a chat prompt, decode.py runs
the streaming decode loop over native.py's helpers, and events.py is what a request yields.
"""

import importlib
from typing import TYPE_CHECKING, Any

from desktop_app.core.engine.events import Event, GenerationStats, Message, TextDelta
from desktop_app.core.engine.loading import LoadedModel

if TYPE_CHECKING:
    from desktop_app.core.engine.session import Engine


def __getattr__(name: str) -> Any:
    """The Engine brings prompt building (Jinja) and the decode loop: loaded when first used, so the
    window can paint before them."""
    if name == "Engine":
        return importlib.import_module(f"{__name__}.session").Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Engine", "Event", "GenerationStats", "LoadedModel", "Message", "TextDelta"]
