"""Start-up (issue #12): the window paints before the heavy modules load, and the pages built after
the first paint still work. Behaviour, not time: each check runs in a fresh interpreter, since this
test process has imported everything already."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop_app.core.paths import app_paths

ROOT = Path(__file__).resolve().parent.parent

#: never imported before the first paint: they serve pages that are not visible, or later work
AFTER_PAINT = (
    "llama_cpp", "huggingface_hub", "uvicorn", "starlette", "httpx", "gguf", "numpy", "jinja2",
    "markdown_it", "pygments",
)  # fmt: skip

SCRIPT = textwrap.dedent(
    """
    import gc, json, sys
    from desktop_app import gc_pause
    gc_pause.pause()  # as cli.main does before it opens the window
    from desktop_app.core import starter
    starter.is_available = lambda: False  # no first-run install in this check
    from PySide6.QtCore import QEvent, QObject, QTimer
    from desktop_app.app import build_window, create_application
    from desktop_app.core.paths import app_paths

    WATCH = sys.argv[1].split(",")
    app = create_application(["hearth"])
    window = build_window(app_paths().ensure())
    result = {}

    class Watcher(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and "at_paint" not in result:
                result["at_paint"] = [m for m in WATCH if m in sys.modules]
                result["gc_at_paint"] = gc.isenabled()
                result["models_built_at_paint"] = window._models is not None
                result["server_built_at_paint"] = window._server is not None
                result["drawers_at_paint"] = [
                    window.chat._settings_panel is not None, window.chat._sources_panel is not None
                ]
            return False

    watcher = Watcher()
    window.installEventFilter(watcher)
    window.show()

    def after() -> None:
        window.show_page(window.models_index)
        page = window.models
        result["models_current"] = window.pages.currentWidget() is page
        result["nav_checked"] = window.sidebar.group.checkedId() == window.models_index
        result["library"] = [m.path.name for m in page.my_models.model.items()]
        window.show_page(window.server_index)
        result["server_current"] = window.pages.currentWidget() is window.server
        result["server_port"] = window.server.port.value()
        result["page_count"] = window.pages.count()
        result["after"] = [m for m in WATCH if m in sys.modules]
        result["gc_after"] = [gc.isenabled(), gc.get_freeze_count() > 0]
        result["drawers_after"] = [
            window.chat._settings_panel is not None, window.chat._sources_panel is not None
        ]
        window.show_page(window.chat_index)
        window.chat.toggle_settings()
        result["drawer_opens"] = window.chat.settings_panel.isVisible()
        result["drawer_count"] = window.chat.drawer_host.count()
        window.close()
        app.quit()

    def wait_for_library(tries=[0]) -> None:
        # the Models page is built one event-loop turn after the first paint; its list fills off
        # the GUI thread
        tries[0] += 1
        page = window._models
        built = page is not None and window.chat._sources_panel is not None  # the drawers come last
        if built and page.my_models.model.rowCount() or tries[0] > 200:
            after()
        else:
            QTimer.singleShot(50, wait_for_library)

    QTimer.singleShot(0, wait_for_library)
    QTimer.singleShot(30_000, app.quit)
    app.exec()
    print("RESULT " + json.dumps(result))
    """
)


def _run_window(watch: tuple[str, ...]) -> dict[str, object]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(watch)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    result: dict[str, object] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory, tiny_gguf_module: Path) -> dict[str, object]:
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(home)
    try:
        shutil.copy(tiny_gguf_module, app_paths().ensure().models / "alpha.gguf")
        return _run_window(AFTER_PAINT)
    finally:
        if old is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = old


@pytest.fixture(scope="module")
def tiny_gguf_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_gguf import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("gguf") / "alpha.gguf", name="alpha")


@pytest.mark.parametrize("module", AFTER_PAINT)
def test_the_window_paints_before_the_heavy_modules_are_imported(
    started: dict[str, object], module: str
) -> None:
    assert module not in started["at_paint"]  # type: ignore[operator]


def test_the_pages_built_after_the_first_paint_work(started: dict[str, object]) -> None:
    assert started["models_built_at_paint"] is False
    assert started["server_built_at_paint"] is False
    assert started["models_current"] is True
    assert started["nav_checked"] is True
    assert started["library"] == ["alpha.gguf"]
    assert started["server_current"] is True
    assert isinstance(started["server_port"], int) and started["server_port"] > 0
    assert started["page_count"] == 5  # the placeholders were replaced, not added to
    assert "huggingface_hub" in started["after"]  # type: ignore[operator]


def test_the_cli_opens_the_window_without_importing_the_commands() -> None:
    """`hearth` and `hearth --self-test` parse their options without the command modules (which
    import the engine and the Hub client)."""
    code = (
        "import sys; from desktop_app import cli; args = cli._window_args(['--self-test']); "
        "print(args.self_test, cli._window_args(['models', 'list']) is None, "
        "[m for m in ('desktop_app.commands.pull', 'huggingface_hub') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    ).stdout
    assert out.split() == ["True", "True", "[]"]


def test_the_hidden_drawers_are_built_after_the_first_paint(started: dict[str, object]) -> None:
    """The settings and Sources drawers are hidden at start: the first paint does not wait for them,
    the window builds them right after, and Ctrl+, then opens the one already built."""
    assert started["drawers_at_paint"] == [False, False]
    assert started["drawers_after"] == [True, True]
    assert started["drawer_opens"] is True
    assert started["drawer_count"] == 2


def test_garbage_collection_waits_for_the_first_paint_then_skips_start_up_objects(
    started: dict[str, object],
) -> None:
    assert started["gc_at_paint"] is False
    assert started["gc_after"] == [True, True]


def test_resuming_a_collector_that_was_never_paused_changes_nothing() -> None:
    """Tests build many windows in one process: none of them may freeze its objects."""
    import gc

    from desktop_app import gc_pause

    frozen = gc.get_freeze_count()
    gc_pause.resume()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
