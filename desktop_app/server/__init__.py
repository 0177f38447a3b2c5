"""The local OpenAI-compatible API server (`hearth serve` and the GUI's Server page).

Plain Python, no Qt: the CLI runs it over a `ThreadBackend` that owns an Engine; the GUI runs the same
app over the inference worker (workers/server_bridge.py), so both share one model and one queue.
"""
