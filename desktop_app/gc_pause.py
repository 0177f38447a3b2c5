"""Python's cyclic garbage collector waits while the window starts, and skips start-up's objects after.

Why: importing the UI and building the window allocate a few hundred thousand objects that live for
the whole session. Python runs young collections every 700 allocations and a full one (about 12 ms
here) while they pile up, and they find next to nothing: 10-30 ms of the first paint, which the start-up
goal (3x a bare PySide6 window) cannot spare. After the first paint those objects are frozen into the
permanent generation (`gc.freeze`), so the full collections that later fall in the middle of a streamed
reply walk only what the session made since. Reference counting frees everything as before; only
cycles wait.

Only the window's launch pauses it (cli.py); `resume` does nothing unless `pause` ran, so a test
process that builds many windows is never frozen.
"""

from __future__ import annotations

import gc

_state = {"paused": False}


def pause() -> None:
    if gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """Collection back on, start-up's objects frozen; safe to call more than once."""
    if not _state["paused"]:
        return
    _state["paused"] = False
    gc.freeze()
    gc.enable()
