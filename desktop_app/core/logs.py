"""Logging to a rotating file in the log folder, so a user can attach it to a bug report."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from desktop_app.core.paths import AppPaths
from desktop_app.core.private_files import create_private_file, ensure_private_dir

_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
_MAX_BYTES = 2 * 1024 * 1024
_BACKUPS = 5

log = logging.getLogger("hearth")


def setup_logging(paths: AppPaths, *, level: int = logging.INFO, stderr: bool = False) -> None:
    """Idempotent: the GUI, the CLI and tests may all call it."""
    root = logging.getLogger()
    root.setLevel(level)
    target = str(paths.log_file)
    if any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        return
    handler: logging.Handler
    try:
        ensure_private_dir(paths.logs)  # logs quote model names, prompts in errors, file paths
        create_private_file(paths.log_file)
        handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:  # a read-only home must not stop the app from starting
        handler = logging.StreamHandler(sys.stderr)
        log.warning("cannot write the log file %s (%s); logging to stderr", target, exc)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(console)


ExceptionSink = Callable[[type[BaseException], BaseException, TracebackType | None], None]


def format_exception(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> str:
    return "".join(traceback.format_exception(exc_type, exc, tb))


def install_excepthooks(sink: ExceptionSink) -> None:
    """Route uncaught exceptions of the main thread *and* of every other thread to `sink`.

    Python's default prints to stderr, which a packaged GUI app does not have: the user sees nothing
    and the thread is just gone. The sink logs and, in the GUI, shows a dialog.
    """

    def main_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught exception\n%s", format_exception(exc_type, exc, tb))
        sink(exc_type, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        log.error(
            "uncaught exception in thread %s\n%s",
            args.thread.name if args.thread else "?",
            format_exception(args.exc_type, args.exc_value, args.exc_traceback),
        )
        sink(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
