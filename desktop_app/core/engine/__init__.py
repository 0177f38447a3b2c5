"""The inference engine: one loaded llama.cpp model, streamed generation, cancellation, KV-cache reuse.

session.py holds the Engine; loading.py opens a model, prompt.py builds a chat prompt, decode.py runs
the streaming decode loop over native.py's helpers, and events.py is what a request yields.
"""

from desktop_app.core.engine.events import Event, GenerationStats, Message, TextDelta
from desktop_app.core.engine.loading import LoadedModel
from desktop_app.core.engine.session import Engine

__all__ = ["Engine", "Event", "GenerationStats", "LoadedModel", "Message", "TextDelta"]
