"""The offline guard: when the user turns offline mode on, Hearth opens no socket at all.

Why our own guard as well as the library's: huggingface_hub reads `HF_HUB_OFFLINE` once, at import,
into `constants.HF_HUB_OFFLINE`, so setting the variable later changes nothing by itself; and its
check lives in an httpx event hook, which is no help to code paths that resolve a token (an OAuth
refresh) or build a client before that hook runs. So `apply_offline` flips both the environment (for
child processes such as a download worker) and the library constant (for this process), and every
network function in Hearth calls `ensure_online` before it touches the library.

`ensure_online` also switches off the library's requests nobody asked for, and its retries of a
connection that cannot be made (see `quiet_library`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from desktop_app.core.errors import OfflineError

__all__ = ["apply_offline", "ensure_online", "is_offline", "quiet_library"]

_ENV = "HF_HUB_OFFLINE"
_lock = threading.Lock()
_offline = False


def apply_offline(offline: bool) -> None:
    """Turn offline mode on or off for this process, the library and any child process."""
    global _offline  # noqa: PLW0603 - one process-wide switch, guarded by the lock
    with _lock:
        _offline = offline
        if offline:
            os.environ[_ENV] = "1"
        else:
            os.environ.pop(_ENV, None)
        # Not imported yet: it reads the variable when it is (importing it here would cost start-up).
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:
            setattr(constants, "HF_HUB_OFFLINE", offline)  # noqa: B010 - a library constant, typed as module


def quiet_library() -> None:
    """Stop huggingface_hub from making requests and using credentials on its own, and from retrying
    a connection that cannot be made (name not resolved, connection refused) for 23 s.

    With telemetry on (its default), building any request's user agent fetches an "agent harness"
    list from the endpoint frozen at import (huggingface.co, whatever HF_ENDPOINT says later) and
    caches it under HF_HOME; and with implicit tokens on, a call without a token reads the
    `hf auth login` token and may refresh it over the network. Hearth sends only the token the
    user gave Hearth, and nothing else. Idempotent and cheap; both the environment (child
    processes) and the library's constants (this process, already imported) are set.
    """
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    try:
        from huggingface_hub import constants
    except ImportError:
        return
    constants.HF_HUB_DISABLE_TELEMETRY = True
    constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = True
    from desktop_app.core.hub.transport import use_fail_fast_client

    use_fail_fast_client()  # an unreachable Hub is said at once, not after 23 s of retries
    # Its retry warnings ("'[Errno 111]…' thrown while requesting…") go to our log file, not the
    # user's terminal: the user gets one clear line when the retries are over.
    library_log = logging.getLogger("huggingface_hub")
    library_log.propagate = True
    for handler in list(library_log.handlers):
        library_log.removeHandler(handler)


def is_offline() -> bool:
    """Our switch, or HF_HUB_OFFLINE set by whoever started the process."""
    with _lock:
        if _offline:
            return True
    return os.environ.get(_ENV, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def ensure_online(action: str) -> None:
    """Raise OfflineError before any network call when offline mode is on. `action`: "search the Hub".

    When online, makes sure the library is quiet (`quiet_library`) before the caller uses it.
    """
    with _lock:
        switched_off = _offline
    if switched_off:
        raise OfflineError(
            f"Offline mode is on, so Hearth will not {action}.",
            hint="Turn off offline mode (the switch in Hearth's sidebar) to search and download.",
        )
    if is_offline():
        raise OfflineError(
            f"HF_HUB_OFFLINE is set in the environment, so Hearth will not {action}.",
            hint="Unset HF_HUB_OFFLINE and start Hearth again to search and download.",
        )
    quiet_library()
