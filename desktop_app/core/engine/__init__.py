"""The inference engine: one loaded llama.cpp model, streamed generation, cancellation, KV-cache reuse."""

from desktop_app.core.engine.session import Engine, Event, GenerationStats, LoadedModel, Message, TextDelta

__all__ = ["Engine", "Event", "GenerationStats", "LoadedModel", "Message", "TextDelta"]
