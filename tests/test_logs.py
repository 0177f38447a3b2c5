from __future__ import annotations

import logging
import threading
from types import TracebackType

from desktop_app.core.logs import install_excepthooks, setup_logging
from desktop_app.core.paths import app_paths


def test_log_file_is_written_in_the_log_folder() -> None:
    paths = app_paths().ensure()
    setup_logging(paths)
    setup_logging(paths)  # idempotent: one handler, not two
    logging.getLogger("hearth.test").warning("hello from the test")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = paths.log_file.read_text(encoding="utf-8")
    assert text.count("hello from the test") == 1
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "baseFilename", "") == str(paths.log_file)]:
        root.removeHandler(handler)
        handler.close()


def test_uncaught_exception_in_a_thread_reaches_the_sink(monkeypatch) -> None:
    import sys

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    seen: list[BaseException] = []

    def sink(_t: type[BaseException], exc: BaseException, _tb: TracebackType | None) -> None:
        seen.append(exc)

    install_excepthooks(sink)

    def boom() -> None:
        raise RuntimeError("worker exploded")

    thread = threading.Thread(target=boom, name="boom")
    thread.start()
    thread.join()
    assert [str(e) for e in seen] == ["worker exploded"]
